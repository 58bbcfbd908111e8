#include "caf-raft/actors/protocol/vote_tally.hpp"

#include <algorithm>

#include "caf-raft/actors/mutation.hpp"
#include "caf-raft/actors/protocol/rules.hpp"

namespace raft {

vote_tally::vote_tally(std::vector<std::string> voters)
  : voters_(std::move(voters)) {
  // Duplicates would count a voter twice toward the quorum.
  std::sort(voters_.begin(), voters_.end());
  voters_.erase(std::unique(voters_.begin(), voters_.end()), voters_.end());
}

vote_outcome vote_tally::record(const std::string& from, bool granted) {
  if (std::binary_search(voters_.begin(), voters_.end(), from)) {
    auto fresh = answers_.emplace(from, granted).second;
    if (!fresh && granted && mutant(mutation::count_repeated_votes))
      ++repeats_;
  }
  return outcome();
}

size_t vote_tally::granted() const {
  return repeats_
         + static_cast<size_t>(std::count_if(answers_.begin(), answers_.end(),
                                             [](auto& kv) { return kv.second; }));
}

size_t vote_tally::refused() const {
  return static_cast<size_t>(std::count_if(
    answers_.begin(), answers_.end(), [](auto& kv) { return !kv.second; }));
}

vote_outcome vote_tally::outcome() const {
  auto quorum = rules::quorum_size(voters_.size());
  if (granted() >= quorum)
    return vote_outcome::won;
  if (refused() >= quorum)
    return vote_outcome::lost;
  return vote_outcome::pending;
}

} // namespace raft
