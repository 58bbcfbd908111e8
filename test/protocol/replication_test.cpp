#define BOOST_TEST_MODULE replication
// The leader's replication to one follower (actors/protocol/replication):
// what a replicator sends, when, and what it reports. Links raft-protocol
// alone, without CAF.
#include <boost/test/unit_test.hpp>

#include "caf-raft/actors/protocol/raft_log.hpp"
#include "caf-raft/actors/protocol/replication.hpp"

using namespace raft;

namespace {

log_entry entry(index_t index, term_t term, size_t size = 1) {
  log_entry e;
  e.index = index;
  e.term = term;
  e.data.assign(size, uint8_t{7});
  return e;
}

/// Entries `first..last` of term `term`, after an entry of `prev_term`.
entry_batch batch(index_t first, index_t last, term_t term,
                  term_t prev_term = 1, size_t size = 1) {
  std::vector<log_entry> xs;
  for (auto i = first; i <= last; ++i)
    xs.push_back(entry(i, term, size));
  return make_entry_batch(first - 1, first > 1 ? prev_term : 0, std::move(xs));
}

replication_settings settings(size_t inflight = 4, size_t per_request = 2) {
  replication_settings s;
  s.max_inflight = inflight;
  s.max_append_entries = per_request;
  return s;
}

/// A replicator of leader "1" in term 3 to follower "2", handed entries
/// 11..12 (the leader's log ended at 10 when it was elected).
replication make(replication_settings s = settings()) {
  replication r{"1", "10.0.0.1:1", "2", 3, s, batch(11, 12, 3), 0, 0};
  r.start();
  return r;
}

append_response ok(index_t index, uint64_t round = 0) {
  return append_response{3, "2", true, index, 0, round};
}

append_response no(index_t prev, index_t hint) {
  return append_response{3, "2", false, prev, hint, 0};
}

} // namespace

BOOST_AUTO_TEST_SUITE(entry_windows)

BOOST_AUTO_TEST_CASE(a_window_holds_contiguous_batches_only) {
  entry_window w;
  w.reset(10, 2);
  BOOST_TEST(w.append(batch(11, 12, 3, 2)));
  BOOST_TEST(!w.append(batch(14, 15, 3))); // a gap
  BOOST_TEST(!w.append(batch(13, 13, 3, 2))); // the wrong previous term
  BOOST_TEST(w.append(batch(13, 14, 3, 3)));
  BOOST_TEST(w.last_index() == 14u);
  BOOST_TEST(*w.term_at(10) == 2u);
  BOOST_TEST(*w.term_at(13) == 3u);
  BOOST_TEST(!w.term_at(9));
  BOOST_TEST(!w.term_at(15));
  std::vector<log_entry> out;
  w.slice(12, 10, SIZE_MAX, out);
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  BOOST_TEST(out.front().index == 12u);
  // Dropping keeps whole batches: 13..14 stay, 12 is the new previous.
  w.drop_through(12);
  BOOST_TEST(w.prev_index() == 12u);
  BOOST_TEST(!w.holds(12));
  BOOST_TEST(w.holds(13));
}

BOOST_AUTO_TEST_CASE(a_slice_stops_at_its_byte_budget_but_takes_one_entry) {
  entry_window w;
  w.reset(0, 0);
  w.append(batch(1, 4, 1, 0, 100));
  std::vector<log_entry> out;
  w.slice(1, 10, 250, out);
  BOOST_TEST(out.size() == 2u);
  out.clear();
  w.slice(1, 10, 50, out); // larger than the budget, yet it goes
  BOOST_TEST(out.size() == 1u);
  w.shrink_to(150);
  BOOST_TEST(w.bytes() > 400u); // one batch always stays
  BOOST_TEST(w.prev_index() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(replications)

BOOST_AUTO_TEST_CASE(the_first_probe_asserts_leadership_with_the_new_entries) {
  auto r = make();
  auto fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  auto& req = fx.sends[0];
  BOOST_TEST(req.term == 3u);
  BOOST_TEST(req.leader == "1");
  BOOST_TEST(req.leader_address == "10.0.0.1:1");
  BOOST_TEST(req.prev_log_index == 10u);
  BOOST_TEST(req.entries.size() == 2u);
  // Probing: one request at a time until the logs are known to match.
  r.on_entries(batch(13, 13, 3, 3), 0);
  BOOST_TEST(r.take().sends.empty());
}

BOOST_AUTO_TEST_CASE(a_match_pipelines_up_to_the_window) {
  auto r = make(settings(2, 1));
  r.take();
  r.on_response(ok(12));
  auto fx = r.take();
  BOOST_TEST(fx.report);
  BOOST_TEST(r.state().match_index == 12u);
  r.on_entries(batch(13, 16, 3, 3), 0);
  fx = r.take();
  // One entry per request, two in flight.
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 2u);
  BOOST_TEST(fx.sends[0].prev_log_index == 12u);
  BOOST_TEST(fx.sends[1].prev_log_index == 13u);
  r.on_response(ok(13));
  fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].prev_log_index == 14u);
}

BOOST_AUTO_TEST_CASE(an_answer_of_another_term_changes_nothing) {
  // §5.1: an old term's acknowledgement says nothing about this log.
  auto r = make();
  r.take();
  r.on_response(append_response{2, "2", true, 12, 0, 0});
  auto fx = r.take();
  BOOST_TEST(!fx.report);
  BOOST_TEST(fx.sends.empty());
  BOOST_TEST(r.state().match_index == 0u);
}

BOOST_AUTO_TEST_CASE(a_lagging_follower_is_served_from_fetched_entries) {
  auto r = make();
  r.take();
  // The follower's log ends at 5: the next probe needs entries 6.. that
  // this replicator was never handed.
  r.on_response(no(10, 5));
  auto fx = r.take();
  BOOST_TEST(fx.sends.empty());
  BOOST_REQUIRE(fx.fetch_from);
  BOOST_TEST(*fx.fetch_from == 6u);
  r.on_fetched(batch(6, 10, 2, 2));
  fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].prev_log_index == 5u);
  BOOST_TEST(fx.sends[0].prev_log_term == 2u);
  BOOST_TEST(fx.sends[0].entries.size() == 2u);
  // Once it matches, it runs on into the handed entries.
  r.on_response(ok(7));
  r.on_response(ok(12));
  BOOST_TEST(r.state().match_index == 12u);
}

BOOST_AUTO_TEST_CASE(compacted_entries_are_replaced_by_a_snapshot) {
  // §7: the follower needs entries the leader compacted away.
  auto r = make();
  r.take();
  r.on_response(no(10, 0));
  auto fx = r.take();
  BOOST_REQUIRE(fx.fetch_from);
  r.on_fetch_failed();
  fx = r.take();
  BOOST_TEST(fx.send_snapshot);
  BOOST_TEST(fx.sends.empty());
  // Nothing else goes out while the snapshot streams.
  r.on_tick();
  BOOST_TEST(r.take().sends.empty());
  r.on_snapshot_sent(10);
  fx = r.take();
  BOOST_TEST(fx.report);
  BOOST_TEST(r.state().match_index == 10u);
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].prev_log_index == 10u);
}

BOOST_AUTO_TEST_CASE(a_failed_snapshot_send_is_retried) {
  auto r = make();
  r.take();
  r.on_response(no(10, 0));
  r.take();
  r.on_fetch_failed();
  r.take();
  r.on_snapshot_sent(0); // failed; the host calls this after a pause
  auto fx = r.take();
  BOOST_TEST(!fx.report);
  BOOST_REQUIRE(fx.fetch_from); // and the need shows again
}

// HashiCorp's CommitTimeout: followers learn a new commit index from the
// next AppendEntries; only if none goes out within commit_timeout does the
// replicator send an empty one for it. Sending it at once would double the
// messages of every commit at low load.
BOOST_AUTO_TEST_CASE(the_commit_index_reaches_an_idle_follower_on_a_timer) {
  auto r = make();
  r.take();
  r.on_response(ok(12));
  r.take();
  r.on_entries(entry_batch{12, 3, nullptr}, 12); // commit moved, no entries
  auto fx = r.take();
  BOOST_TEST(fx.sends.empty());
  BOOST_TEST(fx.arm_commit_timer);
  r.on_commit_timer();
  fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].entries.empty());
  BOOST_TEST(fx.sends[0].leader_commit == 12u);
  // A new entry carries the next commit index itself; the timer then finds
  // nothing to send.
  r.on_entries(entry_batch{12, 3, nullptr}, 13);
  fx = r.take();
  BOOST_TEST(fx.arm_commit_timer);
  r.on_entries(batch(13, 13, 3, 3), 13);
  fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].leader_commit == 13u);
  r.on_commit_timer();
  BOOST_TEST(r.take().sends.empty());
}

BOOST_AUTO_TEST_CASE(a_heartbeat_commits_only_what_the_follower_holds) {
  // Seed 1464: a heartbeat proves nothing about the follower's log, so it
  // carries min(commit, match): entries the follower acknowledged.
  auto r = make();
  r.take();
  r.on_response(ok(11));
  r.on_entries(entry_batch{12, 3, nullptr}, 12);
  r.take();
  r.on_tick();
  r.on_tick();
  auto fx = r.take();
  BOOST_REQUIRE(!fx.sends.empty());
  for (auto& req : fx.sends)
    if (req.prev_log_index == 0 && req.entries.empty())
      BOOST_TEST(req.leader_commit <= 11u);
}

BOOST_AUTO_TEST_CASE(a_read_round_goes_out_at_once_and_its_echo_is_reported) {
  auto r = make();
  r.take();
  r.on_round(5);
  auto fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].round == 5u);
  BOOST_TEST(fx.sends[0].prev_log_index == 0u); // a heartbeat
  r.on_response(ok(0, 5));
  fx = r.take();
  BOOST_TEST(fx.report);
  BOOST_TEST(r.acked_round() == 5u);
  BOOST_TEST(r.state().match_index == 0u); // a heartbeat's answer proves no match
}

BOOST_AUTO_TEST_CASE(acknowledged_entries_are_let_go) {
  // The replicator keeps only what its follower may still need.
  auto r = make(settings(16, 64));
  r.take();
  r.on_response(ok(12));
  r.on_entries(batch(13, 20, 3, 3, 1000), 0);
  r.take();
  auto held = r.window_bytes();
  BOOST_TEST(held >= 8000u);
  r.on_response(ok(20));
  BOOST_TEST(r.window_bytes() < held);
  BOOST_TEST(r.window_bytes() <= 2u);
}

BOOST_AUTO_TEST_CASE(the_window_is_bounded_and_refilled_from_the_node) {
  auto s = settings(1, 1);
  s.max_window_bytes = 3000 + 3 * raft_log::entry_overhead;
  auto r = make(s);
  r.take();
  r.on_response(ok(12));
  r.take();
  for (index_t i = 13; i <= 20; ++i)
    r.on_entries(batch(i, i, 3, 3, 1000), 0);
  r.take();
  BOOST_TEST(r.window_bytes() <= 3000u + 3 * raft_log::entry_overhead);
  // The follower reaches what was let go: fetched from the node.
  r.on_response(ok(13));
  auto fx = r.take();
  BOOST_REQUIRE(fx.fetch_from);
  BOOST_TEST(*fx.fetch_from == 14u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lost_acknowledgements)

BOOST_AUTO_TEST_CASE(a_follower_that_lost_acknowledged_entries_is_probed_per_tick) {
  // A follower refusing what it acknowledged cannot be walked back past
  // its match; probing it again at once would loop at network speed.
  auto r = make();
  r.take();
  r.on_response(ok(12));
  r.on_entries(batch(13, 13, 3, 3), 0);
  r.take();
  // No answer for two ticks: a stall, so it probes after its match.
  r.on_tick();
  r.on_tick();
  auto probe = r.take();
  BOOST_REQUIRE(!probe.sends.empty());
  BOOST_TEST(probe.sends.back().prev_log_index == 12u);
  r.on_response(no(12, 5));
  BOOST_TEST(r.take().sends.empty());
  r.on_entries(batch(14, 14, 3, 3), 0);
  BOOST_TEST(r.take().sends.empty());
  r.on_tick();
  auto fx = r.take();
  BOOST_REQUIRE_EQUAL(fx.sends.size(), 1u);
  BOOST_TEST(fx.sends[0].prev_log_index == 12u);
}

BOOST_AUTO_TEST_SUITE_END()
