#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "caf/expected.hpp"

namespace prometheus {
class Registry;
} // namespace prometheus

namespace raft {

enum class role : uint8_t;

/// The raft metrics on a prometheus-cpp registry (the worker's
/// `prometheus_registerer`). The node, replicators, log writer, snapshot
/// manager and FSM runner call it; they hold a null pointer when no
/// registry was configured and then skip every call.
///
/// Names follow Prometheus' conventions: counters end in `_total`,
/// durations are in seconds and end in `_seconds`, sizes end in `_bytes`.
/// Each maps to HashiCorp's go-metrics key where one exists (the table in
/// metrics.cpp and docs/operations.md §7). Durations are histograms (a
/// prometheus-cpp summary costs microseconds per observation; see
/// metrics.cpp). Every family is updated by a running server: a test
/// drives a scripted life and checks each one (metrics_test).
///
/// Thread-safe: every handle is resolved when the object is made (per-peer
/// series once per peer), so a call is one prometheus-cpp update (the
/// per-peer overloads taking a peer id also lock and look the peer up).
///
/// Takeover: every object made on the same registry shares one set of
/// families and series, whatever the registry's InsertBehavior, so a
/// restarted worker registers without a duplicate-registration error and
/// its counters continue where the old worker's stopped. An old worker's
/// object stays valid (it keeps the registry alive) and writes the same
/// series. Nothing is unregistered when a worker stops, as in the original.
class raft_metrics {
public:
  /// The series of one peer (replication, labelled `peer_id`).
  struct peer_metrics;

  /// Registers the raft metrics on `registry`, or finds them registered by
  /// an earlier object on the same registry. Returns null for a null
  /// registry (no metrics), and an error if a name is taken by a family of
  /// another type (or by someone else on a registry that throws on
  /// duplicates).
  static caf::expected<std::shared_ptr<raft_metrics>>
  make(std::shared_ptr<prometheus::Registry> registry);

  ~raft_metrics();

  raft_metrics(const raft_metrics&) = delete;
  raft_metrics& operator=(const raft_metrics&) = delete;

  // -- leader: proposals and commits -----------------------------------------

  /// `raft_apply_total`: `n` commands accepted by the leader.
  void apply(size_t n = 1);

  /// `raft_barrier_total`: a barrier accepted by the leader.
  void barrier();

  /// `raft_verify_leader_total`: a leadership check (VerifyLeader,
  /// ReadIndex) started.
  void verify_leader();

  /// `raft_proposals_failed_total`: `n` proposals the leader refused (too
  /// large, too many changes queued) or lost with its leadership. A
  /// follower's not-leader answer is no failed proposal: raftd forwards
  /// the request to the leader.
  void proposals_failed(size_t n = 1);

  /// `raft_commit_time_seconds`: from the leader's proposal of the newest
  /// newly committed entry to its commit; `raft_commit_num_logs` (gauge):
  /// how many entries that commit covered.
  void commit_time(std::chrono::nanoseconds d, size_t n = 1);

  // -- roles and leaders -------------------------------------------------------

  /// `raft_state_follower_total`, `_candidate_total`, `_leader_total`: the
  /// node entered role `r` (shutdown counts nothing); `raft_is_leader`
  /// (gauge): 1 while it leads.
  void state_changed(role r);

  /// `raft_has_leader` (gauge): whether this server knows a leader;
  /// `raft_leader_changes_total`: times the leader it knows changed to
  /// another server (`changed`).
  void set_leader(bool known, bool changed);

  /// `raft_transition_heartbeat_timeout_total`: a follower heard no leader
  /// within the heartbeat timeout and stands for election.
  void heartbeat_timeout();

  /// `raft_transition_leader_lease_timeout_total`: a leader lost contact
  /// with a quorum within its lease and steps down.
  void leader_lease_timeout();

  // -- replication, leader side (labelled by peer_id) ------------------------

  /// The series of peer `id`, created on first use; the reference stays
  /// valid as long as this object, so a replicator may keep it and skip the
  /// lookup the string overloads make.
  peer_metrics& peer(const std::string& id);

  /// `raft_replication_append_entries_seconds{peer_id}`: the round trip of
  /// an AppendEntries with entries;
  /// `raft_replication_append_entries_logs_total{peer_id}`: the entries it
  /// carried.
  void append_rpc(peer_metrics& p, std::chrono::nanoseconds d, size_t entries);
  void append_rpc(const std::string& peer_id, std::chrono::nanoseconds d,
                  size_t entries);

  /// `raft_replication_heartbeat_seconds{peer_id}`: a heartbeat's round
  /// trip.
  void heartbeat_rpc(peer_metrics& p, std::chrono::nanoseconds d);
  void heartbeat_rpc(const std::string& peer_id, std::chrono::nanoseconds d);

  /// `raft_replication_install_snapshot_seconds{peer_id}`: sending a
  /// snapshot to a follower, from the first chunk to its answer.
  void snapshot_rpc(peer_metrics& p, std::chrono::nanoseconds d);
  void snapshot_rpc(const std::string& peer_id, std::chrono::nanoseconds d);

  /// `raft_replication_lag_entries{peer_id}` (gauge): entries of the
  /// leader's log the follower is not known to hold.
  void set_replication_lag(const std::string& peer_id, uint64_t entries);

  // -- the log ------------------------------------------------------------------

  /// `raft_log_store_seconds` and `raft_log_store_entries`: a batch of `n`
  /// entries made durable (the leader's own write and a follower's alike).
  void log_store(std::chrono::nanoseconds d, size_t n);

  /// `raft_log_fsync_seconds`: the store's sync of one write (SQLite's
  /// commit).
  void log_fsync(std::chrono::nanoseconds d);

  /// `raft_compact_logs_seconds`: deleting a slice of the log prefix a
  /// snapshot covers.
  void compact_logs(std::chrono::nanoseconds d);

  // -- FSM -------------------------------------------------------------------

  /// `raft_fsm_apply_seconds`: the FSM applied one command.
  void fsm_apply(std::chrono::nanoseconds d);

  /// `raft_fsm_apply_batch_seconds` and `raft_fsm_apply_batch_entries`: the
  /// FSM runner applied a batch of `n` entries.
  void fsm_apply_batch(std::chrono::nanoseconds d, size_t n);

  /// `raft_fsm_snapshot_seconds`: the FSM's Snapshot call.
  void fsm_snapshot(std::chrono::nanoseconds d);

  /// `raft_fsm_restore_seconds` and `raft_fsm_last_restore_duration_seconds`
  /// (gauge): the FSM restored a snapshot.
  void fsm_restore(std::chrono::nanoseconds d);

  // -- snapshots -------------------------------------------------------------

  /// `raft_snapshot_take_snapshot_seconds`: a whole snapshot, from the
  /// FSM's Snapshot to the compaction after it.
  void take_snapshot(std::chrono::nanoseconds d);

  /// `raft_snapshot_create_seconds`: opening a snapshot sink.
  void snapshot_create(std::chrono::nanoseconds d);

  /// `raft_snapshot_persist_seconds`: writing the snapshot through the
  /// sink; `raft_snapshot_size_bytes` (gauge): its size.
  void snapshot_persist(std::chrono::nanoseconds d, uint64_t bytes);

  /// `raft_rpc_install_snapshot_seconds`: receiving and installing a
  /// snapshot from the leader.
  void install_snapshot(std::chrono::nanoseconds d);

  /// `raft_restore_total` and `raft_restore_user_snapshot_seconds`: a user
  /// restore (Restore) applied on the leader.
  void restore_user_snapshot(std::chrono::nanoseconds d);

  // -- state gauges (HashiCorp reports these through Stats) ------------------

  /// `raft_peers` (gauge): voters in the latest configuration but this one.
  void set_peers(size_t n);

  /// `raft_term` (gauge): the current term.
  void set_term(uint64_t term);

  /// `raft_commit_index` (gauge).
  void set_commit_index(uint64_t index);

  /// `raft_applied_index` (gauge): the last index the FSM applied.
  void set_applied_index(uint64_t index);

  /// `raft_last_index` (gauge): the last index in the log.
  void set_last_index(uint64_t index);

  /// `raft_last_contact_seconds` (gauge): how long ago a follower last
  /// heard from its leader; 0 on the leader.
  void set_last_contact(std::chrono::nanoseconds since);

  /// The registry this object writes to.
  const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  /// The families and unlabelled series of one registry.
  struct handles;

private:
  raft_metrics(std::shared_ptr<prometheus::Registry> registry,
               std::shared_ptr<const handles> h);

  /// Keeps the families `h_` points into alive.
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<const handles> h_;
  std::mutex peers_mtx_;
  std::unordered_map<std::string, std::unique_ptr<peer_metrics>> peers_;
};

} // namespace raft
