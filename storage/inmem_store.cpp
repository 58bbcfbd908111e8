#include "caf-raft/storage/inmem_store.hpp"

#include <algorithm>

#include "caf-raft/config/errc.hpp"

namespace raft {

inmem_store::~inmem_store() = default;

caf::error inmem_store::injected_failure(const char* what) {
  if (fail_writes_ == 0)
    return caf::none;
  --fail_writes_;
  return make_error(errc::storage_failure,
                    std::string{"inmem store: "} + what
                      + ": disk full (injected failure)");
}

caf::expected<index_t> inmem_store::first_index() {
  std::lock_guard<std::mutex> guard{mtx_};
  return logs_.empty() ? index_t{0} : logs_.begin()->first;
}

caf::expected<index_t> inmem_store::last_index() {
  std::lock_guard<std::mutex> guard{mtx_};
  return logs_.empty() ? index_t{0} : logs_.rbegin()->first;
}

caf::error inmem_store::get_log(index_t index, log_entry& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = logs_.find(index);
  if (i == logs_.end())
    return make_error(errc::log_not_found);
  out = i->second;
  return caf::none;
}

caf::error inmem_store::get_range(index_t first, index_t last,
                                  size_t max_bytes,
                                  std::vector<log_entry>& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (first > last)
    return caf::none;
  auto old_size = out.size();
  size_t total = 0;
  auto i = logs_.find(first);
  for (auto expected = first;; ++expected) {
    if (i == logs_.end() || i->first != expected) {
      out.resize(old_size);
      return make_error(errc::log_not_found);
    }
    out.push_back(i->second);
    total += i->second.data.size();
    if (total >= max_bytes || expected == last)
      return caf::none;
    ++i;
  }
}

caf::error inmem_store::store_logs(const std::vector<log_entry>& entries) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto err = injected_failure("store logs"))
    return err;
  for (auto& entry : entries)
    logs_[entry.index] = entry;
  return caf::none;
}

caf::error
inmem_store::store_logs_with_commit(const std::vector<log_entry>& entries,
                                    index_t commit_index) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto err = injected_failure("store logs"))
    return err;
  for (auto& entry : entries)
    logs_[entry.index] = entry;
  commit_index_ = std::max(commit_index_, commit_index);
  return caf::none;
}

caf::expected<index_t> inmem_store::stored_commit_index() {
  std::lock_guard<std::mutex> guard{mtx_};
  return commit_index_;
}

caf::error inmem_store::delete_range(index_t min, index_t max) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto err = injected_failure("delete logs"))
    return err;
  if (min > max)
    return caf::none;
  auto first = logs_.lower_bound(min);
  auto last = logs_.upper_bound(max);
  logs_.erase(first, last);
  return caf::none;
}

caf::error inmem_store::set(const std::string& key, const bytes& value) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto err = injected_failure("set"))
    return err;
  kv_[key] = value;
  return caf::none;
}

caf::expected<bytes> inmem_store::get(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = kv_.find(key);
  if (i == kv_.end())
    return make_error(errc::not_found);
  return i->second;
}

caf::error inmem_store::set_uint64(const std::string& key, uint64_t value) {
  bytes buf(8);
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<uint8_t>(value);
    value >>= 8;
  }
  return set(key, buf);
}

caf::expected<uint64_t> inmem_store::get_uint64(const std::string& key) {
  auto buf = get(key);
  if (!buf)
    return std::move(buf.error());
  if (buf->size() != 8)
    return make_error(errc::corrupt, "inmem store: stable key " + key + ": "
                                       + std::to_string(buf->size())
                                       + " bytes, want an 8-byte uint64");
  uint64_t x = 0;
  for (auto b : *buf)
    x = (x << 8) | b;
  return x;
}

void inmem_store::fail_next_writes(size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  fail_writes_ = n;
}

size_t inmem_store::pending_failures() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return fail_writes_;
}

size_t inmem_store::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return logs_.size();
}

} // namespace raft
