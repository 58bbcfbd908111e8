#pragma once

// The count of one campaign's votes (§5.2), as plain C++: the election actor
// keeps one per campaign, and the rules are tested directly
// (test/protocol/vote_tally_test.cpp).

#include <map>
#include <string>
#include <vector>

namespace raft {

/// Where a campaign stands.
enum class vote_outcome { pending, won, lost };

/// The votes of one campaign, decided by the voters of the configuration it
/// started in. A campaign is won by a majority of grants and lost once a
/// majority refused (it can no longer win); answers from servers that are
/// not voters count for nothing, and a voter's first answer is its answer
/// (§5.2: one vote per voter per term).
class vote_tally {
public:
  explicit vote_tally(std::vector<std::string> voters);

  /// Records the answer of `from`; returns where the campaign stands.
  vote_outcome record(const std::string& from, bool granted);

  vote_outcome outcome() const;

  size_t granted() const;

  size_t refused() const;

private:
  std::vector<std::string> voters_;
  std::map<std::string, bool> answers_;
  /// Planted bug 15 only (actors/mutation.hpp): answers counted twice.
  size_t repeats_ = 0;
};

} // namespace raft
