#include "caf-raft/actors/replicator.hpp"
#include "caf-raft/actors/commit_trace.hpp"

#include <chrono>
#include <map>
#include <random>

#include "caf-raft/actors/metrics.hpp"

#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

enum class replicator_timer : uint8_t { heartbeat, commit, snapshot_retry };

/// A request in flight, for its round trip's metric.
struct sent_request {
  std::chrono::steady_clock::time_point at;
  size_t entries = 0;
};

/// Requests in flight kept at most (answers lost on the way never come).
constexpr size_t max_timed_requests = 1024;

struct replicator_state {
  static inline const char* name = "raft.replicator";
  replicator_options opts;
  std::optional<replication> repl;
  std::mt19937_64 rng;
  /// The follower's series (null without metrics).
  raft_metrics::peer_metrics* peer = nullptr;
  /// AppendEntries in flight by the last index they cover, which a
  /// successful answer echoes; heartbeats (prev 0, no entries, all echoing
  /// index 0) by their read round. Rejections are not timed.
  std::map<index_t, sent_request> appends;
  std::map<uint64_t, std::chrono::steady_clock::time_point> heartbeats;
};

bool is_heartbeat(const append_request& req) {
  return req.prev_log_index == 0 && req.entries.empty();
}

/// Notes when `req` went out, for its round trip's metric. A request sent
/// again under the same key is timed from its newest send.
void time_request(replicator_state& st, const append_request& req) {
  if (st.appends.size() + st.heartbeats.size() >= max_timed_requests) {
    st.appends.clear(); // answers lost on the way never come
    st.heartbeats.clear();
  }
  auto now = std::chrono::steady_clock::now();
  if (is_heartbeat(req))
    st.heartbeats.insert_or_assign(req.round, now);
  else
    st.appends.insert_or_assign(req.prev_log_index + req.entries.size(),
                                sent_request{now, req.entries.size()});
}

using replicator_ptr = replicator_actor::stateful_pointer<replicator_state>;

void arm(replicator_ptr self, replicator_timer kind, caf::timespan delay) {
  self->delayed_send(self, delay, timer_atom_v, static_cast<uint8_t>(kind));
}

void send_snapshot(replicator_ptr self);

/// Times the request `resp` answers: an AppendEntries round trip, or a
/// heartbeat's. Requests it passes (their answers lost) are forgotten.
void time_answer(replicator_ptr self, const append_response& resp) {
  auto& st = self->state;
  if (!st.peer || !resp.success)
    return;
  auto now = std::chrono::steady_clock::now();
  if (resp.index == 0) {
    auto i = st.heartbeats.find(resp.round);
    if (i != st.heartbeats.end())
      st.opts.metrics->heartbeat_rpc(*st.peer, now - i->second);
    st.heartbeats.erase(st.heartbeats.begin(),
                        st.heartbeats.upper_bound(resp.round));
    return;
  }
  auto i = st.appends.find(resp.index);
  if (i != st.appends.end())
    st.opts.metrics->append_rpc(*st.peer, now - i->second.at,
                                i->second.entries);
  st.appends.erase(st.appends.begin(), st.appends.upper_bound(resp.index));
}

/// Executes what the replication asked for after an input.
void execute(replicator_ptr self) {
  auto& st = self->state;
  auto& r = *st.repl;
  auto fx = r.take();
  for (auto& req : fx.sends) {
    if (st.peer)
      time_request(st, req);
    if (!req.entries.empty())
      commit_trace::note(commit_trace::stage::sent, req.entries.front().index,
                         req.entries.back().index);
    auto from = req.leader;
    caf::anon_send(st.opts.transport, rpc_atom_v, std::move(from),
                   r.follower(), caf::make_message(std::move(req)));
  }
  if (fx.report)
    self->send(st.opts.node,
               replication_report{r.follower(), r.term(), st.opts.epoch,
                                  r.state().match_index, r.acked_round()});
  if (fx.arm_commit_timer) {
    // [CT, 2CT), as HashiCorp randomizes its CommitTimeout.
    auto ct = st.opts.commit_timeout.count();
    std::uniform_int_distribution<int64_t> jitter{0, ct > 0 ? ct - 1 : 0};
    arm(self, replicator_timer::commit,
        caf::timespan{ct + jitter(st.rng)});
  }
  if (fx.fetch_from)
    self->request(st.opts.node, caf::infinite, entries_atom_v, *fx.fetch_from)
      .then(
        [self](entry_batch& b) {
          self->state.repl->on_fetched(b);
          execute(self);
        },
        [self](caf::error&) {
          self->state.repl->on_fetch_failed();
          execute(self);
        });
  if (fx.send_snapshot)
    send_snapshot(self);
}

void send_snapshot(replicator_ptr self) {
  auto& st = self->state;
  if (!st.opts.snapshots) {
    // Without a snapshot store nothing is ever compacted; keep probing.
    arm(self, replicator_timer::snapshot_retry, st.opts.snapshot_retry);
    return;
  }
  auto& r = *st.repl;
  auto t0 = std::chrono::steady_clock::now();
  self
    ->request(st.opts.snapshots, caf::infinite, install_atom_v, r.follower(),
              r.term())
    .then(
      [self, t0](index_t index) {
        auto& st = self->state;
        if (st.peer)
          st.opts.metrics->snapshot_rpc(*st.peer,
                                        std::chrono::steady_clock::now() - t0);
        st.repl->on_snapshot_sent(index);
        execute(self);
      },
      [self](caf::error&) {
        // Retry after an election timeout, not on every heartbeat.
        arm(self, replicator_timer::snapshot_retry,
            self->state.opts.snapshot_retry);
      });
}

replicator_actor::behavior_type replicator(replicator_ptr self,
                                           replicator_options opts,
                                           replication r) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.rng.seed(st.opts.seed);
  st.repl.emplace(std::move(r));
  if (st.opts.metrics)
    st.peer = &st.opts.metrics->peer(st.repl->follower());
  self->monitor(st.opts.node);
  self->set_down_handler([=](caf::down_msg& dm) { self->quit(dm.reason); });
  st.repl->start();
  execute(self);
  arm(self, replicator_timer::heartbeat, st.opts.heartbeat_interval);
  return {
    [=](replicate_atom, const entry_batch& b, index_t commit) {
      self->state.repl->on_entries(b, commit);
      execute(self);
    },
    [=](compact_atom, index_t index) {
      self->state.repl->on_log_compacted(index);
    },
    [=](round_atom, uint64_t round) {
      self->state.repl->on_round(round);
      execute(self);
    },
    [=](const append_response& resp) {
      time_answer(self, resp);
      self->state.repl->on_response(resp);
      execute(self);
    },
    [=](timer_atom, uint8_t kind) {
      auto& st = self->state;
      switch (static_cast<replicator_timer>(kind)) {
        case replicator_timer::heartbeat:
          st.repl->on_tick();
          arm(self, replicator_timer::heartbeat, st.opts.heartbeat_interval);
          break;
        case replicator_timer::commit:
          st.repl->on_commit_timer();
          break;
        case replicator_timer::snapshot_retry:
          st.repl->on_snapshot_sent(0);
          break;
      }
      execute(self);
    },
  };
}

} // namespace

replicator_actor spawn_replicator(caf::actor_system& sys,
                                  replicator_options opts, replication r) {
  return sys.spawn(replicator, std::move(opts), std::move(r));
}

} // namespace raft
