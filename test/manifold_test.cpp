#define BOOST_TEST_MODULE manifold
#include <boost/test/unit_test.hpp>

// The original's ManifoldSuite (spec/juju-worker-raft.md §5, §6): config
// validation, inputs, missing inputs, the worker config Start builds, and
// the outputs, against a stub worker.

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/manifold.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/synchronized_store.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "sim/sim.hpp"

using namespace raft;
using namespace raft::test;

namespace {

/// A worker that records which of its outputs were asked for.
struct stub_worker_state {
  std::shared_ptr<std::vector<std::string>> calls;
  node_actor node;
  shared_log_store store;
  caf::error raft_error;
};

worker_actor::behavior_type
stub_worker(worker_actor::stateful_pointer<stub_worker_state> self,
            std::shared_ptr<std::vector<std::string>> calls, node_actor node,
            shared_log_store store, caf::error raft_error) {
  self->state.calls = calls;
  return {
    [=](start_atom) { return true; },
    [=](raft_atom) -> caf::result<node_actor> {
      self->state.calls->push_back("Raft");
      if (raft_error)
        return raft_error;
      return node;
    },
    [=](log_store_atom) -> caf::result<shared_log_store> {
      self->state.calls->push_back("LogStore");
      return store;
    },
    [=](wait_atom) { return self->make_response_promise<bool>(); },
    [=](report_atom) { return stats_map{}; },
    [=](start_timeout_atom) {},
    [=](loop_atom) {},
  };
}

struct fixture : sim {
  std::shared_ptr<raft::fsm::simple_fsm> fsm = std::make_shared<raft::fsm::simple_fsm>();
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
    "test", std::make_shared<spdlog::sinks::null_sink_mt>());
  caf::actor transport = sys.spawn([]() -> caf::behavior {
    return {[](int) {}};
  });
  /// Stands in for the node the stub's Raft() hands out.
  caf::actor fake_node = sys.spawn([]() -> caf::behavior {
    return {[](int) {}};
  });
  shared_log_store store;
  std::shared_ptr<std::vector<std::string>> calls
    = std::make_shared<std::vector<std::string>>();
  std::vector<config> new_worker_calls;
  caf::error raft_error;
  std::vector<worker_actor> stubs;

  ~fixture() override {
    for (auto& w : stubs)
      caf::anon_send_exit(w, caf::exit_reason::kill);
    caf::anon_send_exit(transport, caf::exit_reason::kill);
    caf::anon_send_exit(fake_node, caf::exit_reason::kill);
    sched.run();
  }

  manifold_config make_config() {
    manifold_config cfg;
    cfg.clock_name = "clock";
    cfg.agent_name = "agent";
    cfg.transport_name = "transport";
    cfg.fsm = fsm;
    cfg.logger = logger;
    cfg.new_worker = [this](caf::actor_system& sys,
                            const config& c) -> caf::expected<worker_actor> {
      new_worker_calls.push_back(c);
      auto w = sys.spawn(stub_worker, calls,
                         caf::actor_cast<node_actor>(fake_node), store,
                         raft_error);
      stubs.push_back(w);
      return w;
    };
    return cfg;
  }

  std::map<std::string, std::any> resources() {
    std::map<std::string, std::any> r;
    r["clock"] = &sys.clock();
    r["agent"] = agent_info{"machine-99", "data/dir"};
    r["transport"] = caf::actor_cast<transport_actor>(transport);
    return r;
  }

  dependency_context context(const dependency_manifold& m,
                             std::map<std::string, std::any> r) {
    return dependency_context{sys, m.inputs, std::move(r)};
  }

  /// Runs the manifold's output function from a helper actor.
  caf::expected<std::any> output(const dependency_manifold& m,
                                 const caf::actor& worker,
                                 const std::type_info& type) {
    auto res = std::make_shared<std::optional<caf::expected<std::any>>>();
    auto out = m.output;
    sys.spawn([=, &type](caf::event_based_actor* self) {
      out(self, worker, type,
          [res](caf::expected<std::any> x) { *res = std::move(x); });
    });
    run_jobs();
    BOOST_REQUIRE(res->has_value());
    return std::move(**res);
  }
};

std::string text(const caf::error& err) {
  return describe(err);
}

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(manifold_suite, fixture)

BOOST_AUTO_TEST_CASE(validate_in_the_originals_order) {
  auto cfg = make_config();
  BOOST_TEST(!cfg.validate());
  cfg.clock_name.clear();
  BOOST_TEST(text(cfg.validate()) == "empty ClockName not valid");
  cfg = make_config();
  cfg.agent_name.clear();
  BOOST_TEST(text(cfg.validate()) == "empty AgentName not valid");
  cfg = make_config();
  cfg.transport_name.clear();
  BOOST_TEST(text(cfg.validate()) == "empty TransportName not valid");
  cfg = make_config();
  cfg.fsm = nullptr;
  BOOST_TEST(text(cfg.validate()) == "nil FSM not valid");
  cfg = make_config();
  cfg.logger = nullptr;
  BOOST_TEST(text(cfg.validate()) == "nil Logger not valid");
  cfg = make_config();
  cfg.new_worker = nullptr;
  BOOST_TEST(text(cfg.validate()) == "nil NewWorker not valid");
  BOOST_TEST(is(cfg.validate(), errc::not_valid));
  // The first failure wins.
  manifold_config empty;
  BOOST_TEST(text(empty.validate()) == "empty ClockName not valid");
  empty.clock_name = "c";
  BOOST_TEST(text(empty.validate()) == "empty AgentName not valid");
  empty.agent_name = "a";
  empty.transport_name = "t";
  BOOST_TEST(text(empty.validate()) == "nil FSM not valid");
  // No registerer is fine (it is optional).
  cfg = make_config();
  cfg.prometheus_registerer = nullptr;
  BOOST_TEST(!cfg.validate());
}

BOOST_AUTO_TEST_CASE(inputs) {
  auto m = manifold(make_config());
  BOOST_TEST((m.inputs == std::vector<std::string>{"clock", "agent",
                                                   "transport"}));
}

BOOST_AUTO_TEST_CASE(missing_inputs) {
  auto m = manifold(make_config());
  for (auto name : {"clock", "agent", "transport"}) {
    auto r = resources();
    r.erase(name);
    auto ctx = context(m, r);
    auto w = m.start(ctx);
    BOOST_REQUIRE(!w);
    BOOST_TEST(is_missing(w.error()), name << ": " << text(w.error()));
    BOOST_TEST(text(w.error()) == "dependency not available");
  }
  BOOST_TEST(new_worker_calls.empty());
}

BOOST_AUTO_TEST_CASE(start_validates_first) {
  auto cfg = make_config();
  cfg.fsm = nullptr;
  auto m = manifold(cfg);
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE(!w);
  BOOST_TEST(text(w.error()) == "nil FSM not valid");
  BOOST_TEST(new_worker_calls.empty());
}

BOOST_AUTO_TEST_CASE(start_builds_the_worker_config) {
  auto m = manifold(make_config());
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE_MESSAGE(w, why(w));
  BOOST_REQUIRE(new_worker_calls.size() == 1u);
  auto& c = new_worker_calls[0];
  BOOST_TEST((c.fsm == fsm));
  BOOST_TEST((c.logger == logger));
  BOOST_TEST(c.storage_dir == "data/dir/raft");
  BOOST_TEST(c.local_id == "99");
  BOOST_TEST((c.transport == caf::actor_cast<transport_actor>(transport)));
  BOOST_TEST((c.clock == &sys.clock()));
  BOOST_TEST((c.prometheus_registerer == nullptr));
  // Timeouts and retention stay zero, as the original.
  BOOST_TEST(c.no_leader_timeout.count() == 0);
  BOOST_TEST(c.election_timeout.count() == 0);
  BOOST_TEST(c.heartbeat_timeout.count() == 0);
  BOOST_TEST(c.leader_lease_timeout.count() == 0);
  BOOST_TEST(c.snapshot_retention == 0);
  BOOST_TEST((*w == caf::actor_cast<caf::actor>(stubs.at(0))));
}

BOOST_AUTO_TEST_CASE(start_reports_bad_inputs) {
  auto m = manifold(make_config());
  auto r = resources();
  r["clock"] = std::string{"not a clock"};
  auto ctx = context(m, r);
  auto w = m.start(ctx);
  BOOST_REQUIRE(!w);
  BOOST_TEST(text(w.error()) == "input \"clock\" is not a caf::actor_clock*");
  // An untyped handle is not a transport: the host learns what to put.
  r = resources();
  r["transport"] = transport;
  auto ctx_untyped = context(m, r);
  w = m.start(ctx_untyped);
  BOOST_REQUIRE(!w);
  BOOST_TEST(text(w.error()).find("is not a raft::transport_actor (put the "
                                  "handle spawn_inmem_transport")
             != std::string::npos, text(w.error()));
  r = resources();
  r["agent"] = agent_info{"nodash", "d"};
  auto ctx2 = context(m, r);
  w = m.start(ctx2);
  BOOST_REQUIRE(!w);
  BOOST_TEST(text(w.error()) == "\"nodash\" is not a valid tag");
}

BOOST_AUTO_TEST_CASE(new_worker_errors_pass_through) {
  auto cfg = make_config();
  cfg.new_worker = [](caf::actor_system&,
                      const config&) -> caf::expected<worker_actor> {
    return make_error(errc::storage_failure, "boom");
  };
  auto m = manifold(cfg);
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE(!w);
  BOOST_TEST(text(w.error()) == "boom");
}

BOOST_AUTO_TEST_CASE(context_refuses_undeclared_inputs) {
  auto m = manifold(make_config());
  auto ctx = context(m, resources());
  auto x = ctx.get("other");
  BOOST_REQUIRE(!x);
  BOOST_TEST(text(x.error()) == "\"other\" not declared");
}

BOOST_AUTO_TEST_CASE(tag_ids) {
  BOOST_TEST(*tag_id("machine-99") == "99");
  BOOST_TEST(*tag_id("machine-0-lxd-1") == "0/lxd/1");
  BOOST_TEST(*tag_id("controller-3") == "3");
  BOOST_TEST(!tag_id("machine-"));
  BOOST_TEST(!tag_id("-1"));
  BOOST_TEST(!tag_id(""));
}

BOOST_AUTO_TEST_CASE(output_raft) {
  auto m = manifold(make_config());
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE(w);
  auto out = output(m, *w, typeid(node_actor));
  BOOST_REQUIRE_MESSAGE(out, why(out));
  BOOST_TEST((std::any_cast<node_actor>(*out)
              == caf::actor_cast<node_actor>(fake_node)));
  BOOST_TEST((*calls == std::vector<std::string>{"Raft"}));
}

BOOST_AUTO_TEST_CASE(output_log_store) {
  store = std::make_shared<synchronized_store>(nullptr, nullptr);
  auto m = manifold(make_config());
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE(w);
  auto out = output(m, *w, typeid(shared_log_store));
  BOOST_REQUIRE_MESSAGE(out, why(out));
  BOOST_TEST((std::any_cast<shared_log_store>(*out) == store));
  BOOST_TEST((*calls == std::vector<std::string>{"LogStore"}));
}

BOOST_AUTO_TEST_CASE(output_raft_error) {
  raft_error = make_error(errc::not_valid, "no Raft for you");
  auto m = manifold(make_config());
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE(w);
  auto out = output(m, *w, typeid(node_actor));
  BOOST_REQUIRE(!out);
  BOOST_TEST(text(out.error()) == "no Raft for you");
}

BOOST_AUTO_TEST_CASE(output_of_another_type) {
  auto m = manifold(make_config());
  auto ctx = context(m, resources());
  auto w = m.start(ctx);
  BOOST_REQUIRE(w);
  auto out = output(m, *w, typeid(int));
  BOOST_REQUIRE(!out);
  BOOST_TEST(text(out.error())
             == "expected output of raft::node_actor or "
                "raft::shared_log_store, got int");
  BOOST_TEST(calls->empty());
}

BOOST_AUTO_TEST_SUITE_END()
