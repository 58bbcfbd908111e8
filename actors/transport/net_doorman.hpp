#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

namespace raft {

class tls_context;

/// Publishes `whom` on the raft port (`host` empty: every interface; port
/// 0: any free port) as caf::openssl::publish would, but every accepted
/// connection runs the raft port's own TLS (only servers of the cluster CA
/// complete the handshake; tls_context) and BASP frame guard (a frame over
/// `max_frame` payload bytes closes the connection; net_scribe.hpp).
/// Answers the port bound.
caf::expected<uint16_t> publish_raft_port(caf::actor_system& sys,
                                          caf::actor whom, uint16_t port,
                                          const std::string& host,
                                          std::shared_ptr<tls_context> ctx,
                                          size_t max_frame);

} // namespace raft
