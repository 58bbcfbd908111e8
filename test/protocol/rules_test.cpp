#define BOOST_TEST_MODULE rules
// The Raft rules tested on the plain core: this suite links raft-protocol
// alone, without CAF.
#include <boost/test/unit_test.hpp>

#include "caf-raft/actors/protocol/consensus.hpp"
#include "caf-raft/actors/protocol/rules.hpp"
#include "caf-raft/actors/protocol/vote_tally.hpp"

using namespace raft;

namespace {

configuration three_voters() {
  configuration conf;
  for (auto id : {"1", "2", "3"})
    conf.servers.push_back(server{suffrage::voter, id, std::string{"a"} + id});
  return conf;
}

log_entry entry(index_t index, term_t term, std::string data = {}) {
  log_entry e;
  e.index = index;
  e.term = term;
  e.data.assign(data.begin(), data.end());
  if (index == 1) {
    e.type = entry_type::configuration;
    e.data = encode(three_voters());
  }
  return e;
}

/// A pure core for server `id` holding `entries` at `term`.
consensus make_core(std::string id, term_t term,
                    std::vector<log_entry> entries) {
  raft_config cfg;
  cfg.local_id = std::move(id);
  cfg.pre_vote_disabled = true;
  raft_log log;
  for (auto& e : entries)
    log.append(e);
  consensus c{cfg, hard_state{term, ""}, std::move(log), configuration{}, 0};
  c.start();
  c.take_ready();
  return c;
}

template <class T>
std::vector<T> sent(const ready& rd) {
  std::vector<T> result;
  for (auto* list : {&rd.send_now, &rd.send_after_persist})
    for (auto& m : *list)
      if (auto x = std::get_if<T>(&m.msg))
        result.push_back(*x);
  // A campaign's requests go out through its election actor: one per voter
  // but the candidate.
  if constexpr (std::is_same_v<T, vote_request>)
    if (rd.new_campaign)
      for (auto& v : rd.new_campaign->voters)
        if (v != rd.new_campaign->request.candidate)
          result.push_back(rd.new_campaign->request);
  return result;
}

/// Makes `c` the leader of a new term by election.
void elect(consensus& c) {
  // make_core consumed the first election timer (generation 1); fire it.
  c.on_timer(timer_kind::election, 1);
  auto rd = c.take_ready();
  auto reqs = sent<vote_request>(rd);
  BOOST_REQUIRE(!reqs.empty());
  // The election actor counted a majority.
  c.on_campaign_result(reqs[0].term, false, true);
  BOOST_REQUIRE(c.role() == role::leader);
}

} // namespace

BOOST_AUTO_TEST_SUITE(pure_rules)

BOOST_AUTO_TEST_CASE(up_to_date_compares_last_term_then_length) {
  // §5.4.1
  BOOST_TEST(rules::candidate_up_to_date(5, 3, 9, 2));
  BOOST_TEST(!rules::candidate_up_to_date(9, 2, 5, 3));
  BOOST_TEST(rules::candidate_up_to_date(5, 3, 5, 3));
  BOOST_TEST(!rules::candidate_up_to_date(4, 3, 5, 3));
}

BOOST_AUTO_TEST_CASE(quorum_index_is_the_majority_match) {
  BOOST_TEST(rules::quorum_index({5, 3, 1}) == 3u);
  BOOST_TEST(rules::quorum_index({5, 5, 1, 1, 9}) == 5u);
  BOOST_TEST(rules::quorum_index({7}) == 7u);
  BOOST_TEST(rules::quorum_index({4, 2}) == 2u);
  BOOST_TEST(rules::quorum_size(3) == 2u);
  BOOST_TEST(rules::quorum_size(4) == 3u);
}

BOOST_AUTO_TEST_CASE(commit_only_by_counting_current_term_entries) {
  // Figure 8: an entry of term 2 on a majority does not commit in term 4.
  BOOST_TEST(rules::advance_commit(1, 2, 2, 4) == 1u);
  BOOST_TEST(rules::advance_commit(1, 3, 4, 4) == 3u);
  BOOST_TEST(rules::advance_commit(5, 3, 4, 4) == 5u); // never goes back
}

BOOST_AUTO_TEST_CASE(fast_backoff_stays_within_bounds) {
  BOOST_TEST(rules::next_after_rejection(10, 3) == 4u);
  BOOST_TEST(rules::next_after_rejection(10, 50) == 10u);
  BOOST_TEST(rules::next_after_rejection(1, 0) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(core_rules)

BOOST_AUTO_TEST_CASE(stale_term_message_rejected) {
  auto c = make_core("2", 5, {entry(1, 1)});
  append_request ae;
  ae.term = 3;
  ae.leader = "1";
  c.handle(ae);
  auto rd = c.take_ready();
  auto resp = sent<append_response>(rd);
  BOOST_REQUIRE(resp.size() == 1u);
  BOOST_TEST(!resp[0].success);
  BOOST_TEST(resp[0].term == 5u); // tells the stale leader the newer term
  BOOST_TEST(c.leader_id().empty());
  c.handle(vote_request{4, "3", 9, 4, false, false});
  rd = c.take_ready();
  auto votes = sent<vote_response>(rd);
  BOOST_REQUIRE(votes.size() == 1u);
  BOOST_TEST(!votes[0].granted);
  BOOST_TEST(c.term() == 5u);
}

BOOST_AUTO_TEST_CASE(the_leader_address_is_the_transport_address) {
  // HashiCorp reports the leader's transport address, not the one in the
  // configuration (Juju's bootstrap writes "localhost" there).
  auto follower = make_core("2", 1, {entry(1, 1)});
  append_request ae;
  ae.term = 2;
  ae.leader = "1";
  ae.leader_address = "10.0.0.1:17070";
  ae.prev_log_index = 1;
  ae.prev_log_term = 1;
  follower.handle(ae);
  BOOST_TEST(follower.leader_id() == "1");
  BOOST_TEST(follower.leader_address() == "10.0.0.1:17070");
  // A leader that sends none (an older peer) falls back to the configuration.
  ae.leader_address.clear();
  follower.handle(ae);
  BOOST_TEST(follower.leader_address() == "a1");
  // A new leader reports its own transport address (its replicators send
  // it: protocol_replication_test).
  auto leader = make_core("1", 1, {entry(1, 1)});
  leader.set_local_address("10.0.0.1:17070");
  elect(leader);
  BOOST_TEST(leader.leader_address() == "10.0.0.1:17070");
}

BOOST_AUTO_TEST_CASE(candidate_seeing_current_leader_steps_down) {
  auto c = make_core("2", 1, {entry(1, 1)});
  auto rd = c.take_ready(); // nothing yet
  for (auto& t : rd.timers)
    c.on_timer(t.kind, t.generation);
  // Fire the election timer the start armed.
  c.on_timer(timer_kind::election, 1);
  BOOST_REQUIRE(c.role() == role::candidate);
  auto term = c.term();
  append_request ae;
  ae.term = term;
  ae.leader = "3";
  ae.prev_log_index = 1;
  ae.prev_log_term = 1;
  c.handle(ae);
  BOOST_TEST(c.role() == role::follower);
  BOOST_TEST(c.leader_id() == "3");
  BOOST_TEST(c.term() == term);
}

BOOST_AUTO_TEST_CASE(one_vote_per_term_and_only_for_up_to_date_logs) {
  auto c = make_core("3", 1, {entry(1, 1), entry(2, 1), entry(3, 2)});
  // Candidate 1's log ends at (2, 1): older last term, refused (§5.4.1).
  c.handle(vote_request{3, "1", 2, 1, false, false});
  auto v = sent<vote_response>(c.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].granted);
  BOOST_TEST(c.term() == 3u); // but the term is adopted
  // Candidate 2 is up to date: granted, and the vote must be persisted.
  c.handle(vote_request{3, "2", 3, 2, false, false});
  auto rd = c.take_ready();
  v = sent<vote_response>(rd);
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(v[0].granted);
  BOOST_TEST(rd.persist.hard_state);
  BOOST_TEST(rd.persist.voted_for == "2");
  BOOST_TEST(rd.send_now.empty()); // the vote waits for durability
  // A second candidate in the same term gets nothing (§5.2).
  c.handle(vote_request{3, "1", 9, 2, false, false});
  v = sent<vote_response>(c.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].granted);
}

/// A configuration entry at `index`: 1 and 3 voters, 2 a non-voter.
log_entry two_as_nonvoter(index_t index, term_t term) {
  configuration conf;
  conf.servers.push_back(server{suffrage::voter, "1", "a1"});
  conf.servers.push_back(server{suffrage::nonvoter, "2", "a2"});
  conf.servers.push_back(server{suffrage::voter, "3", "a3"});
  auto e = entry(index, term);
  e.type = entry_type::configuration;
  e.data = encode(conf);
  return e;
}

BOOST_AUTO_TEST_CASE(a_candidate_ahead_of_our_log_gets_our_vote_as_a_non_voter) {
  // Seed 450: 2 was promoted and 1 removed in entries that 3 never got;
  // refusing 2 because 3's configuration calls it a non-voter left the
  // cluster without a leader for good (thesis §4.1: votes do not consult
  // the configuration).
  auto c = make_core("3", 1, {entry(1, 1), two_as_nonvoter(2, 1)});
  c.handle(vote_request{2, "2", 9, 1, false, false});
  auto v = sent<vote_response>(c.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(v[0].granted);
  // A non-voter whose log is not ahead of ours holds no configuration we
  // lack: refused, so that removed servers cannot disrupt.
  auto d = make_core("3", 1, {entry(1, 1), two_as_nonvoter(2, 1)});
  d.handle(vote_request{2, "2", 2, 1, false, false});
  v = sent<vote_response>(d.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].granted);
  // A server that is no voter itself (a fresh disk) lends no such vote.
  auto fresh = make_core("4", 0, {});
  fresh.handle(vote_request{2, "2", 9, 1, false, false});
  v = sent<vote_response>(fresh.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].granted);
}

BOOST_AUTO_TEST_CASE(log_matching_and_conflict_truncation) {
  auto c = make_core("2", 2, {entry(1, 1), entry(2, 1), entry(3, 2, "old")});
  // A mismatching prev is refused with a hint that skips the conflicting
  // term.
  append_request ae;
  ae.term = 3;
  ae.leader = "1";
  ae.prev_log_index = 3;
  ae.prev_log_term = 3;
  c.handle(ae);
  auto r = sent<append_response>(c.take_ready());
  BOOST_REQUIRE(r.size() == 1u);
  BOOST_TEST(!r[0].success);
  BOOST_TEST(r[0].hint == 2u);
  // The leader's entries replace the conflicting suffix (§5.3).
  ae.prev_log_index = 2;
  ae.prev_log_term = 1;
  ae.entries = {entry(3, 3, "new"), entry(4, 3, "more")};
  ae.leader_commit = 4;
  c.handle(ae);
  auto rd = c.take_ready();
  r = sent<append_response>(rd);
  BOOST_REQUIRE(r.size() == 1u);
  BOOST_TEST(r[0].success);
  BOOST_TEST(r[0].index == 4u);
  BOOST_TEST(c.last_index() == 4u);
  BOOST_TEST(*c.log().term_at(3) == 3u);
  auto data = c.log().at(3).data;
  BOOST_TEST(std::string(data.begin(), data.end()) == "new");
  // The replaced entry was loaded from the store, so it is deleted there.
  BOOST_TEST(rd.persist.truncate_from == 3u);
  BOOST_TEST(rd.persist.entries.size() == 2u);
  BOOST_TEST(c.commit_index() == 4u);
  // The acknowledgement waits for the write.
  BOOST_TEST(rd.send_now.empty());
}

BOOST_AUTO_TEST_CASE(durable_conflicting_entries_are_deleted_from_the_store) {
  raft_config cfg;
  cfg.local_id = "2";
  raft_log log;
  log.append(entry(1, 1));
  log.append(entry(2, 2, "x"));
  consensus c{cfg, hard_state{2, ""}, std::move(log), configuration{}, 0};
  c.start();
  append_request ae;
  ae.term = 3;
  ae.leader = "1";
  ae.prev_log_index = 1;
  ae.prev_log_term = 1;
  ae.entries = {entry(2, 3, "y")};
  c.handle(ae);
  auto rd = c.take_ready();
  BOOST_TEST(rd.persist.truncate_from == 2u);
  BOOST_REQUIRE(rd.persist.entries.size() == 1u);
  BOOST_TEST(rd.persist.entries[0].term == 3u);
}

BOOST_AUTO_TEST_CASE(committed_entries_are_never_truncated) {
  auto c = make_core("2", 2, {entry(1, 1), entry(2, 2, "a")});
  append_request ae;
  ae.term = 2;
  ae.leader = "1";
  ae.prev_log_index = 2;
  ae.prev_log_term = 2;
  ae.leader_commit = 2;
  c.handle(ae);
  BOOST_REQUIRE(c.commit_index() == 2u);
  // A (buggy or malicious) leader of a later term rewriting index 2.
  ae.term = 3;
  ae.prev_log_index = 1;
  ae.prev_log_term = 1;
  ae.entries = {entry(2, 3, "b")};
  BOOST_CHECK_THROW(c.handle(ae), std::logic_error);
}

BOOST_AUTO_TEST_CASE(malformed_append_entries_dropped) {
  auto c = make_core("2", 2, {entry(1, 1)});
  append_request ae;
  ae.term = 2;
  ae.leader = "1";
  ae.prev_log_index = 1;
  ae.prev_log_term = 1;
  ae.entries = {entry(3, 2)}; // gap: index 2 missing
  c.handle(ae);
  auto rd = c.take_ready();
  BOOST_TEST(sent<append_response>(rd).empty());
  BOOST_TEST(c.last_index() == 1u);
  BOOST_TEST(c.bad_messages() == 1u);
  ae.entries = {entry(2, 7)}; // newer than the request's term
  c.handle(ae);
  BOOST_TEST(c.last_index() == 1u);
  BOOST_TEST(c.bad_messages() == 2u);
}

BOOST_AUTO_TEST_CASE(figure_8_old_term_entry_not_committed_by_counting) {
  // Server 1 holds an entry of term 2 that never committed, then wins term 4.
  auto c = make_core("1", 3, {entry(1, 1), entry(2, 2, "old")});
  elect(c);
  BOOST_TEST(c.term() == 4u);
  auto rd = c.take_ready();
  // The leader's no-op of term 4 sits at index 3.
  BOOST_TEST(c.last_index() == 3u);
  // A majority (1 and 2) stores index 2, yet it must not commit: only an
  // entry of the current term commits by counting replicas (§5.4.2).
  c.on_replicated("2", 2, 0);
  BOOST_TEST(c.commit_index() == 0u);
  // Once the no-op of term 4 is on a majority, both commit.
  c.on_persisted(3, 4);
  c.on_replicated("2", 3, 0);
  BOOST_TEST(c.commit_index() == 3u);
}

BOOST_AUTO_TEST_CASE(leader_counts_itself_only_once_durable) {
  auto c = make_core("1", 1, {entry(1, 1)});
  elect(c);
  c.take_ready();
  auto idx = c.propose(entry_type::command, bytes{1}, 0);
  c.take_ready();
  // Follower 2 has it, the leader's own write is still in flight: 2 of 3
  // is a majority without the leader, so it commits — the leader's copy is
  // not needed for that.
  c.on_replicated("2", idx, 0);
  BOOST_TEST(c.commit_index() == 0u); // the no-op at 2 is not on a majority
  c.on_replicated("3", idx, 0);
  BOOST_TEST(c.commit_index() == idx);
  // With only one follower, the leader's durable write is needed.
  auto idx2 = c.propose(entry_type::command, bytes{2}, 0);
  c.take_ready();
  c.on_replicated("2", idx2, 0);
  BOOST_TEST(c.commit_index() == idx);
  c.on_persisted(idx2, c.term());
  BOOST_TEST(c.commit_index() == idx2);
}

BOOST_AUTO_TEST_CASE(a_heartbeat_commits_what_the_follower_acknowledged) {
  // Seed 1464: the request carrying the last commit index was lost, and
  // heartbeats (prev 0) proved nothing, so followers stayed one entry
  // behind until the next write. The leader now sends at most the match it
  // learned from the follower in its term.
  auto f = make_core("3", 2, {entry(1, 1), entry(2, 2), entry(3, 2)});
  append_request hb;
  hb.term = 2;
  hb.leader = "1";
  hb.leader_commit = 2;
  f.handle(hb);
  f.take_ready();
  BOOST_TEST(f.commit_index() == 2u);
  // Never past our own log.
  hb.leader_commit = 7;
  f.handle(hb);
  f.take_ready();
  BOOST_TEST(f.commit_index() == 3u);
  // The leader's side (a heartbeat carries min(commit, the follower's
  // match)) is protocol_replication_test's.
}

// A compaction covering many stored entries is handed to the log writer in
// slices of compaction_slice, one per write, so that the acknowledgements
// queued behind it never wait for a delete of millions of rows (a leader
// whose followers fall silent that long loses its lease).
BOOST_AUTO_TEST_CASE(a_snapshot_that_replaces_the_log_drops_its_configurations) {
  // Seed 78456: a follower held an old term's uncommitted configuration
  // entry, then installed a snapshot that did not match its log. The log
  // went, the configuration stayed, and with it a membership no one else
  // had: no leader was ever elected again.
  auto c = make_core("2", 2, {entry(1, 1), entry(2, 1)});
  configuration two;
  two.servers = {server{suffrage::voter, "1", "a1"},
                 server{suffrage::voter, "2", "a2"}};
  append_request ae;
  ae.term = 2;
  ae.leader = "1";
  ae.prev_log_index = 2;
  ae.prev_log_term = 1;
  log_entry e;
  e.index = 3;
  e.term = 2;
  e.type = entry_type::configuration;
  e.data = encode(two);
  ae.entries.push_back(e);
  c.handle(ae);
  c.take_ready();
  BOOST_REQUIRE(c.latest_configuration_index() == 3u);
  // A snapshot up to 2 of term 3: the log holds another entry there, so it
  // all goes, the configuration at 3 with it.
  BOOST_REQUIRE(c.install_snapshot(2, 3, three_voters(), 1));
  BOOST_TEST(c.last_index() == 2u);
  BOOST_TEST(c.latest_configuration_index() == 1u);
  BOOST_TEST(c.latest_configuration().voter_count() == 3u);
}

BOOST_AUTO_TEST_CASE(compaction_reaches_the_store_in_slices) {
  constexpr index_t n = 3 * consensus::compaction_slice + 100;
  std::vector<log_entry> entries;
  for (index_t i = 1; i <= n; ++i)
    entries.push_back(entry(i, 1, "x"));
  raft_config cfg;
  cfg.local_id = "1";
  cfg.trailing_logs = 10;
  raft_log log;
  for (auto& e : entries)
    log.append(e);
  consensus c{cfg, hard_state{1, "", n}, std::move(log), configuration{}, 0};
  c.start();
  c.take_ready();
  BOOST_REQUIRE(c.commit_index() == n);
  auto through = c.compact(n);
  BOOST_REQUIRE(through == n - 10);
  BOOST_TEST(c.log().first_index() == n - 10 + 1); // memory: at once
  std::vector<index_t> slices;
  while (c.has_pending_state()) {
    auto rd = c.take_ready();
    BOOST_REQUIRE_MESSAGE(rd.persist.compact_through != 0,
                          "pending state without a compaction slice");
    slices.push_back(rd.persist.compact_through);
    BOOST_REQUIRE(slices.size() < 10);
  }
  std::vector<index_t> expected{consensus::compaction_slice,
                                2 * consensus::compaction_slice,
                                3 * consensus::compaction_slice, n - 10};
  BOOST_TEST(slices == expected, boost::test_tools::per_element());
  // A write in flight holds the next slice back.
  BOOST_TEST(c.take_ready(false).persist.compact_through == 0u);
}

BOOST_AUTO_TEST_CASE(pre_vote_does_not_change_term) {
  raft_config cfg;
  cfg.local_id = "2";
  raft_log log;
  log.append(entry(1, 1));
  consensus c{cfg, hard_state{1, ""}, std::move(log), configuration{}, 0};
  c.start();
  c.take_ready();
  c.on_timer(timer_kind::election, 1);
  auto rd = c.take_ready();
  auto reqs = sent<vote_request>(rd);
  BOOST_REQUIRE(reqs.size() == 2u);
  BOOST_TEST(reqs[0].pre_vote);
  BOOST_TEST(reqs[0].term == 2u);
  BOOST_TEST(c.term() == 1u); // a pre-candidate keeps its term
  BOOST_TEST(!rd.persist.hard_state);
  // A voter answers a pre-vote without adopting its term.
  auto v = make_core("3", 1, {entry(1, 1)});
  v.handle(reqs[0]);
  auto vr = sent<vote_response>(v.take_ready());
  BOOST_REQUIRE(vr.size() == 1u);
  BOOST_TEST(vr[0].granted);
  BOOST_TEST(v.term() == 1u);
  BOOST_TEST(v.voted_for().empty());
  // With a majority of pre-votes the real election starts at term 2.
  vote_tally tally{rd.new_campaign->voters};
  tally.record("2", true);
  BOOST_REQUIRE((tally.record(vr[0].from, vr[0].granted) == vote_outcome::won));
  c.on_campaign_result(reqs[0].term, true, true);
  BOOST_TEST(c.term() == 2u);
  BOOST_TEST(c.voted_for() == "2");
}

BOOST_AUTO_TEST_CASE(a_stale_campaign_result_changes_nothing) {
  // Fencing: the election actor reports with its campaign's term and phase;
  // a report of another term or phase, or to a server that is no longer a
  // candidate, is dropped.
  auto c = make_core("1", 1, {entry(1, 1)});
  c.on_timer(timer_kind::election, 1);
  auto rd = c.take_ready();
  BOOST_REQUIRE(rd.new_campaign);
  auto term = rd.new_campaign->request.term;
  BOOST_REQUIRE(c.role() == role::candidate);
  c.on_campaign_result(term - 1, false, true); // an earlier election's
  BOOST_TEST((c.role() == role::candidate));
  c.on_campaign_result(term, true, true); // the other phase's
  BOOST_TEST((c.role() == role::candidate));
  c.on_campaign_result(term, false, true);
  BOOST_TEST((c.role() == role::leader));
  // Once leader, a late "lost" of the same campaign does not depose it.
  c.on_campaign_result(term, false, false);
  BOOST_TEST((c.role() == role::leader));
}

BOOST_AUTO_TEST_CASE(votes_refused_while_a_leader_is_heard) {
  auto c = make_core("2", 2, {entry(1, 1)});
  append_request ae;
  ae.term = 2;
  ae.leader = "1";
  ae.prev_log_index = 1;
  ae.prev_log_term = 1;
  c.handle(ae);
  c.take_ready();
  c.handle(vote_request{3, "3", 1, 1, false, false});
  auto v = sent<vote_response>(c.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].granted);
  BOOST_TEST(c.term() == 2u); // leader stickiness: not even the term moves
  // A transfer ordered by the leader overrides stickiness.
  c.handle(vote_request{3, "3", 1, 1, false, true});
  v = sent<vote_response>(c.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(v[0].granted);
}

/// A configuration entry at `index` without server 2: 1 and 3 voters.
log_entry two_removed(index_t index, term_t term) {
  configuration conf;
  conf.servers.push_back(server{suffrage::voter, "1", "a1"});
  conf.servers.push_back(server{suffrage::voter, "3", "a3"});
  auto e = entry(index, term);
  e.type = entry_type::configuration;
  e.data = encode(conf);
  return e;
}

/// The generation of the newest election timer `rd` arms.
uint64_t election_timer(const ready& rd) {
  uint64_t gen = 0;
  for (auto& t : rd.timers)
    if (t.kind == timer_kind::election)
      gen = t.generation;
  return gen;
}

BOOST_AUTO_TEST_CASE(a_removed_server_is_told_and_stops_campaigning) {
  // 3 committed the configuration (entry 2, term 2) that removed 2.
  auto voter = make_core("3", 2, {entry(1, 1), two_removed(2, 2)});
  append_request ae;
  ae.term = 2;
  ae.leader = "1";
  ae.prev_log_index = 2;
  ae.prev_log_term = 2;
  ae.leader_commit = 2;
  voter.handle(ae);
  voter.take_ready();
  voter.handle(vote_request{3, "2", 1, 1, false, false});
  auto v = sent<vote_response>(voter.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].granted);
  BOOST_TEST(v[0].removed);
  BOOST_TEST(v[0].commit_index == 2u);
  BOOST_TEST(v[0].commit_term == 2u);
  // A member is not told, however far behind.
  voter.handle(vote_request{3, "1", 1, 1, false, false});
  v = sent<vote_response>(voter.take_ready());
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(!v[0].removed);

  // 2's log ends before its removal (the leader stopped replicating to it
  // on appending entry 2): behind the commit point, it is removed.
  auto gone = make_core("2", 1, {entry(1, 1)});
  gone.on_timer(timer_kind::election, 1);
  auto rd = gone.take_ready();
  BOOST_REQUIRE(rd.new_campaign);
  gone.handle(vote_response{2, "3", false, false, true, 2, 2});
  BOOST_TEST(gone.removed());
  BOOST_TEST((gone.role() == role::follower));
  rd = gone.take_ready();
  for (int k = 0; k < 3; ++k) {
    gone.on_timer(timer_kind::election, election_timer(rd));
    rd = gone.take_ready();
    BOOST_TEST(!rd.new_campaign);
  }
  // A leader that adds it again is heard: it is a member once more.
  append_request back;
  back.term = 3;
  back.leader = "1";
  back.prev_log_index = 1;
  back.prev_log_term = 1;
  gone.handle(back);
  BOOST_TEST(!gone.removed());

  // 2 holds its removal but never heard it commit: the voter's commit
  // point, which 2's log holds, proves it.
  auto knows = make_core("2", 2, {entry(1, 1), two_removed(2, 2)});
  knows.handle(vote_response{3, "3", false, false, true, 2, 2});
  BOOST_TEST(knows.removed());

  // A configuration past the voter's commit point is not proven committed
  // (another leader may replace it): not removed.
  auto added = make_core("4", 2, {entry(1, 1), two_removed(2, 2),
                                  entry(3, 2)});
  added.handle(vote_response{3, "3", false, false, true, 1, 1});
  BOOST_TEST(!added.removed());
}

BOOST_AUTO_TEST_SUITE_END()
