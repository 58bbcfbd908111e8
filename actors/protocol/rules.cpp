#include "caf-raft/actors/protocol/rules.hpp"

#include <algorithm>
#include <functional>

namespace raft::rules {

bool candidate_up_to_date(index_t cand_last_index, term_t cand_last_term,
                          index_t my_last_index, term_t my_last_term) {
  if (cand_last_term != my_last_term)
    return cand_last_term > my_last_term;
  return cand_last_index >= my_last_index;
}

index_t quorum_index(std::vector<index_t> match) {
  if (match.empty())
    return 0;
  // Sorted high to low, the entry at position n/2 is held by n/2 + 1
  // servers: exactly a majority.
  std::sort(match.begin(), match.end(), std::greater<index_t>{});
  return match[match.size() / 2];
}

size_t quorum_size(size_t voters) {
  return voters / 2 + 1;
}

index_t advance_commit(index_t commit_index, index_t quorum_idx,
                       term_t term_at_quorum_idx, term_t current_term) {
  // Figure 8 of the paper: an entry from an earlier term stored on a
  // majority may still be overwritten, so only the current term's entries
  // commit by counting.
  if (quorum_idx > commit_index && term_at_quorum_idx == current_term)
    return quorum_idx;
  return commit_index;
}

index_t next_after_rejection(index_t rejected, index_t hint) {
  // Never go above the rejected previous index (that one did not match) and
  // never below 1; the hint lets us skip a whole conflicting term at once.
  auto next = std::min(rejected, hint + 1);
  return std::max<index_t>(next, 1);
}

} // namespace raft::rules
