#pragma once

#include <cstddef>

#include "caf-raft/storage/log_entry.hpp"
#include "caf-raft/storage/snapshot_store.hpp"

namespace raft {

/// Reads a snapshot's state from bytes it does not own: a restore entry's
/// data (entry_type::restore) handed to the state machine's `restore`, or
/// a snapshot file read whole (raftctl). The bytes must outlive the reader.
class span_reader final : public snapshot_reader {
public:
  explicit span_reader(const bytes& data);

  caf::expected<size_t> read(void* buf, size_t n) override;

  void close() override;

  /// Always known: a state machine can tell a count that overruns the
  /// data from a truncated entry.
  uint64_t remaining() const override;

private:
  const bytes* data_;
  size_t pos_ = 0;
  bool closed_ = false;
};

} // namespace raft
