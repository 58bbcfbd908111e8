#pragma once

// A contiguous run of the leader's log entries held by a replicator: the
// entries the node handed it since it started (or fetched for a follower
// that lags), shared with every other replicator instead of copied.

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"

namespace raft {

/// Entries `prev_index + 1 ..` of the leader's log, and the term of the
/// entry just before them (§5.3: every AppendEntries names it). The vector
/// is shared and never changed after it is made, so one batch serves every
/// replicator of the leader without a copy.
struct entry_batch {
  index_t prev_index = 0;
  term_t prev_term = 0;
  std::shared_ptr<const std::vector<log_entry>> entries;

  /// The index of the batch's last entry (`prev_index` if empty).
  index_t last_index() const {
    return prev_index + (entries ? entries->size() : 0);
  }
};

/// Makes a batch of `entries`, which must follow `prev_index` without gaps.
entry_batch make_entry_batch(index_t prev_index, term_t prev_term,
                             std::vector<log_entry> entries);

/// Entries `prev_index() + 1 .. last_index()` of the leader's log, kept as
/// the shared batches they came in.
class entry_window {
public:
  /// Empty, starting after `prev_index` (whose term is `prev_term`).
  void reset(index_t prev_index, term_t prev_term);

  /// Adds `b` at the end. False (and nothing changes) unless `b` starts
  /// right after the window's last entry.
  bool append(const entry_batch& b);

  /// The term of entry `index`, if it is `prev_index()` or inside.
  std::optional<term_t> term_at(index_t index) const;

  /// Whether entry `index` is inside.
  bool holds(index_t index) const {
    return index > prev_index_ && index <= last_index_;
  }

  /// Appends entries from `first` on (which must be inside) to `out`: at
  /// most `max_count`, and no more than `max_bytes` of data once one entry
  /// is in (a larger single entry still goes).
  void slice(index_t first, size_t max_count, size_t max_bytes,
             std::vector<log_entry>& out) const;

  /// Forgets whole batches that end at or before `index`; their last entry
  /// becomes the window's `prev_index`.
  void drop_through(index_t index);

  /// Forgets batches from the front while they take more than `max_bytes`
  /// (as `bytes` counts), keeping the newest one.
  void shrink_to(size_t max_bytes);

  index_t prev_index() const {
    return prev_index_;
  }

  index_t last_index() const {
    return last_index_;
  }

  /// The memory the entries take, about (as raft_log::memory counts it).
  size_t bytes() const {
    return bytes_;
  }

private:
  void pop_front();

  index_t prev_index_ = 0;
  term_t prev_term_ = 0;
  index_t last_index_ = 0;
  size_t bytes_ = 0;
  std::deque<entry_batch> batches_;
};

} // namespace raft
