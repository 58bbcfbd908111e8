#define BOOST_TEST_MODULE raft_log
// The core's log (actors/protocol/raft_log): entries leave memory once
// applied (raft_config::max_log_memory) but their terms stay, through
// compaction and truncation. Links raft-protocol alone, without CAF.
#include <boost/test/unit_test.hpp>

#include "caf-raft/actors/protocol/raft_log.hpp"

using namespace raft;

namespace {

/// Entries 1..10: terms 1 1 1 2 2 3 3 3 3 4, 100 bytes each.
raft_log make_log() {
  raft_log log;
  term_t terms[] = {1, 1, 1, 2, 2, 3, 3, 3, 3, 4};
  for (index_t i = 1; i <= 10; ++i) {
    log_entry e;
    e.index = i;
    e.term = terms[i - 1];
    e.data.assign(100, uint8_t{1});
    log.append(std::move(e));
  }
  return log;
}

} // namespace

BOOST_AUTO_TEST_CASE(evicted_entries_keep_their_terms) {
  auto log = make_log();
  auto all = log.memory();
  BOOST_TEST(log.evict(7, 0) == 7u); // never past `through`
  BOOST_TEST(log.resident_from() == 8u);
  BOOST_TEST(log.memory() < all);
  BOOST_TEST(!log.resident(7));
  BOOST_TEST(log.resident(8));
  BOOST_CHECK_THROW(log.at(7), std::out_of_range);
  term_t want[] = {1, 1, 1, 2, 2, 3, 3, 3, 3, 4};
  for (index_t i = 1; i <= 10; ++i)
    BOOST_TEST(*log.term_at(i) == want[i - 1], "term of " << i);
  BOOST_TEST(*log.term_at(0) == 0u);
  BOOST_TEST(!log.term_at(11));
  BOOST_TEST(log.last_index() == 10u);
  BOOST_TEST(log.first_index() == 1u);
}

BOOST_AUTO_TEST_CASE(eviction_stops_at_the_memory_asked_for) {
  auto log = make_log();
  auto per_entry = 100 + raft_log::entry_overhead;
  log.evict(10, 6 * per_entry + 64);
  // Four went; the runs of their terms cost a few bytes.
  BOOST_TEST(log.resident_from() == 5u);
  BOOST_TEST(log.memory() <= 6 * per_entry + 64);
}

BOOST_AUTO_TEST_CASE(a_compaction_inside_the_evicted_range_keeps_later_terms) {
  auto log = make_log();
  log.evict(8, 0);
  log.compact(4);
  BOOST_TEST(log.snapshot_index() == 4u);
  BOOST_TEST(log.snapshot_term() == 2u);
  BOOST_TEST(*log.term_at(5) == 2u);
  BOOST_TEST(*log.term_at(6) == 3u);
  BOOST_TEST(*log.term_at(9) == 3u);
  BOOST_TEST(!log.term_at(3));
  // And past it: nothing evicted remains.
  log.compact(9);
  BOOST_TEST(log.resident_from() == 10u);
  BOOST_TEST(*log.term_at(9) == 3u);
  BOOST_TEST(*log.term_at(10) == 4u);
}

BOOST_AUTO_TEST_CASE(a_truncation_reaching_evicted_entries_drops_their_terms) {
  // Only committed entries are evicted and they never conflict (§5.4), yet
  // the log stays consistent if asked.
  auto log = make_log();
  log.evict(8, 0);
  log.truncate_from(6);
  BOOST_TEST(log.last_index() == 5u);
  BOOST_TEST(log.last_term() == 2u);
  BOOST_TEST(!log.term_at(6));
  log_entry e;
  e.index = 6;
  e.term = 5;
  log.append(e);
  BOOST_TEST(*log.term_at(6) == 5u);
  BOOST_TEST(*log.term_at(5) == 2u);
}
