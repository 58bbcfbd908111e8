#include "caf-raft/actors/protocol/raft_log.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace raft {

raft_log::raft_log(index_t snapshot_index, term_t snapshot_term)
  : snapshot_index_(snapshot_index),
    snapshot_term_(snapshot_term),
    evicted_through_(snapshot_index) {
  // nop
}

term_t raft_log::last_term() const {
  if (!entries_.empty())
    return entries_.back().term;
  return runs_.empty() ? snapshot_term_ : runs_.back().second;
}

std::optional<term_t> raft_log::term_at(index_t index) const {
  if (index == snapshot_index_)
    return snapshot_term_;
  if (index < snapshot_index_ || index > last_index())
    return std::nullopt;
  if (index > evicted_through_)
    return entries_[index - evicted_through_ - 1].term;
  // The run holding `index`: the last one starting at or before it.
  auto i = std::upper_bound(
    runs_.begin(), runs_.end(), index,
    [](index_t x, const std::pair<index_t, term_t>& r) { return x < r.first; });
  return std::prev(i)->second;
}

const log_entry& raft_log::at(index_t index) const {
  if (!resident(index))
    throw std::out_of_range("raft_log::at: index " + std::to_string(index)
                            + " not in memory");
  return entries_[index - evicted_through_ - 1];
}

void raft_log::append(log_entry entry) {
  if (entry.index != last_index() + 1)
    throw std::logic_error("raft_log::append: index "
                           + std::to_string(entry.index) + " after "
                           + std::to_string(last_index()) + " leaves a gap");
  bytes_ += entry.data.size();
  entries_.push_back(std::move(entry));
}

void raft_log::truncate_from(index_t index) {
  if (index <= snapshot_index_)
    throw std::logic_error("raft_log::truncate_from: index "
                           + std::to_string(index)
                           + " is covered by a snapshot");
  while (!entries_.empty() && last_index() >= index) {
    bytes_ -= entries_.back().data.size();
    entries_.pop_back();
  }
  if (index <= evicted_through_) {
    // Only committed entries are evicted, and those never conflict (§5.4);
    // planted bug 1 does this anyway.
    while (!runs_.empty() && runs_.back().first >= index)
      runs_.pop_back();
    evicted_through_ = index - 1;
  }
}

void raft_log::slice(index_t first, index_t last, size_t max_count,
                     size_t max_bytes, std::vector<log_entry>& out) const {
  size_t bytes_taken = 0;
  for (auto i = first; i <= last && i <= last_index() && max_count > 0;
       ++i, --max_count) {
    auto& e = at(i);
    if (bytes_taken > 0 && bytes_taken + e.data.size() > max_bytes)
      break;
    bytes_taken += e.data.size();
    out.push_back(e);
  }
}

void raft_log::compact(index_t index) {
  if (index <= snapshot_index_)
    return;
  auto t = term_at(index);
  if (!t)
    throw std::logic_error("raft_log::compact: index " + std::to_string(index)
                           + " not held");
  snapshot_term_ = *t;
  snapshot_index_ = index;
  if (index >= evicted_through_) {
    runs_.clear();
    while (evicted_through_ < index) {
      bytes_ -= entries_.front().data.size();
      entries_.pop_front();
      ++evicted_through_;
    }
    return;
  }
  // The evicted runs after the snapshot stay, the first starting after it.
  auto i = std::upper_bound(
    runs_.begin(), runs_.end(), index + 1,
    [](index_t x, const std::pair<index_t, term_t>& r) { return x < r.first; });
  auto keep = std::prev(i);
  keep->first = index + 1;
  runs_.erase(runs_.begin(), keep);
}

size_t raft_log::evict(index_t through, size_t keep_bytes) {
  size_t n = 0;
  through = std::min(through, last_index());
  while (evicted_through_ < through && memory() > keep_bytes) {
    auto& e = entries_.front();
    if (runs_.empty() || runs_.back().second != e.term)
      runs_.emplace_back(e.index, e.term);
    bytes_ -= e.data.size();
    entries_.pop_front();
    ++evicted_through_;
    ++n;
  }
  return n;
}

void raft_log::reset(index_t index, term_t term) {
  entries_.clear();
  runs_.clear();
  bytes_ = 0;
  snapshot_index_ = index;
  snapshot_term_ = term;
  evicted_through_ = index;
}

} // namespace raft
