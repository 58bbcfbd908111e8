#define BOOST_TEST_MODULE recover
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sqlite3.h>

#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/bootstrap/inspect.hpp"
#include "caf-raft/bootstrap/recover.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/inmem_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "sim/cluster_fixture.hpp"

// Offline recovery (the Juju backstop's forced configuration) and the
// data-folder inspection behind the operator CLI.

using namespace raft;

namespace {

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-recover-XXXXXX";
    auto res = ::mkdtemp(tmpl);
    BOOST_REQUIRE(res != nullptr);
    path = res;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

configuration voters(std::initializer_list<const char*> ids) {
  configuration cfg;
  for (auto id : ids)
    cfg.servers.push_back(
      server{suffrage::voter, id, std::string{"addr-"} + id});
  return cfg;
}

log_entry entry(index_t index, term_t term, entry_type type, bytes data) {
  log_entry e;
  e.index = index;
  e.term = term;
  e.type = type;
  e.data = std::move(data);
  return e;
}

/// A store as a three-server cluster member leaves it: bootstrapped, then
/// entries 2..5 of term 3, current term 5 (two elections without writes).
void fill(log_store& log, stable_store& stable) {
  BOOST_REQUIRE(!bootstrap_cluster(log, stable, voters({"1", "2", "3"})));
  std::vector<log_entry> es;
  es.push_back(entry(2, 3, entry_type::noop, {}));
  for (index_t i = 3; i <= 5; ++i)
    es.push_back(entry(i, 3, entry_type::command, bytes{uint8_t(i)}));
  BOOST_REQUIRE(!log.store_logs(es));
  BOOST_REQUIRE(!stable.set_uint64(stable_keys::current_term, 5));
}

} // namespace

// -- recover_cluster -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(appends_forced_configuration_after_the_last_entry) {
  inmem_store st;
  fill(st, st);
  auto res = recover_cluster(st, st, voters({"1"}));
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_CHECK(res->appended);
  BOOST_CHECK_EQUAL(res->index, 6u);
  BOOST_CHECK_EQUAL(res->term, 5u);
  BOOST_CHECK(res->previous == voters({"1", "2", "3"}));
  BOOST_CHECK_EQUAL(res->previous_index, 1u);
  log_entry e;
  BOOST_REQUIRE(!st.get_log(6, e));
  BOOST_CHECK(e.type == entry_type::configuration);
  BOOST_CHECK_EQUAL(e.term, 5u);
  auto cfg = decode_configuration(e.data);
  BOOST_REQUIRE(cfg);
  BOOST_CHECK(*cfg == voters({"1"}));
  // Earlier entries are untouched.
  BOOST_REQUIRE(!st.get_log(5, e));
  BOOST_CHECK(e.data == bytes{5});
  BOOST_CHECK_EQUAL(*st.get_uint64(stable_keys::current_term), 5u);
}

BOOST_AUTO_TEST_CASE(term_never_below_the_last_entry) {
  inmem_store st;
  fill(st, st);
  // A stable term behind the log cannot happen in a sound store, but the
  // entry must still keep the log's terms in order.
  BOOST_REQUIRE(!st.set_uint64(stable_keys::current_term, 2));
  auto res = recover_cluster(st, st, voters({"2"}));
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_CHECK_EQUAL(res->term, 3u);
  BOOST_CHECK_EQUAL(*st.get_uint64(stable_keys::current_term), 3u);
}

BOOST_AUTO_TEST_CASE(second_run_changes_nothing) {
  inmem_store st;
  fill(st, st);
  BOOST_REQUIRE(recover_cluster(st, st, voters({"1"})));
  auto again = recover_cluster(st, st, voters({"1"}));
  BOOST_REQUIRE_MESSAGE(again, why(again));
  BOOST_CHECK(!again->appended);
  BOOST_CHECK_EQUAL(again->index, 6u);
  BOOST_CHECK_EQUAL(*st.last_index(), 6u);
}

BOOST_AUTO_TEST_CASE(refuses_bad_configuration_and_empty_stores) {
  inmem_store st;
  auto res = recover_cluster(st, st, voters({"1"}));
  BOOST_REQUIRE(!res);
  BOOST_CHECK(is(res.error(), errc::cant_bootstrap));
  BOOST_CHECK_EQUAL(describe(res.error()),
                    "no existing state to recover: the stores hold no term "
                    "and no log (bootstrap a new cluster instead)");
  fill(st, st);
  configuration none;
  res = recover_cluster(st, st, none);
  BOOST_REQUIRE(!res);
  BOOST_CHECK(is(res.error(), errc::not_valid));
  configuration nonvoter;
  nonvoter.servers.push_back(server{suffrage::nonvoter, "1", "a"});
  BOOST_CHECK(!recover_cluster(st, st, nonvoter));
  BOOST_CHECK_EQUAL(*st.last_index(), 5u);
}

BOOST_AUTO_TEST_CASE(empty_log_continues_after_the_snapshot) {
  inmem_store st;
  BOOST_REQUIRE(!st.set_uint64(stable_keys::current_term, 7));
  auto res = recover_cluster(st, st, voters({"1"}), 100, 6);
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_CHECK_EQUAL(res->index, 101u);
  BOOST_CHECK_EQUAL(res->term, 7u);
}

// -- recover(dir) ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(recover_a_stopped_servers_folder) {
  temp_dir dir;
  {
    auto st = new_log_store(dir.path);
    BOOST_REQUIRE_MESSAGE(st, why(st));
    fill(**st, **st);
  }
  auto res = recover(dir.path, voters({"3"}));
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_CHECK_EQUAL(res->index, 6u);
  auto st = new_log_store(dir.path);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  log_entry e;
  BOOST_REQUIRE(!(*st)->get_log(6, e));
  BOOST_CHECK(*decode_configuration(e.data) == voters({"3"}));
}

BOOST_AUTO_TEST_CASE(recover_refuses_a_running_node) {
  temp_dir dir;
  auto st = new_log_store(dir.path);
  BOOST_REQUIRE_MESSAGE(st, why(st));
  fill(**st, **st);
  // The open store stands for a running node holding its lock.
  auto res = recover(dir.path, voters({"1"}));
  BOOST_REQUIRE(!res);
  BOOST_CHECK(is(res.error(), errc::locked));
  auto text = describe(res.error());
  BOOST_CHECK_MESSAGE(text.find("recovering raft cluster in " + dir.path)
                          == 0,
                      text);
  BOOST_CHECK_MESSAGE(text.find("stop it first") != std::string::npos, text);
  BOOST_CHECK_EQUAL(*(*st)->last_index(), 5u);
}

BOOST_AUTO_TEST_CASE(recover_refuses_a_folder_without_a_store) {
  temp_dir dir;
  auto res = recover(dir.path + "/nothing", voters({"1"}));
  BOOST_REQUIRE(!res);
  BOOST_CHECK(is(res.error(), errc::not_found));
  // And does not create one.
  BOOST_CHECK(!std::filesystem::exists(dir.path + "/nothing"));
}

// -- inspect_data_dir --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(inspect_reports_log_votes_configurations_snapshots) {
  temp_dir dir;
  {
    auto st = new_log_store(dir.path);
    BOOST_REQUIRE_MESSAGE(st, why(st));
    fill(**st, **st);
    BOOST_REQUIRE(!(*st)->set_uint64(stable_keys::last_vote_term, 5));
    BOOST_REQUIRE(!(*st)->set(stable_keys::last_vote_cand, bytes{'2'}));
    BOOST_REQUIRE(!(*st)->store_logs_with_commit(
      {entry(6, 5, entry_type::configuration, encode(voters({"1", "2"})))},
      4));
  }
  auto snaps = file_snapshot_store::make(dir.path, 5, nullptr);
  BOOST_REQUIRE(snaps);
  auto write_snap = [&](index_t index, const std::string& data) {
    auto sink = (*snaps)->create(index, 3, voters({"1", "2", "3"}), 1);
    BOOST_REQUIRE(sink);
    BOOST_REQUIRE(!(*sink)->write(data.data(), data.size()));
    auto id = (*sink)->id();
    BOOST_REQUIRE(!(*sink)->close());
    return id;
  };
  auto good = write_snap(4, "good state");
  auto bad = write_snap(5, "will be damaged");
  {
    std::fstream f{(*snaps)->path() + "/" + bad + "/state.bin",
                   std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(0);
    f.put('W');
  }
  std::filesystem::create_directory((*snaps)->path() + "/9-9-9");
  auto info = inspect_data_dir(dir.path);
  BOOST_REQUIRE_MESSAGE(info, why(info));
  BOOST_CHECK_EQUAL(info->first_index, 1u);
  BOOST_CHECK_EQUAL(info->last_index, 6u);
  BOOST_CHECK_EQUAL(info->last_term, 5u);
  BOOST_CHECK_EQUAL(info->current_term, 5u);
  BOOST_CHECK_EQUAL(info->voted_for, "2");
  BOOST_CHECK_EQUAL(info->last_vote_term, 5u);
  BOOST_CHECK_EQUAL(info->commit_index, 4u);
  BOOST_REQUIRE_EQUAL(info->configurations.size(), 2u);
  BOOST_CHECK_EQUAL(info->configurations[0].index, 1u);
  BOOST_CHECK(info->configurations[0].servers == voters({"1", "2", "3"}));
  BOOST_CHECK_EQUAL(info->configurations[1].index, 6u);
  BOOST_CHECK_EQUAL(info->configurations[1].term, 5u);
  BOOST_CHECK(info->configurations[1].servers == voters({"1", "2"}));
  BOOST_CHECK(info->problems.empty());
  BOOST_REQUIRE_EQUAL(info->snapshots.size(), 3u);
  auto& newest = info->snapshots[0];
  BOOST_CHECK_EQUAL(newest.id, bad);
  BOOST_CHECK_EQUAL(newest.index, 5u);
  BOOST_CHECK(!newest.crc_ok);
  BOOST_CHECK_MESSAGE(!newest.error.empty(), "no error for the damaged one");
  auto& older = info->snapshots[1];
  BOOST_CHECK_EQUAL(older.id, good);
  BOOST_CHECK_EQUAL(older.term, 3u);
  BOOST_CHECK_EQUAL(older.index, 4u);
  BOOST_CHECK_EQUAL(older.size, 10u);
  BOOST_CHECK(older.crc_ok);
  BOOST_CHECK(older.servers == voters({"1", "2", "3"}));
  BOOST_CHECK_EQUAL(info->snapshots[2].id, "9-9-9");
  BOOST_CHECK(!info->snapshots[2].crc_ok);
  // Inspecting released the store: recovery can open it next.
  BOOST_CHECK(recover(dir.path, voters({"1"})));
}

BOOST_AUTO_TEST_CASE(inspect_reports_what_raftd_would_refuse) {
  // The log was compacted up to the newest snapshot (5), which is then
  // damaged; the older one (4) does not reach the log's first entry (6).
  temp_dir dir;
  {
    auto st = new_log_store(dir.path);
    BOOST_REQUIRE_MESSAGE(st, why(st));
    fill(**st, **st);
    BOOST_REQUIRE(!(*st)->store_log(entry(6, 3, entry_type::noop, {})));
    BOOST_REQUIRE(!(*st)->delete_range(1, 5));
  }
  auto snaps = file_snapshot_store::make(dir.path, 5, nullptr);
  BOOST_REQUIRE(snaps);
  for (index_t index : {4, 5}) {
    auto sink = (*snaps)->create(index, 3, voters({"1", "2", "3"}), 1);
    BOOST_REQUIRE(sink);
    BOOST_REQUIRE(!(*sink)->write("state", 5));
    BOOST_REQUIRE(!(*sink)->close());
  }
  auto check = [&](bool damaged) {
    auto info = inspect_data_dir(dir.path);
    BOOST_REQUIRE_MESSAGE(info, why(info));
    BOOST_CHECK_EQUAL(info->first_index, 6u);
    if (!damaged) {
      BOOST_CHECK(info->problems.empty());
      return;
    }
    BOOST_REQUIRE_EQUAL(info->problems.size(), 1u);
    auto& p = info->problems[0];
    BOOST_CHECK_MESSAGE(p.find("raftd will refuse to start") != std::string::npos
                          && p.find("ends at index 4") != std::string::npos,
                        p);
  };
  check(false);
  auto metas = (*snaps)->list();
  BOOST_REQUIRE(metas && metas->front().index == 5u);
  std::filesystem::resize_file(
    (*snaps)->path() + "/" + metas->front().id + "/state.bin", 2);
  check(true);
}

BOOST_AUTO_TEST_CASE(inspect_refuses_running_node_and_missing_store) {
  temp_dir dir;
  auto missing = inspect_data_dir(dir.path);
  BOOST_REQUIRE(!missing);
  BOOST_CHECK(is(missing.error(), errc::not_found));
  auto st = new_log_store(dir.path);
  BOOST_REQUIRE(st);
  auto locked = inspect_data_dir(dir.path);
  BOOST_REQUIRE(!locked);
  BOOST_CHECK(is(locked.error(), errc::locked));
}

// A damaged row is reported, and the scan goes on past it.
BOOST_AUTO_TEST_CASE(inspect_reports_corrupt_entries) {
  temp_dir dir;
  {
    auto st = new_log_store(dir.path);
    BOOST_REQUIRE(st);
    fill(**st, **st);
    BOOST_REQUIRE(!(*st)->store_log(
      entry(6, 5, entry_type::configuration, encode(voters({"1"})))));
  }
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open((dir.path + "/logs").c_str(), &db) == SQLITE_OK);
  BOOST_REQUIRE(sqlite3_exec(db, "UPDATE log SET term = term + 1 WHERE idx = 3",
                             nullptr, nullptr, nullptr)
                == SQLITE_OK);
  sqlite3_close(db);
  auto info = inspect_data_dir(dir.path);
  BOOST_REQUIRE_MESSAGE(info, why(info));
  BOOST_REQUIRE_EQUAL(info->problems.size(), 1u);
  BOOST_CHECK_MESSAGE(info->problems[0].rfind("entry 3: ", 0) == 0,
                      info->problems[0]);
  BOOST_REQUIRE_EQUAL(info->configurations.size(), 2u);
  BOOST_CHECK_EQUAL(info->configurations[1].index, 6u);
  BOOST_CHECK_EQUAL(info->last_index, 6u);
}

BOOST_AUTO_TEST_CASE(inspect_empty_store) {
  temp_dir dir;
  {
    auto st = new_log_store(dir.path);
    BOOST_REQUIRE(st);
  }
  auto info = inspect_data_dir(dir.path);
  BOOST_REQUIRE_MESSAGE(info, why(info));
  BOOST_CHECK_EQUAL(info->last_index, 0u);
  BOOST_CHECK_EQUAL(info->current_term, 0u);
  BOOST_CHECK(info->configurations.empty());
  BOOST_CHECK(info->snapshots.empty());
}

// -- a cluster recovering from the loss of two of three servers ----------------

// Two of three servers are lost for good. The survivor cannot elect itself
// (it needs two votes); after the backstop forces a configuration naming only
// itself, it restarts, elects itself and commits new writes, keeping every
// write acknowledged before the loss.
BOOST_AUTO_TEST_CASE(survivor_leads_alone_after_recovery) {
  test::cluster c{3, 11};
  for (int i = 0; i < 5; ++i) {
    auto out = c.apply("before-" + std::to_string(i));
    BOOST_REQUIRE_MESSAGE(!out.err, describe(out.err));
  }
  // Let every server catch up so the survivor holds every committed entry.
  c.run_until([&] {
    for (size_t i = 0; i < 3; ++i)
      if (c.nodes[i].fsm->logs().size() < 5)
        return false;
    return true;
  });
  size_t survivor = (static_cast<size_t>(c.leader()) + 1) % 3;
  for (size_t i = 0; i < 3; ++i)
    if (i != survivor)
      c.crash(i);
  // Without recovery the survivor gets nowhere.
  c.run_until([] { return false; }, 50);
  BOOST_CHECK(!c.has_leader());
  c.crash(survivor);
  auto& store = *c.nodes[survivor].store;
  auto res = recover_cluster(store, store,
                             voters({c.nodes[survivor].id.c_str()}));
  BOOST_REQUIRE_MESSAGE(res, why(res));
  BOOST_CHECK(res->appended);
  // The checker's addresses are "addr-<id>" as in voters().
  c.start(survivor);
  BOOST_REQUIRE(c.run_until([&] { return c.leader() == int(survivor); }));
  auto out = c.apply("after");
  BOOST_REQUIRE_MESSAGE(!out.err, describe(out.err));
  BOOST_CHECK_GT(out.index, res->index);
  BOOST_REQUIRE(c.run_until(
    [&] { return c.nodes[survivor].fsm->logs().size() == 6; }));
  auto logs = c.nodes[survivor].fsm->logs();
  for (int i = 0; i < 5; ++i)
    BOOST_CHECK(test::text_of(logs[i]) == "before-" + std::to_string(i));
  BOOST_CHECK(test::text_of(logs[5]) == "after");
  auto conf = c.ask<configuration, index_t>(survivor, get_config_atom_v);
  BOOST_REQUIRE(conf);
  BOOST_CHECK(std::get<0>(*conf) == voters({c.nodes[survivor].id.c_str()}));
}
