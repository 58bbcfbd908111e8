#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"

/// Timestamps of a commit's stages, for raft-bench's per-stage breakdown
/// (issue 20): where between a client's request and its answer the time
/// goes. Off unless a process turns it on; then each stage point records
/// the entries it covers and the time (steady_clock, which is the same
/// clock in every process of a machine, so the stages of the leader and of
/// a follower line up). A branch on one relaxed atomic when off.
namespace raft::commit_trace {

/// A commit's stages in the order one passes them (§5.3: the leader
/// appends, replicates and commits once a majority holds the entry).
enum class stage : uint8_t {
  /// The client sent the request (raft-bench's load generator).
  requested,
  /// The leader's node appended the entry to its log.
  proposed,
  /// A log write holding the entries is durable (leader or follower).
  persisted,
  /// The leader's replicator handed an AppendEntries with them to the
  /// transport.
  sent,
  /// A follower's node got that AppendEntries.
  received,
  /// A follower handed its answer (match index) to the transport.
  answered,
  /// The leader's node got a follower's answer (match index).
  acknowledged,
  /// The leader's commit index passed them and they went to the FSM.
  committed,
  /// The node learned that its FSM applied them (the answer goes out).
  applied,
  /// The client got the answer (raft-bench's load generator).
  done,
};

constexpr size_t stage_count = static_cast<size_t>(stage::done) + 1;

/// The stage's name as raft-bench prints it.
const char* to_string(stage x);

/// One record: `stage` happened for the entries [first, last] at `ns`
/// (steady_clock nanoseconds).
struct record {
  stage what;
  index_t first;
  index_t last;
  int64_t ns;
};

/// Starts recording (forgetting earlier records), or stops with false.
void enable(bool on);

namespace detail {

/// Whether recording is on: read inline at every stage point.
inline std::atomic<bool> recording{false};

} // namespace detail

/// True while recording.
inline bool enabled() {
  return detail::recording.load(std::memory_order_relaxed);
}

/// Records `what` for [first, last] now, if recording.
void note(stage what, index_t first, index_t last);

/// Records `what` for [first, last] at `ns`, if recording.
void note_at(stage what, index_t first, index_t last, int64_t ns);

/// The records so far (and forgets them).
std::vector<record> take();

/// steady_clock now, in nanoseconds.
int64_t now_ns();

} // namespace raft::commit_trace
