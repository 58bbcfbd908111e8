#pragma once

#include <memory>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/fsm/state_machine.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace raft {

class raft_metrics;

/// Spawns the FSM runner: the owner of the applied index. It answers
/// `(fsm_apply_atom, entries)` with one `apply_result` per entry after
/// handing every command, strictly in log order and once each, to the
/// application's state machine. Application code may block, so outside
/// tests it runs detached.
fsm_runner_actor spawn_fsm_runner(caf::actor_system& sys,
                            std::shared_ptr<fsm::state_machine> fsm,
                            bool detached,
                            std::shared_ptr<raft_metrics> metrics = nullptr);

} // namespace raft
