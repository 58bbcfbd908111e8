#include "caf-raft/actors/transport/net_tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "caf-raft/config/errc.hpp"

namespace raft {

namespace {

using caf::io::network::rw_state;

std::string openssl_error() {
  auto code = ERR_get_error();
  if (code == 0)
    return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

/// Depth 0 is the peer's own certificate: a raft peer is a server, so an
/// extended key usage, if present, must allow serverAuth (a client
/// certificate of the same CA, such as raftctl's "admin", does not).
int verify_server_role(int ok, X509_STORE_CTX* store) {
  if (ok != 1 || X509_STORE_CTX_get_error_depth(store) != 0)
    return ok;
  auto cert = X509_STORE_CTX_get_current_cert(store);
  if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0
      && (X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) == 0) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_INVALID_PURPOSE);
    return 0;
  }
  return 1;
}

int passphrase_cb(char* buf, int size, int, void* user) {
  auto pw = static_cast<const std::string*>(user);
  auto n = std::min(static_cast<int>(pw->size()), size - 1);
  std::memcpy(buf, pw->data(), static_cast<size_t>(n));
  buf[n] = '\0';
  return n;
}

/// SIGPIPE for a write to a closed socket would kill the process: blocked
/// around each OpenSSL call on this thread, and a pending one swallowed.
class sigpipe_guard {
public:
  sigpipe_guard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }

  ~sigpipe_guard() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{0, 0};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

private:
  sigset_t pipe_;
  sigset_t old_;
};

} // namespace

caf::expected<std::shared_ptr<tls_context>>
tls_context::make(const tls_settings& tls) {
  auto fail = [](SSL_CTX* ctx, std::string what) {
    if (ctx != nullptr)
      SSL_CTX_free(ctx);
    return make_error(errc::not_valid, std::move(what) + ": " + openssl_error());
  };
  auto ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr)
    return fail(ctx, "cannot make a TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Needed only while the key loads; the pointer is cleared after.
  auto passphrase = tls.passphrase;
  if (!passphrase.empty()) {
    SSL_CTX_set_default_passwd_cb(ctx, passphrase_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &passphrase);
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.certificate.c_str()) != 1)
    return fail(ctx, "cannot use the certificate " + tls.certificate);
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail(ctx, "cannot use the key " + tls.key);
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail(ctx, "the key " + tls.key + " does not match the certificate "
                       + tls.certificate);
  if (SSL_CTX_load_verify_locations(ctx, tls.cafile.c_str(), nullptr) != 1)
    return fail(ctx, "cannot use the CA file " + tls.cafile);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     verify_server_role);
  return std::shared_ptr<tls_context>{new tls_context(ctx)};
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

std::unique_ptr<tls_session> tls_session::make(const tls_context& ctx, int fd,
                                               bool accepting) {
  auto ssl = SSL_new(ctx.native());
  if (ssl == nullptr)
    return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  std::unique_ptr<tls_session> result{new tls_session(ssl)};
  if (accepting) {
    SSL_set_accept_state(ssl);
    return result;
  }
  // The client speaks first: send the ClientHello now, the rest of the
  // handshake runs inside the reads that the server's answer wakes.
  SSL_set_connect_state(ssl);
  sigpipe_guard guard;
  size_t n = 0;
  ERR_clear_error();
  if (result->result_of(SSL_do_handshake(ssl), n) == rw_state::failure)
    return nullptr;
  return result;
}

tls_session::~tls_session() {
  SSL_free(ssl_);
}

rw_state tls_session::result_of(int ret, size_t& n) {
  n = 0;
  if (ret > 0) {
    n = static_cast<size_t>(ret);
    return rw_state::success;
  }
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return rw_state::success;
    default:
      // Closed, reset, refused certificate, garbage: the stream closes
      // the connection.
      ERR_clear_error();
      return rw_state::failure;
  }
}

rw_state tls_session::read_some(size_t& n, int, void* buf, size_t len) {
  sigpipe_guard guard;
  // SSL_read runs the handshake first (the session knows its side).
  return result_of(SSL_read(ssl_, buf, static_cast<int>(len)), n);
}

rw_state tls_session::write_some(size_t& n, int, const void* buf,
                                 size_t len) {
  if (len == 0) {
    n = 0;
    return rw_state::indeterminate;
  }
  sigpipe_guard guard;
  return result_of(SSL_write(ssl_, buf, static_cast<int>(len)), n);
}

bool tls_session::handshake_done() const {
  return SSL_is_init_finished(ssl_) == 1;
}

bool tls_session::must_read_more(int, size_t) {
  return SSL_pending(ssl_) > 0;
}

} // namespace raft
