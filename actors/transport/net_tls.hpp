#pragma once

#include <cstddef>
#include <memory>

#include "caf-raft/config/tls_settings.hpp"
#include "caf/expected.hpp"
#include "caf/io/network/rw_state.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace raft {

/// The OpenSSL context of the raft port, the project's own rather than the
/// one CAF's openssl module shares with every TLS socket of the process, so
/// that it can check what that one cannot: the peer must hold a *server*
/// certificate of the cluster CA (extended key usage serverAuth, which
/// scripts/make-certs.sh gives servers and not clients such as "admin").
/// Clients of the cluster CA are refused during the TLS handshake, before
/// they can send a single BASP byte.
class tls_context {
public:
  /// Loads certificate, key (with the passphrase, if any) and CA; the error
  /// names the file that failed.
  static caf::expected<std::shared_ptr<tls_context>>
  make(const tls_settings& tls);

  ~tls_context();

  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  SSL_CTX* native() const {
    return ctx_;
  }

private:
  explicit tls_context(SSL_CTX* ctx) : ctx_(ctx) {
  }

  SSL_CTX* ctx_;
};

/// One TLS connection over a non-blocking socket, in the shape CAF's
/// streams expect of a policy (read_some, write_some, must_read_more). The
/// handshake runs inside the first reads and writes.
class tls_session {
public:
  using rw_state = caf::io::network::rw_state;

  /// Null if OpenSSL cannot make a session.
  static std::unique_ptr<tls_session> make(const tls_context& ctx, int fd,
                                           bool accepting);

  ~tls_session();

  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  rw_state read_some(size_t& n, int fd, void* buf, size_t len);

  rw_state write_some(size_t& n, int fd, const void* buf, size_t len);

  /// OpenSSL may hold decrypted bytes that the socket no longer signals.
  bool must_read_more(int fd, size_t threshold);

  /// The TLS handshake completed (the peer's certificate was accepted).
  bool handshake_done() const;

private:
  explicit tls_session(SSL* ssl) : ssl_(ssl) {
  }

  /// Maps an OpenSSL result: "wants more I/O" is success with 0 bytes.
  rw_state result_of(int ret, size_t& n);

  SSL* ssl_;
};

} // namespace raft
