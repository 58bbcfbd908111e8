#pragma once

// The Raft RPCs as plain data (§5 of the Raft paper, Figure 2, plus pre-vote
// and TimeoutNow from Ongaro's thesis §9.6 and §3.10). Kept free of actor
// machinery so the protocol core (consensus.hpp) stays pure; messages.hpp
// registers them with CAF. Every RPC carries the sender's term and id.

#include <cstdint>
#include <string>
#include <vector>

#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_entry.hpp"

namespace raft {

/// RequestVote and RequestPreVote (§5.2; thesis §9.6).
struct vote_request {
  term_t term = 0;
  std::string candidate;
  index_t last_log_index = 0;
  term_t last_log_term = 0;
  /// A pre-vote asks "would you vote for me at `term`?" without changing
  /// anyone's state.
  bool pre_vote = false;
  /// Set when the leader asked the candidate to campaign (TimeoutNow), which
  /// overrides leader stickiness.
  bool leadership_transfer = false;
};


/// The answer to a `vote_request`.
struct vote_response {
  term_t term = 0;
  std::string from;
  bool granted = false;
  bool pre_vote = false;
  /// The voter's committed configuration does not hold the candidate. The
  /// candidate may have been removed (§6) without hearing of it: a leader
  /// stops replicating to a server once it appends the configuration that
  /// drops it. With the voter's commit point, the candidate can tell
  /// (`consensus::learn_removal`); a removed one stops campaigning until a
  /// leader contacts it.
  bool removed = false;
  index_t commit_index = 0;
  term_t commit_term = 0;
};


/// AppendEntries (§5.3), also the heartbeat.
struct append_request {
  term_t term = 0;
  std::string leader;
  /// The leader's transport address (HashiCorp's RPCHeader.Addr): what
  /// followers report as the leader's address, which may differ from the
  /// one in the configuration (Juju's bootstrap writes "localhost").
  std::string leader_address;
  index_t prev_log_index = 0;
  term_t prev_log_term = 0;
  std::vector<log_entry> entries;
  index_t leader_commit = 0;
  /// The leader's heartbeat round; echoed back so the leader can tell that
  /// a quorum heard it after a given moment (leases, ReadIndex).
  uint64_t round = 0;
};


/// The answer to an `append_request`.
struct append_response {
  term_t term = 0;
  std::string from;
  bool success = false;
  /// On success: the last index known to match the leader's log. On failure:
  /// the request's prev_log_index, so the leader can drop stale rejections.
  index_t index = 0;
  /// On failure: the highest index the follower may still share with the
  /// leader (fast back-off, thesis §5.3): its last index, or the entry
  /// before the first of a conflicting term.
  index_t hint = 0;
  uint64_t round = 0;
};


/// TimeoutNow (thesis §3.10): the leader asks a caught-up voter to campaign
/// at once, for a leadership transfer.
struct timeout_now {
  term_t term = 0;
  std::string leader;
};


/// InstallSnapshot (§7), sent in bounded chunks rather than one message:
/// chunk `offset` of a snapshot of `size` bytes whose last entry is
/// (`last_index`, `last_term`). The follower acknowledges each chunk; a new
/// snapshot (another id) or offset 0 restarts the transfer.
struct install_snapshot_request {
  term_t term = 0;
  std::string leader;
  std::string snapshot_id;
  index_t last_index = 0;
  term_t last_term = 0;
  raft::configuration configuration;
  index_t configuration_index = 0;
  uint64_t size = 0;
  uint64_t crc = 0;
  uint64_t offset = 0;
  bytes data;
  bool done = false;
};


/// The answer to one chunk: the offset the follower expects next (so a
/// lost chunk is resent from there), or `success` once installed.
struct install_snapshot_response {
  term_t term = 0;
  std::string from;
  std::string snapshot_id;
  uint64_t next_offset = 0;
  bool success = false;
};


} // namespace raft
