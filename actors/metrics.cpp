#include "caf-raft/actors/metrics.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/histogram.h>

#include "caf-raft/actors/protocol/consensus.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/version.hpp"

namespace raft {

namespace {

// Prometheus name (its conventions: counters end in _total, durations in
// seconds with _seconds, sizes in _bytes) and the go-metrics key of
// HashiCorp raft (spec/raft-reference.md §5) each stands for:
//
// | Prometheus name                                  | type      | HashiCorp key                                  |
// |--------------------------------------------------|-----------|------------------------------------------------|
// | raft_apply_total                                 | counter   | raft.apply                                     |
// | raft_barrier_total                               | counter   | raft.barrier                                   |
// | raft_verify_leader_total                         | counter   | raft.verify_leader                             |
// | raft_restore_total                               | counter   | raft.restore                                   |
// | raft_state_{follower,candidate,leader}_total     | counter   | raft.state.{follower,candidate,leader}         |
// | raft_transition_heartbeat_timeout_total          | counter   | raft.transition.heartbeat_timeout              |
// | raft_transition_leader_lease_timeout_total       | counter   | raft.transition.leader_lease_timeout           |
// | raft_leader_changes_total                        | counter   | (etcd: leader_changes_seen_total)              |
// | raft_proposals_failed_total                      | counter   | (etcd: proposals_failed_total)                 |
// | raft_replication_append_entries_logs_total{peer_id} | counter | raft.replication.appendEntries.logs           |
// | raft_peers                                       | gauge     | raft.peers                                     |
// | raft_is_leader, raft_has_leader                  | gauge     | (etcd: is_leader, has_leader)                  |
// | raft_commit_num_logs                             | gauge     | raft.commitNumLogs                             |
// | raft_fsm_last_restore_duration_seconds           | gauge     | raft.fsm.lastRestoreDuration                   |
// | raft_term, raft_commit_index, raft_applied_index, raft_last_index | gauge | (Stats)                              |
// | raft_last_contact_seconds                        | gauge     | (Stats: last_contact)                          |
// | raft_snapshot_size_bytes                         | gauge     |                                                |
// | raft_replication_lag_entries{peer_id}            | gauge     |                                                |
// | raft_commit_time_seconds                         | histogram | raft.commitTime                                |
// | raft_log_store_seconds                           | histogram | raft.leader.dispatchLog, raft.rpc.appendEntries.storeLogs |
// | raft_log_store_entries                           | histogram | raft.leader.dispatchNumLogs                    |
// | raft_log_fsync_seconds                           | histogram | (etcd: disk_wal_fsync_duration_seconds)        |
// | raft_compact_logs_seconds                        | histogram | raft.compactLogs                               |
// | raft_fsm_apply_seconds                           | histogram | raft.fsm.apply                                 |
// | raft_fsm_apply_batch_seconds                     | histogram | raft.fsm.applyBatch                            |
// | raft_fsm_apply_batch_entries                     | histogram | raft.fsm.applyBatchNum                         |
// | raft_fsm_snapshot_seconds                        | histogram | raft.fsm.snapshot                              |
// | raft_fsm_restore_seconds                         | histogram | raft.fsm.restore                               |
// | raft_snapshot_take_snapshot_seconds              | histogram | raft.snapshot.takeSnapshot                     |
// | raft_snapshot_create_seconds                     | histogram | raft.snapshot.create                           |
// | raft_snapshot_persist_seconds                    | histogram | raft.snapshot.persist                          |
// | raft_restore_user_snapshot_seconds               | histogram | raft.restoreUserSnapshot                       |
// | raft_rpc_install_snapshot_seconds                | histogram | raft.rpc.installSnapshot                       |
// | raft_replication_append_entries_seconds{peer_id} | histogram | raft.replication.appendEntries.rpc             |
// | raft_replication_heartbeat_seconds{peer_id}      | histogram | raft.replication.heartbeat                     |
// | raft_replication_install_snapshot_seconds{peer_id} | histogram | raft.replication.installSnapshot             |
//
// Durations are histograms, not the go-metrics sink's summaries:
// prometheus-cpp 1.0's Summary keeps every observation of its window and
// compresses them on insert, costing 3.5 us per observation for spread
// values and growing with repeats (40 us each after 100,000 equal values,
// as a test coordinator's zero durations are), far too much for a
// per-command path; a histogram observation costs about 20 ns and its
// buckets aggregate across servers.
//
// HashiCorp keys without a family here time steps this design does not
// have (docs/operations.md §7 lists them): the leader's oldest log age and
// per-voter last contact (the lag and round-trip families replace them),
// the FSM's enqueue and store_config (entries reach the FSM runner by
// message; configurations are not handed to the FSM), the receiving side's
// per-RPC handling times (a pure protocol step of microseconds; the log
// store and fsync histograms time the part that waits) and a candidate's
// electSelf (the state_candidate counter counts elections).

enum counter_id : size_t {
  c_apply,
  c_barrier,
  c_verify_leader,
  c_restore,
  c_state_follower,
  c_state_candidate,
  c_state_leader,
  c_heartbeat_timeout,
  c_lease_timeout,
  c_leader_changes,
  c_proposals_failed,
  n_counters,
};

enum gauge_id : size_t {
  g_peers,
  g_is_leader,
  g_has_leader,
  g_commit_num_logs,
  g_last_restore_duration,
  g_term,
  g_commit_index,
  g_applied_index,
  g_last_index,
  g_last_contact,
  g_snapshot_size,
  n_gauges,
};

enum timer_id : size_t {
  s_commit_time,
  s_log_store,
  s_log_store_entries,
  s_log_fsync,
  s_compact_logs,
  s_fsm_apply,
  s_fsm_apply_batch,
  s_fsm_apply_batch_entries,
  s_fsm_snapshot,
  s_fsm_restore,
  s_take_snapshot,
  s_snapshot_create,
  s_snapshot_persist,
  s_restore_user_snapshot,
  s_rpc_install_snapshot,
  n_timers,
};

enum peer_timer_id : size_t {
  p_append_rpc,
  p_heartbeat,
  p_install_snapshot,
  n_peer_timers,
};

struct metric_def {
  const char* name;
  const char* help;
};

// Indexed by the enums above; the help texts name HashiCorp's key.
constexpr std::array<metric_def, n_counters> counter_defs{{
  {"raft_apply_total", "Commands accepted by the leader (raft.apply)."},
  {"raft_barrier_total", "Barriers accepted by the leader (raft.barrier)."},
  {"raft_verify_leader_total",
   "Leadership checks started (raft.verify_leader)."},
  {"raft_restore_total", "User snapshot restores applied (raft.restore)."},
  {"raft_state_follower_total",
   "Times this server became follower (raft.state.follower)."},
  {"raft_state_candidate_total",
   "Times this server became candidate (raft.state.candidate)."},
  {"raft_state_leader_total",
   "Times this server became leader (raft.state.leader)."},
  {"raft_transition_heartbeat_timeout_total",
   "Heartbeat timeouts that started an election "
   "(raft.transition.heartbeat_timeout)."},
  {"raft_transition_leader_lease_timeout_total",
   "Leader lease timeouts that made the leader step down "
   "(raft.transition.leader_lease_timeout)."},
  {"raft_leader_changes_total",
   "Times the leader this server knows changed to another server."},
  {"raft_proposals_failed_total",
   "Proposals the leader refused (too large, too many changes queued) or "
   "lost with its leadership."},
}};

constexpr std::array<metric_def, n_gauges> gauge_defs{{
  {"raft_peers", "Voters in the latest configuration besides this server "
                 "(raft.peers)."},
  {"raft_is_leader", "1 while this server leads, else 0."},
  {"raft_has_leader", "1 while this server knows a leader, else 0."},
  {"raft_commit_num_logs",
   "Entries the latest commit on the leader covered (raft.commitNumLogs)."},
  {"raft_fsm_last_restore_duration_seconds",
   "Seconds the latest FSM restore took (raft.fsm.lastRestoreDuration)."},
  {"raft_term", "The current term."},
  {"raft_commit_index", "The commit index."},
  {"raft_applied_index", "The last index the FSM applied."},
  {"raft_last_index", "The last index in the log."},
  {"raft_last_contact_seconds",
   "Seconds since a follower last heard from its leader (0 on the "
   "leader)."},
  {"raft_snapshot_size_bytes", "Bytes of the latest persisted snapshot."},
}};

constexpr std::array<metric_def, n_timers> timer_defs{{
  {"raft_commit_time_seconds",
   "Seconds from the leader's proposal of an entry to its commit "
   "(raft.commitTime)."},
  {"raft_log_store_seconds",
   "Seconds to make a batch of entries durable (raft.leader.dispatchLog on "
   "the leader, raft.rpc.appendEntries.storeLogs on followers)."},
  {"raft_log_store_entries",
   "Entries per batch made durable (raft.leader.dispatchNumLogs)."},
  {"raft_log_fsync_seconds",
   "Seconds the log store's sync (SQLite's commit) took per write."},
  {"raft_compact_logs_seconds",
   "Seconds to delete a slice of the log prefix a snapshot covers "
   "(raft.compactLogs)."},
  {"raft_fsm_apply_seconds",
   "Seconds the FSM took per command (raft.fsm.apply)."},
  {"raft_fsm_apply_batch_seconds",
   "Seconds the FSM took per batch (raft.fsm.applyBatch)."},
  {"raft_fsm_apply_batch_entries",
   "Entries per batch applied to the FSM (raft.fsm.applyBatchNum)."},
  {"raft_fsm_snapshot_seconds",
   "Seconds the FSM's Snapshot call took (raft.fsm.snapshot)."},
  {"raft_fsm_restore_seconds",
   "Seconds the FSM took to restore a snapshot (raft.fsm.restore)."},
  {"raft_snapshot_take_snapshot_seconds",
   "Seconds a whole snapshot took (raft.snapshot.takeSnapshot)."},
  {"raft_snapshot_create_seconds",
   "Seconds to open a snapshot sink (raft.snapshot.create)."},
  {"raft_snapshot_persist_seconds",
   "Seconds to write a snapshot (raft.snapshot.persist)."},
  {"raft_restore_user_snapshot_seconds",
   "Seconds from a user restore's request to its application on the "
   "leader (raft.restoreUserSnapshot)."},
  {"raft_rpc_install_snapshot_seconds",
   "Seconds to receive and install a snapshot from the leader "
   "(raft.rpc.installSnapshot)."},
}};

constexpr std::array<metric_def, n_peer_timers> peer_timer_defs{{
  {"raft_replication_append_entries_seconds",
   "Seconds of an AppendEntries round trip to a peer "
   "(raft.replication.appendEntries.rpc)."},
  {"raft_replication_heartbeat_seconds",
   "Seconds of a heartbeat round trip to a peer "
   "(raft.replication.heartbeat)."},
  {"raft_replication_install_snapshot_seconds",
   "Seconds to send a snapshot to a peer "
   "(raft.replication.installSnapshot)."},
}};

constexpr metric_def peer_logs_def{
  "raft_replication_append_entries_logs_total",
  "Entries sent to a peer in AppendEntries "
  "(raft.replication.appendEntries.logs)."};

constexpr metric_def peer_lag_def{
  "raft_replication_lag_entries",
  "Entries of the leader's log a peer is not known to hold."};

/// Bucket bounds of the timers, in seconds: 10 us to 30 s.
const prometheus::Histogram::BucketBoundaries& seconds_buckets() {
  static const prometheus::Histogram::BucketBoundaries xs{
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25,
    0.5,     1,        2.5,     5,      10,      30};
  return xs;
}

/// Bucket bounds of batch sizes, in entries.
const prometheus::Histogram::BucketBoundaries& count_buckets() {
  static const prometheus::Histogram::BucketBoundaries xs{
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  return xs;
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

} // namespace

struct raft_metrics::handles {
  std::array<prometheus::Counter*, n_counters> counters{};
  std::array<prometheus::Gauge*, n_gauges> gauges{};
  std::array<prometheus::Histogram*, n_timers> timers{};
  prometheus::Family<prometheus::Counter>* peer_logs = nullptr;
  prometheus::Family<prometheus::Gauge>* peer_lag = nullptr;
  std::array<prometheus::Family<prometheus::Histogram>*, n_peer_timers>
    peer_timers{};
};

struct raft_metrics::peer_metrics {
  prometheus::Counter* logs = nullptr;
  prometheus::Gauge* lag = nullptr;
  std::array<prometheus::Histogram*, n_peer_timers> timers{};
};

namespace {

/// One registry's families, shared by every raft_metrics made on it. The
/// registry itself deduplicates only with InsertBehavior::Merge; this table
/// makes takeover work with Throw too (Juju's Unregister-then-Register).
struct registration {
  const prometheus::Registry* registry;
  std::weak_ptr<prometheus::Registry> alive;
  std::shared_ptr<const raft_metrics::handles> h;
};

std::mutex registrations_mtx;

std::vector<registration>& registrations() {
  static std::vector<registration> xs;
  return xs;
}

/// Registers every family on `reg`; `at` names the family being registered
/// when prometheus-cpp throws.
std::shared_ptr<const raft_metrics::handles>
register_all(prometheus::Registry& reg, const char*& at) {
  auto h = std::make_shared<raft_metrics::handles>();
  for (size_t i = 0; i < n_counters; ++i)
    h->counters[i] = &prometheus::BuildCounter()
                        .Name(at = counter_defs[i].name)
                        .Help(counter_defs[i].help)
                        .Register(reg)
                        .Add({});
  for (size_t i = 0; i < n_gauges; ++i)
    h->gauges[i] = &prometheus::BuildGauge()
                      .Name(at = gauge_defs[i].name)
                      .Help(gauge_defs[i].help)
                      .Register(reg)
                      .Add({});
  for (size_t i = 0; i < n_timers; ++i)
    h->timers[i] = &prometheus::BuildHistogram()
                         .Name(at = timer_defs[i].name)
                         .Help(timer_defs[i].help)
                         .Register(reg)
                         .Add({}, i == s_fsm_apply_batch_entries
                                      || i == s_log_store_entries
                                    ? count_buckets()
                                    : seconds_buckets());
  // Which build runs, as Prometheus convention has it: a gauge at 1 whose
  // labels are the versions (`raftctl version` in a query).
  prometheus::BuildGauge()
    .Name(at = "caf_raft_build_info")
    .Help("The versions of caf-raft (and its git revision), CAF, SQLite and "
          "OpenSSL this process runs; always 1.")
    .Register(reg)
    .Add(build_info())
    .Set(1);
  // Per-peer families stay empty (and invisible) until a peer shows up.
  h->peer_logs = &prometheus::BuildCounter()
                    .Name(at = peer_logs_def.name)
                    .Help(peer_logs_def.help)
                    .Register(reg);
  h->peer_lag = &prometheus::BuildGauge()
                   .Name(at = peer_lag_def.name)
                   .Help(peer_lag_def.help)
                   .Register(reg);
  for (size_t i = 0; i < n_peer_timers; ++i)
    h->peer_timers[i] = &prometheus::BuildHistogram()
                              .Name(at = peer_timer_defs[i].name)
                              .Help(peer_timer_defs[i].help)
                              .Register(reg);
  return h;
}

} // namespace

caf::expected<std::shared_ptr<raft_metrics>>
raft_metrics::make(std::shared_ptr<prometheus::Registry> registry) {
  if (!registry)
    return std::shared_ptr<raft_metrics>{};
  std::shared_ptr<const handles> h;
  {
    // Held while registering, so two workers starting at once on one
    // registry cannot both register.
    std::lock_guard<std::mutex> guard{registrations_mtx};
    auto& xs = registrations();
    // A dead registry's address may be reused by a new one: drop its entry.
    xs.erase(std::remove_if(xs.begin(), xs.end(),
                            [](const registration& x) {
                              return x.alive.expired();
                            }),
             xs.end());
    for (auto& x : xs)
      if (x.registry == registry.get())
        h = x.h;
    if (!h) {
      const char* at = "";
      try {
        h = register_all(*registry, at);
      } catch (const std::exception& e) {
        // Families registered before the failure stay behind, empty, so
        // they never show in a scrape.
        return make_error(errc::not_valid,
                          std::string{"registering raft metrics: "} + at
                            + ": " + e.what());
      }
      xs.push_back(registration{registry.get(), registry, h});
    }
  }
  return std::shared_ptr<raft_metrics>{
    new raft_metrics(std::move(registry), std::move(h))};
}

raft_metrics::raft_metrics(std::shared_ptr<prometheus::Registry> registry,
                           std::shared_ptr<const handles> h)
  : registry_(std::move(registry)), h_(std::move(h)) {
  // nop
}

raft_metrics::~raft_metrics() = default;

void raft_metrics::apply(size_t n) {
  h_->counters[c_apply]->Increment(static_cast<double>(n));
}

void raft_metrics::barrier() {
  h_->counters[c_barrier]->Increment();
}

void raft_metrics::verify_leader() {
  h_->counters[c_verify_leader]->Increment();
}

void raft_metrics::proposals_failed(size_t n) {
  h_->counters[c_proposals_failed]->Increment(static_cast<double>(n));
}

void raft_metrics::commit_time(std::chrono::nanoseconds d, size_t n) {
  h_->timers[s_commit_time]->Observe(seconds(d));
  h_->gauges[g_commit_num_logs]->Set(static_cast<double>(n));
}

void raft_metrics::state_changed(role r) {
  h_->gauges[g_is_leader]->Set(r == role::leader ? 1 : 0);
  switch (r) {
    case role::follower:
      h_->counters[c_state_follower]->Increment();
      break;
    case role::candidate:
      h_->counters[c_state_candidate]->Increment();
      break;
    case role::leader:
      h_->counters[c_state_leader]->Increment();
      break;
    default:
      break;
  }
}

void raft_metrics::set_leader(bool known, bool changed) {
  h_->gauges[g_has_leader]->Set(known ? 1 : 0);
  if (changed)
    h_->counters[c_leader_changes]->Increment();
}

void raft_metrics::heartbeat_timeout() {
  h_->counters[c_heartbeat_timeout]->Increment();
}

void raft_metrics::leader_lease_timeout() {
  h_->counters[c_lease_timeout]->Increment();
}

raft_metrics::peer_metrics& raft_metrics::peer(const std::string& id) {
  std::lock_guard<std::mutex> guard{peers_mtx_};
  auto& p = peers_[id];
  if (!p) {
    // Family::Add returns the existing series for known labels, so an
    // earlier worker's series for this peer are reused, not duplicated.
    p = std::make_unique<peer_metrics>();
    prometheus::Labels labels{{"peer_id", id}};
    p->logs = &h_->peer_logs->Add(labels);
    p->lag = &h_->peer_lag->Add(labels);
    for (size_t i = 0; i < n_peer_timers; ++i)
      p->timers[i] = &h_->peer_timers[i]->Add(labels, seconds_buckets());
  }
  return *p;
}

void raft_metrics::append_rpc(peer_metrics& p, std::chrono::nanoseconds d,
                              size_t entries) {
  p.timers[p_append_rpc]->Observe(seconds(d));
  p.logs->Increment(static_cast<double>(entries));
}

void raft_metrics::append_rpc(const std::string& peer_id,
                              std::chrono::nanoseconds d, size_t entries) {
  append_rpc(peer(peer_id), d, entries);
}

void raft_metrics::heartbeat_rpc(peer_metrics& p, std::chrono::nanoseconds d) {
  p.timers[p_heartbeat]->Observe(seconds(d));
}

void raft_metrics::heartbeat_rpc(const std::string& peer_id,
                                 std::chrono::nanoseconds d) {
  heartbeat_rpc(peer(peer_id), d);
}

void raft_metrics::snapshot_rpc(peer_metrics& p, std::chrono::nanoseconds d) {
  p.timers[p_install_snapshot]->Observe(seconds(d));
}

void raft_metrics::snapshot_rpc(const std::string& peer_id,
                                std::chrono::nanoseconds d) {
  snapshot_rpc(peer(peer_id), d);
}

void raft_metrics::set_replication_lag(const std::string& peer_id,
                                       uint64_t entries) {
  peer(peer_id).lag->Set(static_cast<double>(entries));
}

void raft_metrics::log_store(std::chrono::nanoseconds d, size_t n) {
  h_->timers[s_log_store]->Observe(seconds(d));
  h_->timers[s_log_store_entries]->Observe(static_cast<double>(n));
}

void raft_metrics::log_fsync(std::chrono::nanoseconds d) {
  h_->timers[s_log_fsync]->Observe(seconds(d));
}

void raft_metrics::compact_logs(std::chrono::nanoseconds d) {
  h_->timers[s_compact_logs]->Observe(seconds(d));
}

void raft_metrics::fsm_apply(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_apply]->Observe(seconds(d));
}

void raft_metrics::fsm_apply_batch(std::chrono::nanoseconds d, size_t n) {
  h_->timers[s_fsm_apply_batch]->Observe(seconds(d));
  h_->timers[s_fsm_apply_batch_entries]->Observe(static_cast<double>(n));
}

void raft_metrics::fsm_snapshot(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_snapshot]->Observe(seconds(d));
}

void raft_metrics::fsm_restore(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_restore]->Observe(seconds(d));
  h_->gauges[g_last_restore_duration]->Set(seconds(d));
}

void raft_metrics::take_snapshot(std::chrono::nanoseconds d) {
  h_->timers[s_take_snapshot]->Observe(seconds(d));
}

void raft_metrics::snapshot_create(std::chrono::nanoseconds d) {
  h_->timers[s_snapshot_create]->Observe(seconds(d));
}

void raft_metrics::snapshot_persist(std::chrono::nanoseconds d,
                                    uint64_t bytes) {
  h_->timers[s_snapshot_persist]->Observe(seconds(d));
  h_->gauges[g_snapshot_size]->Set(static_cast<double>(bytes));
}

void raft_metrics::install_snapshot(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_install_snapshot]->Observe(seconds(d));
}

void raft_metrics::restore_user_snapshot(std::chrono::nanoseconds d) {
  h_->counters[c_restore]->Increment();
  h_->timers[s_restore_user_snapshot]->Observe(seconds(d));
}

void raft_metrics::set_peers(size_t n) {
  h_->gauges[g_peers]->Set(static_cast<double>(n));
}

void raft_metrics::set_term(uint64_t term) {
  h_->gauges[g_term]->Set(static_cast<double>(term));
}

void raft_metrics::set_commit_index(uint64_t index) {
  h_->gauges[g_commit_index]->Set(static_cast<double>(index));
}

void raft_metrics::set_applied_index(uint64_t index) {
  h_->gauges[g_applied_index]->Set(static_cast<double>(index));
}

void raft_metrics::set_last_index(uint64_t index) {
  h_->gauges[g_last_index]->Set(static_cast<double>(index));
}

void raft_metrics::set_last_contact(std::chrono::nanoseconds since) {
  h_->gauges[g_last_contact]->Set(seconds(since));
}

} // namespace raft
