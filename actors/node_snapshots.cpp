#include "caf-raft/actors/node_state.hpp"

namespace raft::node_detail {

void finish_snapshot(node_ptr self, caf::expected<snapshot_meta> res) {
  auto& st = self->state;
  st.snapshotting = false;
  if (!res && st.snapshot_waiters.empty()
      && !is(res.error(), errc::nothing_new_to_snapshot))
    st.log->warn("{}: snapshot failed: {}", st.core->id(),
                 describe(res.error()));
  auto waiters = std::move(st.snapshot_waiters);
  st.snapshot_waiters.clear();
  for (auto& rp : waiters) {
    if (res)
      rp.deliver(*res);
    else
      rp.deliver(res.error());
  }
}

/// Captures the FSM between two batches, persists the copy while later
/// entries apply, then compacts the log (HashiCorp's takeSnapshot).
void take_snapshot(node_ptr self) {
  auto& st = self->state;
  if (st.snapshotting || st.installing)
    return; // Waiters are answered when the running one ends.
  st.snapshotting = true;
  st.snapshot_started = std::chrono::steady_clock::now();
  self->request(st.fsm, caf::infinite, snapshot_atom_v)
    .then(
      [self](captured_state& cs) {
        auto& st = self->state;
        auto& core = *st.core;
        if (cs.index == 0 || cs.index <= st.last_snapshot_index) {
          cs.state->release();
          return finish_snapshot(self,
                                 make_error(errc::nothing_new_to_snapshot));
        }
        auto term = core.log().term_at(cs.index);
        if (!term) {
          cs.state->release();
          return finish_snapshot(
            self, make_error(errc::aborted_by_restore,
                             "the log moved past the captured state (a "
                             "snapshot was installed meanwhile)"));
        }
        snapshot_meta proto;
        proto.index = cs.index;
        proto.term = *term;
        auto cfg = core.configuration_at(cs.index);
        proto.configuration = std::move(cfg.first);
        proto.configuration_index = cfg.second;
        self
          ->request(st.snapshots, caf::infinite, persist_atom_v, proto,
                    std::move(cs))
          .then(
            [self](snapshot_meta& meta) {
              auto& st = self->state;
              if (meta.index > st.last_snapshot_index) {
                st.last_snapshot_index = meta.index;
                st.last_snapshot_term = meta.term;
              }
              // The snapshot is durable: the log before it may go.
              st.core->compact(meta.index);
              if (st.opts.probe)
                ++st.opts.probe->snapshots_taken;
              if (st.metrics)
                st.metrics->take_snapshot(std::chrono::steady_clock::now()
                                          - st.snapshot_started);
              st.log->info("{}: snapshot {} taken at index {}", st.core->id(),
                           meta.id, meta.index);
              schedule_flush(self);
              finish_snapshot(self, std::move(meta));
            },
            [self](caf::error& err) { finish_snapshot(self, std::move(err)); });
      },
      [self](caf::error& err) { finish_snapshot(self, std::move(err)); });
}

/// Puts a stored snapshot into the FSM and makes it the log's base: for a
/// snapshot received from the leader (§7) and for a user restore.
void install_stored(node_ptr self, snapshot_meta meta,
                    std::function<void(caf::error)> done) {
  auto& st = self->state;
  st.installing = true;
  auto t0 = std::chrono::steady_clock::now();
  self->request(st.snapshots, caf::infinite, open_atom_v, meta.id)
    .then(
      [self, meta, done, t0](opened_snapshot& snap) {
        auto& st = self->state;
        self
          ->request(st.fsm, caf::infinite, restore_atom_v, meta.index,
                    std::move(snap))
          .then(
            [self, meta, done, t0](index_t) {
              auto& st = self->state;
              st.installing = false;
              if (st.metrics)
                st.metrics->install_snapshot(std::chrono::steady_clock::now()
                                             - t0);
              // Nothing after the old commit index was dispatched while
              // installing, so the FSM now stands exactly at meta.index.
              st.core->install_snapshot(meta.index, meta.term,
                                        meta.configuration,
                                        meta.configuration_index);
              st.dispatched = meta.index;
              st.applied = meta.index;
              if (st.opts.probe) {
                st.opts.probe->applied = st.applied;
                ++st.opts.probe->snapshots_installed;
              }
              if (meta.index > st.last_snapshot_index) {
                st.last_snapshot_index = meta.index;
                st.last_snapshot_term = meta.term;
              }
              done(caf::none);
              schedule_flush(self);
            },
            [self](caf::error& err) {
              // A shutdown stops the FSM runner mid-restore; the shutdown
              // answers for itself.
              if (self->state.core->role() == role::shutdown)
                return;
              // The FSM is half replaced: only a restart from durable state
              // can make it trustworthy again.
              self->state.log->error("{}: restoring the FSM failed: {}",
                                     self->state.core->id(), describe(err));
              self->quit(err);
            });
      },
      [self, done](caf::error& err) {
        self->state.installing = false;
        done(err);
        schedule_flush(self);
      });
}

void on_snapshot_chunk(node_ptr self, const install_snapshot_request& chunk) {
  auto& st = self->state;
  if (!st.core->handle(chunk) || !st.snapshots || st.installing) {
    // Refused, or busy restoring the previous one: the leader resends.
    schedule_flush(self);
    return;
  }
  if (chunk.last_index <= st.core->commit_index()
      && !mutant(mutation::snapshot_over_newer_state)) {
    // Everything the snapshot covers is here already (installed, and the
    // success answer lost, or caught up by the log meanwhile): say so,
    // or the leader would keep resending.
    st.core->ack_snapshot_chunk(chunk, chunk.size, true);
    schedule_flush(self);
    return;
  }
  schedule_flush(self);
  // The chunk travels on in the message it came in, and the continuations
  // below keep that message: references all, where taking the chunk out
  // would copy its megabyte whenever the message is shared (in one process
  // the leader's snapshot manager keeps it for a resend). `chunk` is not
  // used after the move: it may have moved with the message.
  auto msg = self->current_mailbox_element()->move_content_to_message();
  self->request(caf::actor_cast<caf::actor>(st.snapshots), caf::infinite, msg)
    .then(
      [self, msg](chunk_ack& ack) {
        auto& st = self->state;
        auto& core = *st.core;
        const auto& req = msg.get_as<install_snapshot_request>(0);
        if (!ack.complete || st.installing
            || (ack.meta.index <= core.commit_index()
                && !mutant(mutation::snapshot_over_newer_state))) {
          // A stale snapshot needs no restore, only an answer.
          core.ack_snapshot_chunk(req, ack.next_offset,
                                  ack.complete && !st.installing);
          schedule_flush(self);
          return;
        }
        st.log->info("{}: installing snapshot {} from {} (index {})",
                     core.id(), ack.meta.id, req.leader, ack.meta.index);
        install_stored(self, ack.meta, [self, msg](caf::error err) {
          auto& st = self->state;
          const auto& req = msg.get_as<install_snapshot_request>(0);
          if (err)
            st.log->error("{}: installing snapshot from {} failed: {}",
                          st.core->id(), req.leader, describe(err));
          // Success goes out after the log reset is durable.
          st.core->ack_snapshot_chunk(req, err ? 0 : req.size, !err);
        });
      },
      [self](caf::error& err) {
        self->state.log->error("{}: snapshot chunk failed: {}",
                               self->state.core->id(), describe(err));
      });
}

/// HashiCorp's Restore: every state machine takes the state of snapshot
/// `id` (from this node's store). The state travels as a restore entry, so
/// it commits like any other entry (§5.3): no server applies it before it
/// commits, and a leader deposed before that loses it with its other
/// uncommitted entries. Answered with the entry's index once applied here.
/// As with HashiCorp, this overrides replicated history: for disaster
/// recovery. This proposes the restore entry carrying `state` and answers
/// `rp` with its index once applied here.
void propose_restore(node_ptr self, index_promise rp, bytes state) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() != role::leader) {
    rp.deliver(not_leader_error(core));
    return;
  }
  auto max_bytes = core.settings().max_entry_size;
  if (state.size() > max_bytes) {
    rp.deliver(proposal_failed(
      self, restore_too_large("the state", state.size(), max_bytes)));
    return;
  }
  auto idx = propose_and_await(self, entry_type::restore, std::move(state), 0,
                               st.barriers, rp);
  if (idx != 0)
    st.restores_started.emplace(idx, std::chrono::steady_clock::now());
}

/// HashiCorp's Restore of snapshot `id` from this node's store.
caf::result<index_t> user_restore(node_ptr self, const std::string& id) {
  auto& st = self->state;
  auto& core = *st.core;
  if (!st.snapshots)
    return make_error(errc::unsupported,
                      "snapshots are off: the node has no snapshot store");
  if (core.role() != role::leader)
    return not_leader_error(core);
  auto rp = self->make_response_promise<index_t>();
  uint64_t max_bytes = core.settings().max_entry_size;
  self->request(st.snapshots, caf::infinite, restore_atom_v, id, max_bytes)
    .then(
      [self, rp](bytes& state) mutable {
        propose_restore(self, rp, std::move(state));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

void on_install_response(node_ptr self, const install_snapshot_response& x) {
  auto& st = self->state;
  st.core->handle(x); // a newer term makes us a follower (§5.1)
  // A follower taking a snapshot answers through its chunks.
  if (auto i = st.replicators.find(x.from); i != st.replicators.end())
    i->second.heard_at = self->clock().now();
  if (st.snapshots)
    self->send(st.snapshots, x);
  schedule_flush(self);
}

caf::result<snapshot_meta> request_snapshot(node_ptr self) {
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
}

void check_snapshot_due(node_ptr self) {
  auto& st = self->state;
  if (st.started && st.core->role() != role::shutdown
      && st.applied
           >= st.last_snapshot_index + st.core->settings().snapshot_threshold)
    take_snapshot(self);
}

} // namespace raft::node_detail
