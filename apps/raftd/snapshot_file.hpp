#pragma once

#include <string>

#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

/// A cluster's snapshot saved to one file (`raftctl snapshot save`): a
/// first line `caf-raft-snapshot 1`, a second line with the metadata as
/// JSON (id, index, term, configuration_index, servers, size, crc), then
/// the state's bytes as the FSM persisted them.
struct snapshot_file {
  snapshot_meta meta;
  bytes state;
};

/// Writes `path` whole or not at all (`path.part`, fsync, rename). Fails if
/// the state does not match the meta's size and CRC-64.
caf::error write_snapshot_file(const std::string& path,
                               const snapshot_file& file);

/// Reads and checks a file `write_snapshot_file` wrote: its header, size
/// and CRC-64. Errors name the file and what is wrong with it.
caf::expected<snapshot_file> read_snapshot_file(const std::string& path);

/// CRC-64 (ECMA-182) of `data`, as the snapshot store records it.
uint64_t state_crc(const bytes& data);

} // namespace raft
