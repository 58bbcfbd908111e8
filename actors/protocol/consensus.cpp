#include "caf-raft/actors/protocol/consensus.hpp"

#include <algorithm>
#include <functional>
#include <ostream>
#include <stdexcept>

#include "caf-raft/actors/mutation.hpp"
#include "caf-raft/actors/protocol/rules.hpp"

namespace raft {


const char* to_string(role x) {
  switch (x) {
    case role::follower:
      return "Follower";
    case role::candidate:
      return "Candidate";
    case role::leader:
      return "Leader";
    case role::shutdown:
      return "Shutdown";
  }
  return "Unknown";
}

std::ostream& operator<<(std::ostream& os, role x) {
  return os << to_string(x);
}

consensus::consensus(raft_config cfg, hard_state hs, raft_log log,
                     configuration snapshot_config,
                     index_t snapshot_config_index)
  : cfg_(std::move(cfg)),
    term_(hs.term),
    voted_for_(std::move(hs.voted_for)),
    log_(std::move(log)),
    durable_index_(log_.last_index()),
    unstable_from_(log_.last_index() + 1),
    store_compacted_(log_.snapshot_index()) {
  auto seed = cfg_.random_seed != 0 ? cfg_.random_seed
                                    : std::hash<std::string>{}(cfg_.local_id);
  rng_.seed(seed);
  configs_.emplace_back(snapshot_config_index, std::move(snapshot_config));
  // §6: the latest configuration in the log is in force, committed or not.
  // Entries the snapshot already covers (trailing logs) are not newer.
  for (auto i = log_.first_index(); i <= log_.last_index(); ++i)
    if (i > configs_.front().first)
      track_configuration(log_.at(i));
  // Everything up to the log's base is committed by definition, and so is
  // what the store recorded as committed.
  commit_index_ = std::max(log_.snapshot_index(),
                           std::min(hs.commit, log_.last_index()));
}

// -- inputs -------------------------------------------------------------------

void consensus::start() {
  role_ = role::follower;
  arm(timer_kind::election, cfg_.heartbeat_timeout, true);
}

void consensus::step(const raft::rpc& msg) {
  std::visit([this](const auto& x) { handle(x); }, msg);
}

void consensus::handle(const vote_request& req) {
  if (role_ == role::shutdown)
    return;
  vote_response resp{term_, cfg_.local_id, false, req.pre_vote};
  auto reply = [&] {
    resp.term = term_;
    send(req.candidate, resp);
  };
  tell_if_removed(req, resp);
  // §5.1: a request from an older term is rejected, and our term tells the
  // candidate it is out of date.
  if (req.term < term_)
    return reply();
  // Leader stickiness (thesis §4.2.3): while we hear a leader, a server that
  // was partitioned away cannot depose it, unless the leader itself asked
  // for the election (TimeoutNow).
  if (!req.leadership_transfer && !leader_id_.empty()
      && leader_id_ != req.candidate)
    return reply();
  // Only voters may become leader: a server that a committed configuration
  // removed or demoted gets no votes however long it campaigns. One that
  // only an uncommitted configuration drops still counts (§6, and see the
  // election timer): refusing it could leave no server able to win. Nor is
  // a candidate whose log is ahead of ours refused: it may hold the
  // configuration that made it a voter, which we have not received (thesis
  // §4.1: votes do not consult the configuration; this check only keeps
  // removed servers, whose logs end before their removal, from disrupting).
  // A server that is no voter itself (a fresh disk under an old id) lends
  // its vote to no such candidate: a stale server might count it under a
  // configuration that held the server's previous incarnation.
  auto up_to_date = mutant(mutation::vote_without_log_check)
                    || rules::candidate_up_to_date(req.last_log_index,
                                                   req.last_log_term,
                                                   log_.last_index(),
                                                   log_.last_term());
  bool log_ahead = up_to_date && is_voter(cfg_.local_id)
                   && (req.last_log_term != log_.last_term()
                       || req.last_log_index != log_.last_index());
  if (!is_voter(req.candidate)
      && !committed_configuration().is_voter(req.candidate) && !log_ahead)
    return reply();
  if (req.pre_vote) {
    // Thesis §9.6: answer "would vote" without changing any state.
    resp.granted = req.term > term_ && up_to_date;
    return reply();
  }
  if (req.term > term_)
    become_follower(req.term, std::string{});
  // §5.2: at most one vote per term, first come first served; §5.4.1: only
  // for a candidate whose log is at least as up-to-date as ours.
  if ((voted_for_.empty() || voted_for_ == req.candidate
       || mutant(mutation::two_votes_in_one_term))
      && up_to_date) {
    if (voted_for_ != req.candidate) {
      voted_for_ = req.candidate;
      hard_state_dirty_ = true;
    }
    resp.granted = true;
    // A server that just voted gives the candidate time to win before it
    // campaigns itself (as etcd-raft resets its election timer).
    arm(timer_kind::election, cfg_.heartbeat_timeout, true);
  }
  reply();
}

void consensus::handle(const vote_response& resp) {
  if (role_ == role::shutdown)
    return;
  if (!removed_ && learn_removal(resp)) {
    // Removed by a configuration we never received: campaigning could only
    // disturb the servers that remain. Wait, still voting, for a leader.
    removed_ = true;
    if (role_ == role::candidate)
      become_follower(term_, std::string{});
  }
  // A higher term in a granted pre-vote cannot happen (the voter's term is
  // below the one we asked about); otherwise we are out of date.
  if (resp.term > term_ && !(resp.pre_vote && resp.granted))
    become_follower(resp.term, std::string{});
}

void consensus::on_campaign_result(term_t term, bool pre_vote, bool won) {
  if (role_ != role::candidate || pre_vote != pre_vote_phase_)
    return;
  // A pre-vote asks about the next term without entering it.
  if (term != (pre_vote ? term_ + 1 : term_))
    return;
  if (!won) {
    // Lost: wait for a leader or the next timeout as a follower.
    become_follower(term_, std::string{});
  } else if (pre_vote) {
    become_candidate(transfer_campaign_);
  } else {
    become_leader();
  }
}

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

void consensus::handle(const timeout_now& req) {
  if (role_ == role::shutdown || req.term < term_)
    return;
  // Only a leader of our configuration may start a transfer; anyone else
  // (a removed server, say) would only disrupt the cluster.
  if (!is_voter(req.leader))
    return;
  if (req.term > term_)
    become_follower(req.term, req.leader);
  removed_ = false; // a leader of our configuration speaks to us
  out_.leader_contact = true;
  // Thesis §3.10: the leader asked us to campaign now, skipping pre-vote and
  // overriding other servers' leader stickiness.
  if (is_voter(cfg_.local_id))
    become_candidate(true);
}

bool consensus::handle(const install_snapshot_request& req) {
  if (role_ == role::shutdown)
    return false;
  if (req.term < term_) {
    // §5.1: tell a stale leader about the newer term.
    send(req.leader, install_snapshot_response{term_, cfg_.local_id,
                                               req.snapshot_id, 0, false});
    return false;
  }
  if (req.term > term_ || role_ != role::follower || leader_id_ != req.leader)
    become_follower(req.term, req.leader);
  // Chunks are the leader's heartbeats while a snapshot is on its way.
  heard_leader_ = true;
  removed_ = false;
  out_.leader_contact = true;
  return true;
}

void consensus::handle(const install_snapshot_response& resp) {
  if (role_ == role::shutdown)
    return;
  if (resp.term > term_)
    become_follower(resp.term, std::string{});
  else if (role_ == role::leader && resp.term == term_)
    if (auto i = followers_.find(resp.from); i != followers_.end()) {
      i->second.contacted = true;
      i->second.silent = false;
    }
}

void consensus::ack_snapshot_chunk(const install_snapshot_request& req,
                                   uint64_t next_offset, bool success) {
  send(req.leader, install_snapshot_response{term_, cfg_.local_id,
                                             req.snapshot_id, next_offset,
                                             success});
}

bool consensus::install_snapshot(index_t index, term_t term,
                                 const configuration& cfg, index_t cfg_index) {
  if (index <= commit_index_ && !mutant(mutation::snapshot_over_newer_state))
    return false;
  if (log_.term_at(index) == term) {
    // §7: the log already holds the snapshot's last entry; what follows it
    // may be newer than the snapshot and stays.
    if (unstable_from_ <= index)
      unstable_from_ = index + 1;
    log_.compact(index);
  } else {
    // §7: otherwise the snapshot replaces the whole log.
    log_.reset(index, term);
    pending_truncate_ = pending_truncate_ == 0
                          ? index + 1
                          : std::min(pending_truncate_, index + 1);
    unstable_from_ = index + 1;
  }
  pending_compact_ = std::max(pending_compact_, index);
  // The snapshot's configuration is the base; later entries still count,
  // but only if they stayed: a configuration whose entry went with the
  // replaced log is no configuration at all (seed 78456: a server kept one
  // of an old term's uncommitted entries and the cluster never elected a
  // leader again).
  bool kept_log = log_.last_index() > index;
  std::vector<std::pair<index_t, configuration>> later;
  for (auto& c : configs_)
    if (c.first > index
        && (kept_log || mutant(mutation::keep_replaced_configurations)))
      later.push_back(c);
  configs_.clear();
  configs_.emplace_back(cfg_index, cfg);
  for (auto& c : later)
    configs_.push_back(std::move(c));
  commit_index_ = index;
  durable_index_ = std::max(durable_index_, index);
  if (durable_index_ > log_.last_index())
    durable_index_ = log_.last_index();
  return true;
}

index_t consensus::compact(index_t snapshot_index) {
  if (snapshot_index <= cfg_.trailing_logs)
    return 0;
  // Only entries already handed to the log writer and known committed may
  // go: the store must never miss an entry that a snapshot does not cover.
  auto through = std::min({snapshot_index - cfg_.trailing_logs, commit_index_,
                           unstable_from_ - 1});
  if (through <= log_.snapshot_index())
    return 0;
  // The configuration as of the new base becomes the base configuration.
  auto base = configuration_at(through);
  log_.compact(through);
  pending_compact_ = std::max(pending_compact_, through);
  std::vector<std::pair<index_t, configuration>> kept;
  kept.emplace_back(base.second, std::move(base.first));
  for (auto& c : configs_)
    if (c.first > through)
      kept.push_back(std::move(c));
  configs_ = std::move(kept);
  return through;
}

void consensus::discard_stored_log() {
  auto base = log_.snapshot_index();
  pending_compact_ = std::max(pending_compact_, base);
  pending_truncate_ = pending_truncate_ == 0 ? base + 1
                                             : std::min(pending_truncate_,
                                                        base + 1);
}

std::pair<configuration, index_t>
consensus::configuration_at(index_t index) const {
  for (auto i = configs_.rbegin(); i != configs_.rend(); ++i)
    if (i->first <= index)
      return {i->second, i->first};
  return {configs_.front().second, configs_.front().first};
}

void consensus::on_timer(timer_kind kind, uint64_t generation) {
  auto k = static_cast<size_t>(kind);
  if (role_ == role::shutdown || generation != timer_gen_[k])
    return; // Superseded; delayed messages cannot be cancelled.
  switch (kind) {
    case timer_kind::election:
      if (role_ == role::leader)
        return;
      if (role_ == role::follower && heard_leader_) {
        heard_leader_ = false;
        arm(timer_kind::election, cfg_.heartbeat_timeout, true);
        return;
      }
      // No leader heard for a whole timeout (§5.2), or the election failed.
      if (!leader_id_.empty()) {
        leader_id_.clear();
        out_.state_changed = true;
      }
      if (removed_
          || (!is_voter(cfg_.local_id)
              && !committed_configuration().is_voter(cfg_.local_id))) {
        // Non-voters and removed servers never campaign; they wait for a
        // leader, a non-voter asking whether it is still a member. A voter
        // that an uncommitted configuration removes still may campaign
        // (§6: it leads until that configuration commits): it may hold the
        // only log that can win, and staying silent would stall the
        // cluster.
        role_ = role::follower;
        if (!removed_)
          probe_membership();
        arm(timer_kind::election, cfg_.heartbeat_timeout, true);
        return;
      }
      if (cfg_.pre_vote_disabled)
        become_candidate(false);
      else
        become_pre_candidate();
      return;
    case timer_kind::lease: {
      if (role_ != role::leader)
        return;
      // A leader that cannot reach a quorum within the lease steps down, so
      // a partitioned leader stops serving (HashiCorp's checkLeaderLease).
      size_t contacted = is_voter(cfg_.local_id) ? 1 : 0;
      for (auto& [id, f] : followers_) {
        if (f.contacted && is_voter(id))
          ++contacted;
        f.silent = !f.contacted;
        f.contacted = false;
      }
      if (contacted < rules::quorum_size(voters().size())) {
        ++lease_step_downs_;
        become_follower(term_, std::string{});
        return;
      }
      arm(timer_kind::lease, cfg_.leader_lease_timeout, false);
      return;
    }
    case timer_kind::transfer:
      // Still the leader an election timeout later: the transfer failed
      // and the leader takes new entries again.
      if (role_ == role::leader && transferring())
        end_transfer(false);
      return;
  }
}

proposal consensus::change_configuration(const configuration_change& ch) {
  proposal p;
  if (role_ != role::leader) {
    p.refusal = "node is not the leader";
    return p;
  }
  if (transferring()) {
    p.refusal = "leadership transfer in progress";
    return p;
  }
  if (!committed_in_term()) {
    p.refusal = "the leader has not committed an entry of its term yet; "
                "retry shortly";
    return p;
  }
  // §6 / thesis §4.1: one change at a time, each committed before the next.
  if (latest_configuration_index() > commit_index_) {
    p.refusal = "a configuration change is in progress (index "
                + std::to_string(latest_configuration_index())
                + " is not committed yet)";
    return p;
  }
  if (ch.prev_index != 0 && ch.prev_index != latest_configuration_index()) {
    p.refusal = "configuration changed since " + std::to_string(ch.prev_index)
                + " (latest is " + std::to_string(latest_configuration_index())
                + ")";
    return p;
  }
  if (ch.id.empty()) {
    p.refusal = "empty server ID";
    return p;
  }
  auto next = latest_configuration();
  auto i = std::find_if(next.servers.begin(), next.servers.end(),
                        [&](const server& s) { return s.id == ch.id; });
  auto known = i != next.servers.end();
  switch (ch.kind) {
    case change_kind::add_voter:
    case change_kind::add_nonvoter:
      if (ch.address.empty()) {
        p.refusal = "empty address for server " + ch.id;
        return p;
      }
      if (known) {
        i->address = ch.address;
      } else {
        // A new voter joins as a non-voter and is promoted once caught up
        // (maybe_promote), so it never holds back the commit index.
        next.servers.push_back(server{suffrage::nonvoter, ch.id, ch.address});
      }
      if (ch.kind == change_kind::add_voter
          && (!known || i->suffrage != suffrage::voter))
        promotions_[ch.id] = ch.address;
      break;
    // Removing or demoting a server that is not a member changes nothing
    // and succeeds, as HashiCorp's does: a caller whose first answer was
    // lost retries safely. The unchanged configuration is still written,
    // so the answer means the same as any other: committed.
    case change_kind::demote_voter:
      if (known)
        i->suffrage = suffrage::nonvoter;
      promotions_.erase(ch.id);
      break;
    case change_kind::remove_server:
      if (known)
        next.servers.erase(i);
      promotions_.erase(ch.id);
      break;
  }
  if (auto why = next.problem(); !why.empty()) {
    p.refusal = why;
    return p;
  }
  p.index = propose(entry_type::configuration, encode(next), 0);
  return p;
}

proposal consensus::transfer_leadership(const std::string& target) {
  proposal p;
  if (role_ != role::leader) {
    p.refusal = "node is not the leader";
    return p;
  }
  if (transferring()) {
    p.refusal = "a leadership transfer is already in progress";
    return p;
  }
  auto chosen = target;
  if (chosen.empty()) {
    // The most up-to-date voter needs the least catching up.
    index_t best = 0;
    for (auto& [id, f] : followers_)
      if (is_voter(id) && (chosen.empty() || f.match_index > best)) {
        chosen = id;
        best = f.match_index;
      }
    if (chosen.empty()) {
      p.refusal = "there is no other voter to transfer leadership to";
      return p;
    }
  } else if (chosen == cfg_.local_id || !is_voter(chosen)
             || followers_.count(chosen) == 0) {
    p.refusal = "cannot transfer leadership to " + chosen
                + ": not another voter";
    return p;
  }
  transfer_target_ = chosen;
  arm(timer_kind::transfer, cfg_.election_timeout, false);
  maybe_send_timeout_now();
  p.index = log_.last_index();
  return p;
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

bool consensus::request_read(uint64_t id) {
  if (role_ != role::leader)
    return false;
  reads_.push_back(pending_read{
    id, mutant(mutation::read_on_expired_lease) ? round_ : round_ + 1});
  need_broadcast_ = true;
  return true;
}

void consensus::shutdown() {
  fail_reads();
  role_ = role::shutdown;
  leader_id_.clear();
  followers_.clear();
  out_.state_changed = true;
}

ready consensus::take_ready(bool may_persist) {
  if (role_ == role::leader) {
    if (need_broadcast_) {
      // One confirmation round serves every read queued since the last;
      // the replicators carry it in a heartbeat each (round()).
      ++round_;
      need_broadcast_ = false;
    }
    // A single-voter cluster commits as soon as its own write is durable.
    maybe_commit();
    check_reads();
  }
  if (may_persist) {
    auto& p = out_.persist;
    if (hard_state_dirty_) {
      p.hard_state = true;
      p.term = term_;
      p.voted_for = voted_for_;
      hard_state_dirty_ = false;
    }
    p.truncate_from = pending_truncate_;
    pending_truncate_ = 0;
    if (pending_compact_ > store_compacted_) {
      // In slices, so that acknowledgements keep flowing (compaction_slice).
      p.compact_through = std::min(pending_compact_,
                                   store_compacted_ + compaction_slice);
      store_compacted_ = p.compact_through;
    }
    p.commit_index = commit_index_;
    if (unstable_from_ <= log_.last_index())
      log_.slice(unstable_from_, log_.last_index(), SIZE_MAX, SIZE_MAX,
                 p.entries);
    unstable_from_ = log_.last_index() + 1;
  }
  ready result = std::move(out_);
  out_ = ready{};
  return result;
}

// -- queries ------------------------------------------------------------------

std::string consensus::leader_address() const {
  if (leader_id_.empty())
    return {};
  // The transport's address, as HashiCorp reports it: our own once we lead,
  // the one the leader's AppendEntries carry otherwise. The configuration's
  // is the fallback (a leader known only from InstallSnapshot).
  if (leader_id_ == cfg_.local_id && !local_address_.empty())
    return local_address_;
  if (leader_id_ != cfg_.local_id && !leader_address_.empty())
    return leader_address_;
  auto s = latest_configuration().find(leader_id_);
  return s != nullptr ? s->address : std::string{};
}

const configuration& consensus::committed_configuration() const {
  for (auto i = configs_.rbegin(); i != configs_.rend(); ++i)
    if (i->first <= commit_index_)
      return i->second;
  return configs_.front().second;
}

bool consensus::committed_in_term() const {
  auto t = log_.term_at(commit_index_);
  return role_ == role::leader && t && *t == term_;
}

bool consensus::has_pending_state() const {
  return hard_state_dirty_ || pending_truncate_ != 0
         || pending_compact_ > store_compacted_
         || unstable_from_ <= log_.last_index();
}

// -- role changes -------------------------------------------------------------

void consensus::set_term(term_t term) {
  // §5.1: terms only move forward, and a new term comes with a fresh vote.
  if (term < term_)
    throw std::logic_error("raft: term would go back from "
                           + std::to_string(term_) + " to "
                           + std::to_string(term));
  if (term == term_)
    return;
  term_ = term;
  voted_for_.clear();
  hard_state_dirty_ = true;
}

void consensus::become_follower(term_t term, const std::string& leader) {
  if (role_ == role::leader)
    fail_reads();
  if (transferring())
    end_transfer(true); // leadership moved (or was lost): the goal is met
  promotions_.clear();
  set_term(term);
  auto changed = role_ != role::follower || leader_id_ != leader;
  role_ = role::follower;
  if (leader_id_ != leader)
    leader_address_.clear();
  leader_id_ = leader;
  followers_.clear();
  pre_vote_phase_ = false;
  transfer_campaign_ = false;
  heard_leader_ = false;
  // Invalidate leader timers and start listening for a leader.
  ++timer_gen_[static_cast<size_t>(timer_kind::lease)];
  arm(timer_kind::election, cfg_.heartbeat_timeout, true);
  if (changed)
    out_.state_changed = true;
}

void consensus::become_pre_candidate() {
  role_ = role::candidate;
  pre_vote_phase_ = true;
  transfer_campaign_ = false;
  leader_id_.clear();
  out_.state_changed = true;
  arm(timer_kind::election, cfg_.election_timeout, true);
  // Alone in the configuration: no one else to ask. (Not so for a server
  // the latest configuration removes: its own vote does not count.)
  if (is_voter(cfg_.local_id) && rules::quorum_size(voters().size()) <= 1) {
    become_candidate(false);
    return;
  }
  vote_request req{term_ + 1, cfg_.local_id, log_.last_index(),
                   log_.last_term(), true, false};
  out_.new_campaign = campaign{std::move(req), voters()};
}

void consensus::become_candidate(bool transfer) {
  // §5.2: increment the term, vote for self, ask everyone else.
  role_ = role::candidate;
  pre_vote_phase_ = false;
  transfer_campaign_ = transfer;
  set_term(term_ + 1);
  voted_for_ = cfg_.local_id;
  hard_state_dirty_ = true;
  leader_id_.clear();
  out_.state_changed = true;
  arm(timer_kind::election, cfg_.election_timeout, true);
  if (is_voter(cfg_.local_id) && rules::quorum_size(voters().size()) <= 1) {
    become_leader();
    return;
  }
  vote_request req{term_, cfg_.local_id, log_.last_index(), log_.last_term(),
                   false, transfer};
  out_.new_campaign = campaign{std::move(req), voters()};
}

void consensus::become_leader() {
  role_ = role::leader;
  leader_id_ = cfg_.local_id;
  pre_vote_phase_ = false;
  transfer_campaign_ = false;
  followers_.clear();
  for (auto& s : latest_configuration().servers)
    if (s.id != cfg_.local_id)
      add_follower(s.id);
  out_.state_changed = true;
  ++timer_gen_[static_cast<size_t>(timer_kind::election)];
  arm(timer_kind::lease, cfg_.leader_lease_timeout, false);
  // §5.4.2 / thesis §6.4: a no-op of the new term lets the leader commit
  // (and learn the commit status of) entries from earlier terms. The
  // replicators, started once this term is durable, tell everyone at once.
  propose(entry_type::noop, bytes{}, 0);
}

// -- leader -------------------------------------------------------------------

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

void consensus::maybe_promote() {
  if (role_ != role::leader || promotions_.empty() || !committed_in_term()
      || latest_configuration_index() > commit_index_)
    return;
  for (auto i = promotions_.begin(); i != promotions_.end(); ++i) {
    auto f = followers_.find(i->first);
    // Caught up: it holds everything committed so far.
    if (f == followers_.end() || f->second.match_index < commit_index_)
      continue;
    auto next = latest_configuration();
    for (auto& s : next.servers)
      if (s.id == i->first)
        s.suffrage = suffrage::voter;
    promotions_.erase(i);
    propose(entry_type::configuration, encode(next), 0);
    return; // one change at a time
  }
}

void consensus::maybe_send_timeout_now() {
  if (!transferring())
    return;
  auto i = followers_.find(transfer_target_);
  if (i == followers_.end()) {
    end_transfer(false);
    return;
  }
  // Its replicator brings the target up to date (no new entries come in
  // meanwhile); its reports bring us back here.
  if (i->second.match_index < log_.last_index())
    return;
  if (!timeout_now_sent_) {
    timeout_now_sent_ = true;
    out_.send_now.push_back(
      outgoing{transfer_target_, timeout_now{term_, cfg_.local_id}});
  }
}

void consensus::end_transfer(bool moved) {
  transfer_target_.clear();
  timeout_now_sent_ = false;
  ++timer_gen_[static_cast<size_t>(timer_kind::transfer)];
  out_.transfers_done.push_back(moved);
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

// -- helpers ------------------------------------------------------------------

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

void consensus::arm(timer_kind kind, std::chrono::milliseconds base,
                    bool randomize) {
  auto k = static_cast<size_t>(kind);
  auto delay = base;
  if (randomize && base.count() > 0) {
    // §5.2: randomized timeouts in [base, 2 * base) make split votes rare.
    std::uniform_int_distribution<int64_t> dist{0, base.count() - 1};
    delay += std::chrono::milliseconds{dist(rng_)};
  }
  out_.timers.push_back(timer_request{kind, ++timer_gen_[k], delay});
}

void consensus::send(const std::string& to, raft::rpc msg) {
  out_.send_after_persist.push_back(outgoing{to, std::move(msg)});
}

void consensus::probe_membership() {
  // A pre-vote changes no one's state, and its answer says whether a
  // committed configuration removed us (a non-voter removed never hears
  // of it otherwise: the leader stops replicating to it).
  vote_request req{term_ + 1, cfg_.local_id, log_.last_index(),
                   log_.last_term(), true, false};
  for (auto& id : voters())
    if (id != cfg_.local_id)
      send(id, req);
}

void consensus::tell_if_removed(const vote_request& req,
                                vote_response& resp) const {
  auto t = log_.term_at(commit_index_);
  if (!t || latest_configuration().find(req.candidate) != nullptr
      || committed_configuration().find(req.candidate) != nullptr)
    return;
  resp.removed = true;
  resp.commit_index = commit_index_;
  resp.commit_term = *t;
}

bool consensus::learn_removal(const vote_response& resp) const {
  if (!resp.removed)
    return false;
  auto mine = log_.term_at(resp.commit_index);
  if (!mine || *mine != resp.commit_term) {
    // Our log lacks the voter's commit point. Behind it, we lack a
    // committed entry and can never win (§5.4.1): stay quiet. Ahead of it,
    // we may hold a configuration that added us, which the voter lacks.
    return !rules::candidate_up_to_date(log_.last_index(), log_.last_term(),
                                        resp.commit_index, resp.commit_term);
  }
  // We hold the commit point, so everything up to it is committed (Log
  // Matching, §5.3): a configuration there that drops us is final.
  return latest_configuration().find(cfg_.local_id) == nullptr
         && latest_configuration_index() <= resp.commit_index;
}

bool consensus::is_voter(const std::string& id) const {
  return latest_configuration().is_voter(id);
}

std::vector<std::string> consensus::voters() const {
  std::vector<std::string> result;
  for (auto& s : latest_configuration().servers)
    if (s.suffrage == suffrage::voter)
      result.push_back(s.id);
  return result;
}

void consensus::track_configuration(const log_entry& entry) {
  if (entry.type != entry_type::configuration)
    return;
  auto cfg = decode_configuration(entry.data);
  if (!cfg)
    throw std::runtime_error("raft: configuration entry "
                             + std::to_string(entry.index)
                             + " cannot be decoded");
  configs_.emplace_back(entry.index, std::move(*cfg));
  if (role_ == role::leader) {
    // New servers get a replicator; removed ones lose theirs.
    auto& latest = configs_.back().second;
    for (auto& s : latest.servers)
      if (s.id != cfg_.local_id && followers_.count(s.id) == 0)
        add_follower(s.id);
    for (auto i = followers_.begin(); i != followers_.end();)
      if (latest.find(i->first) == nullptr)
        i = followers_.erase(i);
      else
        ++i;
  }
}

void consensus::drop_configurations_from(index_t index) {
  // The snapshot's configuration (the first) always stays.
  while (configs_.size() > 1 && configs_.back().first >= index)
    configs_.pop_back();
}

} // namespace raft
