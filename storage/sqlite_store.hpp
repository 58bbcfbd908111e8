#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"
#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/stable_store.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace raft {

/// How hard a commit of the SQLite store pushes data to the disk.
enum class sync_mode {
  /// `synchronous=FULL`: the WAL is fsynced on every commit, so a write that
  /// returned survives a crash of the process and a loss of power.
  full,
  /// `synchronous=NORMAL`: the WAL is fsynced only at checkpoints. A write
  /// that returned survives a crash of the process, but on a power loss or an
  /// OS crash the last transactions may be lost (never torn: the database
  /// stays consistent). Raft's safety assumes durable votes and entries, so
  /// only use this where losing them is acceptable (tests, benchmarks).
  normal,
};

/// Returns "FULL" or "NORMAL" (the pragma's spelling).
const char* to_string(sync_mode x);

/// The log store and stable store of one server, kept in a single SQLite
/// database `<dir>/logs` in WAL mode (DESIGN.md §5).
///
/// One database serves both interfaces so that a term and the entries written
/// under it share one file, one lock and one fsync path. Every entry carries a
/// CRC-32C that is verified on every read, since SQLite checks its own pages
/// only loosely and a flipped bit must never reach the state machine. An
/// exclusive `flock` on `<dir>/logs.lock` makes a second open fail at once
/// instead of waiting on SQLite's locks; SQLite then runs in exclusive
/// locking mode, so no other connection (not even a read-only `sqlite3`
/// shell) can use the file while the store is open. Not thread-safe: one
/// actor owns it.
class sqlite_store : public log_store, public stable_store {
public:
  /// The schema version this build writes and reads (PRAGMA user_version).
  static constexpr int schema_version = 1;

  /// Free pages (4 KiB each) kept before they are given back: small
  /// truncations leave theirs for the next writes to reuse.
  static constexpr int64_t vacuum_threshold_pages = 256;

  ~sqlite_store() override;

  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  /// Opens (or creates) the store in `dir`; see `new_log_store`.
  static caf::expected<std::shared_ptr<sqlite_store>>
  open(const std::string& dir, sync_mode mode);

  // -- log_store --------------------------------------------------------------

  caf::expected<index_t> first_index() override;

  caf::expected<index_t> last_index() override;

  caf::error get_log(index_t index, log_entry& out) override;

  /// Reads the range with a single query. Leaves `out` unchanged on error.
  caf::error get_range(index_t first, index_t last, size_t max_bytes,
                       std::vector<log_entry>& out) override;

  caf::error store_logs(const std::vector<log_entry>& entries) override;

  caf::error delete_range(index_t min, index_t max) override;

  /// Writes the entries and the stable key CommitIndex in one transaction.
  caf::error store_logs_with_commit(const std::vector<log_entry>& entries,
                                    index_t commit_index) override;

  caf::expected<index_t> stored_commit_index() override;
  /// The COMMIT of the latest batch, where SQLite syncs (sync_mode::full).
  std::chrono::nanoseconds last_sync_duration() const override;

  // -- stable_store -----------------------------------------------------------

  caf::error set(const std::string& key, const bytes& value) override;

  caf::expected<bytes> get(const std::string& key) override;

  /// Stores `value` as an 8-byte big-endian blob (raft-boltdb's encoding).
  caf::error set_uint64(const std::string& key, uint64_t value) override;

  /// Fails with `corrupt` if the stored value is not 8 bytes long.
  caf::expected<uint64_t> get_uint64(const std::string& key) override;

  // -- other ------------------------------------------------------------------

  /// Releases the database and the lock; any later call fails. Calling it
  /// again is harmless. Returns the first error SQLite reported on closing.
  caf::error close();

  /// The path of the database file, `<dir>/logs`.
  const std::string& path() const {
    return path_;
  }

  /// The sync mode the store was opened with.
  sync_mode mode() const {
    return mode_;
  }

  /// Caps the database at `pages` pages (PRAGMA max_page_count, which lasts
  /// only for this connection), so tests can drive the real SQLITE_FULL path
  /// without filling a disk. Returns the cap in effect, which SQLite never
  /// lowers below the current size.
  caf::expected<uint32_t> limit_pages_for_testing(uint32_t pages);

private:
  sqlite_store(std::string dir, sync_mode mode);

  /// The COMMIT of the latest batch (`last_sync_duration`).
  std::chrono::nanoseconds last_sync_{0};

  caf::error init(int lock_fd);

  caf::error create_schema();

  /// One transaction for a batch, plus the commit index if `commit` is set.
  caf::error store_batch(const std::vector<log_entry>& entries,
                         const index_t* commit);

  /// Prepares a statement that lives until `close`; `what` names the step
  /// in errors (default: the SQL).
  caf::error prepare(sqlite3_stmt*& stmt, const char* sql,
                     const char* what = nullptr);

  caf::error exec(const char* sql, const char* what);

  /// The single integer a statement such as a PRAGMA answers.
  caf::expected<int64_t> query_int(const char* sql, const char* what);

  /// Space freed by deletions goes back to the file system (auto_vacuum =
  /// INCREMENTAL): set on a new file before its tables exist; an older file
  /// is converted once, by a VACUUM, if the disk has room for it.
  caf::error enable_auto_vacuum(bool new_file);

  /// Gives the free pages back once there are more than
  /// `vacuum_threshold_pages` of them (after compaction, typically).
  caf::error maybe_vacuum();

  caf::error check_open() const;

  /// Turns an SQLite result code into a raft error naming the file.
  caf::error fail(int rc, const std::string& what) const;

  /// Reads the current row of `stmt` into `out`, verifying its checksum.
  caf::error read_row(sqlite3_stmt* stmt, log_entry& out) const;

  caf::expected<index_t> index_query(sqlite3_stmt* stmt, const char* what);

  void rollback();

  std::string dir_;
  std::string path_;
  sync_mode mode_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* range_ = nullptr;
  sqlite3_stmt* first_ = nullptr;
  sqlite3_stmt* last_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* stable_get_ = nullptr;
  sqlite3_stmt* stable_set_ = nullptr;
};

/// Opens the SQLite log and stable store in `dir`, creating `dir` (mode 0700)
/// and the database `<dir>/logs` (mode 0600) if needed.
///
/// Fails with `locked` at once if the store is already open, in this process
/// or another; with `corrupt` if the file is not a database, is truncated or
/// is malformed; with `unsupported` for an unknown schema version; and with
/// `storage_failure` for I/O problems. Every error text names the file.
caf::expected<std::shared_ptr<sqlite_store>>
new_log_store(const std::string& dir, sync_mode mode = sync_mode::full);

/// The CRC-32C stored with each entry: over the index, term, type and
/// appended_at (big endian, 8/8/1/8 bytes), then the data.
uint32_t entry_checksum(index_t index, term_t term, uint8_t type,
                        int64_t appended_at_ms, const uint8_t* data,
                        size_t size);

} // namespace raft
