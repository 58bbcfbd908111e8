#pragma once

#include <any>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "caf-raft/actors/manifold.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/typed_actor.hpp"

namespace raft {

/// The dependency engine (a small Juju dependency.Engine): runs named
/// manifolds once their inputs are available, restarts failed workers.
using engine_actor = caf::typed_actor<
  // The running worker of the named manifold; `missing_dependency()` while
  // it is not running, `not_found` for an unknown name.
  caf::replies_to<caf::get_atom, std::string>::with<caf::actor>,
  // The named manifold's node_actor / shared_log_store output (its output
  // function's answer, errors unchanged).
  caf::replies_to<raft_atom, std::string>::with<node_actor>,
  caf::replies_to<log_store_atom, std::string>::with<shared_log_store>,
  // Adds or replaces a resource: manifolds that read it restart, waiting
  // ones start.
  caf::reacts_to<caf::put_atom, std::string, engine_resource>,
  // Per manifold: "<name>.state" (waiting, running, delayed, stopping),
  // "<name>.starts", "<name>.failures" (consecutive), "<name>.delay_ms"
  // (of the pending restart), "<name>.error" (the last failure) and
  // "<name>.missing" (inputs it waits for).
  caf::replies_to<report_atom>::with<stats_map>,
  // Stops every worker, answers true once all ended, then quits.
  caf::replies_to<shutdown_atom>::with<bool>,
  // Internal: a restart delay ran out for (manifold, generation).
  caf::reacts_to<timer_atom, std::string, uint64_t>>;

/// What an engine runs.
struct engine_config {
  std::map<std::string, std::any> resources;
  std::map<std::string, dependency_manifold> manifolds;
  /// Delay before restarting a failed worker the first time; each
  /// consecutive failure multiplies it by `backoff_factor`, up to
  /// `max_restart_delay`.
  std::chrono::milliseconds restart_delay{1000};
  std::chrono::milliseconds max_restart_delay{30000};
  double backoff_factor = 2.0;
  /// A worker that ran at least this long before failing starts its
  /// failure count afresh.
  std::chrono::milliseconds reset_after{60000};
  /// Optional.
  std::shared_ptr<spdlog::logger> logger;
};

/// Spawns a dependency engine. Every manifold whose inputs are available
/// starts at once; a worker that ends (with an error, or cleanly without
/// being asked) is restarted after the back-off delay, and the workers of
/// manifolds that take it as input are restarted with it. Workers must
/// speak the worker protocol (`wait_atom` answers when they end, a
/// `user_shutdown` exit stops them). Timers go through the actor clock.
/// A `user_shutdown` exit (or `shutdown_atom`) stops every worker first.
/// Fails with `not_valid` for an empty name, a manifold without a start
/// function, one that is its own input, a delay below zero or a factor
/// below 1.
caf::expected<engine_actor> spawn_engine(caf::actor_system& sys,
                                         engine_config cfg);

} // namespace raft
