#pragma once

#include <functional>
#include <memory>
#include <string>

#include "caf-raft/storage/snapshot_store.hpp"
#include "caf/expected.hpp"

namespace raft {

/// Keeps snapshots in memory: the twin of `file_snapshot_store` for tests.
///
/// HashiCorp's InmemSnapshotStore keeps only the latest snapshot; this one
/// keeps the newest `retain` like the file store, records the CRC at close
/// and checks it on open, so one contract suite holds for both. Thread-safe.
class inmem_snapshot_store : public snapshot_store {
public:
  /// Shared by the store and its sinks, so a sink outlives its store safely.
  struct state;

  /// Creates a store keeping the newest `retain` snapshots; `retain < 1` is
  /// treated as 1 (use `new_inmem_snapshot_store` to have it refused).
  explicit inmem_snapshot_store(int retain = 1);

  ~inmem_snapshot_store() override;

  caf::expected<std::unique_ptr<snapshot_sink>>
  create(index_t index, term_t term, const configuration& cfg,
         index_t configuration_index) override;

  caf::expected<std::vector<snapshot_meta>> list() override;

  caf::expected<std::pair<snapshot_meta, std::unique_ptr<snapshot_reader>>>
  open(const std::string& id) override;

  /// Test hook: lets `f` change the stored state of snapshot `id` (flip a
  /// byte, truncate) without updating its metadata, as a failing disk would.
  /// Readers already open keep the bytes they had. Returns false if `id` is
  /// not stored.
  bool tamper_for_testing(const std::string& id,
                          const std::function<void(bytes&)>& f);

private:
  std::shared_ptr<state> state_;
};

/// Creates an in-memory snapshot store with the same validation as
/// `new_snapshot_store`: fails with `not_valid` if `retain < 1`.
caf::expected<std::shared_ptr<inmem_snapshot_store>>
new_inmem_snapshot_store(int retain);

} // namespace raft
