#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace raft {

class tls_context;

/// Connects to the actor published at `host:port` (CAF's remote_actor),
/// blocking the calling thread, and only it, for at most `timeout` in all:
/// the TCP dial (net_dial.hpp), then the TLS and BASP handshakes on CAF's
/// BASP broker (net_scribe.hpp). With `tls` the actor system's openssl
/// settings are used, as caf::openssl::remote_actor does; without, plain
/// TCP.
///
/// CAF 0.17's remote_actor dials inside the one middleman actor with a
/// blocking connect(): one silent host stalls every other connection of
/// the process for minutes, and no timeout bounds it. Call this from a
/// thread that may block (a detached actor, a command-line program).
///
/// Errors (errc::unknown_peer) say what happened, each with its advice:
/// the name did not resolve, nothing answered within the timeout, the
/// connection was refused, or the TLS/BASP handshake failed or timed out.
caf::expected<caf::actor> connect_published(caf::actor_system& sys,
                                            const std::string& host,
                                            uint16_t port, bool tls,
                                            std::chrono::milliseconds timeout);

/// As `connect_published`, for the raft port: TLS with the port's own
/// context `ctx` (null: plain TCP) and the BASP frame guard (`max_frame`
/// payload bytes at most; see net_scribe.hpp).
caf::expected<caf::actor>
connect_raft_port(caf::actor_system& sys, const std::string& host,
                  uint16_t port, const tls_context* ctx, size_t max_frame,
                  std::chrono::milliseconds timeout);

} // namespace raft
