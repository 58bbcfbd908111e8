#pragma once

#include <mutex>
#include <vector>

#include "caf-raft/fsm/state_machine.hpp"

namespace raft::fsm {

/// A state machine that appends each command's data to a list (the
/// original's SimpleFSM): `apply` answers with the new length, so the first
/// entry answers 1. Safe to read from other threads while raft applies.
class simple_fsm : public state_machine {
public:
  caf::message apply(const raft::log_entry& entry) override;

  caf::expected<std::unique_ptr<snapshot>> take_snapshot() override;

  caf::error restore(raft::snapshot_reader& in) override;

  /// The index of the last command applied (0 after a restore).
  raft::index_t applied_index() const override;

  /// False: it appends to a vector in memory.
  bool apply_blocks() const override;

  /// A copy of everything applied so far.
  std::vector<raft::bytes> logs() const;

private:
  mutable std::mutex mtx_;
  std::vector<raft::bytes> logs_;
  raft::index_t applied_ = 0;
};

} // namespace raft::fsm
