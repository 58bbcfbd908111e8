#include "actors/net_scribe.hpp"

#include <unistd.h>

#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/default_multiplexer.hpp"
#include "caf/io/network/native_socket.hpp"
#include "caf/io/network/stream_impl.hpp"
#include "caf/io/scribe.hpp"
#include "caf/make_counted.hpp"
#include "caf/openssl/session.hpp"
#include "config/errc.hpp"

namespace raft {

namespace {

using caf::io::network::native_socket;
using caf::io::network::rw_state;

/// The stream policy of a TLS connection: every byte goes through the
/// OpenSSL session, which also drives the handshake.
struct tls_policy {
  explicit tls_policy(caf::openssl::session_ptr s) : session(std::move(s)) {
  }

  rw_state read_some(size_t& n, native_socket fd, void* buf, size_t len) {
    return session->read_some(n, fd, buf, len);
  }

  rw_state write_some(size_t& n, native_socket fd, const void* buf,
                      size_t len) {
    return session->write_some(n, fd, buf, len);
  }

  /// OpenSSL may hold decrypted bytes the socket no longer signals.
  bool must_read_more(native_socket fd, size_t threshold) {
    return session->must_read_more(fd, threshold);
  }

  caf::openssl::session_ptr session;
};

/// A TLS client connection as a CAF scribe (CAF 0.17 keeps its own in the
/// openssl module's sources, out of reach).
class tls_scribe final : public caf::io::scribe {
public:
  tls_scribe(caf::io::network::default_multiplexer& mpx, native_socket fd,
             caf::openssl::session_ptr session)
    : scribe(caf::io::network::conn_hdl_from_socket(fd)),
      stream_(mpx, fd, std::move(session)) {
  }

  void configure_read(caf::io::receive_policy::config cfg) override {
    stream_.configure_read(cfg);
    if (!launched_)
      launch();
  }

  void ack_writes(bool enable) override {
    stream_.ack_writes(enable);
  }

  std::vector<char>& wr_buf() override {
    return stream_.wr_buf();
  }

  std::vector<char>& rd_buf() override {
    return stream_.rd_buf();
  }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override {
    stream_.flush(this);
  }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }

  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override {
    stream_.activate(this);
  }

  void remove_from_loop() override {
    stream_.passivate();
  }

private:
  void launch() {
    launched_ = true;
    stream_.start(this);
    // The client speaks first in TLS but BASP's client only listens for
    // the server's handshake: ask for a write event so that the session
    // can send its part of the TLS handshake.
    stream_.force_empty_write(this);
  }

  bool launched_ = false;
  caf::io::network::stream_impl<tls_policy> stream_;
};

} // namespace

caf::expected<caf::io::scribe_ptr>
make_client_scribe(caf::actor_system& sys, int fd, bool tls) {
  auto& mpx = static_cast<caf::io::network::default_multiplexer&>(
    sys.middleman().backend());
  if (!tls)
    return mpx.new_scribe(fd);
  auto session = caf::openssl::make_session(sys, fd, false);
  if (!session) {
    ::close(fd);
    return make_error(errc::not_valid,
                      "the TLS client session did not start: check the "
                      "openssl settings (certificate, key, CA file)");
  }
  return caf::io::scribe_ptr{
    caf::make_counted<tls_scribe>(mpx, fd, std::move(session))};
}

} // namespace raft
