#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "caf-raft/storage/configuration.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/meta/type_name.hpp"

namespace raft {

/// The snapshot format version this library writes and reads.
constexpr int snapshot_version = 1;

/// Describes one snapshot (HashiCorp's SnapshotMeta plus the CRC).
struct snapshot_meta {
  int version = snapshot_version;
  /// "<term>-<index>-<unix-ms>", unique within a store.
  std::string id;
  /// The last log index the snapshot covers.
  index_t index = 0;
  /// The term of the entry at `index`.
  term_t term = 0;
  /// The latest configuration as of `index`.
  raft::configuration configuration;
  /// The index of the entry that holds `configuration`.
  index_t configuration_index = 0;
  /// Size of the state in bytes.
  uint64_t size = 0;
  /// CRC-64 (ECMA-182, as Go's hash/crc64 ECMA table) of the state.
  uint64_t crc = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_meta& x) {
  return f(caf::meta::type_name("snapshot_meta"), x.version, x.id, x.index,
           x.term, x.configuration, x.configuration_index, x.size, x.crc);
}

/// Where a state machine writes a snapshot (HashiCorp's SnapshotSink).
/// Exactly one of `close` or `cancel` ends it.
class snapshot_sink {
public:
  virtual ~snapshot_sink();

  /// The id the snapshot will have once closed.
  virtual const std::string& id() const = 0;

  /// Appends `n` bytes.
  virtual caf::error write(const void* data, size_t n) = 0;

  /// Makes the snapshot durable and visible to `list`/`open`.
  virtual caf::error close() = 0;

  /// Discards everything written.
  virtual caf::error cancel() = 0;

  /// The CRC-64 (ECMA) of the bytes written so far, if the sink keeps one
  /// anyway for its metadata: spares the snapshot manager a second pass
  /// over a snapshot it receives. None by default.
  virtual std::optional<uint64_t> running_crc() const;
};

/// Reads a snapshot's state (HashiCorp's io.ReadCloser from Open).
class snapshot_reader {
public:
  virtual ~snapshot_reader();

  /// Reads up to `n` bytes into `buf`; returns 0 at the end of the state.
  virtual caf::expected<size_t> read(void* buf, size_t n) = 0;

  /// Releases the underlying resources; reading afterwards is an error.
  virtual void close() = 0;

  /// Bytes left to read, if the reader knows (0 if it does not): lets
  /// `read_all` size its buffer once instead of growing it.
  virtual uint64_t remaining() const;
};

/// Reads all of `in` into `out`, straight into `out`'s memory.
caf::error read_all(snapshot_reader& in, bytes& out);

/// Stores snapshots of the state machine (HashiCorp's SnapshotStore).
class snapshot_store {
public:
  virtual ~snapshot_store();

  /// Starts a new snapshot.
  virtual caf::expected<std::unique_ptr<snapshot_sink>>
  create(index_t index, term_t term, const configuration& cfg,
         index_t configuration_index)
    = 0;

  /// Lists the usable snapshots, newest first (by term, index, id).
  virtual caf::expected<std::vector<snapshot_meta>> list() = 0;

  /// Opens the snapshot `id` after verifying its checksum; fails with
  /// `corrupt` if the state does not match what its metadata records.
  virtual caf::expected<std::pair<snapshot_meta, std::unique_ptr<snapshot_reader>>>
  open(const std::string& id) = 0;
};

} // namespace raft
