#include "caf-raft/actors/protocol/progress.hpp"

#include <algorithm>

#include "caf-raft/actors/protocol/rules.hpp"

namespace raft {

progress::progress(index_t next) : next_index(next) {
  // nop
}

void progress::on_success(index_t index) {
  match_index = std::max(match_index, index);
  while (!inflight.empty() && inflight.front() <= match_index)
    inflight.pop_front();
  if (!replicating) {
    // The logs match: switch from probing to pipelining.
    replicating = true;
    probe_sent = false;
    inflight.clear();
    next_index = match_index + 1;
  } else if (next_index <= match_index) {
    next_index = match_index + 1;
  }
}

bool progress::on_rejection(index_t index, index_t hint) {
  if (replicating) {
    // A rejection of a request older than what is known to match says
    // nothing new (it was overtaken by a later success).
    if (index <= match_index)
      return false;
  } else if (index + 1 != next_index) {
    return false; // not the answer to the probe in flight
  }
  // Fast back-off (rules::next_after_rejection), never to or below what
  // already matches.
  probe_from(rules::next_after_rejection(index, hint));
  return true;
}

void progress::on_sent(index_t last) {
  inflight.push_back(last);
  next_index = last + 1;
}

bool progress::on_tick() {
  if (replicating && !inflight.empty() && match_index == match_at_last_tick)
    probe_from(match_index + 1);
  match_at_last_tick = match_index;
  if (replicating)
    return false;
  // The previous probe or its answer may be lost: retry it.
  probe_sent = false;
  return true;
}

void progress::on_snapshot(index_t index) {
  contacted = true;
  match_index = std::max(match_index, index);
  probe_from(match_index + 1);
}

void progress::probe_from(index_t from) {
  replicating = false;
  probe_sent = false;
  inflight.clear();
  next_index = std::max(match_index + 1, from);
}

} // namespace raft
