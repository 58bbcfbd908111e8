#pragma once

#include <map>
#include <memory>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/raft_config.hpp"
#include "caf-raft/fsm/state_machine.hpp"
#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/snapshot_store.hpp"
#include "caf-raft/storage/stable_store.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

class raft_metrics;

/// A window into a running node for tests and the invariant checker: the
/// node points `core` at its consensus object while it lives. Only read it
/// from the thread that runs the node (the test coordinator's).
struct node_probe {
  const consensus* core = nullptr;
  index_t applied = 0;
  /// Snapshots this node took, and installed from a leader or a restore.
  uint64_t snapshots_taken = 0;
  uint64_t snapshots_installed = 0;
  /// The node ran and has stopped (a storage failure, a shutdown, a kill).
  bool stopped = false;
  /// The epoch of the node's current campaign (election reports carry it).
  uint64_t campaign_epoch = 0;
  /// The epoch of the replicator the node runs for each follower (their
  /// reports carry it); empty unless leading.
  std::map<std::string, uint64_t> replicator_epochs;
  /// Fetches of a replicator served from the log store (the entries had
  /// left memory, raft_config::max_log_memory).
  uint64_t store_fetches = 0;
};

/// What `spawn_node` needs.
struct node_options {
  raft_config settings;
  std::shared_ptr<log_store> log;
  std::shared_ptr<stable_store> stable;
  std::shared_ptr<fsm::state_machine> fsm;
  /// Where snapshots live; null turns snapshots and log compaction off
  /// (the log then grows without bound).
  std::shared_ptr<snapshot_store> snapshots;
  /// Carries RPCs; the node registers itself with `(connect_atom, id,
  /// handle)`.
  transport_actor transport;
  std::shared_ptr<spdlog::logger> logger;
  /// Run the log writer and FSM runner on their own threads. Tests that
  /// drive a test coordinator turn this off to stay deterministic.
  bool detach_blocking = true;
  std::shared_ptr<node_probe> probe;
  /// Told `(loop_atom)` once the node runs (the worker's start signal).
  caf::actor on_started;
  /// Where the node reports HashiCorp's raft metrics (actors/metrics.hpp);
  /// null means no metrics: skip every call.
  std::shared_ptr<raft_metrics> metrics;
};

/// Spawns a raft node: the consensus core plus its log writer and FSM
/// runner (linked to it: if either fails, the node fails with that error).
node_actor spawn_node(caf::actor_system& sys, node_options opts);

} // namespace raft
