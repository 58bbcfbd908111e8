#pragma once

#include <chrono>
#include <string>

#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// The TLS material of one node: its certificate and key (the certificate
/// names the server id in its CN or a SAN DNS entry) and the per-cluster CA
/// that signed every node's certificate.
struct tls_settings {
  /// PEM certificate of this node (may hold the chain).
  std::string certificate;
  /// PEM private key of this node.
  std::string key;
  /// Passphrase of `key`, if it is encrypted.
  std::string passphrase;
  /// PEM certificate of the cluster CA.
  std::string cafile;
  /// Plain TCP without any authentication. Only for tests and demos on a
  /// trusted loopback; logged as a warning at every start.
  bool insecure = false;

  /// Checks that certificate, key and CA are set and readable; the error
  /// names the one missing (nothing is checked when `insecure`).
  caf::error validate() const;
};

/// How fast the middleman notices a dead or silent peer.
struct liveness_settings {
  /// A BASP heartbeat is sent on idle connections this often.
  std::chrono::milliseconds heartbeat_interval{500};
  /// A connection with no incoming traffic for this long is closed (which
  /// kills the proxies of the peer's actors, so the transport reconnects).
  std::chrono::milliseconds connection_timeout{3000};
};

/// Prepares an actor system config for the network transport: loads the
/// middleman and the openssl manager, copies the TLS files into CAF's
/// `openssl.*` options (which turns on mutual TLS: CAF then requires a peer
/// certificate signed by `cafile` on both sides) and sets the middleman's
/// heartbeat and connection timeout. Fails as `tls.validate()` does. It
/// overrides nothing the host configured: where the host's config already
/// holds another TLS file or middleman timing, it fails naming both values
/// (CAF 0.17 has one TLS identity and one middleman per process), and
/// changes nothing.
caf::error configure_network(caf::actor_system_config& cfg,
                             const tls_settings& tls,
                             const liveness_settings& live = {});

} // namespace raft
