#define BOOST_TEST_MODULE snapshots
#include "sim/cluster_fixture.hpp"

#include "caf-raft/actors/restore_upload.hpp"
#include "caf-raft/storage/crc.hpp"

// Snapshots, log compaction and InstallSnapshot (§7), the applied index
// across restarts, and the user restore, deterministic under the test
// coordinator with the invariant checker after every step.

using namespace raft;
using namespace raft::test;

namespace {

/// Snapshots by hand only (the periodic check never fires in these tests),
/// keeping 3 trailing entries, sent in 10-byte chunks.
void manual_snapshots(raft_config& s) {
  s.snapshot_threshold = 1000000;
  s.snapshot_interval = std::chrono::hours{24};
  s.trailing_logs = 3;
  s.snapshot_chunk_size = 10;
}

size_t leader_of(cluster& c) {
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  return static_cast<size_t>(c.leader());
}

void apply_n(cluster& c, const std::string& prefix, int n) {
  for (int k = 0; k < n; ++k) {
    auto res = c.apply(prefix + std::to_string(k));
    BOOST_REQUIRE_MESSAGE(!res.err, describe(res.err));
  }
}

snapshot_meta take_snapshot(cluster& c, size_t i) {
  auto res = c.ask<snapshot_meta>(i, snapshot_atom_v);
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  return std::get<0>(*res);
}

std::vector<std::string> texts(const std::vector<bytes>& xs) {
  std::vector<std::string> result;
  for (auto& x : xs)
    result.push_back(text_of(x));
  return result;
}

bool same_fsms(cluster& c) {
  auto ref = c.nodes[0].fsm->logs();
  for (auto& m : c.nodes)
    if (m.up && m.fsm->logs() != ref)
      return false;
  return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(snapshot_compacts_the_log_keeping_trailing_entries) {
  cluster c{3, 31, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "a", 10);
  auto meta = take_snapshot(c, l);
  BOOST_TEST(meta.index == c.core(l)->commit_index());
  BOOST_TEST(meta.term == c.core(l)->term());
  BOOST_TEST(meta.configuration.voter_count() == 3u);
  // §7: the log keeps `trailing_logs` entries before the snapshot, in
  // memory and in the store.
  BOOST_REQUIRE(c.run_until([&] {
    auto first = c.nodes[l].store->first_index();
    return first && *first == meta.index - 3 + 1;
  }));
  BOOST_TEST(c.core(l)->log().first_index() == meta.index - 3 + 1);
  // Nothing new since: a second snapshot is refused as HashiCorp does.
  BOOST_TEST(!c.ask<snapshot_meta>(l, snapshot_atom_v));
  BOOST_TEST(is(c.last_error, errc::nothing_new_to_snapshot));
  // The cluster keeps working after compaction.
  apply_n(c, "b", 3);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  BOOST_TEST(c.nodes[l].fsm->logs().size() == 13u);
}

// raft_config::max_log_memory: once the entries held in memory outgrow it,
// applied entries leave memory (their terms stay) without a snapshot; the
// store keeps them, and a follower that was away while they left is served
// from the store, not with a snapshot. With the bound off, every entry
// since the last snapshot stays in memory.
BOOST_AUTO_TEST_CASE(log_memory_is_bounded_without_a_snapshot) {
  for (bool bounded : {true, false}) {
    BOOST_TEST_CONTEXT("bounded: " << bounded) {
      auto bound = +[](raft_config& s) {
        manual_snapshots(s);
        s.max_log_memory = 20 * raft_log::entry_overhead;
      };
      auto unbound = +[](raft_config& s) {
        manual_snapshots(s);
        s.max_log_memory = 0;
      };
      cluster c{3, 37, bounded ? bound : unbound};
      auto l = leader_of(c);
      auto away = (l + 1) % 3;
      c.partition({{l, (l + 2) % 3}, {away}});
      apply_n(c, "m", 60);
      c.heal();
      BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
      auto& log = c.core(l)->log();
      BOOST_TEST(c.nodes[l].probe->snapshots_taken == 0u);
      BOOST_TEST(c.nodes[away].probe->snapshots_installed == 0u);
      BOOST_TEST(log.first_index() == 1u);
      if (bounded) {
        BOOST_TEST(log.resident_from() > 30u);
        BOOST_TEST(log.memory() <= 20 * raft_log::entry_overhead + 60 * 8);
        // Terms of entries no longer in memory are still known (§5.3).
        BOOST_TEST(log.term_at(2).has_value());
        // The follower that was away got them from the leader's store.
        BOOST_TEST(c.nodes[l].probe->store_fetches > 0u);
      } else {
        BOOST_TEST(log.resident_from() == 1u);
      }
      BOOST_TEST(c.nodes[away].fsm->logs().size() == 60u);
    }
  }
}

BOOST_AUTO_TEST_CASE(lagging_follower_is_caught_up_by_snapshot) {
  cluster c{3, 32, manual_snapshots};
  auto l = leader_of(c);
  auto lagging = (l + 1) % 3;
  auto other = (l + 2) % 3;
  apply_n(c, "early", 2);
  c.partition({{l, other}, {lagging}});
  apply_n(c, "while-away", 20);
  auto meta = take_snapshot(c, l);
  // The entries the lagging follower needs next are gone from the log.
  BOOST_REQUIRE(c.core(l)->log().first_index() > 4);
  c.heal();
  BOOST_REQUIRE(c.run_until([&] {
    return c.nodes[lagging].probe->applied >= meta.index;
  }));
  BOOST_TEST(c.nodes[lagging].probe->snapshots_installed == 1u);
  apply_n(c, "after", 2);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  BOOST_TEST(c.nodes[lagging].fsm->logs().size() == 24u);
  // The follower's store holds the snapshot and the log after it only.
  auto snaps = c.nodes[lagging].snaps->list();
  BOOST_REQUIRE(snaps && !snaps->empty());
  BOOST_TEST(snaps->front().index == meta.index);
  auto first = c.nodes[lagging].store->first_index();
  BOOST_REQUIRE(first);
  BOOST_TEST(*first > meta.index);
}

BOOST_AUTO_TEST_CASE(snapshot_install_survives_lost_duplicated_and_late_chunks) {
  cluster c{3, 33, manual_snapshots};
  auto l = leader_of(c);
  auto lagging = (l + 1) % 3;
  auto other = (l + 2) % 3;
  c.partition({{l, other}, {lagging}});
  apply_n(c, "x", 30);
  auto meta = take_snapshot(c, l);
  c.heal();
  fault_settings f;
  f.drop = 0.15;
  f.duplicate = 0.15;
  f.delay = 0.3;
  f.max_delay = std::chrono::milliseconds{40};
  c.faults(f);
  BOOST_REQUIRE(c.run_until(
    [&] { return c.nodes[lagging].probe->applied >= meta.index; }, 20000));
  c.faults(fault_settings{});
  apply_n(c, "y", 1);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }, 5000));
}

BOOST_AUTO_TEST_CASE(new_server_joins_by_snapshot_after_compaction) {
  cluster c{3, 34, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "v", 15);
  take_snapshot(c, l);
  auto n = c.add_member("4");
  auto res = c.ask<index_t>(l, change_atom_v,
                            configuration_change{change_kind::add_voter, "4",
                                                 "addr-4", 0});
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  BOOST_REQUIRE(c.run_until([&] {
    return c.core(c.leader())->latest_configuration().is_voter("4");
  }));
  apply_n(c, "w", 1);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  BOOST_TEST(c.nodes[n].probe->snapshots_installed >= 1u);
  BOOST_TEST(c.nodes[n].fsm->logs().size() == 16u);
}

BOOST_AUTO_TEST_CASE(restart_after_compaction_restores_snapshot_and_log) {
  cluster c{3, 35, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "s", 12);
  take_snapshot(c, l);
  apply_n(c, "t", 4);
  auto before = c.nodes[l].fsm->logs();
  // Restart the whole cluster: every FSM is rebuilt from a snapshot (the
  // leader's) or the log, and nothing acknowledged is lost.
  for (size_t i = 0; i < 3; ++i)
    c.crash(i);
  c.run_jobs();
  for (size_t i = 0; i < 3; ++i)
    c.start(i);
  apply_n(c, "u", 1);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  auto after = c.nodes[0].fsm->logs();
  BOOST_REQUIRE(after.size() == before.size() + 1);
  BOOST_TEST(std::equal(before.begin(), before.end(), after.begin()));
}

BOOST_AUTO_TEST_CASE(log_starting_at_the_snapshot_keeps_its_term) {
  // A server whose log holds nothing past its snapshot restarts with the
  // snapshot's last entry as its log's base, term included: its votes
  // (§5.4.1, up-to-date check) and its AppendEntries consistency check
  // (§5.3) read that term. Found by the simulator's Log Matching audit
  // (seed 381): the base term was 0.
  cluster c{3, 37, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "s", 6);
  BOOST_REQUIRE(c.run_until([&] {
    return c.nodes[l].probe->applied == c.core(l)->last_index();
  }));
  auto meta = take_snapshot(c, l);
  apply_n(c, "t", 2);
  for (size_t i = 0; i < 3; ++i)
    c.crash(i);
  c.run_jobs();
  // The log starts right after the snapshot: the entries it covers are
  // compacted away, the two after it stay.
  auto& store = *c.nodes[l].store;
  BOOST_REQUIRE(!store.delete_range(*store.first_index(), meta.index));
  BOOST_REQUIRE(*store.first_index() == meta.index + 1);
  c.start(l);
  c.run_jobs();
  auto core = c.core(l);
  BOOST_REQUIRE(core != nullptr);
  BOOST_TEST(core->log().snapshot_index() == meta.index);
  BOOST_TEST(core->log().snapshot_term() == meta.term);
  // And a leader's AppendEntries that matches at the snapshot's last entry
  // is accepted: the cluster goes on from there.
  for (size_t i = 0; i < 3; ++i)
    if (i != l)
      c.start(i);
  apply_n(c, "u", 1);
}

BOOST_AUTO_TEST_CASE(restarted_node_reapplies_up_to_the_stored_commit_index) {
  cluster c{3, 36, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "c", 8);
  // The commit index rides with the next batch: one more write stores the
  // commit index that covers all eight.
  apply_n(c, "d", 1);
  BOOST_REQUIRE(c.run_until([&] {
    auto ci = c.nodes[l].store->stored_commit_index();
    return ci && *ci >= c.acknowledged.rbegin()->first - 1;
  }));
  auto stored = *c.nodes[l].store->stored_commit_index();
  for (size_t i = 0; i < 3; ++i)
    c.crash(i);
  c.run_jobs();
  // Alone, with no leader to tell it the commit index, the old leader
  // applies what its store says was committed.
  c.start(l);
  c.run_jobs();
  BOOST_TEST(c.nodes[l].probe->applied == stored);
  BOOST_TEST(c.nodes[l].fsm->logs().size() >= 8u);
  BOOST_TEST(c.core(l)->role() != role::leader);
}

BOOST_AUTO_TEST_CASE(corrupt_newest_snapshot_falls_back_to_an_older_one) {
  cluster c{1, 37, +[](raft_config& s) {
    manual_snapshots(s);
    s.trailing_logs = 100; // the log still covers the older snapshot
  }};
  leader_of(c);
  apply_n(c, "p", 3);
  auto older = take_snapshot(c, 0);
  apply_n(c, "q", 3);
  auto newer = take_snapshot(c, 0);
  BOOST_REQUIRE(newer.index > older.index);
  c.crash(0);
  c.run_jobs();
  BOOST_REQUIRE(c.nodes[0].snaps->tamper_for_testing(newer.id, [](bytes& b) { b[0] ^= 0xff; }));
  c.start(0);
  BOOST_REQUIRE(c.run_until([&] { return c.has_leader(); }));
  BOOST_TEST(c.nodes[0].probe->applied >= newer.index);
  BOOST_TEST(c.nodes[0].fsm->logs().size() == 6u);
}

BOOST_AUTO_TEST_CASE(node_refuses_to_start_when_no_snapshot_opens) {
  cluster c{1, 38, manual_snapshots};
  leader_of(c);
  apply_n(c, "r", 8);
  auto meta = take_snapshot(c, 0);
  c.crash(0);
  c.run_jobs();
  BOOST_REQUIRE(c.nodes[0].snaps->tamper_for_testing(meta.id, [](bytes& b) { b[0] ^= 0xff; }));
  c.start(0);
  c.run_jobs();
  // The node quits with an error naming the snapshot instead of starting
  // empty and voting.
  auto res = c.ask<role>(0, state_atom_v);
  BOOST_TEST(!res);
  BOOST_TEST(c.nodes[0].probe->core == nullptr);
}

BOOST_AUTO_TEST_CASE(user_restore_takes_the_fsm_back_to_a_snapshot) {
  // TestRestoreSnapshot of the original: apply command1, snapshot, apply
  // command2, restore: the FSM holds [command1], on every server.
  cluster c{3, 39, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "command1-", 1);
  auto meta = take_snapshot(c, l);
  apply_n(c, "command2-", 1);
  auto res = c.ask<index_t>(l, restore_atom_v, meta.id);
  BOOST_REQUIRE_MESSAGE(res, describe(c.last_error));
  BOOST_TEST(texts(c.nodes[l].fsm->logs())
             == std::vector<std::string>{"command1-0"});
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  // The cluster goes on from the restored state.
  apply_n(c, "command3-", 1);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  BOOST_TEST(texts(c.nodes[(l + 1) % 3].fsm->logs())
             == (std::vector<std::string>{"command1-0", "command3-0"}));
}

BOOST_AUTO_TEST_CASE(a_restore_that_never_committed_dies_with_its_leader) {
  // Seed 90: the restore became the deposed leader's log base and its FSM's
  // state at once, before any follower had it; the next leader wrote other
  // entries at those indexes and the old leader kept the restored state.
  // Carried as an entry, the restore is lost like any uncommitted entry.
  cluster c{3, 41, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "before-", 2);
  auto meta = take_snapshot(c, l);
  apply_n(c, "after-", 1);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  // The leader alone on one side: its restore can never commit.
  std::vector<size_t> rest;
  for (size_t i = 0; i < 3; ++i)
    if (i != l)
      rest.push_back(i);
  c.partition({{l}, rest});
  auto restored = c.ask<index_t>(l, restore_atom_v, meta.id);
  BOOST_TEST(!restored); // leadership lost: the outcome is unknown
  BOOST_TEST(texts(c.nodes[l].fsm->logs()).size() == 3u);
  // The majority elects and writes on.
  BOOST_REQUIRE(c.run_until([&] {
    auto n = c.leader();
    return n >= 0 && static_cast<size_t>(n) != l;
  }));
  auto res = c.apply("majority");
  BOOST_REQUIRE_MESSAGE(!res.err, describe(res.err));
  c.heal();
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  BOOST_TEST(texts(c.nodes[l].fsm->logs())
             == (std::vector<std::string>{"before-0", "before-1", "after-0",
                                          "majority"}));
}

BOOST_AUTO_TEST_CASE(a_restore_larger_than_an_entry_is_refused) {
  cluster c{3, 43, [](raft_config& s) {
              manual_snapshots(s);
              s.max_entry_size = 16;
            }};
  auto l = leader_of(c);
  apply_n(c, "command-", 3);
  auto meta = take_snapshot(c, l);
  BOOST_TEST(!c.ask<index_t>(l, restore_atom_v, meta.id));
  BOOST_TEST(is(c.last_error, errc::too_large));
  BOOST_TEST(describe(c.last_error).find("max_entry_size")
             != std::string::npos);
}

namespace {

/// The state bytes of snapshot `id` in node `i`'s store: what a caller
/// would stream from a saved snapshot file.
bytes state_of(cluster& c, size_t i, const std::string& id) {
  auto opened = c.nodes[i].snaps->open(id);
  BOOST_REQUIRE(opened);
  bytes state(opened->first.size);
  auto n = opened->second->read(state.data(), state.size());
  BOOST_REQUIRE(n && *n == state.size());
  opened->second->close();
  return state;
}

/// What a streamed restore ended with.
struct upload_outcome {
  bool done = false;
  index_t index = 0;
  caf::error err;
};

/// Streams `state` to node `l` in chunks of `chunk` bytes from an actor,
/// as restore_from_stream does from a blocking caller; `tamper` may change
/// the size and checksum sent at the end, or skip a chunk.
std::shared_ptr<upload_outcome>
stream_restore(cluster& c, size_t l, bytes state, size_t chunk,
               std::function<void(uint64_t&, uint32_t&, uint64_t&)> tamper
               = nullptr) {
  auto out = std::make_shared<upload_outcome>();
  auto node = c.nodes[l].handle;
  c.sys.spawn([=](caf::event_based_actor* self) {
    auto fail = [=](caf::error& e) {
      out->err = e;
      out->done = true;
    };
    self->request(node, caf::infinite, restore_atom_v, open_atom_v)
      .then(
        [=](caf::actor& opened) {
          auto up = caf::actor_cast<restore_upload_actor>(opened);
          auto send_from = std::make_shared<std::function<void(uint64_t)>>();
          *send_from = [=](uint64_t offset) {
            uint64_t size = state.size();
            crc32c crc;
            crc.process_bytes(state.data(), state.size());
            uint32_t sum = crc.checksum();
            uint64_t skip = 0;
            if (tamper)
              tamper(size, sum, skip);
            if (offset >= state.size()) {
              self->request(up, caf::infinite, upload_atom_v, commit_atom_v,
                            size, sum)
                .then(
                  [=](index_t i) {
                    out->index = i;
                    out->done = true;
                  },
                  fail);
              return;
            }
            auto n = std::min<uint64_t>(chunk, state.size() - offset);
            bytes part(state.begin() + offset, state.begin() + offset + n);
            self->request(up, caf::infinite, upload_atom_v, offset + skip,
                          std::move(part))
              .then([=](uint64_t next) { (*send_from)(next); }, fail);
          };
          (*send_from)(0);
        },
        fail);
  });
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_restore_streamed_by_the_caller_reaches_every_fsm) {
  // HashiCorp's Restore(meta, reader, timeout): any stream, in chunks,
  // checked by size and CRC-32C before anything is proposed.
  cluster c{3, 44, manual_snapshots};
  auto l = leader_of(c);
  apply_n(c, "command1-", 2);
  auto meta = take_snapshot(c, l);
  auto state = state_of(c, l, meta.id);
  apply_n(c, "command2-", 1);
  auto up = stream_restore(c, l, state, 5);
  BOOST_REQUIRE(c.run_until([&] { return up->done; }));
  BOOST_REQUIRE_MESSAGE(!up->err, describe(up->err));
  BOOST_TEST(up->index > meta.index);
  BOOST_REQUIRE(c.run_until([&] { return same_fsms(c); }));
  BOOST_TEST(texts(c.nodes[(l + 1) % 3].fsm->logs())
             == (std::vector<std::string>{"command1-0", "command1-1"}));
}

BOOST_AUTO_TEST_CASE(a_damaged_or_misordered_stream_restores_nothing) {
  cluster c{3, 45, [](raft_config& s) {
              manual_snapshots(s);
              s.max_entry_size = 4096;
            }};
  auto l = leader_of(c);
  apply_n(c, "command-", 2);
  auto meta = take_snapshot(c, l);
  auto state = state_of(c, l, meta.id);
  auto last = c.core(l)->last_index();
  // A checksum that does not match what arrived.
  auto bad_sum = stream_restore(c, l, state, 5,
                                [](uint64_t&, uint32_t& sum, uint64_t&) {
                                  sum ^= 1;
                                });
  BOOST_REQUIRE(c.run_until([&] { return bad_sum->done; }));
  BOOST_TEST(is(bad_sum->err, errc::corrupt));
  BOOST_TEST(describe(bad_sum->err).find("send the snapshot again")
             != std::string::npos);
  // A chunk at the wrong offset names the offset the upload expects.
  auto gap = stream_restore(c, l, state, 5,
                            [](uint64_t&, uint32_t&, uint64_t& skip) {
                              skip = 3;
                            });
  BOOST_REQUIRE(c.run_until([&] { return gap->done; }));
  BOOST_TEST(describe(gap->err).find("expects offset 0")
             != std::string::npos);
  BOOST_TEST(c.core(l)->last_index() == last); // nothing proposed
  // Larger than an entry may be: refused while it streams.
  BOOST_TEST(c.core(l)->settings().max_entry_size >= state.size());
  bytes huge(c.core(l)->settings().max_entry_size + 1);
  auto big = stream_restore(c, l, huge, huge.size());
  BOOST_REQUIRE(c.run_until([&] { return big->done; }));
  BOOST_TEST(is(big->err, errc::too_large));
  BOOST_TEST(c.core(l)->last_index() == last);
  // A follower does not take uploads; its answer names the leader.
  auto follower = stream_restore(c, (l + 1) % 3, state, 5);
  BOOST_REQUIRE(c.run_until([&] { return follower->done; }));
  BOOST_TEST(is(follower->err, errc::not_leader));
}
