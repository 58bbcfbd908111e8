#define BOOST_TEST_MODULE scenarios
#include "cluster_fixture.hpp"

#include <cstdlib>
#include <iostream>

// Seeded fault scenarios on 3 and 5 nodes: message drops, duplicates,
// delays (reordering), partitions, crashes and restarts with the store kept,
// and concurrent applies, with the invariant checker after every step. At
// the end the faults stop and the cluster must converge: one leader, a new
// apply commits, every state machine holds the same entries, and every
// acknowledged apply is in them at the index it was acknowledged with.
//
// A failure names its seed; replay it alone with RAFT_SEED=<seed>.
// RAFT_SEEDS=<n> changes how many seeds run (default 500).

using namespace raft;
using namespace raft::test;

namespace {

void snapshot_often(raft_config& s) {
  s.snapshot_threshold = 5;
  s.snapshot_interval = std::chrono::milliseconds{150};
  s.trailing_logs = 2;
  s.snapshot_chunk_size = 7;
}

struct scenario_result {
  size_t acknowledged = 0;
  size_t crashes = 0;
  size_t partitions = 0;
  size_t steps = 0;
  size_t terms = 0;
  size_t snapshots = 0;
  size_t installs = 0;
  size_t changes = 0;
  size_t crashes_in_flight = 0;
  size_t one_way_faults = 0;
};

/// What a scenario may inject. Regression seeds replay the generator of
/// their time: each new kind of fault draws from the seeded generator and
/// so changes every later choice.
struct scenario_kinds {
  /// Crashes between two jobs, with writes and answers in flight.
  bool crashes_in_flight = true;
  /// Links cut one way only, and slow links, beside partitions.
  bool one_way_links = true;
};

scenario_result run_scenario(uint64_t seed, scenario_kinds kinds = {}) {
  std::mt19937_64 rng{seed};
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(rng);
  };
  size_t n = seed % 2 == 0 ? 3 : 5;
  // Every fourth seed runs without pre-vote, so the real vote's rules are
  // exercised on their own (pre-vote re-checks the log and would mask them).
  // Every third seed snapshots every few entries, keeps almost no trailing
  // log and sends snapshots in tiny chunks, so compaction, InstallSnapshot
  // (lost, duplicated, reordered and interrupted chunks) and restarts from
  // a snapshot run under the same faults.
  using tweak_fn = void (*)(raft_config&);
  tweak_fn tweaks[] = {
    nullptr,
    +[](raft_config& s) { s.pre_vote_disabled = true; },
    +[](raft_config& s) { snapshot_often(s); },
    +[](raft_config& s) {
      s.pre_vote_disabled = true;
      snapshot_often(s);
    },
  };
  auto tweak = tweaks[(seed % 4 == 1 ? 1 : 0) + (seed % 3 == 0 ? 2 : 0)];
  cluster c{n, seed, tweak};
  bool with_membership = seed % 5 == 3;
  scenario_result res;
  fault_settings f;
  f.drop = 0.02 * static_cast<double>(pick(4));
  f.duplicate = 0.03 * static_cast<double>(pick(3));
  f.delay = 0.1 * static_cast<double>(pick(4));
  f.max_delay = std::chrono::milliseconds{20 + pick(100)};
  c.faults(f);
  size_t down = 0;
  uint64_t counter = 0;
  for (int round = 0; round < 40; ++round) {
    switch (pick(12)) {
      case 0: {
        // Crash a node, keeping a majority up so progress stays possible.
        if (down + 1 <= (n - 1) / 2) {
          auto i = pick(n);
          if (c.nodes[i].up) {
            // Now, or between two jobs of the coming steps: with a write,
            // a vote or an acknowledgement in flight.
            if (!kinds.crashes_in_flight || pick(2) == 0)
              c.crash(i);
            else
              c.crash_after_jobs(i, 1 + pick(60));
            ++down;
            ++res.crashes;
          }
        }
        break;
      }
      case 1:
        for (size_t i = 0; i < n; ++i)
          if (!c.nodes[i].up) {
            c.start(i);
            --down;
            break;
          }
        break;
      case 2: {
        if (kinds.one_way_links && pick(3) == 0) {
          // One way only: i hears j, j never hears i (or slowly).
          auto i = pick(n);
          auto j = (i + 1 + pick(n - 1)) % n;
          if (pick(2) == 0)
            c.cut(i, j);
          else
            c.slow(i, j, std::chrono::milliseconds{50 + pick(400)});
          ++res.one_way_faults;
          break;
        }
        std::vector<size_t> a;
        std::vector<size_t> b;
        for (size_t i = 0; i < n; ++i)
          (pick(2) == 0 ? a : b).push_back(i);
        c.partition({a, b});
        ++res.partitions;
        break;
      }
      case 3:
        c.heal();
        break;
      case 4: {
        // Membership under faults (every fifth seed): remove a voter (the
        // leader itself at times; a removed server keeps running and must
        // not disrupt), or give a server outside the configuration a wiped
        // disk and add it back.
        auto l = c.leader();
        if (!with_membership || l < 0)
          break;
        auto core = c.core(static_cast<size_t>(l));
        auto& conf = core->latest_configuration();
        auto& committed = core->committed_configuration();
        std::vector<size_t> members;
        std::vector<size_t> outside;
        for (size_t i = 0; i < n; ++i) {
          auto& id = c.nodes[i].id;
          if (conf.find(id) != nullptr)
            members.push_back(i);
          else if (committed.find(id) == nullptr)
            outside.push_back(i);
          // A removal not yet committed may still be undone by the next
          // leader: wiping that server would break Raft's durability
          // assumption for a voter, not test the implementation.
        }
        if (!outside.empty() && (pick(2) == 0 || members.size() <= 3)) {
          auto i = outside[pick(outside.size())];
          c.wipe(i);
          // Let the old incarnation's delayed messages drain first: a late
          // acknowledgement from the server's previous disk would claim a
          // match the new one lacks (Raft, like HashiCorp, has no notion of
          // a server incarnation; an operator waits before re-adding).
          // Slow links (up to 450 ms) hold old messages longer.
          auto until = c.now() + f.max_delay + std::chrono::milliseconds{1}
                       + (kinds.one_way_links ? std::chrono::milliseconds{500}
                                              : std::chrono::milliseconds{0});
          c.run_until([&] { return c.now() >= until; });
          c.start(i);
          c.change_async(static_cast<size_t>(l),
                         configuration_change{change_kind::add_voter,
                                              c.nodes[i].id,
                                              "addr-" + c.nodes[i].id, 0});
          ++res.changes;
        } else if (members.size() > 3 || (n == 3 && members.size() == 3)) {
          auto i = members[pick(members.size())];
          c.change_async(static_cast<size_t>(l),
                         configuration_change{change_kind::remove_server,
                                              c.nodes[i].id, "", 0});
          ++res.changes;
        }
        break;
      }
      default: {
        // A few clients at once on random live nodes (non-leaders refuse).
        auto k = 1 + pick(4);
        for (size_t j = 0; j < k; ++j) {
          auto i = pick(n);
          if (c.nodes[i].up)
            c.apply_async(i, "s" + std::to_string(seed) + "-"
                               + std::to_string(++counter));
        }
      }
    }
    auto ticks = 1 + pick(6);
    for (size_t t = 0; t < ticks; ++t)
      c.step_time();
  }
  // Quiesce: no more faults, everyone back.
  c.settle_crash();
  c.heal();
  c.faults(fault_settings{});
  for (size_t i = 0; i < n; ++i)
    if (!c.nodes[i].up)
      c.start(i);
  // Elections may still be settling: a client retries on not-leader and
  // leadership-lost, as a real one would.
  auto final_apply = c.apply("final", 3000);
  for (int attempt = 0; attempt < 20 && final_apply.err; ++attempt)
    final_apply = c.apply("final", 3000);
  if (final_apply.err)
    c.fail("no progress after healing: " + describe(final_apply.err));
  // Servers outside the final configuration (removed ones) are left out.
  auto is_member = [&](size_t i) {
    auto l = c.leader();
    return l >= 0
           && c.core(l)->latest_configuration().find(c.nodes[i].id) != nullptr;
  };
  auto all_applied = [&] {
    auto l = c.leader();
    if (l < 0)
      return false;
    auto target = c.core(l)->commit_index();
    for (size_t i = 0; i < n; ++i)
      if (is_member(i) && c.nodes[i].probe->applied < target)
        return false;
    return true;
  };
  if (!c.run_until(all_applied, 3000))
    c.fail("state machines did not catch up after healing");
  // FSMs equal.
  auto reference = c.nodes[static_cast<size_t>(c.leader())].fsm->logs();
  for (size_t i = 0; i < n; ++i)
    if (is_member(i) && c.nodes[i].fsm->logs() != reference)
      c.fail("state machine of " + c.nodes[i].id + " differs from the "
             "leader's");
  c.check_fsms();
  // Every acknowledged apply is committed at its index (the checker saw it
  // in a log, or it is still in the leader's).
  auto& log = c.core(c.leader())->log();
  for (auto& [idx, data] : c.acknowledged) {
    auto i = c.committed.find(idx);
    if (i != c.committed.end() ? i->second.second != data
                               : idx < log.first_index()
                                   || idx > log.last_index()
                                   || log.at(idx).data != data)
      c.fail("acknowledged apply at index " + std::to_string(idx) + " lost");
  }
  for (auto& m : c.nodes) {
    res.snapshots += m.probe->snapshots_taken;
    res.installs += m.probe->snapshots_installed;
  }
  res.acknowledged = c.acknowledged.size();
  res.crashes_in_flight = c.crashes_in_flight;
  res.steps = c.steps;
  res.terms = c.leaders.size();
  return res;
}

uint64_t env_u64(const char* name, uint64_t fallback) {
  auto v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

} // namespace

BOOST_AUTO_TEST_CASE(seeded_fault_scenarios) {
  uint64_t first = env_u64("RAFT_FIRST_SEED", 1);
  uint64_t count = env_u64("RAFT_SEEDS", 2000);
  if (auto only = env_u64("RAFT_SEED", 0); only != 0) {
    first = only;
    count = 1;
  }
  size_t acknowledged = 0;
  size_t crashes = 0;
  size_t partitions = 0;
  size_t steps = 0;
  size_t terms = 0;
  size_t snapshots = 0;
  size_t installs = 0;
  size_t changes = 0;
  size_t failed = 0;
  size_t in_flight = 0;
  size_t one_way = 0;
  for (auto seed = first; seed < first + count; ++seed) {
    try {
      auto r = run_scenario(seed);
      acknowledged += r.acknowledged;
      crashes += r.crashes;
      partitions += r.partitions;
      steps += r.steps;
      terms += r.terms;
      snapshots += r.snapshots;
      installs += r.installs;
      changes += r.changes;
      in_flight += r.crashes_in_flight;
      one_way += r.one_way_faults;
    } catch (const std::exception& e) {
      // Go on: a soak counts every failing seed, not only the first.
      ++failed;
      BOOST_ERROR("scenario failed: " << e.what()
                                      << "; replay with RAFT_SEED=" << seed);
    }
  }
  // One line for people and scripts alike (issue 14's form; the kinds of
  // fault not simulated yet are left out rather than shown as zero).
  std::cout << "simulation: seeds=" << count << " first=" << first
            << " rounds=" << 40 << " steps=" << steps
            << " crashes=" << crashes << " crashes_in_flight=" << in_flight
            << " one_way_faults=" << one_way << " partitions=" << partitions
            << " acknowledged=" << acknowledged << " terms=" << terms
            << " snapshots=" << snapshots << " installs=" << installs
            << " changes=" << changes << " violations=" << failed
            << std::endl;
  BOOST_TEST_MESSAGE(count << " scenarios (seeds " << first << ".."
                           << first + count - 1 << "), " << failed
                           << " failed: " << acknowledged
                           << " acknowledged applies, " << crashes
                           << " crashes, " << partitions << " partitions, "
                           << terms << " leader terms, " << steps
                           << " checked steps, " << snapshots
                           << " snapshots taken, " << installs
                           << " snapshots installed, " << changes
                           << " membership changes asked");
  // The scenarios must actually exercise the system.
  BOOST_TEST(acknowledged > count);
  if (count >= 50) {
    BOOST_TEST(crashes > 0u);
    BOOST_TEST(partitions > 0u);
    BOOST_TEST(snapshots > 0u);
    BOOST_TEST(installs > 0u);
    BOOST_TEST(changes > 0u);
  }
}

BOOST_AUTO_TEST_CASE(regression_seeds) {
  // Seeds that once failed, each with what it caught. They replay the
  // scenario generator above as it was when they were found; a change to
  // the generator keeps them as ordinary seeds.
  struct regression {
    uint64_t seed;
    const char* what;
    scenario_kinds kinds;
  };
  // Issue 21: a deposed leader answered an apply whose index committed with
  // the next leader's entry ("acknowledged apply at N was replaced").
  static constexpr uint64_t lost_acknowledgement[] = {
    5948,  7272,  9591,  11926, 20360, 21776, 26864, 28850, 31174, 31464,
    43238, 46054, 46300, 47926, 54976, 55624, 60115, 65501, 65696, 67454,
    67502, 74176, 80170, 84338, 85912, 87050, 87552, 90016, 92672};
  // They predate crashes in flight: replayed with the generator of then.
  scenario_kinds then;
  then.crashes_in_flight = false;
  then.one_way_links = false;
  std::vector<regression> seeds;
  for (auto seed : lost_acknowledgement)
    seeds.push_back({seed, "issue 21: apply answered for another entry", then});
  // A log starting right after its snapshot restarted with base term 0
  // (the Log Matching audit).
  seeds.push_back({381, "snapshot's term lost at restart", {}});
  for (auto& r : seeds) {
    try {
      run_scenario(r.seed, r.kinds);
    } catch (const std::exception& e) {
      BOOST_ERROR("regression seed " << r.seed << " (" << r.what
                                     << ") failed: " << e.what()
                                     << "; replay with RAFT_SEED=" << r.seed);
    }
  }
}
