#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"

namespace raft {

/// Whether a server's vote counts (HashiCorp's ServerSuffrage; Staging is
/// replaced by a catching-up flag kept by the leader, see DESIGN.md).
enum class suffrage : uint8_t {
  /// Receives the log and votes; counted in quorums.
  voter = 0,
  /// Receives the log but neither votes nor counts toward a quorum.
  nonvoter = 1,
};

/// Returns "Voter" or "Nonvoter" (HashiCorp's spelling).
const char* to_string(suffrage x);

/// One member of the cluster.
struct server {
  raft::suffrage suffrage = suffrage::voter;
  /// The server's unique, stable identity (Juju: the agent tag's id).
  std::string id;
  /// Where the transport reaches it; may change while the id stays.
  std::string address;

  friend bool operator==(const server& x, const server& y) {
    return x.suffrage == y.suffrage && x.id == y.id && x.address == y.address;
  }
  friend bool operator!=(const server& x, const server& y) {
    return !(x == y);
  }
};


/// The cluster's membership (§6 of the Raft paper, single-server changes).
struct configuration {
  std::vector<server> servers;

  /// Returns the server with `id`, or nullptr.
  const server* find(const std::string& id) const;

  /// True if `id` is a voter in this configuration.
  bool is_voter(const std::string& id) const;

  /// Number of voters.
  size_t voter_count() const;

  /// Checks the rules of HashiCorp's checkConfiguration: at least one voter,
  /// no empty or duplicate ids or addresses. Returns the first problem
  /// found, in words, or an empty string.
  std::string problem() const;

  friend bool operator==(const configuration& x, const configuration& y) {
    return x.servers == y.servers;
  }
  friend bool operator!=(const configuration& x, const configuration& y) {
    return !(x == y);
  }
};


/// Encodes `x` for the data of a configuration log entry and for snapshot
/// metadata. The format is stable: a version byte, then a count and for each
/// server its suffrage byte and two length-prefixed strings (little endian).
bytes encode(const configuration& x);

/// Decodes the output of `encode`; nothing on malformed input, whose fault
/// `problem` (if given) then names ("configuration entry: trailing bytes").
std::optional<configuration> decode_configuration(const bytes& buf,
                                                  std::string* problem
                                                  = nullptr);

} // namespace raft
