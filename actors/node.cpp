#include "actors/node.hpp"

#include "actors/node_state.hpp"

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
  index_t idx = 0;
  term_t term = 0;
  term_t hard_term = req.hard_state ? req.term : 0;
  if (!req.entries.empty()) {
    idx = req.entries.back().index;
    term = req.entries.back().term;
  }
  self->request(st.writer, caf::infinite, persist_atom_v, seq, std::move(req))
    .then(
      [self, idx, term, hard_term](uint64_t done) {
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
    so.node = caf::actor_cast<caf::actor>(self);
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

node_internal_actor::behavior_type node_impl(node_ptr self,
                                             node_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = logger_or_null(st.opts.logger);
  st.metrics = st.opts.metrics.get();
  spawn_children(self);
  load_state(self);
  return {
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
    [=](leader_atom) {
      auto& core = *self->state.core;
      return leader_info{core.leader_id(), core.leader_address()};
    },
    [=](stats_atom) { return make_stats(self); },
    [=](contact_atom) -> caf::timespan {
      auto& st = self->state;
      if (st.core->role() == role::leader)
        return caf::timespan{0};
      if (!st.ever_contacted)
        return caf::timespan{-1};
      return self->clock().now() - st.last_contact;
    },
    [=](last_index_atom) { return self->state.core->last_index(); },
    [=](applied_atom) { return self->state.applied; },
    [=](commit_atom) { return self->state.core->commit_index(); },
    [=](get_config_atom) {
      auto& core = *self->state.core;
      return caf::make_result(core.latest_configuration(),
                              core.latest_configuration_index());
    },
    [=](observe_atom, caf::actor observer) {
      // A late observer learns the state at once, not at the next change
      // (before the node started there is none: the start is a change).
      if (auto& core = self->state.core)
        caf::anon_send(observer, observation{core->id(), core->role(),
                                             core->term(), core->leader_id()});
      self->state.observers.push_back(std::move(observer));
    },
    [=](observe_atom, leader_atom, caf::actor subscriber) {
      if (auto& core = self->state.core)
        caf::anon_send(subscriber, leader_atom_v,
                       core->role() == role::leader, core->term());
      self->state.leadership_subscribers.push_back(std::move(subscriber));
    },
    [=](shutdown_atom) { return shut_down(self); },
    [=](const vote_request& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const vote_response& x) {
      auto& st = self->state;
      st.core->handle(x); // a newer term makes us a follower (§5.1)
      if (st.election && st.core->role() == role::candidate)
        self->send(st.election, x);
      schedule_flush(self);
    },
    [=](election_atom, term_t term, bool pre_vote, uint64_t epoch, bool won) {
      auto& st = self->state;
      if (epoch != st.campaign_epoch)
        return; // an earlier campaign's
      st.election = nullptr; // it ended with its report
      st.core->on_campaign_result(term, pre_vote, won);
      schedule_flush(self);
    },
    [=](const append_request& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const append_response& x) {
      auto& st = self->state;
      auto& core = *st.core;
      core.handle(x); // a newer term makes us a follower (§5.1)
      if (core.role() != role::leader) {
        schedule_flush(self);
        return;
      }
      if (auto i = st.replicators.find(x.from); i != st.replicators.end())
        self->send(i->second.handle, x);
    },
    [=](const replication_report& r) {
      auto& st = self->state;
      auto i = st.replicators.find(r.follower);
      // Fencing: a report of an earlier term, or of a replicator stopped
      // since (the follower was removed and added again), is stale.
      if (i == st.replicators.end() || i->second.epoch != r.epoch
          || r.term != st.core->term())
        return;
      st.core->on_replicated(r.follower, r.match_index, r.acked_round);
      schedule_flush(self);
    },
    [=](entries_atom, index_t from) -> caf::result<entry_batch> {
      return fetch_entries(self, from);
    },
    [=](const timeout_now& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const install_snapshot_request& x) { on_snapshot_chunk(self, x); },
    [=](const install_snapshot_response& x) {
      auto& st = self->state;
      st.core->handle(x);
      if (st.snapshots)
        caf::anon_send(st.snapshots, x);
      schedule_flush(self);
    },
    [=](snapshot_atom) -> caf::result<snapshot_meta> {
      auto& st = self->state;
      if (!st.snapshots)
        return make_error(errc::unsupported,
                          "snapshots are off: the node has no snapshot store");
      if (!st.started || st.core->role() == role::shutdown)
        return make_error(errc::raft_shutdown);
      auto rp = self->make_response_promise<snapshot_meta>();
      st.snapshot_waiters.push_back(rp);
      take_snapshot(self);
      return rp;
    },
    [=](snapshot_atom, check_atom) {
      auto& st = self->state;
      if (st.started && st.core->role() != role::shutdown
          && st.applied
               >= st.last_snapshot_index + st.core->settings().snapshot_threshold)
        take_snapshot(self);
    },
    [=](restore_atom, bytes& state) -> caf::result<index_t> {
      auto rp = self->make_response_promise<index_t>();
      propose_restore(self, rp, std::move(state));
      return rp;
    },
    [=](restore_atom, open_atom) -> caf::result<caf::actor> {
      auto& core = *self->state.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      return caf::actor_cast<caf::actor>(spawn_restore_upload(
        self->system(), self, core.settings().max_entry_size));
    },
    [=](restore_atom, const std::string& id) -> caf::result<index_t> {
      return user_restore(self, id);
    },
    [=](timer_atom, uint8_t kind, uint64_t generation) {
      auto& st = self->state;
      auto before = st.core->role();
      st.core->on_timer(static_cast<timer_kind>(kind), generation);
      if (st.metrics && before == role::follower
          && st.core->role() == role::candidate)
        st.metrics->heartbeat_timeout();
      schedule_flush(self);
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
