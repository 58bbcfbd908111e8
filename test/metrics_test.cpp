#define BOOST_TEST_MODULE metrics
#include <boost/test/unit_test.hpp>

// raft_metrics on a prometheus-cpp registry: the families HashiCorp's names
// map to, values moving, a second registration on the same registry (the
// restarted worker's takeover) and the text a scrape shows; then through
// the worker on the test coordinator, and a scripted life of four servers
// in which every family moves.

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/null_sink.h>

#include "caf-raft/config/version.hpp"
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/metrics.hpp"
#include "caf-raft/actors/protocol/consensus.hpp"
#include "caf-raft/actors/supervisor.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/bootstrap/bootstrap.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "sim/sim.hpp"

using namespace raft;
using namespace raft::test;
using namespace std::chrono_literals;

namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    default:
      return "untyped";
  }
}

/// Name to type of every family a scrape of `reg` shows.
std::map<std::string, std::string> families(const prometheus::Registry& reg) {
  std::map<std::string, std::string> out;
  for (auto& f : reg.Collect()) {
    BOOST_TEST_INFO("family " << f.name);
    BOOST_TEST(out.count(f.name) == 0u); // no duplicate families
    out[f.name] = type_name(f.type);
  }
  return out;
}

/// The family `name` in a scrape of `reg`; fails the test if absent.
MetricFamily family(const prometheus::Registry& reg, const std::string& name) {
  for (auto& f : reg.Collect())
    if (f.name == name)
      return f;
  BOOST_FAIL("no family " << name);
  return {};
}

/// The one unlabelled series of family `name`.
prometheus::ClientMetric series(const prometheus::Registry& reg,
                                const std::string& name) {
  auto f = family(reg, name);
  BOOST_REQUIRE_MESSAGE(f.metric.size() == 1u,
                        name << " has " << f.metric.size() << " series");
  BOOST_REQUIRE(f.metric[0].label.empty());
  return f.metric[0];
}

/// The series of family `name` labelled `peer_id = peer`.
prometheus::ClientMetric peer_series(const prometheus::Registry& reg,
                                     const std::string& name,
                                     const std::string& peer) {
  auto f = family(reg, name);
  for (auto& m : f.metric)
    if (m.label.size() == 1 && m.label[0].name == "peer_id"
        && m.label[0].value == peer)
      return m;
  BOOST_FAIL("no series " << name << "{peer_id=\"" << peer << "\"}");
  return {};
}

std::shared_ptr<raft_metrics> make_metrics(
  const std::shared_ptr<prometheus::Registry>& reg) {
  auto m = raft_metrics::make(reg);
  BOOST_REQUIRE_MESSAGE(m, (m ? "" : describe(m.error())));
  BOOST_REQUIRE(*m != nullptr);
  return *m;
}

/// Every unlabelled family, written out by hand (docs/operations.md §7 maps
/// each to HashiCorp's name), so a renamed or lost metric fails here.
const std::map<std::string, std::string> expected_families{
  {"caf_raft_build_info", "gauge"},
  {"raft_apply_total", "counter"},
  {"raft_barrier_total", "counter"},
  {"raft_verify_leader_total", "counter"},
  {"raft_restore_total", "counter"},
  {"raft_state_follower_total", "counter"},
  {"raft_state_candidate_total", "counter"},
  {"raft_state_leader_total", "counter"},
  {"raft_transition_heartbeat_timeout_total", "counter"},
  {"raft_transition_leader_lease_timeout_total", "counter"},
  {"raft_leader_changes_total", "counter"},
  {"raft_proposals_failed_total", "counter"},
  {"raft_peers", "gauge"},
  {"raft_is_leader", "gauge"},
  {"raft_has_leader", "gauge"},
  {"raft_commit_num_logs", "gauge"},
  {"raft_fsm_last_restore_duration_seconds", "gauge"},
  {"raft_term", "gauge"},
  {"raft_commit_index", "gauge"},
  {"raft_applied_index", "gauge"},
  {"raft_last_index", "gauge"},
  {"raft_last_contact_seconds", "gauge"},
  {"raft_snapshot_size_bytes", "gauge"},
  {"raft_commit_time_seconds", "histogram"},
  {"raft_log_store_seconds", "histogram"},
  {"raft_log_store_entries", "histogram"},
  {"raft_log_fsync_seconds", "histogram"},
  {"raft_compact_logs_seconds", "histogram"},
  {"raft_fsm_apply_seconds", "histogram"},
  {"raft_fsm_apply_batch_seconds", "histogram"},
  {"raft_fsm_apply_batch_entries", "histogram"},
  {"raft_fsm_snapshot_seconds", "histogram"},
  {"raft_fsm_restore_seconds", "histogram"},
  {"raft_snapshot_take_snapshot_seconds", "histogram"},
  {"raft_snapshot_create_seconds", "histogram"},
  {"raft_snapshot_persist_seconds", "histogram"},
  {"raft_restore_user_snapshot_seconds", "histogram"},
  {"raft_rpc_install_snapshot_seconds", "histogram"},
};

const std::map<std::string, std::string> expected_peer_families{
  {"raft_replication_append_entries_logs_total", "counter"},
  {"raft_replication_lag_entries", "gauge"},
  {"raft_replication_append_entries_seconds", "histogram"},
  {"raft_replication_heartbeat_seconds", "histogram"},
  {"raft_replication_install_snapshot_seconds", "histogram"},
};

} // namespace

BOOST_AUTO_TEST_SUITE(raft_metrics_suite)

BOOST_AUTO_TEST_CASE(no_registry_no_metrics) {
  auto m = raft_metrics::make(nullptr);
  BOOST_REQUIRE(m);
  BOOST_TEST(*m == nullptr);
}

BOOST_AUTO_TEST_CASE(families_have_hashicorp_names_and_types) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto m = make_metrics(reg);
  // Per-peer families show only once a peer exists.
  BOOST_TEST(families(*reg) == expected_families);
  for (auto& f : reg->Collect()) {
    BOOST_TEST_INFO("family " << f.name);
    BOOST_TEST(!f.help.empty());
  }
  m->append_rpc("2", 1ms, 1);
  m->heartbeat_rpc("2", 1ms);
  m->snapshot_rpc("2", 1ms);
  auto all = expected_families;
  all.insert(expected_peer_families.begin(), expected_peer_families.end());
  BOOST_TEST(families(*reg) == all);
}

BOOST_AUTO_TEST_CASE(build_info_names_the_versions) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto m = make_metrics(reg);
  for (auto& f : reg->Collect()) {
    if (f.name != "caf_raft_build_info")
      continue;
    BOOST_REQUIRE(f.metric.size() == 1u);
    BOOST_TEST(f.metric[0].gauge.value == 1.0);
    std::map<std::string, std::string> labels;
    for (auto& l : f.metric[0].label)
      labels[l.name] = l.value;
    BOOST_TEST((labels == build_info()));
    BOOST_TEST(labels["version"] == version());
    return;
  }
  BOOST_FAIL("no caf_raft_build_info family");
}

BOOST_AUTO_TEST_CASE(values_move) {
  using boost::test_tools::tolerance;
  auto reg = std::make_shared<prometheus::Registry>();
  auto m = make_metrics(reg);
  BOOST_TEST(series(*reg, "raft_apply_total").counter.value == 0.0);
  m->apply(3);
  m->apply();
  BOOST_TEST(series(*reg, "raft_apply_total").counter.value == 4.0);
  m->proposals_failed(2);
  BOOST_TEST(series(*reg, "raft_proposals_failed_total").counter.value == 2.0);
  m->state_changed(role::candidate);
  m->state_changed(role::leader);
  BOOST_TEST(series(*reg, "raft_is_leader").gauge.value == 1.0);
  m->state_changed(role::follower);
  BOOST_TEST(series(*reg, "raft_is_leader").gauge.value == 0.0);
  m->state_changed(role::leader);
  m->state_changed(role::shutdown);
  BOOST_TEST(series(*reg, "raft_state_leader_total").counter.value == 2.0);
  BOOST_TEST(series(*reg, "raft_state_candidate_total").counter.value == 1.0);
  BOOST_TEST(series(*reg, "raft_state_follower_total").counter.value == 1.0);
  m->set_leader(true, true);
  m->set_leader(true, false);
  BOOST_TEST(series(*reg, "raft_has_leader").gauge.value == 1.0);
  BOOST_TEST(series(*reg, "raft_leader_changes_total").counter.value == 1.0);
  m->set_leader(false, false);
  BOOST_TEST(series(*reg, "raft_has_leader").gauge.value == 0.0);
  m->heartbeat_timeout();
  BOOST_TEST(
    series(*reg, "raft_transition_heartbeat_timeout_total").counter.value
    == 1.0);
  m->set_term(7);
  m->set_commit_index(40);
  m->set_applied_index(39);
  m->set_last_index(42);
  m->set_last_contact(250ms);
  m->set_peers(3);
  BOOST_TEST(series(*reg, "raft_term").gauge.value == 7.0);
  BOOST_TEST(series(*reg, "raft_commit_index").gauge.value == 40.0);
  BOOST_TEST(series(*reg, "raft_applied_index").gauge.value == 39.0);
  BOOST_TEST(series(*reg, "raft_last_index").gauge.value == 42.0);
  BOOST_TEST(series(*reg, "raft_last_contact_seconds").gauge.value == 0.25,
             tolerance(1e-12));
  BOOST_TEST(series(*reg, "raft_peers").gauge.value == 3.0);
  // Durations are in seconds, as Prometheus has it.
  m->commit_time(2ms, 4);
  m->commit_time(1500us, 2);
  auto commit = series(*reg, "raft_commit_time_seconds").histogram;
  BOOST_TEST(commit.sample_count == 2u);
  BOOST_TEST(commit.sample_sum == 0.0035, tolerance(1e-12));
  // 1.5 ms and 2 ms: both in the (1, 2.5] ms bucket.
  BOOST_REQUIRE(!commit.bucket.empty());
  for (auto& b : commit.bucket) {
    BOOST_TEST_INFO("le " << b.upper_bound);
    BOOST_TEST(b.cumulative_count == (b.upper_bound < 0.0025 ? 0u : 2u));
  }
  BOOST_TEST(series(*reg, "raft_commit_num_logs").gauge.value == 2.0);
  m->log_store(1ms, 16);
  m->log_fsync(800us);
  m->compact_logs(3ms);
  BOOST_TEST(series(*reg, "raft_log_store_seconds").histogram.sample_sum
               == 0.001,
             tolerance(1e-12));
  BOOST_TEST(series(*reg, "raft_log_store_entries").histogram.sample_sum
             == 16.0);
  BOOST_TEST(series(*reg, "raft_log_fsync_seconds").histogram.sample_sum
               == 0.0008,
             tolerance(1e-12));
  BOOST_TEST(series(*reg, "raft_compact_logs_seconds").histogram.sample_count
             == 1u);
  m->fsm_apply(250us);
  BOOST_TEST(series(*reg, "raft_fsm_apply_seconds").histogram.sample_sum
               == 0.00025,
             tolerance(1e-12));
  m->fsm_apply_batch(2ms, 100);
  BOOST_TEST(series(*reg, "raft_fsm_apply_batch_seconds").histogram.sample_sum
               == 0.002,
             tolerance(1e-12));
  auto batch = series(*reg, "raft_fsm_apply_batch_entries").histogram;
  BOOST_TEST(batch.sample_sum == 100.0);
  for (auto& b : batch.bucket) {
    BOOST_TEST_INFO("le " << b.upper_bound);
    BOOST_TEST(b.cumulative_count == (b.upper_bound < 100 ? 0u : 1u));
  }
  m->fsm_restore(40ms);
  BOOST_TEST(series(*reg, "raft_fsm_restore_seconds").histogram.sample_count
             == 1u);
  BOOST_TEST(series(*reg, "raft_fsm_last_restore_duration_seconds").gauge.value
               == 0.04,
             tolerance(1e-12));
  m->snapshot_create(1ms);
  m->snapshot_persist(5ms, 4096);
  BOOST_TEST(
    series(*reg, "raft_snapshot_create_seconds").histogram.sample_count == 1u);
  BOOST_TEST(series(*reg, "raft_snapshot_persist_seconds").histogram.sample_sum
               == 0.005,
             tolerance(1e-12));
  BOOST_TEST(series(*reg, "raft_snapshot_size_bytes").gauge.value == 4096.0);
  m->install_snapshot(9ms);
  BOOST_TEST(
    series(*reg, "raft_rpc_install_snapshot_seconds").histogram.sample_sum
      == 0.009,
    tolerance(1e-12));
  m->restore_user_snapshot(3ms);
  BOOST_TEST(series(*reg, "raft_restore_total").counter.value == 1.0);
  // Per-peer: one series per peer, through the name or a kept handle.
  m->append_rpc("2", 3ms, 5);
  auto& p3 = m->peer("3");
  m->append_rpc(p3, 1ms, 1);
  m->append_rpc(p3, 1ms, 2);
  BOOST_TEST(&m->peer("3") == &p3);
  m->set_replication_lag("3", 17);
  auto rpc2 = peer_series(*reg, "raft_replication_append_entries_seconds", "2");
  BOOST_TEST(rpc2.histogram.sample_count == 1u);
  BOOST_TEST(rpc2.histogram.sample_sum == 0.003, tolerance(1e-12));
  auto rpc3 = peer_series(*reg, "raft_replication_append_entries_seconds", "3");
  BOOST_TEST(rpc3.histogram.sample_count == 2u);
  BOOST_TEST(peer_series(*reg, "raft_replication_append_entries_logs_total",
                         "2")
               .counter.value
             == 5.0);
  BOOST_TEST(peer_series(*reg, "raft_replication_append_entries_logs_total",
                         "3")
               .counter.value
             == 3.0);
  BOOST_TEST(
    peer_series(*reg, "raft_replication_lag_entries", "3").gauge.value
    == 17.0);
  BOOST_TEST(
    family(*reg, "raft_replication_append_entries_seconds").metric.size()
    == 2u);
}

BOOST_AUTO_TEST_CASE(second_registration_shares_families_and_series) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto first = make_metrics(reg);
  first->apply(1);
  first->append_rpc("2", 1ms, 1);
  auto before = families(*reg);
  // The restarted worker's registration, twice over.
  auto second = make_metrics(reg);
  auto third = make_metrics(reg);
  BOOST_TEST(families(*reg) == before);
  second->apply(2);
  third->apply(4);
  second->append_rpc("2", 1ms, 1);
  third->append_rpc("3", 1ms, 1);
  BOOST_TEST(series(*reg, "raft_apply_total").counter.value == 7.0);
  BOOST_TEST(family(*reg, "raft_replication_append_entries_seconds").metric.size()
             == 2u);
  BOOST_TEST(
    peer_series(*reg, "raft_replication_append_entries_seconds", "2")
      .histogram.sample_count
    == 2u);
  // The old worker's object stays usable and writes the same series.
  first.reset();
  second->set_term(5);
  BOOST_TEST(series(*reg, "raft_term").gauge.value == 5.0);
}

BOOST_AUTO_TEST_CASE(takeover_on_a_registry_that_throws_on_duplicates) {
  auto reg = std::make_shared<prometheus::Registry>(
    prometheus::Registry::InsertBehavior::Throw);
  {
    auto first = make_metrics(reg);
    first->apply(1);
  } // the old worker is gone entirely
  auto second = make_metrics(reg);
  second->apply(1);
  BOOST_TEST(families(*reg) == expected_families);
  BOOST_TEST(series(*reg, "raft_apply_total").counter.value == 2.0);
}

BOOST_AUTO_TEST_CASE(registries_are_separate) {
  auto a = std::make_shared<prometheus::Registry>();
  auto b = std::make_shared<prometheus::Registry>();
  auto ma = make_metrics(a);
  auto mb = make_metrics(b);
  ma->apply(1);
  BOOST_TEST(series(*a, "raft_apply_total").counter.value == 1.0);
  BOOST_TEST(series(*b, "raft_apply_total").counter.value == 0.0);
}

BOOST_AUTO_TEST_CASE(metrics_keep_their_registry_alive) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto m = make_metrics(reg);
  std::weak_ptr<prometheus::Registry> weak = reg;
  reg.reset();
  BOOST_REQUIRE(!weak.expired());
  m->apply(2); // must not touch freed families
  BOOST_TEST(series(*m->registry(), "raft_apply_total").counter.value == 2.0);
  m.reset();
  BOOST_TEST(weak.expired());
  // A new registry (possibly at the dead one's address) starts afresh.
  auto fresh = std::make_shared<prometheus::Registry>();
  auto m2 = make_metrics(fresh);
  BOOST_TEST(series(*fresh, "raft_apply_total").counter.value == 0.0);
}

BOOST_AUTO_TEST_CASE(name_taken_by_another_type_is_a_clear_error) {
  auto reg = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("raft_apply_total").Help("someone else's").Register(
    *reg);
  auto m = raft_metrics::make(reg);
  BOOST_REQUIRE(!m);
  BOOST_TEST(is(m.error(), errc::not_valid));
  BOOST_TEST_INFO(describe(m.error()));
  BOOST_TEST(describe(m.error()).find("registering raft metrics: ") == 0u);
  BOOST_TEST(describe(m.error()).find("raft_apply_total") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(text_serializer_shows_the_names) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto m = make_metrics(reg);
  m->apply(2);
  m->commit_time(3ms);
  m->append_rpc("node-2", 1ms, 4);
  auto text = prometheus::TextSerializer().Serialize(reg->Collect());
  BOOST_TEST_INFO(text);
  for (auto& [name, type] : expected_families)
    BOOST_TEST(text.find("# TYPE " + name + " " + type + "\n")
               != std::string::npos);
  BOOST_TEST(text.find("\nraft_apply_total 2\n") != std::string::npos);
  BOOST_TEST(text.find("raft_commit_time_seconds_count 1\n")
             != std::string::npos);
  BOOST_TEST(text.find("raft_commit_time_seconds_sum 0.003\n")
             != std::string::npos);
  BOOST_TEST(text.find("raft_commit_time_seconds_bucket{le=\"0.005\"} 1\n")
             != std::string::npos);
  BOOST_TEST(text.find("raft_commit_time_seconds_bucket{le=\"0.0025\"} 0\n")
             != std::string::npos);
  BOOST_TEST(text.find("raft_replication_append_entries_logs_total{peer_id="
                       "\"node-2\"} 4\n")
             != std::string::npos);
  BOOST_TEST(text.find("raft_replication_append_entries_seconds_count{peer_id="
                       "\"node-2\"} 1")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(threads_share_one_object_and_registry) {
  // The node, log writer and FSM runner call from their own threads; two
  // workers may register at once. Joining is the bounded wait here.
  auto reg = std::make_shared<prometheus::Registry>();
  constexpr int threads = 4;
  constexpr int calls = 5000;
  std::vector<std::shared_ptr<raft_metrics>> objs(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      auto m = raft_metrics::make(reg);
      if (!m || !*m)
        return;
      objs[t] = *m;
      for (int k = 0; k < calls; ++k) {
        objs[t]->apply();
        objs[t]->fsm_apply(1us);
        objs[t]->append_rpc(std::to_string(k % 3), 1us, 1);
      }
    });
  for (auto& t : ts)
    t.join();
  for (auto& o : objs)
    BOOST_REQUIRE(o != nullptr);
  BOOST_TEST(series(*reg, "raft_apply_total").counter.value
             == double(threads * calls));
  BOOST_TEST(series(*reg, "raft_fsm_apply_seconds").histogram.sample_count
             == uint64_t(threads * calls));
  BOOST_TEST(family(*reg, "raft_replication_append_entries_logs_total").metric.size()
             == 3u);
  double logs = 0;
  for (auto& s : family(*reg, "raft_replication_append_entries_logs_total").metric)
    logs += s.counter.value;
  BOOST_TEST(logs == double(threads * calls));
}

BOOST_AUTO_TEST_SUITE_END()

// -- through the worker -------------------------------------------------------

namespace {

/// The worker tests' deterministic fixture, cut down to what these need.
struct worker_fixture : sim {
  std::string dir;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> lines
    = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  std::shared_ptr<spdlog::logger> logger
    = std::make_shared<spdlog::logger>("test", lines);
  std::shared_ptr<raft::fsm::simple_fsm> fsm = std::make_shared<raft::fsm::simple_fsm>();
  inmem_transport_actor transport = spawn_inmem_transport(sys, 1);
  std::vector<worker_actor> workers;

  worker_fixture() {
    char tmpl[] = "/tmp/raft-metrics-test-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    auto cfg = make_config();
    cfg.fsm = nullptr;
    cfg.transport = nullptr;
    auto err = bootstrap(cfg);
    BOOST_REQUIRE_MESSAGE(!err, describe(err));
  }

  ~worker_fixture() override {
    for (auto& w : workers)
      kill(w);
    workers.clear();
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    sched.run();
    for (int k = 0; k < 100 && sched.has_pending_timeout(); ++k) {
      sched.trigger_timeouts();
      sched.run();
    }
    std::filesystem::remove_all(dir);
  }

  config make_config() {
    config cfg;
    cfg.fsm = fsm;
    cfg.logger = logger;
    cfg.storage_dir = dir;
    cfg.local_id = "123";
    cfg.transport = transport;
    cfg.clock = &sys.clock();
    cfg.heartbeat_timeout = 100ms;
    cfg.election_timeout = 100ms;
    cfg.leader_lease_timeout = 100ms;
    cfg.no_leader_timeout = 4s;
    return cfg;
  }

  worker_actor start_worker(const config& cfg) {
    auto w = spawn_worker(sys, cfg);
    BOOST_REQUIRE_MESSAGE(w, (w ? "" : describe(w.error())));
    workers.push_back(*w);
    auto started = ask_now<bool>(*w, start_atom_v);
    BOOST_REQUIRE_MESSAGE(!started.err, describe(started.err));
    return *w;
  }

  void stop_worker(const worker_actor& w) {
    kill(w);
    auto r = ask_now<bool>(w, wait_atom_v);
    BOOST_REQUIRE_MESSAGE(!r.err, describe(r.err));
  }

  bool logged(const std::string& what) {
    for (auto& line : lines->last_formatted())
      if (line.find(what) != std::string::npos)
        return true;
    return false;
  }

  void wait_for_leadership(const worker_actor& w) {
    auto node = ask_now<node_actor>(w, raft_atom_v);
    BOOST_REQUIRE(!node.err);
    BOOST_REQUIRE(run_until(
      [&] {
        auto s = ask<role>(node.value, state_atom_v);
        run_jobs();
        return s->done && s->value == role::leader;
      },
      200));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(worker_metrics, worker_fixture)

BOOST_AUTO_TEST_CASE(worker_registers_and_a_restarted_worker_takes_over) {
  for (auto behavior : {prometheus::Registry::InsertBehavior::Merge,
                        prometheus::Registry::InsertBehavior::Throw}) {
    auto reg = std::make_shared<prometheus::Registry>(behavior);
    auto cfg = make_config();
    cfg.prometheus_registerer = reg;
    auto first = start_worker(cfg);
    BOOST_TEST(families(*reg) == expected_families);
    stop_worker(first);
    // The restarted worker registers on the same registry: no error, no
    // warning, and still one family per name.
    auto second = start_worker(cfg);
    BOOST_TEST(!logged("registering raft metrics"));
    BOOST_TEST(families(*reg) == expected_families);
    wait_for_leadership(second);
    stop_worker(second);
  }
}

BOOST_AUTO_TEST_CASE(fresh_worker_takes_over_from_one_that_timed_out) {
  // The case the original keeps its registrations for: a worker whose loop
  // never started (its transport never answers) fails with start_timeout,
  // and the next one registers on the same registry.
  auto reg = std::make_shared<prometheus::Registry>(
    prometheus::Registry::InsertBehavior::Throw);
  auto silent = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[=](connect_atom, const std::string&, const caf::actor&) {
      return self->make_response_promise(); // never delivered
    }};
  });
  auto cfg = make_config();
  cfg.prometheus_registerer = reg;
  cfg.transport = caf::actor_cast<transport_actor>(silent);
  auto orphan = spawn_worker(sys, cfg);
  BOOST_REQUIRE(orphan);
  workers.push_back(*orphan);
  auto started = ask<bool>(*orphan, start_atom_v);
  BOOST_REQUIRE(run_until([&] { return started->done; }, 100000));
  BOOST_TEST(is(started->err, errc::start_timeout));
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
  cfg.transport = transport;
  auto w = start_worker(cfg);
  BOOST_TEST(!logged("registering raft metrics"));
  BOOST_TEST(families(*reg) == expected_families);
  wait_for_leadership(w);
  stop_worker(w);
}

BOOST_AUTO_TEST_CASE(worker_whose_metric_names_are_taken_still_runs) {
  // As the original: failing to register metrics is a warning only.
  auto reg = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("raft_term").Help("taken").Register(*reg);
  auto cfg = make_config();
  cfg.prometheus_registerer = reg;
  auto w = start_worker(cfg);
  BOOST_TEST(logged("registering raft metrics"));
  wait_for_leadership(w);
  stop_worker(w);
}

BOOST_AUTO_TEST_CASE(worker_without_registry_runs) {
  auto w = start_worker(make_config());
  BOOST_TEST(!logged("registering raft metrics"));
  wait_for_leadership(w);
  stop_worker(w);
}

// A leader elected through the worker shows in the registry.
BOOST_AUTO_TEST_CASE(node_reports_through_the_worker) {
  auto reg = std::make_shared<prometheus::Registry>();
  auto cfg = make_config();
  cfg.prometheus_registerer = reg;
  auto w = start_worker(cfg);
  wait_for_leadership(w);
  BOOST_TEST(series(*reg, "raft_state_leader_total").counter.value == 1.0);
  BOOST_TEST(series(*reg, "raft_term").gauge.value >= 1.0);
  BOOST_TEST(series(*reg, "raft_commit_index").gauge.value >= 2.0);
  stop_worker(w);
  // The next worker on the same registry keeps counting.
  auto again = start_worker(cfg);
  wait_for_leadership(again);
  BOOST_TEST(series(*reg, "raft_state_leader_total").counter.value == 2.0);
  stop_worker(again);
}

BOOST_AUTO_TEST_SUITE_END()

// -- a scripted life: every family a server exports moves ----------------------

namespace {

/// Four workers on real SQLite logs and file snapshots, over the in-memory
/// transport, each with its own registry: three founders, and one added
/// later that receives a snapshot.
struct life_fixture : sim {
  std::string root;
  inmem_transport_actor transport = spawn_inmem_transport(sys, 7);
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
    "life", std::make_shared<spdlog::sinks::null_sink_mt>());
  std::vector<std::shared_ptr<prometheus::Registry>> regs;
  std::vector<worker_actor> workers;
  std::vector<node_actor> nodes;
  /// Families seen with a sample that moved, on any server at any step.
  std::set<std::string> moved;

  life_fixture() : sim(11) {
    char tmpl[] = "/tmp/raft-metrics-life-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    configuration conf;
    for (auto id : {"1", "2", "3"})
      conf.servers.push_back(server{suffrage::voter, id, id});
    for (auto id : {"1", "2", "3"}) {
      auto store = new_log_store(root + "/" + id);
      BOOST_REQUIRE(store);
      BOOST_REQUIRE(!bootstrap_cluster(**store, **store, conf));
      BOOST_REQUIRE(!(*store)->close());
    }
  }

  ~life_fixture() override {
    for (auto& w : workers)
      kill(w);
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    sched.run();
    for (int k = 0; k < 100 && sched.has_pending_timeout(); ++k) {
      sched.trigger_timeouts();
      sched.run();
    }
    std::filesystem::remove_all(root);
  }

  /// Starts server `id` (its folder bootstrapped or empty).
  void start(const std::string& id) {
    regs.push_back(std::make_shared<prometheus::Registry>());
    config cfg;
    cfg.fsm = std::make_shared<raft::fsm::simple_fsm>();
    cfg.logger = logger;
    cfg.storage_dir = root + "/" + id;
    cfg.local_id = id;
    cfg.transport = transport;
    cfg.clock = &sys.clock();
    cfg.heartbeat_timeout = 100ms;
    cfg.election_timeout = 100ms;
    cfg.leader_lease_timeout = 100ms;
    cfg.no_leader_timeout = 60s;
    cfg.trailing_logs = 2;
    cfg.prometheus_registerer = regs.back();
    auto w = spawn_worker(sys, cfg);
    BOOST_REQUIRE_MESSAGE(w, (w ? "" : describe(w.error())));
    workers.push_back(*w);
    BOOST_REQUIRE(!ask_now<bool>(*w, start_atom_v).err);
    auto node = ask_now<node_actor>(*w, raft_atom_v);
    BOOST_REQUIRE(!node.err);
    nodes.push_back(node.value);
  }

  std::optional<size_t> leader() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto r = ask<role>(nodes[i], state_atom_v);
      run_jobs();
      if (r->done && r->value == role::leader)
        return i;
    }
    return std::nullopt;
  }

  size_t wait_leader() {
    std::optional<size_t> l;
    BOOST_REQUIRE(run_until([&] { return (l = leader()).has_value(); }, 500));
    return *l;
  }

  /// Notes every family whose samples show it was updated.
  void note() {
    run_jobs();
    for (auto& reg : regs)
      for (auto& f : reg->Collect())
        for (auto& m : f.metric)
          if (m.counter.value > 0 || m.gauge.value != 0
              || m.histogram.sample_count > 0)
            moved.insert(f.name);
  }

  void apply_on(size_t i, int n) {
    for (int k = 0; k < n; ++k) {
      auto r = ask_now<index_t, caf::message>(nodes[i], apply_atom_v,
                                              bytes(8, uint8_t(k)));
      BOOST_REQUIRE_MESSAGE(!r.err, describe(r.err));
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(a_scripted_life_moves_every_family, life_fixture) {
  for (auto id : {"1", "2", "3"})
    start(id);
  // An election, writes, a barrier and a linearizable read.
  auto l = wait_leader();
  apply_on(l, 20);
  BOOST_REQUIRE(!ask_now<index_t>(nodes[l], barrier_atom_v).err);
  BOOST_REQUIRE(!ask_now<index_t>(nodes[l], read_atom_v).err);
  note();
  // A proposal the leader refuses (larger than max_entry_size, 8 MiB); a
  // follower's not-leader answer is no failed proposal.
  auto f = (l + 1) % 3;
  auto refused = ask_now<index_t, caf::message>(nodes[l], apply_atom_v,
                                                bytes(9 << 20, 1));
  BOOST_TEST(is(refused.err, errc::too_large));
  // A follower cut off while writes go on: it lags, then catches up.
  caf::anon_send(transport, partition_atom_v, std::to_string(f + 1), 1);
  apply_on(l, 5);
  note();
  caf::anon_send(transport, heal_atom_v);
  // A snapshot (compacting all but two entries) and a user restore of it.
  auto snap = ask_now<snapshot_meta>(nodes[l], snapshot_atom_v);
  BOOST_REQUIRE_MESSAGE(!snap.err, describe(snap.err));
  apply_on(l, 5);
  BOOST_REQUIRE(!ask_now<index_t>(nodes[l], restore_atom_v, snap.value.id).err);
  note();
  // A server added: its log starts after the compacted prefix, so it gets
  // the leader's snapshot.
  start("4");
  BOOST_REQUIRE(!ask_now<snapshot_meta>(nodes[l], snapshot_atom_v).err);
  auto added = ask_now<index_t>(
    nodes[l], change_atom_v,
    configuration_change{change_kind::add_voter, "4", "4", 0});
  BOOST_REQUIRE_MESSAGE(!added.err, describe(added.err));
  apply_on(l, 3);
  run_for(1s);
  note();
  // Leadership handed over, then the new leader cut off: its lease runs
  // out, the others time out and elect another.
  BOOST_REQUIRE(!ask_now<bool>(nodes[l], transfer_atom_v, std::string{}).err);
  auto next = wait_leader();
  BOOST_TEST(next != l);
  caf::anon_send(transport, partition_atom_v, std::to_string(next + 1), 1);
  BOOST_REQUIRE(run_until(
    [&] {
      auto x = leader();
      return x && *x != next;
    },
    500));
  run_for(1s);
  note();
  caf::anon_send(transport, heal_atom_v);
  run_for(1s);
  note();
  std::set<std::string> all;
  for (auto& [name, type] : expected_families)
    all.insert(name);
  for (auto& [name, type] : expected_peer_families)
    all.insert(name);
  for (auto& name : all) {
    BOOST_TEST_INFO("family " << name);
    BOOST_TEST(moved.count(name) == 1u);
  }
}
