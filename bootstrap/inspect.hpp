#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf-raft/storage/configuration.hpp"
#include "caf-raft/storage/log_entry.hpp"
#include "caf/expected.hpp"

namespace raft {

/// What `inspect_data_dir` found in a server's data folder, for operators.
struct data_dir_info {
  /// One configuration entry of the log.
  struct config_entry {
    index_t index = 0;
    term_t term = 0;
    configuration servers;
  };

  /// One snapshot folder.
  struct snapshot_info {
    std::string id;
    term_t term = 0;
    index_t index = 0;
    /// Size of the state in bytes, as its metadata records.
    uint64_t size = 0;
    /// The configuration the snapshot carries and its index.
    configuration servers;
    index_t configuration_index = 0;
    /// True if the state matches the size and CRC-64 of its metadata.
    bool crc_ok = false;
    /// Why the snapshot is not usable, empty if `crc_ok`.
    std::string error;
  };

  std::string dir;
  /// The stored log range; both 0 if the log is empty.
  index_t first_index = 0;
  index_t last_index = 0;
  /// The term of the last entry; 0 if the log is empty.
  term_t last_term = 0;
  /// The stable store: current term, last vote and its term, and the
  /// commit index recorded with the last write (0 where never written).
  term_t current_term = 0;
  std::string voted_for;
  term_t last_vote_term = 0;
  index_t commit_index = 0;
  /// Every configuration entry in the log, oldest first.
  std::vector<config_entry> configurations;
  /// Every snapshot folder, newest usable first, unusable ones last.
  std::vector<snapshot_info> snapshots;
  /// Entries that could not be read or decoded (corrupt rows, bad
  /// configuration data), one line each; empty if the log is sound.
  std::vector<std::string> problems;
};

/// Reads a stopped server's data folder (`<dir>/logs` and
/// `<dir>/snapshots`) without changing it, except that opening the
/// snapshot store removes folders left by interrupted snapshot writes.
/// Reads the whole log to find configuration entries and every snapshot to
/// check its CRC. Fails with `not_found` if `dir` holds no raft store and
/// with `locked` if a running node holds it; a corrupt entry or snapshot is
/// reported in the result, not as a failure.
caf::expected<data_dir_info> inspect_data_dir(const std::string& dir);

} // namespace raft
