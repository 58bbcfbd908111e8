#pragma once

#include <cstdint>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Spawns the election actor of one campaign (§5.2; pre-vote, thesis §9.6),
/// once the candidate's own vote is durable. It sends the campaign's
/// request to every voter but `local_id` through `transport`, counts the
/// answers the node forwards to it, and reports the outcome to `node` as
/// `(election_atom, term, pre_vote, epoch, won)`, then ends. The node drops
/// a report whose epoch is not its current campaign's, and the core one
/// whose term or phase moved on; a newer term in an answer reaches the core
/// through the node, which sees every answer first. It decides nothing
/// against the voter's log, so it needs none of the node's state (DESIGN.md
/// §4). It ends with the node, or when the node ends the campaign.
election_actor spawn_election(caf::actor_system& sys,
                              node_internal_actor node,
                              transport_actor transport, std::string local_id,
                              campaign c, uint64_t epoch);

} // namespace raft
