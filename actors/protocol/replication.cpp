#include "caf-raft/actors/protocol/replication.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "caf-raft/actors/mutation.hpp"

namespace raft {

replication::replication(std::string leader, std::string leader_address,
                         std::string follower, term_t term,
                         replication_settings cfg, const entry_batch& first,
                         index_t commit, uint64_t round)
  : leader_(std::move(leader)),
    leader_address_(std::move(leader_address)),
    follower_(std::move(follower)),
    term_(term),
    cfg_(cfg),
    pr_(first.prev_index + 1),
    commit_(commit),
    round_(round) {
  // §5.3: the leader assumes the follower's log matches its own up to its
  // last entry; the first probe finds out.
  window_.reset(first.prev_index, first.prev_term);
  window_.append(first);
}

void replication::start() {
  send_append(true);
}

void replication::on_entries(const entry_batch& b, index_t commit) {
  if (b.entries && !b.entries->empty() && !window_.append(b))
    throw std::logic_error("raft: the leader handed " + follower_
                           + "'s replicator entries after "
                           + std::to_string(b.prev_index)
                           + " that do not follow its last, "
                           + std::to_string(window_.last_index()));
  window_.shrink_to(cfg_.max_window_bytes);
  commit_ = std::max(commit_, commit);
  send_append(false);
  maybe_arm_commit_timer();
}

void replication::on_response(const append_response& resp) {
  // §5.1: an answer of another term is about another leader's log.
  if (resp.term != term_ && !mutant(mutation::stale_append_response))
    return;
  out_.report = true;
  pr_.acked_round = std::max(pr_.acked_round, resp.round);
  if (resp.success) {
    // A heartbeat's answer names index 0: it only confirms leadership.
    if (resp.index == 0)
      return;
    pr_.on_success(resp.index);
    // What the follower holds it never needs again in this term: progress
    // probes only after the match index.
    window_.drop_through(pr_.match_index);
    fetched_.drop_through(pr_.match_index);
    send_append(false);
    maybe_arm_commit_timer();
  } else {
    auto before = pr_.next_index;
    if (!pr_.on_rejection(resp.index, resp.hint))
      return; // a late answer to an older request
    if (pr_.next_index < before) {
      send_append(true);
    } else {
      // It refused entries it had acknowledged (its disk lost them): the
      // probe cannot walk back past the match, so answering at once would
      // loop at network speed. Probe again at the next heartbeat.
      pr_.probe_sent = true;
    }
  }
}

void replication::on_tick() {
  if (pr_.on_tick())
    send_append(true);
  else
    send_heartbeat();
}

void replication::on_round(uint64_t round) {
  round_ = std::max(round_, round);
  send_heartbeat();
}

void replication::on_commit_timer() {
  commit_timer_armed_ = false;
  if (pr_.replicating && pr_.sent_commit < commit_)
    send_append(true);
}

void replication::on_fetched(const entry_batch& b) {
  fetching_ = false;
  fetched_.reset(b.prev_index, b.prev_term);
  fetched_.append(b);
  send_append(false);
}

void replication::on_log_compacted(index_t index) {
  window_.drop_through(index);
  fetched_.drop_through(index);
}

void replication::on_fetch_failed() {
  // §7: the entries this follower needs next were compacted into a
  // snapshot; it gets the snapshot instead.
  fetching_ = false;
  snapshotting_ = true;
  out_.send_snapshot = true;
}

void replication::on_snapshot_sent(index_t index) {
  snapshotting_ = false;
  if (index > 0) {
    pr_.on_snapshot(index);
    out_.report = true;
  }
  send_append(true);
}

replication_effects replication::take() {
  return std::exchange(out_, replication_effects{});
}

// -- sending ------------------------------------------------------------------

void replication::send_append(bool force) {
  if (snapshotting_ || fetching_)
    return;
  auto last = window_.last_index();
  if (pr_.replicating) {
    bool sent = false;
    while (pr_.window_open(cfg_.max_inflight) && pr_.next_index <= last) {
      std::vector<log_entry> batch;
      if (!slice(pr_.next_index, batch))
        return;
      auto batch_last = batch.back().index;
      if (!emit(pr_.next_index - 1, std::move(batch)))
        return;
      pr_.on_sent(batch_last);
      sent = true;
    }
    if (!sent && force)
      emit(pr_.next_index - 1, {});
    return;
  }
  if (!pr_.may_probe(force))
    return;
  std::vector<log_entry> batch;
  if (pr_.next_index <= last && !slice(pr_.next_index, batch))
    return;
  if (emit(pr_.next_index - 1, std::move(batch)))
    pr_.probe_sent = true;
}

void replication::send_heartbeat() {
  // HashiCorp's shape: no entries and prev 0, so it passes any follower's
  // consistency check; it only asserts leadership. What this follower
  // acknowledged in our term matches our log, so it may commit that far.
  auto hb = request();
  hb.leader_commit = std::min(commit_, pr_.match_index);
  out_.sends.push_back(std::move(hb));
}

bool replication::emit(index_t prev, std::vector<log_entry> entries) {
  auto prev_term = term_at(prev);
  if (!prev_term)
    return need_entries(prev + 1);
  auto req = request();
  req.prev_log_index = prev;
  req.prev_log_term = *prev_term;
  req.entries = std::move(entries);
  pr_.sent_commit = commit_;
  out_.sends.push_back(std::move(req));
  return true;
}

append_request replication::request() const {
  append_request req;
  req.term = term_;
  req.leader = leader_;
  req.leader_address = leader_address_;
  req.leader_commit = commit_;
  req.round = round_;
  return req;
}

std::optional<term_t> replication::term_at(index_t index) const {
  if (auto t = window_.term_at(index))
    return t;
  return fetched_.term_at(index);
}

bool replication::slice(index_t first, std::vector<log_entry>& out) {
  auto& from = window_.holds(first) ? window_ : fetched_;
  if (!from.holds(first))
    return need_entries(first);
  from.slice(first, cfg_.max_append_entries, cfg_.max_append_bytes, out);
  return true;
}

bool replication::need_entries(index_t index) {
  // The follower lags behind what this replicator holds: the node's log
  // (or its snapshot) has the rest.
  if (!fetching_ && !snapshotting_) {
    fetching_ = true;
    out_.fetch_from = index;
  }
  return false;
}

void replication::maybe_arm_commit_timer() {
  // Followers learn the commit index from the next request they get. One
  // that gets none within commit_timeout is sent an empty one, so its state
  // machine keeps up; sending it at once would double the messages of every
  // commit at low load, where the next entry follows within a round trip.
  if (!commit_timer_armed_ && pr_.replicating && pr_.sent_commit < commit_) {
    commit_timer_armed_ = true;
    out_.arm_commit_timer = true;
  }
}

} // namespace raft
