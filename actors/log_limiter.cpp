#include "caf-raft/actors/log_limiter.hpp"

namespace raft {

log_limiter::log_limiter(size_t burst, std::chrono::milliseconds period)
  : burst_(burst), period_(period) {
}

bool log_limiter::allow(uint64_t& suppressed) {
  auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= period_) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++suppressed_;
    return false;
  }
  ++used_;
  suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

} // namespace raft
