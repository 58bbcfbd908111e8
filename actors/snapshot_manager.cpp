#include "caf-raft/actors/snapshot_manager.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <random>

#include <spdlog/spdlog.h>

#include "caf-raft/actors/metrics.hpp"
#include "caf-raft/actors/restore_upload.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/null_logger.hpp"
#include "caf-raft/fsm/state_machine.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf/actor_clock.hpp"
#include "caf/actor_system.hpp"
#include "caf/response_promise.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

/// Silence after a chunk, in multiples of the heartbeat timeout, before it
/// is sent again; and how many silent periods end a transfer.
constexpr int resend_after_heartbeats = 2;
constexpr int max_silent_periods = 10;

/// A chunk of snapshot state on its way to a follower.
struct chunk_in_flight {
  /// Where the chunk starts in the snapshot's state.
  uint64_t offset = 0;
  uint64_t size = 0;
  /// The install_snapshot_request, built once: a resend shares it instead
  /// of copying a megabyte of state again.
  caf::message request;

  uint64_t end() const {
    return offset + size;
  }
};

/// The leader's side of one InstallSnapshot transfer: a window of chunks
/// sent and not yet acknowledged, in order (go-back-N).
struct outgoing_transfer {
  caf::typed_response_promise<index_t> promise;
  term_t term = 0;
  snapshot_meta meta;
  std::shared_ptr<snapshot_reader> reader;
  /// Sent and unacknowledged, oldest first. Once everything arrived, the
  /// last chunk stays: resent on silence, it is the leader's heartbeat
  /// while the follower restores.
  std::deque<chunk_in_flight> window;
  /// Bytes consumed from `reader` so far: where the next chunk starts.
  uint64_t read_pos = 0;
  /// Tells this transfer's timer from an earlier one's for the same peer.
  uint64_t generation = 0;
  /// When the follower last made progress (or chunks were resent): the
  /// silence that triggers a resend counts from here.
  caf::actor_clock::time_point quiet_since;
  /// One timer per transfer, re-armed for what is left of the silence,
  /// rather than one per chunk.
  bool timer_armed = false;
  int silent_periods = 0;
};

/// The follower's side: the snapshot being received.
struct incoming_transfer {
  std::string id;
  term_t term = 0;
  std::unique_ptr<snapshot_sink> sink;
  uint64_t received = 0;
  crc64_ecma crc;
};

struct manager_state {
  static inline const char* name = "raft.snapshot_manager";
  snapshot_manager_options opts;
  std::shared_ptr<spdlog::logger> log;
  std::mt19937_64 rng;
  std::map<std::string, outgoing_transfer> outgoing;
  uint64_t next_generation = 0;
  std::optional<incoming_transfer> incoming;
  /// The last snapshot received completely: late copies of its chunks
  /// (resent while the FSM restores) must not restart the transfer.
  std::string completed_id;
};

using manager_ptr = snapshot_manager_actor::stateful_pointer<manager_state>;

void arm_check(manager_ptr self) {
  auto& st = self->state;
  auto base = st.opts.settings.snapshot_interval;
  if (base.count() <= 0)
    return;
  // HashiCorp randomizes the interval in [SI, 2SI) so that a cluster's
  // servers do not all snapshot at the same moment.
  std::uniform_int_distribution<int64_t> dist{0, base.count() - 1};
  self->delayed_send(self, base + std::chrono::milliseconds{dist(st.rng)},
                     check_atom_v);
}

/// The stored snapshot `id`, just closed through a sink.
caf::expected<snapshot_meta> find_meta(manager_state& st,
                                       const std::string& id) {
  auto metas = st.opts.store->list();
  if (!metas)
    return std::move(metas.error());
  for (auto& m : *metas)
    if (m.id == id)
      return m;
  return make_error(errc::storage_failure,
                    "snapshot " + id + " is not listed after it was written");
}

caf::expected<opened_snapshot> open_one(manager_state& st,
                                        const std::string& id) {
  auto res = st.opts.store->open(id);
  if (!res)
    return std::move(res.error());
  opened_snapshot result;
  result.meta = std::move(res->first);
  result.reader = std::shared_ptr<snapshot_reader>{std::move(res->second)};
  return result;
}

caf::expected<opened_snapshot> open_newest(manager_state& st) {
  auto metas = st.opts.store->list();
  if (!metas)
    return std::move(metas.error());
  std::string failures;
  for (auto& meta : *metas) {
    auto res = open_one(st, meta.id);
    if (res)
      return res;
    // A damaged snapshot is skipped, never restored; an older one may do.
    st.log->warn("snapshot {} cannot be opened, trying an older one: {}",
                 meta.id, describe(res.error()));
    if (!failures.empty())
      failures += "; ";
    failures += meta.id + ": " + describe(res.error());
  }
  if (!metas->empty())
    return make_error(errc::corrupt,
                      "no snapshot can be opened (" + failures
                        + "); refusing to start without the state they hold");
  return opened_snapshot{};
}

/// Reads up to `n` bytes (fewer only at the end of the state).
caf::error read_some(snapshot_reader& in, size_t n, bytes& out) {
  out.resize(n);
  size_t got = 0;
  while (got < n) {
    auto k = in.read(out.data() + got, n - got);
    if (!k)
      return std::move(k.error());
    if (*k == 0)
      break;
    got += *k;
  }
  out.resize(got);
  return caf::none;
}

/// The request that carries `data`, read at `offset` of the transfer.
caf::message chunk_request(const manager_state& st,
                           const outgoing_transfer& tr, uint64_t offset,
                           bytes data) {
  install_snapshot_request req;
  req.term = tr.term;
  req.leader = st.opts.settings.local_id;
  req.snapshot_id = tr.meta.id;
  req.last_index = tr.meta.index;
  req.last_term = tr.meta.term;
  req.configuration = tr.meta.configuration;
  req.configuration_index = tr.meta.configuration_index;
  req.size = tr.meta.size;
  req.crc = tr.meta.crc;
  req.offset = offset;
  req.done = offset + data.size() == tr.meta.size;
  req.data = std::move(data);
  return caf::make_message(std::move(req));
}

/// Sends `c` of the transfer to `peer`.
void send_chunk(manager_ptr self, const std::string& peer,
                const chunk_in_flight& c) {
  auto& st = self->state;
  caf::anon_send(st.opts.transport, rpc_atom_v, st.opts.settings.local_id,
                 peer, c.request);
}

/// How long a follower may stay silent before the window is resent.
caf::timespan resend_after(const manager_state& st) {
  return st.opts.settings.heartbeat_timeout * resend_after_heartbeats;
}

/// Starts the silence afresh: the window is resent unless the follower
/// answers with progress within `resend_after`.
void arm_resend(manager_ptr self, const std::string& peer,
                outgoing_transfer& tr) {
  tr.quiet_since = self->clock().now();
  if (tr.timer_armed)
    return;
  tr.timer_armed = true;
  self->delayed_send(self, resend_after(self->state), timer_atom_v, peer,
                     tr.generation);
}

void end_transfer(manager_ptr self, const std::string& peer,
                  caf::error err) {
  auto& st = self->state;
  auto i = st.outgoing.find(peer);
  if (i == st.outgoing.end())
    return;
  if (err) {
    st.log->warn("{}: sending snapshot {} to {} failed: {}",
                 st.opts.settings.local_id, i->second.meta.id, peer,
                 describe(err));
    i->second.promise.deliver(std::move(err));
  } else {
    st.log->info("{}: {} installed snapshot {} ({} bytes)",
                 st.opts.settings.local_id, peer, i->second.meta.id,
                 i->second.meta.size);
    i->second.promise.deliver(i->second.meta.index);
  }
  if (i->second.reader)
    i->second.reader->close();
  st.outgoing.erase(i);
}

/// Positions the transfer at `offset` with nothing in flight, reopening
/// the snapshot if the peer asks for bytes already read (it restarted or
/// lost its half-received copy).
caf::error seek_to(manager_state& st, outgoing_transfer& tr,
                   uint64_t offset) {
  if (offset > tr.meta.size)
    return make_error(errc::bad_message,
                      "peer asked for offset " + std::to_string(offset)
                        + " beyond the snapshot's "
                        + std::to_string(tr.meta.size) + " bytes");
  tr.window.clear();
  if (offset < tr.read_pos) {
    tr.reader->close();
    auto res = open_one(st, tr.meta.id);
    if (!res)
      return std::move(res.error());
    tr.reader = std::move(res->reader);
    tr.read_pos = 0;
  }
  bytes skip;
  while (tr.read_pos < offset) {
    auto n = std::min<uint64_t>(offset - tr.read_pos, 1 << 20);
    if (auto err = read_some(*tr.reader, n, skip))
      return err;
    if (skip.empty())
      return make_error(errc::corrupt, "snapshot " + tr.meta.id
                                         + " ended before its recorded size");
    tr.read_pos += skip.size();
  }
  return caf::none;
}

/// Reads and sends chunks until the window is full or the state is all
/// sent. An empty snapshot still sends one (empty, final) chunk.
caf::error fill_window(manager_ptr self, const std::string& peer,
                       outgoing_transfer& tr) {
  auto& st = self->state;
  auto limit = std::max<uint32_t>(st.opts.settings.snapshot_window, 1);
  auto all_sent = [&] {
    return !tr.window.empty() && tr.window.back().end() == tr.meta.size;
  };
  while (tr.window.size() < limit && !all_sent()) {
    auto n = std::min<uint64_t>(tr.meta.size - tr.read_pos,
                                st.opts.settings.snapshot_chunk_size);
    bytes data;
    if (auto err = read_some(*tr.reader, n, data))
      return err;
    if (data.size() != n)
      return make_error(errc::corrupt, "snapshot " + tr.meta.id
                                         + " ended before its recorded size");
    chunk_in_flight c;
    c.offset = tr.read_pos;
    c.size = n;
    c.request = chunk_request(st, tr, c.offset, std::move(data));
    tr.read_pos += n;
    tr.window.push_back(std::move(c));
    send_chunk(self, peer, tr.window.back());
    if (n == 0)
      break;
  }
  return caf::none;
}

void on_response(manager_ptr self, const install_snapshot_response& resp) {
  auto& st = self->state;
  auto i = st.outgoing.find(resp.from);
  if (i == st.outgoing.end())
    return;
  auto& tr = i->second;
  if (resp.snapshot_id != tr.meta.id || resp.term != tr.term)
    return; // An answer to an earlier transfer.
  tr.silent_periods = 0;
  if (resp.success)
    return end_transfer(self, resp.from, caf::none);
  auto next = resp.next_offset;
  if (!tr.window.empty() && next >= tr.window.front().offset
      && next <= tr.window.back().end()) {
    // Within the window: the follower took what lies before `next`. If it
    // asks for a chunk that is on its way (a duplicated or reordered
    // answer, or it dropped chunks after a lost one), wait: answering each
    // such response with a resend would start one more stream per
    // duplicate, a storm (seed 1464 sent 9,000 chunks of a 355-byte
    // snapshot). A lost chunk is resent when the timer fires.
    if (next == tr.meta.size) {
      // Everything arrived; the follower is restoring. The last chunk
      // stays, to be resent on silence as the leader's heartbeat.
      while (tr.window.size() > 1)
        tr.window.pop_front();
      return;
    }
    auto before = tr.window.front().offset;
    while (!tr.window.empty() && tr.window.front().end() <= next)
      tr.window.pop_front();
    if (tr.window.empty() || tr.window.front().offset != next) {
      // Not a chunk boundary: start over from there.
      if (auto err = seek_to(st, tr, next))
        return end_transfer(self, resp.from, std::move(err));
    } else if (next == before) {
      return;
    }
  } else if (auto err = seek_to(st, tr, next)) {
    // The follower holds less than the window's start (it restarted) or
    // asks for more than was sent: resume from where it stands.
    return end_transfer(self, resp.from, std::move(err));
  }
  if (auto err = fill_window(self, resp.from, tr))
    return end_transfer(self, resp.from, std::move(err));
  arm_resend(self, resp.from, tr);
}

chunk_ack on_chunk(manager_ptr self, const install_snapshot_request& req) {
  auto& st = self->state;
  // Offset 0 restarts on purpose (the install failed); any other chunk of
  // a completed snapshot is a resend while the FSM restores.
  if (req.snapshot_id == st.completed_id && req.offset != 0)
    return chunk_ack{req.size, false, {}};
  auto& in = st.incoming;
  if (!in || in->id != req.snapshot_id || in->term != req.term
      || req.offset == 0) {
    if (in) {
      // A new leader or a newer snapshot: the half-received one goes.
      in->sink->cancel();
      in.reset();
    }
    if (req.offset != 0)
      return chunk_ack{0, false, {}};
    auto sink = st.opts.store->create(req.last_index, req.last_term,
                                      req.configuration,
                                      req.configuration_index);
    if (!sink) {
      st.log->error("{}: cannot store snapshot from {}: {}",
                    st.opts.settings.local_id, req.leader,
                    describe(sink.error()));
      return chunk_ack{0, false, {}};
    }
    in.emplace();
    in->id = req.snapshot_id;
    in->term = req.term;
    in->sink = std::move(*sink);
  }
  if (req.offset != in->received)
    return chunk_ack{in->received, false, {}};
  auto fail = [&](const std::string& why) {
    st.log->error("{}: dropping snapshot {} from {}: {}",
                  st.opts.settings.local_id, req.snapshot_id, req.leader, why);
    in->sink->cancel();
    in.reset();
    return chunk_ack{0, false, {}};
  };
  if (in->received + req.data.size() > req.size)
    return fail("chunk runs past the announced size of "
                + std::to_string(req.size) + " bytes");
  if (auto err = in->sink->write(req.data.data(), req.data.size()))
    return fail(describe(err));
  if (!in->sink->running_crc())
    in->crc.process_bytes(req.data.data(), req.data.size());
  in->received += req.data.size();
  if (!req.done)
    return chunk_ack{in->received, false, {}};
  if (in->received != req.size)
    return fail("got " + std::to_string(in->received) + " of "
                + std::to_string(req.size) + " bytes");
  if (in->sink->running_crc().value_or(in->crc.checksum()) != req.crc)
    return fail("CRC-64 mismatch: the leader's state differs from what "
                "arrived");
  auto sink_id = in->sink->id();
  if (auto err = in->sink->close())
    return fail(describe(err));
  in.reset();
  auto meta = find_meta(st, sink_id);
  if (!meta) {
    st.log->error("{}: {}", st.opts.settings.local_id, describe(meta.error()));
    return chunk_ack{0, false, {}};
  }
  st.completed_id = req.snapshot_id;
  return chunk_ack{req.size, true, std::move(*meta)};
}

caf::expected<snapshot_meta> persist(manager_state& st,
                                     const snapshot_meta& proto,
                                     fsm::snapshot& state) {
  auto t0 = std::chrono::steady_clock::now();
  auto sink = st.opts.store->create(proto.index, proto.term,
                                    proto.configuration,
                                    proto.configuration_index);
  if (!sink)
    return std::move(sink.error());
  if (st.opts.metrics)
    st.opts.metrics->snapshot_create(std::chrono::steady_clock::now() - t0);
  auto id = (*sink)->id();
  // The FSM's persist closes (or cancels) the sink itself.
  if (auto err = state.persist(**sink))
    return err;
  return find_meta(st, id);
}

/// Reads snapshot `id`'s state for a user restore, which travels as one
/// log entry: refused if it holds more than `max_bytes`.
caf::expected<bytes> read_for_restore(manager_state& st, const std::string& id,
                                      size_t max_bytes) {
  auto src = open_one(st, id);
  if (!src)
    return std::move(src.error());
  if (src->meta.size > max_bytes) {
    src->reader->close();
    return restore_too_large("snapshot " + id, src->meta.size, max_bytes);
  }
  bytes state;
  auto err = read_some(*src->reader, src->meta.size, state);
  src->reader->close();
  if (err)
    return err;
  if (state.size() != src->meta.size)
    return make_error(errc::corrupt, "snapshot " + id
                                       + " ended before its recorded size");
  return state;
}

/// Starts streaming the newest snapshot to `peer` (§7): answers its last
/// index once the peer installed it.
caf::result<index_t> start_install(manager_ptr self, const std::string& peer,
                                   term_t term) {
  auto& st = self->state;
  if (st.outgoing.count(peer) != 0)
    return make_error(errc::unsupported,
                      "a snapshot is already on its way to " + peer);
  auto newest = open_newest(st);
  if (!newest)
    return std::move(newest.error());
  if (!newest->reader)
    return make_error(errc::not_found, "no snapshot to send to " + peer);
  auto rp = self->make_response_promise<index_t>();
  auto& tr = st.outgoing[peer];
  tr.promise = rp;
  tr.term = term;
  tr.meta = std::move(newest->meta);
  tr.reader = std::move(newest->reader);
  tr.generation = ++st.next_generation;
  st.log->info("{}: sending snapshot {} ({} bytes, up to index {}) to {}",
               st.opts.settings.local_id, tr.meta.id, tr.meta.size,
               tr.meta.index, peer);
  if (auto err = fill_window(self, peer, tr))
    end_transfer(self, peer, std::move(err));
  else
    arm_resend(self, peer, tr);
  return rp;
}

/// The follower went silent for a while: send every unacknowledged chunk
/// again (go-back-N), or give up.
void on_resend_timer(manager_ptr self, const std::string& peer,
                     uint64_t generation) {
  auto& st = self->state;
  auto i = st.outgoing.find(peer);
  if (i == st.outgoing.end() || i->second.generation != generation)
    return;
  auto& tr = i->second;
  tr.timer_armed = false;
  auto quiet = self->clock().now() - tr.quiet_since;
  if (quiet < resend_after(st)) {
    // Progress came meanwhile: wait for the rest of a silent period.
    tr.timer_armed = true;
    self->delayed_send(self, resend_after(st) - quiet, timer_atom_v, peer,
                       generation);
    return;
  }
  if (++tr.silent_periods > max_silent_periods)
    return end_transfer(self, peer,
                        make_error(errc::timeout,
                                   peer + " stopped answering"));
  for (auto& c : tr.window)
    send_chunk(self, peer, c);
  arm_resend(self, peer, tr);
}

/// Ends every outgoing transfer: this server is no longer the leader.
void cancel_all(manager_ptr self) {
  std::vector<std::string> peers;
  for (auto& kvp : self->state.outgoing)
    peers.push_back(kvp.first);
  for (auto& p : peers)
    end_transfer(self, p,
                 make_error(errc::leadership_lost,
                            "leadership lost during the transfer"));
}

/// Persists captured FSM state, timing it for the metrics.
caf::result<snapshot_meta> persist_timed(manager_ptr self,
                                         const snapshot_meta& proto,
                                         const captured_state& cs) {
  auto t0 = std::chrono::steady_clock::now();
  auto res = persist(self->state, proto, *cs.state);
  cs.state->release();
  if (!res)
    return std::move(res.error());
  if (auto& m = self->state.opts.metrics)
    m->snapshot_persist(std::chrono::steady_clock::now() - t0, res->size);
  return std::move(*res);
}

/// Turns an expected value into a result (a value or its error).
template <class T>
caf::result<T> to_result(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

snapshot_manager_actor::behavior_type
snapshot_manager(manager_ptr self, snapshot_manager_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = logger_or_null(st.opts.logger);
  auto seed = st.opts.settings.random_seed != 0
                ? st.opts.settings.random_seed
                : std::hash<std::string>{}(st.opts.settings.local_id);
  st.rng.seed(seed ^ 0x5eed);
  arm_check(self);
  return {
    [=](open_atom) { return to_result(open_newest(self->state)); },
    [=](open_atom, const std::string& id) {
      return to_result(open_one(self->state, id));
    },
    [=](persist_atom, const snapshot_meta& proto, const captured_state& cs) {
      return persist_timed(self, proto, cs);
    },
    [=](restore_atom, const std::string& id, uint64_t max_bytes) {
      return to_result(read_for_restore(self->state, id, max_bytes));
    },
    [=](install_atom, const std::string& peer, term_t term) {
      return start_install(self, peer, term);
    },
    [=](const install_snapshot_response& resp) { on_response(self, resp); },
    [=](cancel_atom) { cancel_all(self); },
    [=](const install_snapshot_request& req) { return on_chunk(self, req); },
    [=](check_atom) {
      arm_check(self);
      if (self->state.opts.node)
        caf::anon_send(self->state.opts.node, snapshot_atom_v, check_atom_v);
    },
    [=](timer_atom, const std::string& peer, uint64_t generation) {
      on_resend_timer(self, peer, generation);
    },
  };
}

} // namespace

snapshot_manager_actor
spawn_snapshot_manager(caf::actor_system& sys, snapshot_manager_options opts) {
  if (opts.detached)
    return sys.spawn<caf::detached>(snapshot_manager, std::move(opts));
  return sys.spawn(snapshot_manager, std::move(opts));
}

} // namespace raft
