#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"
#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/stable_store.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

/// The in-memory twin of `sqlite_store` (HashiCorp's InmemStore): the same
/// contract, kept in ordered maps, for tests and for nodes that may forget.
///
/// It is thread-safe, which the interface does not require, so that a test
/// can look at a store while the actor that owns it is running.
class inmem_store : public log_store, public stable_store {
public:
  inmem_store() = default;

  ~inmem_store() override;

  // -- log_store --------------------------------------------------------------

  caf::expected<index_t> first_index() override;

  caf::expected<index_t> last_index() override;

  caf::error get_log(index_t index, log_entry& out) override;

  /// Leaves `out` unchanged on error, like `sqlite_store::get_range`.
  caf::error get_range(index_t first, index_t last, size_t max_bytes,
                       std::vector<log_entry>& out) override;

  caf::error store_logs(const std::vector<log_entry>& entries) override;

  caf::error delete_range(index_t min, index_t max) override;

  caf::error store_logs_with_commit(const std::vector<log_entry>& entries,
                                    index_t commit_index) override;

  caf::expected<index_t> stored_commit_index() override;

  // -- stable_store -----------------------------------------------------------

  caf::error set(const std::string& key, const bytes& value) override;

  caf::expected<bytes> get(const std::string& key) override;

  caf::error set_uint64(const std::string& key, uint64_t value) override;

  /// Fails with `corrupt` if the stored value is not 8 bytes long.
  caf::expected<uint64_t> get_uint64(const std::string& key) override;

  // -- test hooks -------------------------------------------------------------

  /// Makes the next `n` writes (`store_logs`, `delete_range`, `set`,
  /// `set_uint64`) fail with `storage_failure` and change nothing, as a full
  /// disk would. Zero turns failures off again.
  void fail_next_writes(size_t n);

  /// How many injected failures are still pending.
  size_t pending_failures() const;

  /// How many entries the log holds.
  size_t size() const;

private:
  /// Consumes one pending failure, if any; requires `mtx_` to be held.
  caf::error injected_failure(const char* what);

  mutable std::mutex mtx_;
  std::map<index_t, log_entry> logs_;
  std::map<std::string, bytes> kv_;
  index_t commit_index_ = 0;
  size_t fail_writes_ = 0;
};

} // namespace raft
