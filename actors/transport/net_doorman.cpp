#include "caf-raft/actors/transport/net_doorman.hpp"

#include <unistd.h>

#include <set>

#include "caf-raft/actors/transport/net_scribe.hpp"
#include "caf-raft/actors/transport/net_tls.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/io/abstract_broker.hpp"
#include "caf/io/basp_broker.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/default_multiplexer.hpp"
#include "caf/io/network/doorman_impl.hpp"
#include "caf/io/scribe.hpp"
#include "caf/make_counted.hpp"
#include "caf/send.hpp"

namespace raft {

namespace {

/// Accepts connections on the raft port and wraps each in a raft scribe.
class raft_doorman final : public caf::io::network::doorman_impl {
public:
  raft_doorman(caf::io::network::default_multiplexer& mpx, int fd,
               std::shared_ptr<tls_context> ctx, size_t max_frame)
    : doorman_impl(mpx, fd), ctx_(std::move(ctx)), max_frame_(max_frame) {
  }

  bool new_connection() override {
    if (detached())
      return false; // The broker let go of us; the loop drops the socket.
    auto& mpx = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    caf::io::network::nonblocking(fd, true);
    auto scribe = make_raft_scribe(parent()->system(), fd, *ctx_, true,
                                   max_frame_);
    if (!scribe)
      return false; // The socket is closed; nobody heard of it.
    auto hdl = (*scribe)->hdl();
    parent()->add_scribe(std::move(*scribe));
    return doorman::new_connection(&mpx, hdl);
  }

private:
  std::shared_ptr<tls_context> ctx_;
  size_t max_frame_;
};

} // namespace

caf::expected<uint16_t> publish_raft_port(caf::actor_system& sys,
                                          caf::actor whom, uint16_t port,
                                          const std::string& host,
                                          std::shared_ptr<tls_context> ctx,
                                          size_t max_frame) {
  auto fd = caf::io::network::new_tcp_acceptor_impl(
    port, host.empty() ? nullptr : host.c_str(), true);
  if (!fd)
    return make_error(errc::not_valid, sys.render(fd.error()));
  auto& mpx = static_cast<caf::io::network::default_multiplexer&>(
    sys.middleman().backend());
  auto doorman = caf::make_counted<raft_doorman>(mpx, *fd, std::move(ctx),
                                                 max_frame);
  auto bound = doorman->port();
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(
    caf::atom("BASP"));
  caf::anon_send(broker, caf::publish_atom_v,
                 caf::io::doorman_ptr{std::move(doorman)}, bound,
                 caf::actor_cast<caf::strong_actor_ptr>(whom),
                 std::set<std::string>{});
  return bound;
}

} // namespace raft
