#define BOOST_TEST_MODULE progress
#include <boost/test/unit_test.hpp>

#include "caf-raft/actors/protocol/progress.hpp"

// The leader's flow control for one follower (etcd-raft's Progress): probe
// until the logs match (§5.3), then pipeline within a window.

using namespace raft;

BOOST_AUTO_TEST_CASE(a_new_follower_is_probed_from_after_the_leaders_log) {
  progress pr{11};
  BOOST_TEST(pr.next_index == 11u);
  BOOST_TEST(!pr.replicating);
  BOOST_TEST(pr.may_probe(false));
  pr.probe_sent = true;
  BOOST_TEST(!pr.may_probe(false)); // one probe at a time
  BOOST_TEST(pr.may_probe(true));   // unless resent as lost
}

BOOST_AUTO_TEST_CASE(a_rejected_probe_walks_back_with_the_hint) {
  progress pr{11};
  pr.probe_sent = true;
  // The probe's previous entry was 10; the follower's log ends at 4.
  BOOST_TEST(pr.on_rejection(10, 4));
  BOOST_TEST(pr.next_index == 5u);
  BOOST_TEST(!pr.probe_sent);
  // A late answer to the first probe changes nothing.
  BOOST_TEST(!pr.on_rejection(10, 4));
  BOOST_TEST(pr.next_index == 5u);
}

BOOST_AUTO_TEST_CASE(a_match_turns_probing_into_pipelining) {
  progress pr{5};
  pr.probe_sent = true;
  pr.on_success(4);
  BOOST_TEST(pr.replicating);
  BOOST_TEST(pr.match_index == 4u);
  BOOST_TEST(pr.next_index == 5u);
  BOOST_TEST(!pr.may_probe(true)); // pipelining sends no probes
}

BOOST_AUTO_TEST_CASE(the_pipeline_window_is_bounded) {
  progress pr{1};
  pr.on_success(0);
  pr.on_sent(3);
  pr.on_sent(6);
  BOOST_TEST(pr.next_index == 7u);
  BOOST_TEST(pr.window_open(3));
  pr.on_sent(9);
  BOOST_TEST(!pr.window_open(3));
  // Acknowledging up to 6 frees two slots; the match never goes back.
  pr.on_success(6);
  BOOST_TEST(pr.inflight.size() == 1u);
  pr.on_success(3);
  BOOST_TEST(pr.match_index == 6u);
  BOOST_TEST(pr.next_index == 10u);
}

BOOST_AUTO_TEST_CASE(a_rejection_while_pipelining_falls_back_to_probing) {
  progress pr{1};
  pr.on_success(5);
  pr.on_sent(8);
  pr.on_sent(12);
  // A request older than the match was overtaken: nothing to do.
  BOOST_TEST(!pr.on_rejection(5, 3));
  BOOST_TEST(pr.replicating);
  // The request after 8 was rejected (the follower lost 9 and on).
  BOOST_TEST(pr.on_rejection(8, 20));
  BOOST_TEST(!pr.replicating);
  BOOST_TEST(pr.inflight.empty());
  BOOST_TEST(pr.next_index == 8u);
  // The hint never moves it to or below the match.
  progress low{1};
  low.on_success(5);
  low.on_sent(9);
  BOOST_TEST(low.on_rejection(9, 1));
  BOOST_TEST(low.next_index == 6u);
}

BOOST_AUTO_TEST_CASE(a_stalled_pipeline_probes_again_after_a_tick) {
  progress pr{1};
  pr.on_success(2);
  BOOST_TEST(!pr.on_tick()); // nothing outstanding: fine
  pr.on_sent(5);
  pr.on_success(3);
  BOOST_TEST(!pr.on_tick()); // the match moved since the last tick
  BOOST_TEST(pr.on_tick());  // a whole tick without progress: lost
  BOOST_TEST(!pr.replicating);
  BOOST_TEST(pr.next_index == 4u);
  // Probing: every tick resends the probe that may be lost.
  pr.probe_sent = true;
  BOOST_TEST(pr.on_tick());
  BOOST_TEST(!pr.probe_sent);
}

BOOST_AUTO_TEST_CASE(an_installed_snapshot_moves_the_match_and_probes_after_it) {
  progress pr{50};
  pr.on_snapshot(40);
  BOOST_TEST(pr.match_index == 40u);
  BOOST_TEST(pr.next_index == 41u);
  BOOST_TEST(pr.contacted);
  BOOST_TEST(!pr.replicating);
  // An older snapshot never moves the match back.
  pr.on_snapshot(30);
  BOOST_TEST(pr.match_index == 40u);
}
