#include "caf-raft/config/raft_config.hpp"

namespace raft {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds min_timeout{5};

} // namespace

std::string raft_config::problem() const {
  // HashiCorp's ValidateConfig, rule for rule and text for text.
  if (protocol_version < 1 || protocol_version > 3)
    return "ProtocolVersion " + std::to_string(protocol_version)
           + " must be >= 1 and <= 3";
  if (protocol_version < 3)
    return "ProtocolVersion " + std::to_string(protocol_version)
           + " is not supported: only version 3 (server ids) is";
  if (local_id.empty())
    return "LocalID cannot be empty";
  if (heartbeat_timeout < min_timeout)
    return "Heartbeat timeout is too low";
  if (election_timeout < min_timeout)
    return "Election timeout is too low";
  if (commit_timeout < milliseconds{1})
    return "Commit timeout is too low";
  if (max_append_entries == 0)
    return "MaxAppendEntries must be positive";
  if (max_append_entries > 1024)
    return "MaxAppendEntries is too large";
  if (snapshot_interval < min_timeout)
    return "Snapshot interval is too low";
  if (leader_lease_timeout < min_timeout)
    return "Leader lease timeout is too low";
  if (leader_lease_timeout > heartbeat_timeout)
    return "Leader lease timeout cannot be larger than heartbeat "
           "timeout";
  if (election_timeout < heartbeat_timeout)
    return "Election timeout must be equal or greater than Heartbeat "
           "Timeout";
  // Rules of our own, for settings HashiCorp does not have.
  if (max_inflight == 0)
    return "MaxInflight must be positive";
  if (max_entry_size == 0)
    return "MaxEntrySize must be positive";
  if (max_entry_size > max_entry_size_limit)
    return "MaxEntrySize of " + std::to_string(max_entry_size)
           + " bytes exceeds 64 MiB, the largest message the network "
           "transport carries";
  if (snapshot_chunk_size == 0)
    return "SnapshotChunkSize must be positive";
  if (snapshot_window == 0)
    return "SnapshotWindow must be positive";
  return {};
}

} // namespace raft
