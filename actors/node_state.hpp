#pragma once

// The node actor's state and the steps its handlers are made of. One actor,
// split by concern so that each file reads at once: node.cpp (the
// behaviour and the flush), node_peers.cpp (its election and replicator
// actors), node_apply.cpp (the application pipeline), node_observe.cpp
// (observers, metrics and stats), node_snapshots.cpp (snapshots and
// restores) and node_start.cpp (loading and starting).
// Internal to the library; only the node's own files include it.

#include "caf-raft/actors/node.hpp"

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <optional>

#include <spdlog/spdlog.h>

#include "caf-raft/actors/election.hpp"
#include "caf-raft/actors/fsm_runner.hpp"
#include "caf-raft/actors/log_writer.hpp"
#include "caf-raft/actors/metrics.hpp"
#include "caf-raft/actors/mutation.hpp"
#include "caf-raft/actors/replicator.hpp"
#include "caf-raft/actors/restore_upload.hpp"
#include "caf-raft/actors/snapshot_manager.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/null_logger.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft::node_detail {

using apply_promise = caf::typed_response_promise<index_t, caf::message>;
using index_promise = caf::typed_response_promise<index_t>;

/// A client's request and the term of the entry it proposed.
template <class Promise>
struct awaiting_entry {
  term_t term;
  Promise promise;
};

struct node_state {
  static inline const char* name = "raft.node";

  node_options opts;
  std::unique_ptr<consensus> core;
  /// False until the state is loaded and the transport answered.
  bool started = false;
  log_writer_actor writer;
  fsm_runner_actor fsm;
  /// The snapshot manager; null without a snapshot store.
  snapshot_manager_actor snapshots;
  std::shared_ptr<spdlog::logger> log;

  // Durability pipeline: one write in flight, messages held until the
  // write that makes their state durable completes (persist before send).
  uint64_t write_seq = 0;
  uint64_t in_flight_seq = 0;
  /// The newest term the store holds (with this server's vote in it).
  term_t durable_term = 0;
  std::deque<std::pair<uint64_t, outgoing>> held;
  bool flush_scheduled = false;

  // Campaigns (§5.2): one election actor at a time, started once the write
  // holding the candidate's vote is durable. The epoch numbers them, so a
  // report of an earlier campaign is dropped.
  election_actor election;
  uint64_t campaign_epoch = 0;
  std::optional<std::pair<uint64_t, campaign>> held_campaign;

  // Replication (leader): one replicator per follower for this term,
  // started once the term is durable. The epoch numbers them, so a report
  // of a replicator the node no longer runs is dropped.
  struct running_replicator {
    replicator_actor handle;
    uint64_t epoch;
    /// The follower_view generation it serves.
    uint64_t generation;
    /// When the follower last answered it, or it started (for observers'
    /// failed heartbeats).
    caf::actor_clock::time_point heard_at;
  };
  std::map<std::string, running_replicator> replicators;
  uint64_t replicator_epoch = 0;
  term_t replicating_term = 0;
  /// What the replicators were handed: entries, commit index, read round.
  index_t handed_index = 0;
  index_t handed_commit = 0;
  uint64_t handed_round = 0;
  index_t handed_compaction = 0;

  // Application pipeline.
  index_t dispatched = 0;
  index_t applied = 0;
  /// Requests waiting for their own entry, keyed by its index; the term
  /// names the entry (§5.3: one entry per index and term), so an index that
  /// commits with another leader's entry fails the request instead.
  std::map<index_t, awaiting_entry<apply_promise>> applies;
  std::map<index_t, awaiting_entry<index_promise>> barriers;
  /// When each user restore in `barriers` was proposed (its metric).
  std::map<index_t, std::chrono::steady_clock::time_point> restores_started;
  std::vector<caf::typed_response_promise<bool>> transfers;
  /// Configuration changes waiting for the previous one to commit, in the
  /// order they came (HashiCorp queues them too).
  struct queued_change {
    configuration_change change;
    index_promise promise;
  };
  std::deque<queued_change> queued_changes;
  struct read_request {
    index_promise promise;
    bool verify_only;
  };
  std::map<uint64_t, read_request> reads;
  std::multimap<index_t, index_promise> reads_waiting_apply;
  uint64_t next_read_id = 0;

  // Snapshots (§7).
  index_t last_snapshot_index = 0;
  term_t last_snapshot_term = 0;
  bool snapshotting = false;
  std::vector<caf::typed_response_promise<snapshot_meta>> snapshot_waiters;
  /// A received snapshot is being restored into the FSM: nothing else may
  /// be applied meanwhile.
  bool installing = false;

  // Observability.
  /// Null without a registry; every report is guarded by it.
  raft_metrics* metrics = nullptr;
  /// Leader: when each not yet committed apply or barrier was proposed.
  std::deque<std::pair<index_t, std::chrono::steady_clock::time_point>>
    proposed_at;
  uint64_t lease_step_downs = 0;
  std::chrono::steady_clock::time_point snapshot_started;
  /// Observers and the kinds each wants (`observation_kind` bits).
  std::vector<std::pair<caf::actor, uint8_t>> observers;
  /// The latest configuration observers were told of: its index and ids.
  index_t observed_config_index = 0;
  std::set<std::string> observed_servers;
  /// Leader: whether an observer wants heartbeats, and the followers
  /// observers were told are silent (empty while none listens).
  bool heartbeats_observed = false;
  std::set<std::string> silent_peers;
  /// Told `(leader_atom, bool, term)` on every gain and loss of
  /// leadership (HashiCorp's LeaderCh).
  std::vector<caf::actor> leadership_subscribers;
  caf::actor_clock::time_point last_contact;
  bool ever_contacted = false;
  raft::role last_role = role::follower;
  term_t last_term = 0;
  std::string last_leader;
  /// The core's count of lease step-downs when last looked at: a rise says
  /// why a leader stepped down.
  uint64_t last_lease_step_downs = 0;
  // Whether the log said this server was removed (said once per removal).
  bool removal_logged = false;
};

using node_ptr = node_internal_actor::stateful_pointer<node_state>;

/// How many configuration changes may wait behind the one in progress; a
/// caller beyond that is refused, so a runaway client cannot grow the queue
/// without bound.
constexpr size_t max_queued_changes = 64;

/// Data one entry fetch of a replicator carries at most (once it holds an
/// entry): a lagging follower catches up in steps of this size.
constexpr size_t max_fetch_bytes = 8 * 1024 * 1024;

caf::error not_leader_error(const consensus& core);

void schedule_flush(node_ptr self);

/// Planted bugs 3 and 4 (actors/mutation.hpp): a message that must wait
/// for its write goes out at once.
bool sent_before_durable(const outgoing& m);

void transmit(node_ptr self, outgoing& m);

/// A request to the log writer or FSM runner failed. While shutting down
/// that is expected (they are stopped with requests in flight); otherwise
/// the node cannot go on without its storage or state machine.
void on_child_error(node_ptr self, caf::error& err);

void notify_state(node_ptr self);

void on_persisted(node_ptr self, uint64_t seq, index_t index, term_t term,
                  term_t hard_term);

/// Commit times of the leader's proposals and the index gauges.
void report_progress(node_ptr self);

void flush(node_ptr self);

stats_map make_stats(node_ptr self);

leader_info current_leader(node_ptr self);

/// Time since the leader was last heard from: zero on the leader itself,
/// negative if never.
caf::timespan contact_age(node_ptr self);

/// Registers an observer; it learns the current state at once.
void add_observer(node_ptr self, caf::actor observer, uint8_t kinds);

/// Tells observers of servers that joined or left the latest configuration.
void notify_peers(node_ptr self);

/// A failed-heartbeat observation of follower `peer`: how long ago it last
/// answered.
observation heartbeat_failure(node_ptr self, const std::string& peer);

/// Tells observers of followers that went silent or answer again.
void notify_heartbeats(node_ptr self);

/// Tells observers of a vote request.
void notify_vote_request(node_ptr self, const vote_request& x);

/// Subscribes to leadership gains and losses (HashiCorp's LeaderCh); the
/// subscriber learns the current one at once.
void add_leadership_subscriber(node_ptr self, caf::actor subscriber);

/// A vote answer: the core sees its term first, then the campaign's
/// election actor counts it.
void on_vote_response(node_ptr self, const vote_response& x);

/// Counts a refused or lost proposal in the metrics; returns `err`.
caf::error proposal_failed(node_ptr self, caf::error err);

/// Says once that this server was removed, and why it stays quiet.
void note_removal(node_ptr self);

/// An election actor's outcome, unless it ran for an earlier campaign.
void on_campaign_report(node_ptr self, term_t term, bool pre_vote,
                        uint64_t epoch, bool won);

/// A follower's answer: the core sees its term first, then the follower's
/// replicator gets it.
void on_append_response(node_ptr self, const append_response& x);

/// A replicator's report of its follower's progress, unless stale.
void on_replication_report(node_ptr self, const replication_report& r);

/// An InstallSnapshot answer: the core sees its term first, then the
/// snapshot manager streaming to that follower gets it.
void on_install_response(node_ptr self, const install_snapshot_response& x);

/// HashiCorp's Snapshot(): answers the snapshot's metadata once stored.
caf::result<snapshot_meta> request_snapshot(node_ptr self);

/// The snapshot manager's periodic check: a snapshot is due once
/// `snapshot_threshold` entries were applied since the last one.
void check_snapshot_due(node_ptr self);

/// Opens a streamed restore (leader only).
caf::result<caf::actor> open_restore_upload(node_ptr self);

/// Stops the running campaign, if any: the node moved on. A new epoch
/// fences off whatever the old election actor already sent.
void end_campaign(node_ptr self);

/// Hands a campaign to an election actor of its own, if this server is
/// still the candidate that started it.
void start_campaign(node_ptr self, campaign c);

/// A new campaign replaces the running one; it starts once the write with
/// the candidate's vote (`needed`) is durable (persist before send).
/// Planted bug 4 (actors/mutation.hpp) starts it at once.
void plan_campaign(node_ptr self, uint64_t needed, campaign c);

/// Stops every replicator: this server no longer leads in their term.
void stop_replicators(node_ptr self);

/// The leader's entries from `from` on, after the entry before it, as one
/// batch shared by every replicator; at most `max_count` entries.
caf::expected<entry_batch> entries_from(const consensus& core, index_t from,
                                        size_t max_count, size_t max_bytes);

/// A replicator's fetch of the leader's entries from `from` on: from memory
/// if they are there, else from the log store through the log writer (it
/// serves them in order with the writes, so everything durable is there).
caf::result<entry_batch> fetch_entries(node_ptr self, index_t from);

/// Starts the replicator of `peer`, handing it the entries from where its
/// replication starts up to the leader's last.
void start_replicator(node_ptr self, const std::string& peer,
                      const follower_view& f);

/// Hands every running replicator the entries appended since the last
/// hand-over (one batch they all share), the commit index, and the newest
/// read round.
void hand_over(node_ptr self);

/// Runs one replicator per follower of the leader's latest configuration
/// and hands them what is new: entries, the commit index, a read round.
/// Like every message of a term, they start only once the term is durable
/// (persist before send; seeds 6578, 54194, 19356, 75294).
void sync_replicators(node_ptr self);

/// The request's entry of `term` lost its index to another leader's entry:
/// the request did not take effect (HashiCorp's ErrLeadershipLost).
caf::error entry_replaced(const apply_result& r, term_t term);

void on_applied(node_ptr self, std::vector<apply_result>& results);

void dispatch_committed(node_ptr self);

void fail_uncommitted(node_ptr self, errc code);

/// Proposes the queued configuration changes one at a time: the next once
/// the previous one committed (thesis §4.1). Each is answered when its own
/// entry commits (as a barrier), or at once if refused.
void propose_queued_changes(node_ptr self);

/// A deposed leader never proposed its queued changes: they did not happen.
void fail_queued_changes(node_ptr self);

void finish_snapshot(node_ptr self, caf::expected<snapshot_meta> res);

/// Captures the FSM between two batches, persists the copy while later
/// entries apply, then compacts the log (HashiCorp's takeSnapshot).
void take_snapshot(node_ptr self);

/// Puts a stored snapshot into the FSM and makes it the log's base: for a
/// snapshot received from the leader (§7) and for a user restore.
void install_stored(node_ptr self, snapshot_meta meta,
                    std::function<void(caf::error)> done);

void on_snapshot_chunk(node_ptr self, const install_snapshot_request& chunk);

/// HashiCorp's Restore: every state machine takes the state of snapshot
/// `id` (from this node's store). The state travels as a restore entry, so
/// it commits like any other entry (§5.3): no server applies it before it
/// commits, and a leader deposed before that loses it with its other
/// uncommitted entries. Answered with the entry's index once applied here.
/// As with HashiCorp, this overrides replicated history: for disaster
/// recovery. This proposes the restore entry carrying `state` and answers
/// `rp` with its index once applied here.
void propose_restore(node_ptr self, index_promise rp, bytes state);

/// HashiCorp's Restore of snapshot `id` from this node's store.
caf::result<index_t> user_restore(node_ptr self, const std::string& id);

/// Builds the in-memory log from the stored entries and the snapshot the
/// FSM was restored to (index 0: none). Fails if they leave a gap.
caf::expected<raft_log> build_log(loaded_state& ls, const snapshot_meta& snap,
                                  bool& discard_stored);

void start_core(node_ptr self, loaded_state ls,
                const std::string& local_address, const snapshot_meta& snap,
                index_t fsm_applied);

void connect_transport(node_ptr self, loaded_state ls, snapshot_meta snap,
                       index_t fsm_applied);

/// Restores the newest snapshot that opens cleanly into the FSM before the
/// node takes part: a node never votes with an empty state it did not have.
void restore_on_start(node_ptr self, loaded_state ls);

/// The client requests (HashiCorp's Apply, Barrier, AddVoter and the other
/// membership changes, LeadershipTransfer, VerifyLeader and ReadIndex).
caf::result<index_t, caf::message> request_apply(node_ptr self, bytes& data);
caf::result<index_t> request_barrier(node_ptr self);
caf::result<index_t> request_change(node_ptr self,
                                    const configuration_change& change);
caf::result<bool> request_transfer(node_ptr self, const std::string& target);
/// A read point once a quorum confirmed the leadership; `verify_only`
/// answers then, without waiting for the FSM to catch up.
caf::result<index_t> request_read(node_ptr self, bool verify_only);
void fail_waiting_requests(node_ptr self);
/// HashiCorp's Shutdown: answers once the children are gone.
caf::result<bool> shut_down(node_ptr self);

/// Keeps `rp` until the entry just proposed at `idx` is applied. The entry
/// is named by its index and this term (§5.3): if another leader's entry
/// commits at that index, the request fails instead (on_applied).
template <class Promise>
void await_entry(node_ptr self,
                 std::map<index_t, awaiting_entry<Promise>>& waiting,
                 index_t idx, Promise rp) {
  waiting.emplace(idx,
                  awaiting_entry<Promise>{self->state.core->term(), rp});
  schedule_flush(self);
}

/// Proposes an entry and waits for it (`await_entry`): the one path by
/// which apply, barrier and restore are answered. Returns the index, or 0
/// after failing `rp` if the core refused (a leadership transfer).
template <class Promise>
index_t propose_and_await(node_ptr self, entry_type type, bytes data,
                          int64_t appended_at_ms,
                          std::map<index_t, awaiting_entry<Promise>>& waiting,
                          Promise rp) {
  auto idx = self->state.core->propose(type, std::move(data), appended_at_ms);
  if (idx == 0)
    rp.deliver(make_error(errc::leadership_transfer_in_progress));
  else
    await_entry(self, waiting, idx, rp);
  return idx;
}

} // namespace raft::node_detail
