#include "actors/net_scribe.hpp"

#include <unistd.h>

#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/default_multiplexer.hpp"
#include "caf/io/network/native_socket.hpp"
#include "caf/io/network/operation.hpp"
#include "caf/io/network/stream.hpp"
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
    auto res = session->read_some(n, fd, buf, len);
    read_failed = res == rw_state::failure;
    if (res == rw_state::success && n > 0)
      handshaking = false;
    return res;
  }

  rw_state write_some(size_t& n, native_socket fd, const void* buf,
                      size_t len) {
    auto res = session->write_some(n, fd, buf, len);
    // CAF 0.17's session reports "success, 0 bytes" while SSL_connect
    // waits for the server: the socket stays writable, so the stream would
    // retry at once, forever, at full CPU (later CAF versions park writes
    // until the next read).
    stalled = handshaking && res == rw_state::success && n == 0 && len > 0;
    if (res == rw_state::success && n > 0)
      handshaking = false;
    return res;
  }

  /// OpenSSL may hold decrypted bytes the socket no longer signals.
  bool must_read_more(native_socket fd, size_t threshold) {
    return session->must_read_more(fd, threshold);
  }

  caf::openssl::session_ptr session;
  /// No application byte has moved yet.
  bool handshaking = true;
  /// The last write moved nothing because the handshake waits for a read.
  bool stalled = false;
  bool read_failed = false;
};

/// A TLS stream that stops asking for write events while the handshake
/// waits for the server, and asks again after the next read.
class tls_stream final : public caf::io::network::stream {
public:
  /// `owner` is the scribe this stream is a member of.
  tls_stream(caf::io::network::default_multiplexer& mpx, native_socket fd,
             caf::openssl::session_ptr session, caf::io::scribe* owner)
    : stream(mpx, fd), policy_(std::move(session)), owner_(owner) {
  }

  void handle_event(caf::io::network::operation op) override {
    using caf::io::network::operation;
    // Handling an event may release the scribe's last reference (a closed
    // connection); this stream is a member of it and is used below.
    caf::intrusive_ptr<caf::io::scribe> guard{owner_};
    handle_event_impl(op, policy_);
    if (op == operation::write && policy_.stalled && state_.writing) {
      parked_ = true;
      backend().del(operation::write, fd(), this);
    } else if (op == operation::read && parked_) {
      parked_ = false;
      if (!policy_.read_failed && state_.writing && state_.reading
          && !state_.shutting_down)
        backend().add(operation::write, fd(), this);
    }
  }

private:
  tls_policy policy_;
  caf::io::scribe* owner_;
  bool parked_ = false;
};

/// A TLS client connection as a CAF scribe (CAF 0.17 keeps its own in the
/// openssl module's sources, out of reach).
class tls_scribe final : public caf::io::scribe {
public:
  tls_scribe(caf::io::network::default_multiplexer& mpx, native_socket fd,
             caf::openssl::session_ptr session)
    : scribe(caf::io::network::conn_hdl_from_socket(fd)),
      stream_(mpx, fd, std::move(session), this) {
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
    // Reading alone drives the handshake: make_session sent the
    // ClientHello, and each read lets SSL_connect write what it must. No
    // empty write is forced (CAF's own TLS scribe forces one): while the
    // handshake waits for the server, a socket that is always writable
    // would spin the multiplexer at full CPU for as long as a stopped
    // server stays silent.
    stream_.start(this);
  }

  bool launched_ = false;
  tls_stream stream_;
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
