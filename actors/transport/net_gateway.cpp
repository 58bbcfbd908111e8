#include "caf-raft/actors/transport/net_gateway.hpp"

#include <chrono>
#include <deque>
#include <map>

#include <spdlog/spdlog.h>

#include "caf-raft/actors/log_limiter.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/actors/transport/net_protocol.hpp"
#include "caf-raft/actors/transport/net_sessions.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf/actor_clock.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

namespace raft {

namespace {

/// Protocol time is the actor clock's, so a test coordinator drives it.
using time_point = caf::actor_clock::time_point;

/// A challenge lives this long; a handshake slower than that starts over.
constexpr auto challenge_ttl = std::chrono::seconds{10};
/// Outstanding challenges kept at most (a peer looping on hellos cannot
/// grow the map).
constexpr size_t max_challenges = 256;

struct challenge {
  std::string client_id;
  std::string client_nonce;
  caf::actor client_gateway;
  std::string client_cluster;
  time_point expires;
};

struct gateway_state {
  static inline const char* name = "raft.net_gateway";
  std::string local_id;
  std::shared_ptr<tls_identity> identity;
  size_t max_message_size = 0;
  std::shared_ptr<spdlog::logger> log;
  net_transport_actor transport;
  std::map<std::string, challenge> challenges;
  std::shared_ptr<net_sessions> sessions;
  std::shared_ptr<cluster_identity> cluster;
  log_limiter limiter;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t handshakes = 0;
  uint64_t handshake_failures = 0;

  template <class... Ts>
  void warn(const char* fmt, const Ts&... xs) {
    limiter.warn(*log, fmt, xs...);
  }

  void expire_challenges(time_point now) {
    for (auto i = challenges.begin(); i != challenges.end();)
      if (i->second.expires <= now)
        i = challenges.erase(i);
      else
        ++i;
    while (challenges.size() >= max_challenges) {
      // Forget the one closest to expiry.
      auto oldest = challenges.begin();
      for (auto i = challenges.begin(); i != challenges.end(); ++i)
        if (i->second.expires < oldest->second.expires)
          oldest = i;
      challenges.erase(oldest);
    }
  }
};

using gateway_ptr = caf::stateful_actor<gateway_state>*;

using hello_result
  = caf::result<std::string, std::string, std::string, std::string>;

/// Why a hello of `version` and `client_cluster` is refused, or "".
std::string hello_refusal(gateway_state& st, const std::string& client_id,
                          uint32_t version,
                          const std::string& client_cluster) {
  if (version != net_protocol_version)
    return "server " + client_id + " speaks transport protocol "
           + std::to_string(version) + ", this server (" + st.local_id
           + ") speaks " + std::to_string(net_protocol_version)
           + ": run the same caf-raft release on both (docs/operations.md, "
             "upgrades)";
  return cluster_identity::mismatch(st.local_id, st.cluster->id(), client_id,
                                    client_cluster);
}

/// First step of the handshake (net_gateway.hpp): answers a challenge,
/// signed with our certificate's key unless insecure.
hello_result on_hello(gateway_ptr self, const std::string& client_id,
                      const std::string& server_id,
                      const std::string& client_nonce,
                      const caf::actor& client_gateway, uint32_t version,
                      const std::string& client_cluster) {
  auto& st = self->state;
  if (client_id.empty() || client_id.size() > net_max_id_size
      || client_nonce.size() != net_nonce_size || !client_gateway) {
    ++st.handshake_failures;
    st.warn("raft transport: malformed hello dropped");
    return make_error(errc::bad_message, "malformed hello");
  }
  if (server_id != st.local_id) {
    ++st.handshake_failures;
    st.warn("raft transport: hello from {} for server {}, but this is {}",
            client_id, server_id, st.local_id);
    return make_error(errc::unknown_peer, "this is server " + st.local_id
                                            + ", not " + server_id);
  }
  if (auto why = hello_refusal(st, client_id, version, client_cluster);
      !why.empty()) {
    ++st.handshake_failures;
    st.warn("raft transport: refused: {}", why);
    return make_error(version != net_protocol_version ? errc::unsupported
                                                      : errc::unknown_peer,
                      why);
  }
  auto now = self->clock().now();
  st.expire_challenges(now);
  auto server_nonce = tls_identity::random_bytes(net_nonce_size);
  st.challenges[server_nonce] = challenge{client_id, client_nonce,
                                          client_gateway, client_cluster,
                                          now + challenge_ttl};
  auto ours = st.cluster->id();
  if (!st.identity)
    return {std::string{}, server_nonce, std::string{}, ours};
  auto sig = st.identity->sign(
    net_server_proof(client_nonce, server_nonce, st.local_id, client_id));
  if (!sig)
    return sig.error();
  return {st.identity->certificate_pem(), server_nonce, std::move(*sig),
          ours};
}

/// Admits an authenticated client: refuses a second process claiming the
/// id of one still connected, and takes the client's cluster id if we
/// have none yet (a server being added learns its cluster here).
caf::error admit(gateway_ptr self, const challenge& ch) {
  auto& st = self->state;
  // The transport's links, whoever dialed: the transport monitors each
  // peer's gateway and frees the id when that process is gone.
  auto other = st.sessions->link(ch.client_id);
  if (other && other != ch.client_gateway.address()) {
    ++st.handshake_failures;
    auto why = "server " + ch.client_id + " is already connected from "
               + to_string(other.node())
               + "; a second process claims its id from "
               + to_string(ch.client_gateway.node())
               + ": two servers share an id (check the --id and --data-dir "
                 "of both)";
    st.log->error("raft transport: refused: {}", why);
    return make_error(errc::unknown_peer, why);
  }
  auto adopted = st.cluster->adopt(ch.client_cluster);
  if (!adopted)
    return std::move(adopted.error());
  if (*adopted)
    st.log->info("raft transport: joined cluster {} (server {} is a member)",
                 ch.client_cluster, ch.client_id);
  // Taken now, not when the transport handles the accept: a twin
  // authenticating meanwhile is refused too.
  st.sessions->set_link(ch.client_id, ch.client_gateway.address());
  return caf::none;
}

/// Second step: the client proves its id; answers its session token and
/// hands the connection to the transport.
caf::result<std::string> on_auth(gateway_ptr self,
                                 const std::string& server_nonce,
                                 const std::string& cert_pem,
                                 const std::string& signature,
                                 const std::string& token_for_us) {
  auto& st = self->state;
  st.expire_challenges(self->clock().now());
  auto i = st.challenges.find(server_nonce);
  if (i == st.challenges.end()) {
    ++st.handshake_failures;
    st.warn("raft transport: authentication with an unknown or expired "
            "challenge dropped");
    return make_error(errc::bad_message, "unknown or expired challenge");
  }
  // A challenge answers once, whatever the outcome.
  auto ch = std::move(i->second);
  st.challenges.erase(i);
  if (st.identity) {
    auto proof = net_client_proof(ch.client_nonce, server_nonce, st.local_id,
                                  ch.client_id);
    if (auto err = st.identity->verify(cert_pem, ch.client_id, proof,
                                       signature)) {
      ++st.handshake_failures;
      st.warn("raft transport: peer claiming to be server {} refused: {}",
              ch.client_id, describe(err));
      return err;
    }
  }
  if (token_for_us.empty() || token_for_us.size() > 64) {
    ++st.handshake_failures;
    return make_error(errc::bad_message, "malformed session token");
  }
  if (auto err = admit(self, ch))
    return err;
  ++st.handshakes;
  st.log->info("raft transport: server {} authenticated{}", ch.client_id,
               st.identity ? "" : " (insecure: id taken on trust)");
  // The connection the peer dialed carries our RPCs to it as well (one
  // BASP connection per pair of servers).
  self->send(st.transport, net_accept_atom_v, ch.client_id, ch.client_gateway,
             token_for_us);
  return st.sessions->issue(ch.client_id);
}

/// Why an incoming RPC must be dropped, or "" if it may pass: it needs a
/// session of the server it claims to come from, our id as its target, and
/// a well-formed message within the size limit.
std::string refusal(gateway_state& st, const std::string& token,
                    const std::string& from, const std::string& to,
                    const caf::message& msg) {
  auto claimed = from.substr(0, net_max_id_size);
  auto owner = st.sessions->lookup(token);
  if (!owner)
    return "RPC claiming to be from " + claimed
           + " without a valid session dropped";
  if (*owner != from)
    return "RPC from authenticated server " + *owner + " claiming to be from "
           + claimed + " dropped";
  if (to != st.local_id)
    return "RPC from " + from + " for server " + to.substr(0, net_max_id_size)
           + " dropped (this is " + st.local_id + ")";
  if (auto err = net_check_rpc(from, msg, st.max_message_size))
    return "RPC from " + from + " dropped: " + describe(err);
  return {};
}

/// The gateway is the one actor peers reach, so it stays untyped: its
/// handlers check every argument themselves, and anything else is dropped.
caf::behavior gateway(gateway_ptr self, net_transport_actor transport,
                      std::string local_id,
                      std::shared_ptr<tls_identity> identity,
                      std::shared_ptr<net_sessions> sessions,
                      std::shared_ptr<cluster_identity> cluster,
                      size_t max_message_size,
                      std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.sessions = std::move(sessions);
  st.cluster = std::move(cluster);
  st.transport = std::move(transport);
  st.local_id = std::move(local_id);
  st.identity = std::move(identity);
  st.max_message_size = max_message_size;
  st.log = std::move(log);
  // Requests of any other kind get an error, never a crash.
  self->set_default_handler(caf::drop);
  return {
    [=](net_hello_atom, const std::string& client_id,
        const std::string& server_id, const std::string& client_nonce,
        const caf::actor& client_gateway, uint32_t version,
        const std::string& client_cluster) {
      return on_hello(self, client_id, server_id, client_nonce,
                      client_gateway, version, client_cluster);
    },
    [=](net_hello_atom, const std::string& client_id, const std::string&,
        const std::string&, const caf::actor&) -> hello_result {
      // Version 1's hello, before versions were sent.
      auto& st = self->state;
      ++st.handshake_failures;
      auto why = hello_refusal(st, client_id.substr(0, net_max_id_size), 1,
                               {});
      st.warn("raft transport: refused: {}", why);
      return make_error(errc::unsupported, why);
    },
    [=](net_auth_atom, const std::string& server_nonce,
        const std::string& cert_pem, const std::string& signature,
        const std::string& token_for_us) {
      return on_auth(self, server_nonce, cert_pem, signature, token_for_us);
    },
    [=](net_rpc_atom, const std::string& token, const std::string& from,
        const std::string& to, const caf::message& msg) {
      auto& st = self->state;
      if (auto why = refusal(st, token, from, to, msg); !why.empty()) {
        ++st.rejected;
        st.warn("raft transport: {}", why);
        return;
      }
      ++st.accepted;
      self->send(st.transport, net_in_atom_v, from, to, msg);
    },
    [=](net_stats_atom) {
      auto& st = self->state;
      stats_map m;
      m["gateway_accepted"] = std::to_string(st.accepted);
      m["gateway_rejected"] = std::to_string(st.rejected);
      m["gateway_handshakes"] = std::to_string(st.handshakes);
      m["gateway_handshake_failures"] = std::to_string(st.handshake_failures);
      return m;
    },
  };
}

} // namespace

caf::actor spawn_net_gateway(caf::actor_system& sys,
                             net_transport_actor transport,
                             std::string local_id,
                             std::shared_ptr<tls_identity> identity,
                             std::shared_ptr<net_sessions> sessions,
                             std::shared_ptr<cluster_identity> cluster,
                             size_t max_message_size,
                             std::shared_ptr<spdlog::logger> log) {
  return sys.spawn(gateway, std::move(transport), std::move(local_id),
                   std::move(identity), std::move(sessions),
                   std::move(cluster), max_message_size, std::move(log));
}

} // namespace raft
