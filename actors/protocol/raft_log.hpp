#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "storage/log_entry.hpp"

namespace raft {

/// The consensus core's view of the log: every entry after the last
/// compaction point, kept in memory (as etcd-raft's MemoryStorage), so the
/// hot path never reads the store. The store holds the same entries
/// durably; the log writer actor keeps it in step.
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
    return snapshot_index_ + entries_.size();
  }

  /// Memory the held entries take, about: their data plus a fixed cost per
  /// entry. What the node bounds with raft_config::max_log_memory.
  size_t memory() const {
    return bytes_ + entries_.size() * entry_overhead;
  }

  /// What one entry costs besides its data (the struct and the deque's
  /// share), for `memory`.
  static constexpr size_t entry_overhead = sizeof(log_entry) + 16;

  /// The term of the last entry (or of the compaction point).
  term_t last_term() const;

  /// The term at `index`, if the log holds it (or it is the compaction
  /// point); nothing for compacted-away or future indexes.
  std::optional<term_t> term_at(index_t index) const;

  /// The entry at `index`, which must be held.
  const log_entry& at(index_t index) const;

  /// Appends one entry whose index must be last_index() + 1.
  void append(log_entry entry);

  /// Drops the entries from `index` on (conflict truncation, §5.3).
  void truncate_from(index_t index);

  /// Copies entries [first, last] into `out`, at most `max_count`, and stops
  /// once `max_bytes` of data are taken (at least one entry).
  void slice(index_t first, index_t last, size_t max_count, size_t max_bytes,
             std::vector<log_entry>& out) const;

  /// Forgets the entries up to `index` (which must be held), as after a
  /// snapshot.
  void compact(index_t index);

  /// Replaces everything with an empty log after a snapshot at
  /// `index`/`term` (InstallSnapshot).
  void reset(index_t index, term_t term);

private:
  index_t snapshot_index_;
  term_t snapshot_term_;
  std::deque<log_entry> entries_;
  /// The sum of the held entries' data sizes.
  size_t bytes_ = 0;
};

} // namespace raft
