#pragma once

#include "caf-raft/fsm/state_machine.hpp"

namespace raft::fsm {

/// A state machine for bootstrapping only (the original's BootstrapFSM):
/// raft must never call it, so every method fails loudly by throwing
/// `std::logic_error`.
class bootstrap_fsm : public state_machine {
public:
  caf::message apply(const raft::log_entry& entry) override;

  caf::expected<std::unique_ptr<snapshot>> take_snapshot() override;

  caf::error restore(raft::snapshot_reader& in) override;
};

} // namespace raft::fsm
