#pragma once

// Every message the caf-raft actors exchange, the one type-ID block that
// registers them, and the typed actor interfaces. Plain RPC structs live in
// protocol/rpc.hpp (the protocol core uses them without CAF) and their
// inspectors in inspect.hpp; everything actor-only lives here.

#include <any>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf-raft/actors/inspect.hpp"
#include "caf-raft/actors/protocol/consensus.hpp"
#include "caf-raft/actors/protocol/entry_window.hpp"
#include "caf-raft/actors/protocol/rpc.hpp"
#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_entry.hpp"
#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/fwd.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/replies_to.hpp"
#include "caf/type_id.hpp"
#include "caf/typed_actor.hpp"

namespace raft::fsm {
class snapshot;
} // namespace raft::fsm

namespace raft {

/// The durable state the log writer loads when a node starts.
struct loaded_state {
  term_t term = 0;
  std::string voted_for;
  std::vector<log_entry> entries;
  /// The commit index stored with the last batch (0 if none).
  index_t commit_index = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, loaded_state& x) {
  return f(caf::meta::type_name("loaded_state"), x.term, x.voted_for,
           x.entries, x.commit_index);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, persist_request& x) {
  return f(caf::meta::type_name("persist_request"), x.hard_state, x.term,
           x.voted_for, x.truncate_from, x.compact_through, x.entries,
           x.commit_index);
}

/// What the FSM runner answers for one applied entry.
struct apply_result {
  index_t index = 0;
  /// The entry's term: with the index it names the entry, so a request is
  /// answered only for the entry it created (an index alone may hold another
  /// leader's entry by the time it commits).
  term_t term = 0;
  /// The state machine's answer for commands; empty for other entries.
  caf::message response;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, apply_result& x) {
  return f(caf::meta::type_name("apply_result"), x.index, x.term,
           x.response);
}

/// Fault settings of the in-memory transport; probabilities in [0, 1].
struct fault_settings {
  double drop = 0;
  double duplicate = 0;
  /// Probability that a message is delayed by up to `max_delay` (which
  /// reorders it behind later ones).
  double delay = 0;
  std::chrono::milliseconds max_delay{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fault_settings& x) {
  return f(caf::meta::type_name("fault_settings"), x.drop, x.duplicate,
           x.delay, x.max_delay);
}

/// What an observation reports, and the bits of an observer's filter
/// (HashiCorp's observation types).
enum observation_kind : uint8_t {
  /// Role, term or leader changed (RaftState and LeaderObservation).
  observe_state = 1,
  /// A server joined or left the latest configuration (PeerObservation).
  observe_peer = 2,
  /// A vote or pre-vote request arrived (RequestVoteObservation).
  observe_vote_request = 4,
  /// Leader: a follower went silent for a lease period, or answered again
  /// (FailedHeartbeatObservation and ResumedHeartbeatObservation).
  observe_heartbeat = 8,
  observe_all = 15,
};

/// What observers of a node are told (HashiCorp's observations): the
/// node's state, and what happened (`kind`).
struct observation {
  std::string server;
  raft::role role = role::follower;
  term_t term = 0;
  std::string leader;
  uint8_t kind = observe_state;
  /// `observe_peer`: the server that joined or left; `observe_vote_request`:
  /// the candidate; `observe_heartbeat`: the follower.
  std::string peer;
  /// `observe_peer`: it left.
  bool removed = false;
  /// `observe_heartbeat`: it went silent (false: it answers again).
  bool failed = false;
  /// `observe_heartbeat`, failed: how long ago it last answered this
  /// leader (at least a lease period; since leadership began if never).
  caf::timespan last_contact{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, observation& x) {
  return f(caf::meta::type_name("observation"), x.server, x.role, x.term,
           x.leader, x.kind, x.peer, x.removed, x.failed, x.last_contact);
}

/// A leader as `leader` reports it: id and address, both empty if unknown.
struct leader_info {
  std::string id;
  std::string address;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leader_info& x) {
  return f(caf::meta::type_name("leader_info"), x.id, x.address);
}

using stats_map = std::map<std::string, std::string>;

/// A snapshot opened for reading, as the snapshot manager hands it out;
/// `reader` is null if there is no snapshot. Local only (holds a stream).
struct opened_snapshot {
  snapshot_meta meta;
  std::shared_ptr<snapshot_reader> reader;
};

/// A state machine's point-in-time copy, captured by the FSM runner at
/// `index` and persisted later by the snapshot manager. Local only.
struct captured_state {
  index_t index = 0;
  std::shared_ptr<fsm::snapshot> state;
};

/// The snapshot manager's answer to one InstallSnapshot chunk: the offset it
/// expects next, and the stored snapshot once the last chunk is in.
struct chunk_ack {
  uint64_t next_offset = 0;
  bool complete = false;
  snapshot_meta meta;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chunk_ack& x) {
  return f(caf::meta::type_name("chunk_ack"), x.next_offset, x.complete,
           x.meta);
}

/// A replicator's report to its node (replicator.cpp): what `follower`
/// answered in `term`. The node drops a report of another term, or of a
/// replicator it no longer runs for that follower (`epoch`).
struct replication_report {
  std::string follower;
  term_t term = 0;
  uint64_t epoch = 0;
  index_t match_index = 0;
  uint64_t acked_round = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replication_report& x) {
  return f(caf::meta::type_name("replication_report"), x.follower, x.term,
           x.epoch, x.match_index, x.acked_round);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        configuration_change& x) {
  return f(caf::meta::type_name("configuration_change"), x.kind, x.id,
           x.address, x.prev_index);
}

} // namespace raft

CAF_BEGIN_TYPE_ID_BLOCK(caf_raft, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(caf_raft, (raft::log_entry))
  CAF_ADD_TYPE_ID(caf_raft, (std::vector<raft::log_entry>))
  CAF_ADD_TYPE_ID(caf_raft, (raft::server))
  CAF_ADD_TYPE_ID(caf_raft, (raft::configuration))
  CAF_ADD_TYPE_ID(caf_raft, (raft::vote_request))
  CAF_ADD_TYPE_ID(caf_raft, (raft::vote_response))
  CAF_ADD_TYPE_ID(caf_raft, (raft::append_request))
  CAF_ADD_TYPE_ID(caf_raft, (raft::append_response))
  CAF_ADD_TYPE_ID(caf_raft, (raft::timeout_now))
  CAF_ADD_TYPE_ID(caf_raft, (raft::install_snapshot_request))
  CAF_ADD_TYPE_ID(caf_raft, (raft::install_snapshot_response))
  CAF_ADD_TYPE_ID(caf_raft, (raft::persist_request))
  CAF_ADD_TYPE_ID(caf_raft, (raft::loaded_state))
  CAF_ADD_TYPE_ID(caf_raft, (raft::apply_result))
  CAF_ADD_TYPE_ID(caf_raft, (std::vector<raft::apply_result>))
  CAF_ADD_TYPE_ID(caf_raft, (raft::fault_settings))
  CAF_ADD_TYPE_ID(caf_raft, (raft::observation))
  CAF_ADD_TYPE_ID(caf_raft, (raft::leader_info))
  CAF_ADD_TYPE_ID(caf_raft, (raft::stats_map))
  CAF_ADD_TYPE_ID(caf_raft, (raft::role))
  CAF_ADD_TYPE_ID(caf_raft, (raft::configuration_change))
  CAF_ADD_TYPE_ID(caf_raft, (raft::snapshot_meta))
  CAF_ADD_TYPE_ID(caf_raft, (raft::chunk_ack))
  CAF_ADD_TYPE_ID(caf_raft, (raft::replication_report))

  CAF_ADD_ATOM(caf_raft, raft, apply_atom, "apply")
  CAF_ADD_ATOM(caf_raft, raft, barrier_atom, "barrier")
  CAF_ADD_ATOM(caf_raft, raft, verify_atom, "verify")
  CAF_ADD_ATOM(caf_raft, raft, read_atom, "readindex")
  CAF_ADD_ATOM(caf_raft, raft, state_atom, "state")
  CAF_ADD_ATOM(caf_raft, raft, leader_atom, "leader")
  CAF_ADD_ATOM(caf_raft, raft, stats_atom, "stats")
  CAF_ADD_ATOM(caf_raft, raft, contact_atom, "contact")
  CAF_ADD_ATOM(caf_raft, raft, last_index_atom, "lastindex")
  CAF_ADD_ATOM(caf_raft, raft, applied_atom, "applied")
  CAF_ADD_ATOM(caf_raft, raft, commit_atom, "commit")
  CAF_ADD_ATOM(caf_raft, raft, get_config_atom, "getconfig")
  CAF_ADD_ATOM(caf_raft, raft, observe_atom, "observe")
  CAF_ADD_ATOM(caf_raft, raft, shutdown_atom, "shutdown")
  CAF_ADD_ATOM(caf_raft, raft, timer_atom, "timer")
  CAF_ADD_ATOM(caf_raft, raft, flush_atom, "flush")
  CAF_ADD_ATOM(caf_raft, raft, persist_atom, "persist")
  CAF_ADD_ATOM(caf_raft, raft, load_atom, "load")
  CAF_ADD_ATOM(caf_raft, raft, fsm_apply_atom, "fsmapply")
  CAF_ADD_ATOM(caf_raft, raft, connect_atom, "connect")
  CAF_ADD_ATOM(caf_raft, raft, disconnect_atom, "disconnect")
  CAF_ADD_ATOM(caf_raft, raft, rpc_atom, "rpc")
  CAF_ADD_ATOM(caf_raft, raft, fault_atom, "fault")
  CAF_ADD_ATOM(caf_raft, raft, partition_atom, "partition")
  CAF_ADD_ATOM(caf_raft, raft, heal_atom, "heal")
  CAF_ADD_ATOM(caf_raft, raft, raft_atom, "raft")
  CAF_ADD_ATOM(caf_raft, raft, log_store_atom, "logstore")
  CAF_ADD_ATOM(caf_raft, raft, wait_atom, "wait")
  CAF_ADD_ATOM(caf_raft, raft, start_atom, "start")
  CAF_ADD_ATOM(caf_raft, raft, report_atom, "report")
  CAF_ADD_ATOM(caf_raft, raft, check_atom, "check")
  CAF_ADD_ATOM(caf_raft, raft, open_atom, "open")
  CAF_ADD_ATOM(caf_raft, raft, start_timeout_atom, "starttmo")
  CAF_ADD_ATOM(caf_raft, raft, loop_atom, "loop")
  CAF_ADD_ATOM(caf_raft, raft, change_atom, "change")
  CAF_ADD_ATOM(caf_raft, raft, transfer_atom, "transfer")
  CAF_ADD_ATOM(caf_raft, raft, snapshot_atom, "snapshot")
  CAF_ADD_ATOM(caf_raft, raft, restore_atom, "restore")
  CAF_ADD_ATOM(caf_raft, raft, compact_atom, "compact")
  CAF_ADD_ATOM(caf_raft, raft, install_atom, "install")
  CAF_ADD_ATOM(caf_raft, raft, cancel_atom, "cancel")
  // The network transport (net_transport.cpp).
  CAF_ADD_ATOM(caf_raft, raft, net_hello_atom, "nethello")
  CAF_ADD_ATOM(caf_raft, raft, net_auth_atom, "netauth")
  CAF_ADD_ATOM(caf_raft, raft, net_rpc_atom, "netrpc")
  CAF_ADD_ATOM(caf_raft, raft, net_in_atom, "netin")
  CAF_ADD_ATOM(caf_raft, raft, net_ready_atom, "netready")
  CAF_ADD_ATOM(caf_raft, raft, net_fail_atom, "netfail")
  CAF_ADD_ATOM(caf_raft, raft, net_init_atom, "netinit")
  CAF_ADD_ATOM(caf_raft, raft, net_stats_atom, "netstats")
  CAF_ADD_ATOM(caf_raft, raft, net_accept_atom, "netaccept")

  // A restore streamed by the caller (restore_upload.cpp).
  CAF_ADD_ATOM(caf_raft, raft, upload_atom, "upload")
  // An election actor's report (election.cpp).
  CAF_ADD_ATOM(caf_raft, raft, election_atom, "election")
  // The node and its replicators (replicator.cpp).
  CAF_ADD_ATOM(caf_raft, raft, replicate_atom, "replicate")
  CAF_ADD_ATOM(caf_raft, raft, entries_atom, "entries")
  CAF_ADD_ATOM(caf_raft, raft, round_atom, "round")

CAF_END_TYPE_ID_BLOCK(caf_raft)

namespace raft {

/// A raft transport (HashiCorp's Transport): carries RPCs between nodes by
/// server id. The in-memory and the network transport answer it, and so
/// can a host's own.
using transport_actor = caf::typed_actor<
  // Registers a local node (which takes the RPC types) as `id`; answers
  // the address peers reach it at (HashiCorp's LocalAddr).
  caf::replies_to<connect_atom, std::string, caf::actor>::with<std::string>,
  caf::reacts_to<disconnect_atom, std::string>,
  // Delivers an RPC from one server to another, or drops it (Raft
  // retries): `(rpc_atom, from, to, message)`.
  caf::reacts_to<rpc_atom, std::string, std::string, caf::message>>;

/// The in-memory transport (inmem_transport.hpp) with its faults.
using inmem_transport_actor = transport_actor::extend<
  // Drop, duplicate and delay probabilities for every message.
  caf::reacts_to<fault_atom, fault_settings>,
  // A slow link: every message from -> to waits at least this long.
  caf::reacts_to<fault_atom, std::string, std::string, caf::timespan>,
  // Server `id` joins partition group `group` (different groups cannot
  // talk); `(partition_atom, from, to)` cuts one direction of one link.
  caf::reacts_to<partition_atom, std::string, int>,
  caf::reacts_to<partition_atom, std::string, std::string>,
  // Reconnects everyone and removes every slow link.
  caf::reacts_to<heal_atom>>;

/// The network transport (net_transport.hpp).
using net_transport_actor = transport_actor::extend<
  // Counters and the state of every link ("link.<id>").
  caf::replies_to<net_stats_atom>::with<stats_map>,
  // Internal, from its own gateway and connectors: the gateway and the
  // advertised address (once, at spawn); an incoming RPC
  // (from, to, message); a link that is ready (id, attempt, peer gateway,
  // session token); a peer that dialed us (id, gateway, token); an attempt
  // that failed (id, attempt, why).
  caf::reacts_to<net_init_atom, caf::actor, std::string>,
  caf::reacts_to<net_in_atom, std::string, std::string, caf::message>,
  caf::reacts_to<net_ready_atom, std::string, uint64_t, caf::actor,
                 std::string>,
  caf::reacts_to<net_accept_atom, std::string, caf::actor, std::string>,
  caf::reacts_to<net_fail_atom, std::string, uint64_t, std::string>>;

/// A node's snapshot manager (snapshot_manager.hpp), the only user of its
/// snapshot store.
using snapshot_manager_actor = caf::typed_actor<
  // The newest snapshot that opens cleanly (or one by id).
  caf::replies_to<open_atom>::with<opened_snapshot>,
  caf::replies_to<open_atom, std::string>::with<opened_snapshot>,
  // Writes captured FSM state as a snapshot described by the meta.
  caf::replies_to<persist_atom, snapshot_meta,
                  captured_state>::with<snapshot_meta>,
  // Snapshot `id`'s state for a user restore, at most `max_bytes`.
  caf::replies_to<restore_atom, std::string, uint64_t>::with<bytes>,
  // Leader side of InstallSnapshot (peer, leader term): answers the
  // snapshot's last index once the peer installed it.
  caf::replies_to<install_atom, std::string, term_t>::with<index_t>,
  caf::reacts_to<install_snapshot_response>,
  // Ends every outgoing transfer (leadership lost).
  caf::reacts_to<cancel_atom>,
  // Follower side: stores one chunk.
  caf::replies_to<install_snapshot_request>::with<chunk_ack>,
  // Internal: the periodic snapshot check and a transfer's resend timer
  // (peer, generation).
  caf::reacts_to<check_atom>,
  caf::reacts_to<timer_atom, std::string, uint64_t>>;

/// The election actor of one campaign (election.cpp): the node forwards it
/// the answers to its requests.
using election_actor = caf::typed_actor<caf::reacts_to<vote_response>>;

/// The log writer (log_writer.cpp): the only writer of a node's log and
/// stable store.
using log_writer_actor = caf::typed_actor<
  // The durable state, once, at start.
  caf::replies_to<load_atom>::with<loaded_state>,
  // Makes the request durable; answers its sequence number, in order.
  caf::replies_to<persist_atom, uint64_t, persist_request>::with<uint64_t>,
  // Entries from an index on (prev term, count, bytes), read back from the
  // store for a lagging follower.
  caf::replies_to<entries_atom, index_t, term_t, uint64_t,
                  uint64_t>::with<entry_batch>>;

/// The FSM runner (fsm_runner.cpp): the application's state machine and
/// the applied index.
using fsm_runner_actor = caf::typed_actor<
  // Applies committed entries in order, once each.
  caf::replies_to<fsm_apply_atom,
                  std::vector<log_entry>>::with<std::vector<apply_result>>,
  // Captures the state between two batches (persisted elsewhere).
  caf::replies_to<snapshot_atom>::with<captured_state>,
  // Restores a snapshot read from the store; answers its index.
  caf::replies_to<restore_atom, index_t, opened_snapshot>::with<index_t>>;

/// The no-leader watchdog (watchdog.cpp): its only message is its own
/// check timer; it tells the worker by quitting.
using watchdog_actor = caf::typed_actor<caf::reacts_to<check_atom>>;

/// The replicator of one follower in one leader term (replicator.cpp).
using replicator_actor = caf::typed_actor<
  // The leader appended these entries (shared, local only) and its commit
  // index is this.
  caf::reacts_to<replicate_atom, entry_batch, index_t>,
  // A read round (thesis §6.4): send a heartbeat carrying it now.
  caf::reacts_to<round_atom, uint64_t>,
  // The leader compacted its log through this index (§7).
  caf::reacts_to<compact_atom, index_t>,
  // The follower's answer, forwarded by the node once its term is checked.
  caf::reacts_to<append_response>,
  // Internal: the heartbeat, commit and snapshot-retry timers.
  caf::reacts_to<timer_atom, uint8_t>>;

/// One restore streamed in by a caller (HashiCorp's Restore from an
/// io.Reader), opened through the node's `(restore_atom, open_atom)`.
using restore_upload_actor = caf::typed_actor<
  // Appends `chunk` at `offset`; answers the next offset. A chunk at any
  // other offset is refused (naming the expected one), as is a state larger
  // than max_entry_size.
  caf::replies_to<upload_atom, uint64_t, bytes>::with<uint64_t>,
  // Ends the stream: checks its size and CRC-32C, then restores every FSM
  // to it as `(restore_atom, bytes)` does; answers the entry's index.
  caf::replies_to<upload_atom, commit_atom, uint64_t, uint32_t>::with<index_t>,
  // Internal: the idle timer (an abandoned upload frees its memory).
  caf::reacts_to<timer_atom, uint64_t>>;

/// The raft node's interface: what Go's *raft.Raft offers.
using node_actor = caf::typed_actor<
  // Commits `data` and applies it; answers with its index and the FSM's
  // response. Fails with not_leader (naming the leader), too_large,
  // leadership_lost (outcome unknown) or raft_shutdown.
  caf::replies_to<apply_atom, bytes>::with<index_t, caf::message>,
  // Resolves once every earlier entry has been applied.
  caf::replies_to<barrier_atom>::with<index_t>,
  // Resolves once a quorum confirmed this server is still the leader.
  caf::replies_to<verify_atom>::with<index_t>,
  // Linearizable read point (ReadIndex): resolves once the local FSM
  // reflects every write acknowledged before the request.
  caf::replies_to<read_atom>::with<index_t>,
  caf::replies_to<state_atom>::with<role>,
  caf::replies_to<leader_atom>::with<leader_info>,
  caf::replies_to<stats_atom>::with<stats_map>,
  // Time since the last leader contact; negative if never.
  caf::replies_to<contact_atom>::with<caf::timespan>,
  caf::replies_to<last_index_atom>::with<index_t>,
  caf::replies_to<applied_atom>::with<index_t>,
  caf::replies_to<commit_atom>::with<index_t>,
  // The latest configuration and its index.
  caf::replies_to<get_config_atom>::with<configuration, index_t>,
  // A membership change (add_voter, add_nonvoter, demote_voter,
  // remove_server): answers the configuration entry's index once committed.
  // A new voter joins as a non-voter and is promoted once caught up.
  caf::replies_to<change_atom, configuration_change>::with<index_t>,
  // Leadership transfer to the given voter ("" = most up to date): answers
  // true once leadership moved; fails with timeout after an election
  // timeout.
  caf::replies_to<transfer_atom, std::string>::with<bool>,
  // Takes a snapshot now (HashiCorp's Snapshot()); answers its metadata
  // (open it through the snapshot store by id). Fails with
  // nothing_new_to_snapshot if nothing was applied since the last one.
  caf::replies_to<snapshot_atom>::with<snapshot_meta>,
  // Restores every FSM to the snapshot with this id in the node's snapshot
  // store (HashiCorp's Restore, leader only): its state travels as a
  // restore entry (at most max_entry_size), which each server applies once
  // it commits; answers the entry's index once applied here.
  caf::replies_to<restore_atom, std::string>::with<index_t>,
  // The same with the state itself (the bytes an FSM's persist writes).
  caf::replies_to<restore_atom, bytes>::with<index_t>,
  // Opens a restore streamed in chunks: answers a `restore_upload_actor`
  // (as caf::actor, so it crosses the network). Leader only.
  caf::replies_to<restore_atom, open_atom>::with<caf::actor>,
  // Registers an observer actor for `observation`s; it gets the current
  // one at once.
  caf::reacts_to<observe_atom, caf::actor>,
  // The same with a filter, a mask of `observation_kind`s (HashiCorp's
  // RegisterObserver with a FilterFn); a filter of 0 deregisters the actor,
  // as an observer and as a leadership subscriber.
  caf::reacts_to<observe_atom, caf::actor, uint8_t>,
  // Subscribes an actor to leadership (HashiCorp's LeaderCh): it gets
  // `(leader_atom, bool leader, term_t term)` now and on every gain and
  // loss.
  caf::reacts_to<observe_atom, leader_atom, caf::actor>,
  caf::replies_to<shutdown_atom>::with<bool>,
  // RPCs from the transport.
  caf::reacts_to<vote_request>, caf::reacts_to<vote_response>,
  caf::reacts_to<append_request>, caf::reacts_to<append_response>,
  caf::reacts_to<timeout_now>, caf::reacts_to<install_snapshot_request>,
  caf::reacts_to<install_snapshot_response>>;

/// The node as its own actors see it: the public interface plus the
/// messages only they send. A host holds a `node_actor`, so it cannot send
/// these by mistake.
using node_internal_actor = node_actor::extend<
  // An election actor's outcome (term, pre-vote, epoch, won).
  caf::reacts_to<election_atom, term_t, bool, uint64_t, bool>,
  // A replicator's report, and its fetch of the leader's entries from an
  // index on (fails with log_not_found once they are compacted).
  caf::reacts_to<replication_report>,
  caf::replies_to<entries_atom, index_t>::with<entry_batch>,
  // Timers and batching; the snapshot manager's periodic check.
  caf::reacts_to<timer_atom, uint8_t, uint64_t>, caf::reacts_to<flush_atom>,
  caf::reacts_to<snapshot_atom, check_atom>>;

class synchronized_store;

/// The worker's log store as `log_store` hands it out: shared, and safe to
/// use from any thread (the original's syncLogStore).
using shared_log_store = std::shared_ptr<synchronized_store>;

/// The worker (the seed's Worker): the supervisor of one raft node.
using worker_actor = caf::typed_actor<
  // Answers once the raft loop runs; fails with start_timeout after
  // loop_timeout, or at once with the real cause of a start-up failure.
  caf::replies_to<start_atom>::with<bool>,
  // Worker.Raft(): the live node; worker_stopped after a kill, or the error
  // the worker failed with.
  caf::replies_to<raft_atom>::with<node_actor>,
  // Worker.LogStore(): the shared log store, with the same errors.
  caf::replies_to<log_store_atom>::with<shared_log_store>,
  // Worker.Wait(): answers true after a clean stop, fails with the error
  // the worker ended with otherwise.
  caf::replies_to<wait_atom>::with<bool>,
  // Worker.Report(): the operator's summary.
  caf::replies_to<report_atom>::with<stats_map>,
  // Internal: the start timer, and the node's "raft loop runs".
  caf::reacts_to<start_timeout_atom>, caf::reacts_to<loop_atom>>;

/// Registers caf-raft's message types and error category with a config.
void register_types(caf::actor_system_config& cfg);

} // namespace raft

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::shared_log_store)

namespace raft {

/// A plain resource handed to a running dependency engine (a clock, an
/// agent, a transport...): what `dependency_context::get` returns. Local
/// only (a std::any cannot cross the network).
struct engine_resource {
  std::any value;
};

} // namespace raft

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::engine_resource)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::opened_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::captured_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(raft::entry_batch)
