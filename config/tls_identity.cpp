#include "caf-raft/config/tls_identity.hpp"

#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "caf-raft/config/errc.hpp"

namespace raft {

namespace {

struct x509_deleter {
  void operator()(X509* x) const {
    X509_free(x);
  }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* x) const {
    EVP_PKEY_free(x);
  }
};
struct store_deleter {
  void operator()(X509_STORE* x) const {
    X509_STORE_free(x);
  }
};
struct bio_deleter {
  void operator()(BIO* x) const {
    BIO_free(x);
  }
};
struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* x) const {
    EVP_MD_CTX_free(x);
  }
};
struct store_ctx_deleter {
  void operator()(X509_STORE_CTX* x) const {
    X509_STORE_CTX_free(x);
  }
};

using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using store_ptr = std::unique_ptr<X509_STORE, store_deleter>;
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

/// A peer's certificate is a few KiB; anything much larger is refused
/// before OpenSSL parses it.
constexpr size_t max_cert_size = 64 * 1024;
constexpr size_t max_signature_size = 1024;

std::string ssl_error() {
  std::string msg;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!msg.empty())
      msg += "; ";
    msg += buf;
  }
  return msg.empty() ? "unknown OpenSSL error" : msg;
}

caf::expected<std::string> read_file(const std::string& path,
                                     const char* what) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::not_valid, std::string{"TLS "} + what + " file "
                                         + path + " cannot be read");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

x509_ptr parse_cert(const std::string& pem) {
  if (pem.size() > max_cert_size)
    return nullptr;
  bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio)
    return nullptr;
  return x509_ptr{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

int passphrase_cb(char* buf, int size, int, void* user) {
  auto pw = static_cast<const std::string*>(user);
  if (!pw || pw->empty() || size <= 0)
    return 0;
  auto n = std::min(static_cast<int>(pw->size()), size);
  std::copy_n(pw->data(), n, buf);
  return n;
}

bool cert_names(X509* cert, const std::string& id) {
  if (id.empty())
    return false;
  // SAN DNS entries first: exact, case-sensitive match (ids are not
  // host names, so no wildcards).
  auto sans = static_cast<GENERAL_NAMES*>(
    X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  bool found = false;
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && !found; ++i) {
      auto name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS)
        continue;
      auto str = name->d.dNSName;
      auto data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(str));
      auto len = static_cast<size_t>(ASN1_STRING_length(str));
      found = std::string(data, len) == id;
    }
    GENERAL_NAMES_free(sans);
  }
  if (found)
    return true;
  auto subject = X509_get_subject_name(cert);
  for (int pos = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
       pos >= 0;
       pos = X509_NAME_get_index_by_NID(subject, NID_commonName, pos)) {
    auto entry = X509_NAME_get_entry(subject, pos);
    auto str = X509_NAME_ENTRY_get_data(entry);
    auto data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(str));
    auto len = static_cast<size_t>(ASN1_STRING_length(str));
    if (std::string(data, len) == id)
      return true;
  }
  return false;
}

} // namespace

struct tls_identity::impl {
  store_ptr store;
  pkey_ptr key;
  x509_ptr cert;

  caf::error check_chain(X509* cert) const {
    std::unique_ptr<X509_STORE_CTX, store_ctx_deleter> ctx{
      X509_STORE_CTX_new()};
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1)
      return make_error(errc::bad_message, "cannot check certificate: "
                                             + ssl_error());
    if (X509_verify_cert(ctx.get()) != 1)
      return make_error(errc::bad_message,
                        std::string{"certificate not signed by the cluster "
                                    "CA: "}
                          + X509_verify_cert_error_string(
                            X509_STORE_CTX_get_error(ctx.get())));
    return caf::none;
  }
};

tls_identity::tls_identity(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
}

tls_identity::~tls_identity() = default;

caf::expected<std::shared_ptr<tls_identity>>
tls_identity::load(const tls_settings& tls, const std::string& local_id) {
  if (auto err = tls.validate())
    return err;
  auto st = std::make_unique<impl>();
  // CA store.
  auto ca_pem = read_file(tls.cafile, "CA certificate");
  if (!ca_pem)
    return ca_pem.error();
  st->store.reset(X509_STORE_new());
  {
    bio_ptr bio{BIO_new_mem_buf(ca_pem->data(),
                                static_cast<int>(ca_pem->size()))};
    int added = 0;
    while (auto ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(st->store.get(), ca);
      X509_free(ca);
      ++added;
    }
    ERR_clear_error();
    if (added == 0)
      return make_error(errc::not_valid, "TLS CA certificate file "
                                           + tls.cafile
                                           + " holds no PEM certificate");
  }
  // Own certificate.
  auto cert_pem = read_file(tls.certificate, "certificate");
  if (!cert_pem)
    return cert_pem.error();
  st->cert = parse_cert(*cert_pem);
  if (!st->cert)
    return make_error(errc::not_valid, "TLS certificate file "
                                         + tls.certificate
                                         + " holds no PEM certificate");
  if (auto err = st->check_chain(st->cert.get()))
    return make_error(errc::not_valid, "TLS certificate " + tls.certificate
                                         + ": " + describe(err));
  if (!cert_names(st->cert.get(), local_id))
    return make_error(errc::not_valid,
                      "TLS certificate " + tls.certificate
                        + " does not name this server's id " + local_id
                        + " (CN or SAN DNS)");
  // Own key.
  auto key_pem = read_file(tls.key, "key");
  if (!key_pem)
    return key_pem.error();
  {
    bio_ptr bio{BIO_new_mem_buf(key_pem->data(),
                                static_cast<int>(key_pem->size()))};
    auto pw = tls.passphrase;
    st->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_cb,
                                          &pw));
  }
  if (!st->key)
    return make_error(errc::not_valid, "TLS key file " + tls.key
                                         + " cannot be loaded (wrong "
                                           "passphrase?): "
                                         + ssl_error());
  if (X509_check_private_key(st->cert.get(), st->key.get()) != 1) {
    ERR_clear_error();
    return make_error(errc::not_valid, "TLS key " + tls.key
                                         + " does not match certificate "
                                         + tls.certificate);
  }
  std::shared_ptr<tls_identity> result{new tls_identity(std::move(st))};
  // Only the first certificate of the file: the one that names us.
  bio_ptr out{BIO_new(BIO_s_mem())};
  PEM_write_bio_X509(out.get(), result->impl_->cert.get());
  char* data = nullptr;
  auto len = BIO_get_mem_data(out.get(), &data);
  result->cert_pem_.assign(data, static_cast<size_t>(len));
  return result;
}

caf::expected<std::string> tls_identity::sign(const std::string& data) const {
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx{EVP_MD_CTX_new()};
  size_t len = 0;
  if (!ctx
      || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                            impl_->key.get())
           != 1
      || EVP_DigestSign(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(data.data()),
                        data.size())
           != 1)
    return make_error(errc::not_valid, "cannot sign: " + ssl_error());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(&sig[0]),
                     &len,
                     reinterpret_cast<const unsigned char*>(data.data()),
                     data.size())
      != 1)
    return make_error(errc::not_valid, "cannot sign: " + ssl_error());
  sig.resize(len);
  return sig;
}

caf::error tls_identity::verify(const std::string& cert_pem,
                                const std::string& id,
                                const std::string& data,
                                const std::string& signature) const {
  auto cert = parse_cert(cert_pem);
  if (!cert) {
    ERR_clear_error();
    return make_error(errc::bad_message, "peer sent no valid certificate");
  }
  if (auto err = impl_->check_chain(cert.get()))
    return err;
  if (!cert_names(cert.get(), id))
    return make_error(errc::bad_message,
                      "peer certificate does not name server " + id);
  if (signature.empty() || signature.size() > max_signature_size)
    return make_error(errc::bad_message, "peer signature has a bad size");
  pkey_ptr pub{X509_get_pubkey(cert.get())};
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx{EVP_MD_CTX_new()};
  if (!pub || !ctx
      || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                              pub.get())
           != 1) {
    ERR_clear_error();
    return make_error(errc::bad_message, "cannot check peer signature");
  }
  auto ok = EVP_DigestVerify(
    ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
    signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
    data.size());
  ERR_clear_error();
  if (ok != 1)
    return make_error(errc::bad_message, "peer signature for server " + id
                                           + " does not verify");
  return caf::none;
}

std::string tls_identity::random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&out[0]),
                 static_cast<int>(n))
      != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

bool tls_identity::names(const std::string& cert_pem, const std::string& id) {
  auto cert = parse_cert(cert_pem);
  ERR_clear_error();
  return cert && cert_names(cert.get(), id);
}

} // namespace raft
