#include "actors/protocol/raft_log.hpp"

#include <cassert>
#include <stdexcept>

namespace raft {

raft_log::raft_log(index_t snapshot_index, term_t snapshot_term)
  : snapshot_index_(snapshot_index), snapshot_term_(snapshot_term) {
  // nop
}

term_t raft_log::last_term() const {
  return entries_.empty() ? snapshot_term_ : entries_.back().term;
}

std::optional<term_t> raft_log::term_at(index_t index) const {
  if (index == snapshot_index_)
    return snapshot_term_;
  if (index < snapshot_index_ || index > last_index())
    return std::nullopt;
  return entries_[index - snapshot_index_ - 1].term;
}

const log_entry& raft_log::at(index_t index) const {
  if (index <= snapshot_index_ || index > last_index())
    throw std::out_of_range("raft_log::at: index " + std::to_string(index)
                            + " not held");
  return entries_[index - snapshot_index_ - 1];
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
  while (last_index() >= index) {
    bytes_ -= entries_.back().data.size();
    entries_.pop_back();
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
  while (snapshot_index_ < index) {
    bytes_ -= entries_.front().data.size();
    entries_.pop_front();
    ++snapshot_index_;
  }
}

void raft_log::reset(index_t index, term_t term) {
  entries_.clear();
  bytes_ = 0;
  snapshot_index_ = index;
  snapshot_term_ = term;
}

} // namespace raft
