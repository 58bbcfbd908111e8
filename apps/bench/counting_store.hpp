#pragma once

// Shared by the benchmark programs (apps/bench/raft_bench*.cpp); header-only
// because every apps/*.cpp becomes a program of its own.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf-raft/storage/stable_store.hpp"

namespace raft::bench {

/// Signals when a store is released (its SQLite database closed), so a
/// driver can remove a cluster's folder only after every node let go of it.
struct close_signal {
  std::mutex mtx;
  std::condition_variable cv;
  int open = 0;
};

/// Forwards to the SQLite store and counts the calls that write entries and
/// the entries they write (HashiCorp's StoreLogs counts in the peer: one
/// call is one transaction, so entries/calls is the group-commit size).
class counting_store : public log_store, public stable_store {
public:
  /// `sig` may be null.
  explicit counting_store(std::shared_ptr<sqlite_store> inner,
                          std::shared_ptr<close_signal> sig = nullptr)
    : inner_(std::move(inner)), sig_(std::move(sig)) {
    if (sig_) {
      std::lock_guard<std::mutex> guard{sig_->mtx};
      ++sig_->open;
    }
  }

  ~counting_store() override {
    inner_.reset(); // closes the database
    if (sig_) {
      std::lock_guard<std::mutex> guard{sig_->mtx};
      --sig_->open;
      sig_->cv.notify_all();
    }
  }

  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> entries{0};

  // -- log_store

  caf::expected<index_t> first_index() override {
    return inner_->first_index();
  }

  caf::expected<index_t> last_index() override {
    return inner_->last_index();
  }

  caf::error get_log(index_t index, log_entry& out) override {
    return inner_->get_log(index, out);
  }

  caf::error get_range(index_t first, index_t last, size_t max_bytes,
                       std::vector<log_entry>& out) override {
    return inner_->get_range(first, last, max_bytes, out);
  }

  caf::error store_log(const log_entry& entry) override {
    count(1);
    return inner_->store_log(entry);
  }

  caf::error store_logs(const std::vector<log_entry>& xs) override {
    count(xs.size());
    return inner_->store_logs(xs);
  }

  caf::error store_logs_with_commit(const std::vector<log_entry>& xs,
                                    index_t commit_index) override {
    count(xs.size());
    return inner_->store_logs_with_commit(xs, commit_index);
  }

  caf::expected<index_t> stored_commit_index() override {
    return inner_->stored_commit_index();
  }

  caf::error delete_range(index_t min, index_t max) override {
    return inner_->delete_range(min, max);
  }

  // -- stable_store

  caf::error set(const std::string& key, const bytes& value) override {
    return inner_->set(key, value);
  }

  caf::expected<bytes> get(const std::string& key) override {
    return inner_->get(key);
  }

  caf::error set_uint64(const std::string& key, uint64_t value) override {
    return inner_->set_uint64(key, value);
  }

  caf::expected<uint64_t> get_uint64(const std::string& key) override {
    return inner_->get_uint64(key);
  }

private:
  void count(size_t n) {
    calls.fetch_add(1, std::memory_order_relaxed);
    entries.fetch_add(n, std::memory_order_relaxed);
  }

  std::shared_ptr<sqlite_store> inner_;
  std::shared_ptr<close_signal> sig_;
};

} // namespace raft::bench
