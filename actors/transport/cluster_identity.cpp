#include "caf-raft/actors/transport/cluster_identity.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/text.hpp"

namespace raft {

namespace {

/// Longest id read from a file: anything longer is not one of ours.
constexpr size_t max_id_size = 128;

} // namespace

cluster_identity::cluster_identity(std::string path, std::string id)
  : path_(std::move(path)), id_(std::move(id)) {
}

caf::expected<std::shared_ptr<cluster_identity>>
cluster_identity::open(std::string path) {
  std::string id;
  if (!path.empty()) {
    std::ifstream in{path};
    if (in) {
      std::getline(in, id);
      if (id.empty() || id.size() > max_id_size
          || id.find_first_not_of("0123456789abcdef") != std::string::npos)
        return make_error(errc::corrupt,
                          path + " does not hold a cluster id (a line of hex "
                                 "digits): restore it from a backup of the "
                                 "data folder, or delete it to take the id "
                                 "of the first member that connects");
    }
  }
  return std::shared_ptr<cluster_identity>{
    new cluster_identity(std::move(path), std::move(id))};
}

std::string
cluster_identity::derive(const std::string& token,
                         const std::map<std::string, std::string>& servers) {
  std::string text = "caf-raft cluster\n" + token + "\n";
  for (auto& [id, addr] : servers) // a map: sorted, the same everywhere
    text += id + "=" + addr + "\n";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, 16);
}

caf::error cluster_identity::write(const std::string& path,
                                   const std::string& id) {
  auto part = path + ".part";
  auto fail = [&](const char* what) {
    auto why = std::string{std::strerror(errno)};
    std::remove(part.c_str());
    return make_error(errc::storage_failure,
                      std::string{"cannot store the cluster id: "} + what
                        + " " + path + ": " + why);
  };
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
  if (fd < 0)
    return fail("create");
  auto line = id + "\n";
  bool ok = ::write(fd, line.data(), line.size())
              == static_cast<ssize_t>(line.size())
            && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok)
    return fail("write");
  if (std::rename(part.c_str(), path.c_str()) != 0)
    return fail("rename");
  return caf::none;
}

std::string cluster_identity::id() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return id_;
}

caf::expected<bool> cluster_identity::adopt(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!id_.empty() || id.empty())
    return false;
  // Once in a server's life, and a few bytes: written in place.
  if (!path_.empty())
    if (auto err = write(path_, id))
      return err;
  id_ = id;
  return true;
}

std::string cluster_identity::mismatch(const std::string& our_id,
                                       const std::string& ours,
                                       const std::string& peer_id,
                                       const std::string& theirs) {
  if (ours.empty() || theirs.empty() || ours == theirs)
    return {};
  return "server " + peer_id + " belongs to cluster " + theirs + ", server "
         + our_id + " to cluster " + ours
         + ": one of the two runs on another cluster's data folder (check "
           "its --data-dir, and that no two servers share an id) or was "
           "bootstrapped apart";
}

} // namespace raft
