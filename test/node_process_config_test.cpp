#define BOOST_TEST_MODULE node_process_config
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "caf-raft/config/loop_sharing.hpp"
#include "caf-raft/config/node_process_config.hpp"
#include "caf-raft/config/spin_sharing.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/multiplexer.hpp"
#include "caf/policy/work_sharing.hpp"
#include "caf/scheduler/coordinator.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "caf/scoped_actor.hpp"
#include "eventually.hpp"

using namespace raft;
using namespace std::chrono_literals;

namespace {

/// Parses CAF flags into a fresh node_process_config.
void parse(node_process_config& cfg, std::vector<std::string> args) {
  std::istringstream no_ini;
  auto err = cfg.parse(std::move(args), no_ini);
  BOOST_REQUIRE_MESSAGE(!err, caf::to_string(err));
}

bool runs_spinning(caf::actor_system& sys) {
  return dynamic_cast<caf::scheduler::coordinator<spin_sharing>*>(
           &sys.scheduler())
         != nullptr;
}

bool runs_loop(caf::actor_system& sys) {
  return dynamic_cast<caf::scheduler::coordinator<loop_sharing>*>(
           &sys.scheduler())
         != nullptr;
}

/// The policies of node processes, as flags, each with its spin.
const std::vector<std::vector<std::string>> node_policies = {
  {"--scheduler.policy=spinning", "--scheduler.spin-us=0"},
  {"--scheduler.policy=spinning", "--scheduler.spin-us=50"},
  {"--scheduler.policy=loop", "--scheduler.spin-us=0"},
  {"--scheduler.policy=loop", "--scheduler.spin-us=50"},
};

/// A node process's config with `flags` and the middleman, as raftd's.
void node_config(node_process_config& cfg, std::vector<std::string> flags) {
  parse(cfg, std::move(flags));
  cfg.load<caf::io::middleman>();
}

/// Answers the id of the thread it runs on.
caf::behavior thread_teller(caf::event_based_actor*) {
  return {[](int) {
    std::ostringstream os;
    os << std::this_thread::get_id();
    return os.str();
  }};
}

/// The id of the thread `a` runs its handlers on now.
std::string thread_of(caf::scoped_actor& self, const caf::actor& a) {
  std::string id;
  self->request(a, 10s, 0).receive([&](std::string& x) { id = x; },
                                   [&](caf::error&) {});
  return id;
}

std::string id_string(std::thread::id id) {
  std::ostringstream os;
  os << id;
  return os.str();
}

/// Echoes integers back, one actor hop per message.
caf::behavior echo(caf::event_based_actor*) {
  return {[](int x) { return x; }};
}

/// Bounces `n` down to zero between two actors, then tells `done`.
caf::behavior bouncer(caf::event_based_actor* self, caf::actor done) {
  return {[=](int n, const caf::actor& other) {
    if (n == 0) {
      self->send(done, n);
      return;
    }
    self->send(other, n - 1, caf::actor_cast<caf::actor>(self));
  }};
}

} // namespace

BOOST_AUTO_TEST_CASE(node_processes_default_to_the_event_loop) {
  node_process_config cfg;
  parse(cfg, {});
  caf::actor_system sys{cfg};
  BOOST_TEST(runs_loop(sys));
  BOOST_TEST(sys.scheduler().num_workers() == 1u);
  BOOST_TEST(caf::get_or(sys.config(), "middleman.workers", size_t{9}) == 0u);
  BOOST_TEST(spin_sharing::spin_for(sys.config()).count() == 0);
}

// The point of the policy: once the loop runs, actors run on the
// middleman's thread (the one that reads and writes the sockets), not on a
// scheduler worker. Each request comes from this thread, so each also
// proves that a message from outside wakes the loop.
BOOST_AUTO_TEST_CASE(actors_run_on_the_multiplexer_thread) {
  node_process_config cfg;
  node_config(cfg, {});
  caf::actor_system sys{cfg};
  BOOST_REQUIRE(runs_loop(sys));
  auto loop = id_string(sys.middleman().backend().thread_id());
  auto a = sys.spawn(thread_teller);
  caf::scoped_actor self{sys};
  BOOST_TEST(test::eventually(10s, [&] { return loop_sharing::attached(sys); }));
  // An actor that ran before the loop took over moves to it at a later
  // wake-up: one still scheduled on the worker when the loop attached
  // finishes its turn there (seen under AddressSanitizer, which slows the
  // worker's first turn).
  BOOST_TEST(
    test::eventually(10s, [&] { return thread_of(self, a) == loop; }));
  // An actor spawned afterwards runs on the loop from its first turn.
  auto b = sys.spawn(thread_teller);
  BOOST_TEST(thread_of(self, b) == loop);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(b, caf::exit_reason::user_shutdown);
}

// Without a middleman there is no loop: actors run on the worker, as with
// `sharing`, rather than waiting for a loop that never comes.
BOOST_AUTO_TEST_CASE(without_a_middleman_the_loop_policy_uses_its_worker) {
  node_process_config cfg;
  parse(cfg, {});
  caf::actor_system sys{cfg};
  BOOST_REQUIRE(runs_loop(sys));
  auto a = sys.spawn(thread_teller);
  caf::scoped_actor self{sys};
  auto first = thread_of(self, a);
  BOOST_TEST(!first.empty());
  BOOST_TEST(first != id_string(std::this_thread::get_id()));
  BOOST_TEST(!loop_sharing::attached(sys));
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(flags_select_cafs_own_schedulers) {
  {
    node_process_config cfg;
    parse(cfg, {"--scheduler.policy=sharing"});
    caf::actor_system sys{cfg};
    BOOST_TEST(!runs_spinning(sys));
    BOOST_TEST(
      (dynamic_cast<caf::scheduler::coordinator<caf::policy::work_sharing>*>(
         &sys.scheduler())
       != nullptr));
  }
  {
    node_process_config cfg;
    parse(cfg, {"--scheduler.policy=testing"});
    caf::actor_system sys{cfg};
    BOOST_TEST((dynamic_cast<caf::scheduler::test_coordinator*>(
                  &sys.scheduler())
                != nullptr));
  }
}

BOOST_AUTO_TEST_CASE(spin_duration_is_a_setting) {
  node_process_config cfg;
  parse(cfg, {"--scheduler.spin-us=7"});
  BOOST_TEST(caf::get_or(cfg, "scheduler.spin-us", size_t{0}) == 7u);
  node_process_config bad;
  std::istringstream no_ini;
  auto err = bad.parse(std::vector<std::string>{"--scheduler.spin-us=x"},
                       no_ini);
  BOOST_TEST(static_cast<bool>(err));
}

// With no spin, the worker sleeps every time its queue runs dry, so every
// message from outside the scheduler must wake it: a lost wake-up leaves a
// request unanswered until its timeout (and, with the policy broken that
// way, the system's shutdown then hangs too: ctest's timeout fails it).
BOOST_AUTO_TEST_CASE(a_sleeping_worker_wakes_for_every_message) {
  for (auto& flags : node_policies) {
    BOOST_TEST_CONTEXT(flags[0] << " " << flags[1]) {
      node_process_config cfg;
      node_config(cfg, flags);
      caf::actor_system sys{cfg};
      BOOST_REQUIRE(runs_spinning(sys) || runs_loop(sys));
      auto e = sys.spawn(echo);
      caf::scoped_actor self{sys};
      int answered = 0;
      for (int i = 0; i < 2000; ++i) {
        bool ok = false;
        self->request(e, 10s, i)
          .receive([&](int x) { ok = x == i; },
                   [&](caf::error&) { ok = false; });
        if (!ok)
          break;
        ++answered;
      }
      BOOST_TEST(answered == 2000);
      self->send_exit(e, caf::exit_reason::user_shutdown);
    }
  }
}

namespace {

/// Bounces messages between actor pairs started from several threads and
/// waits for every pair to finish.
void bounce_from_threads(const std::vector<std::string>& flags) {
  node_process_config cfg;
  node_config(cfg, flags);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  constexpr int threads = 4;
  constexpr int bounces = 5000;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&] {
      auto a = sys.spawn(bouncer, caf::actor{self});
      auto b = sys.spawn(bouncer, caf::actor{self});
      caf::anon_send(a, bounces, b);
    });
  for (auto& t : senders)
    t.join();
  int done = 0;
  bool timed_out = false;
  for (int i = 0; i < threads && !timed_out; ++i)
    self->receive([&](int) { ++done; },
                  caf::after(30s) >> [&] { timed_out = true; });
  BOOST_TEST(done == threads);
}

} // namespace

// Messages sent from actor to actor on the worker and from several
// threads at once all arrive, and the system shuts down afterwards.
BOOST_AUTO_TEST_CASE(messages_from_many_threads_all_arrive) {
  for (auto& flags : node_policies)
    BOOST_TEST_CONTEXT(flags[0] << " " << flags[1]) {
      bounce_from_threads(flags);
    }
}
