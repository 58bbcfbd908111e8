#define BOOST_TEST_MODULE scenarios
#include "sim/cluster_fixture.hpp"

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
// RAFT_SEEDS=<n> changes how many seeds run (default 2000), RAFT_FIRST_SEED
// where they start, RAFT_ROUNDS how long each runs (default 120);
// RAFT_STOP_AT_FIRST=1 stops at the first failing seed.

using namespace raft;
using namespace raft::test;

namespace {

void trickle(raft_config& s) {
  s.max_append_entries = 1;
  s.max_inflight = 1;
}

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
  size_t crashes_mid_write = 0;
  size_t torn_writes = 0;
  size_t storage_faults = 0;
  size_t reads_checked = 0;
  size_t transfers = 0;
  size_t restores = 0;
};

/// What a scenario may inject. Regression seeds replay the generator of
/// their time: each new kind of fault draws from the seeded generator and
/// so changes every later choice.
struct scenario_kinds {
  /// Crashes between two jobs, with writes and answers in flight.
  bool crashes_in_flight = true;
  /// Links cut one way only, and slow links, beside partitions.
  bool one_way_links = true;
  /// Crashes during a write (a torn batch) and failing writes (EIO,
  /// ENOSPC).
  bool disk_faults = true;
  /// Clients that read on every read path, checked for linearizability.
  bool reads = true;
  /// Membership changes, leadership transfers and user restores in every
  /// seed (before: membership in one seed of five, no transfers or
  /// restores).
  bool churn_everywhere = true;
  /// Every fifth seed replicates one entry per request (see `trickle`).
  bool trickle = true;
  /// The leader is cut off right after a write (Figure 8's logs).
  bool isolate_leader = true;
  /// A wiped server comes back under a new id (see cluster::wipe).
  bool new_id_after_wipe = true;
  /// Every seventh seed keeps only a few entries in memory, so that leaders
  /// serve lagging followers from the log store (raft_config::
  /// max_log_memory).
  bool evict = true;
  /// Rounds of faults and client requests.
  int rounds = 40;
};

/// The kinds of the scenario generator early in session 6 (before
/// `trickle`, `isolate_leader` and `new_id_after_wipe`).
scenario_kinds generator_of_session_6_start() {
  scenario_kinds k;
  k.trickle = k.isolate_leader = k.new_id_after_wipe = k.evict = false;
  k.rounds = 120;
  return k;
}

/// The kinds of the scenario generator before issue 14's second half.
scenario_kinds generator_of_session_5(bool in_flight_and_one_way) {
  auto k = generator_of_session_6_start();
  k.crashes_in_flight = k.one_way_links = in_flight_and_one_way;
  k.disk_faults = k.reads = k.churn_everywhere = false;
  k.rounds = 40;
  return k;
}

/// The kinds of the scenario generator at the end of session 6.
scenario_kinds generator_of_session_6_end() {
  scenario_kinds k;
  k.evict = false;
  k.rounds = 120;
  return k;
}

/// The kinds of the scenario generator in session 8 (before `evict`).
scenario_kinds generator_of_session_8() {
  auto k = generator_of_session_6_end();
  return k;
}

scenario_result run_scenario(uint64_t seed, scenario_kinds kinds) {
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
  // Every fifth seed (with `kinds.trickle`) replicates one entry per
  // request, one request in flight: entries of an old term then reach a
  // majority one by one, before the new leader's own entry (Figure 8).
  using tweak_fn = void (*)(raft_config&);
  tweak_fn tweaks[] = {
    nullptr,
    +[](raft_config& s) { s.pre_vote_disabled = true; },
    +[](raft_config& s) { snapshot_often(s); },
    +[](raft_config& s) {
      s.pre_vote_disabled = true;
      snapshot_often(s);
    },
    +[](raft_config& s) { trickle(s); },
    +[](raft_config& s) {
      s.pre_vote_disabled = true;
      trickle(s);
    },
    +[](raft_config& s) {
      snapshot_often(s);
      trickle(s);
    },
    +[](raft_config& s) {
      s.pre_vote_disabled = true;
      snapshot_often(s);
      trickle(s);
    },
  };
  auto tweak = tweaks[(seed % 4 == 1 ? 1 : 0) + (seed % 3 == 0 ? 2 : 0)
                      + (kinds.trickle && seed % 5 == 2 ? 4 : 0)];
  bool evict = kinds.evict && seed % 7 == 4;
  cluster c{n, seed, [tweak, evict](raft_config& s) {
              if (tweak)
                tweak(s);
              if (evict)
                s.max_log_memory = 6 * raft_log::entry_overhead;
            }};
  bool with_membership = kinds.churn_everywhere || seed % 5 == 3;
  scenario_result res;
  fault_settings f;
  f.drop = 0.02 * static_cast<double>(pick(4));
  f.duplicate = 0.03 * static_cast<double>(pick(3));
  f.delay = 0.1 * static_cast<double>(pick(4));
  f.max_delay = std::chrono::milliseconds{20 + pick(100)};
  c.faults(f);
  size_t down = 0;
  uint64_t counter = 0;
  // Client operations: applies and, with `kinds.reads`, reads on every
  // read path the node offers, to random live nodes.
  auto client = [&](size_t i) {
    auto r = kinds.reads ? pick(6) : 0;
    if (r < 3)
      c.apply_async(i, "s" + std::to_string(seed) + "-"
                         + std::to_string(++counter));
    else
      c.read_async(i, r == 3   ? client_op::read_index
                      : r == 4 ? client_op::barrier
                               : client_op::verify);
  };
  for (int round = 0; round < kinds.rounds; ++round) {
    switch (pick(kinds.churn_everywhere ? 15 : 12)) {
      case 0: {
        // Crash a node, keeping a majority up so progress stays possible.
        if (down + 1 <= (n - 1) / 2) {
          auto i = pick(n);
          if (c.nodes[i].up) {
            // Now, or between two jobs of the coming steps: with a write,
            // a vote or an acknowledgement in flight.
            if (!kinds.crashes_in_flight || pick(2) == 0)
              c.crash(i);
            else if (!kinds.disk_faults || pick(3) == 0)
              c.crash_after_jobs(i, 1 + pick(60));
            else if (pick(2) == 0)
              // During one of its next few writes: a torn batch.
              c.crash_mid_write(i, pick(4));
            else
              // Its next writes fail: it must stop without acknowledging
              // them, and come back on restart.
              c.fault_writes(i, 1 + pick(3),
                             pick(2) == 0 ? disk_fault::io_error
                                          : disk_fault::disk_full);
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
          c.wipe(i, kinds.new_id_after_wipe);
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
      case 12: {
        // Leadership transfer (to the most up-to-date voter).
        auto l = c.leader();
        if (l >= 0) {
          c.transfer_async(static_cast<size_t>(l));
        }
        break;
      }
      case 13: {
        // A user restore: the state goes back to a snapshot taken now,
        // and followers receive it by InstallSnapshot.
        auto l = c.leader();
        if (l >= 0 && pick(2) == 0)
          c.restore_async(static_cast<size_t>(l));
        break;
      }
      case 14:
        if (kinds.isolate_leader) {
          // A write reaches the leader, which is cut off a few jobs later:
          // its entry stays on a minority, and the next leader writes
          // another at the same index. Repeated, this builds the logs of
          // Figure 8 (§5.4.2).
          auto l = c.leader();
          if (l < 0)
            break;
          client(static_cast<size_t>(l));
          c.run_jobs(1 + pick(12));
          std::vector<size_t> rest;
          for (size_t i = 0; i < n; ++i)
            if (i != static_cast<size_t>(l))
              rest.push_back(i);
          c.partition({{static_cast<size_t>(l)}, rest});
          ++res.partitions;
          break;
        }
        [[fallthrough]];
      default: {
        // A few clients at once on random live nodes (non-leaders refuse).
        auto k = 1 + pick(4);
        for (size_t j = 0; j < k; ++j) {
          auto i = pick(n);
          if (c.nodes[i].up)
            client(i);
        }
      }
    }
    auto ticks = 1 + pick(6);
    for (size_t t = 0; t < ticks; ++t)
      c.step_time();
  }
  // Quiesce: no more faults, everyone back.
  c.clear_disk_faults();
  c.heal();
  c.faults(fault_settings{});
  for (size_t i = 0; i < n; ++i)
    if (!c.nodes[i].up)
      c.start(i);
  // Elections may still be settling: a client retries on not-leader and
  // leadership-lost, as a real one would.
  auto final_apply = c.apply("final", 3000);
  for (int attempt = 0; attempt < 20 && final_apply.err; ++attempt) {
    // A transfer or an election under way ends within an election timeout.
    // Waited by the clock, not by timer firings: with many timers pending
    // (a snapshot's resends, say) a hundred firings were 47 ms of simulated
    // time, and a transfer that would have timed out at 100 ms looked stuck
    // (seed 8961).
    c.run_for(c.settings.election_timeout);
    final_apply = c.apply("final", 3000);
  }
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
  // Every client sees the final write on every read path, and the whole
  // history is linearizable.
  for (size_t i = 0; i < n; ++i)
    if (kinds.reads && is_member(i))
      c.read_async(i, client_op::read_index);
  c.run_until([] { return false; }, 20);
  if (auto err = c.hist.check(); !err.empty())
    c.fail("not linearizable: " + err);
  for (auto& m : c.nodes) {
    res.snapshots += m.probe->snapshots_taken;
    res.installs += m.probe->snapshots_installed;
  }
  res.acknowledged = c.acknowledged.size();
  res.crashes_in_flight = c.crashes_in_flight;
  res.crashes_mid_write = c.crashes_mid_write;
  res.torn_writes = c.torn_writes();
  res.storage_faults = c.storage_stops;
  res.reads_checked = c.hist.reads_checked();
  res.transfers = c.transfers_done;
  res.restores = c.hist.restores_done();
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
  scenario_kinds kinds;
  kinds.rounds = static_cast<int>(env_u64("RAFT_ROUNDS", 120));
  scenario_result sum;
  size_t failed = 0;
  for (auto seed = first; seed < first + count; ++seed) {
    try {
      auto r = run_scenario(seed, kinds);
      sum.acknowledged += r.acknowledged;
      sum.crashes += r.crashes;
      sum.partitions += r.partitions;
      sum.steps += r.steps;
      sum.terms += r.terms;
      sum.snapshots += r.snapshots;
      sum.installs += r.installs;
      sum.changes += r.changes;
      sum.crashes_in_flight += r.crashes_in_flight;
      sum.one_way_faults += r.one_way_faults;
      sum.crashes_mid_write += r.crashes_mid_write;
      sum.torn_writes += r.torn_writes;
      sum.storage_faults += r.storage_faults;
      sum.reads_checked += r.reads_checked;
      sum.transfers += r.transfers;
      sum.restores += r.restores;
    } catch (const std::exception& e) {
      // Go on: a soak counts every failing seed, not only the first
      // (scripts/mutation-check.sh wants only the first).
      ++failed;
      BOOST_ERROR("scenario failed: " << e.what()
                                      << "; replay with RAFT_SEED=" << seed);
      if (std::getenv("RAFT_STOP_AT_FIRST") != nullptr) {
        count = seed - first + 1;
        break;
      }
    }
  }
  // One line for people and scripts alike (issue 14's form), then the
  // other counts.
  std::cout << "simulation: seeds=" << count << " rounds=" << kinds.rounds
            << " steps=" << sum.steps
            << " crashes_mid_write=" << sum.crashes_mid_write
            << " torn_writes=" << sum.torn_writes
            << " storage_faults=" << sum.storage_faults
            << " one_way_faults=" << sum.one_way_faults
            << " reads_checked=" << sum.reads_checked
            << " transfers=" << sum.transfers
            << " restores=" << sum.restores << " violations=" << failed
            << std::endl;
  std::cout << "simulation detail: first=" << first
            << " crashes=" << sum.crashes
            << " crashes_in_flight=" << sum.crashes_in_flight
            << " partitions=" << sum.partitions
            << " acknowledged=" << sum.acknowledged
            << " terms=" << sum.terms << " snapshots=" << sum.snapshots
            << " installs=" << sum.installs << " changes=" << sum.changes
            << std::endl;
  // The scenarios must actually exercise the system: every fault and
  // every check fires.
  BOOST_TEST(sum.acknowledged > count);
  if (count >= 200) {
    BOOST_TEST(sum.crashes > 0u);
    BOOST_TEST(sum.crashes_in_flight > 0u);
    BOOST_TEST(sum.crashes_mid_write > 0u);
    BOOST_TEST(sum.torn_writes > 0u);
    BOOST_TEST(sum.storage_faults > 0u);
    BOOST_TEST(sum.one_way_faults > 0u);
    BOOST_TEST(sum.partitions > 0u);
    BOOST_TEST(sum.reads_checked > count);
    BOOST_TEST(sum.transfers > 0u);
    BOOST_TEST(sum.restores > 0u);
    BOOST_TEST(sum.snapshots > 0u);
    BOOST_TEST(sum.installs > 0u);
    BOOST_TEST(sum.changes > 0u);
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
  auto then = generator_of_session_5(false);
  std::vector<regression> seeds;
  for (auto seed : lost_acknowledgement)
    seeds.push_back({seed, "issue 21: apply answered for another entry", then});
  // A log starting right after its snapshot restarted with base term 0
  // (the Log Matching audit).
  seeds.push_back({381, "snapshot's term lost at restart",
                   generator_of_session_5(true)});
  // Found by issue 14's second half (torn writes, disk faults, reads,
  // transfers and restores in every seed, 120 rounds).
  auto now = generator_of_session_6_start();
  seeds.push_back({90, "a restore applied before it committed", now});
  seeds.push_back({450, "a voter refused a promoted candidate: no leader",
                   now});
  seeds.push_back({1464, "duplicated snapshot answers: a chunk storm", now});
  seeds.push_back({6578, "a single voter led before its term was stored",
                   now});
  seeds.push_back({54194, "a single voter led before its term was stored",
                   now});
  seeds.push_back({24744, "a crash after a snapshot left a gap in the log",
                   now});
  seeds.push_back({19356, "a snapshot sent in a term not stored yet",
                   generator_of_session_6_end()});
  // Found by the 100,000-seed soak of session 8 (replicator actors).
  seeds.push_back({78456,
                   "a replaced log's configuration kept: never a leader again",
                   generator_of_session_8()});
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
