#pragma once

#include "caf/actor_system_config.hpp"

namespace raft {

/// The CAF configuration of a process that hosts one raft node (raftd,
/// raft-bench's node processes): its scheduler and middleman defaults.
/// Flags and config files parsed afterwards may still change each setting.
///
/// Why these: a node's consensus core is one actor, and everything that
/// blocks (the log writer, the FSM runner, the network multiplexer) has a
/// thread of its own. Extra scheduler workers therefore add no parallelism
/// to the commit path, only hand-offs. Measured with raft-bench on a
/// 2-core VM (3 nodes, fsync, plain TCP; commits/s at conc 1 / 64): CAF's
/// defaults (work stealing, 2 workers, 1 BASP worker) 1.2k / 24k;
/// `sharing` 1.6k / 47k; `sharing`, one worker and no BASP workers 2.1k /
/// 81k; `spinning` on top of that about 30 % more at conc 1 (see
/// docs/performance.md).
///
/// - `scheduler.policy = spinning` (`spin_sharing`): an idle worker spins
///   for `scheduler.spin-us` before it sleeps. `sharing`, `stealing` and
///   `testing` select CAF's own schedulers as usual.
/// - `scheduler.max-threads = 1`: actors of the node hand messages to each
///   other on one thread, without waking another.
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
