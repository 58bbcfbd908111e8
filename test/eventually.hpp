#pragma once

// Bounded polling for tests that watch another process or a real network,
// where no event exists to wait on (in-process tests step the coordinator
// or wait on a condition variable instead).

#include <chrono>
#include <functional>
#include <thread>

namespace raft::test {

/// Polls `pred` until it holds or `bound` passes; returns whether it held.
/// `pace` only spaces the polls (each may start a process): zero yields the
/// CPU between polls, for predicates that wait on requests themselves.
inline bool eventually(std::chrono::steady_clock::duration bound,
                       const std::function<bool()>& pred,
                       std::chrono::steady_clock::duration pace = {}) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    if (pace.count() > 0)
      std::this_thread::sleep_for(pace);
    else
      std::this_thread::yield();
  }
}

} // namespace raft::test
