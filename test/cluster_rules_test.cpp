#define BOOST_TEST_MODULE cluster_rules
#include "sim/cluster_fixture.hpp"

// Raft rules that need a cluster: leases, pre-vote against a disruptive
// rejoin, requests answered only for their own entry, split votes.

using namespace raft;
using namespace raft::test;

BOOST_AUTO_TEST_SUITE(cluster_rules)

BOOST_AUTO_TEST_CASE(leader_lease_step_down) {
  cluster c{3, 7};
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  auto old = static_cast<size_t>(c.leader());
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != old)
      rest.push_back(i);
  c.partition({{old}, rest});
  // The isolated leader cannot reach a quorum and steps down by itself.
  BOOST_REQUIRE(c.run_until([&] { return c.core(old)->role() != role::leader; }));
  BOOST_TEST(c.core(old)->lease_step_downs() >= 1u);
  // The majority side elects a new leader in a later term.
  BOOST_REQUIRE(c.run_until([&] {
    auto l = c.leader();
    return l >= 0 && static_cast<size_t>(l) != old;
  }));
}

namespace {

/// Isolates a follower for a long time, heals, and returns whether the
/// leader that was in charge before is still in charge in the same term.
bool leader_survives_rejoin(bool pre_vote) {
  auto tweak = pre_vote ? nullptr : +[](raft_config& s) {
    s.pre_vote_disabled = true;
  };
  cluster c{3, 11, tweak};
  if (!c.run_until([&] { return c.has_leader(); }))
    return false;
  auto l = static_cast<size_t>(c.leader());
  auto term = c.core(l)->term();
  auto f = (l + 1) % 3;
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != f)
      rest.push_back(i);
  c.partition({{f}, rest});
  // Many election timeouts pass on the isolated follower.
  c.run_for(std::chrono::seconds{2});
  c.heal();
  c.run_for(std::chrono::seconds{2});
  return c.leader() == static_cast<int>(l) && c.core(l)->term() == term;
}

} // namespace

BOOST_AUTO_TEST_CASE(pre_vote_stops_a_disruptive_rejoin) {
  // Thesis §9.6: with pre-vote the rejoining server cannot win a pre-vote
  // (the others hear a leader) so its term never rises and the leader stays.
  BOOST_TEST(leader_survives_rejoin(true));
  // Without pre-vote its term runs ahead and its return deposes the leader:
  // this shows the test above would catch pre-vote being broken.
  BOOST_TEST(!leader_survives_rejoin(false));
}

namespace {

/// A leader of term T proposes an entry at index N (an apply or a barrier,
/// as `propose` chooses) that never leaves it; then one AppendEntries of
/// term T+1 deposes it, replaces N with the new leader's no-op and commits
/// N, all in one message (the interleaving of issue 21, seeds 20360 and
/// 31174). Returns the request's outcome once the no-op is applied.
outcome deposed_with_entry_in_flight(
  std::function<std::shared_ptr<outcome>(cluster&, size_t)> propose) {
  cluster c{3, 5};
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  auto l = static_cast<size_t>(c.leader());
  auto first = c.apply("committed");
  BOOST_REQUIRE(!first.err);
  BOOST_REQUIRE(c.run_until([&] {
    return c.core(l)->commit_index() == c.core(l)->last_index();
  }));
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != l)
      rest.push_back(i);
  c.partition({{l}, rest});
  auto term = c.core(l)->term();
  auto prev = c.core(l)->last_index();
  auto res = propose(c, l);
  c.run_jobs(); // No timer fires: the leader's lease still holds.
  BOOST_REQUIRE(c.core(l)->role() == role::leader);
  BOOST_REQUIRE(c.core(l)->last_index() == prev + 1);
  BOOST_REQUIRE(!res->done);
  append_request req;
  req.term = term + 1;
  req.leader = c.nodes[rest[0]].id;
  req.prev_log_index = prev;
  req.prev_log_term = term;
  log_entry noop;
  noop.index = prev + 1;
  noop.term = term + 1;
  noop.type = entry_type::noop;
  req.entries.push_back(noop);
  req.leader_commit = prev + 1;
  caf::anon_send(c.nodes[l].handle, std::move(req));
  BOOST_REQUIRE(c.run_until([&] { return res->done; }, 10));
  BOOST_TEST(c.core(l)->role() == role::follower);
  BOOST_TEST(c.core(l)->commit_index() == prev + 1);
  BOOST_TEST(c.nodes[l].probe->applied == prev + 1);
  return *res;
}

} // namespace

BOOST_AUTO_TEST_CASE(requests_answered_only_for_their_own_entry) {
  // §5.3 and §5.4: an entry is named by index and term. A request whose
  // index committed with another leader's entry did not take effect and
  // must fail (HashiCorp: ErrLeadershipLost), never succeed.
  auto applied = deposed_with_entry_in_flight([](cluster& c, size_t l) {
    return c.apply_async(l, "never committed");
  });
  BOOST_TEST(is(applied.err, errc::leadership_lost), describe(applied.err));
  auto barrier = deposed_with_entry_in_flight([](cluster& c, size_t l) {
    auto res = std::make_shared<outcome>();
    auto node = c.nodes[l].handle;
    c.sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, barrier_atom_v)
        .then([=](index_t idx) { res->done = true; res->index = idx; },
              [=](caf::error& err) {
                res->done = true;
                res->err = std::move(err);
              });
    });
    return res;
  });
  BOOST_TEST(is(barrier.err, errc::leadership_lost), describe(barrier.err));
}

BOOST_AUTO_TEST_CASE(election_safety_under_split_votes) {
  // Five nodes, messages delayed and reordered: many contested elections,
  // the checker asserts one leader per term throughout.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    cluster c{5, seed};
    c.faults(fault_settings{0.1, 0.1, 0.5, std::chrono::milliseconds{150}});
    c.run_for(std::chrono::seconds{1});
    BOOST_TEST_CONTEXT("seed " << seed) {
      BOOST_TEST(c.leaders.size() >= 1u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
