#pragma once

#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_store.hpp"
#include "caf-raft/storage/stable_store.hpp"
#include "caf/error.hpp"

namespace raft {

/// Writes the initial state of a new cluster (HashiCorp's static
/// BootstrapCluster): term 1 and a configuration entry at index 1, term 1.
/// Fails with `cant_bootstrap` if the stores hold any state, and with
/// `not_valid` if `cfg` breaks a configuration rule.
caf::error bootstrap_cluster(log_store& log, stable_store& stable,
                             const configuration& cfg);

/// True if the stores hold a term or any log entry.
caf::expected<bool> has_existing_state(log_store& log, stable_store& stable);

} // namespace raft
