#include "caf-raft/actors/protocol/consensus.hpp"

#include <algorithm>
#include <functional>
#include <ostream>
#include <random>
#include <variant>

#include "caf-raft/actors/protocol/rules.hpp"

// The core of the protocol: construction, the inputs that dispatch to the
// rules, the timers, and what the node takes out after each step. The rules
// themselves live beside it, one file each: consensus_election.cpp (§5.2),
// consensus_replication.cpp (§5.3, reads of §6.4 in the thesis),
// consensus_membership.cpp (§6), consensus_transfer.cpp (thesis §3.10) and
// consensus_snapshots.cpp (§7).

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

bool consensus::committed_in_term() const {
  auto t = log_.term_at(commit_index_);
  return role_ == role::leader && t && *t == term_;
}

bool consensus::has_pending_state() const {
  return hard_state_dirty_ || pending_truncate_ != 0
         || pending_compact_ > store_compacted_
         || unstable_from_ <= log_.last_index();
}

// -- helpers ------------------------------------------------------------------

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

} // namespace raft
