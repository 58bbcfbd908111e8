#pragma once

#include <cstdint>

#include "caf-raft/actors/messages.hpp"

namespace raft {

/// Whether a server is fit to serve, from its node's stats (as the client
/// service answers `stats_atom`): its worker runs, it knows a leader, and
/// it has applied all but at most `max_lag` of the entries it knows
/// committed. The answer carries `healthy` ("true" or "false"), `reason`
/// (what is wrong, or "ok"), `id`, `state`, `leader_id`, `commit_index`,
/// `applied_index` and `behind`: what `/health` and `raftctl endpoint
/// health` show.
stats_map health_of(const stats_map& stats, uint64_t max_lag);

} // namespace raft
