// storage-bench: durable append rate of caf-raft's SQLite log store, shaped
// like the peer's sqlitebench (/work/shared/peers/limits/sqlitebench.c) so
// that the two can be compared line by line.
//
// For every combination of sync mode and batch size it stores batches of
// `--bytes`-byte entries through `sqlite_store::store_logs` for `--secs`
// seconds in a fresh temporary directory under `--dir`, and prints one
// key=value line: entries/s (rows_per_s), batches/s (txn_per_s) and the
// commit latency percentiles of `store_logs`.
//
//   storage-bench [--secs N] [--dir DIR] [--sync FULL[,NORMAL]]
//                 [--rows 1,64] [--bytes 128] [--max-rows N] [--commit]
//
// --commit stores the commit index in each batch's transaction
// (`store_logs_with_commit`), the shape of a node's writes.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <sqlite3.h>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

using namespace raft;

namespace {

struct options {
  double secs = 3;
  std::string dir = "/tmp";
  std::vector<sync_mode> modes{sync_mode::full};
  std::vector<long> rows{1, 64};
  long bytes = 128;
  long max_rows = 5000000;
  /// Stores the commit index with every batch, as a node's log writer does.
  bool commit = false;
};

[[noreturn]] void usage(const char* prog, const std::string& why) {
  if (!why.empty())
    std::fprintf(stderr, "%s: %s\n", prog, why.c_str());
  std::fprintf(stderr,
               "usage: %s [--secs N] [--dir DIR] [--sync FULL[,NORMAL]] "
               "[--rows 1,64] [--bytes 128] [--max-rows N] [--commit]\n",
               prog);
  std::exit(2);
}

std::vector<std::string> split(const std::string& str) {
  std::vector<std::string> result;
  std::stringstream in{str};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      result.push_back(item);
  return result;
}

long to_long(const char* prog, const std::string& str) {
  char* end = nullptr;
  auto x = std::strtol(str.c_str(), &end, 10);
  if (end == str.c_str() || *end != '\0' || x <= 0)
    usage(prog, "not a positive number: " + str);
  return x;
}

options parse(int argc, char** argv) {
  options opts;
  auto prog = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(prog, arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--secs") {
      opts.secs = std::atof(value().c_str());
      if (opts.secs <= 0)
        usage(prog, "--secs must be positive");
    } else if (arg == "--dir") {
      opts.dir = value();
    } else if (arg == "--sync") {
      opts.modes.clear();
      for (auto& x : split(value())) {
        if (x == "FULL" || x == "full")
          opts.modes.push_back(sync_mode::full);
        else if (x == "NORMAL" || x == "normal")
          opts.modes.push_back(sync_mode::normal);
        else
          usage(prog, "unknown sync mode " + x);
      }
    } else if (arg == "--rows") {
      opts.rows.clear();
      for (auto& x : split(value()))
        opts.rows.push_back(to_long(prog, x));
    } else if (arg == "--bytes") {
      opts.bytes = to_long(prog, value());
    } else if (arg == "--max-rows") {
      opts.max_rows = to_long(prog, value());
    } else if (arg == "--commit") {
      opts.commit = true;
    } else if (arg == "-h" || arg == "--help") {
      usage(prog, "");
    } else {
      usage(prog, "unknown option " + arg);
    }
  }
  if (opts.modes.empty() || opts.rows.empty())
    usage(prog, "nothing to run");
  return opts;
}

double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
         + ru.ru_stime.tv_usec / 1e6;
}

/// Runs one configuration; returns false after printing an error.
bool run(const options& opts, sync_mode mode, long rows_per_txn) {
  auto tmpl = opts.dir + "/caf-raft-storage-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(),
                 std::strerror(errno));
    return false;
  }
  std::string dir = buf.data();
  auto cleanup = [&] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  auto st = new_log_store(dir, mode);
  if (!st) {
    std::fprintf(stderr, "%s\n", describe(st.error()).c_str());
    cleanup();
    return false;
  }
  auto& store = **st;
  std::vector<log_entry> batch(rows_per_txn);
  for (auto& e : batch) {
    e.term = 1;
    e.type = entry_type::command;
    e.data.assign(opts.bytes, 'r');
  }
  std::vector<double> lat;
  lat.reserve(1 << 16);
  using clock = std::chrono::steady_clock;
  long rows = 0;
  index_t next = 1;
  auto c0 = cpu_seconds();
  auto start = clock::now();
  auto deadline = start + std::chrono::duration<double>(opts.secs);
  while (rows + rows_per_txn <= opts.max_rows) {
    auto now_ms = unix_millis_now();
    for (auto& e : batch) {
      e.index = next++;
      e.appended_at_ms = now_ms;
    }
    auto t0 = clock::now();
    if (t0 >= deadline)
      break;
    auto err = opts.commit ? store.store_logs_with_commit(batch, next - 1)
                           : store.store_logs(batch);
    if (err) {
      std::fprintf(stderr, "%s\n", describe(err).c_str());
      st->reset();
      cleanup();
      return false;
    }
    auto t1 = clock::now();
    lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    rows += rows_per_txn;
  }
  auto secs = std::chrono::duration<double>(clock::now() - start).count();
  auto cpu = cpu_seconds() - c0;
  st->reset();
  cleanup();
  std::sort(lat.begin(), lat.end());
  auto txns = static_cast<long>(lat.size());
  auto pct = [&](double q) {
    return txns > 0 ? lat[static_cast<size_t>(q * (txns - 1))] : 0.0;
  };
  std::printf("store=caf-raft-sqlite version=%s dir=%s journal=wal sync=%s "
              "commit=%d rows_per_txn=%ld row_bytes=%ld rows=%ld txns=%ld "
              "secs=%.3f rows_per_s=%.1f txn_per_s=%.1f p50_us=%.1f "
              "p99_us=%.1f max_us=%.1f cpu_us_per_txn=%.1f\n",
              sqlite3_libversion(), opts.dir.c_str(), to_string(mode),
              opts.commit ? 1 : 0, rows_per_txn, opts.bytes, rows, txns,
              secs, rows / secs,
              txns / secs, pct(0.50), pct(0.99), pct(1.0),
              txns > 0 ? cpu / txns * 1e6 : 0.0);
  std::fflush(stdout);
  return true;
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse(argc, argv);
  bool ok = true;
  for (auto mode : opts.modes)
    for (auto rows : opts.rows)
      ok = run(opts, mode, rows) && ok;
  return ok ? 0 : 1;
}
