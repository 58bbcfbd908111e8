#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

class cluster_identity;
class net_sessions;
class tls_context;
class tls_identity;

/// What one connection attempt needs.
struct net_connect_job {
  /// Told `(net_ready_atom, peer_id, generation, gateway, token)` on
  /// success, `(net_fail_atom, peer_id, generation, reason)` otherwise.
  net_transport_actor transport;
  std::string local_id;
  std::string peer_id;
  uint64_t generation = 0;
  std::string host;
  uint16_t port = 0;
  /// Null in insecure mode (plain TCP).
  std::shared_ptr<tls_identity> identity;
  /// The raft port's TLS context; null in insecure mode.
  std::shared_ptr<tls_context> tls;
  /// The largest BASP frame the peer may announce.
  size_t max_frame = 0;
  /// Our own gateway and its session table: the peer gets a token for it,
  /// and sends its RPCs to us over the same connection.
  caf::actor gateway;
  std::shared_ptr<net_sessions> sessions;
  /// Our cluster; the peer must be of the same one.
  std::shared_ptr<cluster_identity> cluster;
  std::shared_ptr<spdlog::logger> log;
  /// Bounds each step (TCP connect, TLS and BASP handshake, hello, auth).
  std::chrono::milliseconds timeout{5000};
};

/// Spawns a short-lived detached actor that connects to a peer's gateway
/// without blocking anyone else (connect_published, bounded by the
/// timeout), runs the handshake of
/// net_gateway.hpp as the client, checks that the server proves the
/// expected id (only then does it issue the server a token), reports to
/// the transport and quits. Each peer's dial is independent: a host that
/// drops packets delays only its own link.
void spawn_net_connector(caf::actor_system& sys, net_connect_job job);

} // namespace raft
