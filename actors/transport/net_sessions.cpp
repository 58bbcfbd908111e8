#include "caf-raft/actors/transport/net_sessions.hpp"

#include "caf-raft/config/tls_identity.hpp"

namespace raft {

namespace {

/// Live tokens per server id; a peer that reconnects gets a new one and the
/// oldest is forgotten.
constexpr size_t max_tokens_per_peer = 4;

} // namespace

std::string net_sessions::issue(const std::string& id) {
  auto token = tls_identity::random_bytes(16);
  std::lock_guard<std::mutex> guard{mtx_};
  tokens_[token] = id;
  auto& list = tokens_of_[id];
  list.push_back(token);
  while (list.size() > max_tokens_per_peer) {
    tokens_.erase(list.front());
    list.pop_front();
  }
  return token;
}

void net_sessions::set_link(const std::string& id, caf::actor_addr gateway) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (gateway)
    links_[id] = std::move(gateway);
  else
    links_.erase(id);
}

caf::actor_addr net_sessions::link(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = links_.find(id);
  return i == links_.end() ? caf::actor_addr{} : i->second;
}

std::optional<std::string>
net_sessions::lookup(const std::string& token) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = tokens_.find(token);
  if (i == tokens_.end())
    return std::nullopt;
  return i->second;
}

} // namespace raft
