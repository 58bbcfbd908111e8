#pragma once

#include <cstdint>
#include <string>

#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// Every error caf-raft reports, registered with CAF as the "raft" category.
/// The first three carry the texts of the original Go worker's sentinels.
enum class errc : uint8_t {
  none = 0,
  /// "raft worker stopped": the worker was killed cleanly (ErrWorkerStopped).
  worker_stopped,
  /// "timed out waiting for worker loop" (ErrStartTimeout).
  start_timeout,
  /// "timed out waiting for leader contact" (ErrNoLeaderTimeout).
  no_leader_timeout,
  /// A configuration value is not valid; the context says which.
  not_valid,
  /// A stable-store key that was never written.
  not_found,
  /// A log index outside the stored range.
  log_not_found,
  /// An I/O failure of a store: disk full, permission, read error.
  storage_failure,
  /// Stored bytes fail their checksum or are truncated.
  corrupt,
  /// The store is held by another process.
  locked,
  /// Bootstrap was called on a node with existing state.
  cant_bootstrap,
  /// The request needs the leader; the context names the known leader.
  not_leader,
  /// Leadership was lost before the request's outcome was known.
  leadership_lost,
  /// Raft was shut down while the request was pending.
  raft_shutdown,
  /// The request did not complete within its timeout.
  timeout,
  /// There is nothing new to put in a snapshot.
  nothing_new_to_snapshot,
  /// A leadership transfer is in progress; the request was refused.
  leadership_transfer_in_progress,
  /// A user restore aborted the request.
  aborted_by_restore,
  /// An entry or request is larger than the configured maximum.
  too_large,
  /// A configuration change was refused (pending change, stale prev index,
  /// unknown server, ...); the context says why.
  configuration_rejected,
  /// The operation is not supported by this component.
  unsupported,
  /// A message from the network failed validation.
  bad_message,
  /// The peer named in a request is not known.
  unknown_peer,
};

/// The fixed text of `x` (for the Go sentinels, the Go text).
std::string to_string(errc x);

/// Builds an error of category "raft" carrying `x` and no context.
caf::error make_error(errc x);

/// Builds an error of category "raft" whose context is `what`, the full text
/// people see (e.g. "nil FSM not valid").
caf::error make_error(errc x, std::string what);

/// The text people see for `err`: the context string if there is one,
/// otherwise the code's fixed text; for foreign categories CAF's rendering.
std::string describe(const caf::error& err);

/// True if `err` belongs to the raft category and carries `x`.
bool is(const caf::error& err, errc x);

/// Prefixes the text of `err` with `prefix` ("recovering ... in DIR: "),
/// keeping its code where it is ours (storage_failure otherwise).
caf::error annotate(const caf::error& err, const std::string& prefix);

/// Registers the "raft" error category so CAF renders it readably.
void register_error_category(caf::actor_system_config& cfg);

/// The atom naming the raft error category.
caf::atom_value error_category();

} // namespace raft
