#pragma once

#include <cstdint>
#include <memory>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/protocol/replication.hpp"
#include "caf/fwd.hpp"

namespace raft {

class raft_metrics;

/// What a replicator needs besides its `replication`.
struct replicator_options {
  /// The leader's node: it gets the reports and answers entry fetches.
  node_internal_actor node;
  transport_actor transport;
  /// The snapshot manager (null without a snapshot store): it streams a
  /// snapshot to a follower whose next entries are compacted (§7).
  snapshot_manager_actor snapshots;
  /// Fences the reports: the node drops any whose epoch is not that of the
  /// replicator it runs for the follower.
  uint64_t epoch = 0;
  /// How often to assert leadership (heartbeat_timeout / 10).
  caf::timespan heartbeat_interval;
  /// HashiCorp's CommitTimeout (randomized in [CT, 2CT)).
  caf::timespan commit_timeout;
  /// How long to wait before sending a snapshot again after a failure.
  caf::timespan snapshot_retry;
  /// Seeds the commit timer's jitter.
  uint64_t seed = 0;
  /// Where the follower's round trips go (null: no metrics).
  std::shared_ptr<raft_metrics> metrics;
};

/// Spawns the replicator of one follower for one leader term (HashiCorp's
/// replication goroutine): it sends AppendEntries from the entries the
/// node hands it (and fetches older ones from the node for a follower that
/// lags), pipelines them in a window, probes after a rejection, sends
/// heartbeats, read rounds and snapshots, and reports every answer to the
/// node as a `replication_report`. It decides nothing against the leader's
/// log; the node keeps the commit rule (§5.4.2) and sees every answer
/// first, so a newer term reaches the core before this actor. It ends with
/// the node, or when the node stops it (a new term, a removed follower).
replicator_actor spawn_replicator(caf::actor_system& sys,
                                  replicator_options opts, replication r);

} // namespace raft
