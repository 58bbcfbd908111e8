#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

/// The file of a data folder's state directory that holds the cluster id.
constexpr const char* cluster_id_file = "cluster-id";

/// The cluster a server belongs to, as the transport's handshake carries
/// it: servers of different clusters refuse each other (a data folder
/// copied, or a `--data-dir` pointing at another cluster's state), instead
/// of mixing their logs. The id is made when the cluster is bootstrapped
/// and kept in a file of the data folder; a server added later has none
/// until the first member of its cluster authenticates to it, and then
/// keeps that one. Thread-safe: the gateway and the connectors share it.
class cluster_identity {
public:
  /// The identity stored at `path`, or none yet if the file does not
  /// exist. An empty `path` keeps the id in memory only (tests, embedders
  /// that do not persist it).
  static caf::expected<std::shared_ptr<cluster_identity>>
  open(std::string path);

  /// The id a bootstrap makes, as etcd derives its cluster ID: a digest of
  /// `token` and the founding servers (id and address), the same on every
  /// founding server that bootstraps with the same members and token, and
  /// different for a cluster with another token.
  static std::string derive(const std::string& token,
                            const std::map<std::string, std::string>& servers);

  /// Writes `id` to `path` whole or not at all (a bootstrap, a restore).
  static caf::error write(const std::string& path, const std::string& id);

  /// This server's cluster id; empty if it has none yet.
  std::string id() const;

  /// Takes `id` as this server's cluster id if it has none yet, and stores
  /// it. True if it was adopted now.
  caf::expected<bool> adopt(const std::string& id);

  /// Why server `peer_id` of cluster `theirs` and server `our_id` of
  /// cluster `ours` refuse each other, or "" if they may connect (either
  /// has none yet, or they match).
  static std::string mismatch(const std::string& our_id,
                              const std::string& ours,
                              const std::string& peer_id,
                              const std::string& theirs);

private:
  explicit cluster_identity(std::string path, std::string id);

  mutable std::mutex mtx_;
  std::string path_;
  std::string id_;
};

} // namespace raft
