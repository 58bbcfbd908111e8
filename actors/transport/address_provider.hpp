#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "caf/expected.hpp"

namespace raft {

/// Maps a server id to its raft endpoint, "host:port" (Juju maps an agent's
/// id to its API address). The transport calls it from its own actor, each
/// time it (re)connects to a peer, so a host may swap in a provider that
/// follows its own view of the cluster; it must not block.
using address_provider
  = std::function<caf::expected<std::string>(const std::string& id)>;

/// A provider over a fixed map (the node's settings); unknown ids fail with
/// `unknown_peer`.
address_provider static_addresses(std::map<std::string, std::string> map);

/// Splits "host:port" ("[v6]:port" for IPv6); fails with `not_valid` naming
/// what is wrong.
caf::expected<std::pair<std::string, uint16_t>>
split_host_port(const std::string& address);

} // namespace raft
