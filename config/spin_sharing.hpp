#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include <sched.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/policy/unprofiled.hpp"
#include "caf/resumable.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"

namespace raft {

/// A CAF scheduler policy (`scheduler.policy = spinning`): one central job
/// queue like CAF's `sharing`, but an idle worker keeps its core for
/// `scheduler.spin-us` (yielding it to any other runnable thread) before
/// it sleeps, and an enqueue wakes a worker only if one sleeps.
///
/// Why: on a virtual machine an idle vCPU halts, and waking a thread there
/// is an inter-processor interrupt through the hypervisor, tens of µs. A
/// node's worker goes idle at every hop of the commit path (waiting for
/// the socket, for the log writer's flush) and is needed again within a
/// few hundred µs. Spinning through that gap takes the wake-up off the
/// commit path, as Go's runtime does for the peer. The spin yields
/// (`sched_yield`) instead of pausing: with three node processes on two
/// cores, a worker that held its core would starve the thread it waits
/// for (measured: 3 nodes at conc 1 fell from 2.1k to 1.0k commits/s).
///
/// Used by the programs (`node_process_config`); the library itself runs
/// on whatever scheduler its host chose.
class spin_sharing : public caf::policy::unprofiled {
public:
  /// How long an idle worker spins by default: longer than the flush of a
  /// one-entry SQLite transaction on this class of machine (~90 µs alone,
  /// ~250 µs with three writers on one disk), so that the log writer's
  /// answer finds the worker awake. A worker that spins for less than the
  /// flush pays for the spin and the wake-up both (measured: 50 µs cost a
  /// single node a fifth of its commits/s at conc 1).
  static constexpr size_t default_spin_us = 250;

  /// How long an idle thread of a process configured by `cfg` spins:
  /// `scheduler.spin-us` under the policies `spinning` (default 250) and
  /// `loop` (default 0, loop_sharing.hpp), else 0. The scheduler's workers,
  /// the event loop and the log writer all ask here.
  static std::chrono::microseconds
  spin_for(const caf::actor_system_config& cfg) {
    auto policy = caf::get_or(cfg, "scheduler.policy", caf::atom("stealing"));
    size_t fallback = 0;
    if (policy == caf::atom("spinning"))
      fallback = default_spin_us;
    else if (policy != caf::atom("loop"))
      return std::chrono::microseconds{0};
    return std::chrono::microseconds{
      caf::get_or(cfg, "scheduler.spin-us", fallback)};
  }

  /// Yields the core while `idle()` holds, for at most `budget`.
  template <class Idle>
  static void spin_while(Idle idle, std::chrono::microseconds budget) {
    if (budget.count() == 0 || !idle())
      return;
    auto until = std::chrono::steady_clock::now() + budget;
    do {
      sched_yield();
    } while (idle() && std::chrono::steady_clock::now() < until);
  }

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator* owner)
      : spin(spin_for(owner->system().config())) {
      // nop
    }

    std::deque<caf::resumable*> queue;
    std::mutex lock;
    std::condition_variable cv;
    /// Jobs in `queue`, read without the lock while spinning.
    std::atomic<size_t> size{0};
    /// Workers waiting on `cv`; guarded by `lock`.
    size_t sleepers = 0;
    std::chrono::microseconds spin;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {
      // nop
    }
  };

  template <class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    push(self->data(), job);
  }

  /// Queues `job` for the workers, waking one if all sleep.
  static void push(coordinator_data& d, caf::resumable* job) {
    bool wake;
    {
      std::unique_lock<std::mutex> guard{d.lock};
      d.queue.push_back(job);
      d.size.store(d.queue.size(), std::memory_order_release);
      // A worker registers as a sleeper under this lock before it checks
      // the queue, so it either sees this job or is counted here.
      wake = d.sleepers > 0;
    }
    if (wake)
      d.cv.notify_one();
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    enqueue(self, job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& d = self->parent()->data();
    spin_while([&] { return d.size.load(std::memory_order_acquire) == 0; },
               d.spin);
    std::unique_lock<std::mutex> guard{d.lock};
    if (d.queue.empty()) {
      ++d.sleepers;
      d.cv.wait(guard, [&] { return !d.queue.empty(); });
      --d.sleepers;
    }
    auto job = d.queue.front();
    d.queue.pop_front();
    d.size.store(d.queue.size(), std::memory_order_release);
    return job;
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker*, UnaryFunction) {
    // nop: workers have no queues of their own
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    auto& d = self->data();
    std::unique_lock<std::mutex> guard{d.lock};
    while (!d.queue.empty()) {
      auto job = d.queue.front();
      d.queue.pop_front();
      f(job);
    }
    d.size.store(0, std::memory_order_release);
  }
};

} // namespace raft
