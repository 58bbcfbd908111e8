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

void flush(node_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  auto& core = *st.core;
  auto rd = core.take_ready(st.in_flight_seq == 0);
  if (!rd.persist.empty()) {
    auto seq = ++st.write_seq;
    st.in_flight_seq = seq;
    index_t idx = 0;
    term_t term = 0;
    term_t hard_term = rd.persist.hard_state ? rd.persist.term : 0;
    if (!rd.persist.entries.empty()) {
      idx = rd.persist.entries.back().index;
      term = rd.persist.entries.back().term;
    }
    self
      ->request(st.writer, caf::infinite, persist_atom_v, seq,
                std::move(rd.persist))
      .then(
        [self, idx, term, hard_term](uint64_t done) {
          on_persisted(self, done, idx, term, hard_term);
        },
        [self](caf::error& err) { on_child_error(self, err); });
  }
  // Votes and acknowledgements wait for the write that holds their state.
  uint64_t needed = core.has_pending_state() ? st.write_seq + 1
                                             : st.in_flight_seq;
  // The leader's AppendEntries go out while its own write is in flight,
  // but never in a term the store does not hold yet: a single voter elects
  // itself at once, and if it crashed before its vote was stored, it could
  // vote for another in the same term, which would then send different
  // entries under the same (index, term) (seeds 6578, 54194).
  bool term_durable = st.durable_term >= core.term()
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
  if (rd.new_campaign)
    plan_campaign(self, needed, std::move(*rd.new_campaign));
  else if (core.role() != role::candidate && (st.election || st.held_campaign))
    end_campaign(self);
  for (auto& t : rd.timers)
    self->delayed_send(self, t.delay, timer_atom_v,
                       static_cast<uint8_t>(t.kind), t.generation);
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
    i->second.promise.deliver(not_leader_error(core));
    st.reads.erase(i);
  }
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

node_actor::behavior_type node_impl(node_ptr self, node_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = st.opts.logger;
  if (!st.log)
    st.log = std::make_shared<spdlog::logger>(
      "raft", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto& sys = self->system();
  st.metrics = st.opts.metrics.get();
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
  return {
    [=](apply_atom, bytes& data) -> caf::result<index_t, caf::message> {
      auto& st = self->state;
      auto& core = *st.core;
      if (data.size() > core.settings().max_entry_size)
        return make_error(errc::too_large,
                          "entry of " + std::to_string(data.size())
                            + " bytes exceeds the limit of "
                            + std::to_string(core.settings().max_entry_size));
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
      auto rp = self->make_response_promise<index_t, caf::message>();
      auto idx = propose_and_await(self, entry_type::command, std::move(data),
                                   now, st.applies, rp);
      if (idx != 0 && st.metrics) {
        st.metrics->apply();
        st.proposed_at.emplace_back(idx, std::chrono::steady_clock::now());
      }
      return rp;
    },
    [=](barrier_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto rp = self->make_response_promise<index_t>();
      auto idx = propose_and_await(self, entry_type::barrier, bytes{}, 0,
                                   st.barriers, rp);
      if (idx != 0 && st.metrics) {
        st.metrics->barrier();
        st.proposed_at.emplace_back(idx, std::chrono::steady_clock::now());
      }
      return rp;
    },
    [=](change_atom, const configuration_change& change)
      -> caf::result<index_t> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      if (st.queued_changes.size() >= max_queued_changes)
        return make_error(errc::configuration_rejected,
                          "configuration change rejected: "
                            + std::to_string(max_queued_changes)
                            + " changes already wait for the one in "
                              "progress; retry once they commit");
      auto rp = self->make_response_promise<index_t>();
      st.queued_changes.push_back({change, rp});
      propose_queued_changes(self);
      return rp;
    },
    [=](transfer_atom, const std::string& target) -> caf::result<bool> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto p = core.transfer_leadership(target);
      if (p.index == 0)
        return make_error(errc::leadership_transfer_in_progress,
                          "leadership transfer refused: " + p.refusal);
      auto rp = self->make_response_promise<bool>();
      st.transfers.push_back(rp);
      schedule_flush(self);
      return rp;
    },
    [=](verify_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto id = ++st.next_read_id;
      if (!st.core->request_read(id))
        return not_leader_error(*st.core);
      auto rp = self->make_response_promise<index_t>();
      st.reads.emplace(id, node_state::read_request{rp, true});
      if (st.metrics)
        st.metrics->verify_leader();
      schedule_flush(self);
      return rp;
    },
    [=](read_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto id = ++st.next_read_id;
      if (!st.core->request_read(id))
        return not_leader_error(*st.core);
      auto rp = self->make_response_promise<index_t>();
      st.reads.emplace(id, node_state::read_request{rp, false});
      if (st.metrics)
        st.metrics->verify_leader();
      schedule_flush(self);
      return rp;
    },
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
    [=](shutdown_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.started) {
        // Nothing runs yet: the linked writer and FSM runner end with us.
        self->quit();
        return true;
      }
      if (st.core->role() == role::shutdown)
        return true;
      st.core->shutdown();
      stop_replicators(self);
      for (auto& [idx, w] : st.applies)
        w.promise.deliver(make_error(errc::raft_shutdown));
      st.applies.clear();
      for (auto& [idx, w] : st.barriers)
        w.promise.deliver(make_error(errc::raft_shutdown));
      st.barriers.clear();
      for (auto& [id, r] : st.reads)
        r.promise.deliver(make_error(errc::raft_shutdown));
      st.reads.clear();
      for (auto& [idx, rp] : st.reads_waiting_apply)
        rp.deliver(make_error(errc::raft_shutdown));
      st.reads_waiting_apply.clear();
      for (auto& q : st.queued_changes)
        q.promise.deliver(make_error(errc::raft_shutdown));
      st.queued_changes.clear();
      notify_state(self);
      caf::anon_send(st.opts.transport, disconnect_atom_v, st.core->id());
      // HashiCorp's Shutdown waits for its goroutines: answer (and quit)
      // only once the log writer and FSM runner are gone, so the store is
      // closed when the caller hears back.
      auto rp = self->make_response_promise<bool>();
      std::vector<caf::actor*> children{&st.writer, &st.fsm};
      if (st.snapshots)
        children.push_back(&st.snapshots);
      auto pending = std::make_shared<int>(static_cast<int>(children.size()));
      auto done = std::make_shared<caf::typed_response_promise<bool>>(rp);
      self->set_down_handler([self, done, pending](caf::down_msg&) {
        if (--*pending == 0) {
          done->deliver(true);
          self->quit();
        }
      });
      for (auto* child : children) {
        self->unlink_from(*child);
        self->monitor(*child);
        self->send_exit(*child, caf::exit_reason::user_shutdown);
      }
      return rp;
    },
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
