#define BOOST_TEST_MODULE sqlite_store
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

// What only the SQLite store has to get right: the lock, the checksums, the
// file-level failures and atomic batches across a crash. The behaviour it
// shares with the in-memory twin is in log_store_contract_test.

using namespace raft;
namespace fs = std::filesystem;

namespace {

#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    auto check_ok_err = (expr);                                                \
    BOOST_REQUIRE_MESSAGE(!check_ok_err, describe(check_ok_err));              \
  } while (false)

bool contains(const std::string& str, const std::string& what) {
  return str.find(what) != std::string::npos;
}

/// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-sqlite-XXXXXX";
    auto p = ::mkdtemp(tmpl);
    BOOST_REQUIRE(p != nullptr);
    path = p;
  }

  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }

  std::string db() const {
    return path + "/logs";
  }
};

std::shared_ptr<sqlite_store> open_ok(const std::string& dir) {
  auto st = new_log_store(dir);
  if (!st)
    BOOST_FAIL(describe(st.error()));
  return *st;
}

/// Returns the error of an open that must fail.
caf::error open_fails(const std::string& dir) {
  auto st = new_log_store(dir);
  BOOST_REQUIRE_MESSAGE(!st, "open of " << dir << " unexpectedly succeeded");
  return std::move(st.error());
}

log_entry make_entry(index_t index, term_t term, size_t size = 32) {
  log_entry x;
  x.index = index;
  x.term = term;
  x.appended_at_ms = 1700000000000 + static_cast<int64_t>(index);
  x.data.resize(size);
  for (size_t i = 0; i < size; ++i)
    x.data[i] = static_cast<uint8_t>(index + i);
  return x;
}

std::vector<log_entry> make_entries(index_t first, index_t last, term_t term,
                                    size_t size = 32) {
  std::vector<log_entry> xs;
  for (auto i = first; i <= last; ++i)
    xs.push_back(make_entry(i, term, size));
  return xs;
}

/// A plain SQLite connection to a closed store's file, for doing what the
/// store never would.
struct raw_db {
  sqlite3* db = nullptr;

  explicit raw_db(const std::string& path) {
    BOOST_REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE,
                                  nullptr)
                  == SQLITE_OK);
  }

  ~raw_db() {
    sqlite3_close(db);
  }

  void exec(const std::string& sql) {
    char* msg = nullptr;
    auto rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
    std::string text = msg != nullptr ? msg : "";
    sqlite3_free(msg);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << text);
  }

  /// Flips one bit of the data of the entry at `index`.
  void flip_data_byte(index_t index, size_t pos) {
    sqlite3_stmt* stmt = nullptr;
    BOOST_REQUIRE(sqlite3_prepare_v2(db, "SELECT data FROM log WHERE idx = ?",
                                     -1, &stmt, nullptr)
                  == SQLITE_OK);
    sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(index));
    BOOST_REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    auto p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 0));
    bytes data(p, p + sqlite3_column_bytes(stmt, 0));
    sqlite3_finalize(stmt);
    BOOST_REQUIRE(pos < data.size());
    data[pos] ^= 0x01;
    BOOST_REQUIRE(sqlite3_prepare_v2(db, "UPDATE log SET data = ? WHERE idx = ?",
                                     -1, &stmt, nullptr)
                  == SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, data.data(), static_cast<int>(data.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, static_cast<int64_t>(index));
    BOOST_REQUIRE(sqlite3_step(stmt) == SQLITE_DONE);
    sqlite3_finalize(stmt);
  }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
    .count();
}

} // namespace

BOOST_AUTO_TEST_CASE(creates_private_directory_and_file) {
  temp_dir tmp;
  auto dir = tmp.path + "/a/b/raft";
  auto st = open_ok(dir);
  BOOST_TEST(st->path() == dir + "/logs");
  struct stat info;
  BOOST_REQUIRE(::stat(dir.c_str(), &info) == 0);
  BOOST_TEST((info.st_mode & 0777) == 0700u);
  BOOST_REQUIRE(::stat((tmp.path + "/a").c_str(), &info) == 0);
  BOOST_TEST((info.st_mode & 0777) == 0700u);
  BOOST_REQUIRE(::stat(st->path().c_str(), &info) == 0);
  BOOST_TEST((info.st_mode & 0777) == 0600u);
  // A plain file where the directory should be is an error, not a crash.
  std::ofstream{tmp.path + "/file"} << "x";
  auto err = open_fails(tmp.path + "/file");
  BOOST_TEST(is(err, errc::storage_failure));
  BOOST_TEST(contains(describe(err), tmp.path + "/file"), describe(err));
}

BOOST_AUTO_TEST_CASE(second_open_fails_at_once_with_locked) {
  temp_dir tmp;
  auto st = open_ok(tmp.path);
  CHECK_OK(st->store_logs(make_entries(1, 3, 1)));
  auto t0 = std::chrono::steady_clock::now();
  auto err = open_fails(tmp.path);
  BOOST_TEST(seconds_since(t0) < 1.0);
  BOOST_TEST(is(err, errc::locked), describe(err));
  BOOST_TEST(contains(describe(err), tmp.db()), describe(err));
  BOOST_TEST_MESSAGE(describe(err));
  // The first store is unaffected by the failed attempt.
  auto last = st->last_index();
  BOOST_REQUIRE(last);
  BOOST_TEST(*last == 3u);
  // Closing releases the lock even while the object lives on; closing twice
  // is harmless and a closed store refuses work.
  CHECK_OK(st->close());
  CHECK_OK(st->close());
  log_entry e;
  BOOST_TEST(is(st->get_log(1, e), errc::storage_failure));
  auto again = open_ok(tmp.path);
  last = again->last_index();
  BOOST_REQUIRE(last);
  BOOST_TEST(*last == 3u);
}

BOOST_AUTO_TEST_CASE(second_open_from_another_process_fails_at_once) {
  temp_dir tmp;
  auto st = open_ok(tmp.path);
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // A hang would end here by SIGALRM and show up as a failed child.
    ::alarm(10);
    auto other = new_log_store(tmp.path);
    int rc = 0;
    if (other)
      rc = 1;
    else if (!is(other.error(), errc::locked))
      rc = 2;
    else if (!contains(describe(other.error()), tmp.db()))
      rc = 3;
    ::_exit(rc);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status), "child died by signal "
                                             << WTERMSIG(status));
  // 1: opened, 2: not `locked`, 3: message without the path.
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

BOOST_AUTO_TEST_CASE(corrupted_row_is_reported_with_its_index) {
  temp_dir tmp;
  {
    auto st = open_ok(tmp.path);
    CHECK_OK(st->store_logs(make_entries(1, 10, 1)));
  }
  {
    raw_db raw{tmp.db()};
    raw.flip_data_byte(5, 7);
    raw.exec("UPDATE log SET term = term + 1 WHERE idx = 8");
  }
  auto st = open_ok(tmp.path);
  log_entry e;
  auto err = st->get_log(5, e);
  BOOST_TEST(is(err, errc::corrupt), describe(err));
  BOOST_TEST(contains(describe(err), tmp.db()), describe(err));
  BOOST_TEST(contains(describe(err), "log index 5:"), describe(err));
  BOOST_TEST(contains(describe(err), "checksum mismatch"), describe(err));
  BOOST_TEST_MESSAGE(describe(err));
  err = st->get_log(8, e);
  BOOST_TEST(is(err, errc::corrupt), describe(err));
  BOOST_TEST(contains(describe(err), "log index 8:"), describe(err));
  // The intact neighbours still read; a range over the bad row fails whole.
  CHECK_OK(st->get_log(4, e));
  BOOST_TEST((e == make_entry(4, 1)));
  std::vector<log_entry> out;
  err = st->get_range(1, 10, 1 << 20, out);
  BOOST_TEST(is(err, errc::corrupt), describe(err));
  BOOST_TEST(contains(describe(err), "log index 5:"), describe(err));
  BOOST_TEST(out.empty());
  CHECK_OK(st->get_range(1, 4, 1 << 20, out));
  BOOST_TEST(out.size() == 4u);
  // Overwriting the bad entry (as a leader's append would) heals it.
  CHECK_OK(st->store_log(make_entry(5, 2)));
  CHECK_OK(st->get_log(5, e));
  BOOST_TEST((e == make_entry(5, 2)));
}

// Every batch stores the commit index in the same transaction. The stable
// row is updated in place (an upsert): INSERT OR REPLACE would move it to a
// new rowid and so rewrite the key index's page too, one 4 KiB WAL page more
// per transaction. The rowid staying put is what shows it.
BOOST_AUTO_TEST_CASE(stable_rows_are_updated_in_place) {
  temp_dir tmp;
  auto rowid_and_value = [&](const char* key) {
    raw_db raw{tmp.db()};
    sqlite3_stmt* stmt = nullptr;
    BOOST_REQUIRE(sqlite3_prepare_v2(raw.db,
                                     "SELECT rowid, value FROM stable "
                                     "WHERE key = ?",
                                     -1, &stmt, nullptr)
                  == SQLITE_OK);
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    BOOST_REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    auto rowid = sqlite3_column_int64(stmt, 0);
    auto p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, 1));
    bytes value(p, p + sqlite3_column_bytes(stmt, 1));
    sqlite3_finalize(stmt);
    return std::make_pair(rowid, value);
  };
  {
    auto st = open_ok(tmp.path);
    CHECK_OK(st->store_logs_with_commit(make_entries(1, 1, 1), 1));
    CHECK_OK(st->set_uint64(stable_keys::current_term, 1));
  }
  auto commit_before = rowid_and_value(stable_keys::commit_index);
  auto term_before = rowid_and_value(stable_keys::current_term);
  {
    auto st = open_ok(tmp.path);
    for (index_t i = 2; i <= 5; ++i)
      CHECK_OK(st->store_logs_with_commit(make_entries(i, i, 1), i));
    CHECK_OK(st->set_uint64(stable_keys::current_term, 7));
    auto commit = st->stored_commit_index();
    BOOST_REQUIRE(commit);
    BOOST_TEST(*commit == 5u);
  }
  auto commit_after = rowid_and_value(stable_keys::commit_index);
  auto term_after = rowid_and_value(stable_keys::current_term);
  BOOST_TEST(commit_after.first == commit_before.first);
  BOOST_TEST(term_after.first == term_before.first);
  BOOST_TEST((commit_after.second != commit_before.second));
  BOOST_TEST((term_after.second != term_before.second));
}

BOOST_AUTO_TEST_CASE(truncated_database_is_corrupt) {
  temp_dir tmp;
  {
    auto st = open_ok(tmp.path);
    for (index_t i = 1; i <= 2000; i += 100)
      CHECK_OK(st->store_logs(make_entries(i, i + 99, 1, 1024)));
  }
  // The last close checkpointed everything into the database file.
  BOOST_REQUIRE(!fs::exists(tmp.db() + "-wal"));
  auto size = fs::file_size(tmp.db());
  BOOST_REQUIRE(size > 1000000u);
  fs::resize_file(tmp.db(), size / 2);
  caf::error err;
  if (auto st = new_log_store(tmp.path)) {
    std::vector<log_entry> out;
    err = (*st)->get_range(1, 2000, SIZE_MAX, out);
    BOOST_TEST(out.empty());
  } else {
    err = std::move(st.error());
  }
  BOOST_REQUIRE(err);
  BOOST_TEST(is(err, errc::corrupt), describe(err));
  BOOST_TEST(contains(describe(err), tmp.db()), describe(err));
  BOOST_TEST(contains(describe(err), "malformed"), describe(err));
  BOOST_TEST_MESSAGE(describe(err));
}

/// Fills a store at `dir` with 20,000 entries of 1 KiB, closes it, then
/// deletes all but the last 100 in slices (as the log writer compacts) and
/// closes it again; answers the file's size after each close.
std::pair<uintmax_t, uintmax_t> fill_and_compact(temp_dir& tmp) {
  {
    auto st = open_ok(tmp.path);
    for (index_t i = 1; i <= 20000; i += 100)
      CHECK_OK(st->store_logs(make_entries(i, i + 99, 1, 1024)));
  }
  auto full = fs::file_size(tmp.db());
  {
    auto st = open_ok(tmp.path);
    for (index_t i = 1; i <= 19900; i += 1000)
      CHECK_OK(st->delete_range(i, std::min<index_t>(i + 999, 19900)));
  }
  return {full, fs::file_size(tmp.db())};
}

BOOST_AUTO_TEST_CASE(compaction_gives_the_space_back) {
  temp_dir tmp;
  auto [full, compacted] = fill_and_compact(tmp);
  BOOST_TEST_MESSAGE("log file of 20,000 entries of 1 KiB: " << full
                     << " bytes; all but 100 compacted: " << compacted);
  BOOST_REQUIRE(full > 20000000u);
  BOOST_TEST(compacted < full / 10);
}

/// Bytes this process has handed to write(2) and its kin so far.
uintmax_t bytes_written() {
  std::ifstream io{"/proc/self/io"};
  std::string key;
  uintmax_t value = 0;
  while (io >> key >> value)
    if (key == "wchar:")
      return value;
  BOOST_FAIL("/proc/self/io has no wchar line");
  return 0;
}

// Debian's SQLite zeroes freed pages (SECURE_DELETE): a compaction would
// write as many bytes as it deletes, to the WAL and again at the checkpoint.
// The store turns that off; deleting 32 MiB writes a small fraction of it.
BOOST_AUTO_TEST_CASE(compaction_writes_a_fraction_of_what_it_deletes) {
  temp_dir tmp;
  {
    auto st = open_ok(tmp.path);
    for (index_t i = 1; i <= 2000; i += 100)
      CHECK_OK(st->store_logs(make_entries(i, i + 99, 1, 16 * 1024)));
  }
  auto st = open_ok(tmp.path);
  auto before = bytes_written();
  CHECK_OK(st->delete_range(1, 1990));
  auto written = bytes_written() - before;
  BOOST_TEST_MESSAGE("compacting 1,990 entries of 16 KiB wrote " << written
                     << " bytes");
  BOOST_TEST(written < 1990u * 16 * 1024 / 8);
  std::vector<log_entry> out;
  CHECK_OK(st->get_range(1991, 2000, SIZE_MAX, out));
  BOOST_TEST(out.size() == 10u);
}

BOOST_AUTO_TEST_CASE(an_older_file_is_converted_to_give_space_back) {
  temp_dir tmp;
  open_ok(tmp.path);
  {
    // A file as earlier builds made it: no auto_vacuum.
    sqlite3* db = nullptr;
    BOOST_REQUIRE(sqlite3_open(tmp.db().c_str(), &db) == SQLITE_OK);
    BOOST_REQUIRE(sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; VACUUM;",
                               nullptr, nullptr, nullptr)
                  == SQLITE_OK);
    sqlite3_close(db);
  }
  auto [full, compacted] = fill_and_compact(tmp);
  BOOST_REQUIRE(full > 20000000u);
  BOOST_TEST(compacted < full / 10);
}

BOOST_AUTO_TEST_CASE(garbage_file_is_not_a_database) {
  temp_dir tmp;
  {
    std::ofstream out{tmp.db(), std::ios::binary};
    uint32_t x = 12345;
    for (int i = 0; i < 8192; ++i) {
      x = x * 1103515245 + 12345;
      out.put(static_cast<char>(x >> 16));
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  auto err = open_fails(tmp.path);
  BOOST_TEST(seconds_since(t0) < 1.0);
  BOOST_TEST(is(err, errc::corrupt), describe(err));
  BOOST_TEST(contains(describe(err), tmp.db()), describe(err));
  BOOST_TEST(contains(describe(err), "not a database"), describe(err));
  BOOST_TEST_MESSAGE(describe(err));
  // The failed open released the lock: a repaired store opens.
  fs::remove(tmp.db());
  open_ok(tmp.path);
}

BOOST_AUTO_TEST_CASE(unknown_schema_version_is_refused) {
  temp_dir tmp;
  open_ok(tmp.path);
  raw_db{tmp.db()}.exec("PRAGMA user_version = 99");
  auto err = open_fails(tmp.path);
  BOOST_TEST(is(err, errc::unsupported), describe(err));
  BOOST_TEST(contains(describe(err), tmp.db()), describe(err));
  BOOST_TEST(contains(describe(err), "schema version 99"), describe(err));
  BOOST_TEST_MESSAGE(describe(err));
}

BOOST_AUTO_TEST_CASE(full_disk_fails_the_whole_batch) {
  temp_dir tmp;
  auto st = open_ok(tmp.path);
  auto before = make_entries(1, 100, 1);
  CHECK_OK(st->store_logs(before));
  CHECK_OK(st->set_uint64(stable_keys::current_term, 1));
  // SQLite never lowers the cap below the current size, so 1 means "now".
  auto cap = st->limit_pages_for_testing(1);
  BOOST_REQUIRE(cap);
  BOOST_TEST_MESSAGE("max_page_count " << *cap);
  // Small entries first so that some of the batch fits before the cap hits.
  auto batch = make_entries(101, 164, 2, 16);
  for (size_t i = 32; i < batch.size(); ++i)
    batch[i].data.resize(8192);
  auto err = st->store_logs(batch);
  BOOST_TEST(is(err, errc::storage_failure), describe(err));
  BOOST_TEST(contains(describe(err), tmp.db()), describe(err));
  BOOST_TEST(contains(describe(err), "disk full"), describe(err));
  BOOST_TEST_MESSAGE(describe(err));
  // Nothing of the batch is there and everything before it is intact.
  auto check_state = [&](sqlite_store& s) {
    auto last = s.last_index();
    BOOST_REQUIRE(last);
    BOOST_TEST(*last == 100u);
    log_entry e;
    BOOST_TEST(is(s.get_log(101, e), errc::log_not_found));
    std::vector<log_entry> out;
    CHECK_OK(s.get_range(1, 100, SIZE_MAX, out));
    BOOST_TEST((out == before));
    auto term = s.get_uint64(stable_keys::current_term);
    BOOST_REQUIRE(term);
    BOOST_TEST(*term == 1u);
  };
  check_state(*st);
  // The store keeps working once space is back (the cap ends with the
  // connection), and the failed batch left nothing behind on disk either.
  st.reset();
  st = open_ok(tmp.path);
  check_state(*st);
  CHECK_OK(st->store_logs(batch));
  auto last = st->last_index();
  BOOST_REQUIRE(last);
  BOOST_TEST(*last == 164u);
}

namespace {

constexpr index_t batch_size = 64;

/// The entry `k` (0-based) of batch `b`: the term and the first data bytes
/// carry the batch number so that the parent can tell whose row it reads.
log_entry batch_entry(uint64_t b, index_t k) {
  // Large enough that a commit writes ~35 WAL pages: a kill then often lands
  // in the middle of the WAL write, not only before it.
  auto x = make_entry(b * batch_size + k + 1, b + 1, 2048);
  for (int i = 0; i < 8; ++i)
    x.data[i] = static_cast<uint8_t>(b >> (8 * i));
  return x;
}

/// Child process: appends whole batches after whatever the store holds and
/// reports each commit with a byte on `fd`, until killed.
[[noreturn]] void write_batches_forever(const std::string& dir, int fd) {
  auto st = new_log_store(dir);
  if (!st)
    ::_exit(10);
  auto last = (*st)->last_index();
  if (!last || *last % batch_size != 0)
    ::_exit(11);
  char byte = 'x';
  if (::write(fd, &byte, 1) != 1)
    ::_exit(12);
  std::vector<log_entry> xs(batch_size);
  for (uint64_t b = *last / batch_size;; ++b) {
    for (index_t k = 0; k < batch_size; ++k)
      xs[k] = batch_entry(b, k);
    if ((*st)->store_logs(xs))
      ::_exit(13);
    if (::write(fd, &byte, 1) != 1)
      ::_exit(14);
  }
}

uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8)
         | p[3];
}

/// Counts the frames (a trailing partial one included) at the end of a WAL
/// file that no commit frame follows: a transaction cut off while writing.
size_t uncommitted_wal_frames(const std::string& wal) {
  std::ifstream in{wal, std::ios::binary};
  std::vector<uint8_t> buf{std::istreambuf_iterator<char>{in}, {}};
  if (buf.size() < 32)
    return 0;
  auto page_size = get_be32(buf.data() + 8);
  auto salt1 = get_be32(buf.data() + 16);
  auto salt2 = get_be32(buf.data() + 20);
  size_t pending = 0;
  for (size_t off = 32; off + 24 <= buf.size(); off += 24 + page_size) {
    auto frame = buf.data() + off;
    // Frames with other salts are left over from before a WAL restart.
    if (get_be32(frame + 8) != salt1 || get_be32(frame + 12) != salt2)
      break;
    if (off + 24 + page_size > buf.size())
      return pending + 1; // Killed between a frame's header and its page.
    pending = get_be32(frame + 4) != 0 ? 0 : pending + 1;
  }
  return pending;
}

} // namespace

BOOST_AUTO_TEST_CASE(kill_mid_batch_leaves_only_whole_batches) {
  temp_dir tmp;
  uint64_t acked = 0; // Batches whose commit a child reported.
  int commits_cut = 0; // Rounds where the kill hit inside a commit.
  for (int round = 0; round < 8; ++round) {
    // Watching the directory lets the parent see the child's WAL writes.
    int ino = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    BOOST_REQUIRE(ino >= 0);
    BOOST_REQUIRE(::inotify_add_watch(ino, tmp.path.c_str(), IN_MODIFY) >= 0);
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    auto pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      write_batches_forever(tmp.path, fds[1]);
    }
    ::close(fds[1]);
    // Wait for the start, then let the child commit a few batches.
    int wanted = 1 + 2 + round * 3;
    int got = 0;
    char buf;
    while (got < wanted && ::read(fds[0], &buf, 1) == 1)
      ++got;
    BOOST_REQUIRE_EQUAL(got, wanted);
    // Even rounds kill at once, while the child fills its next batch. Odd
    // rounds wait for the next write to the WAL, so the kill lands while the
    // child writes the commit's frames or waits for their fsync.
    bool in_commit = round % 2 == 1;
    if (in_commit) {
      alignas(inotify_event) char events[4096];
      while (::read(ino, events, sizeof(events)) > 0)
        ; // Drop the writes of the batches already acknowledged.
      for (bool wal_written = false; !wal_written;) {
        pollfd pfds[2] = {{ino, POLLIN, 0}, {fds[0], POLLIN, 0}};
        BOOST_REQUIRE(::poll(pfds, 2, -1) > 0);
        if (pfds[1].revents != 0) {
          // An acknowledgement (the wait began mid-commit) or the child died.
          if (::read(fds[0], &buf, 1) != 1)
            break;
          ++got;
        }
        auto n = ::read(ino, events, sizeof(events));
        for (ssize_t i = 0; i < n;) {
          auto ev = reinterpret_cast<inotify_event*>(events + i);
          if (ev->len > 0 && std::strcmp(ev->name, "logs-wal") == 0)
            wal_written = true;
          i += sizeof(inotify_event) + ev->len;
        }
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    ::close(fds[0]);
    ::close(ino);
    BOOST_REQUIRE_MESSAGE(WIFSIGNALED(status),
                          "child exited early with " << WEXITSTATUS(status));
    acked += got - 1;
    auto torn = uncommitted_wal_frames(tmp.db() + "-wal");
    // Reopening recovers the WAL: whole batches only, none acknowledged lost.
    auto st = open_ok(tmp.path);
    auto first = st->first_index();
    auto last = st->last_index();
    BOOST_REQUIRE(first && last);
    BOOST_TEST(*first == 1u);
    BOOST_TEST(*last % batch_size == 0u, "last index " << *last);
    BOOST_TEST(*last / batch_size >= acked);
    std::vector<log_entry> out;
    CHECK_OK(st->get_range(1, *last, SIZE_MAX, out));
    BOOST_REQUIRE_EQUAL(out.size(), *last);
    for (auto& e : out) {
      auto b = (e.index - 1) / batch_size;
      if (e != batch_entry(b, (e.index - 1) % batch_size)) {
        BOOST_ERROR("entry " << e.index << " does not belong to batch " << b);
        break;
      }
    }
    // Torn frames: the kill cut a commit's WAL write and recovery dropped
    // them. One batch more than acknowledged: all frames were written before
    // the kill (a process kill keeps the page cache), so the batch counts.
    if (torn > 0 || *last / batch_size > acked)
      ++commits_cut;
    BOOST_TEST_MESSAGE("round " << round << (in_commit ? " (in commit)" : "")
                                << ": " << *last / batch_size << " batches, "
                                << acked << " acknowledged, " << torn
                                << " torn WAL frames");
    acked = *last / batch_size;
  }
  // Only a warning: on a loaded machine the parent may wake too late.
  BOOST_TEST_MESSAGE(commits_cut << " of 8 rounds killed inside a commit");
  BOOST_TEST_WARN(commits_cut > 0);
}
