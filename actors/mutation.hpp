#pragma once

// Planted bugs for scripts/mutation-check.sh, which builds the library with
// one of them at a time and runs the simulator until a seed catches it: a
// planted bug that no seed catches is a hole in the simulator.
//
// Never active in a normal build: RAFT_MUTATION is 0 unless the mutation
// build (cmake -DRAFT_MUTATION_SWITCH=ON) supplies raft_mutation.hpp from
// its own folder, so that switching bugs recompiles only the files that
// include this header. Every `mutant(n)` is then a constant false that the
// compiler folds away.

#ifdef RAFT_MUTATION_SWITCH
#  include "raft_mutation.hpp"
#endif

#ifndef RAFT_MUTATION
#  define RAFT_MUTATION 0
#endif

namespace raft {

/// The planted bugs; scripts/mutation-check.sh names them the same way.
enum class mutation : int {
  none = 0,
  /// §5.4.1: a vote granted without the up-to-date check.
  vote_without_log_check = 1,
  /// §5.2: a second vote in the same term, for another candidate.
  two_votes_in_one_term = 2,
  /// Figure 2: an append acknowledged before its entries are durable.
  ack_before_durable = 3,
  /// Figure 2: a vote (or a request for votes) sent before it is durable.
  vote_before_durable = 4,
  /// §5.4.2, Figure 8: an entry of an earlier term committed by counting
  /// replicas.
  commit_old_term_by_counting = 5,
  /// Thesis §6.4: a read answered without a quorum round.
  read_without_quorum = 6,
  /// A read answered on the last quorum contact however old: a lease that
  /// never expires.
  read_on_expired_lease = 7,
  /// §5.3: an entry applied before it commits.
  apply_before_commit = 8,
  /// §5.3: a follower truncating after every request's entries, committed
  /// ones included (a delayed request then cuts the log).
  truncate_committed = 9,
  /// §5.1: an append response of an earlier term moving the match index.
  stale_append_response = 10,
  /// §7: a snapshot installed over a log committed past it.
  snapshot_over_newer_state = 11,
  /// Thesis §6.4: a new leader answering reads before it committed an
  /// entry of its term.
  read_before_commit_in_term = 12,
  /// Issue 21: an apply answered for the entry of another leader that
  /// took its index.
  answer_for_another_entry = 13,
  /// Figure 2: a leader sending AppendEntries in a term it has not stored.
  lead_before_term_durable = 14,
  /// §5.2: a voter's repeated answer (a duplicated message) counted again.
  count_repeated_votes = 15,
  /// §6, §7: a snapshot replaces the log but the configurations of the
  /// replaced entries stay (seed 78456).
  keep_replaced_configurations = 16,
};

/// Whether planted bug `m` is built in.
constexpr bool mutant(mutation m) {
  return RAFT_MUTATION == static_cast<int>(m);
}

} // namespace raft
