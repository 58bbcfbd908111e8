#include "caf-raft/apps/raftd/health.hpp"

#include <string>

namespace raft {

namespace {

std::string field(const stats_map& m, const char* key) {
  auto i = m.find(key);
  return i == m.end() ? std::string{} : i->second;
}

uint64_t number(const stats_map& m, const char* key) {
  try {
    return std::stoull(field(m, key));
  } catch (...) {
    return 0;
  }
}

/// What makes the server unhealthy, or "" if nothing does.
std::string problem(const stats_map& stats, uint64_t behind,
                    uint64_t max_lag) {
  auto state = field(stats, "state");
  if (state == "Unavailable" || state.empty())
    return "the raft worker is not running: " + field(stats, "error");
  if (state == "Shutdown")
    return "raft is shut down";
  if (field(stats, "leader_id").empty())
    return "no leader known (an election is under way, or this server is "
           "cut off from a majority)";
  if (behind > max_lag)
    return std::to_string(behind) + " committed entries not yet applied "
           "(more than " + std::to_string(max_lag) + ")";
  return {};
}

} // namespace

stats_map health_of(const stats_map& stats, uint64_t max_lag) {
  auto commit = number(stats, "commit_index");
  auto applied = number(stats, "applied_index");
  auto behind = commit > applied ? commit - applied : 0;
  auto why = problem(stats, behind, max_lag);
  stats_map m;
  m["healthy"] = why.empty() ? "true" : "false";
  m["reason"] = why.empty() ? "ok" : why;
  for (auto key : {"id", "state", "leader_id", "commit_index",
                   "applied_index"})
    m[key] = field(stats, key);
  m["behind"] = std::to_string(behind);
  return m;
}

} // namespace raft
