#pragma once

// The leader's replication to one follower in one term, as plain C++
// (HashiCorp's replication goroutine, etcd-raft's Progress with the sends
// that follow from it). The replicator actor hosts one; the consensus core
// never sees the follower's flow control, only the match index and
// heartbeat round the replicator reports (DESIGN.md §4).
//
// Inputs: new entries and the commit index from the node, the follower's
// answers, heartbeat ticks, read rounds, entries fetched for a lagging
// follower, the end of a snapshot send. Effects: AppendEntries to send, a
// report to make, entries to fetch, a snapshot to send, a commit timer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "caf-raft/actors/protocol/entry_window.hpp"
#include "caf-raft/actors/protocol/progress.hpp"
#include "caf-raft/actors/protocol/rpc.hpp"

namespace raft {

/// How a replicator batches and bounds its sends.
struct replication_settings {
  /// Requests in flight while pipelining (raft_config::max_inflight).
  size_t max_inflight = 16;
  /// Entries per AppendEntries (raft_config::max_append_entries).
  size_t max_append_entries = 64;
  /// Data per AppendEntries once it holds one entry.
  size_t max_append_bytes = 1024 * 1024;
  /// Data a replicator keeps of the entries it was handed; beyond it the
  /// oldest go and are fetched again if the follower still needs them.
  size_t max_window_bytes = SIZE_MAX;
};

/// What the host must do after an input.
struct replication_effects {
  std::vector<append_request> sends;
  /// Fetch the leader's entries from this index on (`on_fetched`).
  std::optional<index_t> fetch_from;
  /// The follower needs a snapshot: send one, then `on_snapshot_sent`.
  bool send_snapshot = false;
  /// The match index or acknowledged round moved, or the follower answered
  /// (the leader's lease counts it): report to the node.
  bool report = false;
  /// Arm the commit timer (`on_commit_timer`).
  bool arm_commit_timer = false;
};

/// Replication of the leader's log to one follower during one term.
class replication {
public:
  /// Starts probing (§5.3) with `first`: the entries from the follower's
  /// assumed next index on, after the leader's entry `first.prev_index`.
  replication(std::string leader, std::string leader_address,
              std::string follower, term_t term, replication_settings cfg,
              const entry_batch& first, index_t commit, uint64_t round);

  // -- inputs ----------------------------------------------------------------

  /// Asserts leadership at once (the first heartbeat or probe).
  void start();

  /// The leader appended `b` (which follows the entries handed so far) and
  /// its commit index is `commit`.
  void on_entries(const entry_batch& b, index_t commit);

  /// The follower's answer. Answers of another term say nothing about the
  /// leader's log now (§5.1) and are dropped.
  void on_response(const append_response& resp);

  /// The heartbeat timer: assert leadership, retry a stalled follower.
  void on_tick();

  /// A read round (thesis §6.4): a heartbeat carrying it goes out now.
  void on_round(uint64_t round);

  /// The commit timer: a follower that got nothing since the commit index
  /// moved learns it now (HashiCorp's CommitTimeout).
  void on_commit_timer();

  /// Entries fetched for `fetch_from` (possibly fewer than needed).
  void on_fetched(const entry_batch& b);

  /// The entries at `fetch_from` are compacted into a snapshot.
  void on_fetch_failed();

  /// The leader compacted its log through `index` (a snapshot covers it):
  /// the entries up to there are let go here too, so that a follower that
  /// needs them gets the snapshot (§7), as it would from the log.
  void on_log_compacted(index_t index);

  /// A snapshot up to `index` is installed on the follower (§7); index 0:
  /// the send failed and is retried when the follower next needs it.
  void on_snapshot_sent(index_t index);

  /// Collects the effects since the last call.
  replication_effects take();

  // -- queries ---------------------------------------------------------------

  const progress& state() const {
    return pr_;
  }

  uint64_t acked_round() const {
    return pr_.acked_round;
  }

  index_t commit_index() const {
    return commit_;
  }

  const std::string& follower() const {
    return follower_;
  }

  term_t term() const {
    return term_;
  }

  /// Entries held (handed by the node and fetched).
  size_t window_bytes() const {
    return window_.bytes() + fetched_.bytes();
  }

private:
  void send_append(bool force);
  void send_heartbeat();
  bool emit(index_t prev, std::vector<log_entry> entries);
  std::optional<term_t> term_at(index_t index) const;
  bool slice(index_t first, std::vector<log_entry>& out);
  bool need_entries(index_t index);
  void maybe_arm_commit_timer();
  append_request request() const;

  std::string leader_;
  std::string leader_address_;
  std::string follower_;
  term_t term_;
  replication_settings cfg_;
  progress pr_;
  index_t commit_;
  uint64_t round_;
  /// The entries the node handed over, up to the leader's last.
  entry_window window_;
  /// Older entries fetched for a lagging follower.
  entry_window fetched_;
  bool fetching_ = false;
  bool snapshotting_ = false;
  bool commit_timer_armed_ = false;
  replication_effects out_;
};

} // namespace raft
