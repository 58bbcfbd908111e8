#pragma once

#include "caf-raft/config/config.hpp"
#include "caf-raft/storage/configuration.hpp"
#include "caf/error.hpp"

namespace raft {

/// The address the bootstrap configuration gives the local server; Juju's
/// raft clusterer replaces it once the real addresses are known.
constexpr const char* bootstrap_address = "localhost";

/// Bootstraps a new cluster in `cfg.storage_dir` (the seed's Bootstrap):
/// only once, at the beginning of the cluster's life, on the bootstrap
/// machine. `cfg.fsm` and `cfg.transport` must be absent; the other fields
/// are checked as for a worker. Leaves term 1, a configuration entry at
/// index 1 naming only this server as a voter at "localhost", and the
/// snapshots folder, so that once the node elects itself (no-op at 2) the
/// first command lands at index 3. A second call fails with "bootstrapping
/// raft cluster: bootstrap only works on new clusters"; a store held by a
/// running worker fails at once with `errc::locked` (the original waited a
/// minute for a start timeout).
caf::error bootstrap(const config& cfg);

/// Bootstraps a new cluster of several founding servers (HashiCorp's
/// BootstrapCluster with a configuration): `founders` names every voter
/// with its real address, and every founder bootstraps with the same
/// configuration, each in its own `cfg.storage_dir`. Fails as the one-server
/// form does, and with `not_valid` if `founders` breaks a configuration rule
/// or does not name `cfg.local_id` as a voter.
caf::error bootstrap(const config& cfg, const configuration& founders);

} // namespace raft
