// A host program that embeds caf-raft, built against the installed package
// (CMakeLists.txt here): its own state machine and its own CAF types beside
// the library's, a bootstrapped server on SQLite with file snapshots, an
// apply and a linearizable read. One server, so it runs anywhere; a
// cluster differs only in its transport (the network transport, as raftd
// uses) and its bootstrap configuration.
//
//   embed-example DATA_DIR     exit 0 and one line of what happened

#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

#include <caf-raft/actors/messages.hpp>
#include <caf-raft/actors/supervisor.hpp>
#include <caf-raft/actors/transport/inmem_transport.hpp>
#include <caf-raft/actors/type_ids.hpp>
#include <caf-raft/bootstrap/bootstrap.hpp>
#include <caf-raft/config/errc.hpp>
#include <caf-raft/fsm/state_machine.hpp>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/type_id.hpp"

// The host's own CAF types start where caf-raft's end.
CAF_BEGIN_TYPE_ID_BLOCK(embed_example, ::raft::first_host_type_id)
  CAF_ADD_ATOM(embed_example, example, hello_atom, "hello")
CAF_END_TYPE_ID_BLOCK(embed_example)

namespace example {

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

/// The host's state machine: a counter that each command adds to.
class counter final : public raft::fsm::state_machine {
public:
  caf::message apply(const raft::log_entry& e) override {
    if (e.data.size() == sizeof(int64_t)) {
      int64_t x = 0;
      std::memcpy(&x, e.data.data(), sizeof(x));
      value_ += x;
    }
    applied_ = e.index;
    return caf::make_message(value_);
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
  int64_t value_ = 0;
  raft::index_t applied_ = 0;
};

} // namespace example

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 2) {
    std::cerr << "usage: embed-example DATA_DIR\n";
    return 2;
  }
  caf::actor_system_config sys_cfg;
  sys_cfg.set("logger.console-verbosity", caf::atom("quiet"));
  raft::register_types(sys_cfg);
  sys_cfg.add_message_types<caf::id_block::embed_example>();
  caf::actor_system sys{sys_cfg};
  raft::config cfg;
  cfg.logger = spdlog::stderr_color_mt("embed");
  cfg.storage_dir = argv[1];
  cfg.local_id = "1";
  cfg.clock = &sys.clock();
  cfg.heartbeat_timeout = 100ms;
  cfg.election_timeout = 100ms;
  cfg.leader_lease_timeout = 100ms;
  // Once, on an empty folder: without a configuration no leader is ever
  // elected. A second run finds the state and starts from it.
  if (auto err = raft::bootstrap(cfg); err && !is(err, raft::errc::cant_bootstrap)) {
    std::cerr << "bootstrap: " << raft::describe(err) << '\n';
    return 1;
  }
  auto counter = std::make_shared<example::counter>();
  cfg.fsm = counter;
  cfg.transport = raft::spawn_inmem_transport(sys, 1);
  auto worker = raft::spawn_worker(sys, cfg);
  if (!worker) {
    std::cerr << "worker: " << raft::describe(worker.error()) << '\n';
    return 1;
  }
  caf::scoped_actor self{sys};
  int rc = 1;
  auto fail = [&](caf::error& err) {
    std::cerr << "error: " << raft::describe(err) << '\n';
  };
  self->request(*worker, 30s, raft::start_atom_v).receive([](bool) {}, fail);
  raft::node_actor node;
  self->request(*worker, 10s, raft::raft_atom_v)
    .receive([&](raft::node_actor& n) { node = n; }, fail);
  // A single server elects itself within a few election timeouts.
  for (int k = 0; node && k < 100; ++k) {
    raft::role r = raft::role::follower;
    self->request(node, 10s, raft::state_atom_v)
      .receive([&](raft::role x) { r = x; }, fail);
    if (r == raft::role::leader)
      break;
    self->receive(caf::after(50ms) >> [] {});
  }
  int64_t five = 5;
  raft::bytes cmd(sizeof(five));
  std::memcpy(cmd.data(), &five, sizeof(five));
  self->request(node, 10s, raft::apply_atom_v, cmd)
    .receive(
      [&](raft::index_t idx, caf::message&) {
        // A linearizable read: once it answers, the local state holds
        // every write acknowledged before it.
        self->request(node, 10s, raft::read_atom_v)
          .receive(
            [&](raft::index_t read_index) {
              std::cout << "applied at index " << idx << ", read at index "
                        << read_index << ": counter = " << counter->value()
                        << '\n';
              rc = 0;
            },
            fail);
      },
      fail);
  raft::kill(*worker);
  self->request(*worker, 10s, raft::wait_atom_v).receive([](bool) {}, fail);
  caf::anon_send_exit(cfg.transport, caf::exit_reason::user_shutdown);
  return rc;
}
