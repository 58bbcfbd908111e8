#pragma once

// What the network transport's two sides agree on: the handshake's signed
// statements and the checks every incoming RPC passes. See
// net_transport.hpp and net_gateway.hpp.

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// The version of the transport's handshake and RPCs. Peers of another
/// version are refused in the hello, with both versions named. 1 was the
/// hello without versions and cluster ids (before issue 16); 2 adds them.
constexpr uint32_t net_protocol_version = 2;

/// Size of the handshake's challenges.
constexpr size_t net_nonce_size = 32;

/// Longest server id the transport accepts from the network.
constexpr size_t net_max_id_size = 256;

/// The statement the server signs in the handshake: it proves to the
/// client that the server holds the key of a certificate naming
/// `server_id`, for this client's fresh `client_nonce`.
std::string net_server_proof(const std::string& client_nonce,
                             const std::string& server_nonce,
                             const std::string& server_id,
                             const std::string& client_id);

/// The statement the client signs: it proves it holds the key of a
/// certificate naming `client_id`, for the server's fresh `server_nonce`.
/// Distinct from the server's statement, so one cannot stand for the other.
std::string net_client_proof(const std::string& client_nonce,
                             const std::string& server_nonce,
                             const std::string& server_id,
                             const std::string& client_id);

/// Bytes `msg` holds in payloads and strings: an estimate of its wire size,
/// for the maximum message size.
size_t net_payload_size(const caf::message& msg);

/// Checks an RPC that arrived from the authenticated server `from`: it is
/// one of the Raft RPC structs, names `from` as its sender, its terms and
/// indexes are consistent (terms of requests non-zero, entries consecutive
/// after `prev_log_index` with terms that never go back nor pass the
/// request's term, snapshot chunks inside their snapshot) and it is at most
/// `max_size` bytes. The error (`bad_message` or `too_large`) says what is
/// wrong.
caf::error net_check_rpc(const std::string& from, const caf::message& msg,
                         size_t max_size);

} // namespace raft
