#pragma once

// The deterministic simulation base of the actor tests: an actor system on
// CAF's test coordinator where time moves only when the test fires the next
// timer, and job order is drawn from a seeded generator, so one seed is one
// schedule and a failing seed replays exactly. `check()` runs after every
// step (the cluster fixture's invariant checker overrides it).

#include <algorithm>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include <boost/test/unit_test.hpp>

#include "caf-raft/actors/messages.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scheduler/test_coordinator.hpp"

namespace raft::test {

/// An actor system config for deterministic tests.
struct test_system_config : caf::actor_system_config {
  test_system_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    register_types(*this);
  }
};

/// A request's answer, filled in as the simulation runs.
template <class T>
struct answer {
  bool done = false;
  T value{};
  caf::error err;
};

class sim {
public:
  test_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::mt19937_64 rng;
  uint64_t seed;
  size_t steps = 0;

  explicit sim(uint64_t seed_value = 1) : rng(seed_value), seed(seed_value) {
    // nop
  }

  virtual ~sim() = default;

  /// Throws, naming what broke and where.
  [[noreturn]] virtual void fail(const std::string& what) {
    throw std::runtime_error(what + " (" + where() + ")");
  }

  /// Runs after every step; throws to fail the test.
  virtual void check() {
    // nop
  }

  /// Runs queued jobs (bounded), checking after each.
  void run_jobs(size_t max = 100000) {
    for (size_t k = 0; k < max && sched.has_job(); ++k)
      step_job();
  }

  /// Runs after every job and its check: where faults that strike between
  /// two jobs (a crash with a write in flight) are injected.
  virtual void after_job() {
    // nop
  }

  /// Runs one job, chosen by the seeded generator, then checks.
  void step_job() {
    auto& jobs = sched.jobs;
    if (jobs.size() > 1) {
      std::uniform_int_distribution<size_t> dist{0, jobs.size() - 1};
      auto pick = dist(rng);
      std::rotate(jobs.begin(), jobs.begin() + pick, jobs.begin() + pick + 1);
    }
    sched.run_once();
    if (++steps > max_steps)
      fail("no end after " + std::to_string(max_steps)
           + " steps: a message storm or a livelock");
    check();
    after_job();
  }

  /// A scenario runs some thousands of steps; one that runs this many is
  /// stuck in a storm of messages or timers, and fails rather than hang.
  size_t max_steps = 2000000;

  /// Runs all jobs, then fires the next timer; false if there is none.
  bool step_time() {
    run_jobs();
    if (!sched.has_pending_timeout())
      return false;
    sched.trigger_timeout();
    run_jobs();
    return true;
  }

  /// Steps time until `d` of simulated time has passed. Tests wait by the
  /// clock, not by timer firings: how many timers fire in a second depends
  /// on how many actors keep one (a replicator per follower, say).
  void run_for(caf::timespan d) {
    auto until = sched.clock().now() + d;
    while (sched.clock().now() < until && step_time()) {
      // Timers fire in time order.
    }
  }

  /// Steps time until `pred` holds, at most `max_timers` timer firings.
  template <class Pred>
  bool run_until(Pred pred, size_t max_timers = 2000) {
    run_jobs();
    for (size_t k = 0; k < max_timers; ++k) {
      if (pred())
        return true;
      if (!step_time())
        return pred();
    }
    return pred();
  }

  /// Sends `xs...` to `dest` from a fresh actor; `T` is the first value of
  /// the answer, `More` the others (ignored).
  template <class T, class... More, class Handle, class... Ts>
  std::shared_ptr<answer<T>> ask(Handle dest, Ts... xs) {
    auto res = std::make_shared<answer<T>>();
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
        .then(
          [=](T& x, More&...) {
            res->value = std::move(x);
            res->done = true;
          },
          [=](caf::error& e) {
            res->err = std::move(e);
            res->done = true;
          });
    });
    return res;
  }

  /// `ask`, then runs until the answer is in (at most 200 timers).
  template <class T, class... More, class Handle, class... Ts>
  answer<T> ask_now(Handle dest, Ts... xs) {
    auto res = ask<T, More...>(dest, xs...);
    run_until([&] { return res->done; }, 200);
    BOOST_REQUIRE(res->done);
    return *res;
  }

  /// The simulated time since the system started.
  caf::timespan now() {
    return sys.clock().now().time_since_epoch();
  }

  std::string where() const {
    std::ostringstream os;
    os << "seed " << seed << ", step " << steps;
    return os.str();
  }
};

} // namespace raft::test
