#pragma once

// The Raft protocol as a deterministic state machine, in the style of
// etcd-raft: inputs in (RPCs, timer firings, proposals, durability
// acknowledgements), effects out (`ready`: what to persist, what to send,
// which timers to arm, how far the commit index moved). No clock, socket,
// thread or actor in here; the node actor executes the effects.
//
// Which decisions live here (DESIGN.md §4): a vote is only safe if it is
// decided against the same term and log the voter acknowledges appends from
// (§5.4.1 and the Leader Completeness proof, §5.4.3), so granting votes,
// accepting appends, the term, the log and the commit index have this one
// owner. A campaign decides nothing against the voter's log: the core only
// starts it (`ready::new_campaign`) and takes its outcome
// (`on_campaign_result`); an election actor sends the requests and counts
// the answers (`vote_tally`). Nor does the leader's replication to each
// follower: a replicator actor per follower (`replication`) sends the
// entries, heartbeats and snapshots and reports the follower's match index
// and heartbeat round (`on_replicated`). The core keeps what a majority
// decides: the commit index (§5.4.2), the lease, read rounds, promotions
// and leadership transfers.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "caf-raft/actors/protocol/raft_log.hpp"
#include "caf-raft/actors/protocol/rpc.hpp"
#include "caf-raft/config/raft_config.hpp"
#include "caf-raft/storage/configuration.hpp"

namespace raft {

/// A server's role (HashiCorp's RaftState).
enum class role : uint8_t { follower, candidate, leader, shutdown };

/// "Follower", "Candidate", "Leader" or "Shutdown".
const char* to_string(role x);

/// Prints `to_string(x)` (for test diagnostics and log lines).
std::ostream& operator<<(std::ostream& os, role x);

/// The timers the core asks its host to run.
enum class timer_kind : uint8_t {
  /// Follower: no leader heard; candidate: election took too long.
  election,
  /// Leader: check that a quorum was heard within the lease.
  lease,
  /// Leader: a leadership transfer took too long.
  transfer,
};

/// How many timer kinds there are.
constexpr size_t timer_kinds = 3;

/// What the leader knows of one follower: what its replicator reported
/// (the replicator keeps the flow control, `replication`).
struct follower_view {
  /// Where replication to it starts: after the leader's last entry when it
  /// became this leader's follower (§5.3: assume the logs match).
  index_t next_index = 1;
  /// The highest entry known to match the leader's log (§5.3).
  index_t match_index = 0;
  /// The highest heartbeat round it echoed (reads, thesis §6.4).
  uint64_t acked_round = 0;
  /// Heard from in the current lease period.
  bool contacted = false;
  /// Not heard from during the whole last lease period, and not since
  /// (HashiCorp's failed heartbeats, for observers).
  bool silent = false;
  /// New for every (re)addition, so that the replicator of an earlier
  /// membership of the same server is replaced, never reused.
  uint64_t generation = 0;
};

/// A timer to arm; when it fires, the host calls `on_timer` with the same
/// kind and generation. A newer request of the same kind supersedes it.
struct timer_request {
  timer_kind kind;
  uint64_t generation;
  std::chrono::milliseconds delay;
};

/// Any RPC the core sends or receives.
using rpc = std::variant<vote_request, vote_response, append_request,
                         append_response, timeout_now, install_snapshot_request,
                         install_snapshot_response>;

/// An RPC addressed to a server id.
struct outgoing {
  std::string to;
  raft::rpc msg;
};

/// A membership change (§6, one server at a time; HashiCorp's AddVoter,
/// AddNonvoter, DemoteVoter and RemoveServer).
enum class change_kind : uint8_t {
  add_voter,
  add_nonvoter,
  demote_voter,
  remove_server,
};

struct configuration_change {
  change_kind kind = change_kind::add_voter;
  std::string id;
  std::string address;
  /// If non-zero, the change applies only if the latest configuration is
  /// still the one at this index.
  index_t prev_index = 0;
};

/// The outcome of a request the core can refuse.
struct proposal {
  /// The index of the new entry; 0 if refused.
  index_t index = 0;
  /// Why it was refused.
  std::string refusal;
};

/// State that must be durable before the messages that depend on it leave.
struct persist_request {
  /// Set when term or vote changed.
  bool hard_state = false;
  term_t term = 0;
  std::string voted_for;
  /// Non-zero: delete stored entries from this index on first (§5.3).
  index_t truncate_from = 0;
  /// Non-zero: delete stored entries up to this index; a durable snapshot
  /// covers them (§7).
  index_t compact_through = 0;
  /// Entries to append after the deletions.
  std::vector<log_entry> entries;
  /// The commit index when the request was made, stored with the entries
  /// so a restarted server re-applies up to it.
  index_t commit_index = 0;

  bool empty() const {
    return !hard_state && truncate_from == 0 && compact_through == 0
           && entries.empty();
  }
};

/// Durable state loaded at start.
struct hard_state {
  term_t term = 0;
  std::string voted_for;
  /// The commit index stored with the log; committed by definition.
  index_t commit = 0;
};

/// A read that became safe: the leader confirmed its leadership after the
/// read arrived, so once applied >= `index` the local FSM reflects every
/// write acknowledged before the read (thesis §6.4).
struct read_result {
  uint64_t id;
  index_t index;
};

/// What the host must do after feeding the core an input.
/// A campaign for an election actor to run (§5.2; pre-vote, thesis §9.6):
/// the request to send to every voter but this server, and the voters whose
/// majority decides it. Like a vote, it starts only once `persist` is
/// durable (the candidate's vote for itself).
struct campaign {
  vote_request request;
  std::vector<std::string> voters;
};

struct ready {
  /// What to make durable; messages in `send_after_persist` wait for it.
  persist_request persist;
  /// Safe to send at once once the term is durable (the leader's
  /// TimeoutNow; its replicators send AppendEntries before its own write is
  /// durable too, §10.2.1 of the thesis).
  std::vector<outgoing> send_now;
  /// Must wait until `persist` (and every earlier one) is durable: votes and
  /// append acknowledgements.
  std::vector<outgoing> send_after_persist;
  std::vector<timer_request> timers;
  /// Reads that are now safe to serve, and reads that failed (not leader).
  std::vector<read_result> reads_ready;
  std::vector<uint64_t> reads_failed;
  /// Leadership transfers that ended: true if leadership moved.
  std::vector<bool> transfers_done;
  /// A campaign to run, after `persist`; it ends with `on_campaign_result`.
  std::optional<campaign> new_campaign;
  /// Set when role, term or leader changed (for observers and metrics).
  bool state_changed = false;
  /// Set when a valid leader was heard (AppendEntries/TimeoutNow of the
  /// current term), for last-contact tracking.
  bool leader_contact = false;
};

/// The Raft protocol for one server.
class consensus {
public:
  /// Restores a server from durable state: its term and vote, its log
  /// (entries after `log.snapshot_index()`), and the configuration as of the
  /// snapshot (the log's configuration entries override it).
  consensus(raft_config cfg, hard_state hs, raft_log log,
            configuration snapshot_config, index_t snapshot_config_index);

  // -- inputs ----------------------------------------------------------------

  /// Arms the first election timer. Call once.
  void start();

  /// The address the transport gave this server (HashiCorp's LocalAddr):
  /// sent with AppendEntries, and reported as the leader's while we lead.
  void set_local_address(std::string address) {
    local_address_ = std::move(address);
  }

  void handle(const vote_request& req);
  /// Only a newer term matters here (§5.1); the campaign's election actor
  /// counts the votes.
  void handle(const vote_response& resp);
  /// The outcome of the campaign for `term` (the term its requests carry)
  /// in the pre-vote or the vote phase. A stale one (another phase, another
  /// term, no longer a candidate) changes nothing.
  void on_campaign_result(term_t term, bool pre_vote, bool won);
  void handle(const append_request& req);
  /// Only a newer term matters here (§5.1); the follower's replicator reads
  /// the rest and reports it (`on_replicated`).
  void handle(const append_response& resp);

  /// Leader: `peer`'s replicator reports that the follower holds the
  /// leader's log up to `match` and echoed heartbeat round `acked_round`
  /// (both from answers of this term). Moves the commit index (§5.4.2),
  /// confirms reads, promotes caught-up servers, completes transfers. The
  /// host drops reports of another term or replicator first.
  void on_replicated(const std::string& peer, index_t match,
                     uint64_t acked_round);
  void handle(const timeout_now& req);

  /// An InstallSnapshot chunk (§7): checked like AppendEntries (term,
  /// leader). Returns true if it comes from this term's leader and the host
  /// should store it; answers a stale sender itself.
  bool handle(const install_snapshot_request& req);

  /// An answer to a chunk: only its term matters here (a newer term makes
  /// the leader step down); the host's snapshot sender reads the rest.
  void handle(const install_snapshot_response& resp);

  /// Answers the leader's chunk with the offset expected next, after
  /// anything the chunk changed (term, vote) is durable.
  void ack_snapshot_chunk(const install_snapshot_request& req,
                          uint64_t next_offset, bool success);

  /// A snapshot received from the leader (or restored by the user) is
  /// durable and in the FSM: it becomes the log's base (§7): if the log
  /// holds the snapshot's last entry, the entries after it stay; otherwise
  /// the whole log goes. Returns false (and changes nothing) if the log is
  /// already committed past it.
  bool install_snapshot(index_t index, term_t term, const configuration& cfg,
                        index_t cfg_index);

  /// A snapshot covering the log up to `snapshot_index` is durable: drop
  /// in-memory entries so that `trailing_logs` stay (HashiCorp's
  /// compactLogs); the store deletes them over the next writes, in slices
  /// of `compaction_slice`. Returns the new base index, 0 if nothing is
  /// dropped.
  index_t compact(index_t snapshot_index);

  /// Stored entries deleted per write at most. A compaction after a busy
  /// stretch can cover millions of entries; deleted in one transaction it
  /// holds up every acknowledgement behind it for about a second (measured:
  /// 1.3 million rows), and a leader whose followers go silent that long
  /// loses its lease. A slice takes a few milliseconds.
  static constexpr index_t compaction_slice = 8192;

  /// Drops entries up to `applied` (and no further than what is durable and
  /// committed) from memory until the log takes at most `keep_bytes`
  /// (raft_config::max_log_memory); the store still holds them.
  void evict(index_t applied, size_t keep_bytes) {
    log_.evict(std::min({applied, durable_index_, commit_index_}), keep_bytes);
  }

  /// The stored log is unusable after the snapshot the FSM was restored
  /// from (it lacks the snapshot's last entry): the next write deletes it,
  /// so that it never reappears behind the in-memory log.
  void discard_stored_log();

  /// The configuration in force at `index` (which must be no older than
  /// the log's base) and the index of its entry.
  std::pair<configuration, index_t> configuration_at(index_t index) const;

  /// Dispatches any RPC to the matching `handle`.
  void step(const raft::rpc& msg);

  /// A timer fired; stale generations are ignored.
  void on_timer(timer_kind kind, uint64_t generation);

  /// Appends a new entry on the leader; returns its index, or 0 if this
  /// server is not the leader or a leadership transfer is under way.
  /// `appended_at_ms` is informational only.
  index_t propose(entry_type type, bytes data, int64_t appended_at_ms);

  /// Appends a configuration entry for `change` (§6). Refused unless this is
  /// the leader, it has committed an entry of its term, the latest
  /// configuration is committed (one change at a time), and `prev_index`
  /// (if set) is still the latest configuration's index. A new voter joins
  /// as a non-voter and is promoted once it has caught up, so adding it
  /// never stalls commits (thesis §4.2.1).
  proposal change_configuration(const configuration_change& change);

  /// Starts a leadership transfer (thesis §3.10) to `target`, or to the
  /// most up-to-date voter if empty: refuses new proposals, brings the
  /// target up to date, then tells it to campaign. Fails (in `ready`) if
  /// leadership has not moved within an election timeout.
  proposal transfer_leadership(const std::string& target);

  /// Whether a leadership transfer is under way.
  bool transferring() const {
    return !transfer_target_.empty();
  }

  /// The entries up to `index` (whose term was `term` when written) are
  /// durable on this server.
  void on_persisted(index_t index, term_t term);

  /// Asks for a linearizable read point; answered through `ready` once a
  /// quorum confirmed this server is still the leader. Returns false if not
  /// the leader (the read fails at once).
  bool request_read(uint64_t id);

  /// Stops taking part; every later input is ignored.
  void shutdown();

  /// Collects the effects produced since the last call.
  /// `may_persist` false leaves unstable entries and hard state pending
  /// (a write is in flight; they go into the next one).
  ready take_ready(bool may_persist = true);

  // -- queries ---------------------------------------------------------------

  raft::role role() const {
    return role_;
  }

  term_t term() const {
    return term_;
  }

  const std::string& voted_for() const {
    return voted_for_;
  }

  const std::string& id() const {
    return cfg_.local_id;
  }

  /// The known leader's id, empty if none.
  const std::string& leader_id() const {
    return leader_id_;
  }

  /// The address the transport gave this server.
  const std::string& local_address() const {
    return local_address_;
  }

  /// The known leader's address from the configuration, empty if none.
  std::string leader_address() const;

  index_t commit_index() const {
    return commit_index_;
  }

  index_t last_index() const {
    return log_.last_index();
  }

  term_t last_term() const {
    return log_.last_term();
  }

  /// Entries up to here are durable on this server.
  index_t durable_index() const {
    return durable_index_;
  }

  const raft_log& log() const {
    return log_;
  }

  /// The newest configuration in the log, committed or not (§6: a server
  /// uses the latest configuration it has, whether committed or not).
  const configuration& latest_configuration() const {
    return configs_.back().second;
  }

  index_t latest_configuration_index() const {
    return configs_.back().first;
  }

  /// The newest committed configuration.
  const configuration& committed_configuration() const;

  /// Leader: every other server of the latest configuration.
  const std::map<std::string, follower_view>& followers() const {
    return followers_;
  }

  /// Leader: the newest read round (heartbeats carry it; thesis §6.4).
  uint64_t round() const {
    return round_;
  }

  const raft_config& settings() const {
    return cfg_;
  }

  /// Whether a leader of this term has committed an entry of its own term
  /// (needed before serving reads or accepting configuration changes).
  bool committed_in_term() const;

  /// Whether a configuration change must wait before it may be proposed:
  /// the leader has not committed in its term yet, or the previous change
  /// is not committed (thesis §4.1: one change at a time).
  bool configuration_change_waits() const {
    return !committed_in_term() || latest_configuration_index() > commit_index_;
  }

  /// True if entries or hard state wait to be handed to the log writer.
  bool has_pending_state() const;

  /// AppendEntries dropped because they failed validation.
  uint64_t bad_messages() const {
    return bad_messages_;
  }

  /// Whether a voter told this server that a committed configuration
  /// removed it; it does not campaign until a leader contacts it.
  bool removed() const {
    return removed_;
  }

  /// Times this server stepped down because its lease ran out.
  uint64_t lease_step_downs() const {
    return lease_step_downs_;
  }

private:
  // -- role changes ----------------------------------------------------------

  void become_follower(term_t term, const std::string& leader);
  void become_pre_candidate();
  void become_candidate(bool transfer);
  void become_leader();
  void set_term(term_t term);

  // -- leader ----------------------------------------------------------------

  void add_follower(const std::string& id);
  uint64_t quorum_value(uint64_t self_value,
                        uint64_t (*of)(const follower_view&)) const;
  void maybe_commit();
  void maybe_promote();
  void maybe_send_timeout_now();
  void end_transfer(bool moved);
  void check_reads();

  // -- the follower's steps of AppendEntries (§5.3) --------------------------

  /// Entries follow prev without gaps, no newer than the request's term,
  /// each within max_entry_size.
  bool well_formed(const append_request& req) const;
  /// Where the leader should retry if our log does not hold the request's
  /// prev entry with its term; none if it does.
  std::optional<index_t> mismatch_hint(const append_request& req) const;
  /// Appends what is new, deleting a conflicting suffix first.
  void append_new_entries(const append_request& req);
  /// Follows the leader's commit index as far as the request proves.
  void follow_commit(const append_request& req);

  // -- helpers ---------------------------------------------------------------

  void truncate_from(index_t index);
  void arm(timer_kind kind, std::chrono::milliseconds base, bool randomize);
  void send(const std::string& to, raft::rpc msg);
  bool is_voter(const std::string& id) const;

  /// A non-voter without a leader asks the voters, by pre-vote, whether it
  /// is still a member.
  void probe_membership();

  /// Tells `req`'s candidate, through `resp`, that our committed
  /// configuration does not hold it, and our commit point.
  void tell_if_removed(const vote_request& req, vote_response& resp) const;

  /// Whether `resp` proves that a committed configuration removed us.
  bool learn_removal(const vote_response& resp) const;
  std::vector<std::string> voters() const;
  void track_configuration(const log_entry& entry);
  void drop_configurations_from(index_t index);
  void fail_reads();

  raft_config cfg_;
  std::mt19937_64 rng_;
  raft::role role_ = role::follower;
  term_t term_;
  std::string voted_for_;
  std::string leader_id_;
  std::string local_address_;
  /// The current leader's transport address, from its AppendEntries.
  std::string leader_address_;
  raft_log log_;
  index_t commit_index_ = 0;
  index_t durable_index_;
  /// Entries from here on have not been handed to persistence yet.
  index_t unstable_from_;
  index_t pending_truncate_ = 0;
  /// Stored entries up to here are covered by a snapshot and may go.
  index_t pending_compact_ = 0;
  /// How far the store has been told to delete (see take_ready: in slices
  /// of `compaction_slice`).
  index_t store_compacted_;
  bool hard_state_dirty_ = false;
  /// (index, configuration) for the snapshot and every configuration entry
  /// after it, oldest first; never empty.
  std::vector<std::pair<index_t, configuration>> configs_;
  // Candidate state.
  bool pre_vote_phase_ = false;
  bool transfer_campaign_ = false;
  // Leader state.
  std::map<std::string, follower_view> followers_;
  uint64_t follower_generation_ = 0;
  uint64_t round_ = 0;
  struct pending_read {
    uint64_t id;
    /// The heartbeat round a quorum must acknowledge.
    uint64_t round;
  };
  std::deque<pending_read> reads_;
  bool need_broadcast_ = false;
  // Follower state.
  bool heard_leader_ = false;
  /// A voter told us a committed configuration removed us (vote_response).
  bool removed_ = false;
  // Counters.
  uint64_t bad_messages_ = 0;
  uint64_t lease_step_downs_ = 0;
  // Timers.
  uint64_t timer_gen_[timer_kinds] = {0, 0, 0};
  // Membership and transfer (leader).
  std::map<std::string, std::string> promotions_;
  std::string transfer_target_;
  bool timeout_now_sent_ = false;
  ready out_;
};

} // namespace raft
