#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace raft {

/// Lets through at most `burst` log lines per `period` and counts the rest,
/// so the next line that passes can say how many were suppressed.
class log_limiter {
public:
  explicit log_limiter(size_t burst = 10,
                       std::chrono::milliseconds period
                       = std::chrono::seconds{10});

  /// True if a line may be logged now; `suppressed` receives the number of
  /// lines swallowed since the last one that passed.
  bool allow(uint64_t& suppressed);

  /// Logs a warning through `log` if `allow` lets it, first saying how many
  /// similar lines were suppressed.
  template <class Logger, class... Ts>
  void warn(Logger& log, const char* fmt, const Ts&... xs) {
    uint64_t suppressed = 0;
    if (!allow(suppressed))
      return;
    if (suppressed > 0)
      log.warn("raft transport: {} similar lines suppressed", suppressed);
    log.warn(fmt, xs...);
  }

private:
  size_t burst_;
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point window_start_;
  size_t used_ = 0;
  uint64_t suppressed_ = 0;
};

} // namespace raft
