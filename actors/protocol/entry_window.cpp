#include "caf-raft/actors/protocol/entry_window.hpp"

#include <stdexcept>
#include <string>

#include "caf-raft/actors/protocol/raft_log.hpp"

namespace raft {

namespace {

/// What a batch's entries take, as raft_log::memory counts it.
size_t data_bytes(const std::vector<log_entry>& xs) {
  size_t n = xs.size() * raft_log::entry_overhead;
  for (auto& x : xs)
    n += x.data.size();
  return n;
}

} // namespace

entry_batch make_entry_batch(index_t prev_index, term_t prev_term,
                             std::vector<log_entry> entries) {
  for (size_t k = 0; k < entries.size(); ++k)
    if (entries[k].index != prev_index + 1 + k)
      throw std::logic_error("raft: entry batch after "
                             + std::to_string(prev_index) + " has a gap at "
                             + std::to_string(entries[k].index));
  return entry_batch{
    prev_index, prev_term,
    std::make_shared<const std::vector<log_entry>>(std::move(entries))};
}

void entry_window::reset(index_t prev_index, term_t prev_term) {
  batches_.clear();
  prev_index_ = prev_index;
  prev_term_ = prev_term;
  last_index_ = prev_index;
  bytes_ = 0;
}

bool entry_window::append(const entry_batch& b) {
  if (b.prev_index != last_index_ || !b.entries || b.entries->empty())
    return false;
  // The first batch may start anywhere; later ones must fit the window's
  // last entry (the leader's log only grows in its term, §5.3).
  if (term_at(b.prev_index) != b.prev_term)
    return false;
  last_index_ = b.last_index();
  bytes_ += data_bytes(*b.entries);
  batches_.push_back(b);
  return true;
}

std::optional<term_t> entry_window::term_at(index_t index) const {
  if (index == prev_index_)
    return prev_term_;
  if (!holds(index))
    return std::nullopt;
  for (auto& b : batches_)
    if (index <= b.last_index())
      return (*b.entries)[index - b.prev_index - 1].term;
  return std::nullopt;
}

void entry_window::slice(index_t first, size_t max_count, size_t max_bytes,
                         std::vector<log_entry>& out) const {
  size_t bytes = 0;
  size_t taken = 0;
  for (auto& b : batches_) {
    if (b.last_index() < first)
      continue;
    for (auto k = first > b.prev_index ? first - b.prev_index - 1 : 0;
         k < b.entries->size(); ++k) {
      auto& e = (*b.entries)[k];
      if (taken == max_count || (taken > 0 && bytes + e.data.size() > max_bytes))
        return;
      bytes += e.data.size();
      ++taken;
      out.push_back(e);
    }
  }
}

void entry_window::drop_through(index_t index) {
  while (!batches_.empty() && batches_.front().last_index() <= index)
    pop_front();
}

void entry_window::shrink_to(size_t max_bytes) {
  while (batches_.size() > 1 && bytes_ > max_bytes)
    pop_front();
}

void entry_window::pop_front() {
  auto& b = batches_.front();
  prev_index_ = b.last_index();
  prev_term_ = b.entries->back().term;
  bytes_ -= data_bytes(*b.entries);
  batches_.pop_front();
}

} // namespace raft
