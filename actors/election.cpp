#include "caf-raft/actors/election.hpp"

#include "caf-raft/actors/protocol/vote_tally.hpp"
#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

struct election_state {
  static inline const char* name = "raft.election";
  vote_tally tally{{}};
};

using election_ptr = election_actor::stateful_pointer<election_state>;

election_actor::behavior_type election(election_ptr self,
                                       node_internal_actor node,
                                       transport_actor transport,
                                       std::string local_id, campaign c,
                                       uint64_t epoch) {
  self->monitor(node);
  self->set_down_handler([=](caf::down_msg& dm) { self->quit(dm.reason); });
  auto& st = self->state;
  st.tally = vote_tally{c.voters};
  // The candidate votes for itself (§5.2); a server the configuration does
  // not count as a voter gets nothing from it.
  st.tally.record(local_id, true);
  for (auto& v : c.voters)
    if (v != local_id)
      caf::anon_send(transport, rpc_atom_v, local_id, v,
                     caf::make_message(c.request));
  auto term = c.request.term;
  auto pre_vote = c.request.pre_vote;
  return {
    [=](const vote_response& resp) {
      // Answers to another campaign of ours are not this one's votes.
      if (resp.pre_vote != pre_vote || (!pre_vote && resp.term != term))
        return;
      auto outcome = self->state.tally.record(resp.from, resp.granted);
      if (outcome == vote_outcome::pending)
        return;
      caf::anon_send(node, election_atom_v, term, pre_vote, epoch,
                     outcome == vote_outcome::won);
      self->quit();
    },
  };
}

} // namespace

election_actor spawn_election(caf::actor_system& sys,
                              node_internal_actor node,
                              transport_actor transport, std::string local_id,
                              campaign c, uint64_t epoch) {
  return sys.spawn(election, std::move(node), std::move(transport),
                   std::move(local_id), std::move(c), epoch);
}

} // namespace raft
