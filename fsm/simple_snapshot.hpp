#pragma once

#include <vector>

#include "caf-raft/fsm/state_machine.hpp"

namespace raft::fsm {

/// The snapshot of a `simple_fsm` (the original's SimpleSnapshot): the first
/// `n` entries of a copy of its list.
class simple_snapshot : public snapshot {
public:
  simple_snapshot(std::vector<raft::bytes> logs, size_t n);

  caf::error persist(raft::snapshot_sink& sink) override;

  void release() override;

  /// The encoding `persist` writes: a count, then each entry's length and
  /// bytes (64-bit little endian).
  static raft::bytes encode(const std::vector<raft::bytes>& logs, size_t n);

  /// Reverses `encode`; fails with `corrupt` on truncated or malformed input.
  static caf::expected<std::vector<raft::bytes>> decode(const raft::bytes& buf);

private:
  std::vector<raft::bytes> logs_;
  size_t n_;
};

} // namespace raft::fsm
