#pragma once

#include <memory>

#include "caf-raft/storage/log_entry.hpp"
#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/make_message.hpp"
#include "caf/message.hpp"

namespace raft::fsm {

/// A point-in-time copy of a state machine (HashiCorp's FSMSnapshot).
///
/// `persist` may run on another thread while the state machine applies later
/// entries, so it must only touch the copy it holds.
class snapshot {
public:
  virtual ~snapshot();

  /// Writes the state to `sink` and closes it; on failure cancels the sink
  /// and returns the error.
  virtual caf::error persist(raft::snapshot_sink& sink) = 0;

  /// Called once the snapshot is no longer needed.
  virtual void release() = 0;
};

/// The replicated state machine an application implements (HashiCorp's FSM).
///
/// The raft node calls these from one actor, never concurrently with each
/// other (`snapshot::persist` is the exception, see above).
class state_machine {
public:
  virtual ~state_machine();

  /// Applies a committed command entry and returns the application's answer,
  /// which the node hands back to whoever proposed the entry. Entries arrive
  /// strictly in log order, each exactly once per incarnation of the state.
  virtual caf::message apply(const raft::log_entry& entry) = 0;

  /// Captures the current state quickly; the copy is persisted later.
  virtual caf::expected<std::unique_ptr<snapshot>> take_snapshot() = 0;

  /// Replaces all state with the snapshot read from `in`, and closes `in`
  /// whether or not it succeeds.
  virtual caf::error restore(raft::snapshot_reader& in) = 0;

  /// The index of the last entry this instance applied, or 0 if it does not
  /// know. A state machine that outlives a worker (Juju's manifold keeps one
  /// across restarts) reports it, so that the restarted node neither
  /// restores an older snapshot over it nor applies the same entries twice.
  virtual raft::index_t applied_index() const;

  /// Whether `apply` may block: wait on a disk, the network or a lock held
  /// for long. The node then applies on a thread of its own (a detached
  /// actor), as HashiCorp runs its FSM in a goroutine of its own. A state
  /// machine that answers from memory returns false, and the node applies
  /// on its scheduler instead: each batch then costs two thread hand-offs
  /// less, which is most of a commit's latency at low load (raft-bench,
  /// 3 nodes, conc 1: +20% commits/s). `take_snapshot` and `restore` then
  /// run there too. Return false only if every call, those two included,
  /// takes well under the leader lease timeout whatever the size of the
  /// state: while one runs, the node sends no heartbeats.
  virtual bool apply_blocks() const;
};

} // namespace raft::fsm
