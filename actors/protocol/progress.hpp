#pragma once

// The leader's view of one follower's log (etcd-raft's tracker.Progress),
// as plain C++: the flow control that decides what to send next. The
// consensus core keeps one per follower; test/protocol/progress_test.cpp
// checks the rules directly.

#include <cstddef>
#include <cstdint>
#include <deque>

#include "caf-raft/storage/log_entry.hpp"

namespace raft {

/// Replication progress of one follower. It starts by probing: one request
/// at a time, walking back after each rejection, until the logs match
/// (§5.3); then it pipelines up to a window of requests. A stall or a
/// rejection sends it back to probing from the last known match.
struct progress {
  /// The next entry to send.
  index_t next_index = 1;
  /// The highest entry known to match the leader's log (§5.3).
  index_t match_index = 0;
  /// Pipelining (true) or probing (false).
  bool replicating = false;
  /// Probing: a probe is in flight.
  bool probe_sent = false;
  /// Pipelining: the last index of each request in flight.
  std::deque<index_t> inflight;
  /// The match index at the previous heartbeat, to detect a stall.
  index_t match_at_last_tick = 0;
  /// The highest heartbeat round this follower echoed.
  uint64_t acked_round = 0;
  /// Heard from in the current lease period.
  bool contacted = false;
  /// The commit index last sent to this follower.
  index_t sent_commit = 0;

  progress() = default;

  /// A follower of a new leader: probing from after the leader's last
  /// entry (§5.3: the leader assumes the logs match until told otherwise).
  explicit progress(index_t next);

  /// The follower acknowledged everything up to `index`: the match moves
  /// (never back), requests it covers leave the window, and a probe that
  /// found the match turns into pipelining.
  void on_success(index_t index);

  /// The follower rejected the request whose previous entry was `index`,
  /// its log ending at `hint`. True if the rejection concerns the request
  /// to act on (then probe again from the new `next_index`); false for a
  /// late answer to an older request, which changes nothing.
  bool on_rejection(index_t index, index_t hint);

  /// Whether a probe may go out now; `force` resends one that may be lost.
  bool may_probe(bool force) const {
    return !replicating && (!probe_sent || force);
  }

  /// Whether the pipeline window holds fewer than `max_inflight` requests.
  bool window_open(size_t max_inflight) const {
    return inflight.size() < max_inflight;
  }

  /// A pipelined request ending at `last` went out.
  void on_sent(index_t last);

  /// A heartbeat tick. With requests outstanding and no progress for a
  /// whole tick, some were lost: back to probing from the last match.
  /// Returns true if a probe is due (probing, with the previous probe or
  /// its answer possibly lost).
  bool on_tick();

  /// The follower installed a snapshot ending at `index`: its log now
  /// starts there, so probe from after it.
  void on_snapshot(index_t index);

private:
  /// Back to probing from after the match, or from `from` if that is later.
  void probe_from(index_t from);
};

} // namespace raft
