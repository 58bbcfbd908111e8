#include "caf-raft/actors/commit_trace.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <utility>

namespace raft::commit_trace {

namespace {

/// At most this many records are kept: a run at concurrency 1 makes a few
/// thousand commits a second, each about ten records.
constexpr size_t max_records = 4'000'000;

std::mutex records_mtx;
std::vector<record> records;

} // namespace

const char* to_string(stage x) {
  static constexpr const char* names[stage_count]
    = {"requested", "proposed", "persisted",    "sent",      "received",
       "answered",  "acknowledged", "committed", "applied", "done"};
  return names[static_cast<size_t>(x)];
}

void enable(bool on) {
  std::lock_guard<std::mutex> guard{records_mtx};
  records.clear();
  detail::recording.store(on, std::memory_order_relaxed);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

void note_at(stage what, index_t first, index_t last, int64_t ns) {
  if (!enabled() || last < first)
    return;
  std::lock_guard<std::mutex> guard{records_mtx};
  if (records.size() < max_records)
    records.push_back(record{what, first, last, ns});
}

void note(stage what, index_t first, index_t last) {
  if (enabled())
    note_at(what, first, last, now_ns());
}

std::vector<record> take() {
  std::lock_guard<std::mutex> guard{records_mtx};
  return std::exchange(records, {});
}

} // namespace raft::commit_trace
