#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace prometheus {
class Registry;
} // namespace prometheus

namespace raft::fsm {
class state_machine;
} // namespace raft::fsm

namespace raft {

/// The worker's no-leader timeout when the config leaves it zero.
constexpr std::chrono::milliseconds default_no_leader_timeout{60000};

/// How often the watchdog checks for leader contact when left zero.
constexpr std::chrono::milliseconds default_no_leader_check_interval{10000};

/// Snapshots kept on disk when the config leaves the retention zero.
constexpr int default_snapshot_retention = 2;

/// The longest the worker waits for its raft loop to start (LoopTimeout).
constexpr std::chrono::milliseconds loop_timeout{60000};

/// Everything a raft worker needs (the seed's Config).
class config {
public:
  /// The application's state machine; required by the worker, and must be
  /// absent for `bootstrap`.
  std::shared_ptr<fsm::state_machine> fsm;
  /// Where every log line goes; required.
  std::shared_ptr<spdlog::logger> logger;
  /// The folder the worker owns: `logs` (SQLite) and `snapshots/`.
  std::string storage_dir;
  /// This server's id (Juju: the agent tag's id, e.g. "99").
  std::string local_id;
  /// The transport actor that carries RPCs between servers; required by the
  /// worker, and must be absent for `bootstrap`.
  transport_actor transport;
  /// The clock of the actor system the worker runs in; every timer goes
  /// through it, so a test coordinator drives them.
  caf::actor_clock* clock = nullptr;
  /// Leader contact may be missing this long before the worker restarts;
  /// zero means `default_no_leader_timeout`.
  std::chrono::milliseconds no_leader_timeout{0};
  /// Period of the no-leader check; zero means 10 s, as the original.
  std::chrono::milliseconds no_leader_check_interval{0};
  /// Overrides raft's election timeout where non-zero.
  std::chrono::milliseconds election_timeout{0};
  /// Overrides raft's heartbeat timeout where non-zero.
  std::chrono::milliseconds heartbeat_timeout{0};
  /// Overrides raft's leader lease timeout where non-zero.
  std::chrono::milliseconds leader_lease_timeout{0};
  /// Override HashiCorp's snapshot settings where non-zero: new entries
  /// applied before a snapshot, how often that is checked, and entries kept
  /// in the log after one.
  uint64_t snapshot_threshold = 0;
  std::chrono::milliseconds snapshot_interval{0};
  uint64_t trailing_logs = 0;
  /// The largest entry an apply may carry, in bytes; zero means raft's
  /// default (8 MiB). At most 64 MiB, the largest message the network
  /// transport carries. A user restore travels as one entry, so this also
  /// bounds the snapshots that can be restored online.
  size_t max_entry_size = 0;
  /// Snapshots kept on disk; zero means 2, negative is invalid.
  int snapshot_retention = 0;
  /// Where the raft metrics are registered; none when null.
  std::shared_ptr<prometheus::Registry> prometheus_registerer;

  /// Checks the config for a worker in the original's order; the first
  /// failure wins and reads "<what> not valid" (e.g. "nil FSM not valid").
  caf::error validate() const;

  /// Checks the config for `bootstrap`: no FSM, no transport, then the rest
  /// of `validate` as the original (an FSM and transport stand in).
  caf::error validate_for_bootstrap() const;
};

} // namespace raft
