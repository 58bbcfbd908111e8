#include "caf-raft/actors/commit_trace.hpp"
#include "caf-raft/actors/node_state.hpp"

namespace raft::node_detail {

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
  st.election = spawn_election(self->system(),
                               caf::actor_cast<node_internal_actor>(self),
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
  ro.metrics = st.opts.metrics;
  replication r{core.id(), core.local_address(), peer, core.term(), rs,
                *first, core.commit_index(), core.round()};
  auto handle = spawn_replicator(self->system(), std::move(ro), std::move(r));
  st.replicators[peer] = {handle, st.replicator_epoch, f.generation,
                          self->clock().now()};
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

void on_vote_response(node_ptr self, const vote_response& x) {
  auto& st = self->state;
  st.core->handle(x); // a newer term makes us a follower (§5.1)
  note_removal(self); // the answer may say we were removed
  if (st.election && st.core->role() == role::candidate)
    self->send(st.election, x);
  schedule_flush(self);
}

void on_campaign_report(node_ptr self, term_t term, bool pre_vote,
                        uint64_t epoch, bool won) {
  auto& st = self->state;
  if (epoch != st.campaign_epoch)
    return; // an earlier campaign's
  st.election = nullptr; // it ended with its report
  st.core->on_campaign_result(term, pre_vote, won);
  schedule_flush(self);
}

void on_append_response(node_ptr self, const append_response& x) {
  auto& st = self->state;
  auto& core = *st.core;
  core.handle(x); // a newer term makes us a follower (§5.1)
  if (core.role() != role::leader) {
    schedule_flush(self);
    return;
  }
  if (auto i = st.replicators.find(x.from); i != st.replicators.end())
    self->send(i->second.handle, x);
}

void on_replication_report(node_ptr self, const replication_report& r) {
  auto& st = self->state;
  auto i = st.replicators.find(r.follower);
  // Fencing: a report of an earlier term, or of a replicator stopped since
  // (the follower was removed and added again), is stale.
  if (i == st.replicators.end() || i->second.epoch != r.epoch
      || r.term != st.core->term())
    return;
  commit_trace::note(commit_trace::stage::acknowledged, r.match_index,
                     r.match_index);
  st.core->on_replicated(r.follower, r.match_index, r.acked_round);
  i->second.heard_at = self->clock().now();
  schedule_flush(self);
}

} // namespace raft::node_detail
