#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Spawns a transport that routes RPCs by server id inside one actor system
/// (HashiCorp's InmemTransport, with NuRaft-style faults). It understands:
/// - `(connect_atom, id, actor)`: registers `actor` as `id` and answers
///   with the local address; `(disconnect_atom, id)` unregisters;
/// - `(rpc_atom, from, to, message)`: deliver `message` to `to`;
/// - `(fault_atom, fault_settings)`: drop, duplicate and delay (reorder)
///   messages with the given probabilities, drawn from a generator seeded
///   with `seed`, so a run replays exactly under a test coordinator;
/// - `(partition_atom, id, group)`: servers in different groups cannot
///   talk; `(heal_atom)` reconnects everyone.
///
/// `audit`, if set, sees every RPC as it is sent (before faults apply), so
/// tests can check what a server claims against what it has stored.
using rpc_audit = std::function<void(const std::string& from,
                                     const std::string& to,
                                     const caf::message& msg)>;

caf::actor spawn_inmem_transport(caf::actor_system& sys, uint64_t seed,
                                 rpc_audit audit = nullptr);

} // namespace raft
