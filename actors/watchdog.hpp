#pragma once

#include <chrono>
#include <memory>

#include "caf-raft/actors/messages.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

/// Spawns the no-leader watchdog of the original worker's loop: every
/// `interval` it asks `node` how long ago it last heard a leader (a leader
/// counts as hearing itself) and, once `timeout` has passed strictly since
/// the last contact, quits with `errc::no_leader_timeout` so the worker
/// restarts and re-reads its configuration from the log (Juju's backstop
/// depends on this). Time only moves through the actor clock, so a test
/// coordinator drives it; the last contact never moves backwards.
watchdog_actor spawn_watchdog(caf::actor_system& sys, node_actor node,
                          std::chrono::milliseconds timeout,
                          std::chrono::milliseconds interval,
                          std::shared_ptr<spdlog::logger> logger);

} // namespace raft
