#include "caf-raft/storage/sqlite_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/crc.hpp"

namespace raft {

namespace {

/// SQLite stores integers as signed 64-bit values; larger indexes would wrap.
constexpr uint64_t max_sql_index
  = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

/// Binding a null pointer makes SQLite store NULL instead of an empty blob,
/// which the NOT NULL columns reject.
const uint8_t empty_blob = 0;

const uint8_t* blob_ptr(const bytes& xs) {
  return xs.empty() ? &empty_blob : xs.data();
}

/// Resets a statement when leaving a scope, so that no read transaction stays
/// open (it would pin the WAL and block checkpoints).
struct reset_guard {
  sqlite3_stmt* stmt;
  ~reset_guard() {
    sqlite3_reset(stmt);
  }
};

std::string errno_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

/// Creates `dir` and its missing parents with mode 0700 (Go's MkdirAll).
caf::error mkdir_all(const std::string& dir) {
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    auto prefix = dir.substr(0, pos);
    if (prefix.empty())
      continue;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return make_error(errc::storage_failure,
                        errno_text(prefix + ": cannot create directory", errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return make_error(errc::storage_failure, errno_text(dir, errno));
  if (!S_ISDIR(st.st_mode))
    return make_error(errc::storage_failure, dir + ": not a directory");
  return caf::none;
}

void put_be64(uint8_t* out, uint64_t x) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(x);
    x >>= 8;
  }
}

uint64_t get_be64(const uint8_t* in) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | in[i];
  return x;
}

const char* schema_sql
  = "CREATE TABLE log("
    "idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, "
    "data BLOB NOT NULL, appended_at INTEGER NOT NULL, crc INTEGER NOT NULL);"
    "CREATE TABLE stable(key TEXT PRIMARY KEY, value BLOB NOT NULL);";

} // namespace

const char* to_string(sync_mode x) {
  return x == sync_mode::full ? "FULL" : "NORMAL";
}

uint32_t entry_checksum(index_t index, term_t term, uint8_t type,
                        int64_t appended_at_ms, const uint8_t* data,
                        size_t size) {
  uint8_t header[25];
  put_be64(header, index);
  put_be64(header + 8, term);
  header[16] = type;
  put_be64(header + 17, static_cast<uint64_t>(appended_at_ms));
  crc32c crc;
  crc.process_bytes(header, sizeof(header));
  if (size > 0)
    crc.process_bytes(data, size);
  return crc.checksum();
}

// -- construction and teardown ------------------------------------------------

sqlite_store::sqlite_store(std::string dir, sync_mode mode)
  : dir_(std::move(dir)), path_(dir_ + "/logs"), mode_(mode) {
  // nop
}

sqlite_store::~sqlite_store() {
  close();
}

caf::expected<std::shared_ptr<sqlite_store>>
sqlite_store::open(const std::string& dir, sync_mode mode) {
  if (dir.empty())
    return make_error(errc::not_valid, "empty storage directory not valid");
  if (auto err = mkdir_all(dir))
    return err;
  // SQLite's own locks are per process and a busy database makes it wait or
  // fail late; an exclusive flock on a side file fails at once, for a second
  // process and for a second open in this one alike.
  auto lock_path = dir + "/logs.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(errc::storage_failure,
                      errno_text(lock_path + ": cannot open lock file", errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return make_error(errc::locked,
                        dir + "/logs: store is locked by another process "
                              "(or already open in this one)");
    return make_error(errc::storage_failure,
                      errno_text(lock_path + ": cannot lock", err));
  }
  std::shared_ptr<sqlite_store> result{new sqlite_store(dir, mode)};
  if (auto err = result->init(fd)) {
    result->close();
    return err;
  }
  return result;
}

caf::error sqlite_store::init(int lock_fd) {
  lock_fd_ = lock_fd;
  // Create the file ourselves: SQLite would use 0644, and the WAL inherits
  // the database's mode.
  int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    // SQLite syncs the directory for the WAL it creates but not for a main
    // file it did not create; without this a power loss could drop the file.
    int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto synced = dfd >= 0 && ::fsync(dfd) == 0;
    auto err = errno;
    if (dfd >= 0)
      ::close(dfd);
    if (!synced)
      return make_error(errc::storage_failure,
                        errno_text(dir_ + ": cannot sync directory", err));
  } else if (errno != EEXIST) {
    return make_error(errc::storage_failure,
                      errno_text(path_ + ": cannot create", errno));
  }
  auto flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
               | SQLITE_OPEN_EXRESCODE;
  if (auto rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
      rc != SQLITE_OK) {
    auto err = fail(rc, "open");
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return err;
  }
  sqlite3_extended_result_codes(db_, 1);
  // Waiting would only hide a second writer that the flock already excludes.
  sqlite3_busy_timeout(db_, 0);
  // The flock already makes us the only user of the file, so SQLite may as
  // well hold its locks for good: this saves the fcntl lock calls of every
  // transaction and, set before WAL mode is entered, keeps the WAL index in
  // heap memory instead of a mapped -shm file.
  if (auto err = exec("PRAGMA locking_mode=EXCLUSIVE", "open"))
    return err;
  {
    sqlite3_stmt* stmt = nullptr;
    // The first statement reads the header: a bad file fails here.
    if (auto err = prepare(stmt, "PRAGMA journal_mode=WAL", "open"))
      return err;
    auto rc = sqlite3_step(stmt);
    std::string mode;
    if (rc == SQLITE_ROW)
      mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    auto err = rc == SQLITE_ROW ? caf::error{} : fail(rc, "open");
    sqlite3_finalize(stmt);
    if (err)
      return err;
    if (mode != "wal")
      return make_error(errc::storage_failure,
                        path_ + ": cannot switch to WAL mode (got " + mode
                          + ")");
  }
  if (auto err = exec(mode_ == sync_mode::full ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL",
                      "set synchronous"))
    return err;
  // Compaction deletes many rows at once and the WAL grows to hold every
  // page it touched; without a limit the file keeps that size while the
  // store is open (measured: 172 MB of WAL after compacting a million
  // entries). After each checkpoint SQLite truncates it back to this.
  if (auto err = exec("PRAGMA journal_size_limit=16777216",
                      "set journal_size_limit"))
    return err;
  // Debian builds SQLite with SECURE_DELETE: every page a compaction frees
  // would be zeroed, written to the WAL and checkpointed, as many bytes as
  // the entries it deletes, twice (measured: 247 MiB of WAL and 1.4 s to
  // compact 256 MiB of entries; 1 MiB and 0.14 s with FAST). FAST zeroes
  // only where that costs no extra I/O. The deleted entries are in the
  // snapshot that allowed their deletion, on the same disk.
  if (auto err = exec("PRAGMA secure_delete=FAST", "set secure_delete"))
    return err;
  // The schema version decides whether we understand the file at all.
  int64_t version = 0;
  int64_t objects = 0;
  {
    sqlite3_stmt* stmt = nullptr;
    if (auto err = prepare(stmt, "SELECT (SELECT user_version FROM "
                                 "pragma_user_version), (SELECT count(*) FROM "
                                 "sqlite_master)",
                           "read schema"))
      return err;
    auto rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      version = sqlite3_column_int64(stmt, 0);
      objects = sqlite3_column_int64(stmt, 1);
    }
    auto err = rc == SQLITE_ROW ? caf::error{} : fail(rc, "read schema");
    sqlite3_finalize(stmt);
    if (err)
      return err;
  }
  if (auto err = enable_auto_vacuum(objects == 0))
    return err;
  if (version == 0 && objects == 0) {
    if (auto err = create_schema())
      return err;
  } else if (version == 0) {
    return make_error(errc::unsupported,
                      path_ + ": not a caf-raft store (tables without a "
                              "schema version)");
  } else if (version != schema_version) {
    return make_error(errc::unsupported,
                      path_ + ": unknown schema version "
                        + std::to_string(version) + " (this build knows "
                        + std::to_string(schema_version) + ")");
  }
  // Statements live as long as the store; PERSISTENT tells SQLite so.
  caf::error err;
  if ((err = prepare(begin_, "BEGIN IMMEDIATE"))
      || (err = prepare(commit_, "COMMIT"))
      || (err = prepare(rollback_, "ROLLBACK"))
      || (err = prepare(insert_,
                        "INSERT OR REPLACE INTO log(idx, term, type, data, "
                        "appended_at, crc) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"))
      || (err = prepare(get_, "SELECT idx, term, type, data, appended_at, crc "
                              "FROM log WHERE idx = ?1"))
      || (err = prepare(range_,
                        "SELECT idx, term, type, data, appended_at, crc "
                        "FROM log WHERE idx BETWEEN ?1 AND ?2 ORDER BY idx"))
      || (err = prepare(first_, "SELECT MIN(idx) FROM log"))
      || (err = prepare(last_, "SELECT MAX(idx) FROM log"))
      || (err = prepare(delete_, "DELETE FROM log WHERE idx BETWEEN ?1 AND ?2"))
      || (err = prepare(stable_get_, "SELECT value FROM stable WHERE key = ?1"))
      // An upsert updates the row in place; INSERT OR REPLACE deletes it
      // and inserts it under a new rowid, which rewrites the key's index
      // page too: one 4 KiB WAL page more in every transaction that
      // carries the commit index (3 instead of 2 for a one-entry batch).
      || (err = prepare(stable_set_, "INSERT INTO stable(key, value) "
                                     "VALUES(?1, ?2) ON CONFLICT(key) DO "
                                     "UPDATE SET value = excluded.value")))
    return err;
  // Touch both ends of the log's b-tree so that a truncated file fails here
  // rather than in the middle of a later election.
  if (auto x = first_index(); !x)
    return std::move(x.error());
  if (auto x = last_index(); !x)
    return std::move(x.error());
  return caf::none;
}

caf::error sqlite_store::create_schema() {
  if (auto err = exec("BEGIN IMMEDIATE", "create schema"))
    return err;
  auto version = "PRAGMA user_version=" + std::to_string(schema_version);
  caf::error err;
  if ((err = exec(schema_sql, "create schema"))
      || (err = exec(version.c_str(), "create schema"))
      || (err = exec("COMMIT", "create schema"))) {
    rollback();
    return err;
  }
  return caf::none;
}

caf::error sqlite_store::close() {
  caf::error result;
  if (db_ != nullptr) {
    for (auto stmt : {&begin_, &commit_, &rollback_, &insert_, &get_, &range_,
                      &first_, &last_, &delete_, &stable_get_, &stable_set_}) {
      sqlite3_finalize(*stmt);
      *stmt = nullptr;
    }
    // The last connection checkpoints the WAL into the database here.
    if (auto rc = sqlite3_close(db_); rc != SQLITE_OK) {
      result = fail(rc, "close");
      sqlite3_close_v2(db_);
    }
    db_ = nullptr;
  }
  // Unlock only after SQLite let go of the file, so the next owner never
  // shares it with us.
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  return result;
}

// -- helpers ------------------------------------------------------------------

caf::error sqlite_store::prepare(sqlite3_stmt*& stmt, const char* sql,
                                 const char* what) {
  auto rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               nullptr);
  if (rc != SQLITE_OK)
    return fail(rc, what != nullptr ? std::string{what}
                                    : std::string{"prepare \""} + sql + "\"");
  return caf::none;
}

caf::expected<int64_t> sqlite_store::query_int(const char* sql,
                                               const char* what) {
  sqlite3_stmt* stmt = nullptr;
  if (auto err = prepare(stmt, sql, what))
    return err;
  auto rc = sqlite3_step(stmt);
  int64_t x = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW)
    return fail(rc, what);
  return x;
}

caf::error sqlite_store::enable_auto_vacuum(bool new_file) {
  // Without it a compacted log never gives its space back: the file keeps
  // the size of the longest log it ever held.
  constexpr int64_t incremental = 2;
  auto mode = query_int("PRAGMA auto_vacuum", "read auto_vacuum");
  if (!mode)
    return std::move(mode.error());
  if (*mode == incremental)
    return caf::none;
  if (auto err = exec("PRAGMA auto_vacuum=INCREMENTAL", "set auto_vacuum"))
    return err;
  if (new_file)
    return caf::none; // takes effect with the first table
  // An existing file changes mode only by a VACUUM, which needs as much free
  // disk as the file: without the room, the store runs on as before.
  if (exec("VACUUM", "convert to auto_vacuum"))
    exec("PRAGMA auto_vacuum=NONE", "restore auto_vacuum");
  return caf::none;
}

namespace {

/// Pages one vacuum step gives back (4 MiB): the most its dirty pages hold
/// in memory, since the vacuum runs without spilling (below).
constexpr int64_t vacuum_step_pages = 1024;

constexpr const char* vacuum_step_sql = "PRAGMA incremental_vacuum(1024)";

} // namespace

caf::error sqlite_store::maybe_vacuum() {
  auto free = query_int("PRAGMA freelist_count", "read freelist_count");
  if (!free)
    return std::move(free.error());
  if (*free <= vacuum_threshold_pages)
    return caf::none;
  // A vacuum marks every page it gives back as written. Where they exceed
  // SQLite's page cache they spill into the WAL before the commit can tell
  // that the file is cut short of them: one vacuum of all wrote every freed
  // page again (32 MiB for 32 MiB compacted). Without spilling, in steps
  // that bound the memory this takes, it writes under 1 MiB
  // (sqlite_store_test). Each step is a transaction, one sync each.
  if (auto err = exec("PRAGMA cache_spill=OFF", "stop cache spills"))
    return err;
  caf::error err;
  for (auto left = *free; left > vacuum_threshold_pages && !err;
       left -= vacuum_step_pages)
    err = exec(vacuum_step_sql, "give free pages back");
  auto restored = exec("PRAGMA cache_spill=ON", "restore cache spills");
  return err ? err : restored;
}

caf::error sqlite_store::exec(const char* sql, const char* what) {
  auto rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK)
    return fail(rc, what);
  return caf::none;
}

caf::error sqlite_store::check_open() const {
  if (db_ == nullptr)
    return make_error(errc::storage_failure, path_ + ": store is closed");
  return caf::none;
}

caf::error sqlite_store::fail(int rc, const std::string& what) const {
  errc code = errc::storage_failure;
  std::string problem;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      problem = "disk full";
      break;
    case SQLITE_CORRUPT:
      code = errc::corrupt;
      problem = "database disk image is malformed";
      break;
    case SQLITE_NOTADB:
      code = errc::corrupt;
      problem = "not a database";
      break;
    case SQLITE_IOERR:
      problem = "I/O error";
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = errc::locked;
      problem = "database is locked";
      break;
    case SQLITE_CANTOPEN:
      problem = "cannot open database file";
      break;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      problem = "permission denied";
      break;
    case SQLITE_NOMEM:
      problem = "out of memory";
      break;
    case SQLITE_TOOBIG:
      code = errc::too_large;
      problem = "value too large";
      break;
    default:
      problem = sqlite3_errstr(rc);
  }
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  std::string text = path_ + ": " + what + ": " + problem + " (";
  if (detail != problem)
    text += detail + ", ";
  text += "sqlite code " + std::to_string(rc) + ")";
  return make_error(code, std::move(text));
}

void sqlite_store::rollback() {
  // SQLite rolls back by itself after some errors (e.g. SQLITE_FULL).
  if (db_ != nullptr && !sqlite3_get_autocommit(db_)) {
    if (rollback_ != nullptr) {
      sqlite3_step(rollback_);
      sqlite3_reset(rollback_);
    } else {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
}

caf::error sqlite_store::read_row(sqlite3_stmt* stmt, log_entry& out) const {
  auto idx = sqlite3_column_int64(stmt, 0);
  auto term = sqlite3_column_int64(stmt, 1);
  auto type = sqlite3_column_int64(stmt, 2);
  auto appended_at = sqlite3_column_int64(stmt, 4);
  auto stored_crc = sqlite3_column_int64(stmt, 5);
  auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 3));
  auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, 3));
  auto corrupt = [&](const std::string& why) {
    return make_error(errc::corrupt, path_ + ": log index "
                                       + std::to_string(idx) + ": " + why);
  };
  if (type < 0 || type > 255)
    return corrupt("entry type " + std::to_string(type) + " out of range");
  auto crc = entry_checksum(static_cast<index_t>(idx),
                            static_cast<term_t>(term),
                            static_cast<uint8_t>(type), appended_at, data, size);
  if (stored_crc != static_cast<int64_t>(crc)) {
    char buf[96];
    std::snprintf(buf, sizeof(buf),
                  "checksum mismatch (stored %08" PRIx64 ", computed %08" PRIx32
                  ")",
                  static_cast<uint64_t>(stored_crc), crc);
    return corrupt(buf);
  }
  if (type > static_cast<int64_t>(last_entry_type))
    return corrupt("unknown entry type " + std::to_string(type));
  out.index = static_cast<index_t>(idx);
  out.term = static_cast<term_t>(term);
  out.type = static_cast<entry_type>(type);
  out.appended_at_ms = appended_at;
  if (size > 0)
    out.data.assign(data, data + size);
  else
    out.data.clear();
  return caf::none;
}

caf::expected<index_t> sqlite_store::index_query(sqlite3_stmt* stmt,
                                                 const char* what) {
  if (auto err = check_open())
    return err;
  reset_guard guard{stmt};
  auto rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW)
    return fail(rc, what);
  if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
    return index_t{0};
  return static_cast<index_t>(sqlite3_column_int64(stmt, 0));
}

// -- log_store ----------------------------------------------------------------

caf::expected<index_t> sqlite_store::first_index() {
  return index_query(first_, "first index");
}

caf::expected<index_t> sqlite_store::last_index() {
  return index_query(last_, "last index");
}

caf::error sqlite_store::get_log(index_t index, log_entry& out) {
  if (auto err = check_open())
    return err;
  if (index > max_sql_index)
    return make_error(errc::log_not_found);
  reset_guard guard{get_};
  sqlite3_bind_int64(get_, 1, static_cast<int64_t>(index));
  auto rc = sqlite3_step(get_);
  if (rc == SQLITE_ROW)
    return read_row(get_, out);
  if (rc == SQLITE_DONE)
    return make_error(errc::log_not_found);
  return fail(rc, "read log index " + std::to_string(index));
}

caf::error sqlite_store::get_range(index_t first, index_t last,
                                   size_t max_bytes,
                                   std::vector<log_entry>& out) {
  if (auto err = check_open())
    return err;
  if (first > last)
    return caf::none;
  if (first > max_sql_index)
    return make_error(errc::log_not_found);
  last = std::min(last, max_sql_index);
  auto old_size = out.size();
  auto failed = [&](caf::error err) {
    out.resize(old_size);
    return err;
  };
  reset_guard guard{range_};
  sqlite3_bind_int64(range_, 1, static_cast<int64_t>(first));
  sqlite3_bind_int64(range_, 2, static_cast<int64_t>(last));
  size_t total = 0;
  for (auto expected = first; expected <= last; ++expected) {
    auto rc = sqlite3_step(range_);
    if (rc == SQLITE_DONE)
      return failed(make_error(errc::log_not_found));
    if (rc != SQLITE_ROW)
      return failed(fail(rc, "read log range " + std::to_string(first) + ".."
                               + std::to_string(last)));
    if (static_cast<index_t>(sqlite3_column_int64(range_, 0)) != expected)
      return failed(make_error(errc::log_not_found));
    auto& entry = out.emplace_back();
    if (auto err = read_row(range_, entry))
      return failed(std::move(err));
    total += entry.data.size();
    if (total >= max_bytes)
      break;
  }
  return caf::none;
}

caf::error sqlite_store::store_logs(const std::vector<log_entry>& entries) {
  return store_batch(entries, nullptr);
}

caf::error
sqlite_store::store_logs_with_commit(const std::vector<log_entry>& entries,
                                     index_t commit_index) {
  return store_batch(entries, &commit_index);
}

std::chrono::nanoseconds sqlite_store::last_sync_duration() const {
  return last_sync_;
}

caf::expected<index_t> sqlite_store::stored_commit_index() {
  auto x = get_uint64(stable_keys::commit_index);
  if (!x && is(x.error(), errc::not_found))
    return index_t{0};
  return x;
}

caf::error sqlite_store::store_batch(const std::vector<log_entry>& entries,
                                     const index_t* commit) {
  if (auto err = check_open())
    return err;
  if (entries.empty())
    return caf::none;
  for (auto& entry : entries)
    if (entry.index > max_sql_index)
      return make_error(errc::not_valid,
                        path_ + ": log index " + std::to_string(entry.index)
                          + " out of range");
  auto rc = sqlite3_step(begin_);
  sqlite3_reset(begin_);
  if (rc != SQLITE_DONE)
    return fail(rc, "begin transaction");
  for (auto& entry : entries) {
    auto type = static_cast<uint8_t>(entry.type);
    auto data = blob_ptr(entry.data);
    auto crc = entry_checksum(entry.index, entry.term, type,
                              entry.appended_at_ms, entry.data.data(),
                              entry.data.size());
    sqlite3_bind_int64(insert_, 1, static_cast<int64_t>(entry.index));
    sqlite3_bind_int64(insert_, 2, static_cast<int64_t>(entry.term));
    sqlite3_bind_int(insert_, 3, type);
    // SQLITE_STATIC: the entry outlives the step, so SQLite need not copy.
    sqlite3_bind_blob64(insert_, 4, data, entry.data.size(), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 5, entry.appended_at_ms);
    sqlite3_bind_int64(insert_, 6, static_cast<int64_t>(crc));
    rc = sqlite3_step(insert_);
    if (rc != SQLITE_DONE) {
      auto err = fail(rc, "store log index " + std::to_string(entry.index));
      sqlite3_reset(insert_);
      rollback();
      return err;
    }
    sqlite3_reset(insert_);
  }
  if (commit != nullptr) {
    // The commit index rides in the batch's transaction: no extra fsync.
    bytes buf(8);
    put_be64(buf.data(), *commit);
    const char* key = stable_keys::commit_index;
    sqlite3_bind_text(stable_set_, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(stable_set_, 2, buf.data(), buf.size(), SQLITE_STATIC);
    rc = sqlite3_step(stable_set_);
    sqlite3_reset(stable_set_);
    if (rc != SQLITE_DONE) {
      auto err = fail(rc, "store commit index");
      rollback();
      return err;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  rc = sqlite3_step(commit_);
  last_sync_ = std::chrono::steady_clock::now() - t0;
  if (rc != SQLITE_DONE) {
    auto err = fail(rc, "commit logs " + std::to_string(entries.front().index)
                          + ".." + std::to_string(entries.back().index));
    sqlite3_reset(commit_);
    rollback();
    return err;
  }
  sqlite3_reset(commit_);
  return caf::none;
}

caf::error sqlite_store::delete_range(index_t min, index_t max) {
  if (auto err = check_open())
    return err;
  if (min > max || min > max_sql_index)
    return caf::none;
  max = std::min(max, max_sql_index);
  reset_guard guard{delete_};
  sqlite3_bind_int64(delete_, 1, static_cast<int64_t>(min));
  sqlite3_bind_int64(delete_, 2, static_cast<int64_t>(max));
  auto rc = sqlite3_step(delete_);
  sqlite3_reset(delete_); // ends its transaction before the vacuum's
  if (rc != SQLITE_DONE)
    return fail(rc, "delete logs " + std::to_string(min) + ".."
                      + std::to_string(max));
  return maybe_vacuum();
}

// -- stable_store -------------------------------------------------------------

caf::error sqlite_store::set(const std::string& key, const bytes& value) {
  if (auto err = check_open())
    return err;
  reset_guard guard{stable_set_};
  sqlite3_bind_text(stable_set_, 1, key.data(), static_cast<int>(key.size()),
                    SQLITE_STATIC);
  sqlite3_bind_blob64(stable_set_, 2, blob_ptr(value), value.size(),
                      SQLITE_STATIC);
  auto rc = sqlite3_step(stable_set_);
  if (rc != SQLITE_DONE)
    return fail(rc, "set " + key);
  return caf::none;
}

caf::expected<bytes> sqlite_store::get(const std::string& key) {
  if (auto err = check_open())
    return err;
  reset_guard guard{stable_get_};
  sqlite3_bind_text(stable_get_, 1, key.data(), static_cast<int>(key.size()),
                    SQLITE_STATIC);
  auto rc = sqlite3_step(stable_get_);
  if (rc == SQLITE_DONE)
    return make_error(errc::not_found); // HashiCorp compares the text.
  if (rc != SQLITE_ROW)
    return fail(rc, "get " + key);
  auto data = static_cast<const uint8_t*>(sqlite3_column_blob(stable_get_, 0));
  auto size = static_cast<size_t>(sqlite3_column_bytes(stable_get_, 0));
  return size > 0 ? bytes(data, data + size) : bytes{};
}

caf::error sqlite_store::set_uint64(const std::string& key, uint64_t value) {
  bytes buf(8);
  put_be64(buf.data(), value);
  return set(key, buf);
}

caf::expected<uint64_t> sqlite_store::get_uint64(const std::string& key) {
  auto buf = get(key);
  if (!buf)
    return std::move(buf.error());
  if (buf->size() != 8)
    return make_error(errc::corrupt, path_ + ": stable key " + key + ": "
                                       + std::to_string(buf->size())
                                       + " bytes, want an 8-byte uint64");
  return get_be64(buf->data());
}

// -- other --------------------------------------------------------------------

caf::expected<uint32_t> sqlite_store::limit_pages_for_testing(uint32_t pages) {
  if (auto err = check_open())
    return err;
  auto sql = "PRAGMA max_page_count=" + std::to_string(pages);
  sqlite3_stmt* stmt = nullptr;
  if (auto err = prepare(stmt, sql.c_str()))
    return err;
  auto rc = sqlite3_step(stmt);
  uint32_t result = 0;
  if (rc == SQLITE_ROW)
    result = static_cast<uint32_t>(sqlite3_column_int64(stmt, 0));
  auto err = rc == SQLITE_ROW ? caf::error{} : fail(rc, "max_page_count");
  sqlite3_finalize(stmt);
  if (err)
    return err;
  return result;
}

caf::expected<std::shared_ptr<sqlite_store>>
new_log_store(const std::string& dir, sync_mode mode) {
  return sqlite_store::open(dir, mode);
}

} // namespace raft
