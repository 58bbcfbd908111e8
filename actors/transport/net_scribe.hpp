#pragma once

#include <cstddef>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/io/fwd.hpp"

namespace raft {

class tls_context;

/// Hands a connected socket (from `dial_tcp`) to CAF's multiplexer as the
/// client side of a BASP connection: plain TCP, or, with `tls`, a TLS
/// client session run with the actor system's openssl settings (its
/// certificate, key and CA), as `caf::openssl::remote_actor` would. Used
/// for raftd's client port.
///
/// Give the result to the BASP broker with `(connect_atom, scribe, port)`:
/// it answers `(node_id, strong_actor_ptr, std::set<std::string>)` once the
/// server's BASP handshake arrived, as the middleman's connect does, but
/// nobody waited in a blocking connect() for it. The scribe owns the socket
/// from here on; on failure the socket is closed.
caf::expected<caf::io::scribe_ptr>
make_client_scribe(caf::actor_system& sys, int fd, bool tls);

/// A scribe for the raft port, either side (`accepting`): TLS with the
/// port's own context (only servers of the cluster CA get through, see
/// tls_context), and a BASP frame guard: a frame announcing more than
/// `max_frame` payload bytes closes the connection before anything is
/// allocated for it (CAF 0.17 trusts the length and allocates it).
caf::expected<caf::io::scribe_ptr>
make_raft_scribe(caf::actor_system& sys, int fd, const tls_context& ctx,
                 bool accepting, size_t max_frame);

} // namespace raft
