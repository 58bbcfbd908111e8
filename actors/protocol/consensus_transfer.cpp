#include "caf-raft/actors/protocol/consensus.hpp"

// Leadership transfer (thesis §3.10): the leader stops taking entries,
// brings the target up to date and tells it to campaign at once.
// consensus.hpp documents the class.

namespace raft {

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

} // namespace raft
