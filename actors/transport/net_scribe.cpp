#include "caf-raft/actors/transport/net_scribe.hpp"

#include <unistd.h>

#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "caf-raft/actors/transport/net_tls.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/io/basp/header.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/default_multiplexer.hpp"
#include "caf/io/network/native_socket.hpp"
#include "caf/io/network/operation.hpp"
#include "caf/io/network/stream.hpp"
#include "caf/io/scribe.hpp"
#include "caf/make_counted.hpp"
#include "caf/openssl/session.hpp"

namespace raft {

namespace {

using caf::io::network::native_socket;
using caf::io::network::rw_state;

/// Follows the BASP framing of the decrypted byte stream (fixed-size
/// headers, each announcing its payload's length) and refuses a frame
/// larger than the limit as soon as its header is complete.
class frame_guard {
public:
  explicit frame_guard(size_t max_frame) : max_(max_frame) {
  }

  /// False if `data` completes a header announcing too large a payload.
  bool admit(const char* data, size_t n) {
    if (max_ == 0)
      return true;
    size_t pos = 0;
    while (pos < n) {
      if (payload_left_ > 0) {
        auto k = std::min<uint64_t>(payload_left_, n - pos);
        payload_left_ -= k;
        pos += static_cast<size_t>(k);
        continue;
      }
      auto k = std::min(header_.size() - seen_, n - pos);
      std::copy(data + pos, data + pos + k, header_.data() + seen_);
      seen_ += k;
      pos += k;
      if (seen_ < header_.size())
        break;
      seen_ = 0;
      // The payload length: big-endian, after operation, two padding bytes
      // and the flags (caf/io/basp/header.hpp).
      uint32_t len = 0;
      for (size_t i = 4; i < 8; ++i)
        len = (len << 8) | static_cast<uint8_t>(header_[i]);
      if (len > max_)
        return false;
      payload_left_ = len;
    }
    return true;
  }

private:
  size_t max_;
  std::array<char, caf::io::basp::header_size> header_{};
  size_t seen_ = 0;
  uint64_t payload_left_ = 0;
};

/// Whether a session finished its TLS handshake, where it can tell.
bool handshake_done(const tls_session& s) {
  return s.handshake_done();
}

/// CAF's session does not say; its streams wait for the first application
/// bytes instead (see tls_stream).
bool handshake_done(const caf::openssl::session&) {
  return false;
}

/// The stream policy of a TLS connection: every byte goes through the
/// session, which also drives the handshake; decrypted bytes pass the
/// frame guard.
template <class Session>
struct tls_policy {
  tls_policy(std::unique_ptr<Session> s, size_t max_frame)
    : session(std::move(s)), guard(max_frame) {
  }

  rw_state read_some(size_t& n, native_socket fd, void* buf, size_t len) {
    auto res = session->read_some(n, fd, buf, len);
    if (res == rw_state::success && n > 0) {
      received = true;
      if (!guard.admit(static_cast<const char*>(buf), n))
        res = rw_state::failure;
    }
    return res;
  }

  rw_state write_some(size_t& n, native_socket fd, const void* buf,
                      size_t len) {
    return session->write_some(n, fd, buf, len);
  }

  bool must_read_more(native_socket fd, size_t threshold) {
    return session->must_read_more(fd, threshold);
  }

  std::unique_ptr<Session> session;
  frame_guard guard;
  /// Application bytes have arrived (so the handshake is done).
  bool received = false;
};

/// A TLS stream that holds back writes until the handshake is done. CAF
/// 0.17's session answers a write during the handshake with "success, 0
/// bytes"; the socket stays writable, so the stream would retry at once,
/// forever, at full CPU while the peer is silent (later CAF versions park
/// such writes). The handshake itself needs no write events: the session
/// writes its records from inside the reads that the peer's answers wake.
template <class Session>
class tls_stream final : public caf::io::network::stream {
public:
  /// `owner` is the scribe this stream is a member of.
  tls_stream(caf::io::network::default_multiplexer& mpx, native_socket fd,
             std::unique_ptr<Session> session, size_t max_frame,
             caf::io::scribe* owner)
    : stream(mpx, fd), policy_(std::move(session), max_frame), owner_(owner) {
  }

  /// The scribe's flush: now, or once the handshake is done. What the
  /// socket takes at once is written at once (write_now); the rest waits
  /// for the loop's write events.
  void flush_when_ready() {
    if (!ready()) {
      flush_pending_ = true;
      return;
    }
    // Only sessions of our tls_context: CAF's own may refuse a retry from
    // a buffer that moved.
    if constexpr (std::is_same_v<Session, tls_session>)
      if (!state_.writing && !state_.ack_writes && !state_.shutting_down)
        write_now();
    flush(manager_ptr{owner_});
  }

  void handle_event(caf::io::network::operation op) override {
    // Handling an event may release the scribe's last reference (a closed
    // connection); this stream is a member of it and is used below.
    caf::intrusive_ptr<caf::io::scribe> guard{owner_};
    handle_event_impl(op, policy_);
    if (flush_pending_ && ready() && state_.reading
        && !state_.shutting_down) {
      flush_pending_ = false;
      flush(manager_ptr{owner_});
    }
  }

private:
  bool ready() const {
    return policy_.received || handshake_done(*policy_.session);
  }

  /// Writes the scribe's buffer through the session before the loop turns.
  /// CAF's stream writes only on the loop's next turn, after subscribing to
  /// write events and before unsubscribing again: two epoll_ctl calls and
  /// an epoll_wait per message, each a trip through the hypervisor on a VM
  /// (issue 20). A failure is not reported from here, where the broker is
  /// in the middle of a call and CAF would call it back, but left to the
  /// write event, which meets it again; the session's partial and moving
  /// writes (tls_context) let that retry start anywhere.
  void write_now() {
    auto& buf = wr_buf();
    size_t n = 0;
    if (buf.empty()
        || policy_.write_some(n, fd(), buf.data(), buf.size())
             != rw_state::success)
      return;
    buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
  }

  tls_policy<Session> policy_;
  caf::io::scribe* owner_;
  bool flush_pending_ = false;
};

/// A TLS connection as a CAF scribe (CAF 0.17 keeps its own in the openssl
/// module's sources, out of reach).
template <class Session>
class tls_scribe final : public caf::io::scribe {
public:
  tls_scribe(caf::io::network::default_multiplexer& mpx, native_socket fd,
             std::unique_ptr<Session> session, size_t max_frame)
    : scribe(caf::io::network::conn_hdl_from_socket(fd)),
      stream_(mpx, fd, std::move(session), max_frame, this) {
  }

  void configure_read(caf::io::receive_policy::config cfg) override {
    stream_.configure_read(cfg);
    if (!launched_) {
      // Reading alone drives the handshake: no empty write is forced (CAF's
      // own TLS scribe forces one, which spins while the peer is silent).
      launched_ = true;
      stream_.start(this);
    }
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
    stream_.flush_when_ready();
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
  bool launched_ = false;
  tls_stream<Session> stream_;
};

caf::io::network::default_multiplexer& multiplexer_of(caf::actor_system& sys) {
  return static_cast<caf::io::network::default_multiplexer&>(
    sys.middleman().backend());
}

} // namespace

caf::expected<caf::io::scribe_ptr>
make_client_scribe(caf::actor_system& sys, int fd, bool tls) {
  auto& mpx = multiplexer_of(sys);
  if (!tls)
    return mpx.new_scribe(fd);
  auto session = caf::openssl::make_session(sys, fd, false);
  if (!session) {
    ::close(fd);
    return make_error(errc::not_valid,
                      "the TLS client session did not start: check the "
                      "openssl settings (certificate, key, CA file)");
  }
  return caf::io::scribe_ptr{caf::make_counted<tls_scribe<caf::openssl::session>>(
    mpx, fd, std::move(session), 0)};
}

caf::expected<caf::io::scribe_ptr>
make_raft_scribe(caf::actor_system& sys, int fd, const tls_context& ctx,
                 bool accepting, size_t max_frame) {
  caf::io::network::tcp_nodelay(fd, true);
  auto session = tls_session::make(ctx, fd, accepting);
  if (!session) {
    ::close(fd);
    return make_error(errc::not_valid, "the raft port's TLS session did not "
                                       "start");
  }
  return caf::io::scribe_ptr{caf::make_counted<tls_scribe<tls_session>>(
    multiplexer_of(sys), fd, std::move(session), max_frame)};
}

} // namespace raft
