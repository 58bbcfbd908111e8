#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "caf-raft/actors/transport/address_provider.hpp"
#include "caf/expected.hpp"

namespace raft {

/// Where servers are, as a host learns it while running (from its settings,
/// from the cluster's configuration, from a benchmark's boot line): a
/// thread-safe map that the transport reads through `provider`.
class address_book {
public:
  /// Records (or replaces) the raft endpoint of server `id`.
  void set(const std::string& id, const std::string& address);

  /// The endpoint of `id`; fails with `unknown_peer` if none is known.
  caf::expected<std::string> get(const std::string& id) const;

  /// A provider for the transport that reads `book` at each (re)connect.
  static address_provider provider(std::shared_ptr<address_book> book);

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::string> map_;
};

} // namespace raft
