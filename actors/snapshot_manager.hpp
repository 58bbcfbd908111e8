#pragma once

#include <memory>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/raft_config.hpp"
#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

class raft_metrics;

/// What `spawn_snapshot_manager` needs.
struct snapshot_manager_options {
  std::shared_ptr<snapshot_store> store;
  /// Carries InstallSnapshot chunks.
  transport_actor transport;
  /// Told `(snapshot_atom, check_atom)` every `snapshot_interval`
  /// (randomized in [SI, 2SI) as HashiCorp's), to take a snapshot once
  /// `snapshot_threshold` entries were applied since the last one.
  node_internal_actor node;
  raft_config settings;
  std::shared_ptr<spdlog::logger> logger;
  /// Where snapshot timings go; null for none.
  std::shared_ptr<raft_metrics> metrics;
  /// Store I/O blocks: run on an own thread outside tests.
  bool detached = true;
};

/// Spawns a node's snapshot manager (§7 of the Raft paper), the only user
/// of its snapshot store. Its interface, `snapshot_manager_actor`:
/// - `(open_atom)`: the newest snapshot that opens cleanly, falling back to
///   older ones on a checksum error (an `opened_snapshot` with a null
///   reader if there are none); fails naming every snapshot if some exist
///   and none opens. `(open_atom, id)` opens one.
/// - `(persist_atom, snapshot_meta, captured_state)`: writes the captured
///   FSM state as a snapshot described by the meta's index, term and
///   configuration; answers the stored `snapshot_meta`. Runs while the FSM
///   applies later entries.
/// - `(restore_atom, id, max_bytes)`: reads snapshot `id`'s state for a
///   user restore (an entry_type::restore entry); refused above
///   `max_bytes`.
/// - `(install_atom, peer, term)`: leader side of InstallSnapshot: streams
///   the newest snapshot to `peer` in chunks of `snapshot_chunk_size`, up
///   to `snapshot_window` of them in flight (go-back-N: the follower takes
///   chunks in order only, and silence resends every unacknowledged one);
///   answers the snapshot's last index once
///   the peer installed it. `install_snapshot_response`s reach it through
///   the node; `(cancel_atom)` ends every transfer (leadership lost).
/// - `install_snapshot_request`: follower side: stores the chunk and
///   answers a `chunk_ack`; a new snapshot id or term drops a half-received
///   one, and the last chunk is checked against the leader's size and
///   CRC-64 before the snapshot becomes visible.
snapshot_manager_actor
spawn_snapshot_manager(caf::actor_system& sys, snapshot_manager_options opts);

} // namespace raft
