#pragma once

#include "caf/actor_system_config.hpp"

namespace raft {

/// The CAF configuration of a process that hosts one raft node (raftd,
/// raft-bench's node processes): its scheduler and middleman defaults.
/// Flags and config files parsed afterwards may still change each setting.
///
/// Why these: a node's consensus core is one actor, and everything that
/// blocks (the log writer, the connectors, blocking state machines) has a
/// thread of its own. Extra scheduler workers therefore add no parallelism
/// to the commit path, only hand-offs between threads, and on a virtual
/// machine each hand-off to a sleeping thread is a wake-up of tens of µs.
///
/// - `scheduler.policy = loop` (`loop_sharing`): actors run on the
///   middleman's event-loop thread, beside the sockets, so a message goes
///   from the actor that sends it to the socket, and from the socket to
///   the actor that receives it, without waking another thread (issue 20:
///   3 nodes at conc 1 at the commits/s of `spinning` for about 30 % less
///   CPU; docs/performance.md). `spinning` (`spin_sharing`: one worker
///   that spins for `scheduler.spin-us` before it sleeps) trades CPU for
///   latency instead; `sharing`, `stealing` and `testing` select CAF's own
///   schedulers as usual.
/// - `scheduler.max-threads = 1`: the workers only run actors before the
///   loop starts and after it stops (or every actor, under `spinning`).
/// - `middleman.workers = 0`: the multiplexer thread deserializes incoming
///   messages and enqueues them to their receiver directly, instead of
///   handing each to a BASP worker first.
class node_process_config : public caf::actor_system_config {
public:
  node_process_config();

  /// Every setting this process knows, CAF's own included (for
  /// `check_arguments` and `check_settings_file`).
  const caf::config_option_set& options() const {
    return custom_options_;
  }
};

} // namespace raft
