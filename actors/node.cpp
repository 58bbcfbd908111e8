#include "actors/node.hpp"

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "actors/election.hpp"
#include "actors/fsm_runner.hpp"
#include "actors/log_writer.hpp"
#include "actors/metrics.hpp"
#include "actors/mutation.hpp"
#include "actors/replicator.hpp"
#include "actors/restore_upload.hpp"
#include "actors/snapshot_manager.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "config/errc.hpp"

namespace raft {

namespace {

using apply_promise = caf::typed_response_promise<index_t, caf::message>;
using index_promise = caf::typed_response_promise<index_t>;

/// A client's request and the term of the entry it proposed.
template <class Promise>
struct awaiting_entry {
  term_t term;
  Promise promise;
};

struct node_state {
  static inline const char* name = "raft.node";

  node_options opts;
  std::unique_ptr<consensus> core;
  /// False until the state is loaded and the transport answered.
  bool started = false;
  caf::actor writer;
  caf::actor fsm;
  /// The snapshot manager; null without a snapshot store.
  caf::actor snapshots;
  std::shared_ptr<spdlog::logger> log;

  // Durability pipeline: one write in flight, messages held until the
  // write that makes their state durable completes (persist before send).
  uint64_t write_seq = 0;
  uint64_t in_flight_seq = 0;
  /// The newest term the store holds (with this server's vote in it).
  term_t durable_term = 0;
  std::deque<std::pair<uint64_t, outgoing>> held;
  bool flush_scheduled = false;

  // Campaigns (§5.2): one election actor at a time, started once the write
  // holding the candidate's vote is durable. The epoch numbers them, so a
  // report of an earlier campaign is dropped.
  election_actor election;
  uint64_t campaign_epoch = 0;
  std::optional<std::pair<uint64_t, campaign>> held_campaign;

  // Replication (leader): one replicator per follower for this term,
  // started once the term is durable. The epoch numbers them, so a report
  // of a replicator the node no longer runs is dropped.
  struct running_replicator {
    replicator_actor handle;
    uint64_t epoch;
    /// The follower_view generation it serves.
    uint64_t generation;
  };
  std::map<std::string, running_replicator> replicators;
  uint64_t replicator_epoch = 0;
  term_t replicating_term = 0;
  /// What the replicators were handed: entries, commit index, read round.
  index_t handed_index = 0;
  index_t handed_commit = 0;
  uint64_t handed_round = 0;
  index_t handed_compaction = 0;

  // Application pipeline.
  index_t dispatched = 0;
  index_t applied = 0;
  /// Requests waiting for their own entry, keyed by its index; the term
  /// names the entry (§5.3: one entry per index and term), so an index that
  /// commits with another leader's entry fails the request instead.
  std::map<index_t, awaiting_entry<apply_promise>> applies;
  std::map<index_t, awaiting_entry<index_promise>> barriers;
  std::vector<caf::typed_response_promise<bool>> transfers;
  /// Configuration changes waiting for the previous one to commit, in the
  /// order they came (HashiCorp queues them too).
  struct queued_change {
    configuration_change change;
    index_promise promise;
  };
  std::deque<queued_change> queued_changes;
  struct read_request {
    index_promise promise;
    bool verify_only;
  };
  std::map<uint64_t, read_request> reads;
  std::multimap<index_t, index_promise> reads_waiting_apply;
  uint64_t next_read_id = 0;

  // Snapshots (§7).
  index_t last_snapshot_index = 0;
  term_t last_snapshot_term = 0;
  bool snapshotting = false;
  std::vector<caf::typed_response_promise<snapshot_meta>> snapshot_waiters;
  /// A received snapshot is being restored into the FSM: nothing else may
  /// be applied meanwhile.
  bool installing = false;

  // Observability.
  /// Null without a registry; every report is guarded by it.
  raft_metrics* metrics = nullptr;
  /// Leader: when each not yet committed apply or barrier was proposed.
  std::deque<std::pair<index_t, std::chrono::steady_clock::time_point>>
    proposed_at;
  uint64_t lease_step_downs = 0;
  std::chrono::steady_clock::time_point snapshot_started;
  std::vector<caf::actor> observers;
  /// Told `(leader_atom, bool, term)` on every gain and loss of
  /// leadership (HashiCorp's LeaderCh).
  std::vector<caf::actor> leadership_subscribers;
  caf::actor_clock::time_point last_contact;
  bool ever_contacted = false;
  raft::role last_role = role::follower;
  term_t last_term = 0;
  std::string last_leader;
};

using node_ptr = node_actor::stateful_pointer<node_state>;

/// Data one entry fetch of a replicator carries at most (once it holds an
/// entry): a lagging follower catches up in steps of this size.
constexpr size_t max_fetch_bytes = 8 * 1024 * 1024;

caf::error not_leader_error(const consensus& core) {
  std::string text = "node is not the leader";
  if (core.leader_id().empty())
    text += "; no leader is known yet";
  else
    text += "; the leader is " + core.leader_id() + " at "
            + core.leader_address();
  return make_error(errc::not_leader, std::move(text));
}

void schedule_flush(node_ptr self) {
  auto& st = self->state;
  if (!st.flush_scheduled) {
    // Everything already in the mailbox is handled before the flush, so
    // concurrent applies share one write and one AppendEntries (group
    // commit).
    st.flush_scheduled = true;
    self->send(self, flush_atom_v);
  }
}

/// Keeps `rp` until the entry just proposed at `idx` is applied. The entry
/// is named by its index and this term (§5.3): if another leader's entry
/// commits at that index, the request fails instead (on_applied).
template <class Promise>
void await_entry(node_ptr self,
                 std::map<index_t, awaiting_entry<Promise>>& waiting,
                 index_t idx, Promise rp) {
  waiting.emplace(idx,
                  awaiting_entry<Promise>{self->state.core->term(), rp});
  schedule_flush(self);
}

/// Proposes an entry and waits for it (`await_entry`): the one path by
/// which apply, barrier and restore are answered. Returns the index, or 0
/// after failing `rp` if the core refused (a leadership transfer).
template <class Promise>
index_t propose_and_await(node_ptr self, entry_type type, bytes data,
                          int64_t appended_at_ms,
                          std::map<index_t, awaiting_entry<Promise>>& waiting,
                          Promise rp) {
  auto idx = self->state.core->propose(type, std::move(data), appended_at_ms);
  if (idx == 0)
    rp.deliver(make_error(errc::leadership_transfer_in_progress));
  else
    await_entry(self, waiting, idx, rp);
  return idx;
}

/// Planted bugs 3 and 4 (actors/mutation.hpp): a message that must wait
/// for its write goes out at once.
bool sent_before_durable(const outgoing& m) {
  if (mutant(mutation::ack_before_durable))
    return std::holds_alternative<append_response>(m.msg);
  if (mutant(mutation::vote_before_durable))
    return std::holds_alternative<vote_response>(m.msg);
  return false;
}

/// Stops the running campaign, if any: the node moved on. A new epoch
/// fences off whatever the old election actor already sent.
void end_campaign(node_ptr self) {
  auto& st = self->state;
  ++st.campaign_epoch;
  if (st.opts.probe)
    st.opts.probe->campaign_epoch = st.campaign_epoch;
  st.held_campaign.reset();
  if (st.election) {
    self->send_exit(st.election, caf::exit_reason::user_shutdown);
    st.election = nullptr;
  }
}

/// Hands a campaign to an election actor of its own, if this server is
/// still the candidate that started it.
void start_campaign(node_ptr self, campaign c) {
  auto& st = self->state;
  if (st.core->role() != role::candidate)
    return;
  st.election = spawn_election(self->system(), caf::actor_cast<caf::actor>(self),
                               st.opts.transport, st.core->id(), std::move(c),
                               st.campaign_epoch);
}

/// A new campaign replaces the running one; it starts once the write with
/// the candidate's vote (`needed`) is durable (persist before send).
/// Planted bug 4 (actors/mutation.hpp) starts it at once.
void plan_campaign(node_ptr self, uint64_t needed, campaign c) {
  end_campaign(self);
  if (needed == 0 || mutant(mutation::vote_before_durable))
    start_campaign(self, std::move(c));
  else
    self->state.held_campaign.emplace(needed, std::move(c));
}

void transmit(node_ptr self, outgoing& m) {
  auto& st = self->state;
  auto msg = std::visit([](auto& x) { return caf::make_message(std::move(x)); },
                        m.msg);
  caf::anon_send(st.opts.transport, rpc_atom_v, st.core->id(), std::move(m.to),
             std::move(msg));
}

/// A request to the log writer or FSM runner failed. While shutting down
/// that is expected (they are stopped with requests in flight); otherwise
/// the node cannot go on without its storage or state machine.
void on_child_error(node_ptr self, caf::error& err) {
  if (self->state.core->role() == role::shutdown)
    return;
  self->state.log->error("{}: {}", self->state.core->id(), describe(err));
  self->quit(err);
}

void take_snapshot(node_ptr self);

/// The request's entry of `term` lost its index to another leader's entry:
/// the request did not take effect (HashiCorp's ErrLeadershipLost).
caf::error entry_replaced(const apply_result& r, term_t term) {
  return make_error(errc::leadership_lost,
                    "leadership lost: index " + std::to_string(r.index)
                      + " committed with the entry of term "
                      + std::to_string(r.term) + ", not this request's (term "
                      + std::to_string(term) + "); it did not take effect");
}

void on_applied(node_ptr self, std::vector<apply_result>& results) {
  auto& st = self->state;
  for (auto& r : results) {
    st.applied = r.index;
    if (auto i = st.applies.find(r.index); i != st.applies.end()) {
      if (i->second.term == r.term
          || mutant(mutation::answer_for_another_entry))
        i->second.promise.deliver(r.index, std::move(r.response));
      else
        i->second.promise.deliver(entry_replaced(r, i->second.term));
      st.applies.erase(i);
    }
    if (auto i = st.barriers.find(r.index); i != st.barriers.end()) {
      if (i->second.term == r.term)
        i->second.promise.deliver(r.index);
      else
        i->second.promise.deliver(entry_replaced(r, i->second.term));
      st.barriers.erase(i);
    }
  }
  while (!st.reads_waiting_apply.empty()
         && st.reads_waiting_apply.begin()->first <= st.applied) {
    auto i = st.reads_waiting_apply.begin();
    i->second.deliver(i->first);
    st.reads_waiting_apply.erase(i);
  }
  if (st.opts.probe)
    st.opts.probe->applied = st.applied;
  if (st.metrics)
    st.metrics->set_applied_index(st.applied);
  // Under sustained load the log outgrows memory long before the next
  // snapshot: applied entries leave it (raft_config::max_log_memory).
  auto& cfg = st.core->settings();
  if (cfg.max_log_memory != 0 && st.core->log().memory() > cfg.max_log_memory)
    st.core->evict(st.applied, cfg.max_log_memory / 2);
}

void dispatch_committed(node_ptr self) {
  auto& st = self->state;
  if (st.installing)
    return; // The FSM is being replaced; entries after it wait.
  auto& core = *st.core;
  auto commit = mutant(mutation::apply_before_commit) ? core.last_index()
                                                       : core.commit_index();
  if (commit <= st.dispatched)
    return;
  std::vector<log_entry> entries;
  core.log().slice(st.dispatched + 1, commit, SIZE_MAX, SIZE_MAX, entries);
  st.dispatched = commit;
  self->request(st.fsm, caf::infinite, fsm_apply_atom_v, std::move(entries))
    .then(
      [self](std::vector<apply_result>& results) { on_applied(self, results); },
      [self](caf::error& err) { on_child_error(self, err); });
}

void fail_uncommitted(node_ptr self, errc code) {
  auto& st = self->state;
  auto commit = st.core->commit_index();
  // Entries up to the commit index will still be applied and answered,
  // with success only if the committed entry is the request's own: the
  // message that deposes a leader may also commit another leader's entry
  // at a pending index (on_applied compares terms). Later ones may or may
  // not commit under the next leader.
  for (auto i = st.applies.upper_bound(commit); i != st.applies.end();) {
    i->second.promise.deliver(make_error(code));
    i = st.applies.erase(i);
  }
  for (auto i = st.barriers.upper_bound(commit); i != st.barriers.end();) {
    i->second.promise.deliver(make_error(code));
    i = st.barriers.erase(i);
  }
}

/// How many configuration changes may wait behind the one in progress; a
/// caller beyond that is refused, so a runaway client cannot grow the queue
/// without bound.
constexpr size_t max_queued_changes = 64;

/// Proposes the queued configuration changes one at a time: the next once
/// the previous one committed (thesis §4.1). Each is answered when its own
/// entry commits (as a barrier), or at once if refused.
void propose_queued_changes(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  while (!st.queued_changes.empty() && core.role() == role::leader
         && !core.configuration_change_waits()) {
    auto q = std::move(st.queued_changes.front());
    st.queued_changes.pop_front();
    auto p = core.change_configuration(q.change);
    if (p.index == 0) {
      q.promise.deliver(make_error(errc::configuration_rejected,
                                   "configuration change rejected: "
                                     + p.refusal));
      continue;
    }
    await_entry(self, st.barriers, p.index, q.promise);
  }
}

/// A deposed leader never proposed its queued changes: they did not happen.
void fail_queued_changes(node_ptr self) {
  auto& st = self->state;
  for (auto& q : st.queued_changes)
    q.promise.deliver(not_leader_error(*st.core));
  st.queued_changes.clear();
}

void notify_state(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() == st.last_role && core.term() == st.last_term
      && core.leader_id() == st.last_leader)
    return;
  if (core.role() != st.last_role)
    st.log->info("{}: {} -> {} in term {}", core.id(), to_string(st.last_role),
                 to_string(core.role()), core.term());
  if (st.last_role == role::leader && core.role() != role::leader) {
    fail_uncommitted(self, errc::leadership_lost);
    fail_queued_changes(self);
    if (st.snapshots)
      caf::anon_send(st.snapshots, cancel_atom_v);
  }
  if (st.metrics) {
    if (core.role() != st.last_role)
      st.metrics->state_changed(core.role());
    st.metrics->set_term(core.term());
    size_t peers = 0;
    for (auto& s : core.latest_configuration().servers)
      if (s.id != core.id() && s.suffrage == suffrage::voter)
        ++peers;
    st.metrics->set_peers(peers);
  }
  if (core.role() != role::leader)
    st.proposed_at.clear();
  if ((core.role() == role::leader) != (st.last_role == role::leader))
    for (auto& s : st.leadership_subscribers)
      caf::anon_send(s, leader_atom_v, core.role() == role::leader,
                     core.term());
  st.last_role = core.role();
  st.last_term = core.term();
  st.last_leader = core.leader_id();
  observation obs{core.id(), core.role(), core.term(), core.leader_id()};
  for (auto& o : st.observers)
    caf::anon_send(o, obs);
}

void on_persisted(node_ptr self, uint64_t seq, index_t index, term_t term,
                  term_t hard_term) {
  auto& st = self->state;
  st.in_flight_seq = 0;
  st.durable_term = std::max(st.durable_term, hard_term);
  if (index != 0)
    st.core->on_persisted(index, term);
  while (!st.held.empty() && st.held.front().first <= seq) {
    transmit(self, st.held.front().second);
    st.held.pop_front();
  }
  if (st.held_campaign && st.held_campaign->first <= seq) {
    auto c = std::move(st.held_campaign->second);
    st.held_campaign.reset();
    start_campaign(self, std::move(c));
  }
  schedule_flush(self);
}

/// Commit times of the leader's proposals and the index gauges.
void report_progress(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  auto& m = *st.metrics;
  auto commit = core.commit_index();
  if (!st.proposed_at.empty() && st.proposed_at.front().first <= commit) {
    auto now = std::chrono::steady_clock::now();
    size_t n = 0;
    std::chrono::steady_clock::time_point newest;
    while (!st.proposed_at.empty() && st.proposed_at.front().first <= commit) {
      newest = st.proposed_at.front().second;
      st.proposed_at.pop_front();
      ++n;
    }
    m.commit_time(now - newest, n);
  }
  m.set_commit_index(commit);
  m.set_last_index(core.last_index());
  if (core.lease_step_downs() != st.lease_step_downs) {
    st.lease_step_downs = core.lease_step_downs();
    m.leader_lease_timeout();
  }
  if (core.role() != role::leader && st.ever_contacted)
    m.set_last_contact(self->clock().now() - st.last_contact);
}

/// Stops every replicator: this server no longer leads in their term.
void stop_replicators(node_ptr self) {
  auto& st = self->state;
  for (auto& [id, r] : st.replicators)
    self->send_exit(r.handle, caf::exit_reason::user_shutdown);
  st.replicators.clear();
  if (st.opts.probe)
    st.opts.probe->replicator_epochs.clear();
}

/// The leader's entries from `from` on, after the entry before it, as one
/// batch shared by every replicator; at most `max_count` entries.
caf::expected<entry_batch> entries_from(const consensus& core, index_t from,
                                        size_t max_count, size_t max_bytes) {
  auto& log = core.log();
  auto prev_term = from > 0 ? log.term_at(from - 1) : std::optional<term_t>{0};
  if (from == 0 || !prev_term)
    return make_error(errc::log_not_found,
                      "entry " + std::to_string(from)
                        + " is compacted into the snapshot at "
                        + std::to_string(log.snapshot_index()));
  std::vector<log_entry> entries;
  if (from <= log.last_index())
    log.slice(from, log.last_index(), max_count, max_bytes, entries);
  return make_entry_batch(from - 1, *prev_term, std::move(entries));
}

/// A replicator's fetch of the leader's entries from `from` on: from memory
/// if they are there, else from the log store through the log writer (it
/// serves them in order with the writes, so everything durable is there).
caf::result<entry_batch> fetch_entries(node_ptr self, index_t from) {
  auto& st = self->state;
  auto& core = *st.core;
  auto& cfg = core.settings();
  uint64_t max_count = cfg.max_append_entries * cfg.max_inflight;
  auto prev_term = core.log().term_at(from - 1);
  if (from == 0 || !prev_term || core.log().resident(from)
      || from > core.last_index()) {
    auto b = entries_from(core, from, max_count, max_fetch_bytes);
    if (!b)
      return std::move(b.error());
    return std::move(*b);
  }
  // The store holds every evicted entry (they were durable): read no
  // further, the rest comes from memory on the next fetch.
  max_count = std::min<uint64_t>(max_count, core.log().resident_from() - from);
  if (st.opts.probe)
    ++st.opts.probe->store_fetches;
  auto rp = self->make_response_promise<entry_batch>();
  self
    ->request(st.writer, caf::infinite, entries_atom_v, from, *prev_term,
              max_count, uint64_t{max_fetch_bytes})
    .then([rp](entry_batch& b) mutable { rp.deliver(std::move(b)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Starts the replicator of `peer`, handing it the entries from where its
/// replication starts up to the leader's last.
void start_replicator(node_ptr self, const std::string& peer,
                      const follower_view& f) {
  auto& st = self->state;
  auto& core = *st.core;
  // Entries no longer in memory are fetched when the follower needs them.
  auto from = f.next_index;
  if (!core.log().resident(from))
    from = core.last_index() + 1;
  auto first = entries_from(core, from, SIZE_MAX, SIZE_MAX);
  auto& cfg = core.settings();
  replication_settings rs;
  rs.max_inflight = cfg.max_inflight;
  rs.max_append_entries = cfg.max_append_entries;
  // A replicator keeps what its follower has not acknowledged, within the
  // node's own bound; beyond it the follower is served from the node.
  if (cfg.max_log_memory != 0)
    rs.max_window_bytes = cfg.max_log_memory / 2;
  replicator_options ro;
  ro.node = self;
  ro.transport = st.opts.transport;
  ro.snapshots = st.snapshots;
  ro.epoch = ++st.replicator_epoch;
  ro.heartbeat_interval = cfg.heartbeat_timeout / 10;
  ro.commit_timeout = cfg.commit_timeout;
  ro.snapshot_retry = cfg.election_timeout;
  ro.seed = std::hash<std::string>{}(peer) ^ core.term();
  replication r{core.id(), core.local_address(), peer, core.term(), rs,
                *first, core.commit_index(), core.round()};
  auto handle = spawn_replicator(self->system(), std::move(ro), std::move(r));
  st.replicators[peer] = {handle, st.replicator_epoch, f.generation};
  if (st.opts.probe)
    st.opts.probe->replicator_epochs[peer] = st.replicator_epoch;
}

/// Hands every running replicator the entries appended since the last
/// hand-over (one batch they all share), the commit index, and the newest
/// read round.
void hand_over(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (st.replicators.empty()) {
    st.handed_index = core.last_index();
    st.handed_commit = core.commit_index();
  } else if (core.last_index() > st.handed_index
             || core.commit_index() > st.handed_commit) {
    auto b = entries_from(core, st.handed_index + 1, SIZE_MAX, SIZE_MAX);
    if (!b)
      throw std::logic_error("raft: the leader's entries after "
                             + std::to_string(st.handed_index)
                             + " were compacted before replication");
    st.handed_index = core.last_index();
    st.handed_commit = core.commit_index();
    for (auto& [id, r] : st.replicators)
      self->send(r.handle, replicate_atom_v, *b, st.handed_commit);
  }
  if (core.log().snapshot_index() > st.handed_compaction) {
    st.handed_compaction = core.log().snapshot_index();
    for (auto& [id, r] : st.replicators)
      self->send(r.handle, compact_atom_v, st.handed_compaction);
  }
  if (core.round() > st.handed_round) {
    st.handed_round = core.round();
    for (auto& [id, r] : st.replicators)
      self->send(r.handle, round_atom_v, st.handed_round);
  }
}

/// Runs one replicator per follower of the leader's latest configuration
/// and hands them what is new: entries, the commit index, a read round.
/// Like every message of a term, they start only once the term is durable
/// (persist before send; seeds 6578, 54194, 19356, 75294).
void sync_replicators(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() != role::leader || st.replicating_term != core.term())
    stop_replicators(self);
  if (core.role() != role::leader
      || (st.durable_term < core.term()
          && !mutant(mutation::lead_before_term_durable)))
    return;
  if (st.replicating_term != core.term()) {
    st.replicating_term = core.term();
    st.handed_index = core.last_index();
    st.handed_commit = core.commit_index();
    st.handed_round = core.round();
    st.handed_compaction = core.log().snapshot_index();
  }
  hand_over(self);
  auto& followers = core.followers();
  for (auto i = st.replicators.begin(); i != st.replicators.end();) {
    auto f = followers.find(i->first);
    if (f == followers.end() || f->second.generation != i->second.generation) {
      self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
      if (st.opts.probe)
        st.opts.probe->replicator_epochs.erase(i->first);
      i = st.replicators.erase(i);
    } else {
      ++i;
    }
  }
  for (auto& [peer, f] : followers)
    if (st.replicators.count(peer) == 0)
      start_replicator(self, peer, f);
}

void flush(node_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  auto& core = *st.core;
  auto rd = core.take_ready(st.in_flight_seq == 0);
  if (!rd.persist.empty()) {
    auto seq = ++st.write_seq;
    st.in_flight_seq = seq;
    index_t idx = 0;
    term_t term = 0;
    term_t hard_term = rd.persist.hard_state ? rd.persist.term : 0;
    if (!rd.persist.entries.empty()) {
      idx = rd.persist.entries.back().index;
      term = rd.persist.entries.back().term;
    }
    self
      ->request(st.writer, caf::infinite, persist_atom_v, seq,
                std::move(rd.persist))
      .then(
        [self, idx, term, hard_term](uint64_t done) {
          on_persisted(self, done, idx, term, hard_term);
        },
        [self](caf::error& err) { on_child_error(self, err); });
  }
  // Votes and acknowledgements wait for the write that holds their state.
  uint64_t needed = core.has_pending_state() ? st.write_seq + 1
                                             : st.in_flight_seq;
  // The leader's AppendEntries go out while its own write is in flight,
  // but never in a term the store does not hold yet: a single voter elects
  // itself at once, and if it crashed before its vote was stored, it could
  // vote for another in the same term, which would then send different
  // entries under the same (index, term) (seeds 6578, 54194).
  bool term_durable = st.durable_term >= core.term()
                      || mutant(mutation::lead_before_term_durable);
  for (auto& m : rd.send_now) {
    if (term_durable || needed == 0)
      transmit(self, m);
    else
      st.held.emplace_back(needed, std::move(m));
  }
  for (auto& m : rd.send_after_persist) {
    if (needed == 0 || sent_before_durable(m))
      transmit(self, m);
    else
      st.held.emplace_back(needed, std::move(m));
  }
  if (rd.new_campaign)
    plan_campaign(self, needed, std::move(*rd.new_campaign));
  else if (core.role() != role::candidate && (st.election || st.held_campaign))
    end_campaign(self);
  for (auto& t : rd.timers)
    self->delayed_send(self, t.delay, timer_atom_v,
                       static_cast<uint8_t>(t.kind), t.generation);
  for (auto& r : rd.reads_ready) {
    auto i = st.reads.find(r.id);
    if (i == st.reads.end())
      continue;
    if (i->second.verify_only || st.applied >= r.index)
      i->second.promise.deliver(r.index);
    else
      st.reads_waiting_apply.emplace(r.index, std::move(i->second.promise));
    st.reads.erase(i);
  }
  for (auto id : rd.reads_failed) {
    auto i = st.reads.find(id);
    if (i == st.reads.end())
      continue;
    i->second.promise.deliver(not_leader_error(core));
    st.reads.erase(i);
  }
  for (auto moved : rd.transfers_done) {
    for (auto& rp : st.transfers) {
      if (moved)
        rp.deliver(true);
      else
        rp.deliver(make_error(errc::timeout,
                              "leadership transfer timed out: leadership did "
                              "not move within an election timeout"));
    }
    st.transfers.clear();
  }
  if (rd.leader_contact || core.role() == role::leader) {
    st.last_contact = self->clock().now();
    st.ever_contacted = true;
  }
  dispatch_committed(self);
  propose_queued_changes(self);
  sync_replicators(self);
  if (st.metrics)
    report_progress(self);
  if (rd.state_changed)
    notify_state(self);
}

// -- snapshots (§7) -------------------------------------------------------------

void finish_snapshot(node_ptr self, caf::expected<snapshot_meta> res) {
  auto& st = self->state;
  st.snapshotting = false;
  if (!res && st.snapshot_waiters.empty()
      && !is(res.error(), errc::nothing_new_to_snapshot))
    st.log->warn("{}: snapshot failed: {}", st.core->id(),
                 describe(res.error()));
  auto waiters = std::move(st.snapshot_waiters);
  st.snapshot_waiters.clear();
  for (auto& rp : waiters) {
    if (res)
      rp.deliver(*res);
    else
      rp.deliver(res.error());
  }
}

/// Captures the FSM between two batches, persists the copy while later
/// entries apply, then compacts the log (HashiCorp's takeSnapshot).
void take_snapshot(node_ptr self) {
  auto& st = self->state;
  if (st.snapshotting || st.installing)
    return; // Waiters are answered when the running one ends.
  st.snapshotting = true;
  st.snapshot_started = std::chrono::steady_clock::now();
  self->request(st.fsm, caf::infinite, snapshot_atom_v)
    .then(
      [self](captured_state& cs) {
        auto& st = self->state;
        auto& core = *st.core;
        if (cs.index == 0 || cs.index <= st.last_snapshot_index) {
          cs.state->release();
          return finish_snapshot(self,
                                 make_error(errc::nothing_new_to_snapshot));
        }
        auto term = core.log().term_at(cs.index);
        if (!term) {
          cs.state->release();
          return finish_snapshot(
            self, make_error(errc::aborted_by_restore,
                             "the log moved past the captured state (a "
                             "snapshot was installed meanwhile)"));
        }
        snapshot_meta proto;
        proto.index = cs.index;
        proto.term = *term;
        auto cfg = core.configuration_at(cs.index);
        proto.configuration = std::move(cfg.first);
        proto.configuration_index = cfg.second;
        self
          ->request(st.snapshots, caf::infinite, persist_atom_v, proto,
                    std::move(cs))
          .then(
            [self](snapshot_meta& meta) {
              auto& st = self->state;
              if (meta.index > st.last_snapshot_index) {
                st.last_snapshot_index = meta.index;
                st.last_snapshot_term = meta.term;
              }
              // The snapshot is durable: the log before it may go.
              st.core->compact(meta.index);
              if (st.opts.probe)
                ++st.opts.probe->snapshots_taken;
              if (st.metrics)
                st.metrics->take_snapshot(std::chrono::steady_clock::now()
                                          - st.snapshot_started);
              st.log->info("{}: snapshot {} taken at index {}", st.core->id(),
                           meta.id, meta.index);
              schedule_flush(self);
              finish_snapshot(self, std::move(meta));
            },
            [self](caf::error& err) { finish_snapshot(self, std::move(err)); });
      },
      [self](caf::error& err) { finish_snapshot(self, std::move(err)); });
}

/// Puts a stored snapshot into the FSM and makes it the log's base: for a
/// snapshot received from the leader (§7) and for a user restore.
void install_stored(node_ptr self, snapshot_meta meta,
                    std::function<void(caf::error)> done) {
  auto& st = self->state;
  st.installing = true;
  auto t0 = std::chrono::steady_clock::now();
  self->request(st.snapshots, caf::infinite, open_atom_v, meta.id)
    .then(
      [self, meta, done, t0](opened_snapshot& snap) {
        auto& st = self->state;
        self
          ->request(st.fsm, caf::infinite, restore_atom_v, meta.index,
                    std::move(snap))
          .then(
            [self, meta, done, t0](index_t) {
              auto& st = self->state;
              st.installing = false;
              if (st.metrics)
                st.metrics->install_snapshot(std::chrono::steady_clock::now()
                                             - t0);
              // Nothing after the old commit index was dispatched while
              // installing, so the FSM now stands exactly at meta.index.
              st.core->install_snapshot(meta.index, meta.term,
                                        meta.configuration,
                                        meta.configuration_index);
              st.dispatched = meta.index;
              st.applied = meta.index;
              if (st.opts.probe) {
                st.opts.probe->applied = st.applied;
                ++st.opts.probe->snapshots_installed;
              }
              if (meta.index > st.last_snapshot_index) {
                st.last_snapshot_index = meta.index;
                st.last_snapshot_term = meta.term;
              }
              done(caf::none);
              schedule_flush(self);
            },
            [self](caf::error& err) {
              // A shutdown stops the FSM runner mid-restore; the shutdown
              // answers for itself.
              if (self->state.core->role() == role::shutdown)
                return;
              // The FSM is half replaced: only a restart from durable state
              // can make it trustworthy again.
              self->state.log->error("{}: restoring the FSM failed: {}",
                                     self->state.core->id(), describe(err));
              self->quit(err);
            });
      },
      [self, done](caf::error& err) {
        self->state.installing = false;
        done(err);
        schedule_flush(self);
      });
}

void on_snapshot_chunk(node_ptr self, const install_snapshot_request& req) {
  auto& st = self->state;
  if (!st.core->handle(req) || !st.snapshots || st.installing) {
    // Refused, or busy restoring the previous one: the leader resends.
    schedule_flush(self);
    return;
  }
  if (req.last_index <= st.core->commit_index()
      && !mutant(mutation::snapshot_over_newer_state)) {
    // Everything the snapshot covers is here already (installed, and the
    // success answer lost, or caught up by the log meanwhile): say so,
    // or the leader would keep resending.
    st.core->ack_snapshot_chunk(req, req.size, true);
    schedule_flush(self);
    return;
  }
  schedule_flush(self);
  self->request(st.snapshots, caf::infinite, req)
    .then(
      [self, req](chunk_ack& ack) {
        auto& st = self->state;
        auto& core = *st.core;
        if (!ack.complete || st.installing
            || (ack.meta.index <= core.commit_index()
                && !mutant(mutation::snapshot_over_newer_state))) {
          // A stale snapshot needs no restore, only an answer.
          core.ack_snapshot_chunk(req, ack.next_offset,
                                  ack.complete && !st.installing);
          schedule_flush(self);
          return;
        }
        st.log->info("{}: installing snapshot {} from {} (index {})",
                     core.id(), ack.meta.id, req.leader, ack.meta.index);
        install_stored(self, ack.meta, [self, req](caf::error err) {
          auto& st = self->state;
          if (err)
            st.log->error("{}: installing snapshot from {} failed: {}",
                          st.core->id(), req.leader, describe(err));
          // Success goes out after the log reset is durable.
          st.core->ack_snapshot_chunk(req, err ? 0 : req.size, !err);
        });
      },
      [self](caf::error& err) {
        self->state.log->error("{}: snapshot chunk failed: {}",
                               self->state.core->id(), describe(err));
      });
}

stats_map make_stats(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  stats_map m;
  m["state"] = to_string(core.role());
  m["term"] = std::to_string(core.term());
  m["last_log_index"] = std::to_string(core.last_index());
  m["last_log_term"] = std::to_string(core.last_term());
  m["commit_index"] = std::to_string(core.commit_index());
  m["applied_index"] = std::to_string(st.applied);
  m["fsm_pending"] = std::to_string(st.dispatched - st.applied);
  m["last_snapshot_index"] = std::to_string(st.last_snapshot_index);
  m["last_snapshot_term"] = std::to_string(st.last_snapshot_term);
  m["first_log_index"] = std::to_string(core.log().first_index());
  m["protocol_version"] = "3";
  m["protocol_version_min"] = "3";
  m["protocol_version_max"] = "3";
  m["snapshot_version_min"] = "1";
  m["snapshot_version_max"] = "1";
  std::string servers = "[";
  for (auto& s : core.latest_configuration().servers) {
    if (servers.size() > 1)
      servers += " ";
    servers += "{Suffrage:";
    servers += to_string(s.suffrage);
    servers += " ID:" + s.id + " Address:" + s.address + "}";
  }
  m["latest_configuration"] = servers + "]";
  m["latest_configuration_index"]
    = std::to_string(core.latest_configuration_index());
  size_t peers = 0;
  for (auto& s : core.latest_configuration().servers)
    if (s.id != core.id() && s.suffrage == suffrage::voter)
      ++peers;
  m["num_peers"] = std::to_string(peers);
  if (core.role() == role::leader) {
    m["last_contact"] = "0";
  } else if (!st.ever_contacted) {
    m["last_contact"] = "never";
  } else {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
      self->clock().now() - st.last_contact);
    m["last_contact"] = std::to_string(d.count()) + "ms";
  }
  return m;
}

/// Builds the in-memory log from the stored entries and the snapshot the
/// FSM was restored to (index 0: none). Fails if they leave a gap.
caf::expected<raft_log> build_log(loaded_state& ls, const snapshot_meta& snap,
                                  bool& discard_stored) {
  discard_stored = false;
  auto& es = ls.entries;
  if (es.empty())
    return raft_log{snap.index, snap.term};
  auto first = es.front().index;
  if (first > snap.index + 1)
    return make_error(errc::corrupt,
                      "the log starts at index " + std::to_string(first)
                        + " but "
                        + (snap.index == 0
                             ? std::string{"there is no snapshot"}
                             : "the newest usable snapshot (" + snap.id
                                 + ") ends at index "
                                 + std::to_string(snap.index))
                        + ": entries in between are lost");
  if (snap.index == 0 || first == snap.index + 1) {
    // The log's base is the snapshot's last entry, term included: the
    // consistency check of the next AppendEntries (§5.3) and the vote's
    // up-to-date check (§5.4.1) of an empty log both read it.
    raft_log log{first - 1, snap.term};
    for (auto& e : es)
      log.append(std::move(e));
    return log;
  }
  // Trailing entries before the snapshot are kept, so slightly lagging
  // followers catch up from the log. §7: they stay only if the log holds
  // the snapshot's last entry with its term; otherwise the snapshot
  // replaces the whole log.
  auto at = snap.index - first;
  if (at >= es.size() || es[at].term != snap.term) {
    discard_stored = true;
    return raft_log{snap.index, snap.term};
  }
  raft_log log{first, es.front().term};
  for (size_t i = 1; i < es.size(); ++i)
    log.append(std::move(es[i]));
  return log;
}

void start_core(node_ptr self, loaded_state ls,
                const std::string& local_address, const snapshot_meta& snap,
                index_t fsm_applied) {
  auto& st = self->state;
  if (st.started)
    return;
  bool discard = false;
  auto log = build_log(ls, snap, discard);
  if (!log) {
    st.log->error("{}: cannot start: {}", st.opts.settings.local_id,
                  describe(log.error()));
    self->quit(log.error());
    return;
  }
  hard_state hs{ls.term, ls.voted_for, std::max(ls.commit_index, snap.index)};
  st.durable_term = ls.term;
  st.core = std::make_unique<consensus>(st.opts.settings, std::move(hs),
                                        std::move(*log), snap.configuration,
                                        snap.configuration_index);
  if (discard)
    st.core->discard_stored_log();
  st.core->set_local_address(local_address);
  st.started = true;
  st.last_term = st.core->term();
  st.last_role = role::follower;
  // The FSM holds the snapshot; the log up to the stored commit index is
  // applied again from there (§7; HashiCorp's restore on start). A state
  // machine that outlived the previous node already holds more.
  st.dispatched = std::max(snap.index, fsm_applied);
  st.applied = st.dispatched;
  st.last_snapshot_index = snap.index;
  st.last_snapshot_term = snap.term;
  if (st.opts.probe) {
    st.opts.probe->core = st.core.get();
    st.opts.probe->applied = st.applied;
    auto probe = st.opts.probe;
    self->attach_functor([probe] {
      probe->core = nullptr;
      probe->stopped = true;
    });
  }
  st.core->start();
  st.log->info("{}: started at {} in term {} with snapshot {} and log [{}, {}], "
               "commit index {}",
               st.core->id(), local_address, st.core->term(),
               snap.id.empty() ? std::string{"none"} : snap.id,
               st.core->log().first_index(), st.core->last_index(),
               st.core->commit_index());
  if (st.opts.on_started)
    caf::anon_send(st.opts.on_started, loop_atom_v);
  schedule_flush(self);
}

void connect_transport(node_ptr self, loaded_state ls, snapshot_meta snap,
                       index_t fsm_applied) {
  auto& st = self->state;
  auto id = st.opts.settings.local_id;
  // Like HashiCorp's NewRaft asking the transport for its local address:
  // the node starts only once its transport answers, so a hung transport
  // shows as a start timeout in the worker.
  self
    ->request(st.opts.transport, caf::infinite, connect_atom_v, id,
              caf::actor_cast<caf::actor>(self))
    .then(
      [self, ls{std::move(ls)}, snap{std::move(snap)},
       fsm_applied](std::string& local_address) mutable {
        start_core(self, std::move(ls), local_address, snap, fsm_applied);
      },
      [self](caf::error& err) {
        self->state.log->error("raft node cannot reach its transport: {}",
                               describe(err));
        self->quit(err);
      });
}

/// Restores the newest snapshot that opens cleanly into the FSM before the
/// node takes part: a node never votes with an empty state it did not have.
void restore_on_start(node_ptr self, loaded_state ls) {
  auto& st = self->state;
  // Nothing runs on the FSM yet, so asking it directly is safe.
  auto fsm_applied = st.opts.fsm->applied_index();
  if (!st.snapshots)
    return connect_transport(self, std::move(ls), snapshot_meta{},
                             fsm_applied);
  self->request(st.snapshots, caf::infinite, open_atom_v)
    .then(
      [self, ls{std::move(ls)}, fsm_applied](opened_snapshot& snap) mutable {
        auto& st = self->state;
        if (!snap.reader)
          return connect_transport(self, std::move(ls), snapshot_meta{},
                                   fsm_applied);
        auto meta = snap.meta;
        if (st.opts.settings.no_snapshot_restore_on_start
            || fsm_applied >= meta.index) {
          // The application restores its own state (HashiCorp's
          // NoSnapshotRestoreOnStart), or the FSM already holds more than
          // the snapshot; the log still starts after it.
          snap.reader->close();
          return connect_transport(self, std::move(ls), std::move(meta),
                                   fsm_applied);
        }
        self
          ->request(st.fsm, caf::infinite, restore_atom_v, meta.index,
                    std::move(snap))
          .then(
            [self, ls{std::move(ls)}, meta](index_t) mutable {
              self->state.log->info("{}: restored snapshot {} (index {})",
                                    self->state.opts.settings.local_id,
                                    meta.id, meta.index);
              connect_transport(self, std::move(ls), std::move(meta), 0);
            },
            [self](caf::error& err) {
              self->state.log->error("raft node cannot restore its "
                                     "snapshot: {}",
                                     describe(err));
              self->quit(err);
            });
      },
      [self](caf::error& err) {
        self->state.log->error("raft node cannot open its snapshots: {}",
                               describe(err));
        self->quit(err);
      });
}

/// HashiCorp's Restore: every state machine takes the state of snapshot
/// `id` (from this node's store). The state travels as a restore entry, so
/// it commits like any other entry (§5.3): no server applies it before it
/// commits, and a leader deposed before that loses it with its other
/// uncommitted entries. Answered with the entry's index once applied here.
/// As with HashiCorp, this overrides replicated history: for disaster
/// recovery. This proposes the restore entry carrying `state` and answers
/// `rp` with its index once applied here.
void propose_restore(node_ptr self, index_promise rp, bytes state) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() != role::leader) {
    rp.deliver(not_leader_error(core));
    return;
  }
  auto max_bytes = core.settings().max_entry_size;
  if (state.size() > max_bytes) {
    rp.deliver(restore_too_large("the state", state.size(), max_bytes));
    return;
  }
  propose_and_await(self, entry_type::restore, std::move(state), 0,
                    st.barriers, rp);
}

/// HashiCorp's Restore of snapshot `id` from this node's store.
caf::result<index_t> user_restore(node_ptr self, const std::string& id) {
  auto& st = self->state;
  auto& core = *st.core;
  if (!st.snapshots)
    return make_error(errc::unsupported,
                      "snapshots are off: the node has no snapshot store");
  if (core.role() != role::leader)
    return not_leader_error(core);
  auto rp = self->make_response_promise<index_t>();
  uint64_t max_bytes = core.settings().max_entry_size;
  self->request(st.snapshots, caf::infinite, restore_atom_v, id, max_bytes)
    .then(
      [self, rp](bytes& state) mutable {
        propose_restore(self, rp, std::move(state));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

node_actor::behavior_type node_impl(node_ptr self, node_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = st.opts.logger;
  if (!st.log)
    st.log = std::make_shared<spdlog::logger>(
      "raft", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto& sys = self->system();
  st.metrics = st.opts.metrics.get();
  st.writer = spawn_log_writer(sys, st.opts.log, st.opts.stable,
                               st.opts.detach_blocking, st.opts.metrics);
  // A state machine that answers from memory applies on the scheduler:
  // two thread hand-offs less per batch (fsm/state_machine.hpp).
  st.fsm = spawn_fsm_runner(sys, st.opts.fsm,
                            st.opts.detach_blocking
                              && st.opts.fsm->apply_blocks(),
                            st.opts.metrics);
  self->link_to(st.writer);
  self->link_to(st.fsm);
  if (st.opts.snapshots) {
    snapshot_manager_options so;
    so.store = st.opts.snapshots;
    so.transport = st.opts.transport;
    so.node = caf::actor_cast<caf::actor>(self);
    so.settings = st.opts.settings;
    so.logger = st.log;
    so.detached = st.opts.detach_blocking;
    so.metrics = st.opts.metrics;
    st.snapshots = spawn_snapshot_manager(sys, std::move(so));
    self->link_to(st.snapshots);
  }
  // Until the durable state is loaded and the transport has answered, a
  // placeholder core in the shutdown role answers queries and ignores RPCs
  // (no await: an actor awaiting a response cannot even be killed, and a
  // hung transport must not make the node unkillable).
  st.core = std::make_unique<consensus>(st.opts.settings, hard_state{},
                                        raft_log{}, configuration{}, 0);
  st.core->shutdown();
  st.core->take_ready();
  self->request(st.writer, caf::infinite, load_atom_v)
    .then(
      [self](loaded_state& ls) { restore_on_start(self, std::move(ls)); },
      [self](caf::error& err) {
        self->state.log->error("raft node cannot load its state: {}",
                               describe(err));
        self->quit(err);
      });
  return {
    [=](apply_atom, bytes& data) -> caf::result<index_t, caf::message> {
      auto& st = self->state;
      auto& core = *st.core;
      if (data.size() > core.settings().max_entry_size)
        return make_error(errc::too_large,
                          "entry of " + std::to_string(data.size())
                            + " bytes exceeds the limit of "
                            + std::to_string(core.settings().max_entry_size));
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
      auto rp = self->make_response_promise<index_t, caf::message>();
      auto idx = propose_and_await(self, entry_type::command, std::move(data),
                                   now, st.applies, rp);
      if (idx != 0 && st.metrics) {
        st.metrics->apply();
        st.proposed_at.emplace_back(idx, std::chrono::steady_clock::now());
      }
      return rp;
    },
    [=](barrier_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto rp = self->make_response_promise<index_t>();
      auto idx = propose_and_await(self, entry_type::barrier, bytes{}, 0,
                                   st.barriers, rp);
      if (idx != 0 && st.metrics) {
        st.metrics->barrier();
        st.proposed_at.emplace_back(idx, std::chrono::steady_clock::now());
      }
      return rp;
    },
    [=](change_atom, const configuration_change& change)
      -> caf::result<index_t> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      if (st.queued_changes.size() >= max_queued_changes)
        return make_error(errc::configuration_rejected,
                          "configuration change rejected: "
                            + std::to_string(max_queued_changes)
                            + " changes already wait for the one in "
                              "progress; retry once they commit");
      auto rp = self->make_response_promise<index_t>();
      st.queued_changes.push_back({change, rp});
      propose_queued_changes(self);
      return rp;
    },
    [=](transfer_atom, const std::string& target) -> caf::result<bool> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto p = core.transfer_leadership(target);
      if (p.index == 0)
        return make_error(errc::leadership_transfer_in_progress,
                          "leadership transfer refused: " + p.refusal);
      auto rp = self->make_response_promise<bool>();
      st.transfers.push_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](verify_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto id = ++st.next_read_id;
      if (!st.core->request_read(id))
        return not_leader_error(*st.core);
      auto rp = self->make_response_promise<index_t>();
      st.reads.emplace(id, node_state::read_request{rp, true});
      if (st.metrics)
        st.metrics->verify_leader();
      schedule_flush(self);
      return rp;
    },
    [=](read_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto id = ++st.next_read_id;
      if (!st.core->request_read(id))
        return not_leader_error(*st.core);
      auto rp = self->make_response_promise<index_t>();
      st.reads.emplace(id, node_state::read_request{rp, false});
      if (st.metrics)
        st.metrics->verify_leader();
      schedule_flush(self);
      return rp;
    },
    [=](state_atom) { return self->state.core->role(); },
    [=](leader_atom) {
      auto& core = *self->state.core;
      return leader_info{core.leader_id(), core.leader_address()};
    },
    [=](stats_atom) { return make_stats(self); },
    [=](contact_atom) -> caf::timespan {
      auto& st = self->state;
      if (st.core->role() == role::leader)
        return caf::timespan{0};
      if (!st.ever_contacted)
        return caf::timespan{-1};
      return self->clock().now() - st.last_contact;
    },
    [=](last_index_atom) { return self->state.core->last_index(); },
    [=](applied_atom) { return self->state.applied; },
    [=](commit_atom) { return self->state.core->commit_index(); },
    [=](get_config_atom) {
      auto& core = *self->state.core;
      return caf::make_result(core.latest_configuration(),
                              core.latest_configuration_index());
    },
    [=](observe_atom, caf::actor observer) {
      // A late observer learns the state at once, not at the next change
      // (before the node started there is none: the start is a change).
      if (auto& core = self->state.core)
        caf::anon_send(observer, observation{core->id(), core->role(),
                                             core->term(), core->leader_id()});
      self->state.observers.push_back(std::move(observer));
    },
    [=](observe_atom, leader_atom, caf::actor subscriber) {
      if (auto& core = self->state.core)
        caf::anon_send(subscriber, leader_atom_v,
                       core->role() == role::leader, core->term());
      self->state.leadership_subscribers.push_back(std::move(subscriber));
    },
    [=](shutdown_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.started) {
        // Nothing runs yet: the linked writer and FSM runner end with us.
        self->quit();
        return true;
      }
      if (st.core->role() == role::shutdown)
        return true;
      st.core->shutdown();
      stop_replicators(self);
      for (auto& [idx, w] : st.applies)
        w.promise.deliver(make_error(errc::raft_shutdown));
      st.applies.clear();
      for (auto& [idx, w] : st.barriers)
        w.promise.deliver(make_error(errc::raft_shutdown));
      st.barriers.clear();
      for (auto& [id, r] : st.reads)
        r.promise.deliver(make_error(errc::raft_shutdown));
      st.reads.clear();
      for (auto& [idx, rp] : st.reads_waiting_apply)
        rp.deliver(make_error(errc::raft_shutdown));
      st.reads_waiting_apply.clear();
      for (auto& q : st.queued_changes)
        q.promise.deliver(make_error(errc::raft_shutdown));
      st.queued_changes.clear();
      notify_state(self);
      caf::anon_send(st.opts.transport, disconnect_atom_v, st.core->id());
      // HashiCorp's Shutdown waits for its goroutines: answer (and quit)
      // only once the log writer and FSM runner are gone, so the store is
      // closed when the caller hears back.
      auto rp = self->make_response_promise<bool>();
      std::vector<caf::actor*> children{&st.writer, &st.fsm};
      if (st.snapshots)
        children.push_back(&st.snapshots);
      auto pending = std::make_shared<int>(static_cast<int>(children.size()));
      auto done = std::make_shared<caf::typed_response_promise<bool>>(rp);
      self->set_down_handler([self, done, pending](caf::down_msg&) {
        if (--*pending == 0) {
          done->deliver(true);
          self->quit();
        }
      });
      for (auto* child : children) {
        self->unlink_from(*child);
        self->monitor(*child);
        self->send_exit(*child, caf::exit_reason::user_shutdown);
      }
      return rp;
    },
    [=](const vote_request& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const vote_response& x) {
      auto& st = self->state;
      st.core->handle(x); // a newer term makes us a follower (§5.1)
      if (st.election && st.core->role() == role::candidate)
        self->send(st.election, x);
      schedule_flush(self);
    },
    [=](election_atom, term_t term, bool pre_vote, uint64_t epoch, bool won) {
      auto& st = self->state;
      if (epoch != st.campaign_epoch)
        return; // an earlier campaign's
      st.election = nullptr; // it ended with its report
      st.core->on_campaign_result(term, pre_vote, won);
      schedule_flush(self);
    },
    [=](const append_request& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const append_response& x) {
      auto& st = self->state;
      auto& core = *st.core;
      core.handle(x); // a newer term makes us a follower (§5.1)
      if (core.role() != role::leader) {
        schedule_flush(self);
        return;
      }
      if (auto i = st.replicators.find(x.from); i != st.replicators.end())
        self->send(i->second.handle, x);
    },
    [=](const replication_report& r) {
      auto& st = self->state;
      auto i = st.replicators.find(r.follower);
      // Fencing: a report of an earlier term, or of a replicator stopped
      // since (the follower was removed and added again), is stale.
      if (i == st.replicators.end() || i->second.epoch != r.epoch
          || r.term != st.core->term())
        return;
      st.core->on_replicated(r.follower, r.match_index, r.acked_round);
      schedule_flush(self);
    },
    [=](entries_atom, index_t from) -> caf::result<entry_batch> {
      return fetch_entries(self, from);
    },
    [=](const timeout_now& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const install_snapshot_request& x) { on_snapshot_chunk(self, x); },
    [=](const install_snapshot_response& x) {
      auto& st = self->state;
      st.core->handle(x);
      if (st.snapshots)
        caf::anon_send(st.snapshots, x);
      schedule_flush(self);
    },
    [=](snapshot_atom) -> caf::result<snapshot_meta> {
      auto& st = self->state;
      if (!st.snapshots)
        return make_error(errc::unsupported,
                          "snapshots are off: the node has no snapshot store");
      if (!st.started || st.core->role() == role::shutdown)
        return make_error(errc::raft_shutdown);
      auto rp = self->make_response_promise<snapshot_meta>();
      st.snapshot_waiters.push_back(rp);
      take_snapshot(self);
      return rp;
    },
    [=](snapshot_atom, check_atom) {
      auto& st = self->state;
      if (st.started && st.core->role() != role::shutdown
          && st.applied
               >= st.last_snapshot_index + st.core->settings().snapshot_threshold)
        take_snapshot(self);
    },
    [=](restore_atom, bytes& state) -> caf::result<index_t> {
      auto rp = self->make_response_promise<index_t>();
      propose_restore(self, rp, std::move(state));
      return rp;
    },
    [=](restore_atom, open_atom) -> caf::result<caf::actor> {
      auto& core = *self->state.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      return caf::actor_cast<caf::actor>(spawn_restore_upload(
        self->system(), self, core.settings().max_entry_size));
    },
    [=](restore_atom, const std::string& id) -> caf::result<index_t> {
      return user_restore(self, id);
    },
    [=](timer_atom, uint8_t kind, uint64_t generation) {
      auto& st = self->state;
      auto before = st.core->role();
      st.core->on_timer(static_cast<timer_kind>(kind), generation);
      if (st.metrics && before == role::follower
          && st.core->role() == role::candidate)
        st.metrics->heartbeat_timeout();
      schedule_flush(self);
    },
    [=](flush_atom) { flush(self); },
  };
}

} // namespace

node_actor spawn_node(caf::actor_system& sys, node_options opts) {
  return sys.spawn(node_impl, std::move(opts));
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::caf_raft>();
  register_error_category(cfg);
}

} // namespace raft
