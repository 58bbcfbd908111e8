#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace raft {

/// The consensus settings (HashiCorp's raft.Config), with its defaults.
struct raft_config {
  /// Only version 3 (server ids, single-server changes) is spoken.
  int protocol_version = 3;
  /// A follower that hears no leader for a random time in [HT, 2HT) starts
  /// an election; the leader sends heartbeats every HT/10.
  std::chrono::milliseconds heartbeat_timeout{1000};
  /// A candidate retries after a random time in [ET, 2ET); also bounds a
  /// leadership transfer.
  std::chrono::milliseconds election_timeout{1000};
  /// How long the leader may wait before sending an empty AppendEntries that
  /// carries a new commit index.
  std::chrono::milliseconds commit_timeout{50};
  /// Entries per AppendEntries, per group commit and per FSM batch.
  uint32_t max_append_entries = 64;
  /// Whether a node removed from the configuration shuts down (Juju: false).
  bool shutdown_on_remove = true;
  /// Entries kept in the log after a snapshot, so slightly lagging followers
  /// catch up from the log rather than from a snapshot.
  uint64_t trailing_logs = 10240;
  /// How often to check whether a snapshot is due; randomized in [SI, 2SI).
  std::chrono::milliseconds snapshot_interval{std::chrono::seconds{120}};
  /// New applied entries needed before a snapshot is taken.
  uint64_t snapshot_threshold = 8192;
  /// Bounds the memory of the log entries a node keeps: once they take more
  /// than this many bytes, entries that are durable and applied leave
  /// memory, oldest first, down to half of it (their terms stay); a
  /// follower that still needs them is served from the log store. Without
  /// it every entry since the last snapshot stays in memory, and under
  /// sustained load a node grows until the next snapshot: raft-bench
  /// measured 500 MiB after 5 s at 250k commits/s. 0 turns the bound off.
  uint64_t max_log_memory = 16 * 1024 * 1024;
  /// A leader that cannot reach a quorum for this long steps down.
  std::chrono::milliseconds leader_lease_timeout{500};
  /// This server's id; never empty.
  std::string local_id;
  /// Turns off the pre-vote round (§9.6 of Ongaro's thesis).
  bool pre_vote_disabled = false;
  /// Skip restoring the newest snapshot into the FSM on start.
  bool no_snapshot_restore_on_start = false;
  /// Largest entry payload accepted by apply, in bytes; larger ones are
  /// refused before they are replicated.
  size_t max_entry_size = 8 * 1024 * 1024;
  /// The largest `max_entry_size` allowed: the network transport's largest
  /// message (net_transport_options::max_message_size).
  static constexpr size_t max_entry_size_limit = 64 * 1024 * 1024;
  /// AppendEntries requests in flight per follower (the pipeline window).
  uint32_t max_inflight = 16;
  /// Bytes of snapshot state per InstallSnapshot chunk.
  size_t snapshot_chunk_size = 1024 * 1024;
  /// InstallSnapshot chunks in flight per follower (the snapshot's
  /// window): one chunk at a time waits a round trip and the follower's
  /// write per chunk; several keep the link and both disks busy.
  uint32_t snapshot_window = 8;
  /// Seed of the generator for randomized timeouts; 0 derives one from the
  /// local id, so runs are reproducible.
  uint64_t random_seed = 0;

  /// HashiCorp's ValidateConfig, with its texts (e.g. "Heartbeat timeout is
  /// too low"): the first failed rule, or an empty string.
  std::string problem() const;
};

} // namespace raft
