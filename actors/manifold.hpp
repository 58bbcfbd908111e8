#pragma once

#include <any>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/config.hpp"
#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// The error a dependency context returns for an input that is not
/// available yet (Juju's dependency.ErrMissing): `not_found` with the text
/// "dependency not available". The engine waits for the input instead of
/// counting a failure.
caf::error missing_dependency();

/// True if `err` is `missing_dependency()`, however it was annotated.
bool is_missing(const caf::error& err);

/// What a manifold's start function reads its inputs from (Juju's
/// dependency.Context): the resources and workers the engine has, limited
/// to the inputs the manifold declared.
class dependency_context {
public:
  /// `available` maps input names to values: plain resources, or the
  /// `caf::actor` of a running worker of another manifold.
  dependency_context(caf::actor_system& sys, std::vector<std::string> inputs,
                     std::map<std::string, std::any> available);

  /// The input `name`; `missing_dependency()` if it is not available, and
  /// `not_valid` ("\"<name>\" not declared") if the manifold did not
  /// declare it.
  caf::expected<std::any> get(const std::string& name) const;

  /// The actor system the engine runs in (where workers are spawned).
  caf::actor_system& system() const {
    return *sys_;
  }

private:
  caf::actor_system* sys_;
  std::vector<std::string> inputs_;
  std::map<std::string, std::any> available_;
};

/// Starts a manifold's worker; answers its actor, which must speak the
/// worker protocol (`wait_atom` answers when it ended, a `user_shutdown`
/// exit stops it).
using start_fn = std::function<caf::expected<caf::actor>(dependency_context&)>;

/// Hands out one output of a running worker (Juju's Manifold.Output), by
/// type: calls `done` exactly once with the value (in a std::any holding
/// exactly `type`) or an error. Runs inside the engine actor `self`.
using output_fn = std::function<void(
  caf::event_based_actor* self, const caf::actor& worker,
  const std::type_info& type, std::function<void(caf::expected<std::any>)> done)>;

/// A named worker's recipe for the dependency engine (Juju's
/// dependency.Manifold).
struct dependency_manifold {
  /// Names of resources or other manifolds the start function reads.
  std::vector<std::string> inputs;
  start_fn start;
  /// Optional.
  output_fn output;
};

/// The agent as the raft manifold reads it (Juju's agent.Agent, reduced to
/// what the manifold uses: CurrentConfig().Tag() and DataDir()).
struct agent_info {
  /// The agent's tag, e.g. "machine-99".
  std::string tag;
  /// The agent's data folder; raft keeps its state in `<data_dir>/raft`.
  std::string data_dir;
};

/// The id of a tag (names.Tag.Id()): "machine-99" → "99", container
/// machines "machine-0-lxd-1" → "0/lxd/1", any other "<kind>-<id>" → id.
/// Fails with `not_valid` for a string that is not a tag.
caf::expected<std::string> tag_id(const std::string& tag);

/// Spawns a worker from a config (NewWorker's signature in the manifold).
/// Under a dependency engine it must not block: use `spawn_worker`.
using new_worker_fn
  = std::function<caf::expected<worker_actor>(caf::actor_system&, const config&)>;

/// Everything the raft manifold needs (the seed's ManifoldConfig).
class manifold_config {
public:
  /// Input names of the clock (a `caf::actor_clock*`), the agent (an
  /// `agent_info`) and the transport (a `transport_actor`).
  std::string clock_name;
  std::string agent_name;
  std::string transport_name;
  std::shared_ptr<fsm::state_machine> fsm;
  std::shared_ptr<spdlog::logger> logger;
  /// Optional.
  std::shared_ptr<prometheus::Registry> prometheus_registerer;
  new_worker_fn new_worker;
  /// Zero keeps the worker's defaults, as the original (which had no such
  /// fields); tests and operators may shorten them.
  std::chrono::milliseconds no_leader_timeout{0};
  std::chrono::milliseconds no_leader_check_interval{0};
  std::chrono::milliseconds election_timeout{0};
  std::chrono::milliseconds heartbeat_timeout{0};
  std::chrono::milliseconds leader_lease_timeout{0};
  uint64_t snapshot_threshold = 0;
  std::chrono::milliseconds snapshot_interval{0};
  uint64_t trailing_logs = 0;

  /// Checks in the original's order; the first failure wins: "empty
  /// ClockName", "empty AgentName", "empty TransportName", "nil FSM", "nil
  /// Logger", "nil NewWorker", each followed by " not valid".
  caf::error validate() const;
};

/// The raft manifold (the seed's Manifold): inputs {clock, agent,
/// transport}; start validates the config, reads the inputs (a missing one
/// fails with the context's error unchanged), builds the worker config
/// (storage dir `<data dir>/raft`, local id the agent tag's id; FSM,
/// logger, transport, clock and registerer copied) and calls `new_worker`.
/// Outputs: `node_actor` (the worker's raft_atom) and `shared_log_store`
/// (its log_store_atom), errors passed through unchanged; any other type
/// fails with "expected output of raft::node_actor or
/// raft::shared_log_store, got <type>".
dependency_manifold manifold(manifold_config cfg);

/// The worker config the raft manifold's start builds from its inputs
/// (exposed so tests can compare it field by field).
caf::expected<config> raft_manifold_worker_config(const manifold_config& cfg,
                                                  dependency_context& ctx);

} // namespace raft
