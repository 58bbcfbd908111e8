#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "caf-raft/config/config.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/new_raft_config.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"

using namespace raft;
using namespace std::chrono_literals;

namespace {

struct fixture {
  caf::actor_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  caf::actor transport = sys.spawn([]() -> caf::behavior {
    return {[](int) {}};
  });

  ~fixture() {
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
  }

  config valid() {
    config cfg;
    cfg.fsm = std::make_shared<raft::fsm::simple_fsm>();
    cfg.logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::null_sink_mt>());
    cfg.storage_dir = "/tmp/unused";
    cfg.local_id = "123";
    cfg.transport = caf::actor_cast<transport_actor>(transport);
    cfg.clock = &sys.clock();
    return cfg;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(worker_validation, fixture)

// The original's TestValidateErrors: one exact text per broken field.
BOOST_AUTO_TEST_CASE(validate_errors) {
  struct test_case {
    void (*mutate)(config&);
    const char* expect;
  };
  test_case cases[] = {
    {[](config& c) { c.fsm = nullptr; }, "nil FSM not valid"},
    {[](config& c) { c.logger = nullptr; }, "nil Logger not valid"},
    {[](config& c) { c.storage_dir.clear(); }, "empty StorageDir not valid"},
    {[](config& c) { c.local_id.clear(); }, "empty LocalID not valid"},
    {[](config& c) { c.snapshot_retention = -1; },
     "negative SnapshotRetention not valid"},
    {[](config& c) { c.transport = nullptr; }, "nil Transport not valid"},
    {[](config& c) { c.clock = nullptr; }, "nil Clock not valid"},
  };
  for (auto& tc : cases) {
    auto cfg = valid();
    tc.mutate(cfg);
    auto err = cfg.validate();
    BOOST_TEST_CONTEXT("expecting " << tc.expect) {
      BOOST_TEST(is(err, errc::not_valid));
      BOOST_TEST(describe(err) == tc.expect);
    }
  }
  BOOST_TEST(!valid().validate());
}

BOOST_AUTO_TEST_CASE(first_failure_wins) {
  auto cfg = valid();
  cfg.clock = nullptr;
  cfg.storage_dir.clear();
  cfg.fsm = nullptr;
  BOOST_TEST(describe(cfg.validate()) == "nil FSM not valid");
  cfg.fsm = std::make_shared<raft::fsm::simple_fsm>();
  BOOST_TEST(describe(cfg.validate()) == "empty StorageDir not valid");
}

BOOST_AUTO_TEST_CASE(heartbeat_too_low) {
  auto cfg = valid();
  cfg.heartbeat_timeout = 1ms;
  auto res = new_raft_config(cfg);
  BOOST_REQUIRE(!res);
  BOOST_TEST(describe(res.error())
             == "validating raft config: Heartbeat timeout is too low");
}

BOOST_AUTO_TEST_CASE(bootstrap_fsm_rejected) {
  auto cfg = valid();
  cfg.transport = nullptr;
  BOOST_TEST(describe(cfg.validate_for_bootstrap())
             == "non-nil FSM during Bootstrap not valid");
}

BOOST_AUTO_TEST_CASE(bootstrap_transport_rejected) {
  auto cfg = valid();
  cfg.fsm = nullptr;
  BOOST_TEST(describe(cfg.validate_for_bootstrap())
             == "non-nil Transport during Bootstrap not valid");
  cfg.transport = nullptr;
  BOOST_TEST(!cfg.validate_for_bootstrap());
  cfg.logger = nullptr; // The remaining rules still apply.
  BOOST_TEST(describe(cfg.validate_for_bootstrap()) == "nil Logger not valid");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(raft_config_rules)

BOOST_AUTO_TEST_CASE(defaults_are_hashicorps) {
  fixture f;
  auto res = new_raft_config(f.valid());
  BOOST_REQUIRE(res);
  BOOST_TEST(res->protocol_version == 3);
  BOOST_TEST(res->heartbeat_timeout.count() == 1000);
  BOOST_TEST(res->election_timeout.count() == 1000);
  BOOST_TEST(res->leader_lease_timeout.count() == 500);
  BOOST_TEST(res->commit_timeout.count() == 50);
  BOOST_TEST(res->max_append_entries == 64u);
  BOOST_TEST(res->trailing_logs == 10240u);
  BOOST_TEST(res->snapshot_interval.count() == 120000);
  BOOST_TEST(res->snapshot_threshold == 8192u);
  BOOST_TEST(res->local_id == "123");
  BOOST_TEST(res->shutdown_on_remove == false); // Juju's one change.
  BOOST_TEST(res->pre_vote_disabled == false);
}

BOOST_AUTO_TEST_CASE(only_nonzero_timeouts_override) {
  fixture f;
  auto cfg = f.valid();
  cfg.election_timeout = 3000ms;
  auto res = new_raft_config(cfg);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->election_timeout.count() == 3000);
  BOOST_TEST(res->heartbeat_timeout.count() == 1000);
  BOOST_TEST(res->leader_lease_timeout.count() == 500);
}

BOOST_AUTO_TEST_CASE(the_largest_entry_is_a_setting) {
  // Issue 18: the worker's config sets raft's max_entry_size, validated.
  fixture f;
  auto cfg = f.valid();
  BOOST_TEST(new_raft_config(cfg)->max_entry_size == 8u * 1024 * 1024);
  cfg.max_entry_size = 1024;
  auto res = new_raft_config(cfg);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->max_entry_size == 1024u);
  cfg.max_entry_size = raft_config::max_entry_size_limit + 1;
  res = new_raft_config(cfg);
  BOOST_REQUIRE(!res);
  BOOST_TEST(describe(res.error()).find("MaxEntrySize") != std::string::npos);
  BOOST_TEST(describe(res.error()).find("64 MiB") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validation_texts) {
  auto check = [](void (*mutate)(raft_config&), const char* expect) {
    raft_config rc;
    rc.local_id = "1";
    mutate(rc);
    BOOST_TEST(describe(validate(rc)) == expect);
  };
  check([](raft_config& c) { c.local_id.clear(); }, "LocalID cannot be empty");
  check([](raft_config& c) { c.protocol_version = 4; },
        "ProtocolVersion 4 must be >= 1 and <= 3");
  check([](raft_config& c) { c.election_timeout = 4ms; },
        "Election timeout is too low");
  check([](raft_config& c) { c.commit_timeout = 0ms; },
        "Commit timeout is too low");
  check([](raft_config& c) { c.max_append_entries = 0; },
        "MaxAppendEntries must be positive");
  check([](raft_config& c) { c.max_append_entries = 1025; },
        "MaxAppendEntries is too large");
  check([](raft_config& c) { c.snapshot_interval = 1ms; },
        "Snapshot interval is too low");
  check([](raft_config& c) { c.leader_lease_timeout = 2ms; },
        "Leader lease timeout is too low");
  check([](raft_config& c) { c.leader_lease_timeout = 1500ms; },
        "Leader lease timeout cannot be larger than heartbeat timeout");
  check([](raft_config& c) { c.election_timeout = 500ms; },
        "Election timeout must be equal or greater than Heartbeat Timeout");
  raft_config ok;
  ok.local_id = "1";
  BOOST_TEST(!validate(ok));
}

BOOST_AUTO_TEST_CASE(errors_compare_by_code) {
  caf::error err = make_error(errc::worker_stopped);
  BOOST_TEST(is(err, errc::worker_stopped));
  BOOST_TEST(describe(err) == "raft worker stopped");
  BOOST_TEST(describe(make_error(errc::start_timeout))
             == "timed out waiting for worker loop");
  BOOST_TEST(describe(make_error(errc::no_leader_timeout))
             == "timed out waiting for leader contact");
  BOOST_TEST(!is(err, errc::start_timeout));
}

BOOST_AUTO_TEST_SUITE_END()
