#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "caf/actor_addr.hpp"

namespace raft {

/// The session tokens this server handed out: a peer proves who it is once,
/// in the handshake, and then names its token in every RPC. Shared by the
/// gateway (which checks tokens) and the connectors (which hand one to each
/// server they dial), and the transport's table of linked processes;
/// thread-safe.
class net_sessions {
public:
  /// A fresh random token for `id`; only the newest few per id stay valid.
  std::string issue(const std::string& id);

  /// The id `token` was issued to, if it is valid.
  std::optional<std::string> lookup(const std::string& token) const;

  /// Records that the transport's link to server `id` runs through the
  /// peer process whose gateway is `gateway` (or none, when null): the
  /// gateway refuses a second process claiming `id` meanwhile.
  void set_link(const std::string& id, caf::actor_addr gateway);

  /// The gateway of the process server `id` is linked with, or null.
  caf::actor_addr link(const std::string& id) const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::string> tokens_;
  std::map<std::string, std::deque<std::string>> tokens_of_;
  std::map<std::string, caf::actor_addr> links_;
};

} // namespace raft
