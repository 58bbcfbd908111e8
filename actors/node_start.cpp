#include "caf-raft/actors/node_state.hpp"

namespace raft::node_detail {

/// Builds the in-memory log from the stored entries and the snapshot the
/// FSM was restored to (index 0: none). Fails if they leave a gap.
caf::expected<raft_log> build_log(loaded_state& ls, const snapshot_meta& snap,
                                  bool& discard_stored) {
  discard_stored = false;
  auto& es = ls.entries;
  if (es.empty())
    return raft_log{snap.index, snap.term};
  auto first = es.front().index;
  if (first > snap.index + 1)
    return make_error(errc::corrupt,
                      "the log starts at index " + std::to_string(first)
                        + " but "
                        + (snap.index == 0
                             ? std::string{"there is no snapshot"}
                             : "the newest usable snapshot (" + snap.id
                                 + ") ends at index "
                                 + std::to_string(snap.index))
                        + ": entries in between are lost");
  if (snap.index == 0 || first == snap.index + 1) {
    // The log's base is the snapshot's last entry, term included: the
    // consistency check of the next AppendEntries (§5.3) and the vote's
    // up-to-date check (§5.4.1) of an empty log both read it.
    raft_log log{first - 1, snap.term};
    for (auto& e : es)
      log.append(std::move(e));
    return log;
  }
  // Trailing entries before the snapshot are kept, so slightly lagging
  // followers catch up from the log. §7: they stay only if the log holds
  // the snapshot's last entry with its term; otherwise the snapshot
  // replaces the whole log.
  auto at = snap.index - first;
  if (at >= es.size() || es[at].term != snap.term) {
    discard_stored = true;
    return raft_log{snap.index, snap.term};
  }
  raft_log log{first, es.front().term};
  for (size_t i = 1; i < es.size(); ++i)
    log.append(std::move(es[i]));
  return log;
}

void start_core(node_ptr self, loaded_state ls,
                const std::string& local_address, const snapshot_meta& snap,
                index_t fsm_applied) {
  auto& st = self->state;
  if (st.started)
    return;
  bool discard = false;
  auto log = build_log(ls, snap, discard);
  if (!log) {
    st.log->error("{}: cannot start: {}", st.opts.settings.local_id,
                  describe(log.error()));
    self->quit(log.error());
    return;
  }
  hard_state hs{ls.term, ls.voted_for, std::max(ls.commit_index, snap.index)};
  st.durable_term = ls.term;
  st.core = std::make_unique<consensus>(st.opts.settings, std::move(hs),
                                        std::move(*log), snap.configuration,
                                        snap.configuration_index);
  if (discard)
    st.core->discard_stored_log();
  st.core->set_local_address(local_address);
  st.started = true;
  st.last_term = st.core->term();
  st.last_role = role::follower;
  // The FSM holds the snapshot; the log up to the stored commit index is
  // applied again from there (§7; HashiCorp's restore on start). A state
  // machine that outlived the previous node already holds more.
  st.dispatched = std::max(snap.index, fsm_applied);
  st.applied = st.dispatched;
  st.last_snapshot_index = snap.index;
  st.last_snapshot_term = snap.term;
  if (st.opts.probe) {
    st.opts.probe->core = st.core.get();
    st.opts.probe->applied = st.applied;
    auto probe = st.opts.probe;
    self->attach_functor([probe] {
      probe->core = nullptr;
      probe->stopped = true;
    });
  }
  st.core->start();
  st.log->info("{}: started at {} in term {} with snapshot {} and log [{}, {}], "
               "commit index {}",
               st.core->id(), local_address, st.core->term(),
               snap.id.empty() ? std::string{"none"} : snap.id,
               st.core->log().first_index(), st.core->last_index(),
               st.core->commit_index());
  if (st.opts.on_started)
    caf::anon_send(st.opts.on_started, loop_atom_v);
  schedule_flush(self);
}

void connect_transport(node_ptr self, loaded_state ls, snapshot_meta snap,
                       index_t fsm_applied) {
  auto& st = self->state;
  auto id = st.opts.settings.local_id;
  // Like HashiCorp's NewRaft asking the transport for its local address:
  // the node starts only once its transport answers, so a hung transport
  // shows as a start timeout in the worker.
  self
    ->request(st.opts.transport, caf::infinite, connect_atom_v, id,
              caf::actor_cast<caf::actor>(self))
    .then(
      [self, ls{std::move(ls)}, snap{std::move(snap)},
       fsm_applied](std::string& local_address) mutable {
        start_core(self, std::move(ls), local_address, snap, fsm_applied);
      },
      [self](caf::error& err) {
        self->state.log->error("raft node cannot reach its transport: {}",
                               describe(err));
        self->quit(err);
      });
}

/// Restores the newest snapshot that opens cleanly into the FSM before the
/// node takes part: a node never votes with an empty state it did not have.
void restore_on_start(node_ptr self, loaded_state ls) {
  auto& st = self->state;
  // Nothing runs on the FSM yet, so asking it directly is safe.
  auto fsm_applied = st.opts.fsm->applied_index();
  if (!st.snapshots)
    return connect_transport(self, std::move(ls), snapshot_meta{},
                             fsm_applied);
  self->request(st.snapshots, caf::infinite, open_atom_v)
    .then(
      [self, ls{std::move(ls)}, fsm_applied](opened_snapshot& snap) mutable {
        auto& st = self->state;
        if (!snap.reader)
          return connect_transport(self, std::move(ls), snapshot_meta{},
                                   fsm_applied);
        auto meta = snap.meta;
        if (st.opts.settings.no_snapshot_restore_on_start
            || fsm_applied >= meta.index) {
          // The application restores its own state (HashiCorp's
          // NoSnapshotRestoreOnStart), or the FSM already holds more than
          // the snapshot; the log still starts after it.
          snap.reader->close();
          return connect_transport(self, std::move(ls), std::move(meta),
                                   fsm_applied);
        }
        self
          ->request(st.fsm, caf::infinite, restore_atom_v, meta.index,
                    std::move(snap))
          .then(
            [self, ls{std::move(ls)}, meta](index_t) mutable {
              self->state.log->info("{}: restored snapshot {} (index {})",
                                    self->state.opts.settings.local_id,
                                    meta.id, meta.index);
              connect_transport(self, std::move(ls), std::move(meta), 0);
            },
            [self](caf::error& err) {
              self->state.log->error("raft node cannot restore its "
                                     "snapshot: {}",
                                     describe(err));
              self->quit(err);
            });
      },
      [self](caf::error& err) {
        self->state.log->error("raft node cannot open its snapshots: {}",
                               describe(err));
        self->quit(err);
      });
}

} // namespace raft::node_detail
