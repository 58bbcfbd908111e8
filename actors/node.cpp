#include "actors/node.hpp"

#include <deque>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "actors/fsm_runner.hpp"
#include "actors/log_writer.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "config/errc.hpp"

namespace raft {

namespace {

using apply_promise = caf::typed_response_promise<index_t, caf::message>;
using index_promise = caf::typed_response_promise<index_t>;

struct node_state {
  static inline const char* name = "raft.node";

  node_options opts;
  std::unique_ptr<consensus> core;
  /// False until the state is loaded and the transport answered.
  bool started = false;
  caf::actor writer;
  caf::actor fsm;
  std::shared_ptr<spdlog::logger> log;

  // Durability pipeline: one write in flight, messages held until the
  // write that makes their state durable completes (persist before send).
  uint64_t write_seq = 0;
  uint64_t in_flight_seq = 0;
  std::deque<std::pair<uint64_t, outgoing>> held;
  bool flush_scheduled = false;

  // Application pipeline.
  index_t dispatched = 0;
  index_t applied = 0;
  std::map<index_t, apply_promise> applies;
  std::map<index_t, index_promise> barriers;
  std::vector<caf::typed_response_promise<bool>> transfers;
  struct read_request {
    index_promise promise;
    bool verify_only;
  };
  std::map<uint64_t, read_request> reads;
  std::multimap<index_t, index_promise> reads_waiting_apply;
  uint64_t next_read_id = 0;

  // Observability.
  std::vector<caf::actor> observers;
  caf::actor_clock::time_point last_contact;
  bool ever_contacted = false;
  raft::role last_role = role::follower;
  term_t last_term = 0;
  std::string last_leader;
};

using node_ptr = node_actor::stateful_pointer<node_state>;

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

void transmit(node_ptr self, outgoing& m) {
  auto& st = self->state;
  auto msg = std::visit([](auto& x) { return caf::make_message(std::move(x)); },
                        m.msg);
  caf::anon_send(st.opts.transport, rpc_atom_v, st.core->id(), std::move(m.to),
             std::move(msg));
}

void on_applied(node_ptr self, std::vector<apply_result>& results) {
  auto& st = self->state;
  for (auto& r : results) {
    st.applied = r.index;
    if (auto i = st.applies.find(r.index); i != st.applies.end()) {
      i->second.deliver(r.index, std::move(r.response));
      st.applies.erase(i);
    }
    if (auto i = st.barriers.find(r.index); i != st.barriers.end()) {
      i->second.deliver(r.index);
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
}

void dispatch_committed(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  auto commit = core.commit_index();
  if (commit <= st.dispatched)
    return;
  std::vector<log_entry> entries;
  core.log().slice(st.dispatched + 1, commit, SIZE_MAX, SIZE_MAX, entries);
  st.dispatched = commit;
  self->request(st.fsm, caf::infinite, fsm_apply_atom_v, std::move(entries))
    .then([self](std::vector<apply_result>& results) {
      on_applied(self, results);
    });
}

void fail_uncommitted(node_ptr self, errc code) {
  auto& st = self->state;
  auto commit = st.core->commit_index();
  // Entries up to the commit index will still be applied and answered;
  // later ones may or may not commit under the next leader.
  for (auto i = st.applies.upper_bound(commit); i != st.applies.end();) {
    i->second.deliver(make_error(code));
    i = st.applies.erase(i);
  }
  for (auto i = st.barriers.upper_bound(commit); i != st.barriers.end();) {
    i->second.deliver(make_error(code));
    i = st.barriers.erase(i);
  }
}

void notify_state(node_ptr self) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() == st.last_role && core.term() == st.last_term
      && core.leader_id() == st.last_leader)
    return;
  if (core.role() != st.last_role)
    st.log->info("{}: {} -> {} in term {}", core.id(), to_string(st.last_role),
                 to_string(core.role()), core.term());
  if (st.last_role == role::leader && core.role() != role::leader)
    fail_uncommitted(self, errc::leadership_lost);
  st.last_role = core.role();
  st.last_term = core.term();
  st.last_leader = core.leader_id();
  observation obs{core.id(), core.role(), core.term(), core.leader_id()};
  for (auto& o : st.observers)
    caf::anon_send(o, obs);
}

void on_persisted(node_ptr self, uint64_t seq, index_t index, term_t term) {
  auto& st = self->state;
  st.in_flight_seq = 0;
  if (index != 0)
    st.core->on_persisted(index, term);
  while (!st.held.empty() && st.held.front().first <= seq) {
    transmit(self, st.held.front().second);
    st.held.pop_front();
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
    if (!rd.persist.entries.empty()) {
      idx = rd.persist.entries.back().index;
      term = rd.persist.entries.back().term;
    }
    self
      ->request(st.writer, caf::infinite, persist_atom_v, seq,
                std::move(rd.persist))
      .then([self, idx, term](uint64_t done) {
        on_persisted(self, done, idx, term);
      });
  }
  // The leader's AppendEntries go out while its own write is in flight.
  for (auto& m : rd.send_now)
    transmit(self, m);
  // Votes and acknowledgements wait for the write that holds their state.
  uint64_t needed = core.has_pending_state() ? st.write_seq + 1
                                             : st.in_flight_seq;
  for (auto& m : rd.send_after_persist) {
    if (needed == 0)
      transmit(self, m);
    else
      st.held.emplace_back(needed, std::move(m));
  }
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
  if (rd.state_changed)
    notify_state(self);
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
  m["last_snapshot_index"] = std::to_string(core.log().snapshot_index());
  m["last_snapshot_term"] = std::to_string(core.log().snapshot_term());
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

void start_core(node_ptr self, loaded_state ls,
                const std::string& local_address) {
  auto& st = self->state;
  if (st.started)
    return;
  index_t snap = ls.entries.empty() ? 0 : ls.entries.front().index - 1;
  raft_log log{snap, 0};
  for (auto& e : ls.entries)
    log.append(std::move(e));
  st.core = std::make_unique<consensus>(st.opts.settings,
                                        hard_state{ls.term, ls.voted_for},
                                        std::move(log), configuration{}, 0);
  st.started = true;
  st.last_term = st.core->term();
  st.last_role = role::follower;
  st.dispatched = st.core->commit_index();
  st.applied = st.dispatched;
  if (st.opts.probe) {
    st.opts.probe->core = st.core.get();
    auto probe = st.opts.probe;
    self->attach_functor([probe] { probe->core = nullptr; });
  }
  st.core->start();
  st.log->info("{}: started at {} in term {} with log [{}, {}]", st.core->id(),
               local_address, st.core->term(), st.core->log().first_index(),
               st.core->last_index());
  if (st.opts.on_started)
    caf::anon_send(st.opts.on_started, loop_atom_v);
  schedule_flush(self);
}

node_actor::behavior_type node_impl(node_ptr self, node_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = st.opts.logger;
  if (!st.log)
    st.log = std::make_shared<spdlog::logger>(
      "raft", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto& sys = self->system();
  st.writer = spawn_log_writer(sys, st.opts.log, st.opts.stable,
                               st.opts.detach_blocking);
  st.fsm = spawn_fsm_runner(sys, st.opts.fsm, st.opts.detach_blocking);
  self->link_to(st.writer);
  self->link_to(st.fsm);
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
      [self](loaded_state& ls) {
        auto& st = self->state;
        auto id = st.opts.settings.local_id;
        // Like HashiCorp's NewRaft asking the transport for its local
        // address: the node starts only once its transport answers, so a
        // hung transport shows as a start timeout in the worker.
        self
          ->request(st.opts.transport, caf::infinite, connect_atom_v, id,
                    caf::actor_cast<caf::actor>(self))
          .then(
            [self, ls{std::move(ls)}](std::string& local_address) mutable {
              start_core(self, std::move(ls), local_address);
            },
            [self](caf::error& err) {
              self->state.log->error("raft node cannot reach its transport: "
                                     "{}",
                                     describe(err));
              self->quit(err);
            });
      },
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
      auto idx = core.propose(entry_type::command, std::move(data), now);
      if (idx == 0)
        return make_error(errc::leadership_transfer_in_progress);
      auto rp = self->make_response_promise<index_t, caf::message>();
      st.applies.emplace(idx, rp);
      schedule_flush(self);
      return rp;
    },
    [=](barrier_atom) -> caf::result<index_t> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto idx = core.propose(entry_type::barrier, bytes{}, 0);
      if (idx == 0)
        return make_error(errc::leadership_transfer_in_progress);
      auto rp = self->make_response_promise<index_t>();
      st.barriers.emplace(idx, rp);
      schedule_flush(self);
      return rp;
    },
    [=](change_atom, const configuration_change& change)
      -> caf::result<index_t> {
      auto& st = self->state;
      auto& core = *st.core;
      if (core.role() != role::leader)
        return not_leader_error(core);
      auto p = core.change_configuration(change);
      if (p.index == 0)
        return make_error(errc::configuration_rejected,
                          "configuration change rejected: " + p.refusal);
      // Answered when the entry is applied, i.e. committed (as a barrier).
      auto rp = self->make_response_promise<index_t>();
      st.barriers.emplace(p.index, rp);
      schedule_flush(self);
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
      self->state.observers.push_back(std::move(observer));
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
      for (auto& [idx, rp] : st.applies)
        rp.deliver(make_error(errc::raft_shutdown));
      st.applies.clear();
      for (auto& [idx, rp] : st.barriers)
        rp.deliver(make_error(errc::raft_shutdown));
      st.barriers.clear();
      for (auto& [id, r] : st.reads)
        r.promise.deliver(make_error(errc::raft_shutdown));
      st.reads.clear();
      for (auto& [idx, rp] : st.reads_waiting_apply)
        rp.deliver(make_error(errc::raft_shutdown));
      st.reads_waiting_apply.clear();
      notify_state(self);
      caf::anon_send(st.opts.transport, disconnect_atom_v, st.core->id());
      // HashiCorp's Shutdown waits for its goroutines: answer (and quit)
      // only once the log writer and FSM runner are gone, so the store is
      // closed when the caller hears back.
      auto rp = self->make_response_promise<bool>();
      auto pending = std::make_shared<int>(2);
      auto done = std::make_shared<caf::typed_response_promise<bool>>(rp);
      self->set_down_handler([self, done, pending](caf::down_msg&) {
        if (--*pending == 0) {
          done->deliver(true);
          self->quit();
        }
      });
      for (auto* child : {&st.writer, &st.fsm}) {
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
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const append_request& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const append_response& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](const timeout_now& x) {
      self->state.core->handle(x);
      schedule_flush(self);
    },
    [=](timer_atom, uint8_t kind, uint64_t generation) {
      self->state.core->on_timer(static_cast<timer_kind>(kind), generation);
      schedule_flush(self);
    },
    [=](flush_atom) { flush(self); },
  };
}

} // namespace

node_actor spawn_node(caf::actor_system& sys, node_options opts) {
  return sys.spawn(node_impl, std::move(opts));
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::caf_raft>();
  register_error_category(cfg);
}

} // namespace raft
