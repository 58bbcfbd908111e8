#include "caf-raft/actors/commit_trace.hpp"
#include "caf-raft/actors/node_state.hpp"

namespace raft::node_detail {

caf::result<index_t, caf::message> request_apply(node_ptr self, bytes& data) {
  auto& st = self->state;
  auto& core = *st.core;
  if (data.size() > core.settings().max_entry_size)
    return proposal_failed(
      self, make_error(errc::too_large,
                       "entry of " + std::to_string(data.size())
                         + " bytes exceeds the limit of "
                         + std::to_string(core.settings().max_entry_size)));
  if (core.role() != role::leader)
    return not_leader_error(core); // not a proposal: it goes to the leader
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto rp = self->make_response_promise<index_t, caf::message>();
  auto idx = propose_and_await(self, entry_type::command, std::move(data), now,
                               st.applies, rp);
  if (idx != 0)
    commit_trace::note(commit_trace::stage::proposed, idx, idx);
  if (idx != 0 && st.metrics) {
    st.metrics->apply();
    st.proposed_at.emplace_back(idx, std::chrono::steady_clock::now());
  }
  return rp;
}

caf::result<index_t> request_barrier(node_ptr self) {
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
}

caf::result<index_t> request_change(node_ptr self,
                                    const configuration_change& change) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() != role::leader)
    return not_leader_error(core);
  if (st.queued_changes.size() >= max_queued_changes)
    return proposal_failed(
      self, make_error(errc::configuration_rejected,
                       "configuration change rejected: "
                         + std::to_string(max_queued_changes)
                         + " changes already wait for the one in "
                           "progress; retry once they commit"));
  auto rp = self->make_response_promise<index_t>();
  st.queued_changes.push_back({change, rp});
  propose_queued_changes(self);
  return rp;
}

caf::result<bool> request_transfer(node_ptr self, const std::string& target) {
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
}

caf::result<index_t> request_read(node_ptr self, bool verify_only) {
  auto& st = self->state;
  auto id = ++st.next_read_id;
  if (!st.core->request_read(id))
    return not_leader_error(*st.core);
  auto rp = self->make_response_promise<index_t>();
  st.reads.emplace(id, node_state::read_request{rp, verify_only});
  if (st.metrics)
    st.metrics->verify_leader();
  schedule_flush(self);
  return rp;
}

/// Answers every request still waiting with raft_shutdown.
void fail_waiting_requests(node_ptr self) {
  auto& st = self->state;
  auto shut = [] { return make_error(errc::raft_shutdown); };
  for (auto& [idx, w] : st.applies)
    w.promise.deliver(shut());
  st.applies.clear();
  for (auto& [idx, w] : st.barriers)
    w.promise.deliver(shut());
  st.barriers.clear();
  for (auto& [id, r] : st.reads)
    r.promise.deliver(shut());
  st.reads.clear();
  for (auto& [idx, rp] : st.reads_waiting_apply)
    rp.deliver(shut());
  st.reads_waiting_apply.clear();
  for (auto& q : st.queued_changes)
    q.promise.deliver(shut());
  st.queued_changes.clear();
}

caf::result<bool> shut_down(node_ptr self) {
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
  fail_waiting_requests(self);
  notify_state(self);
  caf::anon_send(st.opts.transport, disconnect_atom_v, st.core->id());
  // HashiCorp's Shutdown waits for its goroutines: answer (and quit) only
  // once the log writer and FSM runner are gone, so the store is closed
  // when the caller hears back.
  auto rp = self->make_response_promise<bool>();
  std::vector<caf::actor> children{caf::actor_cast<caf::actor>(st.writer),
                                   caf::actor_cast<caf::actor>(st.fsm)};
  if (st.snapshots)
    children.push_back(caf::actor_cast<caf::actor>(st.snapshots));
  auto pending = std::make_shared<int>(static_cast<int>(children.size()));
  auto done = std::make_shared<caf::typed_response_promise<bool>>(rp);
  self->set_down_handler([self, done, pending](caf::down_msg&) {
    if (--*pending == 0) {
      done->deliver(true);
      self->quit();
    }
  });
  for (auto& child : children) {
    self->unlink_from(child);
    self->monitor(child);
    self->send_exit(child, caf::exit_reason::user_shutdown);
  }
  return rp;
}

caf::result<caf::actor> open_restore_upload(node_ptr self) {
  auto& core = *self->state.core;
  if (core.role() != role::leader)
    return not_leader_error(core);
  return caf::actor_cast<caf::actor>(spawn_restore_upload(
    self->system(), self, core.settings().max_entry_size));
}

} // namespace raft::node_detail
