#include "caf-raft/storage/synchronized_store.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft {

synchronized_store::synchronized_store(std::shared_ptr<log_store> log,
                                       std::shared_ptr<stable_store> stable)
  : log_(std::move(log)), stable_(std::move(stable)) {
  // nop
}

caf::expected<index_t> synchronized_store::first_index() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->first_index();
}

caf::expected<index_t> synchronized_store::last_index() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->last_index();
}

caf::error synchronized_store::get_log(index_t index, log_entry& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->get_log(index, out);
}

caf::error synchronized_store::get_range(index_t first, index_t last,
                                         size_t max_bytes,
                                         std::vector<log_entry>& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->get_range(first, last, max_bytes, out);
}

caf::error synchronized_store::store_logs(const std::vector<log_entry>& xs) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->store_logs(xs);
}

caf::error synchronized_store::delete_range(index_t min, index_t max) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->delete_range(min, max);
}

caf::error synchronized_store::set(const std::string& key,
                                   const bytes& value) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!stable_)
    return closed_error();
  return stable_->set(key, value);
}

caf::expected<bytes> synchronized_store::get(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!stable_)
    return closed_error();
  return stable_->get(key);
}

caf::error synchronized_store::set_uint64(const std::string& key,
                                          uint64_t value) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!stable_)
    return closed_error();
  return stable_->set_uint64(key, value);
}

caf::expected<uint64_t> synchronized_store::get_uint64(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!stable_)
    return closed_error();
  return stable_->get_uint64(key);
}

caf::error synchronized_store::store_logs_with_commit(
  const std::vector<log_entry>& xs, index_t commit_index) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->store_logs_with_commit(xs, commit_index);
}

caf::expected<index_t> synchronized_store::stored_commit_index() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!log_)
    return closed_error();
  return log_->stored_commit_index();
}

std::chrono::nanoseconds synchronized_store::last_sync_duration() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return log_ ? log_->last_sync_duration() : std::chrono::nanoseconds{0};
}

void synchronized_store::close() {
  std::lock_guard<std::mutex> guard{mtx_};
  log_.reset();
  stable_.reset();
}

caf::error synchronized_store::closed_error() const {
  return make_error(errc::worker_stopped,
                    "raft worker stopped: its log store is closed");
}

} // namespace raft
