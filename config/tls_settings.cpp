#include "config/tls_settings.hpp"

#include <fstream>

#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "config/errc.hpp"

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

caf::error configure_network(caf::actor_system_config& cfg,
                             const tls_settings& tls,
                             const liveness_settings& live) {
  if (auto err = tls.validate())
    return err;
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  if (!tls.insecure) {
    cfg.openssl_certificate = tls.certificate;
    cfg.openssl_key = tls.key;
    cfg.openssl_passphrase = tls.passphrase;
    cfg.openssl_cafile = tls.cafile;
  }
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{live.heartbeat_interval});
  cfg.set("middleman.connection-timeout",
          caf::timespan{live.connection_timeout});
  return caf::none;
}

} // namespace raft
