#pragma once

#include <memory>

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

/// `log`, or, if none was given, a logger that drops every line: actors
/// log unconditionally and the host decides whether anything is written.
std::shared_ptr<spdlog::logger>
logger_or_null(std::shared_ptr<spdlog::logger> log);

} // namespace raft
