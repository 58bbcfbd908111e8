#include "caf-raft/actors/transport/net_tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
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

/// A socket BIO whose writes never raise SIGPIPE: a write to a connection
/// the peer closed would otherwise kill the process. `send` with
/// MSG_NOSIGNAL says so per call; blocking the signal around each OpenSSL
/// call instead cost three system calls per read and per write, on both
/// sides of every hop of the commit path (issue 20).
int send_nosignal(BIO* bio, const char* buf, int len) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  errno = 0;
  auto n = ::send(fd, buf, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n)))
    BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

/// OpenSSL's socket BIO with `send_nosignal` as its write.
const BIO_METHOD* nosignal_socket_method() {
  static const BIO_METHOD* method = [] {
    auto base = BIO_s_socket();
    auto m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
                            | BIO_TYPE_DESCRIPTOR,
                          "socket (MSG_NOSIGNAL)");
    BIO_meth_set_write(m, send_nosignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}

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
  // One read per record instead of two (its header, then its body); what
  // is read ahead is drained by the stream's read loop (must_read_more).
  SSL_CTX_set_read_ahead(ctx, 1);
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
  auto bio = BIO_new(nosignal_socket_method());
  if (bio == nullptr) {
    SSL_free(ssl);
    return nullptr;
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);
  std::unique_ptr<tls_session> result{new tls_session(ssl)};
  if (accepting) {
    SSL_set_accept_state(ssl);
    return result;
  }
  // The client speaks first: send the ClientHello now, the rest of the
  // handshake runs inside the reads that the server's answer wakes.
  SSL_set_connect_state(ssl);
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
  // SSL_read runs the handshake first (the session knows its side).
  return result_of(SSL_read(ssl_, buf, static_cast<int>(len)), n);
}

rw_state tls_session::write_some(size_t& n, int, const void* buf,
                                 size_t len) {
  if (len == 0) {
    n = 0;
    return rw_state::indeterminate;
  }
  return result_of(SSL_write(ssl_, buf, static_cast<int>(len)), n);
}

bool tls_session::handshake_done() const {
  return SSL_is_init_finished(ssl_) == 1;
}

bool tls_session::must_read_more(int, size_t) {
  // Bytes read ahead but not yet decrypted count too: the socket will not
  // wake the loop for them again.
  return SSL_has_pending(ssl_) == 1;
}

} // namespace raft
