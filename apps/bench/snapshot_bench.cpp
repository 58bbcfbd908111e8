// snapshot-bench: the snapshot and compaction figures of issues #4 and #7,
// measured inside one process (one CAF actor system, real threads, the
// in-memory transport, SQLite synchronous=FULL log stores and file snapshot
// stores in a fresh folder under -dir, removed at the end unless -keep).
//
// -mode snapshot: a 3-node cluster whose key-value FSM is filled with
//   -state-mb MiB of values (-value-kb KiB each, -conc clients); then a user
//   snapshot on the leader (capture + persist with fsync) is timed; then a
//   4th server with empty stores is added as a voter and timed until its
//   applied index reaches the leader's commit index. With -trailing-logs
//   small (100), the entries it needs are compacted away, so it must catch
//   up by InstallSnapshot.
//
// -mode disk: a 3-node cluster with the default compaction settings (or
//   -snapshot-interval-ms), -applies puts of -size byte values over -keys
//   keys (so the state stays small) from -conc clients; then per node the
//   on-disk size of the log database (main file, -wal, -shm), of the
//   snapshots folder, the snapshots kept and the log's first/last index.
//
// Progress goes to stderr, one key=value result line to stdout.
//
//   snapshot-bench -mode snapshot [-state-mb 256] [-value-kb 64] [-conc 16]
//                  [-trailing-logs 100]
//   snapshot-bench -mode disk [-applies 1000000] [-size 128] [-keys 10000]
//                  [-conc 64] [-snapshot-interval-ms N] [-hold-secs N]
//   common: [-dir DIR] [-keep] [-v] [-timeout SECS]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
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
#include "caf-raft/apps/bench/watchdog.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/kv/kv_command.hpp"
#include "caf-raft/fsm/kv/kv_fsm.hpp"
#include "caf-raft/fsm/kv/kv_messages.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

using namespace raft;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// -- options ------------------------------------------------------------------

struct options {
  std::string mode;
  int state_mb = 256;
  int value_kb = 64;
  int trailing_logs = 100;
  long applies = 1000000;
  int size = 128;
  int keys = 10000;
  int conc = 0; // 0: 16 for snapshot, 64 for disk
  long snapshot_interval_ms = 0; // 0: the default (120 s)
  /// Disk mode: seconds to wait after the load before measuring, so the
  /// periodic snapshot check (every [SI, 2SI)) gets to run.
  long hold_secs = 0;
  std::string dir;
  bool keep = false;
  bool verbose = false;
  double timeout = 3600;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty())
    std::fprintf(stderr, "snapshot-bench: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: snapshot-bench -mode snapshot [-state-mb 256] "
               "[-value-kb 64] [-conc 16] [-trailing-logs 100]\n"
               "       snapshot-bench -mode disk [-applies 1000000] "
               "[-size 128] [-keys 10000] [-conc 64] "
               "[-snapshot-interval-ms N] [-hold-secs N]\n"
               "       common: [-dir DIR] [-keep] [-v] [-timeout SECS]\n");
  std::exit(2);
}

long to_long(const std::string& flag, const std::string& str, long min,
             long max) {
  char* end = nullptr;
  auto x = std::strtol(str.c_str(), &end, 10);
  if (str.empty() || *end != '\0' || x < min || x > max)
    usage(flag + ": not a valid number in [" + std::to_string(min) + ", "
          + std::to_string(max) + "]: " + str);
  return x;
}

options parse(int argc, char** argv) {
  options o;
  if (auto t = std::getenv("TMPDIR"); t != nullptr && *t != '\0')
    o.dir = t;
  else
    o.dir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bench::flag f{arg};
    const auto& name = f.name;
    auto next = [&]() -> std::string {
      try {
        return bench::flag_value(f, i, argc, argv);
      } catch (const std::invalid_argument& e) {
        usage(e.what());
      }
    };
    if (name == "mode")
      o.mode = next();
    else if (name == "state-mb")
      o.state_mb = static_cast<int>(to_long(arg, next(), 1, 16384));
    else if (name == "value-kb")
      o.value_kb = static_cast<int>(to_long(arg, next(), 1, 4096));
    else if (name == "trailing-logs")
      o.trailing_logs = static_cast<int>(to_long(arg, next(), 0, 100000000));
    else if (name == "applies")
      o.applies = to_long(arg, next(), 1, 1000000000);
    else if (name == "size")
      o.size = static_cast<int>(to_long(arg, next(), 0, 1 << 20));
    else if (name == "keys")
      o.keys = static_cast<int>(to_long(arg, next(), 1, 100000000));
    else if (name == "conc")
      o.conc = static_cast<int>(to_long(arg, next(), 1, 10000));
    else if (name == "snapshot-interval-ms")
      o.snapshot_interval_ms = to_long(arg, next(), 1, 86400000);
    else if (name == "hold-secs")
      o.hold_secs = to_long(arg, next(), 0, 86400);
    else if (name == "dir")
      o.dir = next();
    else if (name == "timeout")
      o.timeout = static_cast<double>(to_long(arg, next(), 1, 86400));
    else if (name == "keep")
      o.keep = true;
    else if (name == "v")
      o.verbose = true;
    else if (name == "h" || name == "help")
      usage("");
    else
      usage("unknown flag " + arg);
  }
  if (o.mode != "snapshot" && o.mode != "disk")
    usage("-mode must be snapshot or disk");
  if (o.conc == 0)
    o.conc = o.mode == "snapshot" ? 16 : 64;
  return o;
}

struct run_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

/// CLOCK_MONOTONIC in seconds, as `perf record -k CLOCK_MONOTONIC` stamps
/// its samples, so a profile can be cut at the phases printed on stderr.
double mono() {
  return std::chrono::duration<double>(steady::now().time_since_epoch())
    .count();
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

uint64_t dir_size(const fs::path& p) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it{p, ec}, end; !ec && it != end;
       it.increment(ec))
    if (it->is_regular_file(ec))
      total += size_of(it->path());
  return total;
}

double mib(uint64_t n) {
  return static_cast<double>(n) / (1024.0 * 1024.0);
}

// -- load ---------------------------------------------------------------------

/// What all clients of one load share: the next sequence number to apply and
/// the counts. `payload(seq)` builds the command for a sequence number.
struct load_ctx {
  node_actor leader;
  std::function<bytes(uint64_t)> payload;
  uint64_t total = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> errors{0};
  std::mutex err_mtx;
  std::string first_error;
  caf::actor driver;
};

/// One apply in flight per client; failed applies are counted, not retried
/// (the cluster is stable, so any error is a finding to report).
void issue(caf::event_based_actor* self, std::shared_ptr<load_ctx> c) {
  auto seq = c->next.fetch_add(1);
  if (seq >= c->total) {
    self->send(c->driver, int32_t{0});
    return;
  }
  // No request timeout: in CAF 0.17.6 every timeout stays in the actor
  // clock until it falls due, which for a million applies is a lot of
  // garbage; the program's -timeout watchdog bounds the run instead.
  self->request(c->leader, caf::infinite, apply_atom_v, c->payload(seq))
    .then(
      [self, c](index_t, caf::message&) {
        c->ok.fetch_add(1, std::memory_order_relaxed);
        issue(self, c);
      },
      [self, c](caf::error& err) {
        if (c->errors.fetch_add(1) == 0) {
          std::lock_guard<std::mutex> guard{c->err_mtx};
          c->first_error = describe(err);
        }
        issue(self, c);
      });
}

caf::behavior client(caf::event_based_actor* self,
                     std::shared_ptr<load_ctx> c) {
  issue(self, std::move(c));
  return {
    [](int32_t) {
      // nop; the driver ends the client with an exit message
    },
  };
}

/// Runs `total` applies from `conc` clients; prints progress every 5 s.
/// Returns the seconds taken.
double run_load(caf::scoped_actor& self, std::shared_ptr<load_ctx> c,
                int conc, const char* what) {
  c->driver = caf::actor_cast<caf::actor>(self);
  std::vector<caf::actor> clients;
  auto start = steady::now();
  for (int i = 0; i < conc; ++i)
    clients.push_back(self->spawn<caf::monitored>(client, c));
  int running = conc;
  auto last = start;
  uint64_t last_ok = 0;
  while (running > 0) {
    self->receive([&](int32_t) { --running; },
                  caf::after(std::chrono::milliseconds{500}) >> [] {});
    if (steady::now() - last >= 5s) {
      auto ok = c->ok.load();
      auto dt = since(last);
      std::fprintf(stderr,
                   "  %s: %llu/%llu applied (%.0f/s now, %.0f/s avg), "
                   "%llu errors, %.0f s\n",
                   what, static_cast<unsigned long long>(ok),
                   static_cast<unsigned long long>(c->total),
                   static_cast<double>(ok - last_ok) / dt,
                   static_cast<double>(ok) / since(start),
                   static_cast<unsigned long long>(c->errors.load()),
                   since(start));
      last = steady::now();
      last_ok = ok;
    }
  }
  auto secs = since(start);
  for (auto& cl : clients)
    caf::anon_send_exit(cl, caf::exit_reason::user_shutdown);
  size_t alive = clients.size();
  auto limit = steady::now() + 30s;
  while (alive > 0 && steady::now() < limit)
    self->receive([&](caf::down_msg&) { --alive; }, [](int32_t) {},
                  caf::after(std::chrono::milliseconds{500}) >> [] {});
  return secs;
}

// -- cluster ------------------------------------------------------------------

struct member {
  std::string id;
  std::string dir;
  std::shared_ptr<sqlite_store> store;
  std::shared_ptr<snapshot_store> snaps;
  std::shared_ptr<raft::fsm::kv_fsm> fsm;
  node_actor handle;
};

class cluster {
public:
  cluster(caf::actor_system& sys, const options& o, std::string base,
          raft_config settings, std::shared_ptr<spdlog::logger> logger)
    : sys_(sys),
      opts_(o),
      base_(std::move(base)),
      settings_(std::move(settings)),
      logger_(std::move(logger)),
      self_(sys) {
    transport_ = spawn_inmem_transport(sys, 1);
  }

  ~cluster() {
    teardown();
  }

  /// Opens the stores of a new member; bootstraps them with `conf` unless
  /// it is empty.
  member& add(const std::string& id, const configuration& conf) {
    member m;
    m.id = id;
    m.dir = base_ + "/" + id;
    fs::create_directories(m.dir);
    auto db = new_log_store(m.dir, sync_mode::full);
    if (!db)
      throw run_error(describe(db.error()));
    m.store = *db;
    auto snaps = new_snapshot_store(m.dir, 2, logger_); // the worker's default
    if (!snaps)
      throw run_error(describe(snaps.error()));
    m.snaps = *snaps;
    if (!conf.servers.empty())
      if (auto err = bootstrap_cluster(*m.store, *m.store, conf))
        throw run_error("bootstrap of " + id + ": " + describe(err));
    m.fsm = std::make_shared<raft::fsm::kv_fsm>();
    node_options no;
    no.settings = settings_;
    no.settings.local_id = id;
    no.settings.shutdown_on_remove = false;
    no.log = m.store;
    no.stable = m.store;
    no.fsm = m.fsm;
    no.snapshots = m.snaps;
    no.transport = transport_;
    no.logger = logger_;
    m.handle = spawn_node(sys_, no);
    nodes.push_back(std::move(m));
    return nodes.back();
  }

  /// Waits (bounded) for exactly one leader among the nodes.
  size_t wait_leader(steady::duration limit) {
    auto deadline = steady::now() + limit;
    while (steady::now() < deadline) {
      int leader = -1;
      int leaders = 0;
      for (size_t i = 0; i < nodes.size(); ++i)
        if (ask<role>(i, state_atom_v) == role::leader) {
          leader = static_cast<int>(i);
          ++leaders;
        }
      if (leaders == 1)
        return static_cast<size_t>(leader);
      std::this_thread::sleep_for(50ms);
    }
    throw run_error("no single leader within the bound");
  }

  template <class T, class... Ts>
  T ask(size_t i, Ts... xs) {
    T result{};
    caf::error err;
    self_->request(nodes[i].handle, 60s, xs...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& e) { err = e; });
    if (err)
      throw run_error("node " + nodes[i].id + ": " + describe(err));
    return result;
  }

  stats_map stats(size_t i) {
    return ask<stats_map>(i, stats_atom_v);
  }

  /// Waits (bounded) until every node applied the leader's commit index.
  double wait_converged(size_t leader, steady::duration limit) {
    auto t0 = steady::now();
    auto want = ask<index_t>(leader, commit_atom_v);
    for (;;) {
      bool all = true;
      for (size_t i = 0; i < nodes.size(); ++i)
        if (ask<index_t>(i, applied_atom_v) < want)
          all = false;
      if (all)
        return since(t0);
      if (steady::now() - t0 > limit)
        throw run_error("nodes did not converge within the bound");
      std::this_thread::sleep_for(20ms);
    }
  }

  caf::scoped_actor& self() {
    return self_;
  }

  const std::string& base() const {
    return base_;
  }

  bool failed = false;
  std::vector<member> nodes;

private:
  /// Stops the nodes, waits (bounded) until every store is released, then
  /// removes the folder (unless -keep or a failure).
  void teardown() {
    int alive = 0;
    for (auto& m : nodes)
      if (m.handle) {
        self_->monitor(m.handle);
        caf::anon_send_exit(m.handle, caf::exit_reason::user_shutdown);
        ++alive;
      }
    auto limit = steady::now() + 30s;
    while (alive > 0 && steady::now() < limit)
      self_->receive([&](caf::down_msg&) { --alive; },
                     caf::after(std::chrono::milliseconds{500}) >> [] {});
    caf::anon_send_exit(transport_, caf::exit_reason::user_shutdown);
    std::vector<std::weak_ptr<sqlite_store>> dbs;
    for (auto& m : nodes) {
      dbs.push_back(m.store);
      m.handle = nullptr;
      m.store.reset();
      m.snaps.reset();
      m.fsm.reset();
    }
    // The node's detached log writer may let go of its store a little after
    // the node is down; removing the folder before would race with it.
    bool closed = false;
    for (auto until = steady::now() + 15s; !closed && steady::now() < until;) {
      closed = std::all_of(dbs.begin(), dbs.end(),
                           [](auto& w) { return w.expired(); });
      if (!closed)
        std::this_thread::sleep_for(20ms);
    }
    if (opts_.keep || failed || !closed) {
      std::fprintf(stderr, "node data kept in %s\n", base_.c_str());
      return;
    }
    std::error_code ec;
    fs::remove_all(base_, ec);
    if (ec)
      std::fprintf(stderr, "snapshot-bench: cannot remove %s: %s\n",
                   base_.c_str(), ec.message().c_str());
  }

  caf::actor_system& sys_;
  const options& opts_;
  std::string base_;
  raft_config settings_;
  std::shared_ptr<spdlog::logger> logger_;
  caf::scoped_actor self_;
  inmem_transport_actor transport_;
};

std::string make_base(const options& o) {
  auto tmpl = o.dir + "/caf-raft-snapbench-" + o.mode + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    throw run_error("cannot create a folder under " + o.dir);
  return tmpl;
}

configuration voters(int n) {
  configuration conf;
  for (int i = 0; i < n; ++i) {
    auto id = "n" + std::to_string(i);
    conf.servers.push_back(server{suffrage::voter, id, id});
  }
  return conf;
}

std::string key_of(uint64_t k) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "k%08llu", static_cast<unsigned long long>(k));
  return buf;
}

// -- snapshot mode ------------------------------------------------------------

void run_snapshot(caf::actor_system& sys, const options& o,
                  std::shared_ptr<spdlog::logger> logger) {
  raft_config settings;
  settings.trailing_logs = static_cast<uint64_t>(o.trailing_logs);
  cluster c{sys, o, make_base(o), settings, logger};
  try {
    auto conf = voters(3);
    for (auto& s : conf.servers)
      c.add(s.id, conf);
    auto leader = c.wait_leader(30s);
    std::fprintf(stderr, "leader %s; data in %s\n",
                 c.nodes[leader].id.c_str(), c.base().c_str());

    // Fill the state: distinct keys, so the state is the sum of the values.
    auto value_bytes = static_cast<size_t>(o.value_kb) * 1024;
    auto puts = static_cast<uint64_t>(o.state_mb) * 1024 / o.value_kb;
    auto ctx = std::make_shared<load_ctx>();
    ctx->leader = c.nodes[leader].handle;
    ctx->total = puts;
    ctx->payload = [value_bytes](uint64_t seq) {
      std::string value(value_bytes, static_cast<char>('a' + seq % 26));
      return raft::fsm::encode(raft::fsm::kv_command::put(key_of(seq), std::move(value)));
    };
    std::fprintf(stderr, "filling: %llu puts of %d KiB, %d clients\n",
                 static_cast<unsigned long long>(puts), o.value_kb, o.conc);
    auto fill_secs = run_load(c.self(), ctx, o.conc, "fill");
    if (ctx->errors.load() > 0)
      throw run_error("fill: " + std::to_string(ctx->errors.load())
                      + " applies failed, first: " + ctx->first_error);
    auto conv = c.wait_converged(leader, 120s);
    std::fprintf(stderr, "filled in %.1f s (%.1f MiB/s), converged %.2f s "
                 "later; keys=%zu\n",
                 fill_secs, o.state_mb / fill_secs, conv,
                 c.nodes[leader].fsm->size());

    // The user snapshot: capture + encode + write + fsync + rename.
    std::fprintf(stderr, "taking a snapshot on the leader (mono %.3f)\n",
                 mono());
    auto cpu0 = cpu_seconds();
    auto t0 = steady::now();
    auto meta = c.ask<snapshot_meta>(leader, snapshot_atom_v);
    auto snap_secs = since(t0);
    auto snap_cpu = cpu_seconds() - cpu0;
    auto st = c.stats(leader);
    std::fprintf(stderr,
                 "snapshot %s: %.1f MiB in %.2f s (%.1f MiB/s); leader log "
                 "now %s..%s\n",
                 meta.id.c_str(), mib(meta.size), snap_secs,
                 mib(meta.size) / snap_secs, st["first_log_index"].c_str(),
                 st["last_log_index"].c_str());

    // A new server with empty stores joins; its next entry is compacted
    // away, so the leader sends it the snapshot.
    std::fprintf(stderr, "adding n3 as a voter (mono %.3f)\n", mono());
    cpu0 = cpu_seconds();
    t0 = steady::now();
    auto& n3 = c.add("n3", configuration{});
    auto n3i = c.nodes.size() - 1;
    auto n3_snaps = n3.snaps;
    configuration_change chg{change_kind::add_voter, "n3", "n3", 0};
    auto chg_index = c.ask<index_t>(leader, change_atom_v, chg);
    auto change_secs = since(t0);
    double stored_secs = -1;
    double applied_secs = -1;
    auto last_report = steady::now();
    for (;;) {
      if (stored_secs < 0) {
        auto ls = n3_snaps->list();
        if (ls && !ls->empty()) {
          stored_secs = since(t0);
          std::fprintf(stderr, "  install: snapshot stored on n3 (mono %.3f)\n",
                       mono());
        }
      }
      auto want = c.ask<index_t>(leader, commit_atom_v);
      auto have = c.ask<index_t>(n3i, applied_atom_v);
      if (have >= want && have >= meta.index) {
        applied_secs = since(t0);
        std::fprintf(stderr, "  install: n3 applied %llu (mono %.3f)\n",
                     static_cast<unsigned long long>(have), mono());
        break;
      }
      if (since(t0) > 1800)
        throw run_error("n3 did not catch up within 30 min");
      if (steady::now() - last_report >= 5s) {
        last_report = steady::now();
        std::fprintf(stderr, "  install: n3 applied %llu of %llu, %.0f s%s\n",
                     static_cast<unsigned long long>(have),
                     static_cast<unsigned long long>(want), since(t0),
                     stored_secs >= 0 ? " (snapshot stored)" : "");
      }
      std::this_thread::sleep_for(5ms);
    }
    auto install_cpu = cpu_seconds() - cpu0;
    auto n3st = c.stats(n3i);
    auto n3_keys = n3.fsm->size();
    auto leader_keys = c.nodes[leader].fsm->size();
    bool same = n3.fsm->items() == c.nodes[leader].fsm->items();
    std::fprintf(stderr,
                 "n3 caught up in %.2f s (snapshot stored after %.2f s, "
                 "change committed after %.2f s); n3 first_log_index=%s "
                 "last_snapshot_index=%s; state %s\n",
                 applied_secs, stored_secs, change_secs,
                 n3st["first_log_index"].c_str(),
                 n3st["last_snapshot_index"].c_str(),
                 same ? "identical" : "DIFFERENT");
    char load[128] = "?";
    if (double l[3]; getloadavg(l, 3) == 3)
      std::snprintf(load, sizeof(load), "%.2f,%.2f,%.2f", l[0], l[1], l[2]);
    std::printf(
      "mode=snapshot nodes=3 state_mb=%d value_kb=%d puts=%llu conc=%d "
      "fill_secs=%.2f fill_mib_per_s=%.1f snapshot_index=%llu "
      "snapshot_bytes=%llu snapshot_mib=%.1f snapshot_secs=%.3f "
      "snapshot_mib_per_s=%.1f snapshot_cpu_secs=%.2f trailing_logs=%d "
      "chunk_bytes=%zu change_index=%llu change_committed_secs=%.3f "
      "install_stored_secs=%.3f install_secs=%.3f install_mib_per_s=%.1f "
      "install_cpu_secs=%.2f n3_snapshots_installed_from=%s "
      "n3_first_log_index=%s keys_leader=%zu keys_n3=%zu state_identical=%s "
      "store=sqlite/FULL snapshots=file transport=inmem loadavg=%s\n",
      o.state_mb, o.value_kb, static_cast<unsigned long long>(puts), o.conc,
      fill_secs, o.state_mb / fill_secs,
      static_cast<unsigned long long>(meta.index),
      static_cast<unsigned long long>(meta.size), mib(meta.size), snap_secs,
      mib(meta.size) / snap_secs, snap_cpu, o.trailing_logs,
      settings.snapshot_chunk_size,
      static_cast<unsigned long long>(chg_index), change_secs, stored_secs,
      applied_secs, mib(meta.size) / applied_secs, install_cpu,
      n3st["last_snapshot_index"].c_str(), n3st["first_log_index"].c_str(),
      leader_keys, n3_keys, same ? "true" : "false", load);
    std::fflush(stdout);
    if (!same)
      throw run_error("n3's state differs from the leader's");
  } catch (...) {
    c.failed = true;
    throw;
  }
}

// -- disk mode ----------------------------------------------------------------

void run_disk(caf::actor_system& sys, const options& o,
              std::shared_ptr<spdlog::logger> logger) {
  raft_config settings; // HashiCorp's defaults: threshold 8192, trailing 10240
  bool default_interval = o.snapshot_interval_ms == 0;
  if (!default_interval)
    settings.snapshot_interval
      = std::chrono::milliseconds{o.snapshot_interval_ms};
  cluster c{sys, o, make_base(o), settings, logger};
  try {
    auto conf = voters(3);
    for (auto& s : conf.servers)
      c.add(s.id, conf);
    auto leader = c.wait_leader(30s);
    std::fprintf(stderr,
                 "leader %s; data in %s; snapshot_interval=%lld ms%s, "
                 "threshold=%llu, trailing_logs=%llu\n",
                 c.nodes[leader].id.c_str(), c.base().c_str(),
                 static_cast<long long>(settings.snapshot_interval.count()),
                 default_interval ? " (default)" : "",
                 static_cast<unsigned long long>(settings.snapshot_threshold),
                 static_cast<unsigned long long>(settings.trailing_logs));
    auto ctx = std::make_shared<load_ctx>();
    ctx->leader = c.nodes[leader].handle;
    ctx->total = static_cast<uint64_t>(o.applies);
    auto size = static_cast<size_t>(o.size);
    auto keys = static_cast<uint64_t>(o.keys);
    ctx->payload = [size, keys](uint64_t seq) {
      std::string value(size, static_cast<char>('a' + seq % 26));
      return raft::fsm::encode(raft::fsm::kv_command::put(key_of(seq % keys),
                                              std::move(value)));
    };
    auto cpu0 = cpu_seconds();
    auto secs = run_load(c.self(), ctx, o.conc, "applies");
    auto cpu = cpu_seconds() - cpu0;
    auto conv = c.wait_converged(leader, 120s);
    std::fprintf(stderr, "%llu applies in %.1f s (%.0f/s), converged %.2f s "
                 "later, %llu errors%s%s\n",
                 static_cast<unsigned long long>(ctx->ok.load()), secs,
                 static_cast<double>(ctx->ok.load()) / secs, conv,
                 static_cast<unsigned long long>(ctx->errors.load()),
                 ctx->errors.load() > 0 ? ", first: " : "",
                 ctx->first_error.c_str());
    // Idle, the cluster only snapshots on the periodic check; report what
    // each node has done every 30 s while holding.
    auto hold_until = steady::now() + std::chrono::seconds{o.hold_secs};
    while (steady::now() < hold_until) {
      std::this_thread::sleep_for(
        std::min<steady::duration>(30s, hold_until - steady::now()));
      std::string what;
      for (size_t i = 0; i < c.nodes.size(); ++i) {
        auto st = c.stats(i);
        what += " " + c.nodes[i].id + ": snapshot " + st["last_snapshot_index"]
                + ", log " + st["first_log_index"] + ".."
                + st["last_log_index"] + ";";
      }
      std::fprintf(stderr, "  holding, %.0f s left:%s\n",
                   std::chrono::duration<double>(hold_until - steady::now())
                     .count(),
                   what.c_str());
    }
    char load[128] = "?";
    if (double l[3]; getloadavg(l, 3) == 3)
      std::snprintf(load, sizeof(load), "%.2f,%.2f,%.2f", l[0], l[1], l[2]);
    std::string line;
    char buf[512];
    std::snprintf(
      buf, sizeof(buf),
      "mode=disk nodes=3 applies=%llu ok=%llu errors=%llu size=%d keys=%d "
      "conc=%d secs=%.2f applies_per_s=%.1f cpu_cores=%.2f "
      "snapshot_interval_ms=%lld snapshot_interval_default=%s "
      "snapshot_threshold=%llu trailing_logs=%llu hold_secs=%ld",
      static_cast<unsigned long long>(o.applies),
      static_cast<unsigned long long>(ctx->ok.load()),
      static_cast<unsigned long long>(ctx->errors.load()), o.size, o.keys,
      o.conc, secs, static_cast<double>(ctx->ok.load()) / secs, cpu / secs,
      static_cast<long long>(settings.snapshot_interval.count()),
      default_interval ? "true" : "false",
      static_cast<unsigned long long>(settings.snapshot_threshold),
      static_cast<unsigned long long>(settings.trailing_logs), o.hold_secs);
    line = buf;
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      auto& m = c.nodes[i];
      auto st = c.stats(i);
      auto db = size_of(m.dir + "/logs");
      auto wal = size_of(m.dir + "/logs-wal");
      auto shm = size_of(m.dir + "/logs-shm");
      auto snap_dir = dir_size(m.dir + "/" + snapshots_folder);
      auto ls = m.snaps->list();
      size_t kept = ls ? ls->size() : 0;
      std::snprintf(
        buf, sizeof(buf),
        " %s_role=%s %s_db_bytes=%llu %s_wal_bytes=%llu %s_shm_bytes=%llu "
        "%s_logs_total_mib=%.1f %s_snapdir_bytes=%llu %s_snapshots_kept=%zu "
        "%s_last_snapshot_index=%s %s_first_log_index=%s "
        "%s_last_log_index=%s",
        m.id.c_str(), st["state"].c_str(), m.id.c_str(),
        static_cast<unsigned long long>(db), m.id.c_str(),
        static_cast<unsigned long long>(wal), m.id.c_str(),
        static_cast<unsigned long long>(shm), m.id.c_str(),
        mib(db + wal + shm), m.id.c_str(),
        static_cast<unsigned long long>(snap_dir), m.id.c_str(), kept,
        m.id.c_str(), st["last_snapshot_index"].c_str(), m.id.c_str(),
        st["first_log_index"].c_str(), m.id.c_str(),
        st["last_log_index"].c_str());
      line += buf;
    }
    line += " store=sqlite/FULL snapshots=file transport=inmem loadavg=";
    line += load;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  } catch (...) {
    c.failed = true;
    throw;
  }
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse(argc, argv);
  bench::watchdog dog{"snapshot-bench: -timeout", opts.timeout};
  caf::actor_system_config cfg;
  register_types(cfg);
  register_kv_types(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  std::shared_ptr<spdlog::logger> logger;
  if (opts.verbose) {
    logger = spdlog::stderr_color_mt("raft");
    logger->set_level(spdlog::level::info);
  }
  bool failed = false;
  {
    caf::actor_system sys{cfg};
    try {
      if (opts.mode == "snapshot")
        run_snapshot(sys, opts, logger);
      else
        run_disk(sys, opts, logger);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "snapshot-bench: mode=%s error: %s\n",
                   opts.mode.c_str(), e.what());
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
