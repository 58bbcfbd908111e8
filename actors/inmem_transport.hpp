#pragma once

#include <cstdint>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Spawns a transport that routes RPCs by server id inside one actor system
/// (HashiCorp's InmemTransport, with NuRaft-style faults). It understands:
/// - `(connect_atom, id, actor)` / `(disconnect_atom, id)`: (un)register;
/// - `(rpc_atom, from, to, message)`: deliver `message` to `to`;
/// - `(fault_atom, fault_settings)`: drop, duplicate and delay (reorder)
///   messages with the given probabilities, drawn from a generator seeded
///   with `seed`, so a run replays exactly under a test coordinator;
/// - `(partition_atom, id, group)`: servers in different groups cannot
///   talk; `(heal_atom)` reconnects everyone.
caf::actor spawn_inmem_transport(caf::actor_system& sys, uint64_t seed);

} // namespace raft
