#pragma once

#include <cstddef>
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
class tls_identity;

/// Spawns the network transport's public face: the one actor it publishes.
/// Peers reach it over (mutual) TLS and must first authenticate:
/// - `(net_hello_atom, client_id, server_id, client_nonce, client_gateway,
///   version, cluster_id)` answers this server's certificate, a fresh server
///   nonce, a signature over `net_server_proof(...)` and our cluster id. A
///   client of another `net_protocol_version` or of another cluster
///   (cluster_identity.hpp) is refused with an error naming both; so is a
///   hello of version 1, which had neither;
/// - `(net_auth_atom, server_nonce, client_cert, signature, token)` checks
///   the client's certificate (cluster CA, names `client_id`) and its
///   signature over `net_client_proof(...)`, and answers a random session
///   token (from `sessions`). `token` is the one the client issued to us:
///   the transport is told `(net_accept_atom, client_id, client_gateway,
///   token)` and sends its RPCs for that peer back over the same
///   connection. A second process claiming the id of a server connected
///   from another is refused while the first stays connected. A server
///   without a cluster id yet takes the client's;
/// - `(net_rpc_atom, token, from, to, message)`: an RPC, accepted only with
///   a token issued to `from`, for this server, passing `net_check_rpc`;
///   it goes on to the transport as `(net_in_atom, from, to, message)`.
/// Everything else is dropped, with a rate-limited log line for bad input.
/// `transport` is the local transport actor (never exposed to peers).
///
/// `identity` null means insecure mode: claimed ids are taken on trust.
caf::actor spawn_net_gateway(caf::actor_system& sys,
                             net_transport_actor transport,
                             std::string local_id,
                             std::shared_ptr<tls_identity> identity,
                             std::shared_ptr<net_sessions> sessions,
                             std::shared_ptr<cluster_identity> cluster,
                             size_t max_message_size,
                             std::shared_ptr<spdlog::logger> log);

} // namespace raft
