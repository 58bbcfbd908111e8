#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"

namespace raft {

/// The consensus core's view of the log after the last compaction point.
/// The newest entries are in memory (resident), so the hot path never reads
/// the store; older ones that are durable and applied may be evicted
/// (`evict`), keeping only their terms (in runs, one per term), which is
/// all the protocol asks of them (§5.3). The store holds every entry
/// durably; the log writer actor keeps it in step, and a replicator whose
/// follower needs an evicted entry reads it from there.
class raft_log {
public:
  /// Starts empty after a compaction point (index and term of the last
  /// entry a snapshot covers; 0/0 for none).
  explicit raft_log(index_t snapshot_index = 0, term_t snapshot_term = 0);

  /// The index before the first entry held (the compaction point).
  index_t snapshot_index() const {
    return snapshot_index_;
  }

  term_t snapshot_term() const {
    return snapshot_term_;
  }

  index_t first_index() const {
    return snapshot_index_ + 1;
  }

  index_t last_index() const {
    return evicted_through_ + entries_.size();
  }

  /// The first entry held in memory (`last_index() + 1` if none).
  index_t resident_from() const {
    return evicted_through_ + 1;
  }

  /// Whether entry `index` is held in memory (`at` and `slice` need it).
  bool resident(index_t index) const {
    return index > evicted_through_ && index <= last_index();
  }

  /// Memory the held entries take, about: their data plus a fixed cost per
  /// entry. What the node bounds with raft_config::max_log_memory.
  size_t memory() const {
    return bytes_ + entries_.size() * entry_overhead
           + runs_.size() * sizeof(runs_[0]);
  }

  /// What one entry costs besides its data (the struct and the deque's
  /// share), for `memory`.
  static constexpr size_t entry_overhead = sizeof(log_entry) + 16;

  /// The term of the last entry (or of the compaction point).
  term_t last_term() const;

  /// The term at `index`, if the log holds it (or it is the compaction
  /// point); nothing for compacted-away or future indexes.
  std::optional<term_t> term_at(index_t index) const;

  /// The entry at `index`, which must be resident.
  const log_entry& at(index_t index) const;

  /// Appends one entry whose index must be last_index() + 1.
  void append(log_entry entry);

  /// Drops the entries from `index` on (conflict truncation, §5.3).
  void truncate_from(index_t index);

  /// Copies entries [first, last] into `out`, at most `max_count`, and stops
  /// once `max_bytes` of data are taken (at least one entry). `first` must
  /// be resident.
  void slice(index_t first, index_t last, size_t max_count, size_t max_bytes,
             std::vector<log_entry>& out) const;

  /// Forgets the entries up to `index` (which must be held), as after a
  /// snapshot.
  void compact(index_t index);

  /// Drops entries from memory, oldest first, up to `through` at most,
  /// until `memory()` is at most `keep_bytes`; their terms stay. The caller
  /// evicts only entries that are durable and applied. Returns how many
  /// went.
  size_t evict(index_t through, size_t keep_bytes);

  /// Replaces everything with an empty log after a snapshot at
  /// `index`/`term` (InstallSnapshot).
  void reset(index_t index, term_t term);

private:
  index_t snapshot_index_;
  term_t snapshot_term_;
  /// Entries up to here are evicted (== snapshot_index_ if none).
  index_t evicted_through_;
  /// The terms of the evicted entries: (first index, term) per run.
  std::vector<std::pair<index_t, term_t>> runs_;
  /// The resident entries, from evicted_through_ + 1 on.
  std::deque<log_entry> entries_;
  /// The sum of the held entries' data sizes.
  size_t bytes_ = 0;
};

} // namespace raft
