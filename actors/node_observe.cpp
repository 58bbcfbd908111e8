#include "caf-raft/actors/node_state.hpp"

#include <algorithm>

namespace raft::node_detail {

namespace {

/// Why a leader stepped down, for the operator's log.
std::string step_down_reason(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.term() > st.last_term)
    return "a newer term " + std::to_string(core.term())
           + " began (another server campaigned or leads)";
  if (core.lease_step_downs() > st.last_lease_step_downs)
    return "no answer from a majority within the leader lease (cut off?)";
  for (auto& s : core.latest_configuration().servers)
    if (s.id == core.id() && s.suffrage == suffrage::voter)
      return "leadership handed over";
  return "no longer a voter of the configuration";
}

/// Logs who leads now, and why a leader stepped down.
void log_transition(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() != st.last_role)
    st.log->info("{}: {} -> {} in term {}", core.id(), to_string(st.last_role),
                 to_string(core.role()), core.term());
  if (st.last_role == role::leader && core.role() != role::leader
      && core.role() != role::shutdown)
    st.log->warn("{}: stepped down as leader of term {}: {}", core.id(),
                 st.last_term, step_down_reason(self));
  if (core.role() == role::leader && st.last_role != role::leader)
    st.log->info("{}: elected leader of term {}", core.id(), core.term());
  else if (!core.leader_id().empty() && core.leader_id() != st.last_leader
           && core.role() != role::leader)
    st.log->info("{}: leader is {} (term {})", core.id(), core.leader_id(),
                 core.term());
  st.last_lease_step_downs = core.lease_step_downs();
}

/// This server's state as an observer sees it, as an observation of `kind`
/// about `peer` where the kind has one.
observation observation_of(const consensus& core,
                           uint8_t kind = observe_state,
                           std::string peer = {}) {
  observation obs;
  obs.server = core.id();
  obs.role = core.role();
  obs.term = core.term();
  obs.leader = core.leader_id();
  obs.kind = kind;
  obs.peer = std::move(peer);
  return obs;
}

} // namespace

/// Says once that this server was removed, and why it stays quiet.
void note_removal(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.removed() && !st.removal_logged)
    st.log->warn("{}: removed from the cluster (a committed configuration "
                 "without this server); it no longer campaigns and waits "
                 "for a leader to add it again. Stop it, or add it back (raftctl "
                 "add-voter).",
                 core.id());
  st.removal_logged = core.removed();
}

void notify_state(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  note_removal(self);
  if (core.role() == st.last_role && core.term() == st.last_term
      && core.leader_id() == st.last_leader)
    return;
  log_transition(self);
  if (st.last_role == role::leader && core.role() != role::leader) {
    fail_uncommitted(self, errc::leadership_lost);
    fail_queued_changes(self);
    if (st.snapshots)
      caf::anon_send(st.snapshots, cancel_atom_v);
  }
  if (st.metrics) {
    if (core.role() != st.last_role)
      st.metrics->state_changed(core.role());
    st.metrics->set_leader(!core.leader_id().empty(),
                           !core.leader_id().empty()
                             && core.leader_id() != st.last_leader);
    st.metrics->set_term(core.term());
    size_t peers = 0;
    for (auto& s : core.latest_configuration().servers)
      if (s.id != core.id() && s.suffrage == suffrage::voter)
        ++peers;
    st.metrics->set_peers(peers);
  }
  if (core.role() != role::leader)
    st.proposed_at.clear();
  if ((core.role() == role::leader) != (st.last_role == role::leader))
    for (auto& s : st.leadership_subscribers)
      caf::anon_send(s, leader_atom_v, core.role() == role::leader,
                     core.term());
  st.last_role = core.role();
  st.last_term = core.term();
  st.last_leader = core.leader_id();
  auto obs = observation_of(core);
  for (auto& [o, kinds] : st.observers)
    if (kinds & observe_state)
      caf::anon_send(o, obs);
}

/// Commit times of the leader's proposals and the index gauges.
void report_progress(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  auto& m = *st.metrics;
  auto commit = core.commit_index();
  if (!st.proposed_at.empty() && st.proposed_at.front().first <= commit) {
    auto now = std::chrono::steady_clock::now();
    size_t n = 0;
    std::chrono::steady_clock::time_point newest;
    while (!st.proposed_at.empty() && st.proposed_at.front().first <= commit) {
      newest = st.proposed_at.front().second;
      st.proposed_at.pop_front();
      ++n;
    }
    m.commit_time(now - newest, n);
  }
  m.set_commit_index(commit);
  m.set_last_index(core.last_index());
  if (core.lease_step_downs() != st.lease_step_downs) {
    st.lease_step_downs = core.lease_step_downs();
    m.leader_lease_timeout();
  }
  if (core.role() == role::leader) {
    m.set_last_contact(std::chrono::nanoseconds{0});
    for (auto& [id, f] : core.followers())
      m.set_replication_lag(id, core.last_index() > f.match_index
                                  ? core.last_index() - f.match_index
                                  : 0);
  }
  else if (st.ever_contacted)
    m.set_last_contact(self->clock().now() - st.last_contact);
}

stats_map make_stats(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  stats_map m;
  m["state"] = to_string(core.role());
  m["term"] = std::to_string(core.term());
  m["last_log_index"] = std::to_string(core.last_index());
  m["last_log_term"] = std::to_string(core.last_term());
  m["commit_index"] = std::to_string(core.commit_index());
  m["applied_index"] = std::to_string(st.applied);
  m["fsm_pending"] = std::to_string(st.dispatched - st.applied);
  m["last_snapshot_index"] = std::to_string(st.last_snapshot_index);
  m["last_snapshot_term"] = std::to_string(st.last_snapshot_term);
  m["first_log_index"] = std::to_string(core.log().first_index());
  m["protocol_version"] = "3";
  m["protocol_version_min"] = "3";
  m["protocol_version_max"] = "3";
  m["snapshot_version_min"] = "1";
  m["snapshot_version_max"] = "1";
  std::string servers = "[";
  for (auto& s : core.latest_configuration().servers) {
    if (servers.size() > 1)
      servers += " ";
    servers += "{Suffrage:";
    servers += to_string(s.suffrage);
    servers += " ID:" + s.id + " Address:" + s.address + "}";
  }
  m["latest_configuration"] = servers + "]";
  m["latest_configuration_index"]
    = std::to_string(core.latest_configuration_index());
  size_t peers = 0;
  for (auto& s : core.latest_configuration().servers)
    if (s.id != core.id() && s.suffrage == suffrage::voter)
      ++peers;
  m["num_peers"] = std::to_string(peers);
  if (core.removed())
    m["removed"] = "true";
  if (core.role() == role::leader) {
    m["last_contact"] = "0";
  } else if (!st.ever_contacted) {
    m["last_contact"] = "never";
  } else {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
      self->clock().now() - st.last_contact);
    m["last_contact"] = std::to_string(d.count()) + "ms";
  }
  return m;
}

leader_info current_leader(node_ptr self) {
  auto& core = *self->state.core;
  return leader_info{core.leader_id(), core.leader_address()};
}

caf::timespan contact_age(node_ptr self) {
  auto& st = self->state;
  if (st.core->role() == role::leader)
    return caf::timespan{0};
  if (!st.ever_contacted)
    return caf::timespan{-1};
  return self->clock().now() - st.last_contact;
}

void add_observer(node_ptr self, caf::actor observer, uint8_t kinds) {
  auto& st = self->state;
  auto& xs = st.observers;
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [&](auto& x) { return x.first == observer; }),
           xs.end());
  st.heartbeats_observed = (kinds & observe_heartbeat) != 0
                           || std::any_of(xs.begin(), xs.end(), [](auto& x) {
                                return (x.second & observe_heartbeat) != 0;
                              });
  if (kinds == 0) {
    // Deregistered: as an observer and as a leadership subscriber.
    auto& ys = st.leadership_subscribers;
    ys.erase(std::remove(ys.begin(), ys.end(), observer), ys.end());
    return;
  }
  // A late observer learns the state at once, not at the next change
  // (before the node started there is none: the start is a change).
  if (auto& core = st.core; core && (kinds & observe_state))
    caf::anon_send(observer, observation_of(*core));
  // ...and of the followers others were told are silent.
  if (kinds & observe_heartbeat)
    for (auto& id : st.silent_peers)
      caf::anon_send(observer, heartbeat_failure(self, id));
  xs.emplace_back(std::move(observer), kinds);
}

/// Sends `obs` to the observers that want its kind.
void tell_observers(node_ptr self, const observation& obs) {
  for (auto& [o, kinds] : self->state.observers)
    if (kinds & obs.kind)
      caf::anon_send(o, obs);
}

void notify_peers(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.latest_configuration_index() == st.observed_config_index)
    return;
  st.observed_config_index = core.latest_configuration_index();
  std::set<std::string> now;
  for (auto& s : core.latest_configuration().servers)
    now.insert(s.id);
  auto obs = observation_of(core, observe_peer);
  for (auto& id : now)
    if (st.observed_servers.count(id) == 0) {
      obs.peer = id;
      obs.removed = false;
      tell_observers(self, obs);
    }
  for (auto& id : st.observed_servers)
    if (now.count(id) == 0) {
      obs.peer = id;
      obs.removed = true;
      tell_observers(self, obs);
    }
  st.observed_servers = std::move(now);
}

observation heartbeat_failure(node_ptr self, const std::string& peer) {
  auto& st = self->state;
  auto& core = *st.core;
  auto obs = observation_of(core, observe_heartbeat, peer);
  obs.failed = true;
  if (auto r = st.replicators.find(peer); r != st.replicators.end())
    obs.last_contact = self->clock().now() - r->second.heard_at;
  return obs;
}

void notify_heartbeats(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  // Nobody listens, or no leadership: nothing was told. A new observer (or
  // leader) then hears of every follower that is silent by the next check.
  if (!st.heartbeats_observed || core.role() != role::leader) {
    st.silent_peers.clear();
    return;
  }
  auto& followers = core.followers();
  for (auto i = st.silent_peers.begin(); i != st.silent_peers.end();)
    i = followers.count(*i) == 0 ? st.silent_peers.erase(i) : std::next(i);
  for (auto& [id, f] : followers) {
    if (f.silent == (st.silent_peers.count(id) != 0))
      continue;
    if (f.silent) {
      st.silent_peers.insert(id);
      tell_observers(self, heartbeat_failure(self, id));
    } else {
      st.silent_peers.erase(id);
      // Resumed: failed stays false.
      tell_observers(self, observation_of(core, observe_heartbeat, id));
    }
  }
}

void notify_vote_request(node_ptr self, const vote_request& x) {
  auto& st = self->state;
  if (st.observers.empty() || !st.core)
    return;
  auto& core = *st.core;
  tell_observers(self,
                 observation_of(core, observe_vote_request, x.candidate));
}

void add_leadership_subscriber(node_ptr self, caf::actor subscriber) {
  if (auto& core = self->state.core)
    caf::anon_send(subscriber, leader_atom_v, core->role() == role::leader,
                   core->term());
  self->state.leadership_subscribers.push_back(std::move(subscriber));
}

} // namespace raft::node_detail
