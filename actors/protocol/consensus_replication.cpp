#include "caf-raft/actors/protocol/consensus.hpp"

#include <algorithm>
#include <stdexcept>

#include "caf-raft/actors/mutation.hpp"
#include "caf-raft/actors/protocol/rules.hpp"

// Log replication (§5.3): the follower's consistency check and append, the
// leader's proposals and its commit rule (§5.4.2), and reads confirmed by a
// round of heartbeats (thesis §6.4). consensus.hpp documents the class.

namespace raft {

bool consensus::well_formed(const append_request& req) const {
  // Nothing from the network is trusted: entries must follow prev without
  // gaps and in order, with terms no newer than the request's.
  for (size_t k = 0; k < req.entries.size(); ++k) {
    auto& e = req.entries[k];
    if (e.index != req.prev_log_index + 1 + k || e.term > req.term
        || e.data.size() > cfg_.max_entry_size)
      return false;
  }
  return true;
}

std::optional<index_t>
consensus::mismatch_hint(const append_request& req) const {
  // Entries at or before our snapshot are committed, hence they match.
  if (req.prev_log_index <= log_.snapshot_index())
    return std::nullopt;
  auto t = log_.term_at(req.prev_log_index);
  if (!t)
    return log_.last_index();
  if (*t == req.prev_log_term)
    return std::nullopt;
  // Skip back over the whole conflicting term at once; everything up to the
  // commit index matches for sure.
  auto h = req.prev_log_index - 1;
  while (h > log_.snapshot_index() && h > commit_index_
         && log_.term_at(h) == t)
    --h;
  return h;
}

void consensus::append_new_entries(const append_request& req) {
  if (mutant(mutation::truncate_committed) && !req.entries.empty()
      && req.prev_log_index + req.entries.size() < log_.last_index()
      && req.prev_log_index + 1 > log_.snapshot_index())
    truncate_from(req.prev_log_index + req.entries.size() + 1);
  for (auto& e : req.entries) {
    if (e.index <= log_.snapshot_index())
      continue;
    if (e.index <= log_.last_index()) {
      if (log_.term_at(e.index) == e.term)
        continue; // Already have it (a duplicate or re-sent request).
      // §5.3: a conflicting entry and all that follow it are deleted. A
      // committed entry never conflicts (Leader Completeness, §5.4); if one
      // does, continuing would lose acknowledged data.
      if (e.index <= commit_index_)
        throw std::logic_error("raft safety violation: leader " + req.leader
                               + " asks to overwrite committed entry "
                               + std::to_string(e.index));
      truncate_from(e.index);
    }
    track_configuration(e);
    log_.append(e);
  }
}

void consensus::follow_commit(const append_request& req) {
  // §5.3: commit up to the leader's commit index, but only as far as this
  // request proves our log matches the leader's. A heartbeat proves
  // nothing itself; its leader sends at most the match it learned from our
  // acknowledgements in its term (as etcd-raft does), entries we stored
  // before acknowledging them. Without it a lost commit notice leaves us
  // one entry behind until the next write.
  auto proven = req.prev_log_index + req.entries.size();
  if (req.prev_log_index == 0 && req.entries.empty())
    proven = std::min(req.leader_commit, log_.last_index());
  auto new_commit = std::min(req.leader_commit, proven);
  if (new_commit > commit_index_)
    commit_index_ = new_commit;
}

void consensus::handle(const append_request& req) {
  if (role_ == role::shutdown)
    return;
  if (!well_formed(req)) {
    ++bad_messages_;
    return;
  }
  append_response resp{term_, cfg_.local_id, false, req.prev_log_index, 0,
                       req.round};
  auto reply = [&] {
    resp.term = term_;
    send(req.leader, resp);
  };
  // §5.1: a stale leader learns the newer term from our answer.
  if (req.term < term_) {
    resp.hint = log_.last_index();
    return reply();
  }
  if (req.term > term_ || role_ != role::follower || leader_id_ != req.leader)
    become_follower(req.term, req.leader);
  leader_address_ = req.leader_address;
  heard_leader_ = true;
  removed_ = false; // a leader replicates to us: we are a member again
  out_.leader_contact = true;
  // §5.3 consistency check: our log must hold prev with the same term.
  if (auto hint = mismatch_hint(req)) {
    resp.hint = *hint;
    return reply();
  }
  append_new_entries(req);
  follow_commit(req);
  resp.success = true;
  resp.index = req.prev_log_index + req.entries.size();
  reply();
}

void consensus::handle(const append_response& resp) {
  if (role_ != role::shutdown && resp.term > term_)
    become_follower(resp.term, std::string{});
}

void consensus::on_replicated(const std::string& peer, index_t match,
                              uint64_t acked_round) {
  if (role_ != role::leader)
    return;
  auto i = followers_.find(peer);
  if (i == followers_.end())
    return;
  auto& f = i->second;
  f.contacted = true;
  f.silent = false;
  f.acked_round = std::max(f.acked_round, acked_round);
  // A follower cannot hold more of this leader's log than there is.
  match = std::min(match, log_.last_index());
  if (match > f.match_index) {
    f.match_index = match;
    maybe_commit();
    maybe_promote();
    maybe_send_timeout_now();
  }
  check_reads();
}

index_t consensus::propose(entry_type type, bytes data, int64_t appended_at_ms) {
  // Thesis §3.10: during a transfer the leader stops taking new entries, so
  // the target can catch up.
  if (role_ != role::leader || transferring())
    return 0;
  log_entry e;
  e.index = log_.last_index() + 1;
  e.term = term_;
  e.type = type;
  e.data = std::move(data);
  e.appended_at_ms = appended_at_ms;
  track_configuration(e);
  log_.append(std::move(e));
  return log_.last_index();
}

void consensus::on_persisted(index_t index, term_t term) {
  // An acknowledgement for entries that a truncation replaced since says
  // nothing about the current log.
  if (index > durable_index_ && log_.term_at(index) == term)
    durable_index_ = std::min(index, log_.last_index());
  if (role_ == role::leader)
    maybe_commit();
}

void consensus::add_follower(const std::string& id) {
  follower_view f;
  f.next_index = log_.last_index() + 1;
  f.generation = ++follower_generation_;
  followers_.emplace(id, f);
}

uint64_t consensus::quorum_value(
  uint64_t self_value, uint64_t (*of)(const follower_view&)) const {
  // One value per voter (the leader's own given, unknown peers 0); the one
  // a majority reaches.
  std::vector<uint64_t> values;
  for (auto& v : voters()) {
    if (v == cfg_.local_id) {
      values.push_back(self_value);
    } else {
      auto i = followers_.find(v);
      values.push_back(i != followers_.end() ? of(i->second) : 0);
    }
  }
  return rules::quorum_index(values);
}

void consensus::maybe_commit() {
  if (role_ != role::leader)
    return;
  // The leader counts itself only once its own write is durable.
  auto q = quorum_value(durable_index_,
                        [](const follower_view& f) { return f.match_index; });
  auto t = log_.term_at(q);
  if (!t)
    return;
  commit_index_ = mutant(mutation::commit_old_term_by_counting)
                    ? std::max(commit_index_, q)
                    : rules::advance_commit(commit_index_, q, *t, term_);
  // §6: a leader removed or demoted by a configuration steps down once that
  // configuration is committed (it managed the cluster until then).
  if (latest_configuration_index() <= commit_index_
      && !is_voter(cfg_.local_id))
    become_follower(term_, std::string{});
}

void consensus::truncate_from(index_t index) {
  log_.truncate_from(index);
  drop_configurations_from(index);
  if (index < unstable_from_) {
    // Entries already handed to the log writer must be deleted durably.
    pending_truncate_ = pending_truncate_ == 0
                          ? index
                          : std::min(pending_truncate_, index);
    unstable_from_ = index;
  }
  if (durable_index_ >= index)
    durable_index_ = index - 1;
}

bool consensus::request_read(uint64_t id) {
  if (role_ != role::leader)
    return false;
  reads_.push_back(pending_read{
    id, mutant(mutation::read_on_expired_lease) ? round_ : round_ + 1});
  need_broadcast_ = true;
  return true;
}

void consensus::check_reads() {
  if (role_ != role::leader || reads_.empty()
      || (!committed_in_term()
          && !mutant(mutation::read_before_commit_in_term)))
    return;
  // Thesis §6.4: a read is safe once a quorum acknowledged a heartbeat round
  // that started after the read arrived.
  auto confirmed = mutant(mutation::read_without_quorum)
                     ? UINT64_MAX
                     : quorum_value(UINT64_MAX, [](const follower_view& f) {
                         return f.acked_round;
                       });
  while (!reads_.empty() && reads_.front().round <= confirmed) {
    out_.reads_ready.push_back(read_result{reads_.front().id, commit_index_});
    reads_.pop_front();
  }
}

void consensus::fail_reads() {
  for (auto& r : reads_)
    out_.reads_failed.push_back(r.id);
  reads_.clear();
  need_broadcast_ = false;
}

} // namespace raft
