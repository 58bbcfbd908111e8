// raft-demo: a three-node caf-raft cluster inside one process, on real
// threads, with SQLite logs on disk. It writes a batch of commands with a
// progress bar, kills the leader, shows the new leader taking over, checks
// that every acknowledged write survived on every node, and prints a
// status table. Usage: raft-demo [--writes N] [--dir PATH] [--keep]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"

using namespace raft;
using namespace std::chrono_literals;

namespace {

struct member {
  std::string id;
  std::string dir;
  std::shared_ptr<sqlite_store> store;
  std::shared_ptr<raft::fsm::simple_fsm> fsm;
  node_actor handle;
  bool up = false;
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "raft-demo: " << what << "\n";
  std::exit(1);
}

void show_progress(size_t done, size_t total) {
  constexpr int width = 40;
  int filled = static_cast<int>(width * done / std::max<size_t>(total, 1));
  std::fprintf(stderr, "\r  [%.*s%*s] %zu/%zu", filled,
               "########################################", width - filled, "",
               done, total);
  if (done == total)
    std::fprintf(stderr, "\n");
}

} // namespace

int main(int argc, char** argv) {
  size_t writes = 2000;
  std::string base = "/tmp";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--writes" && i + 1 < argc)
      writes = std::stoul(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      base = argv[++i];
    else if (a == "--keep")
      keep = true;
    else
      die("unknown argument " + a
          + "; usage: raft-demo [--writes N] [--dir PATH] [--keep]");
  }
  std::string tmpl = base + "/raft-demo-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    die("cannot create a folder under " + base);
  auto root = tmpl;

  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto logger = spdlog::stderr_color_mt("raft");
  logger->set_level(spdlog::level::warn);
  auto transport = spawn_inmem_transport(sys, 1);

  configuration conf;
  std::vector<member> nodes(3);
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].id = std::to_string(i + 1);
    nodes[i].dir = root + "/node" + nodes[i].id;
    conf.servers.push_back(
      server{suffrage::voter, nodes[i].id, "inmem:" + nodes[i].id});
  }
  auto start = [&](member& m) {
    auto store = new_log_store(m.dir);
    if (!store)
      die(describe(store.error()));
    m.store = *store;
    m.fsm = std::make_shared<raft::fsm::simple_fsm>();
    node_options opts;
    opts.settings.local_id = m.id;
    opts.settings.heartbeat_timeout = 200ms;
    opts.settings.election_timeout = 200ms;
    opts.settings.leader_lease_timeout = 200ms;
    opts.log = m.store;
    opts.stable = m.store;
    opts.fsm = m.fsm;
    opts.transport = transport;
    opts.logger = logger;
    m.handle = spawn_node(sys, opts);
    m.up = true;
  };
  std::cout << "caf-raft demo: 3 nodes in one process, SQLite logs under "
            << root << "\n";
  for (auto& m : nodes) {
    auto store = new_log_store(m.dir);
    if (!store)
      die(describe(store.error()));
    if (auto err = bootstrap_cluster(**store, **store, conf))
      die(describe(err));
  }
  for (auto& m : nodes)
    start(m);

  caf::scoped_actor self{sys};
  auto find_leader = [&]() -> int {
    for (int attempt = 0; attempt < 100; ++attempt) {
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (!nodes[i].up)
          continue;
        role r = role::follower;
        self->request(nodes[i].handle, 1s, state_atom_v)
          .receive([&](role x) { r = x; }, [&](caf::error&) {});
        if (r == role::leader)
          return static_cast<int>(i);
      }
      // Wait for the next state change rather than spinning.
      self->receive([](const observation&) {},
                    caf::after(std::chrono::milliseconds{50}) >> [] {});
    }
    return -1;
  };
  for (auto& m : nodes)
    caf::anon_send(m.handle, observe_atom_v, caf::actor_cast<caf::actor>(self));

  auto t0 = std::chrono::steady_clock::now();
  auto leader = find_leader();
  if (leader < 0)
    die("no leader was elected within 10 seconds");
  auto elected_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  std::cout << "leader elected: node " << nodes[leader].id << " after "
            << elected_ms << " ms\n";

  std::map<index_t, std::string> acked;
  size_t failed = 0;
  auto write_batch = [&](size_t from, size_t to) {
    constexpr size_t window = 64;
    for (size_t i = from; i < to; i += window) {
      auto n = std::min(window, to - i);
      // `window` requests in flight at once; the leader commits them in
      // shared batches (group commit).
      std::vector<std::string> texts;
      std::vector<decltype(self->request(nodes[leader].handle, 5s,
                                         apply_atom_v, bytes{}))>
        pending;
      for (size_t k = 0; k < n; ++k) {
        texts.push_back("write-" + std::to_string(i + k));
        bytes data(texts.back().begin(), texts.back().end());
        pending.push_back(
          self->request(nodes[leader].handle, 5s, apply_atom_v, data));
      }
      for (size_t k = 0; k < n; ++k)
        pending[k].receive(
          [&](index_t idx, caf::message&) { acked[idx] = texts[k]; },
          [&](caf::error&) { ++failed; });
      show_progress(std::min(i + n, to), writes);
    }
  };
  std::cout << "writing " << writes << " commands:\n";
  write_batch(0, writes / 2);
  std::cout << "killing the leader, node " << nodes[leader].id << "\n";
  caf::anon_send_exit(nodes[leader].handle, caf::exit_reason::kill);
  caf::anon_send(transport, disconnect_atom_v, nodes[leader].id);
  nodes[leader].up = false;
  auto old = leader;
  t0 = std::chrono::steady_clock::now();
  leader = find_leader();
  if (leader < 0)
    die("no new leader within 10 seconds");
  std::cout << "new leader: node " << nodes[leader].id << " after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count()
            << " ms\n";
  write_batch(writes / 2, writes);
  // Bring the old leader back on its own data: it catches up from the log.
  self->wait_for(nodes[old].handle);
  nodes[old].store.reset();
  start(nodes[old]);
  std::cout << "restarted node " << nodes[old].id << " on its data\n";

  // Wait until every node applied everything the leader committed.
  index_t target = 0;
  self->request(nodes[leader].handle, 5s, commit_atom_v)
    .receive([&](index_t c) { target = c; }, [&](caf::error& e) {
      die("leader did not answer: " + describe(e));
    });
  for (auto& m : nodes) {
    for (int k = 0; k < 200; ++k) {
      index_t applied = 0;
      self->request(m.handle, 1s, applied_atom_v)
        .receive([&](index_t a) { applied = a; }, [&](caf::error&) {});
      if (applied >= target)
        break;
      self->receive([](const observation&) {},
                    caf::after(std::chrono::milliseconds{25}) >> [] {});
    }
  }
  // Every acknowledged write is on every node.
  size_t missing = 0;
  for (auto& m : nodes) {
    auto logs = m.fsm->logs();
    std::set<std::string> have;
    for (auto& l : logs)
      have.emplace(l.begin(), l.end());
    for (auto& [idx, text] : acked)
      if (have.count(text) == 0)
        ++missing;
  }
  std::cout << acked.size() << " writes acknowledged, " << failed
            << " refused while leadership moved; missing on any node: "
            << missing << "\n\n";
  std::printf("%-5s %-10s %-6s %-8s %-8s %-8s %-10s\n", "node", "state",
              "term", "commit", "applied", "last", "contact");
  for (auto& m : nodes) {
    stats_map s;
    self->request(m.handle, 1s, stats_atom_v)
      .receive([&](stats_map& x) { s = std::move(x); }, [&](caf::error&) {});
    std::printf("%-5s %-10s %-6s %-8s %-8s %-8s %-10s\n", m.id.c_str(),
                s["state"].c_str(), s["term"].c_str(),
                s["commit_index"].c_str(), s["applied_index"].c_str(),
                s["last_log_index"].c_str(), s["last_contact"].c_str());
  }
  for (auto& m : nodes)
    self->request(m.handle, 5s, shutdown_atom_v)
      .receive([](bool) {}, [](caf::error&) {});
  for (auto& m : nodes)
    self->wait_for(m.handle);
  caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
  if (!keep)
    std::filesystem::remove_all(root);
  else
    std::cout << "\ndata kept in " << root << "\n";
  if (missing != 0) {
    std::cout << "FAILED: acknowledged writes are missing\n";
    return 1;
  }
  std::cout << "\nOK: every acknowledged write is on every node\n";
  return 0;
}
