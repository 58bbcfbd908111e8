#pragma once

// Shared by the benchmark programs (apps/bench/raft_bench*.cpp); header-only
// because every apps/*.cpp becomes a program of its own.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/state_machine.hpp"
#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/message.hpp"

namespace raft::bench {

/// Wakes a waiter when an FSM count moves, but only while it is waiting
/// (so the hot path pays one atomic load per apply). All accesses to
/// `watching` and the counts are sequentially consistent: the FSM writes
/// its count then reads `watching`, the waiter writes `watching` then reads
/// the counts, so at least one of them sees the other's write and no
/// wake-up is lost.
struct apply_signal {
  std::mutex mtx;
  std::condition_variable cv;
  std::atomic<bool> watching{false};

  void notify() {
    if (watching.load()) {
      std::lock_guard<std::mutex> guard{mtx};
      cv.notify_all();
    }
  }
};

/// The snapshot of a counting_fsm: its count as decimal text (the peer's
/// countSnapshot).
class count_snapshot : public raft::fsm::snapshot {
public:
  explicit count_snapshot(uint64_t n) : n_(n) {
  }

  caf::error persist(snapshot_sink& sink) override {
    auto text = std::to_string(n_) + "\n";
    if (auto err = sink.write(text.data(), text.size())) {
      sink.cancel();
      return err;
    }
    return sink.close();
  }

  void release() override {
    // nop
  }

private:
  uint64_t n_;
};

/// A no-op state machine that only counts the commands applied to it (the
/// peer's countingFSM); snapshots hold the count.
class counting_fsm : public raft::fsm::state_machine {
public:
  /// `sig` may be null (nobody waits on the count in this process).
  explicit counting_fsm(std::shared_ptr<apply_signal> sig = nullptr)
    : sig_(std::move(sig)) {
  }

  caf::message apply(const log_entry&) override {
    count_.fetch_add(1);
    if (sig_)
      sig_->notify();
    return caf::message{};
  }

  caf::expected<std::unique_ptr<raft::fsm::snapshot>> take_snapshot() override {
    return std::unique_ptr<raft::fsm::snapshot>{new count_snapshot(count_.load())};
  }

  caf::error restore(snapshot_reader& in) override {
    bytes buf;
    auto err = read_all(in, buf);
    in.close();
    if (err)
      return err;
    std::string text(buf.begin(), buf.end());
    char* end = nullptr;
    auto n = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || end == text.c_str())
      return make_error(errc::corrupt, "counting_fsm: snapshot holds no count");
    count_.store(n);
    return caf::none;
  }

  bool apply_blocks() const override {
    return false; // as the peer's countingFSM, which runs in its goroutine
  }

  uint64_t count() const {
    return count_.load();
  }

private:
  std::atomic<uint64_t> count_{0};
  std::shared_ptr<apply_signal> sig_;
};

} // namespace raft::bench
