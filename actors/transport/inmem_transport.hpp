#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Spawns a transport that routes RPCs by server id inside one actor system
/// (HashiCorp's InmemTransport, with NuRaft-style faults). Its interface,
/// `inmem_transport_actor`, is the `transport_actor` (a node's local
/// address is its id) plus faults:
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

inmem_transport_actor spawn_inmem_transport(caf::actor_system& sys, uint64_t seed,
                                 rpc_audit audit = nullptr);

} // namespace raft
