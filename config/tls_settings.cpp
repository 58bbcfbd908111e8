#include "caf-raft/config/tls_settings.hpp"

#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>

#include "caf-raft/config/errc.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/settings.hpp"

namespace raft {

namespace {

caf::error check_file(const std::string& path, const char* what,
                      const char* setting) {
  if (path.empty())
    return make_error(errc::not_valid,
                      std::string{"TLS "} + what + " missing: set " + setting
                        + " (or run insecure explicitly)");
  std::ifstream in{path};
  if (!in)
    return make_error(errc::not_valid, std::string{"TLS "} + what + " file "
                                         + path + " cannot be read ("
                                         + setting + ")");
  return caf::none;
}

} // namespace

caf::error tls_settings::validate() const {
  if (insecure)
    return caf::none;
  if (auto err = check_file(certificate, "certificate", "tls.certificate"))
    return err;
  if (auto err = check_file(key, "key", "tls.key"))
    return err;
  if (auto err = check_file(cafile, "CA certificate", "tls.cafile"))
    return err;
  return caf::none;
}

namespace {

/// Why the host's TLS field (CAF's `openssl.<name>`) cannot take `ours`, or
/// none: CAF 0.17 has one TLS identity per process, so silently replacing
/// the host's would change its own connections.
caf::error conflict(const std::string& field, const std::string& ours,
                    const char* name) {
  if (field.empty() || field == ours)
    return caf::none;
  return make_error(errc::not_valid,
                    std::string{"the host's actor system already sets openssl."}
                      + name + " = " + field + "; caf-raft's transport needs "
                      + ours
                      + ": CAF 0.17 has one TLS identity per process, so give "
                        "both the same files, or leave openssl.* unset for "
                        "caf-raft to set");
}

/// Why the middleman's `key` cannot take `ours`, or none.
caf::error conflict(const caf::actor_system_config& cfg, const char* key,
                    caf::timespan ours) {
  auto x = caf::get_if<caf::timespan>(&cfg, key);
  if (!x || *x == ours)
    return caf::none;
  return make_error(errc::not_valid,
                    std::string{"the host's actor system already sets "} + key
                      + " = " + caf::deep_to_string(*x)
                      + "; caf-raft's transport needs "
                      + caf::deep_to_string(ours)
                      + " (liveness_settings) to notice a silent peer in time: "
                        "pass the host's value as liveness_settings, or leave "
                        "it unset");
}

} // namespace

caf::error configure_network(caf::actor_system_config& cfg,
                             const tls_settings& tls,
                             const liveness_settings& live) {
  if (auto err = tls.validate())
    return err;
  caf::timespan beat{live.heartbeat_interval};
  caf::timespan timeout{live.connection_timeout};
  // Every check first: a refused configuration changes nothing.
  caf::error err;
  if (!tls.insecure
      && ((err = conflict(cfg.openssl_certificate, tls.certificate,
                          "certificate"))
          || (err = conflict(cfg.openssl_key, tls.key, "key"))
          || (err = conflict(cfg.openssl_cafile, tls.cafile, "cafile"))
          || (err = conflict(cfg.openssl_passphrase, tls.passphrase,
                             "passphrase"))))
    return err;
  if ((err = conflict(cfg, "middleman.heartbeat-interval", beat))
      || (err = conflict(cfg, "middleman.connection-timeout", timeout)))
    return err;
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  if (!tls.insecure) {
    cfg.openssl_certificate = tls.certificate;
    cfg.openssl_key = tls.key;
    cfg.openssl_passphrase = tls.passphrase;
    cfg.openssl_cafile = tls.cafile;
  }
  cfg.set("middleman.heartbeat-interval", beat);
  cfg.set("middleman.connection-timeout", timeout);
  return caf::none;
}

} // namespace raft

// -- OpenSSL error queue ----------------------------------------------------

// Works around a defect of CAF 0.17.6's openssl module. These definitions
// live beside configure_network, so every program that sets up the network
// links them (a static library member is linked only when referenced).
//
// OpenSSL keeps one error queue per thread and SSL_get_error reports
// SSL_ERROR_SSL whenever that queue is not empty. CAF's sessions never call
// ERR_clear_error, so the error left by one failed session (a client that
// connects and closes without TLS, a peer killed mid-stream) makes the next
// read of every *other* session on the same multiplexer thread look fatal:
// CAF closes them too, the raft links drop on all servers in a cascade, and
// the cluster holds an election. Found with raftctl: every exit of a client
// restarted all raft connections.
//
// The executable defines the four I/O entry points libcaf_openssl calls; the
// dynamic linker binds libcaf_openssl's references to these definitions
// (the executable comes first in symbol lookup), which clear the queue and
// call OpenSSL's own function, so SSL_get_error afterwards describes that
// call alone, as OpenSSL's documentation requires.

namespace raft::detail {

template <class Fn>
Fn next_ssl_fn(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

} // namespace raft::detail

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  using fn = int (*)(SSL*, void*, int);
  static auto real = raft::detail::next_ssl_fn<fn>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  using fn = int (*)(SSL*, const void*, int);
  static auto real = raft::detail::next_ssl_fn<fn>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  using fn = int (*)(SSL*);
  static auto real = raft::detail::next_ssl_fn<fn>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  using fn = int (*)(SSL*);
  static auto real = raft::detail::next_ssl_fn<fn>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"
