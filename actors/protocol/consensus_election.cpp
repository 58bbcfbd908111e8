#include "caf-raft/actors/protocol/consensus.hpp"

#include <stdexcept>

#include "caf-raft/actors/mutation.hpp"
#include "caf-raft/actors/protocol/rules.hpp"

// Leader election (§5.2), with the up-to-date check on votes (§5.4.1),
// pre-vote (thesis §9.6), leader stickiness (thesis §4.2.3) and how a
// server learns that a configuration removed it. consensus.hpp documents
// the class; its parts live in consensus_*.cpp by rule.

namespace raft {

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

} // namespace raft
