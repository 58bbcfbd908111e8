#pragma once

#include <string>

#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_entry.hpp"
#include "caf/error.hpp"

namespace raft {

/// Seeds the empty state folder `dir` (the log database and
/// `<dir>/snapshots`) of a new server from a saved snapshot, to rebuild a
/// lost cluster (etcdutl's `snapshot restore`): the snapshot store gets
/// `state` as a snapshot at (`index`, `term`) whose configuration is `conf`,
/// and the stable store the term. Started on it, the server restores its
/// FSM from the snapshot and, alone in `conf`, elects itself; others join
/// it as new servers and receive the snapshot.
///
/// Fails with `cant_bootstrap` if the folder holds a log, a term or a
/// snapshot (restore into an empty folder, never over a server's state),
/// with `not_valid` if `conf` breaks a configuration rule, and with
/// `locked` if a running server holds the folder.
caf::error seed_from_snapshot(const std::string& dir, index_t index,
                              term_t term, const configuration& conf,
                              const bytes& state);

} // namespace raft
