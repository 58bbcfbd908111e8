#pragma once

#include <memory>
#include <mutex>

#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/stable_store.hpp"

namespace raft {

/// Puts a mutex around every call of a log + stable store (the original's
/// syncLogStore): the worker hands its log store to other workers (Juju's
/// raft-backstop appends to it) while the log writer uses it.
class synchronized_store : public log_store, public stable_store {
public:
  /// Wraps `log` and `stable`, which may be the same object.
  synchronized_store(std::shared_ptr<log_store> log,
                     std::shared_ptr<stable_store> stable);

  caf::expected<index_t> first_index() override;
  caf::expected<index_t> last_index() override;
  caf::error get_log(index_t index, log_entry& out) override;
  caf::error get_range(index_t first, index_t last, size_t max_bytes,
                       std::vector<log_entry>& out) override;
  caf::error store_logs(const std::vector<log_entry>& entries) override;
  caf::error delete_range(index_t min, index_t max) override;
  caf::error store_logs_with_commit(const std::vector<log_entry>& entries,
                                    index_t commit_index) override;
  caf::expected<index_t> stored_commit_index() override;
  std::chrono::nanoseconds last_sync_duration() const override;

  caf::error set(const std::string& key, const bytes& value) override;
  caf::expected<bytes> get(const std::string& key) override;
  caf::error set_uint64(const std::string& key, uint64_t value) override;
  caf::expected<uint64_t> get_uint64(const std::string& key) override;

  /// Drops the wrapped stores (closing them once nobody else holds them,
  /// as the original's Close); every later call fails with
  /// `worker_stopped`. Lets a worker release its files even while someone
  /// still holds the handle it gave out.
  void close();

private:
  /// The error of a call after `close`; requires `mtx_`.
  caf::error closed_error() const;

  mutable std::mutex mtx_;
  std::shared_ptr<log_store> log_;
  std::shared_ptr<stable_store> stable_;
};

} // namespace raft
