#include "config/raft_config.hpp"

#include "config/config.hpp"
#include "config/errc.hpp"

namespace raft {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds min_timeout{5};

caf::error invalid(std::string what) {
  return make_error(errc::not_valid, std::move(what));
}

} // namespace

caf::error raft_config::validate() const {
  // HashiCorp's ValidateConfig, rule for rule and text for text.
  if (protocol_version < 1 || protocol_version > 3)
    return invalid("ProtocolVersion " + std::to_string(protocol_version)
                   + " must be >= 1 and <= 3");
  if (protocol_version < 3)
    return invalid("ProtocolVersion " + std::to_string(protocol_version)
                   + " is not supported: only version 3 (server ids) is");
  if (local_id.empty())
    return invalid("LocalID cannot be empty");
  if (heartbeat_timeout < min_timeout)
    return invalid("Heartbeat timeout is too low");
  if (election_timeout < min_timeout)
    return invalid("Election timeout is too low");
  if (commit_timeout < milliseconds{1})
    return invalid("Commit timeout is too low");
  if (max_append_entries == 0)
    return invalid("MaxAppendEntries must be positive");
  if (max_append_entries > 1024)
    return invalid("MaxAppendEntries is too large");
  if (snapshot_interval < min_timeout)
    return invalid("Snapshot interval is too low");
  if (leader_lease_timeout < min_timeout)
    return invalid("Leader lease timeout is too low");
  if (leader_lease_timeout > heartbeat_timeout)
    return invalid("Leader lease timeout cannot be larger than heartbeat "
                   "timeout");
  if (election_timeout < heartbeat_timeout)
    return invalid("Election timeout must be equal or greater than Heartbeat "
                   "Timeout");
  // Rules of our own, for settings HashiCorp does not have.
  if (max_inflight == 0)
    return invalid("MaxInflight must be positive");
  if (max_entry_size == 0)
    return invalid("MaxEntrySize must be positive");
  if (max_entry_size > max_entry_size_limit)
    return invalid("MaxEntrySize of " + std::to_string(max_entry_size)
                   + " bytes exceeds 64 MiB, the largest message the network "
                     "transport carries");
  if (snapshot_chunk_size == 0)
    return invalid("SnapshotChunkSize must be positive");
  return caf::none;
}

caf::expected<raft_config> new_raft_config(const config& cfg) {
  raft_config result;
  result.local_id = cfg.local_id;
  result.shutdown_on_remove = false;
  if (cfg.heartbeat_timeout.count() != 0)
    result.heartbeat_timeout = cfg.heartbeat_timeout;
  if (cfg.election_timeout.count() != 0)
    result.election_timeout = cfg.election_timeout;
  if (cfg.leader_lease_timeout.count() != 0)
    result.leader_lease_timeout = cfg.leader_lease_timeout;
  if (cfg.snapshot_threshold != 0)
    result.snapshot_threshold = cfg.snapshot_threshold;
  if (cfg.snapshot_interval.count() != 0)
    result.snapshot_interval = cfg.snapshot_interval;
  if (cfg.trailing_logs != 0)
    result.trailing_logs = cfg.trailing_logs;
  if (cfg.max_entry_size != 0)
    result.max_entry_size = cfg.max_entry_size;
  if (auto err = result.validate())
    return make_error(errc::not_valid,
                      "validating raft config: " + describe(err));
  return result;
}

} // namespace raft
