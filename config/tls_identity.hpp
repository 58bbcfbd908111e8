#pragma once

#include <memory>
#include <string>

#include "caf-raft/config/tls_settings.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

/// Proves and checks server ids with the cluster's TLS material, above TLS.
/// CAF verifies that a peer's certificate is signed by the cluster CA but not
/// which server it names, so the transport's handshake uses this class: the
/// signer sends its certificate and a signature (with its private key) over
/// a fresh challenge; the verifier checks the certificate against the CA,
/// that it names the claimed id (CN or a SAN DNS entry), and the signature.
class tls_identity {
public:
  ~tls_identity();

  tls_identity(const tls_identity&) = delete;
  tls_identity& operator=(const tls_identity&) = delete;

  /// Loads certificate, key and CA of `tls` and checks that the certificate
  /// is signed by the CA, names `local_id` and matches the key.
  static caf::expected<std::shared_ptr<tls_identity>>
  load(const tls_settings& tls, const std::string& local_id);

  /// This node's certificate in PEM.
  const std::string& certificate_pem() const {
    return cert_pem_;
  }

  /// Signs `data` with this node's key (SHA-256).
  caf::expected<std::string> sign(const std::string& data) const;

  /// Checks that `cert_pem` is signed by the cluster CA, names `id`, and
  /// that `signature` over `data` was made with its key. The error says
  /// which check failed.
  caf::error verify(const std::string& cert_pem, const std::string& id,
                    const std::string& data,
                    const std::string& signature) const;

  /// `n` bytes from OpenSSL's CSPRNG.
  static std::string random_bytes(size_t n);

  /// True if the certificate in `cert_pem` names `id` (CN or SAN DNS).
  static bool names(const std::string& cert_pem, const std::string& id);

private:
  struct impl;

  explicit tls_identity(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
  std::string cert_pem_;
};

} // namespace raft
