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
