// raft-bench: the commit path of caf-raft with one OS process per node over
// the real network transport, shaped like the Go peer
// (/work/shared/peers/hashicorp-bench) so that the two can be compared line
// for line with ../shared/peers/limits/summarize.py.
//
// One binary, two roles:
//
//   raft-bench [flags]                 driver: spawns the nodes, drives the
//                                      runs, prints one key=value line per run
//   raft-bench node -id .. -dir .. ..  one raft server (started by the driver)
//
// Every node is a separate process with its own CAF actor system, the
// network transport on 127.0.0.1 (kernel-chosen port; mutual TLS with a
// per-run CA made by scripts/make-certs.sh, or plain TCP with -insecure),
// its own SQLite log+stable store (synchronous=FULL unless -nosync, which
// maps to synchronous=NORMAL and says so in `store=`), a file snapshot store
// (retain 2) and a no-op FSM that counts applied commands. Settings are
// HashiCorp's defaults, as the peer's: heartbeat and election timeout 1 s,
// max_append_entries 64, snapshot threshold 8192, interval 120 s.
//
// The driver talks to each node over the node's stdin/stdout with the
// peer's line protocol (ADDR, BOOT, STATE, BENCH, QUIT); the clients run
// inside the leader process as `conc` actors, each with one apply in flight.
// Per (rep, nodes): a fresh cluster, every concurrency in turn, each with a
// warm-up. After each window the driver waits (bounded) until every node's
// FSM count equals the leader's.
//
// Extra keys after the peer's: rss_rest_mb (largest resident set of a node
// process once the leader is elected, before any load), rss_load_mb
// (largest at the end of the measured window) and rss_follower_mb (largest
// of the followers then: the leader's process also runs the load, whose
// latency samples take 8 bytes per commit).
//
// Everything is bounded: -timeout in the driver, -maxlife in every node,
// reply timeouts on every request, and a node exits when its stdin closes.
//
//   raft-bench [-nodes 1,3] [-conc 1,8,64,256] [-size 128] [-secs 5]
//              [-warmup 1] [-repeat 1] [-dir $TMPDIR] [-keep] [-nosync]
//              [-insecure] [-v] [-loglevel warn] [-timeout 1200]
//              [-apply-timeout 0] [-make-certs PATH] [--caf.group.key=value ...]

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/protocol/consensus.hpp"
#include "caf-raft/actors/transport/address_book.hpp"
#include "caf-raft/actors/transport/net_transport.hpp"
#include "caf-raft/apps/bench/cli.hpp"
#include "caf-raft/apps/bench/counting_fsm.hpp"
#include "caf-raft/apps/bench/counting_store.hpp"
#include "caf-raft/apps/bench/load.hpp"
#include "caf-raft/apps/bench/stages.hpp"
#include "caf-raft/apps/bench/watchdog.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/node_process_config.hpp"
#include "caf-raft/config/tls_settings.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

using namespace raft;
using namespace raft::bench;
using namespace std::chrono_literals;

namespace {

constexpr const char* peer_name = "caf-raft";

std::map<std::string, std::string> parse_kv(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in{line};
  std::string word;
  while (in >> word)
    if (auto eq = word.find('='); eq != std::string::npos && eq > 0)
      out[word.substr(0, eq)] = word.substr(eq + 1);
  return out;
}

uint64_t to_u64(const std::map<std::string, std::string>& kv,
                const std::string& key) {
  auto i = kv.find(key);
  return i == kv.end() ? 0 : std::strtoull(i->second.c_str(), nullptr, 10);
}

double to_f64(const std::map<std::string, std::string>& kv,
              const std::string& key, double def) {
  auto i = kv.find(key);
  return i == kv.end() ? def : std::strtod(i->second.c_str(), nullptr);
}

/// Resident set of process `pid` ("self" for this one) in KiB, 0 if unknown.
uint64_t rss_kib(const std::string& pid) {
  std::ifstream in{"/proc/" + pid + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}

// -- node role ----------------------------------------------------------------

void reply(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

struct node_flags {
  std::string id;
  std::string dir;
  std::string certs;
  bool insecure = false;
  bool nosync = false;
  std::string loglevel = "warn";
  double maxlife = 15 * 60;
  /// CAF settings passed through as given (--group.key=value).
  std::vector<std::string> caf_args;
};

/// True for a CAF setting: --group.key=value.
bool is_caf_arg(const std::string& arg) {
  return arg.rfind("--", 0) == 0 && arg.find('.') != std::string::npos
         && arg.find('=') != std::string::npos;
}

node_flags parse_node(int argc, char** argv) {
  node_flags o;
  for (int i = 2; i < argc; ++i) {
    if (is_caf_arg(argv[i])) {
      o.caf_args.push_back(argv[i]);
      continue;
    }
    flag f{argv[i]};
    if (f.name == "id")
      o.id = flag_value(f, i, argc, argv);
    else if (f.name == "dir")
      o.dir = flag_value(f, i, argc, argv);
    else if (f.name == "certs")
      o.certs = flag_value(f, i, argc, argv);
    else if (f.name == "insecure")
      o.insecure = true;
    else if (f.name == "nosync")
      o.nosync = true;
    else if (f.name == "loglevel")
      o.loglevel = flag_value(f, i, argc, argv);
    else if (f.name == "maxlife")
      o.maxlife = to_double(argv[i], flag_value(f, i, argc, argv));
    else
      throw std::invalid_argument("unknown flag " + std::string{argv[i]});
  }
  if (o.id.empty() || o.dir.empty())
    throw std::invalid_argument("node: -id and -dir are required");
  if (!o.insecure && o.certs.empty())
    throw std::invalid_argument("node: -certs DIR (or -insecure) is required");
  return o;
}

/// The node's TLS files as scripts/make-certs.sh names them, or insecure.
tls_settings node_tls(const node_flags& flags) {
  tls_settings t;
  if (flags.insecure) {
    t.insecure = true;
  } else {
    t.certificate = flags.certs + "/" + flags.id + ".pem";
    t.key = flags.certs + "/" + flags.id + ".key";
    t.cafile = flags.certs + "/ca.pem";
  }
  return t;
}

/// One raft server answering the driver's line protocol on stdin/stdout.
class bench_node {
public:
  bench_node(caf::actor_system& sys, node_flags flags,
             std::shared_ptr<spdlog::logger> log)
    : sys_(sys), flags_(std::move(flags)), log_(std::move(log)),
      self_(sys), book_(std::make_shared<address_book>()) {
  }

  ~bench_node() {
    shutdown();
  }

  /// Starts the transport and opens the stores; returns "ADDR host:port".
  std::string start() {
    net_transport_options topts;
    topts.local_id = flags_.id;
    topts.listen_host = "127.0.0.1";
    topts.listen_port = 0;
    auto book = book_;
    topts.addresses = address_book::provider(book);
    topts.tls = node_tls(flags_);
    topts.logger = log_;
    auto tr = spawn_net_transport(sys_, topts);
    if (!tr)
      return "ERR transport: " + describe(tr.error());
    transport_ = *tr;
    std::string addr;
    std::string err;
    self_->request(transport_, 5s, net_stats_atom_v)
      .receive([&](stats_map& m) { addr = m["local_address"]; },
               [&](caf::error& e) { err = describe(e); });
    if (addr.empty())
      return "ERR transport address: " + err;
    auto db = new_log_store(flags_.dir, flags_.nosync ? sync_mode::normal
                                                      : sync_mode::full);
    if (!db)
      return "ERR store: " + describe(db.error());
    store_ = std::make_shared<counting_store>(*db);
    auto snaps = new_snapshot_store(flags_.dir, 2, log_);
    if (!snaps)
      return "ERR snapshots: " + describe(snaps.error());
    snapshots_ = *snaps;
    return "ADDR " + addr;
  }

  std::string handle(const std::string& line) {
    auto cmd = line.substr(0, line.find(' '));
    auto kv = parse_kv(line);
    if (cmd == "BOOT")
      return boot(kv["servers"]);
    if (cmd == "STATE")
      return state();
    if (cmd == "BENCH")
      return bench(kv);
    if (cmd == "TRACE")
      return trace(kv);
    return "ERR unknown command " + cmd;
  }

  /// Stops the node and the transport and closes the store (bounded).
  void shutdown() {
    if (node_) {
      self_->monitor(node_);
      caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
      bool down = false;
      self_->receive([&](caf::down_msg&) { down = true; },
                     caf::after(10s) >> [] {});
      if (!down)
        std::fprintf(stderr, "node %s: raft node did not stop in 10 s\n",
                     flags_.id.c_str());
      node_ = nullptr;
    }
    if (transport_) {
      caf::anon_send_exit(transport_, caf::exit_reason::user_shutdown);
      transport_ = nullptr;
    }
    store_.reset();
    snapshots_.reset();
  }

private:
  // BOOT servers=id@addr,id@addr,...
  std::string boot(const std::string& servers) {
    if (node_)
      return "ERR already booted";
    configuration conf;
    std::istringstream in{servers};
    std::string item;
    while (std::getline(in, item, ',')) {
      auto at = item.find('@');
      if (at == std::string::npos)
        continue;
      auto id = item.substr(0, at);
      auto addr = item.substr(at + 1);
      book_->set(id, addr);
      conf.servers.push_back(server{suffrage::voter, id, addr});
    }
    if (auto err = bootstrap_cluster(*store_, *store_, conf))
      return "ERR bootstrap: " + describe(err);
    fsm_ = std::make_shared<counting_fsm>();
    node_options no;
    // HashiCorp's DefaultConfig, with ShutdownOnRemove off (as Juju).
    no.settings.local_id = flags_.id;
    no.settings.shutdown_on_remove = false;
    no.log = store_;
    no.stable = store_;
    no.fsm = fsm_;
    no.snapshots = snapshots_;
    no.transport = transport_;
    no.logger = log_;
    node_ = spawn_node(sys_, no);
    return "OK";
  }

  std::string state() {
    std::string r = "None";
    if (node_) {
      caf::error err;
      self_->request(node_, 5s, state_atom_v)
        .receive([&](role x) { r = to_string(x); },
                 [&](caf::error& e) { err = e; });
      if (err)
        return "ERR state: " + describe(err);
    }
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "STATE role=%s fsm=%llu store_calls=%llu store_entries=%llu",
                  r.c_str(),
                  static_cast<unsigned long long>(fsm_ ? fsm_->count() : 0),
                  static_cast<unsigned long long>(store_->calls.load()),
                  static_cast<unsigned long long>(store_->entries.load()));
    return buf;
  }

  // TRACE on=1 | TRACE file=PATH: starts recording the commit stages, or
  // writes them to PATH and stops (raft-bench -stages).
  std::string trace(std::map<std::string, std::string>& kv) {
    if (kv.count("on") != 0) {
      commit_trace::enable(true);
      return "OK";
    }
    auto n = dump_trace(kv["file"]);
    return "OK records=" + std::to_string(n);
  }

  // BENCH conc=.. size=.. secs=.. warmup=..
  std::string bench(std::map<std::string, std::string>& kv) {
    if (!node_)
      return "ERR not booted";
    auto conc = static_cast<int>(to_u64(kv, "conc"));
    auto size = static_cast<int>(to_u64(kv, "size"));
    auto secs = to_f64(kv, "secs", 5);
    auto warm = to_f64(kv, "warmup", 0);
    auto apply_timeout = to_f64(kv, "apply_timeout", 0);
    if (conc < 1 || secs <= 0)
      return "ERR bad BENCH";
    if (warm > 0) {
      auto w = run_load(self_, node_, conc, size, warm, apply_timeout);
      if (!stop_clients(self_, w.clients) || !w.complete)
        return "ERR warm-up clients did not finish";
    }
    auto c0 = store_->calls.load();
    auto e0 = store_->entries.load();
    auto res = run_load(self_, node_, conc, size, secs, apply_timeout);
    auto c1 = store_->calls.load();
    auto e1 = store_->entries.load();
    if (!stop_clients(self_, res.clients) || !res.complete)
      return "ERR clients did not finish within 30 s after the window";
    auto ops = res.ops;
    char buf[512];
    std::snprintf(
      buf, sizeof(buf),
      "RESULT ops=%llu secs=%.3f ops_per_s=%.1f p50_ms=%.3f p90_ms=%.3f "
      "p99_ms=%.3f max_ms=%.3f errors=%llu leader_store_calls=%llu "
      "leader_store_entries=%llu",
      static_cast<unsigned long long>(ops), res.secs,
      res.secs > 0 ? static_cast<double>(ops) / res.secs : 0.0,
      quantile_ms(res.lat_ns, 0.50), quantile_ms(res.lat_ns, 0.90),
      quantile_ms(res.lat_ns, 0.99), static_cast<double>(res.max_ns) / 1e6,
      static_cast<unsigned long long>(res.errors),
      static_cast<unsigned long long>(c1 - c0),
      static_cast<unsigned long long>(e1 - e0));
    return buf;
  }

  caf::actor_system& sys_;
  node_flags flags_;
  std::shared_ptr<spdlog::logger> log_;
  caf::scoped_actor self_;
  std::shared_ptr<address_book> book_;
  net_transport_actor transport_;
  std::shared_ptr<counting_store> store_;
  std::shared_ptr<snapshot_store> snapshots_;
  std::shared_ptr<counting_fsm> fsm_;
  node_actor node_;
};

int node_main(int argc, char** argv) {
  node_flags flags;
  try {
    flags = parse_node(argc, argv);
  } catch (const std::exception& e) {
    reply(std::string{"ERR "} + e.what());
    return 2;
  }
  watchdog life{"raft-bench node " + flags.id, flags.maxlife};
  auto log = spdlog::stderr_color_mt("raft-" + flags.id);
  log->set_level(spdlog::level::from_str(flags.loglevel));
  // Actors on the event loop, no BASP workers, as raftd: see
  // config/node_process_config.hpp. CAF settings below may override them.
  node_process_config cfg;
  register_types(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  if (!flags.caf_args.empty()) {
    std::istringstream no_ini;
    if (auto err = cfg.parse(flags.caf_args, no_ini)) {
      reply("ERR bad CAF setting: " + caf::to_string(err));
      return 2;
    }
  }
  if (auto err = configure_network(cfg, node_tls(flags))) {
    reply("ERR network: " + describe(err));
    return 1;
  }
  // Bounds the clean stop, including the actor system's shutdown.
  std::unique_ptr<watchdog> stopping;
  {
    caf::actor_system sys{cfg};
    {
      bench_node node{sys, flags, log};
      auto first = node.start();
      reply(first);
      if (first.rfind("ERR", 0) == 0)
        return 1;
      std::string line;
      // A closed stdin means the driver is gone.
      while (std::getline(std::cin, line)) {
        if (line.empty())
          continue;
        if (line == "QUIT")
          break;
        reply(node.handle(line));
      }
      stopping = std::make_unique<watchdog>(
        "raft-bench node " + flags.id + " shutdown", 20);
      node.shutdown();
      reply("BYE");
    }
  }
  return 0;
}

// -- driver role ----------------------------------------------------------------

struct run_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct options {
  std::vector<int> nodes{1, 3};
  std::vector<int> concs{1, 8, 64, 256};
  int size = 128;
  double secs = 5;
  double warmup = 1;
  int repeat = 1;
  std::string dir;
  bool keep = false;
  bool nosync = false;
  bool insecure = false;
  bool verbose = false;
  std::string loglevel = "warn";
  double timeout = 20 * 60;
  std::string make_certs;
  /// Per-apply timeout in seconds (CAF's request timeout); 0, the default,
  /// waits for the node's answer. The peer's Apply(payload, 10s) timeout
  /// bounds only the wait to enter HashiCorp's apply queue; a caf-raft node
  /// has no such queue (it accepts or refuses an apply at once) and answers
  /// every apply it accepted (committed, leadership lost, shut down), so a
  /// client needs no timer. CAF 0.17 wakes its clock thread for each
  /// request timeout: `-apply-timeout 10` costs about a fifth of the
  /// commits/s at 3 nodes conc 64.
  double apply_timeout = 0;
  /// Concurrency-1 runs also print where a commit's time goes (stages.hpp).
  bool stages = false;
  /// CAF settings for the nodes, e.g.
  /// --work-stealing.moderate-sleep-duration=1ms (for experiments); each
  /// is appended to the result line as caf:group.key=value.
  std::vector<std::string> caf_args;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty())
    std::fprintf(stderr, "raft-bench: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: raft-bench [-nodes 1,3] [-conc 1,8,64,256] [-size 128] "
               "[-secs 5] [-warmup 1] [-repeat 1] [-dir DIR] [-keep] "
               "[-nosync] [-insecure] [-v] [-loglevel warn] [-timeout SECS] "
               "[-apply-timeout 0] [-make-certs PATH] [-stages] "
               "[--caf.group.key=value ...]\n");
  std::exit(2);
}

std::string self_exe() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    throw run_error("cannot read /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

options parse_driver(int argc, char** argv) {
  options o;
  if (auto t = std::getenv("TMPDIR"); t != nullptr && *t != '\0')
    o.dir = t;
  else
    o.dir = "/tmp";
  try {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (is_caf_arg(arg)) {
        o.caf_args.push_back(arg);
        continue;
      }
      flag f{arg};
      auto value = [&] { return flag_value(f, i, argc, argv); };
      if (f.name == "nodes")
        o.nodes = int_list(arg, value());
      else if (f.name == "conc")
        o.concs = int_list(arg, value());
      else if (f.name == "size")
        o.size = to_int(arg, value(), 0);
      else if (f.name == "secs")
        o.secs = to_double(arg, value());
      else if (f.name == "warmup")
        o.warmup = to_double(arg, value());
      else if (f.name == "repeat")
        o.repeat = to_int(arg, value(), 1);
      else if (f.name == "dir")
        o.dir = value();
      else if (f.name == "timeout")
        o.timeout = to_double(arg, value());
      else if (f.name == "loglevel")
        o.loglevel = value();
      else if (f.name == "apply-timeout")
        o.apply_timeout = to_double(arg, value());
      else if (f.name == "make-certs")
        o.make_certs = value();
      else if (f.name == "keep")
        o.keep = true;
      else if (f.name == "stages")
        o.stages = true;
      else if (f.name == "nosync")
        o.nosync = true;
      else if (f.name == "insecure")
        o.insecure = true;
      else if (f.name == "v")
        o.verbose = true;
      else if (f.name == "h" || f.name == "help")
        usage("");
      else
        usage("unknown flag " + arg);
    }
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  }
  if (o.secs <= 0)
    usage("-secs must be positive");
  if (o.make_certs.empty())
    o.make_certs = std::filesystem::path{self_exe()}.parent_path().parent_path()
                   / "scripts" / "make-certs.sh";
  return o;
}

/// Node processes alive, so the watchdog can kill them.
struct live_set {
  std::mutex mtx;
  std::vector<pid_t> pids;

  void add(pid_t p) {
    std::lock_guard<std::mutex> guard{mtx};
    pids.push_back(p);
  }

  void remove(pid_t p) {
    std::lock_guard<std::mutex> guard{mtx};
    pids.erase(std::remove(pids.begin(), pids.end(), p), pids.end());
  }

  void kill_all() {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto p : pids)
      ::kill(p, SIGKILL);
  }
};

live_set live;

/// A node process and its pipes.
class child {
public:
  child(std::string id, const std::vector<std::string>& args,
        const std::string& log_file)
    : id_(std::move(id)) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
      throw run_error("pipe: " + std::string{std::strerror(errno)});
    int err_fd = -1;
    if (!log_file.empty())
      err_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0600);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0)
      throw run_error("fork: " + std::string{std::strerror(errno)});
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      if (err_fd >= 0)
        dup2(err_fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    live.add(pid_);
    ::close(in[0]);
    ::close(out[1]);
    if (err_fd >= 0)
      ::close(err_fd);
    in_ = in[1];
    out_ = out[0];
  }

  ~child() {
    close_stdin();
    if (out_ >= 0)
      ::close(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      live.remove(pid_);
    }
  }

  const std::string& id() const {
    return id_;
  }

  pid_t pid() const {
    return pid_;
  }

  std::string addr;

  /// Sends a line and returns the reply; throws on "ERR", timeout or exit.
  std::string request(const std::string& line, std::chrono::milliseconds limit) {
    auto text = line + "\n";
    size_t done = 0;
    while (done < text.size()) {
      auto n = ::write(in_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        throw run_error(id_ + ": write: " + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return next(limit);
  }

  /// The next line from the node; throws on "ERR", timeout or exit.
  std::string next(std::chrono::milliseconds limit) {
    auto deadline = steady::now() + limit;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (line.rfind("ERR", 0) == 0)
          throw run_error(id_ + ": " + line);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - steady::now())
                    .count();
      if (left <= 0)
        throw run_error(id_ + ": no reply within "
                        + std::to_string(limit.count()) + " ms");
      pollfd p{out_, POLLIN, 0};
      auto rc = poll(&p, 1, static_cast<int>(left));
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0)
        continue;
      char chunk[4096];
      auto n = ::read(out_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        throw run_error(id_ + ": exited");
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  void close_stdin() {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
  }

  /// Asks the node to stop and waits (bounded), killing it if needed.
  void stop() {
    if (pid_ <= 0)
      return;
    try {
      request("QUIT", 15s);
    } catch (const std::exception&) {
      // it may be gone already; the wait below decides
    }
    close_stdin();
    auto limit = steady::now() + 15s;
    while (steady::now() < limit) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        live.remove(pid_);
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::fprintf(stderr, "raft-bench: node %s did not exit; killing it\n",
                 id_.c_str());
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    live.remove(pid_);
    pid_ = -1;
  }

private:
  std::string id_;
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buf_;
};

using kvs = std::map<std::string, std::string>;

std::vector<kvs> states(std::vector<std::unique_ptr<child>>& kids) {
  std::vector<kvs> out;
  for (auto& c : kids)
    out.push_back(parse_kv(c->request("STATE", 10s)));
  return out;
}

/// User+system CPU of all node processes in seconds (USER_HZ ticks from
/// /proc/PID/stat, as the peer measures).
double node_cpu_seconds(std::vector<std::unique_ptr<child>>& kids) {
  uint64_t ticks = 0;
  for (auto& c : kids) {
    std::ifstream in{"/proc/" + std::to_string(c->pid()) + "/stat"};
    std::string s((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
    auto rp = s.rfind(')');
    if (rp == std::string::npos)
      continue;
    std::istringstream f{s.substr(rp + 1)};
    std::vector<std::string> fields;
    std::string w;
    while (f >> w)
      fields.push_back(w);
    if (fields.size() > 12)
      ticks += std::strtoull(fields[11].c_str(), nullptr, 10)
               + std::strtoull(fields[12].c_str(), nullptr, 10);
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// Largest resident set of the node processes but `skip`, in MiB.
double max_rss_mib(std::vector<std::unique_ptr<child>>& kids,
                   const child* skip = nullptr) {
  uint64_t most = 0;
  for (auto& c : kids)
    if (c.get() != skip)
      most = std::max(most, rss_kib(std::to_string(c->pid())));
  return static_cast<double>(most) / 1024.0;
}

child* wait_leader(std::vector<std::unique_ptr<child>>& kids,
                   steady::duration limit) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    auto st = states(kids);
    child* leader = nullptr;
    int leaders = 0;
    for (size_t i = 0; i < st.size(); ++i)
      if (st[i]["role"] == "Leader") {
        leader = kids[i].get();
        ++leaders;
      }
    if (leaders == 1)
      return leader;
    std::this_thread::sleep_for(50ms);
  }
  return nullptr;
}

/// Waits until every node's FSM count equals the leader's (final once the
/// load has stopped).
std::pair<bool, int64_t> wait_converged(std::vector<std::unique_ptr<child>>& kids,
                                        child* leader, steady::duration limit) {
  auto start = steady::now();
  auto ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now()
                                                                 - start)
      .count();
  };
  while (steady::now() < start + limit) {
    auto st = states(kids);
    uint64_t want = 0;
    for (size_t i = 0; i < kids.size(); ++i)
      if (kids[i].get() == leader)
        want = to_u64(st[i], "fsm");
    bool ok = true;
    for (auto& s : st)
      if (to_u64(s, "fsm") != want)
        ok = false;
    if (ok)
      return {true, ms()};
    std::this_thread::sleep_for(20ms);
  }
  return {false, ms()};
}

std::chrono::milliseconds secs_ms(double secs) {
  return std::chrono::milliseconds{static_cast<int64_t>(secs * 1000)};
}

/// Collects every node's commit trace of the last run and prints the
/// per-stage breakdown as a "stages" line (and a table on stderr).
void print_stages(std::vector<std::unique_ptr<child>>& kids, child* leader,
                  const std::string& base, int n, int conc,
                  const char* transport, int rep) {
  std::optional<trace_view> lead;
  std::vector<trace_view> followers;
  for (auto& c : kids) {
    auto file = base + "/trace-" + c->id() + ".txt";
    c->request("TRACE file=" + file, 60s);
    if (c.get() == leader)
      lead.emplace(file);
    else
      followers.emplace_back(file);
  }
  auto line = stage_breakdown(*lead, followers);
  std::printf("stages peer=%s nodes=%d conc=%d transport=%s run=%d %s\n",
              peer_name, n, conc, transport, rep, line.c_str());
}

void run_cluster(const options& o, const std::string& run_dir, int n, int rep) {
  auto base = run_dir + "/n" + std::to_string(n) + "-r" + std::to_string(rep);
  std::filesystem::create_directories(base);
  auto exe = self_exe();
  // Non-default settings that change what is measured, appended to the
  // line (empty by default, so the line keeps the peer's shape).
  std::string extra;
  if (o.apply_timeout != 0) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " apply_timeout_s=%g", o.apply_timeout);
    extra += buf;
  }
  for (auto& a : o.caf_args)
    extra += " caf:" + a.substr(2);
  std::vector<std::unique_ptr<child>> kids;
  bool failed = false;
  auto teardown = [&] {
    for (auto& c : kids)
      c->stop();
    kids.clear();
    if (o.keep || failed) {
      std::fprintf(stderr, "node data and logs kept in %s\n", base.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(base, ec);
    }
  };
  try {
    for (int i = 0; i < n; ++i) {
      auto id = "n" + std::to_string(i);
      std::vector<std::string> args{exe,        "node",   "-id",
                                    id,         "-dir",   base + "/" + id,
                                    "-loglevel", o.loglevel};
      if (o.insecure)
        args.push_back("-insecure");
      else
        args.insert(args.end(), {"-certs", run_dir + "/certs"});
      if (o.nosync)
        args.push_back("-nosync");
      args.insert(args.end(), o.caf_args.begin(), o.caf_args.end());
      auto log_file = o.verbose ? std::string{} : base + "/" + id + ".log";
      kids.push_back(std::make_unique<child>(id, args, log_file));
    }
    std::string servers;
    for (auto& c : kids) {
      auto l = c->next(30s);
      if (l.rfind("ADDR ", 0) != 0)
        throw run_error(c->id() + ": unexpected " + l);
      c->addr = l.substr(5);
      servers += (servers.empty() ? "" : ",") + c->id() + "@" + c->addr;
    }
    for (auto& c : kids)
      c->request("BOOT servers=" + servers, 30s);
    auto t_elect = steady::now();
    auto leader = wait_leader(kids, 30s);
    if (leader == nullptr)
      throw run_error("no single leader elected within 30 s");
    auto rss_rest = max_rss_mib(kids);
    std::fprintf(stderr, "nodes=%d run=%d: leader %s after %lld ms\n", n, rep,
                 leader->id().c_str(),
                 static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                     steady::now() - t_elect)
                     .count()));
    for (auto conc : o.concs) {
      char req[256];
      if (o.warmup > 0) {
        std::snprintf(req, sizeof(req), "BENCH conc=%d size=%d secs=%g warmup=0 "
                      "apply_timeout=%g",
                      conc, o.size, o.warmup, o.apply_timeout);
        leader->request(req, secs_ms(o.warmup) + 2min);
      }
      bool trace = o.stages && conc == 1;
      if (trace)
        for (auto& c : kids)
          c->request("TRACE on=1", 30s);
      auto before = states(kids);
      auto cpu0 = node_cpu_seconds(kids);
      std::snprintf(req, sizeof(req), "BENCH conc=%d size=%d secs=%g warmup=0 "
                    "apply_timeout=%g",
                    conc, o.size, o.secs, o.apply_timeout);
      auto res = leader->request(req, secs_ms(o.secs) + 2min);
      auto cpu = node_cpu_seconds(kids) - cpu0;
      auto rss_load = max_rss_mib(kids);
      auto rss_follower = max_rss_mib(kids, leader);
      res = res.substr(res.find(' ') + 1); // drop "RESULT"
      auto [converged, conv_ms] = wait_converged(kids, leader, 15s);
      auto after = states(kids);
      uint64_t fc = 0;
      uint64_t fe = 0;
      for (size_t i = 0; i < kids.size(); ++i) {
        if (kids[i].get() == leader)
          continue;
        fc += to_u64(after[i], "store_calls") - to_u64(before[i], "store_calls");
        fe += to_u64(after[i], "store_entries")
              - to_u64(before[i], "store_entries");
      }
      auto lkv = parse_kv(res);
      auto lc = to_f64(lkv, "leader_store_calls", 0);
      auto le = to_f64(lkv, "leader_store_entries", 0);
      auto secs = to_f64(lkv, "secs", 0);
      auto ops = to_f64(lkv, "ops", 0);
      double lb = lc > 0 ? le / lc : 0;
      double fb = fc > 0 ? static_cast<double>(fe) / static_cast<double>(fc)
                         : 0;
      std::printf(
        "peer=%s nodes=%d conc=%d size=%d %s leader_avg_batch=%.2f "
        "follower_avg_batch=%.2f cpu_cores=%.2f cpu_us_per_op=%.1f "
        "converged=%s converge_ms=%lld store=sqlite/%s procs=separate "
        "transport=%s run=%d rss_rest_mb=%.1f rss_load_mb=%.1f "
        "rss_follower_mb=%.1f%s\n",
        peer_name, n, conc, o.size, res.c_str(), lb, fb,
        secs > 0 ? cpu / secs : 0.0, ops > 0 ? cpu / ops * 1e6 : 0.0,
        converged ? "true" : "false", static_cast<long long>(conv_ms),
        o.nosync ? "nosync-synchronous-normal" : "fsync",
        o.insecure ? "tcp-127.0.0.1" : "tls-127.0.0.1", rep, rss_rest,
        rss_load, rss_follower, extra.c_str());
      if (trace)
        print_stages(kids, leader, base, n, conc,
                     o.insecure ? "tcp-127.0.0.1" : "tls-127.0.0.1", rep);
      std::fflush(stdout);
    }
  } catch (...) {
    failed = true;
    teardown();
    throw;
  }
  teardown();
}

int driver_main(int argc, char** argv) {
  auto o = parse_driver(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  watchdog dog{"raft-bench", o.timeout, [] { live.kill_all(); }};
  auto tmpl = o.dir + "/caf-raft-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    usage("cannot create a folder under " + o.dir);
  std::string run_dir = tmpl;
  bool failed = false;
  if (!o.insecure) {
    // One CA and certificates for the largest cluster, shared by the runs.
    auto most = *std::max_element(o.nodes.begin(), o.nodes.end());
    std::string cmd = "'" + o.make_certs + "' '" + run_dir + "/certs'";
    for (int i = 0; i < most; ++i)
      cmd += " n" + std::to_string(i);
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "raft-bench: %s failed (set -make-certs PATH)\n",
                   cmd.c_str());
      std::filesystem::remove_all(run_dir);
      return 1;
    }
  }
  for (int rep = 1; rep <= o.repeat; ++rep)
    for (auto n : o.nodes) {
      try {
        run_cluster(o, run_dir, n, rep);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "peer=%s nodes=%d run=%d error: %s\n", peer_name,
                     n, rep, e.what());
        failed = true;
      }
    }
  if (o.keep || failed) {
    std::fprintf(stderr, "run folder kept: %s\n", run_dir.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(run_dir, ec);
  }
  return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string{argv[1]} == "node")
      return node_main(argc, argv);
    return driver_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raft-bench: %s\n", e.what());
    live.kill_all();
    return 1;
  }
}
