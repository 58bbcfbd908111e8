#pragma once

// Raft's decision rules as pure functions, each citing the paper (Ongaro and
// Ousterhout, "In Search of an Understandable Consensus Algorithm", extended
// version) or Ongaro's thesis. No actor, clock or storage in here: the
// consensus core calls these, and test/protocol/rules_test.cpp checks each directly.

#include <vector>

#include "caf-raft/storage/log_entry.hpp"

namespace raft::rules {

/// §5.4.1: a voter grants its vote only if the candidate's log is at least as
/// up-to-date as its own: a later last term wins; with equal last terms, the
/// longer log wins.
bool candidate_up_to_date(index_t cand_last_index, term_t cand_last_term,
                          index_t my_last_index, term_t my_last_term);

/// §5.3/§5.4.2: the highest index stored on a majority of `match` (one match
/// index per voter, the leader's own durable index included). Returns 0 for
/// an empty set.
index_t quorum_index(std::vector<index_t> match);

/// The number of votes that make a majority of `voters`.
size_t quorum_size(size_t voters);

/// §5.4.2: a leader only commits an entry of its own term by counting
/// replicas; earlier entries commit indirectly. Given the quorum index and
/// the term of the entry there, returns the new commit index.
index_t advance_commit(index_t commit_index, index_t quorum_idx,
                       term_t term_at_quorum_idx, term_t current_term);

/// Fast back-off (thesis §5.3 "the leader can decrement nextIndex past
/// all of a conflicting term"): the next index to try after a rejection of a
/// request whose previous index was `rejected`, given the follower's `hint`.
index_t next_after_rejection(index_t rejected, index_t hint);

} // namespace raft::rules
