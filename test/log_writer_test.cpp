#define BOOST_TEST_MODULE log_writer
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "caf-raft/actors/log_writer.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/node_process_config.hpp"
#include "caf-raft/storage/inmem_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"

// The detached log writer as the programs run it: on a thread of its own,
// spinning for `scheduler.spin-us` before it sleeps (or never, at 0).

using namespace raft;
using namespace std::chrono_literals;

namespace {

struct process {
  explicit process(const std::string& spin_us) {
    register_types(cfg);
    std::istringstream no_ini;
    auto err = cfg.parse(
      std::vector<std::string>{"--scheduler.spin-us=" + spin_us}, no_ini);
    BOOST_REQUIRE_MESSAGE(!err, caf::to_string(err));
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  node_process_config cfg;
  std::unique_ptr<caf::actor_system> sys;
};

std::vector<log_entry> entries(index_t first, index_t last, term_t term) {
  std::vector<log_entry> result;
  for (auto i = first; i <= last; ++i) {
    log_entry e;
    e.index = i;
    e.term = term;
    e.type = entry_type::command;
    e.data = bytes(16, static_cast<uint8_t>(i));
    result.push_back(std::move(e));
  }
  return result;
}

/// An in-memory store whose deletions wait until the test opens the gate,
/// or fail if told to.
class gated_store : public inmem_store {
public:
  caf::error delete_range(index_t min, index_t max) override {
    entered_.set_value();
    gate_.wait();
    if (fail_)
      return caf::make_error(caf::sec::runtime_error, "disk gone");
    return inmem_store::delete_range(min, max);
  }

  std::promise<void> entered_;
  std::shared_future<void> gate_;
  bool fail_ = false;
};

/// Waits for the down message of `who`, at most `bound`.
bool goes_down(caf::scoped_actor& self, const log_writer_actor& who,
               std::chrono::seconds bound) {
  bool down = false;
  self->receive([&](const caf::down_msg& x) {
                  down = x.source == who.address();
                },
                caf::after(bound) >> [] {});
  return down;
}

} // namespace

// Every request is answered, in order, whether the writer caught it while
// spinning or had to be woken: 200 writes one after the other, each sent
// only once the previous one was answered, then a load sees them all.
BOOST_AUTO_TEST_CASE(answers_every_request_spinning_or_asleep) {
  for (auto spin : {"0", "250"}) {
    BOOST_TEST_CONTEXT("spin-us=" << spin) {
      process p{spin};
      auto store = std::make_shared<inmem_store>();
      auto writer = spawn_log_writer(*p.sys, store, store, true);
      caf::scoped_actor self{*p.sys};
      int answered = 0;
      for (index_t i = 1; i <= 200; ++i) {
        persist_request req;
        req.entries = entries(i, i, 1);
        req.commit_index = i - 1;
        bool ok = false;
        self->request(writer, 10s, persist_atom_v, uint64_t{i}, req)
          .receive([&](uint64_t seq) { ok = seq == i; },
                   [&](caf::error& err) {
                     BOOST_TEST_MESSAGE(caf::to_string(err));
                   });
        if (!ok)
          break;
        ++answered;
      }
      BOOST_TEST(answered == 200);
      self->request(writer, 10s, load_atom_v)
        .receive(
          [&](const loaded_state& st) {
            BOOST_TEST(st.entries.size() == 200u);
            BOOST_TEST(st.commit_index == 199u);
          },
          [&](caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
      self->send_exit(writer, caf::exit_reason::user_shutdown);
    }
  }
}

// A blocking actor receives exit messages like any other message: the
// writer must end on the node's send_exit (its clean shutdown) ...
BOOST_AUTO_TEST_CASE(ends_on_an_exit_message) {
  process p{"250"};
  auto store = std::make_shared<inmem_store>();
  auto writer = spawn_log_writer(*p.sys, store, store, true);
  caf::scoped_actor self{*p.sys};
  self->monitor(writer);
  self->send_exit(writer, caf::exit_reason::user_shutdown);
  BOOST_TEST(goes_down(self, writer, 10s));
  // A request that arrives afterwards is refused at once (the writer takes
  // its own messages in; see spinning_log_writer::enqueue), not left to run
  // into its timeout.
  self->request(writer, 5s, load_atom_v)
    .receive([&](const loaded_state&) { BOOST_FAIL("answered after its end"); },
             [&](caf::error& err) {
               BOOST_TEST_INFO(caf::to_string(err));
               BOOST_TEST((err == caf::sec::request_receiver_down));
             });
}

// ... and when the node it is linked to dies.
BOOST_AUTO_TEST_CASE(ends_with_the_actor_it_is_linked_to) {
  process p{"0"};
  auto store = std::make_shared<inmem_store>();
  auto writer = spawn_log_writer(*p.sys, store, store, true);
  auto owner = p.sys->spawn([writer](caf::event_based_actor* self) {
    self->link_to(writer);
    return caf::behavior{[](int) {}};
  });
  caf::scoped_actor self{*p.sys};
  self->monitor(writer);
  // Let the owner run (and link) before it is killed.
  self->request(owner, 10s, 1).receive([] {}, [](caf::error&) {});
  self->send_exit(owner, caf::exit_reason::kill);
  BOOST_TEST(goes_down(self, writer, 10s));
}

// A compaction slice is a transaction of its own; the write it rides with
// is answered before it runs, so that no acknowledgement waits for old
// entries to be deleted (p99 at conc 256: 17 ms during a compaction,
// 5.5 ms since). Afterwards the entries are gone.
BOOST_AUTO_TEST_CASE(the_answer_does_not_wait_for_the_compaction) {
  process p{"0"};
  auto store = std::make_shared<gated_store>();
  std::promise<void> open;
  store->gate_ = open.get_future().share();
  auto entered = store->entered_.get_future();
  BOOST_REQUIRE(!store->store_logs(entries(1, 10, 1)));
  auto writer = spawn_log_writer(*p.sys, store, store, true);
  caf::scoped_actor self{*p.sys};
  persist_request req;
  req.entries = entries(11, 11, 1);
  req.commit_index = 10;
  req.compact_through = 5;
  bool answered = false;
  self->request(writer, 10s, persist_atom_v, uint64_t{1}, req)
    .receive([&](uint64_t seq) { answered = seq == 1; },
             [&](caf::error& err) {
               BOOST_TEST_MESSAGE(caf::to_string(err));
             });
  // The deletion had not finished (the gate is closed) when the answer came.
  BOOST_TEST(answered);
  BOOST_TEST((entered.wait_for(10s) == std::future_status::ready));
  open.set_value();
  self->request(writer, 10s, load_atom_v)
    .receive(
      [&](const loaded_state& st) {
        BOOST_REQUIRE(!st.entries.empty());
        BOOST_TEST(st.entries.front().index == 6u);
        BOOST_TEST(st.entries.back().index == 11u);
      },
      [&](caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  self->send_exit(writer, caf::exit_reason::user_shutdown);
}

// A deletion that fails after the answer is not lost: the writer stops
// with the error, and the node linked to it stops too (as on a failed
// write).
BOOST_AUTO_TEST_CASE(a_failed_compaction_stops_the_writer) {
  process p{"250"};
  auto store = std::make_shared<gated_store>();
  std::promise<void> open;
  store->gate_ = open.get_future().share();
  store->fail_ = true;
  open.set_value();
  BOOST_REQUIRE(!store->store_logs(entries(1, 10, 1)));
  auto writer = spawn_log_writer(*p.sys, store, store, true);
  caf::scoped_actor self{*p.sys};
  self->monitor(writer);
  persist_request req;
  req.entries = entries(11, 11, 1);
  req.commit_index = 10;
  req.compact_through = 5;
  self->send(writer, persist_atom_v, uint64_t{1}, req);
  caf::error reason;
  bool down = false;
  self->receive(
    [&](const caf::down_msg& x) {
      down = true;
      reason = x.reason;
    },
    caf::after(10s) >> [] {});
  BOOST_TEST(down);
  BOOST_TEST(caf::to_string(reason).find("disk gone") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(entries_past_a_snapshot_never_leave_a_gap) {
  // A node whose log a snapshot replaced sends entries that start past
  // the stored ones. Stored first and the covered ones deleted after, a
  // crash in between left a gap that no restart could read past ("raft
  // node cannot load its state: log not found"; simulator seed 24744).
  process p{"0"};
  auto store = std::make_shared<inmem_store>();
  BOOST_REQUIRE(!store->store_logs(entries(1, 3, 1)));
  auto writer = spawn_log_writer(*p.sys, store, store, true);
  caf::scoped_actor self{*p.sys};
  persist_request req;
  req.entries = entries(10, 12, 2);
  req.commit_index = 9;
  bool answered = false;
  self->request(writer, 10s, persist_atom_v, uint64_t{1}, req)
    .receive([&](uint64_t) { answered = true; },
             [&](caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  BOOST_REQUIRE(answered);
  // The answer means the entries are stored, so the stale ones are gone.
  BOOST_TEST(*store->first_index() == 10u);
  BOOST_TEST(*store->last_index() == 12u);
  BOOST_TEST(store->size() == 3u);
  self->send_exit(writer, caf::exit_reason::user_shutdown);
}
