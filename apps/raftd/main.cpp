// raftd: one node of a caf-raft cluster serving a replicated key-value
// store. Runs the raft worker under the dependency engine (a worker that
// ends, e.g. with the no-leader timeout, is restarted with back-off), the
// network transport with mutual TLS, the key-value/admin service raftctl
// talks to (published over TLS with the same CA) and, optionally, a
// Prometheus endpoint. SIGTERM or SIGINT stop it cleanly (exit 0); SIGHUP is
// ignored.
//
// Exit codes (docs/operations.md): 0 clean stop; 2 raftd cannot start as
// set up: a bad setting, TLS material that is missing or does not name this
// server, a port that cannot be bound, a data dir held by another raftd;
// 1 a failure after that (a store that cannot be read, say).

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string_view>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <prometheus/registry.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/engine.hpp"
#include "caf-raft/actors/manifold.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/supervisor.hpp"
#include "caf-raft/actors/transport/address_book.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/actors/transport/net_transport.hpp"
#include "caf-raft/apps/raftd/http_endpoint.hpp"
#include "caf-raft/apps/raftd/kv_service.hpp"
#include "caf-raft/apps/raftd/log_format.hpp"
#include "caf-raft/apps/raftd/node_config.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/strict_settings.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf-raft/config/version.hpp"
#include "caf-raft/fsm/kv/kv_fsm.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/openssl/publish.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"


using namespace raft;
using namespace std::chrono_literals;

namespace {

spdlog::level::level_enum level_of(const std::string& x) {
  return spdlog::level::from_str(x);
}

/// Opens the store once before the worker does: a data dir held by another
/// raftd fails here with a clear message instead of in a restart loop, and
/// a founding server writes the initial configuration.
caf::error prepare_store(const node_config& cfg, cluster_identity& cluster,
                         spdlog::logger& log) {
  auto dir = cfg.data_dir + "/raft";
  auto store = new_log_store(dir);
  if (!store) {
    if (is(store.error(), errc::locked))
      return make_error(errc::locked,
                        "data dir " + cfg.data_dir
                          + " is in use by another raftd: stop it first or "
                            "use another --data-dir");
    return std::move(store.error());
  }
  auto existing = has_existing_state(**store, **store);
  if (!existing)
    return std::move(existing.error());
  if (*existing) {
    if (cfg.bootstrap)
      log.info("data dir holds a cluster's state: bootstrap not needed, "
               "starting from it");
    if (cluster.id().empty())
      log.warn("data dir has no cluster id (written by an older release): "
               "this server takes the id of the first member that connects");
    return caf::none;
  }
  if (!cfg.bootstrap) {
    // The client address too, so that the cluster can forward to this
    // server and show it in status once it is added.
    log.info("empty data dir and no --bootstrap: waiting to be added to a "
             "cluster (raftctl add-voter {} {} {})",
             cfg.id, cfg.raft_addresses.at(cfg.id), cfg.client_listen);
    return caf::none;
  }
  configuration conf;
  for (auto& [id, addr] : cfg.raft_addresses)
    conf.servers.push_back(server{suffrage::voter, id, addr});
  // The id first: a bootstrap that stopped before it writes it again.
  auto id = cluster_identity::derive(cfg.cluster_token, cfg.raft_addresses);
  if (auto adopted = cluster.adopt(id); !adopted)
    return std::move(adopted.error());
  if (cluster.id() != id)
    return make_error(errc::cant_bootstrap,
                      "data dir " + cfg.data_dir + " holds cluster id "
                        + cluster.id() + " but no state; bootstrapping "
                        + id + " needs an empty data dir");
  if (auto err = bootstrap_cluster(**store, **store, conf))
    return err;
  std::string names;
  for (auto& s : conf.servers)
    names += (names.empty() ? "" : ", ") + s.id;
  log.info("bootstrapped cluster {} with voters {}", id, names);
  return caf::none;
}

/// The client service once it runs, for the HTTP threads' /health.
class service_slot {
public:
  void set(kv_service_actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    kv_ = std::move(x);
  }

  kv_service_actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return kv_;
  }

private:
  mutable std::mutex mtx_;
  kv_service_actor kv_;
};

/// `/health`: the service's health report as JSON (numbers as numbers).
std::pair<bool, std::string> health_answer(caf::actor_system& sys,
                                           const service_slot& slot) {
  stats_map m{{"healthy", "false"}, {"reason", "raftd is starting"}};
  if (auto kv = slot.get()) {
    caf::scoped_actor self{sys};
    self->request(kv, 3s, kv_health_atom_v)
      .receive([&](stats_map& x) { m = std::move(x); },
               [&](caf::error& err) { m["reason"] = describe(err); });
  }
  nlohmann::json j;
  for (auto& [k, v] : m) {
    if (k == "healthy")
      j[k] = v == "true";
    else if ((k == "commit_index" || k == "applied_index" || k == "behind")
             && !v.empty())
      j[k] = std::stoull(v);
    else
      j[k] = v;
  }
  return {m["healthy"] == "true", j.dump()};
}

int run(node_config& cfg) {
  auto log = spdlog::stderr_color_mt("raftd");
  set_log_format(*log, cfg.id, cfg.log_format);
  log->set_level(level_of(cfg.log_level));
  if (cfg.insecure)
    log->warn("running INSECURE: plain TCP, no authentication of servers or "
              "clients; use only on a trusted loopback");
  liveness_settings live;
  if (auto err = configure_network(cfg, cfg.tls, live)) {
    log->error("{}", describe(err));
    return 2;
  }
  // Every setting and the TLS identity are checked before the data folder
  // is touched: a bootstrap under a wrong identity would leave a first
  // configuration that a corrected restart silently keeps.
  if (!cfg.tls.insecure) {
    if (auto id = tls_identity::load(cfg.tls, cfg.id); !id) {
      log->error("{}", describe(id.error()));
      return 2;
    }
  }
  // Every thread CAF starts inherits this mask, so the signals reach only
  // sigwait below. SIGHUP (what log rotation and closed terminals send) is
  // taken too, so that it does not kill the server: raftd logs to stderr
  // and has no file of its own to reopen, so it only says so.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  int rc = 0;
  {
    caf::actor_system sys{cfg};
    auto book = std::make_shared<address_book>();
    for (auto& [id, addr] : cfg.raft_addresses)
      book->set(id, addr);
    // -- transport ------------------------------------------------------------
    net_transport_options topts;
    topts.local_id = cfg.id;
    topts.listen_host = cfg.listen_host;
    topts.listen_port = cfg.listen_port;
    topts.advertise = cfg.raft_addresses.at(cfg.id);
    topts.addresses = address_book::provider(book);
    topts.tls = cfg.tls;
    topts.logger = log;
    auto cluster = cluster_identity::open(cfg.data_dir + "/raft/"
                                          + cluster_id_file);
    if (!cluster) {
      log->error("{}", describe(cluster.error()));
      return 2;
    }
    topts.cluster = *cluster;
    auto transport = spawn_net_transport(sys, topts);
    if (!transport) {
      // Its TLS material or its port: the set-up is at fault.
      log->error("setting 'listen': cannot start the raft transport on {}: "
                 "{}",
                 cfg.listen, describe(transport.error()));
      return 2;
    }
    // -- metrics and health ---------------------------------------------------
    auto registry = std::make_shared<prometheus::Registry>();
    auto service = std::make_shared<service_slot>();
    std::unique_ptr<http_endpoint> http;
    if (!cfg.metrics_host_port.empty()) {
      auto endpoint = http_endpoint::start(
        cfg.metrics_host_port, registry,
        [&sys, service] { return health_answer(sys, *service); });
      if (!endpoint) {
        log->error("{}", describe(endpoint.error()));
        caf::anon_send_exit(*transport, caf::exit_reason::kill);
        return 2;
      }
      http = std::move(*endpoint);
      log->info("metrics at http://{}/metrics, health at http://{}/health",
                cfg.metrics_host_port, cfg.metrics_host_port);
    }
    // -- data folder (the listeners are up: nothing else can fail first) ---
    if (auto err = prepare_store(cfg, **cluster, *log)) {
      log->error("{}", describe(err));
      caf::anon_send_exit(*transport, caf::exit_reason::kill);
      return is(err, errc::locked) ? 2 : 1;
    }
    // -- worker under the engine ---------------------------------------------
    auto slot = std::make_shared<kv_fsm_slot>();
    manifold_config mc;
    mc.clock_name = "clock";
    mc.agent_name = "agent";
    mc.transport_name = "transport";
    mc.fsm = std::make_shared<raft::fsm::kv_fsm>();
    mc.logger = log;
    mc.prometheus_registerer = registry;
    mc.new_worker = spawn_worker;
    mc.election_timeout = std::chrono::milliseconds{cfg.election_timeout_ms};
    mc.heartbeat_timeout = std::chrono::milliseconds{cfg.heartbeat_timeout_ms};
    mc.leader_lease_timeout
      = std::chrono::milliseconds{cfg.leader_lease_timeout_ms};
    mc.no_leader_timeout = std::chrono::milliseconds{cfg.no_leader_timeout_ms};
    mc.snapshot_threshold = cfg.snapshot_threshold;
    mc.snapshot_interval = std::chrono::milliseconds{cfg.snapshot_interval_ms};
    mc.trailing_logs = cfg.trailing_logs;
    mc.no_leader_check_interval
      = std::chrono::milliseconds{cfg.no_leader_check_interval_ms};
    auto base = manifold(mc);
    dependency_manifold raft_manifold = base;
    // A fresh FSM for each start: a restarted worker replays the log (or a
    // snapshot) into it, and entries are applied once per state.
    raft_manifold.start = [mc, slot](dependency_context& ctx) {
      auto m = mc;
      auto f = std::make_shared<raft::fsm::kv_fsm>();
      m.fsm = f;
      auto result = manifold(m).start(ctx);
      if (result)
        slot->set(f);
      return result;
    };
    engine_config ec;
    ec.resources["clock"] = &sys.clock();
    ec.resources["agent"] = agent_info{"server-" + cfg.id, cfg.data_dir};
    ec.resources["transport"] = transport_actor{*transport};
    ec.manifolds["raft"] = raft_manifold;
    ec.logger = log;
    auto engine = spawn_engine(sys, ec);
    if (!engine) {
      log->error("cannot start the dependency engine: {}",
                 describe(engine.error()));
      caf::anon_send_exit(*transport, caf::exit_reason::kill);
      return 1;
    }
    // -- client service -------------------------------------------------------
    kv_service_options kopts;
    kopts.local_id = cfg.id;
    kopts.engine = *engine;
    kopts.fsm = slot;
    kopts.client_addresses = cfg.client_addresses;
    kopts.learn_address = [book, id = cfg.id](const std::string& peer,
                                              const std::string& addr) {
      if (peer != id)
        book->set(peer, addr);
    };
    kopts.max_value_size = cfg.max_value_size;
    kopts.health_max_lag = cfg.health_max_lag;
    kopts.state_dir = cfg.data_dir + "/raft";
    kopts.cluster = *cluster;
    kopts.transport = *transport;
    kopts.logger = log;
    auto kv = spawn_kv_service(sys, kopts);
    service->set(kv);
    auto port = caf::openssl::publish(kv, cfg.client_port,
                                      cfg.client_host.c_str(), true);
    if (!port) {
      log->error("setting 'client-listen': cannot listen on {}: {}; pick a "
                 "free port",
                 cfg.client_listen, sys.render(port.error()));
      rc = 2;
    } else {
      log->info("raft on {}, clients on {}:{}, data in {}",
                cfg.raft_addresses.at(cfg.id), cfg.client_host, *port,
                cfg.data_dir);
      int sig = 0;
      for (sigwait(&sigs, &sig); sig == SIGHUP; sigwait(&sigs, &sig))
        log->info("SIGHUP received: ignored (raftd logs to stderr and has no "
                  "log file to reopen); SIGTERM or SIGINT stop it");
      log->info("{} received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    // -- clean stop -----------------------------------------------------------
    {
      caf::scoped_actor self{sys};
      self->request(*engine, 30s, shutdown_atom_v)
        .receive([&](bool) { log->info("raft worker stopped"); },
                 [&](caf::error& err) {
                   log->warn("engine shutdown: {}", describe(err));
                 });
    }
    caf::anon_send_exit(kv, caf::exit_reason::kill);
    caf::anon_send_exit(*transport, caf::exit_reason::kill);
    caf::anon_send_exit(*engine, caf::exit_reason::kill);
  }
  log->info("stopped");
  return rc;
}

/// The flags, then the config file they name (`--config-file`, else
/// CAF's default file if it exists).
caf::error check_settings(const node_config& cfg, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto err = check_arguments(cfg.options(), args))
    return err;
  auto path = cfg.config_file_path;
  for (auto& arg : args)
    if (arg.rfind("--config-file=", 0) == 0)
      path = arg.substr(14);
  return check_settings_file(cfg.options(), path);
}

} // namespace

int main(int argc, char** argv) {
  // Before CAF's parser, which knows no --version.
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--version") {
      std::cout << version_text("raftd");
      return 0;
    }
  node_config cfg;
  register_types(cfg);
  register_kv_types(cfg);
  // CAF's own log stays quiet; raftd logs through spdlog.
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  // CAF keeps unknown keys and mistyped values of a config file without a
  // word, and answers a bad flag with its raw parser_error: check first.
  if (auto err = check_settings(cfg, argc, argv)) {
    std::cerr << "raftd: " << describe(err) << std::endl;
    return 2;
  }
  if (auto err = cfg.parse(argc, argv)) {
    if (err == caf::sec::cannot_open_file) {
      std::cerr << "raftd: setting 'config-file': cannot read "
                << cfg.config_file_path << "; check the path" << std::endl;
      return 2;
    }
    std::cerr << "raftd: the settings do not parse (" << caf::to_string(err)
              << "); run raftd --help for the settings" << std::endl;
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  // CAF stops at the first argument that is not an option; everything from
  // there on would be ignored silently.
  if (!cfg.remainder.empty()) {
    std::cerr << "raftd: unexpected argument '" << cfg.remainder.front()
              << "': settings are --name=value\nrun raftd --help for the "
                 "settings"
              << std::endl;
    return 2;
  }
  if (auto err = cfg.validate()) {
    std::cerr << "raftd: " << describe(err) << std::endl;
    return 2;
  }
  try {
    return run(cfg);
  } catch (std::exception& e) {
    std::cerr << "raftd: " << e.what() << std::endl;
    return 1;
  }
}
