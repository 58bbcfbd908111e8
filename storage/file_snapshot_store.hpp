#pragma once

#include <cstdint>
#include <memory>
#include <string>


#include "caf-raft/storage/crc.hpp"
#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/expected.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {


/// The name of the folder under the store's base directory that holds the
/// snapshots.
constexpr const char* snapshots_folder = "snapshots";

/// The complete snapshots under `<dir>/snapshots`, newest first, read
/// without opening a store (opening one removes half-written folders, which
/// may be the worker's snapshot in progress): for readers beside the worker,
/// such as raftd's backup.
caf::expected<std::vector<snapshot_meta>>
list_snapshots(const std::string& dir);

/// Keeps snapshots as folders on disk (HashiCorp's FileSnapshotStore).
///
/// Layout: `<dir>/snapshots/<term>-<index>-<unix-ms>/{meta.json,state.bin}`.
/// A snapshot is written under `<name>.tmp`, fsynced, then renamed, so a
/// crash leaves either a complete snapshot or a `.tmp` folder that the next
/// `make` removes. `meta.json` records the size and CRC-64 of `state.bin`;
/// `open` checks both before it hands out a single byte. Only the newest
/// `retain` snapshots are kept.
///
/// Sinks may be written and closed on other threads while the store lists or
/// opens snapshots. A store assumes it is the only writer of its folder.
class file_snapshot_store : public snapshot_store {
public:
  /// Shared by the store and its sinks, so a sink outlives its store safely.
  struct state;

  ~file_snapshot_store() override;

  /// Opens (creating if needed) the store under `dir`: makes
  /// `<dir>/snapshots` (mode 0700), checks that it is writable and removes
  /// folders left by interrupted writes. Fails with `not_valid` if
  /// `retain < 1`, with `storage_failure` on I/O errors. A null `logger`
  /// discards log lines.
  static caf::expected<std::shared_ptr<file_snapshot_store>>
  make(const std::string& dir, int retain,
       std::shared_ptr<spdlog::logger> logger);

  caf::expected<std::unique_ptr<snapshot_sink>>
  create(index_t index, term_t term, const configuration& cfg,
         index_t configuration_index) override;

  caf::expected<std::vector<snapshot_meta>> list() override;

  caf::expected<std::pair<snapshot_meta, std::unique_ptr<snapshot_reader>>>
  open(const std::string& id) override;

  /// The folder holding the snapshots (`<dir>/snapshots`).
  const std::string& path() const;

  /// How many snapshots the store keeps.
  int retain() const;

private:
  explicit file_snapshot_store(std::shared_ptr<state> st);

  std::shared_ptr<state> state_;
};

/// Creates the file snapshot store the worker uses (the seed's
/// NewSnapshotStore): `<dir>/snapshots`, keeping the newest `retain`
/// snapshots, logging through `logger` with the prefix "[snapshot] ".
caf::expected<std::shared_ptr<snapshot_store>>
new_snapshot_store(const std::string& dir, int retain,
                   std::shared_ptr<spdlog::logger> logger);

} // namespace raft
