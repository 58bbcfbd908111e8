#pragma once

#include "caf/fwd.hpp"

namespace raft {

/// Sets the CAF scheduler and middleman defaults for a process that hosts
/// one raft node (raftd, raft-bench's node processes). Call it before
/// parsing flags or a config file, which may still override each setting.
///
/// Why these: a node's consensus core is one actor, and everything that
/// blocks (the log writer, the FSM runner, the network multiplexer) has a
/// thread of its own. Extra scheduler workers therefore add no parallelism
/// to the commit path, only hand-offs: every message between actors on
/// different workers is a mutex and a futex wake-up. Measured with
/// raft-bench on a 2-core machine (3 nodes, fsync, plain TCP; conc 1 / 64):
/// CAF's defaults (work stealing, 2 workers, 1 BASP worker) 1.2k / 24k
/// commits/s; `sharing` 1.6k / 47k; `sharing` with one worker and BASP
/// messages deserialized on the multiplexer thread 2.1k / 81k, at half
/// the CPU per commit.
///
/// - `scheduler.policy = sharing`: idle workers wait on a condition
///   variable instead of polling with 50 µs sleeps (work stealing's
///   "moderate" phase), which took 28% of the CPU at low load.
/// - `scheduler.max-threads = 1`: actors of the node hand messages to each
///   other on one thread, without waking another.
/// - `middleman.workers = 0`: the multiplexer thread deserializes incoming
///   messages and enqueues them to their receiver directly, instead of
///   handing each to a BASP worker first.
void set_node_process_defaults(caf::actor_system_config& cfg);

} // namespace raft
