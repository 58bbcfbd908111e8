#pragma once

#include <string>

#include "caf/expected.hpp"
#include <memory>

#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/stable_store.hpp"

namespace raft {

class sqlite_store;

/// Opens the SQLite store of a stopped server's folder for the offline tools
/// (`recover`, `inspect_data_dir`); errors start with `prefix`, never create
/// a store, and tell the operator to stop a node that still holds it.
caf::expected<std::shared_ptr<sqlite_store>>
open_stopped_store(const std::string& dir, const std::string& prefix);

/// What `recover_cluster` did.
struct recover_result {
  /// True if a configuration entry was appended; false if the latest
  /// configuration already was the requested one (nothing to do).
  bool appended = false;
  /// The index and term of the appended entry (or of the existing entry
  /// that already held the configuration).
  index_t index = 0;
  term_t term = 0;
  /// The latest configuration before the recovery and its index (0 if it
  /// came from no log entry, e.g. only a snapshot held it).
  configuration previous;
  index_t previous_index = 0;
};

/// Forces the membership of a stopped server (Juju's raft backstop, the
/// offline cousin of HashiCorp's RecoverCluster): appends a configuration
/// entry holding `cfg` at the last index + 1, with the current term (never
/// below the last entry's term). When the node starts again it adopts the
/// newest configuration in its log, committed or not, so with `cfg` naming
/// only itself it elects itself and commits the entry.
///
/// Unlike RecoverCluster, nothing is applied, snapshotted or deleted: the
/// entries after the commit index stay and get committed by the new leader,
/// which is what the Juju backstop does.
///
/// `snapshot_index`/`snapshot_term` describe the newest snapshot, used when
/// the log is empty after compaction. Fails with `not_valid` if `cfg` breaks
/// a configuration rule, and with `cant_bootstrap` ("no existing state") if
/// the stores hold no term and no log: recovery needs a server that was
/// part of a cluster. If the newest configuration entry already equals
/// `cfg`, nothing is written (`appended` is false), so running the
/// backstop twice is harmless.
caf::expected<recover_result>
recover_cluster(log_store& log, stable_store& stable, const configuration& cfg,
                index_t snapshot_index = 0, term_t snapshot_term = 0);

/// Opens the data folder of a stopped server (`<dir>/logs` and
/// `<dir>/snapshots`) and runs `recover_cluster` on it. Fails with `locked`
/// if the store is in use (the node is still running: stop it first), with
/// `not_found` if `dir` holds no raft store, and with the store's errors
/// otherwise; every text starts with "recovering raft cluster in <dir>: ".
caf::expected<recover_result> recover(const std::string& dir,
                                      const configuration& cfg);

} // namespace raft
