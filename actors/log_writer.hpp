#pragma once

#include <memory>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/stable_store.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace raft {

class raft_metrics;

/// Spawns the log writer: the only writer of a node's log and stable store
/// (DESIGN.md §4). It answers `(load_atom)` with the `loaded_state` and
/// `(persist_atom, seq, persist_request)` with `seq` once the request is
/// durable, in order, and `(entries_atom, from, prev_term, max_count,
/// max_bytes)` with an `entry_batch` read from the store (after every
/// earlier write). Storage calls block, so outside tests it runs
/// detached, off the scheduler threads that the consensus actors use: a
/// blocking actor on a thread of its own that spins for
/// `scheduler.spin-us` before it sleeps for the next request, in a process
/// whose `scheduler.policy` is `spinning` or `loop` and asks for a spin
/// (config/spin_sharing.hpp: spin_for).
log_writer_actor spawn_log_writer(caf::actor_system& sys,
                            std::shared_ptr<log_store> log,
                            std::shared_ptr<stable_store> stable,
                            bool detached,
                            std::shared_ptr<raft_metrics> metrics = nullptr);

} // namespace raft
