#include "actors/metrics.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/histogram.h>

#include "actors/protocol/consensus.hpp"
#include "config/errc.hpp"
#include "config/version.hpp"

namespace raft {

namespace {

// Go-metrics key (hashicorp/raft, spec/raft-reference.md §5) to Prometheus
// name. go-metrics' prometheus sink turns "raft.commitTime" into
// "raft_commitTime"; we also snake-case the camelCase parts (DESIGN.md §7):
//
// | go-metrics key                       | Prometheus name                                | type      | unit    |
// |--------------------------------------|------------------------------------------------|-----------|---------|
// | raft.apply                           | raft_apply                                     | counter   |         |
// | raft.barrier                         | raft_barrier                                   | counter   |         |
// | raft.verify_leader                   | raft_verify_leader                             | counter   |         |
// | raft.restore                         | raft_restore                                   | counter   |         |
// | raft.state.follower/candidate/leader | raft_state_follower/candidate/leader           | counter   |         |
// | raft.transition.heartbeat_timeout    | raft_transition_heartbeat_timeout              | counter   |         |
// | raft.transition.leader_lease_timeout | raft_transition_leader_lease_timeout           | counter   |         |
// | raft.replication.appendEntries.logs  | raft_replication_append_entries_logs{peer_id}  | counter   |         |
// | raft.peers                           | raft_peers                                     | gauge     |         |
// | raft.commitNumLogs                   | raft_commit_num_logs                           | gauge     | entries |
// | raft.leader.dispatchNumLogs          | raft_leader_dispatch_num_logs                  | gauge     | entries |
// | raft.leader.oldestLogAge             | raft_leader_oldest_log_age                     | gauge     | ms      |
// | raft.fsm.lastRestoreDuration         | raft_fsm_last_restore_duration                 | gauge     | ms      |
// | raft.commitTime                      | raft_commit_time                               | histogram | ms      |
// | raft.leader.dispatchLog              | raft_leader_dispatch_log                       | histogram | ms      |
// | raft.leader.lastContact              | raft_leader_last_contact                       | histogram | ms      |
// | raft.fsm.apply                       | raft_fsm_apply                                 | histogram | ms      |
// | raft.fsm.applyBatch                  | raft_fsm_apply_batch                           | histogram | ms      |
// | raft.fsm.applyBatchNum               | raft_fsm_apply_batch_num                       | histogram | entries |
// | raft.fsm.enqueue                     | raft_fsm_enqueue                               | histogram | ms      |
// | raft.fsm.store_config                | raft_fsm_store_config                          | histogram | ms      |
// | raft.fsm.snapshot                    | raft_fsm_snapshot                              | histogram | ms      |
// | raft.fsm.restore                     | raft_fsm_restore                               | histogram | ms      |
// | raft.snapshot.takeSnapshot           | raft_snapshot_take_snapshot                    | histogram | ms      |
// | raft.snapshot.create                 | raft_snapshot_create                           | histogram | ms      |
// | raft.snapshot.persist                | raft_snapshot_persist                          | histogram | ms      |
// | raft.compactLogs                     | raft_compact_logs                              | histogram | ms      |
// | raft.restoreUserSnapshot             | raft_restore_user_snapshot                     | histogram | ms      |
// | raft.rpc.processHeartbeat            | raft_rpc_process_heartbeat                     | histogram | ms      |
// | raft.rpc.appendEntries               | raft_rpc_append_entries                        | histogram | ms      |
// | raft.rpc.appendEntries.storeLogs     | raft_rpc_append_entries_store_logs             | histogram | ms      |
// | raft.rpc.appendEntries.processLogs   | raft_rpc_append_entries_process_logs           | histogram | ms      |
// | raft.rpc.requestVote                 | raft_rpc_request_vote                          | histogram | ms      |
// | raft.rpc.requestPreVote              | raft_rpc_request_pre_vote                      | histogram | ms      |
// | raft.rpc.installSnapshot             | raft_rpc_install_snapshot                      | histogram | ms      |
// | raft.candidate.electSelf             | raft_candidate_elect_self                      | histogram | ms      |
// | raft.candidate.preElectSelf          | raft_candidate_pre_elect_self                  | histogram | ms      |
// | raft.replication.appendEntries.rpc   | raft_replication_append_entries_rpc{peer_id}   | histogram | ms      |
// | raft.replication.heartbeat           | raft_replication_heartbeat{peer_id}            | histogram | ms      |
// | raft.replication.installSnapshot     | raft_replication_install_snapshot{peer_id}     | histogram | ms      |
// | (Stats: term)                        | raft_term                                      | gauge     |         |
// | (Stats: commit_index)                | raft_commit_index                              | gauge     |         |
// | (Stats: applied_index)               | raft_applied_index                             | gauge     |         |
// | (Stats: last_log_index)              | raft_last_index                                | gauge     |         |
// | (Stats: last_contact)                | raft_last_contact                              | gauge     | ms      |
// | (ours)                               | raft_snapshot_size                             | gauge     | bytes   |
//
// Timers are histograms, not the sink's summaries: prometheus-cpp 1.0's
// Summary keeps every observation of its window and compresses them on
// insert, costing 3.5 us per observation for spread values and growing
// with repeats (40 us each after 100,000 equal values, as a test
// coordinator's zero durations are), far too much for a per-command path;
// a histogram observation costs about 20 ns and its buckets aggregate
// across servers. The values stay in go-metrics' milliseconds.
//
// Left out: the legacy per-peer name suffixes (the label replaces them), the
// net.* transport timers (no network transport yet), thread saturation and
// the boltdb store metrics (absent from Juju's pin).

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
  n_counters,
};

enum gauge_id : size_t {
  g_peers,
  g_commit_num_logs,
  g_dispatch_num_logs,
  g_oldest_log_age,
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
  s_dispatch_log,
  s_leader_last_contact,
  s_fsm_apply,
  s_fsm_apply_batch,
  s_fsm_apply_batch_num,
  s_fsm_enqueue,
  s_fsm_store_config,
  s_fsm_snapshot,
  s_fsm_restore,
  s_take_snapshot,
  s_snapshot_create,
  s_snapshot_persist,
  s_compact_logs,
  s_restore_user_snapshot,
  s_rpc_heartbeat,
  s_rpc_append,
  s_rpc_store_logs,
  s_rpc_process_logs,
  s_rpc_request_vote,
  s_rpc_request_pre_vote,
  s_rpc_install_snapshot,
  s_elect_self,
  s_pre_elect_self,
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

// Indexed by the enums above; the help texts say the go-metrics key.
constexpr std::array<metric_def, n_counters> counter_defs{{
  {"raft_apply", "Commands accepted by the leader (raft.apply)."},
  {"raft_barrier", "Barriers accepted by the leader (raft.barrier)."},
  {"raft_verify_leader", "Leadership checks started (raft.verify_leader)."},
  {"raft_restore", "User snapshot restores completed (raft.restore)."},
  {"raft_state_follower", "Times this node became follower (raft.state.follower)."},
  {"raft_state_candidate",
   "Times this node became candidate (raft.state.candidate)."},
  {"raft_state_leader", "Times this node became leader (raft.state.leader)."},
  {"raft_transition_heartbeat_timeout",
   "Heartbeat timeouts that started an election "
   "(raft.transition.heartbeat_timeout)."},
  {"raft_transition_leader_lease_timeout",
   "Leader lease timeouts that made the leader step down "
   "(raft.transition.leader_lease_timeout)."},
}};

constexpr std::array<metric_def, n_gauges> gauge_defs{{
  {"raft_peers", "Servers in the latest configuration (raft.peers)."},
  {"raft_commit_num_logs",
   "Entries the latest commit on the leader covered (raft.commitNumLogs)."},
  {"raft_leader_dispatch_num_logs",
   "Entries in the leader's latest log write (raft.leader.dispatchNumLogs)."},
  {"raft_leader_oldest_log_age",
   "Age in milliseconds of the oldest entry in the log "
   "(raft.leader.oldestLogAge)."},
  {"raft_fsm_last_restore_duration",
   "Milliseconds the latest FSM restore took (raft.fsm.lastRestoreDuration)."},
  {"raft_term", "The current term."},
  {"raft_commit_index", "The commit index."},
  {"raft_applied_index", "The last index the FSM applied."},
  {"raft_last_index", "The last index in the log."},
  {"raft_last_contact",
   "Milliseconds since a follower last heard from its leader (0 on the "
   "leader)."},
  {"raft_snapshot_size", "Bytes of the latest persisted snapshot."},
}};

constexpr std::array<metric_def, n_timers> timer_defs{{
  {"raft_commit_time",
   "Milliseconds from the leader's dispatch of an entry to its commit "
   "(raft.commitTime)."},
  {"raft_leader_dispatch_log",
   "Milliseconds the leader took to write a batch to its log "
   "(raft.leader.dispatchLog)."},
  {"raft_leader_last_contact",
   "Milliseconds since the leader last heard from a voter, per voter and "
   "lease check (raft.leader.lastContact)."},
  {"raft_fsm_apply", "Milliseconds the FSM took per command (raft.fsm.apply)."},
  {"raft_fsm_apply_batch",
   "Milliseconds the FSM took per batch (raft.fsm.applyBatch)."},
  {"raft_fsm_apply_batch_num",
   "Entries per batch applied to the FSM (raft.fsm.applyBatchNum)."},
  {"raft_fsm_enqueue",
   "Milliseconds to hand committed entries to the FSM (raft.fsm.enqueue)."},
  {"raft_fsm_store_config",
   "Milliseconds the FSM took per configuration entry "
   "(raft.fsm.store_config)."},
  {"raft_fsm_snapshot",
   "Milliseconds the FSM's Snapshot call took (raft.fsm.snapshot)."},
  {"raft_fsm_restore",
   "Milliseconds the FSM took to restore a snapshot (raft.fsm.restore)."},
  {"raft_snapshot_take_snapshot",
   "Milliseconds a whole snapshot took (raft.snapshot.takeSnapshot)."},
  {"raft_snapshot_create",
   "Milliseconds to open a snapshot sink (raft.snapshot.create)."},
  {"raft_snapshot_persist",
   "Milliseconds to write a snapshot (raft.snapshot.persist)."},
  {"raft_compact_logs",
   "Milliseconds to delete the log prefix a snapshot covers "
   "(raft.compactLogs)."},
  {"raft_restore_user_snapshot",
   "Milliseconds a user snapshot restore took (raft.restoreUserSnapshot)."},
  {"raft_rpc_process_heartbeat",
   "Milliseconds to handle a heartbeat (raft.rpc.processHeartbeat)."},
  {"raft_rpc_append_entries",
   "Milliseconds to handle an AppendEntries (raft.rpc.appendEntries)."},
  {"raft_rpc_append_entries_store_logs",
   "Milliseconds to store an AppendEntries' entries "
   "(raft.rpc.appendEntries.storeLogs)."},
  {"raft_rpc_append_entries_process_logs",
   "Milliseconds to hand newly committed entries to the FSM "
   "(raft.rpc.appendEntries.processLogs)."},
  {"raft_rpc_request_vote",
   "Milliseconds to handle a vote request (raft.rpc.requestVote)."},
  {"raft_rpc_request_pre_vote",
   "Milliseconds to handle a pre-vote request (raft.rpc.requestPreVote)."},
  {"raft_rpc_install_snapshot",
   "Milliseconds to receive and install a snapshot "
   "(raft.rpc.installSnapshot)."},
  {"raft_candidate_elect_self",
   "Milliseconds for a candidate to vote for itself and ask for votes "
   "(raft.candidate.electSelf)."},
  {"raft_candidate_pre_elect_self",
   "Milliseconds for a pre-candidate to ask for pre-votes "
   "(raft.candidate.preElectSelf)."},
}};

constexpr std::array<metric_def, n_peer_timers> peer_timer_defs{{
  {"raft_replication_append_entries_rpc",
   "Milliseconds of an AppendEntries round trip to a peer "
   "(raft.replication.appendEntries.rpc)."},
  {"raft_replication_heartbeat",
   "Milliseconds of a heartbeat round trip to a peer "
   "(raft.replication.heartbeat)."},
  {"raft_replication_install_snapshot",
   "Milliseconds to send a snapshot to a peer "
   "(raft.replication.installSnapshot)."},
}};

constexpr metric_def peer_logs_def{
  "raft_replication_append_entries_logs",
  "Entries sent to a peer in AppendEntries "
  "(raft.replication.appendEntries.logs)."};

/// Bucket bounds of the timers, in milliseconds: 10 us to 30 s.
const prometheus::Histogram::BucketBoundaries& ms_buckets() {
  static const prometheus::Histogram::BucketBoundaries xs{
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,    2.5,  5,     10,   25,
    50,   100,   250,  500, 1000, 2500, 5000, 10000, 30000};
  return xs;
}

/// Bucket bounds of batch sizes, in entries.
const prometheus::Histogram::BucketBoundaries& count_buckets() {
  static const prometheus::Histogram::BucketBoundaries xs{
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  return xs;
}

double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace

struct raft_metrics::handles {
  std::array<prometheus::Counter*, n_counters> counters{};
  std::array<prometheus::Gauge*, n_gauges> gauges{};
  std::array<prometheus::Histogram*, n_timers> timers{};
  prometheus::Family<prometheus::Counter>* peer_logs = nullptr;
  std::array<prometheus::Family<prometheus::Histogram>*, n_peer_timers>
    peer_timers{};
};

struct raft_metrics::peer_metrics {
  prometheus::Counter* logs = nullptr;
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
                         .Add({}, i == s_fsm_apply_batch_num
                                    ? count_buckets()
                                    : ms_buckets());
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

void raft_metrics::dispatch_log(std::chrono::nanoseconds d, size_t n) {
  h_->timers[s_dispatch_log]->Observe(ms(d));
  h_->gauges[g_dispatch_num_logs]->Set(static_cast<double>(n));
}

void raft_metrics::commit_time(std::chrono::nanoseconds d, size_t n) {
  h_->timers[s_commit_time]->Observe(ms(d));
  h_->gauges[g_commit_num_logs]->Set(static_cast<double>(n));
}

void raft_metrics::leader_last_contact(std::chrono::nanoseconds since) {
  h_->timers[s_leader_last_contact]->Observe(ms(since));
}

void raft_metrics::set_oldest_log_age(std::chrono::nanoseconds age) {
  h_->gauges[g_oldest_log_age]->Set(ms(age));
}

void raft_metrics::state_changed(role r) {
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

void raft_metrics::heartbeat_timeout() {
  h_->counters[c_heartbeat_timeout]->Increment();
}

void raft_metrics::leader_lease_timeout() {
  h_->counters[c_lease_timeout]->Increment();
}

void raft_metrics::elect_self(std::chrono::nanoseconds d) {
  h_->timers[s_elect_self]->Observe(ms(d));
}

void raft_metrics::pre_elect_self(std::chrono::nanoseconds d) {
  h_->timers[s_pre_elect_self]->Observe(ms(d));
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
    for (size_t i = 0; i < n_peer_timers; ++i)
      p->timers[i]
        = &h_->peer_timers[i]->Add(labels, ms_buckets());
  }
  return *p;
}

void raft_metrics::append_rpc(peer_metrics& p, std::chrono::nanoseconds d,
                              size_t entries) {
  p.timers[p_append_rpc]->Observe(ms(d));
  if (entries > 0)
    p.logs->Increment(static_cast<double>(entries));
}

void raft_metrics::append_rpc(const std::string& peer_id,
                              std::chrono::nanoseconds d, size_t entries) {
  append_rpc(peer(peer_id), d, entries);
}

void raft_metrics::heartbeat_rpc(peer_metrics& p, std::chrono::nanoseconds d) {
  p.timers[p_heartbeat]->Observe(ms(d));
}

void raft_metrics::heartbeat_rpc(const std::string& peer_id,
                                 std::chrono::nanoseconds d) {
  heartbeat_rpc(peer(peer_id), d);
}

void raft_metrics::snapshot_rpc(peer_metrics& p, std::chrono::nanoseconds d) {
  p.timers[p_install_snapshot]->Observe(ms(d));
}

void raft_metrics::snapshot_rpc(const std::string& peer_id,
                                std::chrono::nanoseconds d) {
  snapshot_rpc(peer(peer_id), d);
}

void raft_metrics::rpc_append_entries(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_append]->Observe(ms(d));
}

void raft_metrics::rpc_store_logs(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_store_logs]->Observe(ms(d));
}

void raft_metrics::rpc_process_logs(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_process_logs]->Observe(ms(d));
}

void raft_metrics::rpc_heartbeat(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_heartbeat]->Observe(ms(d));
}

void raft_metrics::rpc_request_vote(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_request_vote]->Observe(ms(d));
}

void raft_metrics::rpc_request_pre_vote(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_request_pre_vote]->Observe(ms(d));
}

void raft_metrics::install_snapshot(std::chrono::nanoseconds d) {
  h_->timers[s_rpc_install_snapshot]->Observe(ms(d));
}

void raft_metrics::fsm_apply(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_apply]->Observe(ms(d));
}

void raft_metrics::fsm_apply_batch(std::chrono::nanoseconds d, size_t n) {
  h_->timers[s_fsm_apply_batch]->Observe(ms(d));
  h_->timers[s_fsm_apply_batch_num]->Observe(static_cast<double>(n));
}

void raft_metrics::fsm_enqueue(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_enqueue]->Observe(ms(d));
}

void raft_metrics::fsm_store_config(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_store_config]->Observe(ms(d));
}

void raft_metrics::fsm_snapshot(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_snapshot]->Observe(ms(d));
}

void raft_metrics::fsm_restore(std::chrono::nanoseconds d) {
  h_->timers[s_fsm_restore]->Observe(ms(d));
  h_->gauges[g_last_restore_duration]->Set(ms(d));
}

void raft_metrics::take_snapshot(std::chrono::nanoseconds d) {
  h_->timers[s_take_snapshot]->Observe(ms(d));
}

void raft_metrics::snapshot_create(std::chrono::nanoseconds d) {
  h_->timers[s_snapshot_create]->Observe(ms(d));
}

void raft_metrics::snapshot_persist(std::chrono::nanoseconds d,
                                    uint64_t bytes) {
  h_->timers[s_snapshot_persist]->Observe(ms(d));
  h_->gauges[g_snapshot_size]->Set(static_cast<double>(bytes));
}

void raft_metrics::compact_logs(std::chrono::nanoseconds d) {
  h_->timers[s_compact_logs]->Observe(ms(d));
}

void raft_metrics::restore_user_snapshot(std::chrono::nanoseconds d) {
  h_->counters[c_restore]->Increment();
  h_->timers[s_restore_user_snapshot]->Observe(ms(d));
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
  h_->gauges[g_last_contact]->Set(ms(since));
}

} // namespace raft
