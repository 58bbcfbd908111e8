// raft-bench-inproc: the commit path of caf-raft measured inside one process,
// shaped like the Go peer (/work/shared/peers/hashicorp-bench) so that the
// two can be compared line for line with ../shared/peers/limits/summarize.py.
//
// One OS process, one CAF actor system (default scheduler), N nodes on the
// in-memory transport, each with its own SQLite log+stable store on disk
// (synchronous=FULL unless -nosync, which maps to synchronous=NORMAL and says
// so in `store=`) and a no-op FSM that counts applied commands.
//
// For every (nodes, conc) pair: a fresh cluster in a fresh mkdtemp folder,
// bootstrapped with the same configuration on every store; wait for a leader;
// a warm-up at the same concurrency; then `conc` client actors, each with one
// apply in flight, for `secs` seconds. After the window it waits (bounded)
// until every node's FSM count equals the leader's. One key=value line per
// run on stdout; progress on stderr.
//
//   raft-bench-inproc [-nodes 1,3] [-conc 1,8,64,256] [-size 128] [-secs 5]
//                     [-warmup 1] [-repeat 1] [-dir /tmp] [-nosync] [-keep]
//                     [-v] [-timeout 1200] [-apply-timeout 10]
//                     [--caf.group.key=value ...]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/apps/bench/cli.hpp"
#include "caf-raft/apps/bench/counting_fsm.hpp"
#include "caf-raft/apps/bench/counting_store.hpp"
#include "caf-raft/apps/bench/load.hpp"
#include "caf-raft/apps/bench/watchdog.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/state_machine.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

using namespace raft;
using namespace raft::bench;
using namespace std::chrono_literals;

namespace {

constexpr const char* peer_name = "caf-raft-inproc";

// -- options ------------------------------------------------------------------

struct options {
  std::vector<int> nodes{1, 3};
  std::vector<int> concs{1, 8, 64, 256};
  int size = 128;
  double secs = 5;
  double warmup = 1;
  int repeat = 1;
  std::string dir;
  bool nosync = false;
  bool keep = false;
  bool verbose = false;
  double timeout = 20 * 60;
  /// Per-apply timeout in seconds, as the peer's Apply(payload, 10s); 0
  /// sends without one (CAF then registers no request timeout).
  double apply_timeout = 10;
  /// CAF settings passed through as given, e.g.
  /// --work-stealing.moderate-sleep-duration=10us (for experiments).
  std::vector<std::string> caf_args;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty())
    std::fprintf(stderr, "raft-bench-inproc: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: raft-bench-inproc [-nodes 1,3] [-conc 1,8,64,256] "
               "[-size 128] [-secs 5] [-warmup 1] [-repeat 1] [-dir DIR] "
               "[-nosync] [-keep] [-v] [-timeout SECS] "
               "[-apply-timeout SECS] [--caf.setting=value ...]\n");
  std::exit(2);
}

options parse_flags(int argc, char** argv) {
  options o;
  if (auto t = std::getenv("TMPDIR"); t != nullptr && *t != '\0')
    o.dir = t;
  else
    o.dir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // Accept -flag, --flag and -flag=value like Go's flag package.
    if (arg.rfind("--", 0) == 0 && arg.find('.') != std::string::npos
        && arg.find('=') != std::string::npos) {
      o.caf_args.push_back(arg); // a CAF setting: --group.key=value
      continue;
    }
    flag f{arg};
    const auto& name = f.name;
    auto next = [&] { return flag_value(f, i, argc, argv); };
    if (name == "nodes")
      o.nodes = int_list(arg, next());
    else if (name == "conc")
      o.concs = int_list(arg, next());
    else if (name == "size")
      o.size = to_int(arg, next(), 0);
    else if (name == "secs")
      o.secs = to_double(arg, next());
    else if (name == "warmup")
      o.warmup = to_double(arg, next());
    else if (name == "repeat")
      o.repeat = to_int(arg, next(), 1);
    else if (name == "dir")
      o.dir = next();
    else if (name == "timeout")
      o.timeout = to_double(arg, next());
    else if (name == "apply-timeout")
      o.apply_timeout = to_double(arg, next());
    else if (name == "nosync")
      o.nosync = true;
    else if (name == "keep")
      o.keep = true;
    else if (name == "v")
      o.verbose = true;
    else if (name == "h" || name == "help")
      usage("");
    else
      usage("unknown flag " + arg);
  }
  if (o.secs <= 0)
    usage("-secs must be positive");
  return o;
}

options parse(int argc, char** argv) {
  try {
    return parse_flags(argc, argv);
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  }
}

// -- one cluster ------------------------------------------------------------------

struct member {
  std::string id;
  std::shared_ptr<counting_store> store;
  std::shared_ptr<counting_fsm> fsm;
  node_actor handle;
};

struct run_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Waits (bounded) for exactly one node to report itself leader; between
/// polls it waits for the next observation (a state change), at most 100 ms.
int wait_leader(caf::actor_system& sys, std::vector<member>& nodes,
                steady::duration limit) {
  caf::scoped_actor obs{sys};
  for (auto& m : nodes)
    obs->send(m.handle, observe_atom_v, caf::actor_cast<caf::actor>(obs));
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    int leader = -1;
    int leaders = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      role r = role::follower;
      caf::error err;
      obs->request(nodes[i].handle, 5s, state_atom_v)
        .receive([&](role x) { r = x; }, [&](caf::error& e) { err = e; });
      if (err)
        throw run_error("node " + nodes[i].id
                        + " did not answer: " + describe(err));
      if (r == role::leader) {
        leader = static_cast<int>(i);
        ++leaders;
      }
    }
    if (leaders == 1)
      return leader;
    obs->receive([](const observation&) {},
                 caf::after(std::chrono::milliseconds{100}) >> [] {});
  }
  return -1;
}

/// Waits (bounded) until every FSM count equals the leader's; returns the
/// milliseconds waited and whether it converged.
std::pair<bool, int64_t> wait_converged(apply_signal& sig,
                                        std::vector<member>& nodes,
                                        size_t leader,
                                        steady::duration limit) {
  auto start = steady::now();
  auto want = nodes[leader].fsm->count();
  auto done = [&] {
    for (auto& m : nodes)
      if (m.fsm->count() != want)
        return false;
    return true;
  };
  bool ok;
  {
    std::unique_lock<std::mutex> guard{sig.mtx};
    sig.watching.store(true);
    ok = sig.cv.wait_until(guard, start + limit, done);
    sig.watching.store(false);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              steady::now() - start)
              .count();
  return {ok, ms};
}

struct bench_env {
  caf::actor_system& sys;
  const options& opts;
  std::shared_ptr<spdlog::logger> logger;
  /// Non-default settings that change what is measured, appended to the
  /// line (empty for the default run, so the line keeps the peer's shape).
  std::string extra;
};

void run_cluster(bench_env& env, int n, int conc, int rep) {
  auto& sys = env.sys;
  auto& o = env.opts;
  auto tmpl = o.dir + "/caf-raft-inproc-n" + std::to_string(n) + "-c"
              + std::to_string(conc) + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    throw run_error("cannot create a folder under " + o.dir);
  std::string base = tmpl;
  auto closed = std::make_shared<close_signal>();
  auto applied = std::make_shared<apply_signal>();
  std::vector<member> nodes(static_cast<size_t>(n));
  inmem_transport_actor transport;
  caf::scoped_actor self{sys};
  bool failed = false;

  // Stops the nodes and the transport, waits (bounded) until every store is
  // closed, then removes the folder.
  auto teardown = [&] {
    for (auto& m : nodes)
      if (m.handle) {
        self->monitor(m.handle);
        caf::anon_send_exit(m.handle, caf::exit_reason::user_shutdown);
      }
    int alive = 0;
    for (auto& m : nodes)
      if (m.handle)
        ++alive;
    auto limit = steady::now() + 15s;
    while (alive > 0 && steady::now() < limit)
      self->receive(
        [&](caf::down_msg& dm) {
          for (auto& m : nodes)
            if (m.handle && dm.source == m.handle.address())
              --alive;
        },
                    caf::after(std::chrono::milliseconds{500}) >> [] {});
    if (transport)
      caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    for (auto& m : nodes) {
      m.handle = nullptr;
      m.store.reset();
    }
    bool all_closed;
    {
      std::unique_lock<std::mutex> guard{closed->mtx};
      all_closed = closed->cv.wait_for(guard, 15s,
                                       [&] { return closed->open == 0; });
    }
    if (!all_closed)
      std::fprintf(stderr, "raft-bench-inproc: stores of %s still open\n",
                   base.c_str());
    if (o.keep || failed || !all_closed) {
      std::fprintf(stderr, "node data kept in %s\n", base.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(base, ec);
      if (ec)
        std::fprintf(stderr, "raft-bench-inproc: cannot remove %s: %s\n",
                     base.c_str(), ec.message().c_str());
    }
  };

  try {
    auto mode = o.nosync ? sync_mode::normal : sync_mode::full;
    configuration conf;
    for (int i = 0; i < n; ++i) {
      auto id = "n" + std::to_string(i);
      nodes[i].id = id;
      conf.servers.push_back(server{suffrage::voter, id, id});
    }
    for (auto& m : nodes) {
      auto db = new_log_store(base + "/" + m.id, mode);
      if (!db)
        throw run_error(describe(db.error()));
      m.store = std::make_shared<counting_store>(*db, closed);
      if (auto err = bootstrap_cluster(*m.store, *m.store, conf))
        throw run_error("bootstrap of " + m.id + ": " + describe(err));
    }
    transport = spawn_inmem_transport(sys, 1);
    for (auto& m : nodes) {
      m.fsm = std::make_shared<counting_fsm>(applied);
      node_options no;
      // HashiCorp's DefaultConfig, with ShutdownOnRemove off (as Juju).
      no.settings.local_id = m.id;
      no.settings.shutdown_on_remove = false;
      no.log = m.store;
      no.stable = m.store;
      no.fsm = m.fsm;
      no.transport = transport;
      no.logger = env.logger;
      m.handle = spawn_node(sys, no);
    }
    auto t_elect = steady::now();
    auto li = wait_leader(sys, nodes, 30s);
    if (li < 0)
      throw run_error("no single leader elected within 30 s");
    auto leader = static_cast<size_t>(li);
    std::fprintf(stderr,
                 "nodes=%d conc=%d run=%d: leader %s after %lld ms%s\n", n,
                 conc, rep, nodes[leader].id.c_str(),
                 static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                     steady::now() - t_elect)
                     .count()),
                 o.warmup > 0 ? ", warming up" : "");
    if (o.warmup > 0) {
      auto w = run_load(self, nodes[leader].handle, conc, o.size, o.warmup,
                        o.apply_timeout);
      if (!stop_clients(self, w.clients) || !w.complete)
        throw run_error("warm-up clients did not finish");
    }
    std::vector<uint64_t> calls0, entries0;
    for (auto& m : nodes) {
      calls0.push_back(m.store->calls.load());
      entries0.push_back(m.store->entries.load());
    }
    auto res = run_load(self, nodes[leader].handle, conc, o.size, o.secs,
                        o.apply_timeout);
    auto cpu = res.cpu;
    if (!res.complete) {
      stop_clients(self, res.clients);
      throw run_error("clients did not finish within 30 s after the window");
    }
    auto lc = nodes[leader].store->calls.load() - calls0[leader];
    auto le = nodes[leader].store->entries.load() - entries0[leader];
    auto [converged, conv_ms] = wait_converged(*applied, nodes, leader, 15s);
    if (!stop_clients(self, res.clients))
      throw run_error("clients did not end");
    uint64_t fc = 0, fe = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (i == leader)
        continue;
      fc += nodes[i].store->calls.load() - calls0[i];
      fe += nodes[i].store->entries.load() - entries0[i];
    }
    auto ops = res.ops;
    double lb = lc > 0 ? static_cast<double>(le) / static_cast<double>(lc) : 0;
    double fb = fc > 0 ? static_cast<double>(fe) / static_cast<double>(fc) : 0;
    double cores = res.secs > 0 ? cpu / res.secs : 0;
    double per_op = ops > 0 ? cpu / static_cast<double>(ops) * 1e6 : 0;
    std::printf(
      "peer=%s nodes=%d conc=%d size=%d ops=%llu secs=%.3f ops_per_s=%.1f "
      "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%llu "
      "leader_store_calls=%llu leader_store_entries=%llu "
      "leader_avg_batch=%.2f follower_avg_batch=%.2f cpu_cores=%.2f "
      "cpu_us_per_op=%.1f converged=%s converge_ms=%lld store=sqlite/%s "
      "procs=single transport=inmem run=%d%s\n",
      peer_name, n, conc, o.size, static_cast<unsigned long long>(ops), res.secs,
      res.secs > 0 ? static_cast<double>(ops) / res.secs : 0.0,
      quantile_ms(res.lat_ns, 0.50), quantile_ms(res.lat_ns, 0.90),
      quantile_ms(res.lat_ns, 0.99), static_cast<double>(res.max_ns) / 1e6,
      static_cast<unsigned long long>(res.errors),
      static_cast<unsigned long long>(lc), static_cast<unsigned long long>(le),
      lb, fb, cores, per_op, converged ? "true" : "false",
      static_cast<long long>(conv_ms),
      o.nosync ? "nosync-synchronous-normal" : "fsync", rep, env.extra.c_str());
    std::fflush(stdout);
  } catch (...) {
    failed = true;
    teardown();
    throw;
  }
  teardown();
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse(argc, argv);
  watchdog dog{"raft-bench-inproc", opts.timeout};
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  if (!opts.caf_args.empty()) {
    std::istringstream no_ini;
    if (auto err = cfg.parse(opts.caf_args, no_ini))
      usage("bad CAF setting: " + caf::to_string(err));
  }
  std::shared_ptr<spdlog::logger> logger;
  if (opts.verbose) {
    logger = spdlog::stderr_color_mt("raft");
    logger->set_level(spdlog::level::info);
  }
  bool failed = false;
  {
    caf::actor_system sys{cfg};
    bench_env env{sys, opts, logger, {}};
    if (opts.apply_timeout != 10) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " apply_timeout_s=%g", opts.apply_timeout);
      env.extra += buf;
    }
    for (auto& a : opts.caf_args)
      env.extra += " caf:" + a.substr(2);
    for (int rep = 1; rep <= opts.repeat; ++rep)
      for (auto n : opts.nodes)
        for (auto conc : opts.concs) {
          try {
            run_cluster(env, n, conc, rep);
          } catch (const std::exception& e) {
            std::fprintf(stderr, "peer=%s nodes=%d conc=%d run=%d error: %s\n",
                         peer_name, n, conc, rep, e.what());
            failed = true;
          }
        }
  }
  return failed ? 1 : 0;
}
