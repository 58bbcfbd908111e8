#pragma once

// Shared by the benchmark programs (apps/bench/raft_bench*.cpp); header-only
// because every apps/*.cpp becomes a program of its own.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace raft::bench {

/// Ends the process (exit code 3) if it is still alive `secs` seconds after
/// construction, after calling `on_fire` (e.g. to kill child processes).
class watchdog {
public:
  watchdog(std::string what, double secs, std::function<void()> on_fire = {})
    : thread_([this, what, secs, on_fire] {
        std::unique_lock<std::mutex> guard{mtx_};
        auto limit = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(secs));
        if (!cv_.wait_for(guard, limit, [this] { return done_; })) {
          std::fprintf(stderr, "%s: watchdog: exceeded %.0f s\n", what.c_str(),
                       secs);
          if (on_fire)
            on_fire();
          std::_Exit(3);
        }
      }) {
  }

  ~watchdog() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

} // namespace raft::bench
