#define BOOST_TEST_MODULE vote_tally
#include <boost/test/unit_test.hpp>

#include "caf-raft/actors/protocol/vote_tally.hpp"

// §5.2: a candidate wins with votes from a majority of the voters of its
// configuration, each voter counted once.

using namespace raft;

BOOST_AUTO_TEST_CASE(a_majority_of_grants_wins) {
  vote_tally t{{"1", "2", "3", "4", "5"}};
  BOOST_TEST((t.record("1", true) == vote_outcome::pending));
  BOOST_TEST((t.record("2", true) == vote_outcome::pending));
  BOOST_TEST((t.record("3", true) == vote_outcome::won));
}

BOOST_AUTO_TEST_CASE(a_majority_of_refusals_loses) {
  vote_tally t{{"1", "2", "3"}};
  t.record("1", true);
  BOOST_TEST((t.record("2", false) == vote_outcome::pending));
  BOOST_TEST((t.record("3", false) == vote_outcome::lost));
}

BOOST_AUTO_TEST_CASE(an_even_split_wins_nothing) {
  vote_tally t{{"1", "2", "3", "4"}};
  t.record("1", true);
  t.record("2", true);
  t.record("3", false);
  // 2 of 4 is no majority either way.
  BOOST_TEST((t.outcome() == vote_outcome::pending));
  BOOST_TEST((t.record("4", true) == vote_outcome::won));
}

BOOST_AUTO_TEST_CASE(each_voter_counts_once) {
  vote_tally t{{"1", "2", "3"}};
  t.record("1", true);
  // A duplicated answer (the network duplicates messages) is not a second
  // vote, and a voter's first answer stands.
  BOOST_TEST((t.record("1", true) == vote_outcome::pending));
  t.record("2", false);
  BOOST_TEST((t.record("2", true) == vote_outcome::pending));
  BOOST_TEST(t.granted() == 1u);
  BOOST_TEST(t.refused() == 1u);
}

BOOST_AUTO_TEST_CASE(non_voters_count_for_nothing) {
  // A server outside the configuration, or a non-voter, cannot make a
  // majority (a removed server's own vote included).
  vote_tally t{{"1", "2", "3"}};
  t.record("9", true);
  t.record("8", true);
  BOOST_TEST((t.record("1", true) == vote_outcome::pending));
  BOOST_TEST(t.granted() == 1u);
}

BOOST_AUTO_TEST_CASE(a_voter_listed_twice_counts_once) {
  vote_tally t{{"1", "2", "2", "3"}};
  t.record("2", true);
  BOOST_TEST((t.outcome() == vote_outcome::pending));
}
