#pragma once

// The simulator's disk: an in-memory store that can crash in the middle of
// a write and fail writes the way a real disk does.
//
// The stores' contract is that a write returns once it is durable (SQLite
// with synchronous=FULL syncs every transaction), so the only data a crash
// can lose is the write in progress, and what follows it in the same job.
// A crash armed here strikes during a write call: a prefix of that call
// survives (a torn batch), the call and every later one fail, and the
// fixture kills the node when the job ends, so nothing the node does after
// the failed call reaches anyone. A real SQLite transaction is atomic; the
// torn prefix is the harsher page-cache model (a log without transactions),
// which the node must survive all the same.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/inmem_store.hpp"

namespace raft::test {

/// How an injected storage fault reads (both are `storage_failure`).
enum class disk_fault { io_error, disk_full };

class sim_store : public inmem_store {
public:
  /// Lets `writes` more write calls through, then tears the next one and
  /// fails it and every later write; `tear_seed` picks how much survives.
  void crash_at_write(size_t writes, uint64_t tear_seed) {
    armed_ = true;
    writes_left_ = writes;
    tear_rng_.seed(tear_seed);
  }

  /// Makes the next `n` writes fail and change nothing (EIO or ENOSPC).
  void fault_next_writes(size_t n, disk_fault kind) {
    faults_left_ = n;
    fault_kind_ = kind;
  }

  /// Clears pending faults and any armed crash: the disk was replaced, or
  /// space was freed.
  void clear_faults() {
    faults_left_ = 0;
    armed_ = false;
  }

  /// A crash struck during a write; the process must die now.
  bool crashed() const {
    return crashed_;
  }

  /// Whether a crash is armed but has not struck.
  bool crash_armed() const {
    return armed_ && !crashed_;
  }

  /// The process restarts on what survived.
  void revive() {
    crashed_ = false;
    armed_ = false;
  }

  /// Writes that crashed with a strict prefix of their data stored.
  size_t torn_writes = 0;
  /// Writes that failed with an injected fault.
  size_t faults_fired = 0;

  caf::error store_logs(const std::vector<log_entry>& entries) override {
    if (auto err = gate("store logs", entries))
      return err;
    return inmem_store::store_logs(entries);
  }

  caf::error store_logs_with_commit(const std::vector<log_entry>& entries,
                                    index_t commit_index) override {
    if (auto err = gate("store logs", entries))
      return err;
    return inmem_store::store_logs_with_commit(entries, commit_index);
  }

  caf::error delete_range(index_t min, index_t max) override {
    if (auto err = gate_delete(min, max))
      return err;
    return inmem_store::delete_range(min, max);
  }

  caf::error set(const std::string& key, const bytes& value) override {
    // One key is one page: it is written whole or not at all.
    if (auto err = gate("set " + key, {}))
      return err;
    return inmem_store::set(key, value);
  }

private:
  /// Fails the call if the disk is dead or faulty; at the armed crash,
  /// stores a prefix of `entries` first.
  caf::error gate(const std::string& what,
                  const std::vector<log_entry>& entries) {
    if (auto err = common_gate(what))
      return err;
    if (!strikes_now())
      return caf::none;
    if (!entries.empty()) {
      auto keep = pick(entries.size()); // 0 .. size-1 entries survive
      if (keep > 0) {
        ++torn_writes;
        std::vector<log_entry> prefix(entries.begin(),
                                      entries.begin()
                                        + static_cast<ptrdiff_t>(keep));
        inmem_store::store_logs(prefix);
      }
    }
    return crash_error(what);
  }

  /// A torn deletion keeps the log contiguous: a suffix truncation loses
  /// its top entries first, a compaction its bottom ones.
  caf::error gate_delete(index_t min, index_t max) {
    if (auto err = common_gate("delete logs"))
      return err;
    if (!strikes_now())
      return caf::none;
    auto first = first_index();
    auto last = last_index();
    if (first && last && min <= max && max > min) {
      auto n = pick(max - min + 1);
      if (n > 0) {
        ++torn_writes;
        if (max >= *last)
          inmem_store::delete_range(max - n + 1, max);
        else if (min <= *first)
          inmem_store::delete_range(min, min + n - 1);
      }
    }
    return crash_error("delete logs");
  }

  caf::error common_gate(const std::string& what) {
    if (crashed_)
      return crash_error(what);
    if (faults_left_ > 0) {
      --faults_left_;
      ++faults_fired;
      return make_error(errc::storage_failure,
                        "sim store: " + what
                          + (fault_kind_ == disk_fault::disk_full
                               ? ": no space left on device (ENOSPC)"
                               : ": input/output error (EIO)"));
    }
    return caf::none;
  }

  /// Counts a write against the armed crash; true if it strikes now.
  bool strikes_now() {
    if (!armed_)
      return false;
    if (writes_left_ > 0) {
      --writes_left_;
      return false;
    }
    crashed_ = true;
    return true;
  }

  static caf::error crash_error(const std::string& what) {
    return make_error(errc::storage_failure,
                      "sim store: " + what + ": the process crashed");
  }

  size_t pick(size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(tear_rng_);
  }

  bool armed_ = false;
  bool crashed_ = false;
  size_t writes_left_ = 0;
  size_t faults_left_ = 0;
  disk_fault fault_kind_ = disk_fault::io_error;
  std::mt19937_64 tear_rng_;
};

} // namespace raft::test
