#include "caf-raft/actors/transport/net_transport.hpp"

#include <map>
#include <random>

#include <spdlog/spdlog.h>

#include "caf-raft/actors/log_limiter.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/actors/transport/net_connector.hpp"
#include "caf-raft/actors/transport/net_doorman.hpp"
#include "caf-raft/actors/transport/net_gateway.hpp"
#include "caf-raft/actors/transport/net_protocol.hpp"
#include "caf-raft/actors/transport/net_sessions.hpp"
#include "caf-raft/actors/transport/net_tls.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/null_logger.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf/actor_clock.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

/// Protocol time is the actor clock's, so a test coordinator drives it.
using time_point = caf::actor_clock::time_point;

struct peer_state {
  enum status_t { idle, connecting, ready };
  status_t status = idle;
  /// The peer's gateway (a proxy) while `ready`.
  caf::actor gateway;
  std::string token;
  uint32_t failures = 0;
  time_point next_try;
  /// Tags connection attempts, so a late answer of an abandoned one is
  /// ignored.
  uint64_t generation = 0;
  /// When a larger id first needed this (smaller) peer while nobody was
  /// connected, and how long it waits for the peer to dial before it
  /// dials itself.
  time_point waiting_since;
  std::chrono::milliseconds reverse_delay{0};
  /// Why the last attempt failed, for operators ("" once connected).
  std::string last_failure;
};

/// The link to one peer in a word or two, for `raftctl status`.
std::string describe_link(const peer_state& peer) {
  switch (peer.status) {
    case peer_state::ready:
      return "connected";
    case peer_state::connecting:
      return peer.failures == 0 ? "connecting"
                                : "connecting (attempt "
                                    + std::to_string(peer.failures + 1) + ")";
    default:
      return peer.last_failure.empty() ? "idle"
                                       : "down: " + peer.last_failure;
  }
}

struct transport_state {
  static inline const char* name = "raft.net_transport";
  net_transport_options opts;
  std::shared_ptr<tls_identity> identity;
  /// The raft port's TLS context; null when insecure.
  std::shared_ptr<tls_context> tls;
  std::shared_ptr<spdlog::logger> log;
  caf::actor gateway;
  std::shared_ptr<net_sessions> sessions;
  caf::io::middleman_actor middleman;
  std::string local_address;
  std::map<std::string, caf::actor> routes;
  std::map<std::string, peer_state> peers;
  std::minstd_rand rng{std::random_device{}()};
  log_limiter limiter;
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t dropped_unreachable = 0;
  uint64_t dropped_too_large = 0;
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t disconnects = 0;
  uint64_t accepts = 0;

  template <class... Ts>
  void warn(const char* fmt, const Ts&... xs) {
    limiter.warn(*log, fmt, xs...);
  }

  std::chrono::milliseconds backoff(uint32_t failures) {
    auto d = opts.min_backoff;
    for (uint32_t i = 1; i < failures && d < opts.max_backoff; ++i)
      d *= 2;
    d = std::min(d, opts.max_backoff);
    // Jitter in [d/2, d], so peers that lost each other do not retry in
    // lock step.
    auto half = d.count() / 2;
    std::uniform_int_distribution<int64_t> dist{half, d.count()};
    return std::chrono::milliseconds{dist(rng)};
  }
};

using transport_ptr = net_transport_actor::stateful_pointer<transport_state>;

/// The largest BASP frame a peer may announce: the largest RPC plus room
/// for the envelope (token, ids, CAF's message header).
size_t max_frame_of(const net_transport_options& opts) {
  return opts.max_message_size + 64 * 1024;
}

void maybe_connect(transport_ptr self, const std::string& id,
                   peer_state& peer) {
  auto& st = self->state;
  if (peer.status != peer_state::idle || self->clock().now() < peer.next_try)
    return;
  auto fail_now = [&](const std::string& why) {
    ++st.connect_failures;
    ++peer.failures;
    peer.next_try = self->clock().now() + st.backoff(peer.failures);
    peer.last_failure = why;
    st.warn("raft transport: cannot reach server {}: {}", id, why);
  };
  auto addr = st.opts.addresses(id);
  if (!addr)
    return fail_now(describe(addr.error()));
  auto hp = split_host_port(*addr);
  if (!hp)
    return fail_now(describe(hp.error()));
  peer.status = peer_state::connecting;
  net_connect_job job;
  job.transport = caf::actor_cast<net_transport_actor>(self);
  job.local_id = st.opts.local_id;
  job.peer_id = id;
  job.generation = ++peer.generation;
  job.host = hp->first;
  job.port = hp->second;
  job.identity = st.identity;
  job.tls = st.tls;
  job.max_frame = max_frame_of(st.opts);
  job.gateway = st.gateway;
  job.sessions = st.sessions;
  job.cluster = st.opts.cluster;
  job.log = st.log;
  job.timeout = st.opts.handshake_timeout;
  spawn_net_connector(self->system(), std::move(job));
}

/// Starts connecting to `to` if it is this server's turn. One BASP
/// connection per pair of servers (CAF 0.17 tears down both when two nodes
/// dial each other): the smaller id dials, the other waits to be dialed,
/// which happens at the latest when the smaller one next sends an RPC (its
/// election timeout).
void dial_if_due(transport_ptr self, const std::string& to,
                 peer_state& peer) {
  auto& st = self->state;
  if (st.opts.local_id < to) {
    maybe_connect(self, to, peer);
    return;
  }
  if (peer.status != peer_state::idle)
    return;
  // A peer that never sends (a non-voter, a follower whose timer has not
  // fired) would never dial: after a randomized grace period we dial it
  // ourselves. Should both dial at once, the connections flap and the
  // back-off's jitter separates them.
  auto now = self->clock().now();
  if (peer.waiting_since == time_point{}) {
    peer.waiting_since = now;
    auto d = st.opts.reverse_dial_delay;
    std::uniform_int_distribution<int64_t> dist{d.count(), 2 * d.count()};
    peer.reverse_delay = std::chrono::milliseconds{dist(st.rng)};
  } else if (now - peer.waiting_since >= peer.reverse_delay) {
    maybe_connect(self, to, peer);
  }
}

void lose_peer(transport_ptr self, const std::string& id, peer_state& peer,
               const char* why) {
  auto& st = self->state;
  ++st.disconnects;
  st.log->warn("raft transport: lost connection to server {} ({}); "
               "reconnecting",
               id, why);
  if (peer.gateway)
    self->demonitor(peer.gateway);
  st.sessions->set_link(id, {});
  peer.status = peer_state::idle;
  peer.waiting_since = {};
  peer.gateway = nullptr;
  peer.token.clear();
  ++peer.generation;
  peer.last_failure = std::string{"connection lost ("} + why + ")";
  peer.failures = 1;
  peer.next_try = self->clock().now() + st.backoff(1);
}

/// Routes an RPC: to a local node directly, to a connected peer through its
/// gateway, and otherwise drops it (Raft retries) and starts connecting.
void send_rpc(transport_ptr self, const std::string& from,
              const std::string& to, caf::message& msg) {
  auto& st = self->state;
  if (auto i = st.routes.find(to); i != st.routes.end()) {
    // A server talking to itself (or two nodes sharing a transport).
    caf::anon_send(i->second, std::move(msg));
    return;
  }
  auto size = net_payload_size(msg);
  if (size > st.opts.max_message_size) {
    ++st.dropped_too_large;
    st.warn("raft transport: RPC of about {} bytes to {} not sent: over "
            "the maximum message size {}",
            size, to, st.opts.max_message_size);
    return;
  }
  auto& peer = st.peers[to];
  if (peer.status != peer_state::ready) {
    ++st.dropped_unreachable;
    dial_if_due(self, to, peer);
    return;
  }
  ++st.sent;
  // Anonymous: the transport's own handle never leaves the process, so
  // peers cannot send it local commands. The token says who we are.
  caf::anon_send(peer.gateway, net_rpc_atom_v, peer.token, from, to,
                 std::move(msg));
}

/// A peer that answers has proven the id it claims (net_connector or the
/// gateway checked it): its link is ready.
void set_ready(transport_ptr self, const std::string& id, peer_state& peer,
               caf::actor gw, std::string token) {
  self->state.sessions->set_link(id, gw.address());
  peer.status = peer_state::ready;
  peer.waiting_since = {};
  peer.gateway = std::move(gw);
  peer.token = std::move(token);
  peer.failures = 0;
  peer.last_failure.clear();
  self->monitor(peer.gateway);
}

/// One of our connection attempts succeeded.
void on_dialed(transport_ptr self, const std::string& id, uint64_t gen,
               const caf::actor& gw, std::string& token) {
  auto& st = self->state;
  auto& peer = st.peers[id];
  if (peer.generation != gen || peer.status != peer_state::connecting)
    return; // abandoned since
  if (peer.failures > 0)
    st.log->info("raft transport: reconnected to server {}", id);
  else
    st.log->info("raft transport: connected to server {}", id);
  ++st.connects;
  set_ready(self, id, peer, gw, std::move(token));
}

/// A peer dialed us and authenticated; it wins over our own attempt.
void on_accepted(transport_ptr self, const std::string& id, caf::actor& gw,
                 std::string& token) {
  auto& st = self->state;
  // Only our own gateway reports peers that dialed us.
  if (self->current_sender() != st.gateway.address() || !gw)
    return;
  auto& peer = st.peers[id];
  if (peer.gateway && peer.gateway != gw)
    self->demonitor(peer.gateway);
  ++peer.generation; // abandons any attempt of ours in flight
  ++st.accepts;
  st.log->info("raft transport: server {} connected to us", id);
  set_ready(self, id, peer, std::move(gw), std::move(token));
}

/// One of our connection attempts failed: back off before the next.
void on_dial_failed(transport_ptr self, const std::string& id, uint64_t gen,
                    const std::string& why) {
  auto& st = self->state;
  auto& peer = st.peers[id];
  if (peer.generation != gen || peer.status != peer_state::connecting)
    return;
  ++st.connect_failures;
  ++peer.failures;
  peer.status = peer_state::idle;
  peer.last_failure = why;
  auto delay = st.backoff(peer.failures);
  peer.next_try = self->clock().now() + delay;
  st.warn("raft transport: {} (attempt {}, next in {} ms)", why,
          peer.failures, delay.count());
}

/// The transport's counters and links, with the gateway's.
caf::result<stats_map> stats(transport_ptr self) {
  auto& st = self->state;
  stats_map m;
  m["sent"] = std::to_string(st.sent);
  m["delivered"] = std::to_string(st.delivered);
  m["dropped_unreachable"] = std::to_string(st.dropped_unreachable);
  m["dropped_too_large"] = std::to_string(st.dropped_too_large);
  m["connects"] = std::to_string(st.connects);
  m["connect_failures"] = std::to_string(st.connect_failures);
  m["disconnects"] = std::to_string(st.disconnects);
  m["accepts"] = std::to_string(st.accepts);
  size_t ready = 0;
  for (auto& [id, peer] : st.peers) {
    if (peer.status == peer_state::ready)
      ++ready;
    m["link." + id] = describe_link(peer);
  }
  m["peers_connected"] = std::to_string(ready);
  m["local_address"] = st.local_address;
  auto rp = self->make_response_promise<stats_map>();
  self->request(st.gateway, std::chrono::seconds{5}, net_stats_atom_v)
    .then(
      [rp, m](stats_map& g) mutable {
        m.insert(g.begin(), g.end());
        rp.deliver(std::move(m));
      },
      [rp, m](caf::error&) mutable { rp.deliver(std::move(m)); });
  return rp;
}

net_transport_actor::behavior_type
transport(transport_ptr self, net_transport_options opts,
          std::shared_ptr<tls_identity> identity,
          std::shared_ptr<tls_context> tls,
          std::shared_ptr<net_sessions> sessions, caf::io::middleman_actor mm,
          std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.sessions = std::move(sessions);
  st.opts = std::move(opts);
  st.identity = std::move(identity);
  st.tls = std::move(tls);
  st.middleman = std::move(mm);
  st.log = std::move(log);
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [id, peer] : self->state.peers)
      if (peer.gateway && peer.gateway.address() == dm.source) {
        lose_peer(self, id, peer, to_string(dm.reason).c_str());
        return;
      }
  });
  return {
    [=](net_init_atom, caf::actor& gw, std::string& address) {
      // Sent once by spawn_net_transport, before anyone else knows us.
      auto& st = self->state;
      if (st.gateway)
        return;
      st.gateway = std::move(gw);
      st.local_address = std::move(address);
      self->link_to(st.gateway);
    },
    [=](connect_atom, const std::string& id, const caf::actor& dest) {
      auto& st = self->state;
      if (id != st.opts.local_id)
        st.log->warn("raft transport of {} registers a node named {}",
                     st.opts.local_id, id);
      st.routes[id] = dest;
      return st.local_address;
    },
    [=](disconnect_atom, const std::string& id) {
      self->state.routes.erase(id);
    },
    [=](rpc_atom, const std::string& from, const std::string& to,
        caf::message& msg) { send_rpc(self, from, to, msg); },
    [=](net_in_atom, const std::string&, const std::string& to,
        caf::message& msg) {
      auto& st = self->state;
      // Only our own gateway may hand us incoming RPCs.
      if (self->current_sender() != st.gateway.address())
        return;
      if (auto i = st.routes.find(to); i != st.routes.end()) {
        ++st.delivered;
        caf::anon_send(i->second, std::move(msg));
      }
    },
    [=](net_ready_atom, const std::string& id, uint64_t gen,
        const caf::actor& gw,
        std::string& token) { on_dialed(self, id, gen, gw, token); },
    [=](net_accept_atom, const std::string& id, caf::actor& gw,
        std::string& token) { on_accepted(self, id, gw, token); },
    [=](net_fail_atom, const std::string& id, uint64_t gen,
        const std::string& why) { on_dial_failed(self, id, gen, why); },
    [=](net_stats_atom) { return stats(self); },
  };
}

/// Refuses options no transport can run with, naming the setting.
caf::error check_options(caf::actor_system& sys,
                         const net_transport_options& opts) {
  if (opts.local_id.empty() || opts.local_id.size() > net_max_id_size)
    return make_error(errc::not_valid, "transport needs a server id of 1 to "
                                         + std::to_string(net_max_id_size)
                                         + " bytes");
  if (!opts.addresses)
    return make_error(errc::not_valid, "transport needs an address provider");
  if (opts.min_backoff.count() <= 0 || opts.max_backoff < opts.min_backoff
      || opts.reverse_dial_delay.count() <= 0)
    return make_error(errc::not_valid, "transport back-off bounds not valid");
  if (!sys.has_middleman())
    return make_error(errc::not_valid, "actor system lacks the middleman: "
                                       "configure it with configure_network");
  return {};
}

/// The server's identity and the raft port's TLS context (both null when
/// insecure), checked against the actor system's own TLS settings.
caf::error load_tls(caf::actor_system& sys, const net_transport_options& opts,
                    spdlog::logger& log,
                    std::shared_ptr<tls_identity>& identity,
                    std::shared_ptr<tls_context>& tls) {
  if (opts.tls.insecure) {
    log.warn("raft transport of {} runs INSECURE: plain TCP, no "
             "authentication, peers' ids taken on trust; anyone who can "
             "reach {}:{} can disrupt or take over the cluster",
             opts.local_id, opts.listen_host, opts.listen_port);
    return {};
  }
  auto id = tls_identity::load(opts.tls, opts.local_id);
  if (!id)
    return id.error();
  auto ctx = tls_context::make(opts.tls);
  if (!ctx)
    return ctx.error();
  if (!sys.has_openssl_manager())
    return make_error(errc::not_valid,
                      "actor system lacks the openssl module: configure it "
                      "with configure_network");
  auto& cfg = sys.config();
  if (cfg.openssl_certificate != opts.tls.certificate
      || cfg.openssl_key != opts.tls.key
      || cfg.openssl_cafile != opts.tls.cafile)
    return make_error(errc::not_valid,
                      "the actor system's openssl settings differ from the "
                      "transport's TLS settings: configure it with "
                      "configure_network");
  identity = std::move(*id);
  tls = std::move(*ctx);
  return {};
}

/// Publishes the gateway on the raft port: TLS of our own, or plain TCP.
caf::expected<uint16_t> listen(caf::actor_system& sys, const caf::actor& gw,
                               const net_transport_options& opts,
                               const std::shared_ptr<tls_context>& tls) {
  const auto& host = opts.listen_host;
  caf::expected<uint16_t> port{uint16_t{0}};
  if (tls)
    port = publish_raft_port(sys, gw, opts.listen_port, host, tls,
                             max_frame_of(opts));
  else
    port = sys.middleman().publish(gw, opts.listen_port,
                                   host.empty() ? nullptr : host.c_str(),
                                   true);
  if (!port)
    return make_error(errc::not_valid,
                      "transport cannot listen on "
                        + (host.empty() ? std::string{"*"} : host) + ":"
                        + std::to_string(opts.listen_port) + ": "
                        + sys.render(port.error()));
  return port;
}

} // namespace

caf::expected<net_transport_actor>
spawn_net_transport(caf::actor_system& sys, net_transport_options opts) {
  auto log = logger_or_null(opts.logger);
  if (auto err = check_options(sys, opts))
    return err;
  std::shared_ptr<tls_identity> identity;
  std::shared_ptr<tls_context> tls;
  if (auto err = load_tls(sys, opts, *log, identity, tls))
    return err;
  auto mm = identity ? sys.openssl_manager().actor_handle()
                     : sys.middleman().actor_handle();
  auto sessions = std::make_shared<net_sessions>();
  if (!opts.cluster)
    opts.cluster = *cluster_identity::open({}); // in memory: cannot fail
  auto self = sys.spawn(transport, opts, identity, tls, sessions, mm, log);
  auto gw = spawn_net_gateway(sys, self, opts.local_id, identity, sessions,
                              opts.cluster, opts.max_message_size, log);
  auto port = listen(sys, gw, opts, tls);
  if (!port) {
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(self, caf::exit_reason::user_shutdown);
    return std::move(port.error());
  }
  auto address = opts.advertise;
  if (address.empty())
    address = (opts.listen_host.empty() ? std::string{"127.0.0.1"}
                                        : opts.listen_host)
              + ":" + std::to_string(*port);
  log->info("raft transport of {} listening on {} ({})", opts.local_id,
            address, identity ? "mutual TLS" : "INSECURE plain TCP");
  caf::anon_send(self, net_init_atom_v, gw, address);
  // Stop listening when the transport goes.
  self->attach_functor([mm, bound = *port] {
    caf::anon_send(mm, caf::close_atom_v, bound);
  });
  return self;
}

} // namespace raft
