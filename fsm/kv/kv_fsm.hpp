#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "caf-raft/fsm/kv/kv_command.hpp"
#include "caf-raft/fsm/state_machine.hpp"

namespace raft::fsm {

/// A replicated key-value map driven by `kv_command`s (put, del, cas).
///
/// `apply` answers a `kv_result`, or a `bad_message` error for an entry that
/// does not decode (the entry still counts as applied, so every replica
/// stays identical). An entry at or below the applied index is skipped
/// (answered with an empty message): a restarted node replays its log into
/// the state machine it shares with its predecessor, and replaying must not
/// change the state. Each key remembers the log index of its last change as
/// its revision. `get`, `size` and `applied_index` are safe from any thread;
/// done after a ReadIndex, they are linearizable reads.
///
/// Snapshots share the map instead of copying it: `take_snapshot` is O(1),
/// and the first write after it copies the map once if the snapshot is
/// still alive (copy-on-write), so `persist` on another thread reads a map
/// nobody changes.
class kv_fsm : public state_machine {
public:
  /// One stored value and the log index that last changed it.
  struct entry {
    std::string value;
    raft::index_t revision = 0;

    friend bool operator==(const entry& x, const entry& y) {
      return x.value == y.value && x.revision == y.revision;
    }
  };

  using map_type = std::map<std::string, entry>;

  kv_fsm();

  caf::message apply(const raft::log_entry& e) override;

  caf::expected<std::unique_ptr<snapshot>> take_snapshot() override;

  caf::error restore(raft::snapshot_reader& in) override;

  /// Applies `cmd` as the entry at `index` and returns its result.
  kv_result apply_command(const kv_command& cmd, raft::index_t index);

  /// The value of `key`, if any.
  std::optional<std::string> get(const std::string& key) const;

  /// The value and revision of `key`, if any.
  std::optional<entry> get_entry(const std::string& key) const;

  /// The number of keys.
  size_t size() const;

  /// The index of the last entry applied (or restored from a snapshot).
  raft::index_t applied_index() const override;

  /// True: the first apply after a snapshot copies the whole map
  /// (copy-on-write) and a restore decodes a whole snapshot; both grow with
  /// the state and would hold up the node's heartbeats if run on its
  /// scheduler.
  bool apply_blocks() const override;

  /// A copy of the whole map (tests, tools).
  map_type items() const;

  /// The snapshot format: magic "KVS1", the applied index and the number of
  /// keys (64-bit little endian), then per key in ascending order: key,
  /// value (LEB128 length and bytes) and revision (LEB128); finally a
  /// CRC-32 of everything before it (32-bit little endian).
  static raft::bytes encode_snapshot(const map_type& map,
                                     raft::index_t applied);

  /// Reverses `encode_snapshot`; fails with `corrupt` naming what is wrong
  /// (checksum, truncation, unsorted or duplicate keys, a revision beyond the
  /// applied index, trailing bytes).
  static caf::error decode_snapshot(const raft::bytes& buf, map_type& map,
                                    raft::index_t& applied);

private:
  /// Makes `map_` exclusively ours before a write (copy-on-write).
  void detach_map();

  mutable std::mutex mtx_;
  std::shared_ptr<map_type> map_;
  raft::index_t applied_ = 0;
};

} // namespace raft::fsm
