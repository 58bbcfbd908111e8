#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/transport/address_provider.hpp"
#include "caf-raft/config/tls_settings.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

class cluster_identity;

/// What `spawn_net_transport` needs.
struct net_transport_options {
  /// This server's id; its certificate must name it.
  std::string local_id;
  /// Interface to listen on ("" = all) and port (0 = any free port).
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;
  /// The address peers should use, answered to the node as its local
  /// address; defaults to listen_host:port.
  std::string advertise;
  /// Maps peer ids to "host:port"; required.
  address_provider addresses;
  /// TLS files, or `insecure`. Must be the ones the actor system was
  /// configured with (`configure_network`).
  tls_settings tls;
  std::shared_ptr<spdlog::logger> logger;
  /// Reconnection back-off: the delay after the first failure, doubled
  /// (with jitter) after each one, capped at `max_backoff`.
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{5000};
  /// Two servers share one connection, dialed by the smaller id. The
  /// larger one dials only if the peer has not dialed within this delay
  /// (randomized up to twice as long) of its first RPC to it.
  std::chrono::milliseconds reverse_dial_delay{1000};
  /// Bounds each step of connecting to a peer.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Incoming RPCs larger than this (payload bytes) are dropped; outgoing
  /// ones are not sent. Keep it above raft_config::max_entry_size times
  /// max_append_entries, or large batches never replicate.
  size_t max_message_size = 64 * 1024 * 1024;
  /// The cluster this server belongs to (cluster_identity.hpp): peers of
  /// another cluster are refused in the handshake. Null: an id kept in
  /// memory only, which the first peer that authenticates gives.
  std::shared_ptr<cluster_identity> cluster;
};

/// Spawns the network transport: a `transport_actor` as the in-memory one,
/// over
/// CAF's BASP with mutual TLS of the raft port's own (only server
/// certificates of the cluster CA; a BASP frame guard; net_tls.hpp,
/// net_scribe.hpp) and an application-level identity handshake (see
/// net_gateway.hpp and docs/security.md). Each peer is dialed on its own
/// (net_connector.hpp), so a silent host delays only its own link. Its
/// interface, `net_transport_actor`, also answers `(net_stats_atom)` with
/// counters and the state of every link.
///
/// RPCs to a peer that is not connected are dropped (Raft retries) and
/// trigger a connection attempt (see `reverse_dial_delay`), with
/// exponential back-off after failures;
/// a lost connection (closed, or silent past the middleman's connection
/// timeout) is noticed through the peer's proxy going down.
///
/// Fails, without starting, if the TLS material is missing or does not
/// name `local_id` (the error names which), if the actor system lacks the
/// openssl module or its TLS settings, or if the port cannot be bound. In
/// insecure mode it logs a warning at every start.
caf::expected<net_transport_actor>
spawn_net_transport(caf::actor_system& sys, net_transport_options opts);

} // namespace raft
