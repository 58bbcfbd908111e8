#include "caf-raft/config/new_raft_config.hpp"

#include "caf-raft/config/config.hpp"
#include "caf-raft/config/errc.hpp"

namespace raft {

caf::error validate(const raft_config& x) {
  auto why = x.problem();
  if (why.empty())
    return caf::none;
  return make_error(errc::not_valid, std::move(why));
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
  if (auto why = result.problem(); !why.empty())
    return make_error(errc::not_valid, "validating raft config: " + why);
  return result;
}

} // namespace raft
