#pragma once

#include <chrono>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

/// Durable storage of the replicated log (HashiCorp's LogStore).
///
/// Every write is durable when it returns without error (unless the store was
/// opened with a weaker sync mode that says so). A batch is stored wholly or
/// not at all. Implementations are not thread-safe: one actor owns each store.
class log_store {
public:
  virtual ~log_store();

  /// The first stored index, or 0 if the log is empty.
  virtual caf::expected<index_t> first_index() = 0;

  /// The last stored index, or 0 if the log is empty.
  virtual caf::expected<index_t> last_index() = 0;

  /// Reads the entry at `index` into `out`; fails with `log_not_found` if
  /// there is none and with `corrupt` if its checksum does not match.
  virtual caf::error get_log(index_t index, log_entry& out) = 0;

  /// Appends the entries in [first, last] to `out`, stopping early once
  /// `max_bytes` of entry data have been read (at least one entry is read).
  /// Fails like `get_log` for a missing or corrupt entry.
  virtual caf::error get_range(index_t first, index_t last, size_t max_bytes,
                               std::vector<log_entry>& out);

  /// Stores one entry.
  virtual caf::error store_log(const log_entry& entry);

  /// Stores a batch atomically: after a crash either all or none are there.
  /// An entry with an index that exists replaces it.
  virtual caf::error store_logs(const std::vector<log_entry>& entries) = 0;

  /// Deletes the entries in [min, max] (both inclusive).
  virtual caf::error delete_range(index_t min, index_t max) = 0;

  /// Stores a batch and, in the same atomic write, the commit index known
  /// when it was written (HashiCorp's CommitTrackingLogStore), so that a
  /// restarted server re-applies its log up to that index instead of only
  /// to its last snapshot. The default stores the entries and forgets the
  /// commit index.
  virtual caf::error store_logs_with_commit(const std::vector<log_entry>& entries,
                                            index_t commit_index);

  /// The commit index recorded by `store_logs_with_commit`; 0 if none.
  virtual caf::expected<index_t> stored_commit_index();

  /// How long the latest batch write spent making itself durable (the
  /// sync, for `raft_log_fsync_seconds`); 0 for a store that does not
  /// measure it.
  virtual std::chrono::nanoseconds last_sync_duration() const;
};

} // namespace raft
