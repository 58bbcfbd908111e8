#include "actors/fsm_runner.hpp"

#include <stdexcept>

#include "actors/messages.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "config/errc.hpp"
#include "fsm/state_machine.hpp"

namespace raft {

namespace {

struct fsm_runner_state {
  index_t applied = 0;
  static inline const char* name = "raft.fsm_runner";
};

caf::behavior fsm_runner(caf::stateful_actor<fsm_runner_state>* self,
                         std::shared_ptr<fsm::state_machine> fsm) {
  return {
    [=](fsm_apply_atom, const std::vector<log_entry>& entries)
      -> std::vector<apply_result> {
      std::vector<apply_result> results;
      results.reserve(entries.size());
      for (auto& e : entries) {
        // Exactly once, in order: a gap or a repeat means the node broke
        // its contract, and applying anyway would fork this replica.
        if (e.index != self->state.applied + 1 && self->state.applied != 0)
          throw std::logic_error("fsm_runner: entry " + std::to_string(e.index)
                                 + " arrived after "
                                 + std::to_string(self->state.applied));
        apply_result r;
        r.index = e.index;
        if (e.type == entry_type::command)
          r.response = fsm->apply(e);
        self->state.applied = e.index;
        results.push_back(std::move(r));
      }
      return results;
    },
    [=](snapshot_atom) -> caf::result<captured_state> {
      // Between two batches the state is exactly `applied`; the copy is
      // persisted elsewhere while later entries apply (HashiCorp's
      // FSMSnapshot contract).
      auto snap = fsm->take_snapshot();
      if (!snap)
        return std::move(snap.error());
      return captured_state{self->state.applied,
                            std::shared_ptr<fsm::snapshot>{std::move(*snap)}};
    },
    [=](restore_atom, index_t index,
        opened_snapshot& snap) -> caf::result<index_t> {
      if (!snap.reader)
        return make_error(errc::not_valid, "restore without a snapshot");
      if (auto err = fsm->restore(*snap.reader))
        return err;
      self->state.applied = index;
      return index;
    },
  };
}

} // namespace

caf::actor spawn_fsm_runner(caf::actor_system& sys,
                            std::shared_ptr<fsm::state_machine> fsm,
                            bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(fsm_runner, std::move(fsm));
  return sys.spawn(fsm_runner, std::move(fsm));
}

} // namespace raft
