#define BOOST_TEST_MODULE snapshot_window
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/snapshot_manager.hpp"
#include "caf-raft/actors/type_ids.hpp"
#include "caf-raft/storage/inmem_snapshot_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

// The leader's side of InstallSnapshot (§7) as a window of chunks in
// flight (issue 20): how many chunks go out before an answer, what an
// answer releases, what silence resends. The snapshot manager talks to a
// transport that only records, under the test coordinator.

using namespace raft;

namespace {

using requests = std::vector<install_snapshot_request>;

/// A transport that keeps every InstallSnapshot chunk handed to it.
transport_actor::behavior_type recorder(transport_actor::pointer,
                                        std::shared_ptr<requests> out) {
  return {
    [](connect_atom, const std::string&, const caf::actor&) {
      return std::string{};
    },
    [](disconnect_atom, const std::string&) {},
    [out](rpc_atom, const std::string&, const std::string&,
          const caf::message& msg) {
      if (msg.match_elements<install_snapshot_request>())
        out->push_back(msg.get_as<install_snapshot_request>(0));
    },
  };
}

struct window_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<inmem_snapshot_store> store;
  std::shared_ptr<requests> sent = std::make_shared<requests>();
  snapshot_manager_actor mgr;
  std::string id;
  raft_config settings;

  /// A snapshot of `size` bytes, sent in 10-byte chunks, `window` at once.
  window_fixture(size_t size = 100, uint32_t window = 3) {
    register_types(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    store = std::make_shared<inmem_snapshot_store>();
    configuration members;
    members.servers.push_back({suffrage::voter, "a", "a"});
    auto sink = store->create(40, 2, members, 1);
    BOOST_REQUIRE(sink);
    std::string state(size, 'x');
    BOOST_REQUIRE(!(*sink)->write(state.data(), state.size()));
    id = (*sink)->id();
    BOOST_REQUIRE(!(*sink)->close());
    settings.local_id = "a";
    settings.snapshot_chunk_size = 10;
    settings.snapshot_window = window;
    snapshot_manager_options opts;
    opts.store = store;
    opts.transport = sys->spawn(recorder, sent);
    opts.settings = settings;
    opts.detached = false;
    mgr = spawn_snapshot_manager(*sys, std::move(opts));
    sched->run();
    caf::anon_send(mgr, install_atom_v, std::string{"b"}, term_t{2});
    sched->run();
  }

  ~window_fixture() {
    caf::anon_send_exit(mgr, caf::exit_reason::user_shutdown);
    sched->run();
  }

  /// The follower "b" answers that it expects `next` on.
  void answer(uint64_t next, bool success = false) {
    caf::anon_send(mgr, install_snapshot_response{2, "b", id, next, success});
    sched->run();
  }

  /// The offsets of the chunks sent since the last call.
  std::vector<uint64_t> take_offsets() {
    std::vector<uint64_t> result;
    for (auto& r : *sent)
      result.push_back(r.offset);
    sent->clear();
    return result;
  }

  /// Lets the resend timer fire.
  void silence() {
    sched->trigger_timeouts();
    sched->run();
  }
};

using offsets = std::vector<uint64_t>;

} // namespace

BOOST_FIXTURE_TEST_CASE(a_window_of_chunks_goes_out_before_any_answer,
                        window_fixture) {
  BOOST_TEST(take_offsets() == (offsets{0, 10, 20}));
}

BOOST_FIXTURE_TEST_CASE(each_answer_releases_what_it_acknowledges,
                        window_fixture) {
  take_offsets();
  answer(10);
  BOOST_TEST(take_offsets() == (offsets{30}));
  // One answer for two chunks moves the window by two.
  answer(30);
  BOOST_TEST(take_offsets() == (offsets{40, 50}));
}

// A follower that asks again for a chunk on its way (a duplicated answer,
// or one that dropped the chunks after a lost one) gets nothing at once:
// answering each such response with a resend would start one stream of
// chunks per duplicate (the storm of seed 1464).
BOOST_FIXTURE_TEST_CASE(a_repeated_answer_sends_nothing, window_fixture) {
  take_offsets();
  answer(10);
  take_offsets();
  answer(10);
  answer(10);
  BOOST_TEST(take_offsets().empty());
}

// Go-back-N: silence resends every chunk not acknowledged, in order.
BOOST_FIXTURE_TEST_CASE(silence_resends_the_whole_window, window_fixture) {
  take_offsets();
  answer(10);
  take_offsets();
  silence();
  BOOST_TEST(take_offsets() == (offsets{10, 20, 30}));
}

// Silence counts from the last progress: an answer that moves the window
// postpones the resend by a whole silent period (two heartbeat timeouts).
BOOST_FIXTURE_TEST_CASE(progress_postpones_the_resend, window_fixture) {
  auto period = settings.heartbeat_timeout * 2;
  take_offsets();
  sched->advance_time(period - std::chrono::milliseconds{100});
  sched->run();
  answer(10);
  take_offsets();
  sched->advance_time(std::chrono::milliseconds{200});
  sched->run();
  BOOST_TEST(take_offsets().empty());
  sched->advance_time(period);
  sched->run();
  BOOST_TEST(take_offsets() == (offsets{10, 20, 30}));
}

// A follower that restarted asks for offset 0 again: the transfer starts
// over from there rather than waiting for answers that never come.
BOOST_FIXTURE_TEST_CASE(a_follower_that_fell_back_is_served_from_there,
                        window_fixture) {
  take_offsets();
  answer(20);
  take_offsets();
  answer(0);
  BOOST_TEST(take_offsets() == (offsets{0, 10, 20}));
}

// Once every byte arrived the follower restores; the last chunk alone is
// resent on silence (the leader's heartbeat meanwhile), and the
// follower's success ends the transfer.
BOOST_FIXTURE_TEST_CASE(the_last_chunk_is_the_heartbeat_while_restoring,
                        window_fixture) {
  for (uint64_t next = 10; next <= 90; next += 10)
    answer(next);
  auto all = take_offsets();
  BOOST_TEST(all.back() == 90u);
  answer(100);
  BOOST_TEST(take_offsets().empty());
  silence();
  BOOST_TEST(take_offsets() == (offsets{90}));
  answer(100, true);
  silence();
  BOOST_TEST(take_offsets().empty());
}

BOOST_AUTO_TEST_CASE(a_window_of_one_is_stop_and_wait) {
  window_fixture f{100, 1};
  BOOST_TEST(f.take_offsets() == (offsets{0}));
  f.answer(10);
  BOOST_TEST(f.take_offsets() == (offsets{10}));
}

BOOST_AUTO_TEST_CASE(a_window_of_zero_is_refused) {
  raft_config s;
  s.local_id = "a";
  BOOST_TEST(s.problem() == "");
  s.snapshot_window = 0;
  BOOST_TEST(s.problem() == "SnapshotWindow must be positive");
}
