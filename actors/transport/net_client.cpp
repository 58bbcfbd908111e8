#include "caf-raft/actors/transport/net_client.hpp"

#include <set>

#include "caf-raft/actors/transport/net_dial.hpp"
#include "caf-raft/actors/transport/net_scribe.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/io/basp_broker.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/scribe.hpp"
#include "caf/node_id.hpp"
#include "caf/scoped_actor.hpp"

namespace raft {

namespace {

caf::error refused(const std::string& where, const std::string& why) {
  return make_error(errc::unknown_peer, "cannot connect to " + where + ": "
                                          + why);
}

/// What a dial failure means to whoever reads it.
std::string advice(const dial_result& r) {
  switch (r.failure) {
    case dial_failure::refused:
      return "not reachable: connection refused (nothing listens there: is "
             "the server running, and is this its address?)";
    case dial_failure::timed_out:
      return "not reachable: " + r.detail
             + "; check that the host is up and that no firewall drops the "
               "traffic";
    case dial_failure::unresolved:
      return r.detail + "; check the host name";
    default:
      return r.detail;
  }
}

/// The shared steps: dial, wrap the socket (`wrap`), BASP handshake.
template <class Wrap>
caf::expected<caf::actor> connect_with(caf::actor_system& sys,
                                       const std::string& host, uint16_t port,
                                       bool tls,
                                       std::chrono::milliseconds timeout,
                                       Wrap wrap) {
  using steady = std::chrono::steady_clock;
  auto where = host + ":" + std::to_string(port);
  auto deadline = steady::now() + timeout;
  auto dialed = dial_tcp(host, port, timeout);
  if (dialed.fd < 0)
    return refused(where, advice(dialed));
  caf::expected<caf::io::scribe_ptr> scribe = wrap(dialed.fd);
  if (!scribe)
    return refused(where, describe(scribe.error()));
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - steady::now());
  if (left.count() <= 0)
    left = std::chrono::milliseconds{1};
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(
    caf::atom("BASP"));
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result{caf::actor{}};
  self->request(broker, left, caf::connect_atom_v, std::move(*scribe), port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (ptr)
          result = caf::actor_cast<caf::actor>(std::move(ptr));
        else
          result = refused(where, "nothing is published there");
      },
      [&](caf::error& err) {
        if (err == caf::sec::request_timeout
            || err == caf::sec::connection_timeout)
          result = refused(where,
                           "the TCP connection opened but no TLS/BASP "
                           "handshake completed within "
                             + std::to_string(timeout.count())
                             + " ms (the server is overloaded or stopped)");
        else if (tls)
          result = refused(where,
                           "TLS refused (" + sys.render(err)
                             + "): check that the CA is the cluster's and "
                               "the certificate is signed by it");
        else
          result = refused(where, sys.render(err));
      });
  return result;
}

} // namespace

caf::expected<caf::actor> connect_published(caf::actor_system& sys,
                                            const std::string& host,
                                            uint16_t port, bool tls,
                                            std::chrono::milliseconds timeout) {
  return connect_with(sys, host, port, tls, timeout, [&](int fd) {
    return make_client_scribe(sys, fd, tls);
  });
}

caf::expected<caf::actor>
connect_raft_port(caf::actor_system& sys, const std::string& host,
                  uint16_t port, const tls_context* ctx, size_t max_frame,
                  std::chrono::milliseconds timeout) {
  return connect_with(sys, host, port, ctx != nullptr, timeout,
                      [&](int fd) -> caf::expected<caf::io::scribe_ptr> {
                        if (ctx == nullptr)
                          return make_client_scribe(sys, fd, false);
                        return make_raft_scribe(sys, fd, *ctx, false,
                                                max_frame);
                      });
}

} // namespace raft
