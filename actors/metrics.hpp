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

/// HashiCorp raft's metrics on a prometheus-cpp registry (the worker's
/// `prometheus_registerer`). The node, log writer and FSM runner call it;
/// they hold a null pointer when no registry was configured and then skip
/// every call (`if (metrics_) metrics_->apply();`).
///
/// Names follow go-metrics' prometheus sink (a key's dots become
/// underscores) with camelCase parts snake-cased, as DESIGN.md §7 names them
/// (`raft.commitTime` becomes `raft_commit_time`), and without the "juju_"
/// service prefix Juju's sink added. Timers and samples are in
/// milliseconds, as go-metrics' MeasureSince reports them, but histograms
/// rather than the sink's summaries (prometheus-cpp's summaries cost
/// microseconds per observation; see metrics.cpp); counters and gauges keep
/// the sink's types. The table is in metrics.cpp; each method's comment
/// names the series it moves.
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
  /// The series of one peer (replication timings, labelled `peer_id`).
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

  // -- leader: applies and commits -------------------------------------------

  /// `raft_apply` (counter): `n` commands accepted by the leader.
  void apply(size_t n = 1);

  /// `raft_barrier` (counter): a barrier accepted by the leader.
  void barrier();

  /// `raft_verify_leader` (counter): a leadership check (VerifyLeader,
  /// ReadIndex) started.
  void verify_leader();

  /// `raft_leader_dispatch_log` (histogram, ms) and
  /// `raft_leader_dispatch_num_logs` (gauge): the leader wrote `n` entries
  /// to its own log in `d`.
  void dispatch_log(std::chrono::nanoseconds d, size_t n);

  /// `raft_commit_time` (histogram, ms): time from the leader's dispatch of
  /// the newest newly committed entry to its commit; `raft_commit_num_logs`
  /// (gauge): how many entries that commit covered.
  void commit_time(std::chrono::nanoseconds d, size_t n = 1);

  /// `raft_leader_last_contact` (histogram, ms): per voter at each lease
  /// check, how long ago the leader last heard from it.
  void leader_last_contact(std::chrono::nanoseconds since);

  /// `raft_leader_oldest_log_age` (gauge, ms): age of the oldest entry
  /// still in the log (HashiCorp samples it every 10 s on the leader).
  void set_oldest_log_age(std::chrono::nanoseconds age);

  // -- role changes ----------------------------------------------------------

  /// `raft_state_follower`, `raft_state_candidate`, `raft_state_leader`
  /// (counters): the node entered role `r` (shutdown counts nothing).
  void state_changed(role r);

  /// `raft_transition_heartbeat_timeout` (counter): a follower heard no
  /// leader within the heartbeat timeout and stands for election.
  void heartbeat_timeout();

  /// `raft_transition_leader_lease_timeout` (counter): a leader lost
  /// contact with a quorum within its lease and steps down.
  void leader_lease_timeout();

  /// `raft_candidate_elect_self` (histogram, ms): a candidate persisted its
  /// vote and sent its vote requests in `d`.
  void elect_self(std::chrono::nanoseconds d);

  /// `raft_candidate_pre_elect_self` (histogram, ms): the same for pre-vote.
  void pre_elect_self(std::chrono::nanoseconds d);

  // -- replication, leader side (labelled by peer_id) ------------------------

  /// The series of peer `id`, created on first use; the reference stays
  /// valid as long as this object, so the node may keep it per follower
  /// and skip the lookup the string overloads make.
  peer_metrics& peer(const std::string& id);

  /// `raft_replication_append_entries_rpc{peer_id}` (histogram, ms): an
  /// AppendEntries round trip; `raft_replication_append_entries_logs
  /// {peer_id}` (counter): the entries it carried.
  void append_rpc(peer_metrics& p, std::chrono::nanoseconds d, size_t entries);
  void append_rpc(const std::string& peer_id, std::chrono::nanoseconds d,
                  size_t entries);

  /// `raft_replication_heartbeat{peer_id}` (histogram, ms): a heartbeat
  /// round trip.
  void heartbeat_rpc(peer_metrics& p, std::chrono::nanoseconds d);
  void heartbeat_rpc(const std::string& peer_id, std::chrono::nanoseconds d);

  /// `raft_replication_install_snapshot{peer_id}` (histogram, ms): sending a
  /// snapshot to a follower, from first chunk to its answer.
  void snapshot_rpc(peer_metrics& p, std::chrono::nanoseconds d);
  void snapshot_rpc(const std::string& peer_id, std::chrono::nanoseconds d);

  // -- RPC handling, receiving side ------------------------------------------

  /// `raft_rpc_append_entries` (histogram, ms): handling an AppendEntries
  /// with entries, from arrival to answer.
  void rpc_append_entries(std::chrono::nanoseconds d);

  /// `raft_rpc_append_entries_store_logs` (histogram, ms): writing its
  /// entries to the log.
  void rpc_store_logs(std::chrono::nanoseconds d);

  /// `raft_rpc_append_entries_process_logs` (histogram, ms): handing newly
  /// committed entries to the FSM.
  void rpc_process_logs(std::chrono::nanoseconds d);

  /// `raft_rpc_process_heartbeat` (histogram, ms): handling a heartbeat.
  void rpc_heartbeat(std::chrono::nanoseconds d);

  /// `raft_rpc_request_vote` (histogram, ms): handling a vote request.
  void rpc_request_vote(std::chrono::nanoseconds d);

  /// `raft_rpc_request_pre_vote` (histogram, ms): handling a pre-vote
  /// request.
  void rpc_request_pre_vote(std::chrono::nanoseconds d);

  /// `raft_rpc_install_snapshot` (histogram, ms): receiving and installing a
  /// snapshot from the leader.
  void install_snapshot(std::chrono::nanoseconds d);

  // -- FSM -------------------------------------------------------------------

  /// `raft_fsm_apply` (histogram, ms): the FSM applied one command.
  void fsm_apply(std::chrono::nanoseconds d);

  /// `raft_fsm_apply_batch` (histogram, ms) and `raft_fsm_apply_batch_num`
  /// (histogram, entries): the FSM runner applied a batch of `n` entries.
  void fsm_apply_batch(std::chrono::nanoseconds d, size_t n);

  /// `raft_fsm_enqueue` (histogram, ms): handing committed entries to the
  /// FSM runner.
  void fsm_enqueue(std::chrono::nanoseconds d);

  /// `raft_fsm_store_config` (histogram, ms): the FSM saw a configuration
  /// entry.
  void fsm_store_config(std::chrono::nanoseconds d);

  /// `raft_fsm_snapshot` (histogram, ms): the FSM's Snapshot call.
  void fsm_snapshot(std::chrono::nanoseconds d);

  /// `raft_fsm_restore` (histogram, ms) and `raft_fsm_last_restore_duration`
  /// (gauge, ms): the FSM restored a snapshot.
  void fsm_restore(std::chrono::nanoseconds d);

  // -- snapshots and compaction ----------------------------------------------

  /// `raft_snapshot_take_snapshot` (histogram, ms): a whole snapshot, from
  /// the FSM's Snapshot to the compaction after it.
  void take_snapshot(std::chrono::nanoseconds d);

  /// `raft_snapshot_create` (histogram, ms): opening a snapshot sink.
  void snapshot_create(std::chrono::nanoseconds d);

  /// `raft_snapshot_persist` (histogram, ms): writing the snapshot through
  /// the sink; `raft_snapshot_size` (gauge, bytes; ours, not HashiCorp's):
  /// its size.
  void snapshot_persist(std::chrono::nanoseconds d, uint64_t bytes);

  /// `raft_compact_logs` (histogram, ms): deleting the log prefix a
  /// snapshot covers.
  void compact_logs(std::chrono::nanoseconds d);

  /// `raft_restore` (counter) and `raft_restore_user_snapshot` (histogram,
  /// ms): a user snapshot restore (Restore) completed.
  void restore_user_snapshot(std::chrono::nanoseconds d);

  // -- state gauges (ours: HashiCorp reports these through Stats) ------------

  /// `raft_peers` (gauge): servers in the latest configuration.
  void set_peers(size_t n);

  /// `raft_term` (gauge): the current term.
  void set_term(uint64_t term);

  /// `raft_commit_index` (gauge).
  void set_commit_index(uint64_t index);

  /// `raft_applied_index` (gauge): the last index the FSM applied.
  void set_applied_index(uint64_t index);

  /// `raft_last_index` (gauge): the last index in the log.
  void set_last_index(uint64_t index);

  /// `raft_last_contact` (gauge, ms): how long ago a follower last heard
  /// from its leader (0 on the leader).
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
