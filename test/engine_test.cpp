#define BOOST_TEST_MODULE engine
#include <boost/test/unit_test.hpp>

// The dependency engine (issue #5): starting manifolds once their inputs
// are there, restarting failed workers with capped exponential back-off,
// restarting dependents, shutting down; then the recovery flow of the
// original (a three-server cluster loses two servers; the backstop forces a
// configuration naming only the survivor; the survivor's worker ends with
// the no-leader timeout, the engine restarts it and it leads alone), and a
// host program that embeds a worker in its own actor system.

#include <cstdlib>
#include <filesystem>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/engine.hpp"
#include "caf-raft/actors/manifold.hpp"
#include "caf-raft/actors/supervisor.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/bootstrap/bootstrap.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/bootstrap/recover.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf-raft/storage/synchronized_store.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "sim/sim.hpp"

using namespace raft;
using namespace raft::test;
using namespace std::chrono_literals;

namespace {

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

/// A worker the test ends at will: `(caf::error)` fails it, `(ok_atom)`
/// ends it cleanly, a user_shutdown exit stops it (answering wait with
/// true, as a killed raft worker does).
struct fake_state {
  std::vector<caf::response_promise> waiters;
  static inline const char* name = "fake_worker";
};

caf::behavior fake_worker(caf::stateful_actor<fake_state>* self,
                          std::shared_ptr<int> stops) {
  self->set_exit_handler([=](caf::exit_msg& msg) {
    ++*stops;
    for (auto& rp : self->state.waiters)
      rp.deliver(true);
    self->quit(msg.reason);
  });
  return {
    [=](wait_atom) {
      auto rp = self->make_response_promise();
      self->state.waiters.push_back(rp);
      return rp;
    },
    [=](caf::error& err) {
      for (auto& rp : self->state.waiters)
        rp.deliver(err);
      self->state.waiters.clear();
    },
    [=](caf::ok_atom) {
      for (auto& rp : self->state.waiters)
        rp.deliver(true);
      self->state.waiters.clear();
    },
  };
}

struct engine_fixture : sim {
  /// name -> every worker started, in order, and when.
  std::map<std::string, std::vector<caf::actor>> started;
  std::map<std::string, std::vector<caf::timespan>> start_times;
  /// name -> inputs the start function saw.
  std::map<std::string, std::vector<std::map<std::string, std::any>>> seen;
  std::shared_ptr<int> stops = std::make_shared<int>(0);
  /// Start functions fail while this is positive (counting down).
  std::map<std::string, int> fail_starts;
  std::vector<engine_actor> engines;

  ~engine_fixture() override {
    for (auto& e : engines)
      caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
    sched.run();
    for (int k = 0; k < 1000 && sched.has_pending_timeout(); ++k) {
      sched.trigger_timeouts();
      sched.run();
    }
  }

  dependency_manifold fake(const std::string& name,
                           std::vector<std::string> inputs) {
    dependency_manifold m;
    m.inputs = inputs;
    m.start = [=](dependency_context& ctx) -> caf::expected<caf::actor> {
      std::map<std::string, std::any> got;
      for (auto& in : inputs) {
        auto x = ctx.get(in);
        if (!x)
          return std::move(x.error());
        got[in] = *x;
      }
      if (fail_starts[name] > 0) {
        --fail_starts[name];
        return make_error(errc::storage_failure, "cannot start " + name);
      }
      seen[name].push_back(got);
      auto w = ctx.system().spawn(fake_worker, stops);
      started[name].push_back(w);
      start_times[name].push_back(now());
      return w;
    };
    return m;
  }

  engine_config base_config() {
    engine_config cfg;
    cfg.restart_delay = 1s;
    cfg.max_restart_delay = 5s;
    cfg.backoff_factor = 2;
    cfg.reset_after = 60s;
    return cfg;
  }

  engine_actor spawn(engine_config cfg) {
    auto e = spawn_engine(sys, std::move(cfg));
    BOOST_REQUIRE_MESSAGE(e, why(e));
    engines.push_back(*e);
    run_jobs();
    return *e;
  }

  stats_map report(const engine_actor& e) {
    auto r = ask_now<stats_map>(e, report_atom_v);
    BOOST_REQUIRE(!r.err);
    return r.value;
  }

  /// Moves simulated time forward by `d` (a timer that nobody else needs).
  void advance(caf::timespan d) {
    auto fired = std::make_shared<bool>(false);
    sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
      self->delayed_send(self, d, caf::ok_atom_v);
      return {[=](caf::ok_atom) {
        *fired = true;
        self->quit();
      }};
    });
    BOOST_REQUIRE(run_until([&] { return *fired; }, 100000));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(engine_suite, engine_fixture)

BOOST_AUTO_TEST_CASE(spawn_validates) {
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {"a"});
  auto e = spawn_engine(sys, cfg);
  BOOST_REQUIRE(!e);
  BOOST_TEST(describe(e.error()) == "manifold a reading itself not valid");
  cfg = base_config();
  cfg.manifolds["a"] = dependency_manifold{};
  BOOST_TEST(describe(spawn_engine(sys, cfg).error())
             == "nil Start of manifold a not valid");
  cfg = base_config();
  cfg.backoff_factor = 0.5;
  BOOST_TEST(describe(spawn_engine(sys, cfg).error())
             == "backoff factor below 1 not valid");
  cfg = base_config();
  cfg.restart_delay = -1s;
  BOOST_TEST(describe(spawn_engine(sys, cfg).error())
             == "negative restart delay not valid");
}

BOOST_AUTO_TEST_CASE(starts_when_inputs_are_available) {
  auto cfg = base_config();
  cfg.resources["clock"] = 1;
  cfg.manifolds["a"] = fake("a", {"clock"});
  cfg.manifolds["b"] = fake("b", {"clock", "agent"});
  auto e = spawn(cfg);
  BOOST_TEST(started["a"].size() == 1u);
  BOOST_TEST(started["b"].empty());
  auto r = report(e);
  BOOST_TEST(r["a.state"] == "running");
  BOOST_TEST(r["b.state"] == "waiting");
  BOOST_TEST(r["b.missing"] == "agent");
  auto w = ask_now<caf::actor>(e, caf::get_atom_v, std::string{"b"});
  BOOST_TEST(is_missing(w.err));
  caf::anon_send(e, caf::put_atom_v, std::string{"agent"},
                 engine_resource{std::string{"machine-1"}});
  run_jobs();
  BOOST_REQUIRE(started["b"].size() == 1u);
  BOOST_TEST(std::any_cast<std::string>(seen["b"][0]["agent"]) == "machine-1");
  BOOST_TEST(std::any_cast<int>(seen["b"][0]["clock"]) == 1);
  w = ask_now<caf::actor>(e, caf::get_atom_v, std::string{"b"});
  BOOST_TEST((w.value == started["b"][0]));
  // Replacing a resource restarts the workers that read it, at once.
  caf::anon_send(e, caf::put_atom_v, std::string{"agent"},
                 engine_resource{std::string{"machine-2"}});
  run_jobs();
  BOOST_REQUIRE(started["b"].size() == 2u);
  BOOST_TEST(std::any_cast<std::string>(seen["b"][1]["agent"]) == "machine-2");
  BOOST_TEST(started["a"].size() == 1u);
  BOOST_TEST(report(e)["b.failures"] == "0");
  auto unknown = ask_now<caf::actor>(e, caf::get_atom_v, std::string{"zz"});
  BOOST_TEST(is(unknown.err, errc::not_found));
}

BOOST_AUTO_TEST_CASE(restarts_with_capped_exponential_backoff) {
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {});
  auto e = spawn(cfg);
  BOOST_REQUIRE(started["a"].size() == 1u);
  std::vector<caf::timespan> expected{1s, 2s, 4s, 5s, 5s};
  for (size_t k = 0; k < expected.size(); ++k) {
    auto failed_at = now();
    caf::anon_send(started["a"].back(),
                   make_error(errc::no_leader_timeout));
    run_jobs();
    auto r = report(e);
    BOOST_TEST(r["a.state"] == "delayed");
    BOOST_TEST(r["a.error"] == "timed out waiting for leader contact");
    BOOST_TEST(r["a.failures"] == std::to_string(k + 1));
    BOOST_REQUIRE(run_until([&] { return started["a"].size() == k + 2; }));
    BOOST_TEST((start_times["a"].back() - failed_at == expected[k]),
               "restart " << k);
  }
  // A clean end nobody asked for is restarted too.
  caf::anon_send(started["a"].back(), caf::ok_atom_v);
  run_jobs();
  BOOST_TEST(report(e)["a.state"] == "delayed");
  BOOST_REQUIRE(run_until([&] { return started["a"].size() == 7u; }));
}

BOOST_AUTO_TEST_CASE(backoff_resets_after_a_long_run) {
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {});
  auto e = spawn(cfg);
  for (size_t k = 0; k < 3; ++k) {
    caf::anon_send(started["a"].back(), make_error(errc::storage_failure));
    run_jobs();
    BOOST_REQUIRE(run_until([&] { return started["a"].size() == k + 2; }));
  }
  BOOST_TEST(report(e)["a.failures"] == "3");
  advance(61s);
  auto failed_at = now();
  caf::anon_send(started["a"].back(), make_error(errc::storage_failure));
  run_jobs();
  BOOST_TEST(report(e)["a.failures"] == "1");
  BOOST_REQUIRE(run_until([&] { return started["a"].size() == 5u; }));
  BOOST_TEST((start_times["a"].back() - failed_at == caf::timespan{1s}));
  // After another long run, failed starts still back off exponentially.
  advance(61s);
  fail_starts["a"] = 2;
  failed_at = now();
  caf::anon_send(started["a"].back(), make_error(errc::storage_failure));
  BOOST_REQUIRE(run_until([&] { return started["a"].size() == 6u; }));
  BOOST_TEST((start_times["a"].back() - failed_at == caf::timespan{7s}));
  BOOST_TEST(report(e)["a.failures"] == "3");
}

BOOST_AUTO_TEST_CASE(failed_starts_back_off_too) {
  fail_starts["a"] = 2;
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {});
  auto e = spawn(cfg);
  BOOST_TEST(started["a"].empty());
  auto r = report(e);
  BOOST_TEST(r["a.state"] == "delayed");
  BOOST_TEST(r["a.error"] == "cannot start a");
  BOOST_TEST(r["a.delay_ms"] == "1000");
  auto t0 = now();
  BOOST_REQUIRE(run_until([&] { return started["a"].size() == 1u; }));
  BOOST_TEST((now() - t0 == caf::timespan{3s})); // 1 s, then 2 s
}

BOOST_AUTO_TEST_CASE(dependents_restart_with_their_input) {
  auto cfg = base_config();
  cfg.manifolds["up"] = fake("up", {});
  cfg.manifolds["down"] = fake("down", {"up"});
  auto e = spawn(cfg);
  BOOST_REQUIRE(started["up"].size() == 1u);
  BOOST_REQUIRE(started["down"].size() == 1u);
  // The dependent reads the running worker of its input.
  BOOST_TEST((std::any_cast<caf::actor>(seen["down"][0]["up"])
              == started["up"][0]));
  caf::anon_send(started["up"][0], make_error(errc::storage_failure));
  run_jobs();
  auto r = report(e);
  BOOST_TEST(r["up.state"] == "delayed");
  BOOST_TEST(r["down.state"] == "waiting");
  BOOST_TEST(r["down.missing"] == "up");
  BOOST_TEST(*stops == 1); // down was stopped, not failed
  BOOST_TEST(r["down.failures"] == "0");
  BOOST_REQUIRE(run_until([&] { return started["down"].size() == 2u; }));
  BOOST_TEST((std::any_cast<caf::actor>(seen["down"][1]["up"])
              == started["up"][1]));
}

BOOST_AUTO_TEST_CASE(shutdown_stops_every_worker) {
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {});
  cfg.manifolds["b"] = fake("b", {});
  cfg.manifolds["c"] = fake("c", {});
  auto e = spawn(cfg);
  // c fails and waits for its restart when the engine stops.
  caf::anon_send(started["c"][0], make_error(errc::storage_failure));
  run_jobs();
  BOOST_TEST(report(e)["c.state"] == "delayed");
  auto down = std::make_shared<caf::error>();
  auto is_down = std::make_shared<bool>(false);
  auto watcher = sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(e);
    self->set_down_handler([=](caf::down_msg& dm) {
      *down = dm.reason;
      *is_down = true;
      self->quit();
    });
    return {[](int) {}};
  });
  run_jobs();
  auto res = ask_now<bool>(e, shutdown_atom_v);
  BOOST_TEST(!res.err);
  BOOST_TEST(res.value);
  BOOST_TEST(*stops == 2);
  run_jobs();
  BOOST_TEST(*is_down);
  // The pending restart of c never happens.
  while (sched.has_pending_timeout()) {
    sched.trigger_timeouts();
    run_jobs();
  }
  BOOST_TEST(started["c"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(exit_message_stops_every_worker) {
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {});
  auto e = spawn(cfg);
  auto reason = std::make_shared<caf::error>();
  auto is_down = std::make_shared<bool>(false);
  auto watcher = sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(e);
    self->set_down_handler([=](caf::down_msg& dm) {
      *reason = dm.reason;
      *is_down = true;
      self->quit();
    });
    return {[](int) {}};
  });
  run_jobs();
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
  run_jobs();
  BOOST_TEST(*stops == 1);
  BOOST_TEST(*is_down);
  BOOST_TEST((*reason == caf::exit_reason::user_shutdown));
}

BOOST_AUTO_TEST_CASE(outputs_of_unknown_or_stopped_manifolds) {
  auto cfg = base_config();
  cfg.manifolds["a"] = fake("a", {"missing"});
  cfg.manifolds["b"] = fake("b", {});
  auto e = spawn(cfg);
  auto r = ask_now<node_actor>(e, raft_atom_v, std::string{"zz"});
  BOOST_TEST(is(r.err, errc::not_found));
  r = ask_now<node_actor>(e, raft_atom_v, std::string{"a"});
  BOOST_TEST(is_missing(r.err));
  r = ask_now<node_actor>(e, raft_atom_v, std::string{"b"});
  BOOST_TEST(describe(r.err) == "b has no outputs");
}

BOOST_AUTO_TEST_SUITE_END()

// -- the recovery flow with real raft workers -------------------------------------

namespace {

struct controller {
  std::string id;
  std::string data_dir;
  std::shared_ptr<raft::fsm::simple_fsm> fsm;
  engine_actor engine;
};

configuration voters(const std::vector<std::string>& ids) {
  configuration cfg;
  for (auto& id : ids)
    cfg.servers.push_back(server{suffrage::voter, id, id});
  return cfg;
}

struct recovery_fixture : engine_fixture {
  std::string root;
  transport_actor transport = spawn_inmem_transport(sys, 7);
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
    "test", std::make_shared<spdlog::sinks::null_sink_mt>());
  std::vector<controller> controllers;

  recovery_fixture() {
    char tmpl[] = "/tmp/raft-engine-test-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
  }

  ~recovery_fixture() override {
    for (auto& c : controllers)
      caf::anon_send_exit(c.engine, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    sched.run();
    for (int k = 0; k < 1000 && sched.has_pending_timeout(); ++k) {
      sched.trigger_timeouts();
      sched.run();
    }
    std::filesystem::remove_all(root);
  }

  /// A controller's machine agent: its data folder bootstrapped with the
  /// three-server configuration, and an engine running the raft manifold.
  void add_controller(const std::string& id) {
    controller c;
    c.id = id;
    c.data_dir = root + "/machine-" + id;
    c.fsm = std::make_shared<raft::fsm::simple_fsm>();
    {
      auto store = new_log_store(c.data_dir + "/raft");
      BOOST_REQUIRE_MESSAGE(store, why(store));
      BOOST_REQUIRE(!bootstrap_cluster(**store, **store,
                                       voters({"0", "1", "2"})));
    }
    manifold_config mc;
    mc.clock_name = "clock";
    mc.agent_name = "agent";
    mc.transport_name = "transport";
    mc.fsm = c.fsm;
    mc.logger = logger;
    mc.new_worker = spawn_worker;
    mc.election_timeout = 100ms;
    mc.heartbeat_timeout = 100ms;
    mc.leader_lease_timeout = 100ms;
    mc.no_leader_timeout = 4s;
    mc.no_leader_check_interval = 1s;
    auto ec = base_config();
    ec.resources["clock"] = &sys.clock();
    ec.resources["agent"] = agent_info{"machine-" + id, c.data_dir};
    ec.resources["transport"] = transport;
    ec.manifolds["raft"] = manifold(mc);
    ec.logger = logger;
    auto e = spawn_engine(sys, ec);
    BOOST_REQUIRE_MESSAGE(e, why(e));
    c.engine = *e;
    controllers.push_back(std::move(c));
  }

  caf::expected<node_actor> node_of(const controller& c) {
    auto r = ask<node_actor>(c.engine, raft_atom_v, std::string{"raft"});
    run_until([&] { return r->done; }, 50);
    if (!r->done)
      return make_error(errc::timeout, "no answer");
    if (r->err)
      return r->err;
    return r->value;
  }

  bool is_leader(const controller& c) {
    auto node = node_of(c);
    if (!node)
      return false;
    auto s = ask<role>(*node, state_atom_v);
    run_jobs();
    return s->done && s->value == role::leader;
  }

  int leader() {
    for (size_t i = 0; i < controllers.size(); ++i)
      if (is_leader(controllers[i]))
        return static_cast<int>(i);
    return -1;
  }
};

bytes as_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

std::string text_of(const bytes& b) {
  return std::string(b.begin(), b.end());
}

} // namespace

BOOST_FIXTURE_TEST_CASE(survivor_recovers_through_the_engine,
                        recovery_fixture) {
  for (auto id : {"0", "1", "2"})
    add_controller(id);
  run_jobs();
  int lead = -1;
  BOOST_REQUIRE(run_until([&] { return (lead = leader()) >= 0; }, 500));
  auto lnode = node_of(controllers[lead]);
  BOOST_REQUIRE(lnode);
  for (int i = 0; i < 3; ++i) {
    auto r = ask_now<index_t, caf::message>(*lnode, apply_atom_v,
                                            as_bytes("before-"
                                                     + std::to_string(i)));
    BOOST_REQUIRE_MESSAGE(!r.err, describe(r.err));
  }
  // The survivor is a follower (the backstop only acts on a non-leader)
  // that has every write.
  auto& survivor = controllers[(lead + 1) % 3];
  BOOST_REQUIRE(
    run_until([&] { return survivor.fsm->logs().size() == 3; }, 500));
  // Two controllers are lost.
  for (auto& c : controllers)
    if (c.id != survivor.id) {
      auto res = ask_now<bool>(c.engine, shutdown_atom_v);
      BOOST_REQUIRE(!res.err);
    }
  // While its worker runs, the store is locked: offline recovery refuses.
  auto offline = recover(survivor.data_dir + "/raft", voters({survivor.id}));
  BOOST_REQUIRE(!offline);
  BOOST_TEST(is(offline.error(), errc::locked));
  // The backstop: through the worker's shared log store, a configuration
  // naming only the survivor, appended after its last entry.
  auto store = ask_now<shared_log_store>(survivor.engine, log_store_atom_v,
                                         std::string{"raft"});
  BOOST_REQUIRE_MESSAGE(!store.err, describe(store.err));
  auto forced = recover_cluster(*store.value, *store.value,
                                voters({survivor.id}));
  BOOST_REQUIRE_MESSAGE(forced, why(forced));
  BOOST_TEST(forced->appended);
  // Like the backstop, let go of the store: the worker's restart reopens
  // it (a holder would keep the SQLite lock, see the report).
  store.value.reset();
  BOOST_TEST((forced->previous == voters({"0", "1", "2"})));
  // The worker ends with the no-leader timeout; the engine restarts it and
  // the node adopts the forced configuration from its log.
  auto t0 = now();
  BOOST_REQUIRE(run_until(
    [&] { return report(survivor.engine)["raft.starts"] == "2"; }, 2000));
  auto r = report(survivor.engine);
  BOOST_TEST(r["raft.error"] == "timed out waiting for leader contact");
  BOOST_TEST(r["raft.state"] == "running");
  BOOST_TEST((now() - t0 >= caf::timespan{4s}));
  BOOST_REQUIRE(run_until([&] { return is_leader(survivor); }, 500));
  auto node = node_of(survivor);
  BOOST_REQUIRE(node);
  auto conf = ask_now<configuration, index_t>(*node, get_config_atom_v);
  BOOST_TEST((conf.value == voters({survivor.id})));
  auto after = ask_now<index_t, caf::message>(*node, apply_atom_v,
                                              as_bytes("after"));
  BOOST_REQUIRE_MESSAGE(!after.err, describe(after.err));
  BOOST_TEST(after.value > forced->index);
  auto logs = survivor.fsm->logs();
  BOOST_REQUIRE(!logs.empty());
  BOOST_TEST(text_of(logs.back()) == "after");
  BOOST_TEST(text_of(logs.front()) == "before-0");
  std::string all;
  for (auto& l : logs)
    all += text_of(l) + " ";
  BOOST_TEST_MESSAGE("survivor FSM holds " << logs.size() << " entries: "
                                           << all);
  // Every write once: fails today because the restarted node re-applies
  // its log into the FSM object the manifold shares across restarts (see
  // the report); a warning until the node is fixed.
  BOOST_CHECK_EQUAL(logs.size(), 4u);
  // It keeps leading: no further restarts.
  advance(30s);
  BOOST_TEST(report(survivor.engine)["raft.starts"] == "2");
}

// -- a host program embedding a worker, on real threads --------------------------

namespace {

/// The host's own actor: spawns the worker, waits for leadership, applies,
/// kills the worker and waits for it, then answers the test with what the
/// apply returned.
struct host_state {
  worker_actor worker;
  node_actor node;
  caf::response_promise done;
  index_t index = 0;
  static inline const char* name = "host";
};

caf::behavior host(caf::stateful_actor<host_state>* self, config cfg) {
  auto fail = [self](const caf::error& err) {
    self->state.done.deliver(err);
    if (self->state.worker)
      kill(self->state.worker);
    self->quit();
  };
  return {
    [=](start_atom) {
      self->state.done = self->make_response_promise();
      auto w = spawn_worker(self->system(), cfg);
      if (!w)
        return fail(w.error());
      self->state.worker = *w;
      self->request(*w, std::chrono::seconds{30}, start_atom_v)
        .then(
          [=](bool) {
            self->request(self->state.worker, std::chrono::seconds{10},
                          raft_atom_v)
              .then(
                [=](node_actor& node) {
                  self->state.node = node;
                  self->send(self, state_atom_v);
                },
                fail);
          },
          fail);
    },
    [=](state_atom) {
      // Polls until the single server elected itself (bounded by the
      // test's receive timeout).
      self->request(self->state.node, std::chrono::seconds{10}, state_atom_v)
        .then(
          [=](role r) {
            if (r != role::leader) {
              self->delayed_send(self, std::chrono::milliseconds{20},
                                 state_atom_v);
              return;
            }
            self->request(self->state.node, std::chrono::seconds{10},
                          apply_atom_v, bytes{'h', 'i'})
              .then(
                [=](index_t idx, caf::message&) {
                  self->state.index = idx;
                  kill(self->state.worker);
                  self->request(self->state.worker, std::chrono::seconds{10},
                                wait_atom_v)
                    .then(
                      [=](bool clean) {
                        self->state.done.deliver(self->state.index, clean);
                        self->quit();
                      },
                      fail);
                },
                fail);
          },
          fail);
    },
  };
}

} // namespace

BOOST_AUTO_TEST_CASE(host_program_embeds_a_worker) {
  char tmpl[] = "/tmp/raft-host-test-XXXXXX";
  BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  {
    caf::actor_system_config sys_cfg;
    sys_cfg.set("logger.verbosity", caf::atom("quiet"));
    sys_cfg.set("logger.console-verbosity", caf::atom("quiet"));
    sys_cfg.set("logger.file-verbosity", caf::atom("quiet"));
    register_types(sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto fsm = std::make_shared<raft::fsm::simple_fsm>();
    config cfg;
    cfg.logger = std::make_shared<spdlog::logger>(
      "host", std::make_shared<spdlog::sinks::null_sink_mt>());
    cfg.storage_dir = dir;
    cfg.local_id = "7";
    cfg.clock = &sys.clock();
    cfg.heartbeat_timeout = 50ms;
    cfg.election_timeout = 50ms;
    cfg.leader_lease_timeout = 50ms;
    BOOST_REQUIRE(!bootstrap(cfg));
    cfg.fsm = fsm;
    cfg.transport = spawn_inmem_transport(sys, 1);
    auto h = sys.spawn(host, cfg);
    caf::scoped_actor self{sys};
    bool answered = false;
    self->request(h, std::chrono::seconds{60}, start_atom_v)
      .receive(
        [&](index_t idx, bool clean) {
          answered = true;
          BOOST_TEST(idx == 3u); // 1: bootstrap config, 2: no-op
          BOOST_TEST(clean);
        },
        [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    BOOST_TEST(answered);
    auto logs = fsm->logs();
    BOOST_REQUIRE(logs.size() == 1u);
    BOOST_TEST(text_of(logs[0]) == "hi");
    // The worker closed its store: it opens again.
    auto store = new_log_store(dir);
    BOOST_TEST(static_cast<bool>(store));
    caf::anon_send_exit(cfg.transport, caf::exit_reason::user_shutdown);
  }
  std::filesystem::remove_all(dir);
}

// The engine on real threads: a host program runs the raft manifold in its
// own actor system, applies through the engine's output and stops it all.
BOOST_AUTO_TEST_CASE(host_program_runs_the_engine) {
  char tmpl[] = "/tmp/raft-host-engine-XXXXXX";
  BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  {
    caf::actor_system_config sys_cfg;
    sys_cfg.set("logger.verbosity", caf::atom("quiet"));
    sys_cfg.set("logger.console-verbosity", caf::atom("quiet"));
    sys_cfg.set("logger.file-verbosity", caf::atom("quiet"));
    register_types(sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto logger = std::make_shared<spdlog::logger>(
      "host", std::make_shared<spdlog::sinks::null_sink_mt>());
    config boot;
    boot.logger = logger;
    boot.storage_dir = dir + "/raft";
    boot.local_id = "5";
    boot.clock = &sys.clock();
    BOOST_REQUIRE(!bootstrap(boot));
    auto fsm = std::make_shared<raft::fsm::simple_fsm>();
    auto transport = spawn_inmem_transport(sys, 1);
    manifold_config mc;
    mc.clock_name = "clock";
    mc.agent_name = "agent";
    mc.transport_name = "transport";
    mc.fsm = fsm;
    mc.logger = logger;
    mc.new_worker = spawn_worker;
    mc.election_timeout = 50ms;
    mc.heartbeat_timeout = 50ms;
    mc.leader_lease_timeout = 50ms;
    engine_config ec;
    ec.resources["clock"] = &sys.clock();
    ec.resources["agent"] = agent_info{"machine-5", dir};
    ec.resources["transport"] = transport;
    ec.manifolds["raft"] = manifold(mc);
    auto engine = spawn_engine(sys, ec);
    BOOST_REQUIRE_MESSAGE(engine, why(engine));
    caf::scoped_actor self{sys};
    node_actor node;
    self->request(*engine, 10s, raft_atom_v, std::string{"raft"})
      .receive([&](node_actor& n) { node = n; },
               [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    // Observe first, then look: a leadership won in between is not missed.
    self->send(node, observe_atom_v, caf::actor{self});
    role r = role::follower;
    self->request(node, 10s, state_atom_v)
      .receive([&](role x) { r = x; },
               [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    for (int k = 0; k < 100 && r != role::leader; ++k)
      self->receive([&](observation& o) { r = o.role; },
                    caf::after(std::chrono::seconds{10}) >> [&] { k = 100; });
    BOOST_REQUIRE(r == role::leader);
    self->request(node, 10s, apply_atom_v, bytes{'o', 'k'})
      .receive([&](index_t idx, caf::message&) { BOOST_TEST(idx == 3u); },
               [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    BOOST_REQUIRE(fsm->logs().size() == 1u);
    self->request(*engine, 10s, shutdown_atom_v)
      .receive([&](bool ok) { BOOST_TEST(ok); },
               [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    // Every worker stopped: the store is free again.
    BOOST_TEST(static_cast<bool>(new_log_store(dir + "/raft")));
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
  }
  std::filesystem::remove_all(dir);
}
