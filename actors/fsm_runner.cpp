#include "caf-raft/actors/fsm_runner.hpp"

#include <chrono>

#include "caf-raft/actors/metrics.hpp"

#include <stdexcept>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/state_machine.hpp"
#include "caf-raft/storage/span_reader.hpp"
#include "caf/actor_system.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

struct fsm_runner_state {
  index_t applied = 0;
  static inline const char* name = "raft.fsm_runner";
};

using fsm_runner_ptr = fsm_runner_actor::stateful_pointer<fsm_runner_state>;

fsm_runner_actor::behavior_type
fsm_runner(fsm_runner_ptr self, std::shared_ptr<fsm::state_machine> fsm,
           std::shared_ptr<raft_metrics> metrics) {
  return {
    [=](fsm_apply_atom, const std::vector<log_entry>& entries)
      -> caf::result<std::vector<apply_result>> {
      std::vector<apply_result> results;
      results.reserve(entries.size());
      auto batch_start = std::chrono::steady_clock::now();
      for (auto& e : entries) {
        // Exactly once, in order: a gap or a repeat means the node broke
        // its contract, and applying anyway would fork this replica.
        if (e.index != self->state.applied + 1 && self->state.applied != 0)
          throw std::logic_error("fsm_runner: entry " + std::to_string(e.index)
                                 + " arrived after "
                                 + std::to_string(self->state.applied));
        apply_result r;
        r.index = e.index;
        r.term = e.term;
        if (e.type == entry_type::restore) {
          // A committed user restore: the state becomes the snapshot's. A
          // state machine that cannot take it is in an unknown state, and
          // the node stops rather than serve it.
          span_reader in{e.data};
          auto t0 = std::chrono::steady_clock::now();
          if (auto err = fsm->restore(in))
            return err;
          if (metrics)
            metrics->fsm_restore(std::chrono::steady_clock::now() - t0);
        } else if (e.type == entry_type::command) {
          if (metrics) {
            auto t0 = std::chrono::steady_clock::now();
            r.response = fsm->apply(e);
            metrics->fsm_apply(std::chrono::steady_clock::now() - t0);
          } else {
            r.response = fsm->apply(e);
          }
        }
        self->state.applied = e.index;
        results.push_back(std::move(r));
      }
      if (metrics)
        metrics->fsm_apply_batch(std::chrono::steady_clock::now() - batch_start,
                                 entries.size());
      return results;
    },
    [=](snapshot_atom) -> caf::result<captured_state> {
      // Between two batches the state is exactly `applied`; the copy is
      // persisted elsewhere while later entries apply (HashiCorp's
      // FSMSnapshot contract).
      auto t0 = std::chrono::steady_clock::now();
      auto snap = fsm->take_snapshot();
      if (metrics)
        metrics->fsm_snapshot(std::chrono::steady_clock::now() - t0);
      if (!snap)
        return std::move(snap.error());
      return captured_state{self->state.applied,
                            std::shared_ptr<fsm::snapshot>{std::move(*snap)}};
    },
    [=](restore_atom, index_t index,
        opened_snapshot& snap) -> caf::result<index_t> {
      if (!snap.reader)
        return make_error(errc::not_valid, "restore without a snapshot");
      auto t0 = std::chrono::steady_clock::now();
      if (auto err = fsm->restore(*snap.reader))
        return err;
      if (metrics)
        metrics->fsm_restore(std::chrono::steady_clock::now() - t0);
      self->state.applied = index;
      return index;
    },
  };
}

} // namespace

fsm_runner_actor spawn_fsm_runner(caf::actor_system& sys,
                            std::shared_ptr<fsm::state_machine> fsm,
                            bool detached,
                            std::shared_ptr<raft_metrics> metrics) {
  if (detached)
    return sys.spawn<caf::detached>(fsm_runner, std::move(fsm),
                                    std::move(metrics));
  return sys.spawn(fsm_runner, std::move(fsm), std::move(metrics));
}

} // namespace raft
