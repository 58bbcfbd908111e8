#include "caf-raft/config/null_logger.hpp"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

namespace raft {

std::shared_ptr<spdlog::logger>
logger_or_null(std::shared_ptr<spdlog::logger> log) {
  if (log)
    return log;
  return std::make_shared<spdlog::logger>(
    "raft", std::make_shared<spdlog::sinks::null_sink_mt>());
}

} // namespace raft
