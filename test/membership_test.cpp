#define BOOST_TEST_MODULE membership
#include "sim/cluster_fixture.hpp"

#include <algorithm>

// Membership changes (§6, one server at a time) and leadership transfer
// (thesis §3.10), deterministic under the test coordinator with the
// invariant checker running after every step.

using namespace raft;
using namespace raft::test;

namespace {

configuration_change change(change_kind kind, std::string id,
                            std::string address = {}, index_t prev = 0) {
  return configuration_change{kind, std::move(id), std::move(address), prev};
}

size_t leader_of(cluster& c) {
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  return static_cast<size_t>(c.leader());
}

/// Runs until the leader's configuration has `voters` voters, committed.
bool settled(cluster& c, size_t voters) {
  return c.run_until([&] {
    auto l = c.leader();
    if (l < 0)
      return false;
    auto core = c.core(l);
    return core->latest_configuration().voter_count() == voters
           && core->latest_configuration_index() <= core->commit_index();
  });
}

/// An observer that keeps every observation it gets in `into`.
caf::actor recorder(cluster& c,
                    std::shared_ptr<std::vector<observation>> into) {
  return c.sys.spawn([into](caf::event_based_actor*) -> caf::behavior {
    return {[into](const observation& o) { into->push_back(o); }};
  });
}

} // namespace

BOOST_AUTO_TEST_CASE(new_voter_catches_up_as_nonvoter_then_is_promoted) {
  cluster c{3, 21};
  for (int k = 0; k < 20; ++k)
    BOOST_REQUIRE(!c.apply("before-" + std::to_string(k)).err);
  auto l = leader_of(c);
  auto n = c.add_member("4");
  auto res = c.ask<index_t>(l, change_atom_v,
                            change(change_kind::add_voter, "4", "addr-4"));
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  // The first entry adds it as a non-voter: the quorum is still 2 of 3.
  BOOST_REQUIRE(settled(c, 4));
  auto& conf = c.core(c.leader())->latest_configuration();
  BOOST_TEST(conf.is_voter("4"));
  // It has the whole log and takes part in commits.
  BOOST_REQUIRE(!c.apply("after").err);
  BOOST_REQUIRE(c.run_until([&] { return c.nodes[n].fsm->logs().size() == 21; }));
  BOOST_TEST(text_of(c.nodes[n].fsm->logs().back()) == "after");
}

BOOST_AUTO_TEST_CASE(one_change_at_a_time_and_prev_index_checked) {
  cluster c{3, 22};
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  auto idx = c.core(l)->latest_configuration_index();
  // A stale prev index is refused with the reason.
  auto res = c.ask<index_t>(l, change_atom_v,
                            change(change_kind::add_nonvoter, "9", "addr-9",
                                   idx + 7));
  BOOST_TEST(!res);
  BOOST_TEST(is(c.last_error, errc::configuration_rejected));
  BOOST_TEST(describe(c.last_error).find("configuration changed since")
             != std::string::npos);
  // Two changes sent at once both succeed, in order: the second waits for
  // the first to commit (HashiCorp's queue; Juju's clusterer relies on it).
  // A third names the configuration the first one replaces: it is refused
  // when its turn comes.
  auto first = std::make_shared<std::optional<index_t>>();
  auto second = std::make_shared<std::optional<index_t>>();
  auto third_err = std::make_shared<caf::error>();
  auto node = c.nodes[l].handle;
  c.sys.spawn([=](caf::event_based_actor* self) {
    self->request(node, caf::infinite, change_atom_v,
                  change(change_kind::add_nonvoter, "8", "addr-8", idx))
      .then([=](index_t i) { *first = i; }, [](caf::error&) {});
    self->request(node, caf::infinite, change_atom_v,
                  change(change_kind::add_nonvoter, "7", "addr-7"))
      .then([=](index_t i) { *second = i; }, [](caf::error&) {});
    self->request(node, caf::infinite, change_atom_v,
                  change(change_kind::add_nonvoter, "6", "addr-6", idx))
      .then([](index_t) {}, [=](caf::error& e) { *third_err = e; });
  });
  BOOST_REQUIRE(c.run_until(
    [&] { return first->has_value() && second->has_value() && *third_err; }));
  BOOST_TEST(**second > **first);
  auto& conf = c.core(l)->latest_configuration();
  BOOST_TEST(conf.find("8") != nullptr);
  BOOST_TEST(conf.find("7") != nullptr);
  BOOST_TEST(conf.find("6") == nullptr);
  BOOST_TEST(describe(*third_err).find("configuration changed since")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(queued_changes_are_bounded) {
  cluster c{3, 24};
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  // One change in progress and 64 waiting; the next is refused at once.
  constexpr int n = 66;
  auto ok = std::make_shared<int>(0);
  auto refused = std::make_shared<std::vector<std::string>>();
  auto node = c.nodes[l].handle;
  c.sys.spawn([=](caf::event_based_actor* self) {
    for (int k = 0; k < n; ++k)
      self->request(node, caf::infinite, change_atom_v,
                    change(change_kind::add_nonvoter, "q" + std::to_string(k),
                           "addr-q" + std::to_string(k)))
        .then([=](index_t) { ++*ok; },
              [=](caf::error& e) { refused->push_back(describe(e)); });
  });
  BOOST_REQUIRE(c.run_until([&] { return *ok + refused->size() == n; }, 20000));
  BOOST_TEST(*ok == n - 1);
  BOOST_REQUIRE(refused->size() == 1u);
  BOOST_TEST(refused->front().find("64 changes already wait")
             != std::string::npos);
}

namespace {

/// The answers to two changes sent to a leader cut off from the others (so
/// the first cannot commit and the second waits behind it), followed by a
/// shutdown if `then_shutdown`.
struct two_queued_changes {
  caf::error first;
  caf::error second;
};

std::shared_ptr<two_queued_changes>
queue_two_changes_on_a_cut_off_leader(cluster& c, bool then_shutdown) {
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != l)
      rest.push_back(i);
  c.partition({{l}, rest});
  auto out = std::make_shared<two_queued_changes>();
  auto node = c.nodes[l].handle;
  c.sys.spawn([=](caf::event_based_actor* self) {
    self->request(node, caf::infinite, change_atom_v,
                  change(change_kind::add_nonvoter, "8", "addr-8"))
      .then([](index_t) {}, [=](caf::error& e) { out->first = e; });
    self->request(node, caf::infinite, change_atom_v,
                  change(change_kind::add_nonvoter, "7", "addr-7"))
      .then([](index_t) {}, [=](caf::error& e) { out->second = e; });
    if (then_shutdown)
      self->request(node, caf::infinite, shutdown_atom_v)
        .then([](bool) {}, [](caf::error&) {});
  });
  BOOST_REQUIRE(c.run_until([&] { return out->first && out->second; }));
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(queued_changes_fail_when_leadership_is_lost) {
  // Cut off from the others, the leader cannot commit its change; the one
  // queued behind it was never proposed, so it fails as not_leader (its
  // outcome is known: nothing happened), the first as leadership_lost.
  cluster c{3, 25};
  auto out = queue_two_changes_on_a_cut_off_leader(c, false);
  BOOST_TEST(is(out->first, errc::leadership_lost));
  BOOST_TEST(is(out->second, errc::not_leader));
}

BOOST_AUTO_TEST_CASE(queued_changes_fail_at_shutdown) {
  // A shutdown answers every waiting request, the queued changes too.
  cluster c{3, 26};
  auto out = queue_two_changes_on_a_cut_off_leader(c, true);
  BOOST_TEST(is(out->first, errc::raft_shutdown));
  BOOST_TEST(is(out->second, errc::raft_shutdown));
}

BOOST_AUTO_TEST_CASE(removed_leader_steps_down_and_cannot_disrupt) {
  cluster c{3, 23};
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  auto old_id = c.nodes[l].id;
  auto res = c.ask<index_t>(l, change_atom_v,
                            change(change_kind::remove_server, old_id));
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  // Once the removal commits, it is no leader; the other two elect one.
  BOOST_REQUIRE(c.run_until([&] {
    auto x = c.leader();
    return x >= 0 && static_cast<size_t>(x) != l;
  }));
  auto new_leader = static_cast<size_t>(c.leader());
  auto term = c.core(new_leader)->term();
  // The removed server keeps running; it must not depose the new leader.
  c.run_for(std::chrono::seconds{2});
  BOOST_TEST(c.leader() == static_cast<int>(new_leader));
  BOOST_TEST(c.core(new_leader)->term() == term);
  BOOST_TEST(!c.core(new_leader)->latest_configuration().find(old_id));
  BOOST_REQUIRE(!c.apply("after removal").err);
}

BOOST_AUTO_TEST_CASE(removed_follower_learns_it_was_removed) {
  // The leader stops replicating to a server once it appends the
  // configuration that drops it (§6), so the server never sees its removal.
  // Its first campaign tells it (vote_response.removed); then it waits,
  // quiet, and its stats say so.
  cluster c{3, 28};
  auto l = leader_of(c);
  auto gone = (l + 1) % 3;
  auto gone_id = c.nodes[gone].id;
  BOOST_REQUIRE(c.ask<index_t>(l, change_atom_v,
                               change(change_kind::remove_server, gone_id)));
  BOOST_REQUIRE(settled(c, 2));
  BOOST_REQUIRE(c.run_until([&] { return c.core(gone)->removed(); }));
  auto term = c.core(gone)->term();
  c.run_for(std::chrono::seconds{10});
  BOOST_TEST(c.core(gone)->removed());
  BOOST_TEST(c.core(gone)->term() <= term + 1); // no more campaigns
  auto stats = c.ask<stats_map>(gone, stats_atom_v);
  BOOST_REQUIRE(stats);
  BOOST_TEST(std::get<0>(*stats).at("removed") == "true");
  BOOST_REQUIRE(!c.apply("after removal").err);
}

BOOST_AUTO_TEST_CASE(leader_removed_by_an_uncommitted_entry_still_leads) {
  // Found by the seeded scenarios (seed 2238): a leader appends its own
  // removal, loses leadership before the entry commits, and holds the only
  // log that can win. If it refused to campaign because its latest
  // configuration drops it, the other voter could never win either (its
  // log is behind), and the cluster would stall for good. §6: the old
  // leader manages the cluster until the new configuration commits.
  cluster c{2, 27};
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  auto other = 1 - l;
  auto removed_id = c.nodes[l].id;
  c.partition({{l}, {other}});
  auto res = c.change_async(l, change(change_kind::remove_server, removed_id));
  // Cut off from its only peer, the leader's lease runs out.
  BOOST_REQUIRE(c.run_until([&] {
    return c.core(l)->role() != role::leader;
  }));
  BOOST_TEST(!c.core(l)->latest_configuration().is_voter(removed_id));
  BOOST_TEST(c.core(l)->last_index() > c.core(other)->last_index());
  c.heal();
  // The removed server wins once more (counting only the other's vote),
  // commits its removal and steps down; the other then leads alone.
  BOOST_REQUIRE(c.run_until([&] {
    auto x = c.leader();
    return x == static_cast<int>(other)
           && c.core(other)->latest_configuration().voter_count() == 1u
           && c.core(other)->latest_configuration_index()
                <= c.core(other)->commit_index();
  }));
  BOOST_REQUIRE(!c.apply("after").err);
}

BOOST_AUTO_TEST_CASE(demoted_voter_stops_counting) {
  cluster c{3, 24};
  auto l = leader_of(c);
  auto other = (l + 1) % 3;
  auto res = c.ask<index_t>(l, change_atom_v,
                            change(change_kind::demote_voter,
                                   c.nodes[other].id));
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  BOOST_REQUIRE(settled(c, 2));
  // Now the two voters must both be up: stop the remaining voter follower
  // and nothing commits even though the non-voter is up.
  size_t voter = 3;
  for (size_t i = 0; i < 3; ++i)
    if (i != l && i != other)
      voter = i;
  c.crash(voter);
  auto out = c.apply_async(l, "needs two voters");
  c.run_for(std::chrono::milliseconds{500});
  // Not acknowledged: either still pending or failed once the leader's
  // lease ran out (it hears only the non-voter, which does not count).
  BOOST_TEST((!out->done || out->err));
  BOOST_TEST(c.core(l)->role() != role::leader);
}

BOOST_AUTO_TEST_CASE(leadership_transfer_to_named_voter) {
  cluster c{3, 25};
  auto l = leader_of(c);
  for (int k = 0; k < 10; ++k)
    BOOST_REQUIRE(!c.apply("x" + std::to_string(k)).err);
  auto target = (l + 2) % 3;
  auto moved = c.ask<bool>(l, transfer_atom_v, c.nodes[target].id);
  BOOST_REQUIRE_MESSAGE(moved, describe(c.last_error));
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  BOOST_TEST(c.leader() == static_cast<int>(target));
  BOOST_REQUIRE(!c.apply("after transfer").err);
}

BOOST_AUTO_TEST_CASE(leadership_transfer_to_most_up_to_date) {
  cluster c{5, 26};
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  auto moved = c.ask<bool>(l, transfer_atom_v, std::string{});
  BOOST_REQUIRE_MESSAGE(moved, describe(c.last_error));
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  BOOST_TEST(c.leader() != static_cast<int>(l));
}

BOOST_AUTO_TEST_CASE(applies_refused_during_transfer_and_failure_is_clean) {
  cluster c{3, 27};
  auto l = leader_of(c);
  BOOST_REQUIRE(!c.apply("x").err);
  auto target = (l + 1) % 3;
  // The target is cut off: the transfer cannot complete.
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != target)
      rest.push_back(i);
  c.partition({{target}, rest});
  auto moved = std::make_shared<outcome>();
  auto node = c.nodes[l].handle;
  auto target_id = c.nodes[target].id;
  c.sys.spawn([=](caf::event_based_actor* self) {
    self->request(node, caf::infinite, transfer_atom_v, target_id)
      .then([=](bool) { moved->done = true; },
            [=](caf::error& e) {
              moved->done = true;
              moved->err = e;
            });
  });
  c.run_jobs();
  // While it runs, applies are refused.
  auto during = c.apply_async(l, "during");
  c.run_jobs();
  BOOST_REQUIRE(during->done);
  BOOST_TEST(is(during->err, errc::leadership_transfer_in_progress));
  // After an election timeout it fails, and the leader works again.
  BOOST_REQUIRE(c.run_until([&] { return moved->done; }));
  BOOST_TEST(is(moved->err, errc::timeout));
  BOOST_TEST(c.leader() == static_cast<int>(l));
  auto after = c.apply_async(l, "after");
  BOOST_REQUIRE(c.run_until([&] { return after->done; }));
  BOOST_TEST(!after->err);
}

BOOST_AUTO_TEST_CASE(transfer_and_leader_removal_under_load) {
  cluster c{3, 29};
  auto l = leader_of(c);
  std::vector<std::shared_ptr<outcome>> outs;
  auto load = [&](size_t at, const std::string& tag, int n) {
    for (int k = 0; k < n; ++k)
      outs.push_back(c.apply_async(at, tag + std::to_string(k)));
  };
  // Applies in flight while leadership moves: each either commits or is
  // refused (transfer in progress, not leader, leadership lost); none is
  // lost once acknowledged (the checker runs after every step).
  load(l, "before-transfer-", 30);
  auto target = (l + 1) % 3;
  auto moved = c.ask<bool>(l, transfer_atom_v, c.nodes[target].id);
  BOOST_REQUIRE_MESSAGE(moved, describe(c.last_error));
  BOOST_REQUIRE(c.run_until([&] { return c.leader() == int(target); }));
  load(target, "after-transfer-", 30);
  // Now the new leader removes itself under load.
  auto removed = c.nodes[target].id;
  auto res = c.change_async(target, change(change_kind::remove_server,
                                           removed));
  load(target, "during-removal-", 30);
  BOOST_REQUIRE(c.run_until([&] {
    auto x = c.leader();
    return res->done && x >= 0 && static_cast<size_t>(x) != target;
  }));
  BOOST_REQUIRE_MESSAGE(!res->err, describe(res->err));
  BOOST_REQUIRE(!c.apply("final").err);
  BOOST_REQUIRE(c.run_until([&] {
    for (auto& o : outs)
      if (!o->done)
        return false;
    return true;
  }));
  size_t acked = 0;
  for (auto& o : outs) {
    if (!o->err) {
      ++acked;
      continue;
    }
    // Refusals say why, with the codes a client retries on.
    BOOST_TEST((is(o->err, errc::leadership_transfer_in_progress)
                || is(o->err, errc::not_leader)
                || is(o->err, errc::leadership_lost)),
               describe(o->err));
  }
  BOOST_TEST_MESSAGE(acked << " of " << outs.size() << " applies acknowledged");
  BOOST_TEST(acked > 0u);
  // Both remaining servers hold every acknowledged apply.
  auto l2 = static_cast<size_t>(c.leader());
  BOOST_REQUIRE(c.run_until([&] {
    for (size_t i = 0; i < 3; ++i)
      if (i != target
          && c.nodes[i].fsm->logs() != c.nodes[l2].fsm->logs())
        return false;
    return true;
  }));
  auto logs = c.nodes[l2].fsm->logs();
  for (auto& [idx, data] : c.acknowledged)
    BOOST_TEST((std::find(logs.begin(), logs.end(), data) != logs.end()),
               "acknowledged " << text_of(data) << " missing");
  c.check_fsms();
}

BOOST_AUTO_TEST_CASE(removing_or_demoting_a_stranger_changes_nothing_and_succeeds) {
  // HashiCorp's RemoveServer and DemoteVoter of an id that is not a member
  // leave the configuration as it is and succeed, so a removal whose first
  // answer was lost can be retried (issue 18).
  cluster c{3, 27};
  auto l = leader_of(c);
  auto before = c.core(l)->latest_configuration();
  for (auto kind : {change_kind::remove_server, change_kind::demote_voter}) {
    auto res = c.ask<index_t>(l, change_atom_v, change(kind, "42"));
    BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
    BOOST_TEST(std::get<0>(*res) > 0u);
    BOOST_REQUIRE(settled(c, 3));
    BOOST_TEST(c.core(l)->latest_configuration().servers.size()
               == before.servers.size());
  }
  // A retried removal of a server already removed succeeds too.
  auto other = c.nodes[(l + 1) % 3].id;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto res = c.ask<index_t>(l, change_atom_v,
                              change(change_kind::remove_server, other));
    BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
    BOOST_REQUIRE(settled(c, 2));
  }
}

BOOST_AUTO_TEST_CASE(observers_filter_what_they_hear_and_deregister) {
  // HashiCorp's RegisterObserver with a filter, and DeregisterObserver (a
  // filter of 0 here): peer changes and vote requests, or only the state.
  cluster c{3, 29};
  auto l = leader_of(c);
  auto other = (l + 1) % 3;
  auto all = std::make_shared<std::vector<observation>>();
  auto peers_only = std::make_shared<std::vector<observation>>();
  auto everything = recorder(c, all);
  auto peers = recorder(c, peers_only);
  caf::anon_send(c.nodes[other].handle, observe_atom_v, everything,
                 uint8_t{observe_all});
  caf::anon_send(c.nodes[l].handle, observe_atom_v, peers,
                 uint8_t{observe_peer});
  c.run_jobs();
  // A server joins: both hear it, the peer-only observer nothing else.
  auto n = c.add_member("4");
  BOOST_REQUIRE(c.ask<index_t>(l, change_atom_v,
                               change(change_kind::add_voter, "4", "addr-4")));
  BOOST_REQUIRE(settled(c, 4));
  auto joined = [](const std::vector<observation>& xs) {
    return std::count_if(xs.begin(), xs.end(), [](const observation& o) {
      return o.kind == observe_peer && o.peer == "4" && !o.removed;
    });
  };
  BOOST_TEST(joined(*all) == 1);
  BOOST_TEST(joined(*peers_only) == 1);
  for (auto& o : *peers_only)
    BOOST_TEST(o.kind == observe_peer);
  // An election: the observer of all hears the vote requests.
  BOOST_REQUIRE(c.ask<bool>(l, transfer_atom_v, std::string{}));
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  c.run_for(std::chrono::seconds{1});
  BOOST_TEST(std::count_if(all->begin(), all->end(), [](const observation& o) {
               return o.kind == observe_vote_request && !o.peer.empty();
             })
             >= 1);
  // Deregistered, it hears nothing more; the server leaving is not seen.
  caf::anon_send(c.nodes[other].handle, observe_atom_v, everything,
                 uint8_t{0});
  c.run_jobs();
  auto before = all->size();
  auto leader = static_cast<size_t>(c.leader());
  BOOST_REQUIRE(c.ask<index_t>(leader, change_atom_v,
                               change(change_kind::remove_server,
                                      c.nodes[n].id)));
  c.run_for(std::chrono::seconds{1});
  BOOST_TEST(all->size() == before);
}

BOOST_AUTO_TEST_CASE(observers_hear_failed_and_resumed_heartbeats) {
  // HashiCorp's FailedHeartbeatObservation and ResumedHeartbeatObservation:
  // the leader says once that a follower went silent for a lease period,
  // and how long ago it last answered, and once that it answers again.
  cluster c{3, 31};
  auto l = leader_of(c);
  auto silent = (l + 1) % 3;
  auto heard = std::make_shared<std::vector<observation>>();
  auto state_only = std::make_shared<std::vector<observation>>();
  caf::anon_send(c.nodes[l].handle, observe_atom_v, recorder(c, heard),
                 uint8_t{observe_heartbeat});
  caf::anon_send(c.nodes[l].handle, observe_atom_v, recorder(c, state_only),
                 uint8_t{observe_state});
  c.run_for(std::chrono::seconds{1});
  BOOST_TEST(heard->empty()); // every follower answers
  // The follower's answers are lost: the leader keeps its quorum with the
  // other one and reports the silent one, once.
  c.cut(silent, l);
  c.run_for(std::chrono::seconds{2});
  BOOST_REQUIRE(c.leader() == static_cast<int>(l));
  BOOST_REQUIRE(heard->size() == 1u);
  auto& failed = heard->front();
  BOOST_TEST(failed.kind == observe_heartbeat);
  BOOST_TEST(failed.peer == c.nodes[silent].id);
  BOOST_TEST(failed.failed);
  BOOST_TEST(failed.server == c.nodes[l].id);
  // Silent for a whole lease period (100 ms here), at most two.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              failed.last_contact)
              .count();
  BOOST_TEST(ms >= 100);
  BOOST_TEST(ms <= 250);
  // An observer registered while the follower is silent hears it at once.
  auto late = std::make_shared<std::vector<observation>>();
  caf::anon_send(c.nodes[l].handle, observe_atom_v, recorder(c, late),
                 uint8_t{observe_heartbeat});
  c.run_jobs();
  BOOST_REQUIRE(late->size() == 1u);
  BOOST_TEST(late->front().failed);
  BOOST_TEST(late->front().peer == c.nodes[silent].id);
  c.heal();
  c.run_for(std::chrono::seconds{1});
  BOOST_REQUIRE(heard->size() == 2u);
  BOOST_TEST(heard->back().peer == c.nodes[silent].id);
  BOOST_TEST(!heard->back().failed);
  BOOST_TEST(!state_only->empty()); // it learned the state at once
  for (auto& o : *state_only)
    BOOST_TEST(o.kind == observe_state);
}

BOOST_AUTO_TEST_CASE(late_observers_learn_the_state_and_subscribers_hear_leadership) {
  // HashiCorp's LeaderCh delivers every gain and loss of leadership, and
  // an observer registered late still learns the current state (issue 18).
  cluster c{3, 28};
  auto l = leader_of(c);
  for (int k = 0; k < 5; ++k)
    BOOST_REQUIRE(!c.apply("x" + std::to_string(k)).err);
  auto seen = std::make_shared<std::vector<observation>>();
  auto leadership = std::make_shared<std::vector<std::pair<bool, term_t>>>();
  auto observer = c.sys.spawn([=](caf::event_based_actor*) -> caf::behavior {
    return {
      [=](const observation& o) { seen->push_back(o); },
      [=](leader_atom, bool leader, term_t term) {
        leadership->emplace_back(leader, term);
      },
    };
  });
  auto handle = c.nodes[l].handle;
  caf::anon_send(handle, observe_atom_v, observer);
  caf::anon_send(handle, observe_atom_v, leader_atom_v, observer);
  c.run_jobs();
  BOOST_REQUIRE_EQUAL(seen->size(), 1u);
  BOOST_TEST(seen->front().role == role::leader);
  BOOST_TEST(seen->front().leader == c.nodes[l].id);
  BOOST_REQUIRE_EQUAL(leadership->size(), 1u);
  auto term = c.core(l)->term();
  BOOST_TEST(leadership->front().first);
  BOOST_TEST(leadership->front().second == term);
  // Leadership moves away: the subscriber hears the loss.
  auto res = c.ask<bool>(l, transfer_atom_v, std::string{});
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  BOOST_REQUIRE(c.run_until([&] { return leadership->size() >= 2; }));
  BOOST_TEST(leadership->back().first == false);
  BOOST_TEST(seen->back().role == role::follower);
  caf::anon_send_exit(observer, caf::exit_reason::user_shutdown);
}
