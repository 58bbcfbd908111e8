#include "caf-raft/config/loop_sharing.hpp"

#include <chrono>
#include <deque>
#include <thread>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/multiplexer.hpp"
#include "caf/ref_counted.hpp"
#include "caf/scheduler/coordinator.hpp"

namespace raft {

namespace {

using coordinator = caf::scheduler::coordinator<loop_sharing>;

/// Keeps the loop polling for `spin` after its last job: a function object
/// that the multiplexer runs between polls and that asks to run again
/// (`resume_later`), so the multiplexer never blocks meanwhile.
class loop_spinner final : public caf::resumable, public caf::ref_counted {
public:
  explicit loop_spinner(loop_sharing::coordinator_data* d)
    : d_(d), seen_(d->jobs_run) {
    until_ = std::chrono::steady_clock::now() + d->spin;
  }

  subtype_t subtype() const override {
    return caf::resumable::function_object;
  }

  resume_result resume(caf::execution_unit*, size_t) override {
    auto now = std::chrono::steady_clock::now();
    if (d_->jobs_run != seen_) {
      seen_ = d_->jobs_run;
      until_ = now + d_->spin;
    }
    if (now >= until_) {
      d_->spinning = false;
      return caf::resumable::done;
    }
    // Three node processes share two cores: never hold one from a thread
    // that has work (spin_sharing.hpp).
    sched_yield();
    return caf::resumable::resume_later;
  }

  void intrusive_ptr_add_ref_impl() override {
    ref();
  }

  void intrusive_ptr_release_impl() override {
    deref();
  }

private:
  loop_sharing::coordinator_data* d_;
  uint64_t seen_;
  std::chrono::steady_clock::time_point until_;
};

/// One scheduled job on the loop. The multiplexer runs function objects on
/// its own thread (it would hand an actor back to the scheduler), so the
/// actor rides in one; it resumes there with the multiplexer as its
/// execution unit, so everything it sends to local actors comes back here
/// without crossing a thread.
class loop_job final : public caf::resumable, public caf::ref_counted {
public:
  loop_job(caf::resumable* job, loop_sharing::coordinator_data* d)
    : job_(job), d_(d) {
    // nop
  }

  /// A job the loop dropped unrun (it stopped with this one in its pipe)
  /// goes to the workers, so that its actor is not stranded.
  ~loop_job() override {
    if (job_ == nullptr)
      return;
    // After the coordinator's last cleanup no worker reads the queue: clean
    // the job up here, as the coordinator does with what it finds there.
    if (d_->stopped.load(std::memory_order_acquire))
      caf::scheduler::abstract_coordinator::cleanup_and_release(job_);
    else
      loop_sharing::push(*d_, job_);
  }

  subtype_t subtype() const override {
    return caf::resumable::function_object;
  }

  resume_result resume(caf::execution_unit* eu, size_t max_throughput) override {
    auto job = std::exchange(job_, nullptr);
    if (d_->spin.count() > 0 && !d_->spinning) {
      d_->spinning = true;
      eu->exec_later(new loop_spinner(d_));
    }
    // The jobs this one makes ready (the actors it sends to) run right after
    // it, not one poll of the sockets later: a message crosses a node's
    // actors (node, replicator, transport) in one go. Bounded, so that the
    // sockets are polled between bursts.
    std::deque<caf::resumable*> ready;
    {
      drain_scope scope{d_, &ready};
      run_one(eu, job, max_throughput);
      for (size_t n = 1; !ready.empty() && n < max_drained; ++n) {
        auto next = ready.front();
        ready.pop_front();
        run_one(eu, next, max_throughput);
      }
    }
    for (auto left : ready)
      eu->exec_later(new loop_job(left, d_));
    return caf::resumable::done;
  }

  /// Where jobs made ready by the running one go while one runs: only jobs
  /// of the same coordinator (another actor system in the process has a
  /// loop of its own).
  struct drain {
    loop_sharing::coordinator_data* owner = nullptr;
    std::deque<caf::resumable*>* ready = nullptr;
  };

  static thread_local drain draining;

  /// Sets `draining` for one drain and restores it on any way out.
  struct drain_scope {
    drain_scope(loop_sharing::coordinator_data* d,
                std::deque<caf::resumable*>* q)
      : saved(draining) {
      draining = drain{d, q};
    }
    ~drain_scope() {
      draining = saved;
    }
    drain saved;
  };

  void intrusive_ptr_add_ref_impl() override {
    ref();
  }

  void intrusive_ptr_release_impl() override {
    deref();
  }

private:
  /// Jobs run per wake-up of the loop before it polls its sockets again.
  static constexpr size_t max_drained = 64;

  /// Resumes `job` and does with the result what a scheduler worker does
  /// (caf::scheduler::worker).
  void run_one(caf::execution_unit* eu, caf::resumable* job,
               size_t max_throughput) {
    ++d_->jobs_run;
    switch (job->resume(eu, max_throughput)) {
      case caf::resumable::resume_later:
        if (!loop_sharing::post(*d_, job))
          loop_sharing::push(*d_, job);
        break;
      case caf::resumable::shutdown_execution_unit:
        // Only the coordinator's shutdown helpers say this, and they go to
        // the workers (external_enqueue).
        break;
      default:
        caf::intrusive_ptr_release(job);
    }
  }

  caf::resumable* job_;
  loop_sharing::coordinator_data* d_;
};

thread_local loop_job::drain loop_job::draining;

loop_sharing::coordinator_data* data_of(caf::actor_system& sys) {
  auto* c = dynamic_cast<coordinator*>(&sys.scheduler());
  return c != nullptr ? &c->data() : nullptr;
}

} // namespace

loop_sharing::coordinator_data::coordinator_data(
  caf::scheduler::abstract_coordinator* owner)
  : spin_sharing::coordinator_data(owner), sys(&owner->system()) {
  // nop
}

bool loop_sharing::post(coordinator_data& d, caf::resumable* job) {
  if (loop_job::draining.owner == &d) {
    // On the loop, from a job it runs now: next in line.
    loop_job::draining.ready->push_back(job);
    return true;
  }
  if (auto* mpx = d.loop.load(std::memory_order_acquire)) {
    // Adopts the reference the caller holds, as a worker's queue does.
    mpx->exec_later(new loop_job(job, &d));
    return true;
  }
  // The first job asks the loop to take the next ones. The request waits in
  // the multiplexer's pipe until its thread runs, so the loop never takes
  // a job before it can run one.
  if (!d.attaching.exchange(true) && d.sys->has_middleman()) {
    auto* mpx = &d.sys->middleman().backend();
    mpx->post([&d, mpx] { d.loop.store(mpx, std::memory_order_release); });
  }
  return false;
}

bool loop_sharing::attached(caf::actor_system& sys) {
  auto* d = data_of(sys);
  return d != nullptr && d->loop.load(std::memory_order_acquire) != nullptr;
}

void loop_sharing::detach_hook::init(caf::actor_system& sys) {
  sys_ = &sys;
}

void loop_sharing::detach_hook::thread_started() {
  // nop
}

void loop_sharing::detach_hook::thread_terminates() {
  if (sys_ == nullptr || !sys_->has_middleman())
    return;
  auto* d = data_of(*sys_);
  auto* mpx = d != nullptr ? d->loop.load(std::memory_order_acquire) : nullptr;
  // Only the loop's own thread ends the loop.
  if (mpx != nullptr && mpx->thread_id() == std::this_thread::get_id())
    d->loop.store(nullptr, std::memory_order_release);
}

} // namespace raft
