#define BOOST_TEST_MODULE consensus
#include "sim/cluster_fixture.hpp"

using namespace raft;
using namespace raft::test;

BOOST_AUTO_TEST_CASE(three_nodes_elect_one_leader_and_commit) {
  cluster c{3};
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  auto res = c.apply("hello");
  BOOST_REQUIRE_MESSAGE(!res.err, describe(res.err));
  // Index 1 is the bootstrap configuration, 2 the leader's no-op.
  BOOST_TEST(res.index == 3u);
  BOOST_TEST(res.response.get_as<int64_t>(0) == 1);
  // Every follower applies it too.
  BOOST_REQUIRE(c.run_until([&] {
    for (auto& m : c.nodes)
      if (m.fsm->logs().size() != 1)
        return false;
    return true;
  }));
}

BOOST_AUTO_TEST_CASE(a_stale_replication_report_is_dropped) {
  // Fencing (DESIGN.md §4): a replicator reports with its term and the
  // epoch the node gave it; the node drops a report of another term, or of
  // a replicator it no longer runs for that follower. (A report that lied
  // about the match index would also trip the simulator's audit of the
  // leader's rules, so the accepted report below moves only the round.)
  cluster c{3, 52};
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  auto l = static_cast<size_t>(c.leader());
  auto f = (l + 1) % 3;
  auto& fid = c.nodes[f].id;
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != f)
      rest.push_back(i);
  c.partition({{f}, rest});
  BOOST_REQUIRE(!c.apply("f misses this").err);
  auto& core = *c.core(l);
  auto term = core.term();
  auto match = core.followers().at(fid).match_index;
  auto last = core.last_index();
  BOOST_REQUIRE(match < last);
  auto epoch = c.nodes[l].probe->replicator_epochs.at(fid);
  BOOST_REQUIRE(epoch > 0);
  auto node = caf::actor_cast<node_internal_actor>(c.nodes[l].handle);
  // An earlier replicator of the same follower, and an earlier term.
  caf::anon_send(node, replication_report{fid, term, epoch - 1, last, 99});
  caf::anon_send(node, replication_report{fid, term - 1, epoch, last, 99});
  c.run_jobs();
  BOOST_TEST(core.followers().at(fid).match_index == match);
  BOOST_TEST(core.followers().at(fid).acked_round < 99u);
  // The current replicator's report is taken.
  caf::anon_send(node, replication_report{fid, term, epoch, match, 99});
  c.run_jobs();
  BOOST_TEST(core.followers().at(fid).acked_round == 99u);
}

BOOST_AUTO_TEST_CASE(a_report_of_an_earlier_campaign_is_dropped) {
  // Fencing (DESIGN.md §4): an election actor reports with the epoch of its
  // campaign; the node drops the report of any campaign but its current one,
  // even when term and phase still match (the core's own check).
  cluster c{3, 51};
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  auto x = (static_cast<size_t>(c.leader()) + 1) % 3;
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != x)
      rest.push_back(i);
  c.partition({{x}, rest});
  // Alone, x campaigns (pre-vote first) and never hears an answer.
  BOOST_REQUIRE(c.run_until([&] { return c.core(x)->role() == role::candidate; }));
  auto& probe = *c.nodes[x].probe;
  auto term = c.core(x)->term();
  auto epoch = probe.campaign_epoch;
  BOOST_REQUIRE(epoch > 0);
  auto node = caf::actor_cast<node_internal_actor>(c.nodes[x].handle);
  caf::anon_send(node, election_atom_v, term + 1, true, epoch - 1, true);
  c.run_jobs();
  BOOST_TEST(c.core(x)->term() == term); // still asking for pre-votes
  BOOST_TEST((c.core(x)->role() == role::candidate));
  // The same report with the current epoch moves it to the vote phase.
  caf::anon_send(node, election_atom_v, term + 1, true, epoch, true);
  c.run_jobs();
  BOOST_TEST(c.core(x)->term() == term + 1);
  BOOST_TEST(c.core(x)->voted_for() == c.nodes[x].id);
}
