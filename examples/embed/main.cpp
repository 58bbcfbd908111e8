// A host program that embeds caf-raft, built against the installed package
// (CMakeLists.txt here): its own state machine and its own CAF types beside
// the library's, SQLite and file snapshots, and two processes clustered
// over the mutual-TLS transport. docs/embedding.md walks through it.
//
//   embed-example ID DATA_DIR CERT_DIR ID=HOST:PORT ID=HOST:PORT...
//
// Run one process per server, each with the same member list; CERT_DIR
// holds ca.pem and ID.pem/ID.key for each (scripts/make-certs.sh). Once a
// leader is known, the leader adds 5 to the counter, makes a linearizable
// read and prints
//   ID leader: applied at index I, read at index R: counter = C
// and every other server prints "ID follower of LEADER". Then each reads
// lines from stdin: "applied I" waits until this server has applied index
// I and prints "ID applied through I: counter = C"; the end of input stops
// the server. scripts/check-embed.sh drives two of them.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <caf-raft/actors/messages.hpp>
#include <caf-raft/actors/supervisor.hpp>
#include <caf-raft/actors/transport/cluster_identity.hpp>
#include <caf-raft/actors/transport/net_transport.hpp>
#include <caf-raft/actors/type_ids.hpp>
#include <caf-raft/bootstrap/bootstrap.hpp>
#include <caf-raft/config/errc.hpp>
#include <caf-raft/config/tls_settings.hpp>
#include <caf-raft/fsm/state_machine.hpp>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/type_id.hpp"

// The host's own CAF types start where caf-raft's end: a block at
// caf::first_custom_type_id would collide with the library's.
CAF_BEGIN_TYPE_ID_BLOCK(embed_example, ::raft::first_host_type_id)
  CAF_ADD_ATOM(embed_example, example, hello_atom, "hello")
CAF_END_TYPE_ID_BLOCK(embed_example)

namespace example {

using namespace std::chrono_literals;

/// The counter's state as a snapshot: eight bytes.
class counter_snapshot final : public raft::fsm::snapshot {
public:
  explicit counter_snapshot(int64_t value) : value_(value) {
  }

  caf::error persist(raft::snapshot_sink& sink) override {
    // The snapshot closes its sink, or cancels it on failure.
    if (auto err = sink.write(&value_, sizeof(value_))) {
      sink.cancel();
      return err;
    }
    return sink.close();
  }

  void release() override {
  }

private:
  int64_t value_;
};

/// The host's state machine: a counter that each command adds to. The
/// worker's thread applies; main() reads the value, hence the atomic.
class counter final : public raft::fsm::state_machine {
public:
  caf::message apply(const raft::log_entry& e) override {
    if (e.data.size() == sizeof(int64_t)) {
      int64_t x = 0;
      std::memcpy(&x, e.data.data(), sizeof(x));
      value_ += x;
    }
    applied_ = e.index;
    return caf::make_message(value_.load());
  }

  caf::expected<std::unique_ptr<raft::fsm::snapshot>> take_snapshot() override {
    return std::unique_ptr<raft::fsm::snapshot>{new counter_snapshot(value_)};
  }

  caf::error restore(raft::snapshot_reader& in) override {
    int64_t x = 0;
    auto n = in.read(&x, sizeof(x));
    if (!n)
      return std::move(n.error());
    value_ = x;
    return caf::none;
  }

  raft::index_t applied_index() const override {
    return applied_;
  }

  int64_t value() const {
    return value_;
  }

private:
  std::atomic<int64_t> value_ = 0;
  std::atomic<raft::index_t> applied_ = 0;
};

/// The command line, parsed.
struct options {
  std::string id;
  std::string data_dir;
  std::string cert_dir;
  std::map<std::string, std::string> members; // id -> host:port
};

std::optional<options> parse(int argc, char** argv) {
  if (argc < 5)
    return std::nullopt;
  options opts{argv[1], argv[2], argv[3], {}};
  for (int i = 4; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return std::nullopt;
    opts.members.emplace(arg.substr(0, eq), arg.substr(eq + 1));
  }
  if (opts.members.count(opts.id) == 0)
    return std::nullopt;
  return opts;
}

/// The TLS files of server `id`, as scripts/make-certs.sh names them.
raft::tls_settings tls_of(const options& opts) {
  raft::tls_settings tls;
  tls.certificate = opts.cert_dir + "/" + opts.id + ".pem";
  tls.key = opts.cert_dir + "/" + opts.id + ".key";
  tls.cafile = opts.cert_dir + "/ca.pem";
  return tls;
}

/// Writes the founders' configuration once, on an empty folder, with the
/// cluster id every founder derives alike; a second run finds the state
/// and starts from it. Without a configuration no leader is ever elected.
/// The id goes first: a bootstrap cut short is then done again under it.
caf::error bootstrap_once(const raft::config& cfg, const options& opts,
                          raft::cluster_identity& cluster) {
  std::filesystem::create_directories(opts.data_dir);
  auto adopted = cluster.adopt(
    raft::cluster_identity::derive("embed-example", opts.members));
  if (!adopted)
    return adopted.error();
  raft::configuration founders;
  for (auto& [id, address] : opts.members)
    founders.servers.push_back({raft::suffrage::voter, id, address});
  auto err = raft::bootstrap(cfg, founders);
  return is(err, raft::errc::cant_bootstrap) ? caf::none : err;
}

/// The network transport: mutual TLS, peers found by the member list,
/// servers of another cluster refused.
caf::expected<raft::net_transport_actor>
start_transport(caf::actor_system& sys, const options& opts,
                std::shared_ptr<raft::cluster_identity> cluster,
                std::shared_ptr<spdlog::logger> log) {
  auto endpoint = raft::split_host_port(opts.members.at(opts.id));
  if (!endpoint)
    return endpoint.error();
  raft::net_transport_options topts;
  topts.local_id = opts.id;
  topts.listen_host = endpoint->first;
  topts.listen_port = endpoint->second;
  topts.addresses = raft::static_addresses(opts.members);
  topts.tls = tls_of(opts);
  topts.logger = std::move(log);
  topts.cluster = std::move(cluster);
  return raft::spawn_net_transport(sys, topts);
}

/// Waits until this server knows a leader (a few election timeouts).
std::optional<std::string> wait_for_leader(caf::scoped_actor& self,
                                           const raft::node_actor& node) {
  for (int k = 0; k < 300; ++k) {
    std::string leader;
    self->request(node, 10s, raft::leader_atom_v)
      .receive([&](raft::leader_info& x) { leader = x.id; },
               [](caf::error&) {});
    if (!leader.empty())
      return leader;
    self->receive(caf::after(100ms) >> [] {});
  }
  return std::nullopt;
}

/// The leader's part: an apply, then a linearizable read. Once the read
/// answers, the local state holds every write acknowledged before it.
bool lead(caf::scoped_actor& self, const raft::node_actor& node,
          const options& opts, const counter& fsm) {
  int64_t five = 5;
  raft::bytes cmd(sizeof(five));
  std::memcpy(cmd.data(), &five, sizeof(five));
  bool ok = false;
  auto fail = [](caf::error& err) {
    std::cerr << "error: " << raft::describe(err) << '\n';
  };
  self->request(node, 10s, raft::apply_atom_v, cmd)
    .receive(
      [&](raft::index_t idx, caf::message&) {
        self->request(node, 10s, raft::read_atom_v)
          .receive(
            [&](raft::index_t read_index) {
              std::cout << opts.id << " leader: applied at index " << idx
                        << ", read at index " << read_index
                        << ": counter = " << fsm.value() << std::endl;
              ok = true;
            },
            fail);
      },
      fail);
  return ok;
}

/// Answers "applied I" lines until the end of input.
bool serve_stdin(caf::scoped_actor& self, const raft::node_actor& node,
                 const options& opts, const counter& fsm) {
  std::string word;
  raft::index_t target = 0;
  while (std::cin >> word >> target) {
    raft::index_t applied = 0;
    for (int k = 0; k < 300 && applied < target; ++k) {
      self->request(node, 10s, raft::applied_atom_v)
        .receive([&](raft::index_t x) { applied = x; }, [](caf::error&) {});
      if (applied < target)
        self->receive(caf::after(100ms) >> [] {});
    }
    if (applied < target)
      return false;
    std::cout << opts.id << " applied through " << target
              << ": counter = " << fsm.value() << std::endl;
  }
  return true;
}

/// Starts the worker on an actor system with the network set up, plays
/// this server's part and stops.
int run(const options& opts) {
  caf::actor_system_config sys_cfg;
  sys_cfg.set("logger.console-verbosity", caf::atom("quiet"));
  raft::register_types(sys_cfg);
  sys_cfg.add_message_types<caf::id_block::embed_example>();
  auto log = spdlog::stderr_color_mt("embed");
  if (auto err = raft::configure_network(sys_cfg, tls_of(opts))) {
    log->error("{}", raft::describe(err));
    return 2;
  }
  caf::actor_system sys{sys_cfg};
  raft::config cfg;
  cfg.logger = log;
  cfg.storage_dir = opts.data_dir;
  cfg.local_id = opts.id;
  cfg.clock = &sys.clock();
  // The timeouts are the library's (HashiCorp's): 1 s, 1 s and a 500 ms
  // leader lease.
  auto cluster = raft::cluster_identity::open(opts.data_dir + "/cluster-id");
  if (!cluster) {
    log->error("{}", raft::describe(cluster.error()));
    return 2;
  }
  if (auto err = bootstrap_once(cfg, opts, **cluster)) {
    log->error("bootstrap: {}", raft::describe(err));
    return 1;
  }
  auto transport = start_transport(sys, opts, *cluster, log);
  if (!transport) {
    log->error("transport: {}", raft::describe(transport.error()));
    return 2;
  }
  // The actor system waits for every actor when it goes: whatever happens
  // below, the transport is stopped first.
  auto stop_transport = [t = *transport](void*) {
    caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
  };
  std::unique_ptr<void, decltype(stop_transport)> guard{&sys, stop_transport};
  auto fsm = std::make_shared<counter>();
  cfg.fsm = fsm;
  cfg.transport = *transport;
  auto worker = raft::spawn_worker(sys, cfg);
  if (!worker) {
    log->error("worker: {}", raft::describe(worker.error()));
    return 1;
  }
  caf::scoped_actor self{sys};
  raft::node_actor node;
  auto report = [&](caf::error& err) {
    log->error("worker: {}", raft::describe(err));
  };
  self->request(*worker, 30s, raft::start_atom_v).receive([](bool) {}, report);
  self->request(*worker, 10s, raft::raft_atom_v)
    .receive([&](raft::node_actor& n) { node = n; }, report);
  bool ok = false;
  if (auto leader = node ? wait_for_leader(self, node) : std::nullopt) {
    if (*leader == opts.id) {
      ok = lead(self, node, opts, *fsm);
    } else {
      std::cout << opts.id << " follower of " << *leader << std::endl;
      ok = true;
    }
    ok = ok && serve_stdin(self, node, opts, *fsm);
  }
  raft::kill(*worker);
  self->request(*worker, 10s, raft::wait_atom_v).receive([](bool) {}, report);
  return ok ? 0 : 1;
}

} // namespace example

int main(int argc, char** argv) {
  auto opts = example::parse(argc, argv);
  if (!opts) {
    std::cerr << "usage: embed-example ID DATA_DIR CERT_DIR ID=HOST:PORT...\n"
                 "  (the member list names ID too)\n";
    return 2;
  }
  return example::run(*opts);
}
