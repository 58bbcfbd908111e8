#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/commit_trace.hpp"

#include "caf-raft/actors/node_state.hpp"

namespace raft {

namespace node_detail {

caf::error not_leader_error(const consensus& core) {
  std::string text = "node is not the leader";
  if (core.leader_id().empty())
    text += "; no leader is known yet";
  else
    text += "; the leader is " + core.leader_id() + " at "
            + core.leader_address();
  return make_error(errc::not_leader, std::move(text));
}

void schedule_flush(node_ptr self) {
  auto& st = self->state;
  if (!st.flush_scheduled) {
    // Everything already in the mailbox is handled before the flush, so
    // concurrent applies share one write and one AppendEntries (group
    // commit).
    st.flush_scheduled = true;
    self->send(self, flush_atom_v);
  }
}

/// Planted bugs 3 and 4 (actors/mutation.hpp): a message that must wait
/// for its write goes out at once.
bool sent_before_durable(const outgoing& m) {
  if (mutant(mutation::ack_before_durable))
    return std::holds_alternative<append_response>(m.msg);
  if (mutant(mutation::vote_before_durable))
    return std::holds_alternative<vote_response>(m.msg);
  return false;
}

void transmit(node_ptr self, outgoing& m) {
  auto& st = self->state;
  if (commit_trace::enabled())
    if (auto r = std::get_if<append_response>(&m.msg); r && r->success)
      commit_trace::note(commit_trace::stage::answered, r->index, r->index);
  auto msg = std::visit([](auto& x) { return caf::make_message(std::move(x)); },
                        m.msg);
  caf::anon_send(st.opts.transport, rpc_atom_v, st.core->id(), std::move(m.to),
             std::move(msg));
}

/// A request to the log writer or FSM runner failed. While shutting down
/// that is expected (they are stopped with requests in flight); otherwise
/// the node cannot go on without its storage or state machine.
void on_child_error(node_ptr self, caf::error& err) {
  if (self->state.core->role() == role::shutdown)
    return;
  self->state.log->error("{}: {}", self->state.core->id(), describe(err));
  self->quit(err);
}


void on_persisted(node_ptr self, uint64_t seq, index_t index, term_t term,
                  term_t hard_term) {
  auto& st = self->state;
  st.in_flight_seq = 0;
  st.durable_term = std::max(st.durable_term, hard_term);
  if (index != 0)
    st.core->on_persisted(index, term);
  while (!st.held.empty() && st.held.front().first <= seq) {
    transmit(self, st.held.front().second);
    st.held.pop_front();
  }
  if (st.held_campaign && st.held_campaign->first <= seq) {
    auto c = std::move(st.held_campaign->second);
    st.held_campaign.reset();
    start_campaign(self, std::move(c));
  }
  schedule_flush(self);
}

/// Hands what the core wants durable to the log writer (one write in
/// flight; the next takes everything that came meanwhile).
void start_write(node_ptr self, persist_request req) {
  auto& st = self->state;
  auto seq = ++st.write_seq;
  st.in_flight_seq = seq;
  index_t first = 0;
  index_t idx = 0;
  term_t term = 0;
  term_t hard_term = req.hard_state ? req.term : 0;
  if (!req.entries.empty()) {
    first = req.entries.front().index;
    idx = req.entries.back().index;
    term = req.entries.back().term;
  }
  self->request(st.writer, caf::infinite, persist_atom_v, seq, std::move(req))
    .then(
      [self, first, idx, term, hard_term](uint64_t done) {
        if (idx != 0) // a write of the term or vote alone holds no entry
          commit_trace::note(commit_trace::stage::persisted, first, idx);
        on_persisted(self, done, idx, term, hard_term);
      },
      [self](caf::error& err) { on_child_error(self, err); });
}

/// Sends the core's messages, or holds them until the write `needed` that
/// makes their state durable completes (persist before send).
void send_or_hold(node_ptr self, ready& rd, uint64_t needed) {
  auto& st = self->state;
  // The leader's TimeoutNow goes out while its own write is in flight, but
  // never in a term the store does not hold yet: a single voter elects
  // itself at once, and if it crashed before its vote was stored, it could
  // vote for another in the same term (seeds 6578, 54194).
  bool term_durable = st.durable_term >= st.core->term()
                      || mutant(mutation::lead_before_term_durable);
  for (auto& m : rd.send_now) {
    if (term_durable || needed == 0)
      transmit(self, m);
    else
      st.held.emplace_back(needed, std::move(m));
  }
  for (auto& m : rd.send_after_persist) {
    if (needed == 0 || sent_before_durable(m))
      transmit(self, m);
    else
      st.held.emplace_back(needed, std::move(m));
  }
}

/// Answers the reads the core confirmed (once the FSM caught up with their
/// read point) or failed.
void answer_reads(node_ptr self, ready& rd) {
  auto& st = self->state;
  for (auto& r : rd.reads_ready) {
    auto i = st.reads.find(r.id);
    if (i == st.reads.end())
      continue;
    if (i->second.verify_only || st.applied >= r.index)
      i->second.promise.deliver(r.index);
    else
      st.reads_waiting_apply.emplace(r.index, std::move(i->second.promise));
    st.reads.erase(i);
  }
  for (auto id : rd.reads_failed) {
    auto i = st.reads.find(id);
    if (i == st.reads.end())
      continue;
    i->second.promise.deliver(not_leader_error(*st.core));
    st.reads.erase(i);
  }
}

/// Answers the leadership transfers that ended.
void answer_transfers(node_ptr self, ready& rd) {
  auto& st = self->state;
  for (auto moved : rd.transfers_done) {
    for (auto& rp : st.transfers) {
      if (moved)
        rp.deliver(true);
      else
        rp.deliver(make_error(errc::timeout,
                              "leadership transfer timed out: leadership did "
                              "not move within an election timeout"));
    }
    st.transfers.clear();
  }
}

/// Executes what the core asked for since the last flush, in order: the
/// write, the messages (held until durable where they must be), the
/// campaign, the timers, the answers, then the application pipeline, the
/// replicators and the observers.
void flush(node_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  auto& core = *st.core;
  auto rd = core.take_ready(st.in_flight_seq == 0);
  if (!rd.persist.empty())
    start_write(self, std::move(rd.persist));
  // Votes and acknowledgements wait for the write that holds their state.
  uint64_t needed = core.has_pending_state() ? st.write_seq + 1
                                             : st.in_flight_seq;
  send_or_hold(self, rd, needed);
  if (rd.new_campaign)
    plan_campaign(self, needed, std::move(*rd.new_campaign));
  else if (core.role() != role::candidate && (st.election || st.held_campaign))
    end_campaign(self);
  for (auto& t : rd.timers)
    self->delayed_send(self, t.delay, timer_atom_v,
                       static_cast<uint8_t>(t.kind), t.generation);
  answer_reads(self, rd);
  answer_transfers(self, rd);
  if (rd.leader_contact || core.role() == role::leader) {
    st.last_contact = self->clock().now();
    st.ever_contacted = true;
  }
  dispatch_committed(self);
  propose_queued_changes(self);
  sync_replicators(self);
  if (st.metrics)
    report_progress(self);
  if (rd.state_changed)
    notify_state(self);
  notify_peers(self);
  notify_heartbeats(self);
}

// -- snapshots (§7) -------------------------------------------------------------

/// Spawns and links the node's log writer, FSM runner and snapshot manager.
void spawn_children(node_ptr self) {
  auto& st = self->state;
  auto& sys = self->system();
  st.writer = spawn_log_writer(sys, st.opts.log, st.opts.stable,
                               st.opts.detach_blocking, st.opts.metrics);
  // A state machine that answers from memory applies on the scheduler:
  // two thread hand-offs less per batch (fsm/state_machine.hpp).
  st.fsm = spawn_fsm_runner(sys, st.opts.fsm,
                            st.opts.detach_blocking
                              && st.opts.fsm->apply_blocks(),
                            st.opts.metrics);
  self->link_to(st.writer);
  self->link_to(st.fsm);
  if (st.opts.snapshots) {
    snapshot_manager_options so;
    so.store = st.opts.snapshots;
    so.transport = st.opts.transport;
    so.node = caf::actor_cast<node_internal_actor>(self);
    so.settings = st.opts.settings;
    so.logger = st.log;
    so.detached = st.opts.detach_blocking;
    so.metrics = st.opts.metrics;
    st.snapshots = spawn_snapshot_manager(sys, std::move(so));
    self->link_to(st.snapshots);
  }
}

/// Loads the durable state; the node starts once it is in (start_core).
void load_state(node_ptr self) {
  auto& st = self->state;
  // Until the durable state is loaded and the transport has answered, a
  // placeholder core in the shutdown role answers queries and ignores RPCs
  // (no await: an actor awaiting a response cannot even be killed, and a
  // hung transport must not make the node unkillable).
  st.core = std::make_unique<consensus>(st.opts.settings, hard_state{},
                                        raft_log{}, configuration{}, 0);
  st.core->shutdown();
  st.core->take_ready();
  self->request(st.writer, caf::infinite, load_atom_v)
    .then(
      [self](loaded_state& ls) { restore_on_start(self, std::move(ls)); },
      [self](caf::error& err) {
        self->state.log->error("raft node cannot load its state: {}",
                               describe(err));
        self->quit(err);
      });
}

/// A timer of the core (election, lease, transfer) fired.
void on_timer(node_ptr self, timer_kind kind, uint64_t generation) {
  auto& st = self->state;
  auto before = st.core->role();
  st.core->on_timer(kind, generation);
  if (st.metrics && before == role::follower
      && st.core->role() == role::candidate)
    st.metrics->heartbeat_timeout();
  schedule_flush(self);
}

/// Hands an RPC to the core, then sends what it decided once durable.
template <class Rpc>
void on_rpc(node_ptr self, const Rpc& x) {
  self->state.core->handle(x);
  schedule_flush(self);
}

node_internal_actor::behavior_type node_impl(node_ptr self,
                                             node_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = logger_or_null(st.opts.logger);
  st.metrics = st.opts.metrics.get();
  spawn_children(self);
  load_state(self);
  return {
    // The public interface: what Go's *raft.Raft offers (node_requests.cpp,
    // node_observe.cpp, node_snapshots.cpp).
    [=](apply_atom, bytes& data) -> caf::result<index_t, caf::message> {
      return request_apply(self, data);
    },
    [=](barrier_atom) { return request_barrier(self); },
    [=](change_atom, const configuration_change& change) {
      return request_change(self, change);
    },
    [=](transfer_atom, const std::string& target) {
      return request_transfer(self, target);
    },
    [=](verify_atom) { return request_read(self, true); },
    [=](read_atom) { return request_read(self, false); },
    [=](state_atom) { return self->state.core->role(); },
    [=](leader_atom) { return current_leader(self); },
    [=](stats_atom) { return make_stats(self); },
    [=](contact_atom) { return contact_age(self); },
    [=](last_index_atom) { return self->state.core->last_index(); },
    [=](applied_atom) { return self->state.applied; },
    [=](commit_atom) { return self->state.core->commit_index(); },
    [=](get_config_atom) {
      auto& core = *self->state.core;
      return caf::make_result(core.latest_configuration(),
                              core.latest_configuration_index());
    },
    [=](observe_atom, caf::actor& observer) {
      add_observer(self, std::move(observer), observe_state);
    },
    [=](observe_atom, caf::actor& observer, uint8_t kinds) {
      add_observer(self, std::move(observer), kinds);
    },
    [=](observe_atom, leader_atom, caf::actor& subscriber) {
      add_leadership_subscriber(self, std::move(subscriber));
    },
    [=](shutdown_atom) { return shut_down(self); },
    [=](snapshot_atom) { return request_snapshot(self); },
    [=](restore_atom, bytes& state) -> caf::result<index_t> {
      auto rp = self->make_response_promise<index_t>();
      propose_restore(self, rp, std::move(state));
      return rp;
    },
    [=](restore_atom, open_atom) { return open_restore_upload(self); },
    [=](restore_atom, const std::string& id) { return user_restore(self, id); },
    // RPCs from the transport (the follower's side decides against this
    // node's term and log, §5.4.3; the leader's answers go on to its
    // replicators and election, node_peers.cpp).
    [=](const vote_request& x) {
      notify_vote_request(self, x);
      on_rpc(self, x);
    },
    [=](const vote_response& x) { on_vote_response(self, x); },
    [=](const append_request& x) {
      if (!x.entries.empty())
        commit_trace::note(commit_trace::stage::received,
                           x.entries.front().index, x.entries.back().index);
      on_rpc(self, x);
    },
    [=](const append_response& x) { on_append_response(self, x); },
    [=](const timeout_now& x) { on_rpc(self, x); },
    [=](const install_snapshot_request& x) { on_snapshot_chunk(self, x); },
    [=](const install_snapshot_response& x) { on_install_response(self, x); },
    // From the node's own actors.
    [=](election_atom, term_t term, bool pre_vote, uint64_t epoch, bool won) {
      on_campaign_report(self, term, pre_vote, epoch, won);
    },
    [=](const replication_report& r) { on_replication_report(self, r); },
    [=](entries_atom, index_t from) { return fetch_entries(self, from); },
    [=](snapshot_atom, check_atom) { check_snapshot_due(self); },
    [=](timer_atom, uint8_t kind, uint64_t generation) {
      on_timer(self, static_cast<timer_kind>(kind), generation);
    },
    [=](flush_atom) { flush(self); },
  };
}

} // namespace node_detail

node_actor spawn_node(caf::actor_system& sys, node_options opts) {
  return sys.spawn(node_detail::node_impl, std::move(opts));
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::caf_raft>();
  register_error_category(cfg);
}

} // namespace raft
