#pragma once

#include <string>

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

/// Sets how raftd's log lines look. Times are UTC, written with their
/// zone. `format` "text" (for people):
///
///     2026-12-07T08:30:01.123Z info  [a] raft worker a running
///
/// or "json" (one object per line, for log shippers), its message escaped:
///
///     {"time":"2026-12-07T08:30:01.123Z","level":"info","server":"a","msg":"raft worker a running"}
void set_log_format(spdlog::logger& log, const std::string& server_id,
                    const std::string& format);

} // namespace raft
