#include "caf-raft/actors/supervisor.hpp"

#include <spdlog/spdlog.h>

#include "caf-raft/actors/metrics.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/watchdog.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/new_raft_config.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf-raft/storage/synchronized_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

/// What the store opener hands the supervisor.
struct opened_stores {
  shared_log_store log;
  std::shared_ptr<snapshot_store> snapshots;
};

} // namespace raft

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::opened_stores)

namespace raft {

namespace {

enum class phase { starting, running, stopping, stopped };

struct supervisor_state {
  static inline const char* name = "raft.worker";
  config cfg;
  raft_config settings;
  bool detach = true;
  phase ph = phase::starting;
  /// The error the worker ended with; none after a clean kill.
  caf::error exit_error;
  node_actor node;
  watchdog_actor watchdog;
  /// Holds the start timer; killed once the loop runs, so the pending timer
  /// (which cannot be cancelled) no longer keeps the worker alive.
  caf::actor start_timer;
  shared_log_store store;
  std::shared_ptr<snapshot_store> snapshots;
  /// Null without a registry (or when registering failed).
  std::shared_ptr<raft_metrics> metrics;
  std::vector<caf::typed_response_promise<bool>> start_waiters;
  std::vector<caf::typed_response_promise<bool>> wait_waiters;
  std::vector<caf::typed_response_promise<node_actor>> raft_waiters;
  std::vector<caf::typed_response_promise<shared_log_store>> store_waiters;
};

using supervisor_ptr = worker_actor::stateful_pointer<supervisor_state>;

/// What `raft_atom` and friends answer once the worker is no longer
/// running: worker_stopped after a kill, the failure otherwise.
caf::error stop_error(supervisor_ptr self) {
  auto& st = self->state;
  return st.exit_error ? st.exit_error : make_error(errc::worker_stopped);
}

void finish_stop(supervisor_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::stopped)
    return;
  st.ph = phase::stopped;
  // Raft has stopped (the node is down, its writer with it); now the store
  // closes, as the original's deferred Close after Shutdown.
  // Closed, not only released: whoever still holds the handle `log_store`
  // gave out (Juju's backstop) must not keep the files locked against the
  // next worker.
  if (st.store)
    st.store->close();
  st.store.reset();
  st.snapshots.reset();
  for (auto& rp : st.wait_waiters) {
    if (st.exit_error)
      rp.deliver(st.exit_error);
    else
      rp.deliver(true);
  }
  st.wait_waiters.clear();
  if (st.exit_error)
    st.cfg.logger->error("raft worker stopped: {}", describe(st.exit_error));
  else
    st.cfg.logger->info("raft worker stopped");
}

/// Stops the worker with `err` (none for a clean kill).
void begin_stop(supervisor_ptr self, caf::error err) {
  auto& st = self->state;
  if (st.ph == phase::stopping || st.ph == phase::stopped)
    return;
  auto was_starting = st.ph == phase::starting;
  st.exit_error = std::move(err);
  auto reason = stop_error(self);
  for (auto& rp : st.start_waiters)
    rp.deliver(reason);
  st.start_waiters.clear();
  for (auto& rp : st.raft_waiters)
    rp.deliver(reason);
  st.raft_waiters.clear();
  for (auto& rp : st.store_waiters)
    rp.deliver(reason);
  st.store_waiters.clear();
  st.ph = phase::stopping;
  caf::anon_send_exit(st.start_timer, caf::exit_reason::user_shutdown);
  if (st.watchdog)
    caf::anon_send_exit(st.watchdog, caf::exit_reason::user_shutdown);
  if (st.node && was_starting) {
    // A node that never started (a hung transport, say) cannot answer a
    // shutdown request: end it, as the original killed its catacomb.
    self->send_exit(st.node, caf::exit_reason::kill);
  } else if (st.node) {
    // Shutdown answers once the node's writer and FSM runner are gone; the
    // node's down message then finishes the stop.
    self->request(st.node, caf::infinite, shutdown_atom_v)
      .then([](bool) {}, [](caf::error&) {});
  } else {
    finish_stop(self);
  }
}

void on_started(supervisor_ptr self) {
  auto& st = self->state;
  if (st.ph != phase::starting)
    return;
  st.ph = phase::running;
  caf::anon_send_exit(st.start_timer, caf::exit_reason::user_shutdown);
  auto timeout = st.cfg.no_leader_timeout.count() != 0
                   ? st.cfg.no_leader_timeout
                   : default_no_leader_timeout;
  auto interval = st.cfg.no_leader_check_interval.count() != 0
                    ? st.cfg.no_leader_check_interval
                    : default_no_leader_check_interval;
  st.watchdog = spawn_watchdog(self->system(), st.node, timeout, interval,
                               st.cfg.logger);
  self->monitor(st.watchdog);
  for (auto& rp : st.start_waiters)
    rp.deliver(true);
  st.start_waiters.clear();
  for (auto& rp : st.raft_waiters)
    rp.deliver(st.node);
  st.raft_waiters.clear();
  for (auto& rp : st.store_waiters)
    rp.deliver(st.store);
  st.store_waiters.clear();
  st.cfg.logger->info("raft worker {} running", st.cfg.local_id);
}

void on_stores(supervisor_ptr self, opened_stores& stores) {
  auto& st = self->state;
  if (st.ph != phase::starting)
    return;
  st.store = stores.log;
  st.snapshots = stores.snapshots;
  node_options opts;
  opts.settings = st.settings;
  opts.log = st.store;
  opts.stable = st.store;
  opts.fsm = st.cfg.fsm;
  opts.snapshots = st.snapshots;
  opts.transport = st.cfg.transport;
  opts.logger = st.cfg.logger;
  opts.detach_blocking = st.detach;
  opts.metrics = st.metrics;
  // The node says `loop_atom` once it has loaded its state and its
  // transport has answered: that is "the raft loop runs".
  opts.on_started = caf::actor_cast<caf::actor>(self);
  st.node = spawn_node(self->system(), opts);
  self->monitor(st.node);
}

caf::behavior store_opener(caf::event_based_actor* self, std::string dir,
                           int retain, std::shared_ptr<spdlog::logger> log) {
  return {
    [=](open_atom) -> caf::result<opened_stores> {
      self->quit();
      auto store = new_log_store(dir);
      if (!store)
        return std::move(store.error());
      auto snaps = new_snapshot_store(dir, retain, log);
      if (!snaps)
        return std::move(snaps.error());
      return opened_stores{std::make_shared<synchronized_store>(*store, *store),
                           *snaps};
    },
  };
}

/// The node (or the watchdog) went down.
void on_down(supervisor_ptr self, caf::down_msg& dm) {
  auto& st = self->state;
  if (dm.source == st.node) {
    st.node = nullptr;
    if (st.ph == phase::stopping) {
      finish_stop(self);
      return;
    }
    // Someone else stopped raft ("raft shutdown"), or it failed.
    auto err = dm.reason && dm.reason != caf::exit_reason::normal
                 ? std::move(dm.reason)
                 : make_error(errc::raft_shutdown, "raft shutdown");
    begin_stop(self, std::move(err));
    finish_stop(self);
  } else if (st.watchdog && dm.source == st.watchdog.address()) {
    st.watchdog = nullptr;
    if (dm.reason && dm.reason != caf::exit_reason::user_shutdown)
      begin_stop(self, std::move(dm.reason));
  }
}

/// Starts the timer that fails a start taking longer than `loop_timeout`
/// (the original's "timed out waiting for worker loop").
void arm_start_timer(supervisor_ptr self) {
  self->state.start_timer = self->system().spawn(
    [](caf::event_based_actor* timer, worker_actor worker) -> caf::behavior {
      timer->delayed_send(timer, loop_timeout, start_timeout_atom_v);
      return {[=](start_timeout_atom) {
        caf::anon_send(worker, start_timeout_atom_v);
        timer->quit();
      }};
    },
    worker_actor{self});
}

/// Opens the log store and snapshot store off the scheduler (they block);
/// the node starts once they are open.
void open_stores(supervisor_ptr self) {
  auto& st = self->state;
  auto retain = st.cfg.snapshot_retention != 0 ? st.cfg.snapshot_retention
                                               : default_snapshot_retention;
  auto& sys = self->system();
  auto opener = st.detach ? sys.spawn<caf::detached>(store_opener,
                                                     st.cfg.storage_dir,
                                                     retain, st.cfg.logger)
                          : sys.spawn(store_opener, st.cfg.storage_dir,
                                      retain, st.cfg.logger);
  self->request(opener, caf::infinite, open_atom_v)
    .then([self](opened_stores& stores) { on_stores(self, stores); },
          [self](caf::error& err) {
            // Unlike the original, the real cause, at once.
            self->state.cfg.logger->error("raft worker cannot start: {}",
                                          describe(err));
            begin_stop(self, std::move(err));
          });
}

/// Answers `value` while running, waits for the start while starting (in
/// `waiters`), and fails once stopped.
template <class T>
caf::result<T>
when_running(supervisor_ptr self, const T& value,
             std::vector<caf::typed_response_promise<T>>& waiters) {
  switch (self->state.ph) {
    case phase::running:
      return value;
    case phase::starting: {
      auto rp = self->make_response_promise<T>();
      waiters.push_back(rp);
      return rp;
    }
    default:
      return stop_error(self);
  }
}

/// Worker.Report() from the node's stats, leader and configuration.
stats_map make_report(stats_map& stats, const leader_info& leader,
                      const configuration& conf) {
  stats_map m;
  m["state"] = stats["state"];
  m["leader"] = leader.address;
  m["index.applied"] = stats["applied_index"];
  m["index.last"] = stats["last_log_index"];
  if (stats["state"] != "Leader")
    m["last-contact"] = stats["last_contact"];
  for (auto& s : conf.servers) {
    auto key = "cluster-config.servers." + s.id;
    m[key + ".suffrage"] = to_string(s.suffrage);
    m[key + ".address"] = s.address;
  }
  return m;
}

caf::result<stats_map> report(supervisor_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::starting) {
    // Raft() still waits for the node: not an error (the original reports
    // one only when Raft() fails).
    return stats_map{{"state", "Starting"}, {"leader", ""}};
  }
  if (st.ph != phase::running)
    return stats_map{{"error", describe(stop_error(self))}};
  auto rp = self->make_response_promise<stats_map>();
  auto node = st.node;
  auto fail = [rp](caf::error& err) mutable { rp.deliver(err); };
  self->request(node, caf::infinite, stats_atom_v).then(
    [=](stats_map& stats) mutable {
      self->request(node, caf::infinite, leader_atom_v).then(
        [=](leader_info& leader) mutable {
          self->request(node, caf::infinite, get_config_atom_v).then(
            [=](configuration& conf, index_t) mutable {
              rp.deliver(make_report(stats, leader, conf));
            },
            fail);
        },
        fail);
    },
    fail);
  return rp;
}

/// The start took longer than `loop_timeout`.
void on_start_timeout(supervisor_ptr self) {
  auto& st = self->state;
  if (st.ph != phase::starting)
    return;
  st.cfg.logger->error("raft worker: {}", to_string(errc::start_timeout));
  begin_stop(self, make_error(errc::start_timeout));
  if (!st.node)
    finish_stop(self);
}

worker_actor::behavior_type supervisor(supervisor_ptr self, config cfg,
                                       raft_config settings, bool detach) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.settings = std::move(settings);
  st.detach = detach;
  // As the original: metrics first, and a failure to register them is only
  // a warning. A restarted worker finds the families its predecessor
  // registered on the same registry and shares their series.
  if (auto m = raft_metrics::make(st.cfg.prometheus_registerer))
    st.metrics = std::move(*m);
  else
    st.cfg.logger->warn("{}", describe(m.error()));
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  // Worker.Kill: a user_shutdown exit stops the worker cleanly.
  self->set_exit_handler([self](caf::exit_msg&) { begin_stop(self, caf::none); });
  arm_start_timer(self);
  open_stores(self);
  return {
    [=](start_atom) {
      return when_running(self, true, self->state.start_waiters);
    },
    [=](raft_atom) {
      return when_running(self, self->state.node, self->state.raft_waiters);
    },
    [=](log_store_atom) {
      return when_running(self, self->state.store, self->state.store_waiters);
    },
    [=](wait_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (st.ph != phase::stopped) {
        auto rp = self->make_response_promise<bool>();
        st.wait_waiters.push_back(rp);
        return rp;
      }
      if (st.exit_error)
        return st.exit_error;
      return true;
    },
    [=](report_atom) { return report(self); },
    [=](loop_atom) { on_started(self); },
    [=](start_timeout_atom) { on_start_timeout(self); },
  };
}

} // namespace

caf::expected<worker_actor> spawn_worker(caf::actor_system& sys,
                                         const config& cfg) {
  if (auto err = cfg.validate())
    return err;
  auto settings = new_raft_config(cfg);
  if (!settings)
    return std::move(settings.error());
  if (cfg.clock != &sys.clock())
    return make_error(errc::not_valid,
                      "Clock not valid: it must be the clock of the actor "
                      "system the worker runs in");
  auto detach = caf::get_or(sys.config(), "scheduler.policy", caf::atom("stealing"))
                != caf::atom("testing");
  // Hidden: a stopped worker lingers to answer worker_stopped, as the
  // original's Worker does after Kill, but must not keep the host's actor
  // system from shutting down.
  return sys.spawn<caf::hidden>(supervisor, cfg, std::move(*settings), detach);
}

caf::expected<worker_actor> new_worker(caf::actor_system& sys,
                                       const config& cfg) {
  auto worker = spawn_worker(sys, cfg);
  if (!worker)
    return worker;
  caf::scoped_actor self{sys};
  caf::error err;
  self->request(*worker, caf::infinite, start_atom_v)
    .receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
  if (err)
    return err;
  return worker;
}

caf::expected<worker_actor> new_worker_shim(caf::actor_system& sys,
                                            const config& cfg) {
  return new_worker(sys, cfg);
}

void kill(const worker_actor& worker) {
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

} // namespace raft
