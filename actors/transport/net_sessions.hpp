#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace raft {

/// The session tokens this server handed out: a peer proves who it is once,
/// in the handshake, and then names its token in every RPC. Shared by the
/// gateway (which checks tokens) and the connectors (which hand one to each
/// server they dial); thread-safe.
class net_sessions {
public:
  /// A fresh random token for `id`; only the newest few per id stay valid.
  std::string issue(const std::string& id);

  /// The id `token` was issued to, if it is valid.
  std::optional<std::string> lookup(const std::string& token) const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::string> tokens_;
  std::map<std::string, std::deque<std::string>> tokens_of_;
};

} // namespace raft
