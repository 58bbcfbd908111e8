// raft-bench -stages: where a commit's time goes at concurrency 1 (issue
// 20). Every node process records its commit_trace (actors/commit_trace.hpp)
// during the measured window and writes it to a file; the driver lines up
// the leader's and the fastest follower's records of each entry (one clock
// for all processes of a machine) and prints the median of each stage.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "caf-raft/actors/commit_trace.hpp"

namespace raft::bench {

/// Writes this process's records to `path`, one "stage first last ns" line
/// each, and stops recording. Returns the number written.
inline size_t dump_trace(const std::string& path) {
  auto records = commit_trace::take();
  commit_trace::enable(false);
  std::ofstream out{path};
  for (auto& r : records)
    out << static_cast<int>(r.what) << ' ' << r.first << ' ' << r.last << ' '
        << r.ns << '\n';
  return records.size();
}

/// One process's records, looked up by entry.
class trace_view {
public:
  explicit trace_view(const std::string& path) {
    std::vector<commit_trace::record> rs;
    std::ifstream in{path};
    int what = 0;
    index_t first = 0;
    index_t last = 0;
    int64_t ns = 0;
    while (in >> what >> first >> last >> ns)
      if (what >= 0 && static_cast<size_t>(what) < commit_trace::stage_count)
        rs.push_back({static_cast<commit_trace::stage>(what), first, last, ns});
    std::sort(rs.begin(), rs.end(),
              [](auto& x, auto& y) { return x.ns < y.ns; });
    for (auto& r : rs) {
      auto k = static_cast<size_t>(r.what);
      if (is_high_water(r.what)) {
        // Match indexes: when each was first reached.
        auto top = reached_[k].empty() ? 0 : reached_[k].back().first;
        if (r.last > top)
          reached_[k].emplace_back(r.last, r.ns);
      } else {
        for (auto i = r.first; i <= r.last; ++i)
          earliest_[k].emplace(i, r.ns);
      }
    }
  }

  /// When `what` first happened for entry `i`: the earliest record whose
  /// range holds it, or for a match index (answered, acknowledged) the
  /// earliest that reached it.
  std::optional<int64_t> at(commit_trace::stage what, index_t i) const {
    auto k = static_cast<size_t>(what);
    if (is_high_water(what)) {
      auto& xs = reached_[k];
      auto j = std::lower_bound(xs.begin(), xs.end(), i,
                                [](auto& x, index_t v) { return x.first < v; });
      if (j == xs.end())
        return std::nullopt;
      return j->second;
    }
    auto j = earliest_[k].find(i);
    if (j == earliest_[k].end())
      return std::nullopt;
    return j->second;
  }

  /// The entries `what` was recorded for (range stages only).
  std::vector<index_t> entries(commit_trace::stage what) const {
    std::vector<index_t> xs;
    for (auto& kv : earliest_[static_cast<size_t>(what)])
      xs.push_back(kv.first);
    return xs;
  }

private:
  static bool is_high_water(commit_trace::stage what) {
    return what == commit_trace::stage::answered
           || what == commit_trace::stage::acknowledged;
  }

  std::map<index_t, int64_t> earliest_[commit_trace::stage_count];
  std::vector<std::pair<index_t, int64_t>> reached_[commit_trace::stage_count];
};

/// The stages of one commit at concurrency 1, as the breakdown prints them:
/// a name and the two points it lies between.
struct stage_span {
  const char* name;
  const char* what;
};

inline const std::vector<stage_span>& stage_spans() {
  static const std::vector<stage_span> spans{
    {"client_to_leader", "client sends -> leader node appends"},
    {"leader_persist", "append -> leader's write durable"},
    {"leader_send", "append -> replicator hands AppendEntries to transport"},
    {"network_out", "transport -> follower node has it"},
    {"follower_persist", "follower has it -> follower's write durable"},
    {"follower_answer", "write durable -> answer to transport"},
    {"network_back", "answer to transport -> leader node has it"},
    {"commit", "last of (leader durable, answer) -> commit"},
    {"apply", "commit -> node learns the FSM applied it"},
    {"leader_to_client", "applied -> client has the answer"},
    {"total", "client sends -> client has the answer"},
  };
  return spans;
}

/// The stage durations of entry `i` in µs (the order of stage_spans), or
/// nothing if a record is missing (a warm-up entry, a trace cut short).
inline std::optional<std::vector<double>>
stage_times(const trace_view& leader, const std::vector<trace_view>& followers,
            index_t i) {
  using commit_trace::stage;
  auto l = [&](stage s) { return leader.at(s, i); };
  auto req = l(stage::requested), prop = l(stage::proposed),
       lpers = l(stage::persisted), sent = l(stage::sent),
       ack = l(stage::acknowledged), com = l(stage::committed),
       app = l(stage::applied), done = l(stage::done);
  if (!req || !prop || !lpers || !com || !app || !done)
    return std::nullopt;
  std::vector<double> us;
  auto d = [&](int64_t a, int64_t b) { us.push_back((b - a) / 1000.0); };
  d(*req, *prop);
  d(*prop, *lpers);
  if (followers.empty()) {
    for (int k = 0; k < 5; ++k)
      us.push_back(0);
    d(*lpers, *com);
  } else {
    // The follower whose answer came first made the quorum at 3 nodes.
    const trace_view* f = nullptr;
    int64_t best = INT64_MAX;
    for (auto& x : followers)
      if (auto a = x.at(stage::answered, i); a && *a < best) {
        best = *a;
        f = &x;
      }
    if (!f || !sent || !ack)
      return std::nullopt;
    auto rec = f->at(stage::received, i), fpers = f->at(stage::persisted, i);
    if (!rec || !fpers)
      return std::nullopt;
    d(*prop, *sent);
    d(*sent, *rec);
    d(*rec, *fpers);
    d(*fpers, best);
    d(best, *ack);
    d(std::max(*lpers, *ack), *com);
  }
  d(*com, *app);
  d(*app, *done);
  d(*req, *done);
  return us;
}

/// Medians of every stage over the entries the clients got answers for,
/// as "name_us=x" pairs and a table for people on stderr.
inline std::string stage_breakdown(const trace_view& leader,
                                   const std::vector<trace_view>& followers) {
  auto& spans = stage_spans();
  std::vector<std::vector<double>> cols(spans.size());
  for (auto i : leader.entries(commit_trace::stage::done))
    if (auto us = stage_times(leader, followers, i))
      for (size_t k = 0; k < spans.size(); ++k)
        cols[k].push_back((*us)[k]);
  std::string line = "entries=" + std::to_string(cols[0].size());
  std::fprintf(stderr, "# per-stage breakdown (median µs over %zu commits)\n",
               cols[0].size());
  for (size_t k = 0; k < spans.size(); ++k) {
    auto& c = cols[k];
    double med = 0;
    if (!c.empty()) {
      std::nth_element(c.begin(), c.begin() + c.size() / 2, c.end());
      med = c[c.size() / 2];
    }
    char buf[96];
    std::snprintf(buf, sizeof(buf), " %s_us=%.1f", spans[k].name, med);
    line += buf;
    std::fprintf(stderr, "#   %-17s %8.1f  %s\n", spans[k].name, med,
                 spans[k].what);
  }
  return line;
}

} // namespace raft::bench
