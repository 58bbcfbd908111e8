#pragma once

#include "caf-raft/config/raft_config.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

class config;

/// `x.problem()` as a "not valid" error, or none.
caf::error validate(const raft_config& x);

/// Builds the consensus settings from the worker's config as the original's
/// NewRaftConfig does: HashiCorp's defaults, the local id, shutdown on
/// remove off, and the three timeouts where they are non-zero. Failures read
/// "validating raft config: <rule>".
caf::expected<raft_config> new_raft_config(const config& cfg);

} // namespace raft
