#pragma once

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/config.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Spawns the raft worker (the seed's NewWorker) in `sys`: validates `cfg`
/// (errors come back at once, with the original's texts), then spawns the
/// supervisor, which opens the stores off the scheduler threads, runs the
/// node and the no-leader watchdog, and answers `start_atom` once the raft
/// loop runs (or fails with `start_timeout` after `loop_timeout`, or at once
/// with the real cause of a start-up failure). `cfg.clock` must be
/// `&sys.clock()`: every timer goes through it. Under CAF's test coordinator
/// nothing is detached, so tests stay deterministic.
caf::expected<worker_actor> spawn_worker(caf::actor_system& sys,
                                         const config& cfg);

/// Spawns a worker and blocks until it runs (NewWorker's synchronous
/// shape). Not for use under a test coordinator (it would wait forever).
caf::expected<worker_actor> new_worker(caf::actor_system& sys,
                                       const config& cfg);

/// Calls `new_worker` (NewWorkerShim: the signature a manifold expects).
caf::expected<worker_actor> new_worker_shim(caf::actor_system& sys,
                                            const config& cfg);

/// Stops a worker cleanly (Worker.Kill): raft shuts down, then the store
/// closes; afterwards `raft_atom` and `log_store_atom` answer
/// `worker_stopped` and `wait_atom` answers true.
void kill(const worker_actor& worker);

} // namespace raft
