#include "caf-raft/actors/commit_trace.hpp"
#include "caf-raft/actors/node_state.hpp"

namespace raft::node_detail {

/// The request's entry of `term` lost its index to another leader's entry:
/// the request did not take effect (HashiCorp's ErrLeadershipLost).
caf::error entry_replaced(const apply_result& r, term_t term) {
  return make_error(errc::leadership_lost,
                    "leadership lost: index " + std::to_string(r.index)
                      + " committed with the entry of term "
                      + std::to_string(r.term) + ", not this request's (term "
                      + std::to_string(term) + "); it did not take effect");
}

caf::error proposal_failed(node_ptr self, caf::error err) {
  if (self->state.metrics)
    self->state.metrics->proposals_failed();
  return err;
}

/// Times a user restore from its request to its application here. Any
/// restore proposed at an earlier index is settled by now (applied, lost,
/// or skipped by an installed snapshot): its start is dropped.
void note_restore_applied(node_ptr self, const apply_result& r) {
  auto& st = self->state;
  st.restores_started.erase(st.restores_started.begin(),
                            st.restores_started.lower_bound(r.index));
  auto i = st.restores_started.find(r.index);
  if (i == st.restores_started.end())
    return;
  auto ours = st.barriers.count(r.index) != 0
              && st.barriers.at(r.index).term == r.term;
  if (ours && st.metrics)
    st.metrics->restore_user_snapshot(std::chrono::steady_clock::now()
                                      - i->second);
  st.restores_started.erase(i);
}

void on_applied(node_ptr self, std::vector<apply_result>& results) {
  auto& st = self->state;
  if (!results.empty())
    commit_trace::note(commit_trace::stage::applied, results.front().index,
                       results.back().index);
  for (auto& r : results) {
    st.applied = r.index;
    note_restore_applied(self, r);
    if (auto i = st.applies.find(r.index); i != st.applies.end()) {
      if (i->second.term == r.term
          || mutant(mutation::answer_for_another_entry))
        i->second.promise.deliver(r.index, std::move(r.response));
      else
        i->second.promise.deliver(entry_replaced(r, i->second.term));
      st.applies.erase(i);
    }
    if (auto i = st.barriers.find(r.index); i != st.barriers.end()) {
      if (i->second.term == r.term)
        i->second.promise.deliver(r.index);
      else
        i->second.promise.deliver(entry_replaced(r, i->second.term));
      st.barriers.erase(i);
    }
  }
  while (!st.reads_waiting_apply.empty()
         && st.reads_waiting_apply.begin()->first <= st.applied) {
    auto i = st.reads_waiting_apply.begin();
    i->second.deliver(i->first);
    st.reads_waiting_apply.erase(i);
  }
  if (st.opts.probe)
    st.opts.probe->applied = st.applied;
  if (st.metrics)
    st.metrics->set_applied_index(st.applied);
  // Under sustained load the log outgrows memory long before the next
  // snapshot: applied entries leave it (raft_config::max_log_memory).
  auto& cfg = st.core->settings();
  if (cfg.max_log_memory != 0 && st.core->log().memory() > cfg.max_log_memory)
    st.core->evict(st.applied, cfg.max_log_memory / 2);
}

void dispatch_committed(node_ptr self) {
  auto& st = self->state;
  if (st.installing)
    return; // The FSM is being replaced; entries after it wait.
  auto& core = *st.core;
  auto commit = mutant(mutation::apply_before_commit) ? core.last_index()
                                                       : core.commit_index();
  if (commit <= st.dispatched)
    return;
  commit_trace::note(commit_trace::stage::committed, st.dispatched + 1,
                     commit);
  std::vector<log_entry> entries;
  core.log().slice(st.dispatched + 1, commit, SIZE_MAX, SIZE_MAX, entries);
  st.dispatched = commit;
  self->request(st.fsm, caf::infinite, fsm_apply_atom_v, std::move(entries))
    .then(
      [self](std::vector<apply_result>& results) { on_applied(self, results); },
      [self](caf::error& err) { on_child_error(self, err); });
}

void fail_uncommitted(node_ptr self, errc code) {
  auto& st = self->state;
  auto commit = st.core->commit_index();
  // Entries up to the commit index will still be applied and answered,
  // with success only if the committed entry is the request's own: the
  // message that deposes a leader may also commit another leader's entry
  // at a pending index (on_applied compares terms). Later ones may or may
  // not commit under the next leader.
  for (auto i = st.applies.upper_bound(commit); i != st.applies.end();) {
    i->second.promise.deliver(proposal_failed(self, make_error(code)));
    i = st.applies.erase(i);
  }
  for (auto i = st.barriers.upper_bound(commit); i != st.barriers.end();) {
    i->second.promise.deliver(proposal_failed(self, make_error(code)));
    i = st.barriers.erase(i);
  }
}

/// Proposes the queued configuration changes one at a time: the next once
/// the previous one committed (thesis §4.1). Each is answered when its own
/// entry commits (as a barrier), or at once if refused.
/// A membership change in words, for the log ("add voter d at
/// 10.0.0.4:7100").
std::string describe_change(const configuration_change& ch) {
  static constexpr const char* kinds[] = {"add voter", "add non-voter",
                                          "demote voter", "remove server"};
  auto kind = static_cast<size_t>(ch.kind);
  return std::string{kind < 4 ? kinds[kind] : "change"} + " " + ch.id
         + (ch.address.empty() ? "" : " at " + ch.address);
}

void propose_queued_changes(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  while (!st.queued_changes.empty() && core.role() == role::leader
         && !core.configuration_change_waits()) {
    auto q = std::move(st.queued_changes.front());
    st.queued_changes.pop_front();
    auto p = core.change_configuration(q.change);
    auto what = describe_change(q.change);
    if (p.index == 0) {
      st.log->warn("{}: configuration change refused: {}: {}", core.id(),
                   what, p.refusal);
      q.promise.deliver(make_error(errc::configuration_rejected,
                                   "configuration change rejected: "
                                     + p.refusal));
      continue;
    }
    st.log->info("{}: configuration change proposed at index {}: {}",
                 core.id(), p.index, what);
    await_entry(self, st.barriers, p.index, q.promise);
  }
}

/// A deposed leader never proposed its queued changes: they did not happen.
void fail_queued_changes(node_ptr self) {
  auto& st = self->state;
  for (auto& q : st.queued_changes)
    q.promise.deliver(not_leader_error(*st.core));
  st.queued_changes.clear();
}

} // namespace raft::node_detail
