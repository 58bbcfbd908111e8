#pragma once

#include <atomic>

#include "caf-raft/config/spin_sharing.hpp"
#include "caf/fwd.hpp"
#include "caf/thread_hook.hpp"

namespace caf::io::network {
class multiplexer;
} // namespace caf::io::network

namespace raft {

/// A CAF scheduler policy (`scheduler.policy = loop`): actors run on the
/// middleman's event-loop thread, beside the sockets, as libuv runs a
/// Canonical raft node on one thread.
///
/// Why (issue 20): with CAF's usual split, one network hop of the commit
/// path crosses four threads: the sender's worker hands the message to its
/// multiplexer (a pipe write that wakes it), the multiplexer writes the
/// socket, the receiver's multiplexer wakes on it and hands the message to
/// its worker (another wake-up). On a virtual machine each wake-up is an
/// inter-processor interrupt, tens of µs; `spinning` hides them by burning
/// cores. Here the actor that sends and the broker that writes share one
/// thread, as do the broker that reads and the actor that receives: the
/// only wake-up left per hop is the kernel's on the socket, as for any
/// event loop. Threads outside the loop (the log writer, the timer,
/// detached actors) wake it through its pipe.
///
/// With `scheduler.spin-us` above 0 the loop polls its sockets without
/// sleeping for that long after its last job (yielding the core between
/// polls), and the log writer spins likewise: the `spinning` trade of CPU
/// for wake-ups, on one thread instead of two.
///
/// Until the loop runs (and after it stops, at shutdown) jobs go to the
/// coordinator's workers instead, as with `sharing`: an actor never runs
/// on two threads at once either way, since CAF schedules it once per
/// wake-up. The loop must never block: actors that wait (the log writer,
/// connectors, the snapshot streams) are detached already, as with any
/// policy whose workers are few.
///
/// Used by the programs (`node_process_config`) when asked; the library
/// runs on whatever scheduler its host chose.
class loop_sharing : public spin_sharing {
public:
  struct coordinator_data : spin_sharing::coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator* owner);

    caf::actor_system* sys;
    /// The loop jobs go to; null before it runs and after it stopped.
    std::atomic<caf::io::network::multiplexer*> loop{nullptr};
    /// Whether the loop was asked to take jobs (once).
    std::atomic<bool> attaching{false};
    /// The coordinator ran its last cleanup (it stopped): jobs the loop
    /// drops from now on are cleaned up where they are dropped.
    std::atomic<bool> stopped{false};
    /// Jobs the loop ran, and whether its spinner runs (loop thread only).
    uint64_t jobs_run = 0;
    bool spinning = false;
  };

  /// Whether `sys`'s actors run on its event loop now (tests).
  static bool attached(caf::actor_system& sys);

  /// The thread hook that hands jobs back to the workers when the loop's
  /// thread ends (`node_process_config` installs it).
  class detach_hook : public caf::thread_hook {
  public:
    void init(caf::actor_system& sys) override;
    void thread_started() override;
    void thread_terminates() override;

  private:
    caf::actor_system* sys_ = nullptr;
  };

  template <class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& d = self->data();
    if (!post(d, job))
      push(d, job);
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    enqueue(self, job);
  }

  /// The coordinator's own jobs for a worker (its shutdown helper) stay
  /// with the workers.
  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    push(self->parent()->data(), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  /// The coordinator's last cleanup, at its stop.
  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    self->data().stopped.store(true, std::memory_order_release);
    spin_sharing::foreach_central_resumable(self, f);
  }

  /// Hands `job` to the loop; false if there is none (yet, or any more).
  static bool post(coordinator_data& d, caf::resumable* job);
};

} // namespace raft
