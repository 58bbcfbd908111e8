#include "caf-raft/storage/log_store.hpp"

namespace raft {

log_store::~log_store() = default;

caf::error log_store::get_range(index_t first, index_t last, size_t max_bytes,
                                std::vector<log_entry>& out) {
  size_t total = 0;
  for (auto i = first; i <= last; ++i) {
    log_entry entry;
    if (auto err = get_log(i, entry))
      return err;
    total += entry.data.size();
    out.push_back(std::move(entry));
    if (total >= max_bytes)
      break;
  }
  return caf::none;
}

caf::error log_store::store_log(const log_entry& entry) {
  return store_logs(std::vector<log_entry>{entry});
}

caf::error log_store::store_logs_with_commit(
  const std::vector<log_entry>& entries, index_t) {
  return store_logs(entries);
}

std::chrono::nanoseconds log_store::last_sync_duration() const {
  return std::chrono::nanoseconds{0};
}

caf::expected<index_t> log_store::stored_commit_index() {
  return index_t{0};
}

} // namespace raft
