#pragma once

// A deterministic in-process cluster for Boost.Test: every node, its log
// writer and FSM runner, and the in-memory transport run under CAF's test
// coordinator; time moves only when the fixture fires the next timer. Job
// order is drawn from a seeded generator, so one seed is one schedule, and
// a failing seed replays exactly. After every step `check()` runs the
// invariant checker (LogCabin-style): at most one leader per term, terms
// never go back, committed entries never change, commit and applied
// indexes never go back, acknowledged applies stay where they were
// acknowledged.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/protocol/rules.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/inmem_snapshot_store.hpp"
#include "caf-raft/storage/span_reader.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "caf/send.hpp"
#include "history.hpp"
#include "sim.hpp"
#include "sim_store.hpp"

namespace raft::test {

/// The outcome of one client request.
struct outcome {
  bool done = false;
  caf::error err;
  index_t index = 0;
  caf::message response;
};

/// Thrown by the checker; carries what broke and why it matters.
struct invariant_violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class cluster : public sim {
public:
  struct member {
    std::string id;
    std::shared_ptr<sim_store> store;
    /// Survives crashes like the store (it stands for the disk).
    std::shared_ptr<inmem_snapshot_store> snaps;
    std::shared_ptr<raft::fsm::simple_fsm> fsm;
    std::shared_ptr<node_probe> probe;
    node_actor handle;
    bool up = false;
    // Checker state per incarnation.
    index_t last_commit = 0;
    term_t last_term = 0;
    index_t checked_upto = 0;
    /// The FSM's applied index when its state was last compared.
    index_t fsm_checked = 0;
    /// The term this node last led, and its commit index when it began.
    term_t led_term = 0;
    index_t commit_when_elected = 0;
  };

  inmem_transport_actor transport;
  std::vector<member> nodes;
  raft_config settings;
  /// index -> (term, data) of every entry any node reported committed.
  std::map<index_t, std::pair<term_t, bytes>> committed;
  /// The indexes in `committed` that hold commands.
  std::set<index_t> committed_commands;
  /// The indexes in `committed` that hold user restores.
  std::set<index_t> committed_restores;
  /// term -> leader id.
  std::map<term_t, std::string> leaders;
  /// Applies that were acknowledged: index -> data.
  std::map<index_t, bytes> acknowledged;
  /// Every client operation, for the linearizability check.
  history hist;
  explicit cluster(size_t n, uint64_t seed_value = 1,
                   std::function<void(raft_config&)> tweak = nullptr)
    : sim(seed_value) {
    transport = spawn_inmem_transport(
      sys, seed_value,
      [this](const std::string& from, const std::string& to,
             const caf::message& msg) { audit(from, to, msg); });
    settings.heartbeat_timeout = std::chrono::milliseconds{100};
    settings.election_timeout = std::chrono::milliseconds{100};
    settings.leader_lease_timeout = std::chrono::milliseconds{100};
    settings.commit_timeout = std::chrono::milliseconds{5};
    if (tweak)
      tweak(settings);
    configuration conf;
    for (size_t i = 1; i <= n; ++i) {
      auto id = std::to_string(i);
      conf.servers.push_back(server{suffrage::voter, id, "addr-" + id});
    }
    for (size_t i = 1; i <= n; ++i) {
      member m;
      m.id = std::to_string(i);
      m.store = std::make_shared<sim_store>();
      m.snaps = std::make_shared<inmem_snapshot_store>(2);
      auto err = bootstrap_cluster(*m.store, *m.store, conf);
      if (err)
        throw std::runtime_error("bootstrap failed: " + describe(err));
      nodes.push_back(std::move(m));
    }
    for (size_t i = 0; i < n; ++i)
      start(i);
    run_jobs();
  }

  ~cluster() {
    for (auto& m : nodes)
      if (m.up)
        caf::anon_send_exit(m.handle, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Spawns node `i` on its existing store with a fresh state machine (as
  /// after a process restart).
  void start(size_t i) {
    auto& m = nodes[i];
    // The process restarts on whatever its disk kept.
    m.store->revive();
    m.fsm = std::make_shared<raft::fsm::simple_fsm>();
    m.probe = std::make_shared<node_probe>();
    node_options opts;
    opts.settings = settings;
    opts.settings.local_id = m.id;
    opts.settings.random_seed = seed * 1000 + i + 1 + restarts_ * 7919;
    opts.log = m.store;
    opts.stable = m.store;
    opts.fsm = m.fsm;
    opts.snapshots = m.snaps;
    opts.transport = transport;
    opts.detach_blocking = false;
    opts.probe = m.probe;
    if (std::getenv("RAFT_LOG") != nullptr) {
      // Debugging aid: RAFT_LOG=1 sends every node's log to stderr.
      static auto log = spdlog::stderr_color_mt("raft-sim");
      opts.logger = log;
    }
    m.handle = spawn_node(sys, opts);
    m.up = true;
    m.last_commit = 0;
    m.checked_upto = 0;
    m.fsm_checked = 0;
  }

  /// Adds a server with an empty store (not bootstrapped) and starts it;
  /// returns its position. It joins once the leader adds it.
  size_t add_member(const std::string& id) {
    member m;
    m.id = id;
    m.store = std::make_shared<sim_store>();
    m.snaps = std::make_shared<inmem_snapshot_store>(2);
    nodes.push_back(std::move(m));
    start(nodes.size() - 1);
    run_jobs();
    return nodes.size() - 1;
  }

  /// Crashes node `i` and gives it empty storage, as a server whose disk
  /// was replaced: it comes back (after `start`) as a new server, which the
  /// leader must add again. With `new_id` it gets a new id, as Juju's
  /// machine ids and etcd's member ids are never reused. Under its old id,
  /// a server that still holds an old configuration counts the new disk's
  /// vote as the old one's, which it is not (seed 37597: a stale leader
  /// elected by a removed server and a wiped one).
  void wipe(size_t i, bool new_id = false) {
    crash(i);
    run_jobs();
    auto& m = nodes[i];
    // A new disk is a new server under the old id: it remembers no votes
    // (it is outside every configuration, so its votes count for nobody).
    for (auto it = votes_.begin(); it != votes_.end();)
      it = it->first.first == m.id ? votes_.erase(it) : std::next(it);
    torn_writes_before_ += m.store->torn_writes;
    if (new_id)
      m.id = m.id.substr(0, m.id.find('.')) + "." + std::to_string(++wipes_);
    m.store = std::make_shared<sim_store>();
    m.snaps = std::make_shared<inmem_snapshot_store>(2);
    m.last_term = 0;
    m.last_commit = 0;
    m.checked_upto = 0;
  }

  /// Asks node `i` for a membership change from a fresh client actor; the
  /// outcome fills in as the simulation runs.
  std::shared_ptr<outcome> change_async(size_t i, configuration_change ch) {
    auto res = std::make_shared<outcome>();
    auto node = nodes[i].handle;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, change_atom_v, ch)
        .then(
          [=](index_t idx) {
            res->done = true;
            res->index = idx;
          },
          [=](caf::error& err) {
            res->done = true;
            res->err = std::move(err);
          });
    });
    return res;
  }

  /// Crashes node `i` after `jobs` more jobs of any actor, so that it can
  /// die with a write or an answer in flight.
  void crash_after_jobs(size_t i, size_t jobs) {
    settle_crash();
    crash_at_ = steps + jobs;
    crash_node_ = i;
  }

  /// A crash still pending from crash_after_jobs strikes now.
  void settle_crash() {
    if (crash_at_ != 0) {
      crash_at_ = 0;
      if (nodes[crash_node_].up) {
        crash(crash_node_);
        ++crashes_in_flight;
      }
    }
  }

  /// Crashes node `i` during a coming write: `writes` more write calls
  /// succeed, the next one is torn (see sim_store).
  void crash_mid_write(size_t i, size_t writes) {
    nodes[i].store->crash_at_write(writes, rng());
  }

  /// Makes the next `n` writes of node `i` fail: the node must stop
  /// without acknowledging what it could not store.
  void fault_writes(size_t i, size_t n, disk_fault kind) {
    nodes[i].store->fault_next_writes(n, kind);
  }

  /// Whether node `i` is down or about to go down (a crash or a storage
  /// fault is pending): the scenario keeps a majority out of both.
  bool down_or_doomed(size_t i) const {
    auto& m = nodes[i];
    return !m.up || m.store->crash_armed() || m.store->crashed()
           || (crash_at_ != 0 && crash_node_ == i);
  }

  /// Ends every pending fault: the disks are healthy from now on.
  void clear_disk_faults() {
    settle_crash();
    for (auto& m : nodes)
      m.store->clear_faults();
  }

  void after_job() override {
    if (crash_at_ != 0 && steps >= crash_at_)
      settle_crash();
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto& m = nodes[i];
      if (!m.up)
        continue;
      if (m.store->crashed()) {
        // The crash struck during a write of this job: the process dies
        // before it does anything more.
        crash(i);
        ++crashes_mid_write;
      } else if (m.probe->stopped) {
        // The node stopped itself (a failed write): like a process that
        // exits, it is down until restarted.
        crash(i);
        ++storage_stops;
      }
    }
  }

  /// Crashes struck between two jobs (crash_after_jobs).
  size_t crashes_in_flight = 0;
  /// Crashes struck during a write (crash_mid_write).
  size_t crashes_mid_write = 0;
  /// Nodes that stopped on a failed write.
  size_t storage_stops = 0;

  /// Kills node `i` at once: whatever its writer had not stored is lost.
  void crash(size_t i) {
    auto& m = nodes[i];
    if (!m.up)
      return;
    caf::anon_send_exit(m.handle, caf::exit_reason::kill);
    caf::anon_send(transport, disconnect_atom_v, m.id);
    m.up = false;
    // A term the node held only in memory dies with it (it acted on none
    // before storing it: the audits check that); across restarts the rule
    // is that the stored term never goes back.
    auto stored = m.store->get_uint64(stable_keys::current_term);
    m.last_term = stored ? *stored : 0;
    ++restarts_;
  }

  const consensus* core(size_t i) const {
    return nodes[i].up ? nodes[i].probe->core : nullptr;
  }

  /// The index of the unique live leader with the highest term, or -1.
  int leader() const {
    int result = -1;
    term_t best = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto c = core(i);
      if (c && c->role() == role::leader && c->term() >= best) {
        best = c->term();
        result = static_cast<int>(i);
      }
    }
    return result;
  }

  bool has_leader() const {
    return leader() >= 0;
  }

  /// Sends an apply to node `i` from a fresh client actor; the outcome
  /// fills in as the simulation runs. Acknowledged applies are recorded.
  std::shared_ptr<outcome> apply_async(size_t i, std::string text) {
    auto res = std::make_shared<outcome>();
    bytes data(text.begin(), text.end());
    auto node = nodes[i].handle;
    auto op = hist.call(call_of(client_op::apply, i, data));
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, apply_atom_v, data)
        .then(
          [=](index_t idx, caf::message& resp) {
            res->done = true;
            res->index = idx;
            res->response = std::move(resp);
            hist.complete(op, true, idx);
            acknowledge(idx, data);
          },
          [=](caf::error& err) {
            res->done = true;
            res->err = std::move(err);
            hist.complete(op, false);
          });
    });
    return res;
  }

  /// Reads through node `i` on one of its read paths (ReadIndex, a
  /// barrier, or verify_leader) while the simulation runs. A read observes
  /// the node's applied index when its answer arrives (where a client
  /// reads the state machine).
  void read_async(size_t i, client_op::kind_t kind) {
    auto node = nodes[i].handle;
    auto probe = nodes[i].probe;
    auto term_at_call = probe->core ? probe->core->term() : 0;
    auto op = hist.call(call_of(kind, i, {}));
    sys.spawn([=](caf::event_based_actor* self) {
      auto done = [=](index_t) {
        if (kind != client_op::verify) {
          hist.complete(op, true, probe->applied);
          return;
        }
        // Leader of one term through call and answer; a term that changed
        // tells nothing about which one was verified.
        auto term = probe->core ? probe->core->term() : 0;
        hist.complete(op, term != 0 && term == term_at_call, 0, term);
      };
      auto failed = [=](caf::error&) { hist.complete(op, false); };
      if (kind == client_op::read_index)
        self->request(node, caf::infinite, read_atom_v).then(done, failed);
      else if (kind == client_op::barrier)
        self->request(node, caf::infinite, barrier_atom_v).then(done, failed);
      else
        self->request(node, caf::infinite, verify_atom_v).then(done, failed);
    });
  }

  /// Takes a snapshot on node `i` and restores it (HashiCorp's Restore),
  /// a write that sets the state back to the snapshot's.
  void restore_async(size_t i) {
    auto node = nodes[i].handle;
    auto op = hist.call(call_of(client_op::restore, i, {}));
    sys.spawn([=](caf::event_based_actor* self) {
      auto failed = [=](caf::error&) { hist.complete(op, false); };
      self->request(node, caf::infinite, snapshot_atom_v)
        .then(
          [=](snapshot_meta& meta) {
            self->request(node, caf::infinite, restore_atom_v, meta.id)
              .then([=](index_t idx) { hist.complete(op, true, idx); },
                    failed);
          },
          failed);
    });
  }

  /// Asks node `i` to hand leadership to the most up-to-date voter.
  void transfer_async(size_t i) {
    auto node = nodes[i].handle;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, transfer_atom_v, std::string{})
        .then([=](bool moved) { transfers_done += moved ? 1 : 0; },
              [](caf::error&) {});
    });
  }

  /// Leadership transfers that completed.
  size_t transfers_done = 0;

  /// Writes torn by a crash, on every disk this cluster had.
  size_t torn_writes() const {
    auto n = torn_writes_before_;
    for (auto& m : nodes)
      n += m.store->torn_writes;
    return n;
  }

  /// Applies on the current leader and runs until the answer arrives.
  outcome apply(std::string text, size_t max_timers = 500) {
    if (!run_until([&] { return has_leader(); }, max_timers))
      return outcome{true, make_error(errc::not_leader, "no leader"), 0, {}};
    auto res = apply_async(static_cast<size_t>(leader()), std::move(text));
    run_until([&] { return res->done; }, max_timers);
    return *res;
  }

  /// Sends any request to node `i` and runs until answered.
  template <class... Ts, class... Args>
  std::optional<std::tuple<Ts...>> ask(size_t i, Args... args) {
    auto out = std::make_shared<std::optional<std::tuple<Ts...>>>();
    auto err = std::make_shared<caf::error>();
    auto done = std::make_shared<bool>(false);
    auto node = nodes[i].handle;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, args...)
        .then([=](Ts&... xs) {
                *out = std::make_tuple(std::move(xs)...);
                *done = true;
              },
              [=](caf::error& e) {
                *err = std::move(e);
                *done = true;
              });
    });
    run_until([&] { return *done; }, 500);
    last_error = *err;
    return *out;
  }

  caf::error last_error;

  void partition(const std::vector<std::vector<size_t>>& groups) {
    int g = 0;
    for (auto& grp : groups) {
      for (auto i : grp)
        caf::anon_send(transport, partition_atom_v, nodes[i].id, g);
      ++g;
    }
    run_jobs();
  }

  /// Every message from node `i` to node `j` is lost (one way only).
  void cut(size_t i, size_t j) {
    caf::anon_send(transport, partition_atom_v, nodes[i].id, nodes[j].id);
    run_jobs();
  }

  /// Every message from node `i` to node `j` takes at least `d`.
  void slow(size_t i, size_t j, caf::timespan d) {
    caf::anon_send(transport, fault_atom_v, nodes[i].id, nodes[j].id, d);
    run_jobs();
  }

  void heal() {
    caf::anon_send(transport, heal_atom_v);
    run_jobs();
  }

  void faults(fault_settings f) {
    caf::anon_send(transport, fault_atom_v, f);
    run_jobs();
  }

  /// The invariant checker; throws invariant_violation naming the rule.
  void check() override {
    if (!violation_.empty())
      fail(violation_);
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto& m = nodes[i];
      auto c = core(i);
      if (!c)
        continue;
      // Election Safety (§5.2): at most one leader per term. A leader
      // counts once its vote is stored: one that crashes before that has
      // sent nothing in its term (the node holds its messages) and was
      // never elected as far as anyone can tell.
      if (c->role() == role::leader && vote_durable(*m.store, c->term())) {
        auto [it, fresh] = leaders.emplace(c->term(), m.id);
        if (!fresh && it->second != m.id)
          fail("two leaders in term " + std::to_string(c->term()) + ": "
               + it->second + " and " + m.id);
        if (fresh) {
          check_elected_by_majority(m, *c);
          check_leader_completeness(m, *c);
        }
        check_leader_rules(m, *c);
      }
      check_log_matching(m, *c);
      check_configuration_in_log(m, *c);
      // Terms never go back (§5.1), even across restarts: the durable term
      // is reloaded.
      if (c->term() < m.last_term)
        fail("term of " + m.id + " went back from "
             + std::to_string(m.last_term) + " to "
             + std::to_string(c->term()));
      m.last_term = c->term();
      // The commit index never goes back within an incarnation.
      if (c->commit_index() < m.last_commit)
        fail("commit index of " + m.id + " went back");
      m.last_commit = c->commit_index();
      // State Machine Safety (§5.4.3): once committed anywhere, an index
      // holds the same entry everywhere it is committed.
      auto& log = c->log();
      for (auto k = std::max(m.checked_upto + 1, log.first_index());
           k <= c->commit_index() && k <= log.last_index(); ++k) {
        // Entries leave memory only once applied, long after this check
        // saw them commit (it runs after every job).
        if (!log.resident(k))
          continue;
        auto& e = log.at(k);
        auto [it, fresh] = committed.emplace(k, std::make_pair(e.term, e.data));
        if (fresh) {
          // The commit happened in this term or before: an upper bound.
          commit_terms_.emplace(k, c->term());
          if (e.type == entry_type::command)
            committed_commands.insert(k);
          else if (e.type == entry_type::restore)
            committed_restores.insert(k);
          hist.committed(k, e.term, e.data, e.type == entry_type::command);
          // An acknowledged apply is committed where it was acknowledged.
          auto a = acknowledged.find(k);
          if (a != acknowledged.end() && a->second != e.data)
            fail("acknowledged apply at " + std::to_string(k)
                 + " was replaced");
        }
        if (!fresh && (it->second.first != e.term || it->second.second != e.data))
          fail("committed entry " + std::to_string(k) + " differs on " + m.id);
        m.checked_upto = k;
      }
    }
    check_fsm_states();
  }

  /// Whether a vote in `term` can never be cast again by this server: its
  /// store holds that vote (or one of a later term: a message of a crashed
  /// incarnation may be audited after the next one voted again), or a
  /// later current term (a vote overtaken by a newer term before its write:
  /// the server can no longer vote in `term` at all).
  static bool vote_durable(inmem_store& store, term_t term) {
    auto current = store.get_uint64(stable_keys::current_term);
    auto voted = store.get_uint64(stable_keys::last_vote_term);
    if (!current || *current < term)
      return false;
    return *current > term || (voted && *voted >= term);
  }

  /// Persist before send (§5 Figure 2, "Rules for all servers": respond to
  /// RPCs only after updating stable storage): every acknowledgement and
  /// vote that leaves a server must be backed by its store.
  void audit(const std::string& from, const std::string& to,
             const caf::message& msg) {
    // Debugging aid: RAFT_TRACE=1 prints every message delivered.
    static const bool trace = std::getenv("RAFT_TRACE") != nullptr;
    if (trace)
      std::cerr << "[" << steps << " " << now().count() / 1000000 << "ms] "
                << from << " -> " << to << ": " << caf::deep_to_string(msg)
                << "\n";
    member* m = nullptr;
    for (auto& x : nodes)
      if (x.id == from)
        m = &x;
    if (m == nullptr)
      return;
    auto& store = *m->store;
    if (msg.match_element<append_response>(0)) {
      auto& r = msg.get_as<append_response>(0);
      if (!r.success || r.index == 0)
        return;
      auto& acked = acks_[std::make_tuple(to, r.term, from)];
      acked = std::max(acked, r.index);
      log_entry e;
      if (store.get_log(r.index, e) && !snapshot_covers(*m, r.index))
        note_violation(from + " acknowledged index " + std::to_string(r.index)
             + " before storing it");
    } else if (msg.match_element<vote_response>(0)) {
      auto& r = msg.get_as<vote_response>(0);
      if (!r.granted || r.pre_vote)
        return;
      // Election Safety rests on one vote per voter per term (§5.2), across
      // restarts too: the vote is durable before it is sent.
      auto [it, fresh] = votes_.emplace(std::make_pair(from, r.term), to);
      if (!fresh && it->second != to)
        note_violation(from + " voted for both " + it->second + " and " + to
                       + " in term " + std::to_string(r.term));
      if (!vote_durable(store, r.term))
        note_violation(from + " granted a vote in term " + std::to_string(r.term)
             + " before storing it");
    } else if (msg.match_element<install_snapshot_request>(0)) {
      auto& r = msg.get_as<install_snapshot_request>(0);
      snapshot_index_[r.snapshot_id] = r.last_index;
      require_stored_term(store, from, r.term, "a snapshot");
    } else if (msg.match_element<install_snapshot_response>(0)) {
      // A follower that installed a snapshot (or already held all it
      // covers) holds its last index: the leader may count that as a match.
      auto& r = msg.get_as<install_snapshot_response>(0);
      auto i = snapshot_index_.find(r.snapshot_id);
      if (r.success && i != snapshot_index_.end()) {
        auto& acked = acks_[std::make_tuple(to, r.term, from)];
        acked = std::max(acked, i->second);
      }
    } else if (msg.match_element<append_request>(0)) {
      auto& r = msg.get_as<append_request>(0);
      require_stored_term(store, from, r.term, "AppendEntries");
    } else if (msg.match_element<vote_request>(0)) {
      auto& r = msg.get_as<vote_request>(0);
      if (r.pre_vote)
        return;
      if (!vote_durable(store, r.term))
        note_violation(from + " asked for votes in term " + std::to_string(r.term)
             + " before storing its own vote");
    }
  }

  /// Records an acknowledged apply; checked against the committed entry
  /// now if it is known, else when it commits (each once: linear cost).
  void acknowledge(index_t idx, const bytes& data) {
    acknowledged[idx] = data;
    auto i = committed.find(idx);
    if (i != committed.end() && i->second.second != data)
      note_violation("acknowledged apply at " + std::to_string(idx)
                     + " was replaced");
  }

  /// The history's record of a call to node `i`.
  client_op call_of(client_op::kind_t kind, size_t i, bytes data) {
    client_op op;
    op.kind = kind;
    op.node = nodes[i].id;
    op.called_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now())
                     .count();
    op.data = std::move(data);
    return op;
  }

  /// A leader acts in a term only once the term is stored: else it could
  /// restart in the old term and vote for another leader of the same term,
  /// which would send other entries under the same (index, term).
  void require_stored_term(inmem_store& store, const std::string& from,
                           term_t term, const char* what) {
    auto current = store.get_uint64(stable_keys::current_term);
    if (!current || *current < term)
      note_violation(from + " sent " + what + " in term " + std::to_string(term)
                     + " before storing the term");
  }

  /// Whether a stored snapshot of `m` covers `index` (compacted entries
  /// are durable in it).
  static bool snapshot_covers(member& m, index_t index) {
    auto metas = m.snaps->list();
    return metas && !metas->empty() && metas->front().index >= index;
  }

  /// State Machine Safety at the FSM level: every live node's state machine
  /// holds exactly the committed commands up to its applied index, in
  /// order. Skipped for a node whose range the checker never saw whole.
  void check_fsms() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto& m = nodes[i];
      if (!m.up)
        continue;
      // A reference state machine fed the committed log: commands apply,
      // restore entries replace the state.
      auto applied = m.probe->applied;
      raft::fsm::simple_fsm reference;
      bool complete = true;
      for (index_t k = 1; k <= applied && complete; ++k) {
        auto it = committed.find(k);
        if (it == committed.end()) {
          complete = false;
        } else if (committed_commands.count(k) != 0) {
          log_entry e;
          e.index = k;
          e.data = it->second.second;
          reference.apply(e);
        } else if (committed_restores.count(k) != 0) {
          span_reader in{it->second.second};
          if (auto err = reference.restore(in))
            fail("committed restore entry " + std::to_string(k)
                 + " does not decode: " + describe(err));
        }
      }
      if (complete && m.fsm->logs() != reference.logs())
        fail("state machine of " + m.id + " differs from the committed "
             "log up to its applied index "
             + std::to_string(applied));
    }
  }

  /// Records a violation seen inside an actor (where throwing would only
  /// kill that actor); the next `check()` raises it.
  void note_violation(const std::string& what) {
    if (violation_.empty())
      violation_ = what;
  }

  [[noreturn]] void fail(const std::string& what) override {
    throw invariant_violation(what + " (" + where() + ")\n" + dump());
  }

  /// One line per server: what a reader of a failure needs first.
  std::string dump() const {
    std::ostringstream os;
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto c = core(i);
      os << "  " << nodes[i].id << ": ";
      if (!c) {
        os << "down\n";
        continue;
      }
      os << c->role() << " term " << c->term() << " voted '" << c->voted_for()
         << "' leader '" << c->leader_id() << "' log [" << c->log().first_index()
         << ", " << c->last_index() << "] last term " << c->last_term()
         << " commit " << c->commit_index() << " applied "
         << nodes[i].probe->applied << " config@"
         << c->latest_configuration_index() << " {";
      for (auto& s : c->latest_configuration().servers)
        os << " " << s.id << (s.suffrage == suffrage::voter ? "" : "(nv)");
      os << " }\n";
    }
    return os.str();
  }

private:
  /// State Machine Safety at the FSM, restores included: two state machines
  /// that applied the same command index hold the same state.
  void check_fsm_states() {
    for (auto& m : nodes) {
      if (!m.up || !m.fsm)
        continue;
      auto k = m.fsm->applied_index();
      if (k == 0 || k == m.fsm_checked)
        continue;
      m.fsm_checked = k;
      auto logs = m.fsm->logs();
      size_t h = logs.size();
      for (auto& x : logs)
        h = h * 1000003u ^ std::hash<std::string>{}(std::string(x.begin(), x.end()));
      auto [it, fresh] = fsm_states_.emplace(k, h);
      if (!fresh && it->second != h)
        fail("state machine of " + m.id + " after index " + std::to_string(k)
             + " differs from another's after the same index");
    }
  }

  /// Rules a leader keeps while it leads, checked against its state:
  /// - §5.4.2 (Figure 8): by counting replicas a leader commits only an
  ///   entry of its own term; older ones commit with it. Once its commit
  ///   index moved in its term, it points at an entry of that term.
  /// - §5.1: a follower's match index rests on that follower's answers in
  ///   the leader's current term; an answer of an earlier term says
  ///   nothing about the leader's log now.
  void check_leader_rules(member& m, const consensus& c) {
    if (m.led_term != c.term()) {
      m.led_term = c.term();
      m.commit_when_elected = c.commit_index();
    }
    auto commit = c.commit_index();
    if (commit > m.commit_when_elected) {
      auto t = c.log().term_at(commit);
      if (t && *t != c.term())
        fail("leader " + m.id + " of term " + std::to_string(c.term())
             + " committed index " + std::to_string(commit) + " of term "
             + std::to_string(*t)
             + " by counting replicas (Figure 8, §5.4.2)");
    }
    for (auto& [peer, pr] : c.followers()) {
      if (pr.match_index == 0)
        continue;
      auto i = acks_.find(std::make_tuple(m.id, c.term(), peer));
      auto acked = i == acks_.end() ? index_t{0} : i->second;
      if (pr.match_index > acked)
        fail("leader " + m.id + " of term " + std::to_string(c.term())
             + " counts " + peer + " as holding index "
             + std::to_string(pr.match_index) + ", but " + peer
             + " acknowledged only " + std::to_string(acked)
             + " in this term (an answer of another term moved the match "
               "index)");
    }
  }

  /// Log Matching (§5.3), checked at each log's tail, where entries
  /// arrive: an entry is named by index and term, so two logs holding the
  /// same (index, term) hold the same data there and the same term just
  /// before (by induction, the same prefix).
  /// §6: a server uses the newest configuration in its log. Its entry must
  /// be there: a configuration whose entry a snapshot or a conflict
  /// removed is no one's (seed 78456).
  void check_configuration_in_log(const member& m, const consensus& c) {
    auto& log = c.log();
    auto idx = c.latest_configuration_index();
    if (idx <= log.snapshot_index())
      return;
    if (idx > log.last_index()
        || (log.resident(idx)
            && log.at(idx).type != entry_type::configuration))
      fail(m.id + " uses the configuration of index " + std::to_string(idx)
           + ", which its log (up to " + std::to_string(log.last_index())
           + ") does not hold as a configuration entry");
  }

  void check_log_matching(const member& m, const consensus& c) {
    auto& log = c.log();
    auto last = log.last_index();
    auto lo = std::max(log.resident_from(), last > 2 ? last - 2 : index_t{1});
    for (auto k = lo; k <= last; ++k) {
      auto& e = log.at(k);
      auto t = log.term_at(k - 1);
      if (!t)
        continue;
      term_t prev = *t;
      auto [it, fresh] = entries_.emplace(std::make_pair(k, e.term),
                                          std::make_pair(prev, e.data));
      if (!fresh && (it->second.first != prev || it->second.second != e.data))
        fail("Log Matching broken at index " + std::to_string(k) + " term "
             + std::to_string(e.term) + " on " + m.id + ": term before it "
             + std::to_string(prev) + ", " + std::to_string(e.data.size())
             + " bytes of type " + std::to_string(static_cast<int>(e.type))
             + "; first seen with term before it "
             + std::to_string(it->second.first) + ", "
             + std::to_string(it->second.second.size()) + " bytes");
    }
  }

  /// §5.2: a new leader holds the votes of a majority of its
  /// configuration's voters in its term, its own among them, as delivered
  /// on the network (an election actor that counts an answer twice, or one
  /// from another term, elects a leader without them).
  void check_elected_by_majority(const member& m, const consensus& c) {
    size_t voters = 0;
    size_t votes = 0;
    for (auto& s : c.latest_configuration().servers) {
      if (s.suffrage != suffrage::voter)
        continue;
      ++voters;
      auto i = votes_.find(std::make_pair(s.id, c.term()));
      if (s.id == m.id || (i != votes_.end() && i->second == m.id))
        ++votes;
    }
    if (votes < rules::quorum_size(voters))
      fail(m.id + " leads term " + std::to_string(c.term()) + " with "
           + std::to_string(votes) + " of " + std::to_string(voters)
           + " votes");
  }

  /// Leader Completeness (§5.4): a new leader holds every entry committed
  /// in an earlier term (those before its log were compacted into its
  /// snapshot). A leader of a stale term, elected by late votes, need not
  /// hold what later terms committed.
  void check_leader_completeness(const member& m, const consensus& c) {
    auto& log = c.log();
    for (auto it = committed.lower_bound(log.first_index());
         it != committed.end(); ++it) {
      auto k = it->first;
      if (commit_terms_[k] >= c.term())
        continue;
      if (k > log.last_index() || log.term_at(k) != it->second.first)
        fail("leader " + m.id + " of term " + std::to_string(c.term())
             + " lacks committed entry " + std::to_string(k));
    }
  }

  uint64_t restarts_ = 0;
  uint64_t wipes_ = 0;
  /// Torn writes of disks that were replaced (wipe).
  size_t torn_writes_before_ = 0;
  std::string violation_;
  size_t crash_at_ = 0;
  size_t crash_node_ = 0;
  /// index -> the term of the node that first reported it committed (at
  /// least the term in which it was committed).
  std::map<index_t, term_t> commit_terms_;
  /// (voter, term) -> the candidate it granted its vote.
  std::map<std::pair<std::string, term_t>, std::string> votes_;
  /// (leader, term, follower) -> the highest index the follower
  /// acknowledged to that leader in that term.
  std::map<std::tuple<std::string, term_t, std::string>, index_t> acks_;
  /// Snapshot id -> its last index, from the requests that carried it.
  std::map<std::string, index_t> snapshot_index_;
  /// Applied command index -> a hash of the state machine after it.
  std::map<index_t, size_t> fsm_states_;
  /// (index, term) -> (term before it, data) as first seen in any log.
  std::map<std::pair<index_t, term_t>, std::pair<term_t, bytes>> entries_;
};

inline std::string text_of(const bytes& b) {
  return std::string(b.begin(), b.end());
}

} // namespace raft::test
