#define BOOST_TEST_MODULE commit_trace
#include "sim/cluster_fixture.hpp"

#include "caf-raft/actors/commit_trace.hpp"

// raft-bench -stages (issue 20) reads where a commit's time goes from the
// commit trace: every stage point must record the entry, in the order a
// commit passes them (§5.3), or the breakdown silently lies. The simulated
// cluster runs in one process, so one trace holds every server's records.

using namespace raft;
using namespace raft::test;
using commit_trace::stage;

namespace {

/// The first record of `what` that covers entry `i` (a match index
/// covers every entry up to it), or nullptr.
const commit_trace::record* first_of(const std::vector<commit_trace::record>& rs,
                                     stage what, index_t i) {
  bool high_water = what == stage::answered || what == stage::acknowledged;
  for (auto& r : rs)
    if (r.what == what
        && (high_water ? r.last >= i : (r.first <= i && i <= r.last)))
      return &r;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_commit_passes_every_stage_in_order) {
  cluster c{3, 17};
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  BOOST_REQUIRE(!c.apply("warm").err);
  commit_trace::enable(true);
  auto res = c.apply("traced");
  auto records = commit_trace::take();
  commit_trace::enable(false);
  BOOST_REQUIRE(!res.err);
  auto i = res.index;
  // The node's stages, in the order one commit passes them; requested and
  // done belong to raft-bench's load generator.
  std::vector<stage> path{stage::proposed, stage::sent,       stage::received,
                          stage::persisted, stage::answered,
                          stage::acknowledged, stage::committed,
                          stage::applied};
  const commit_trace::record* prev = nullptr;
  for (auto s : path) {
    auto r = first_of(records, s, i);
    BOOST_TEST_INFO("stage " << commit_trace::to_string(s));
    BOOST_REQUIRE(r != nullptr);
    if (prev != nullptr)
      BOOST_TEST(r->ns >= prev->ns);
    prev = r;
  }
  // Off, nothing is recorded.
  BOOST_REQUIRE(!c.apply("untraced").err);
  BOOST_TEST(commit_trace::take().empty());
}
