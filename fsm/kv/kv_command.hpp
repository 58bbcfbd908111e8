#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "caf-raft/storage/log_entry.hpp"
#include "caf/expected.hpp"
#include "caf/meta/type_name.hpp"

namespace raft::fsm {

/// The operations of `kv_fsm`.
enum class kv_op : uint8_t {
  /// Sets `key` to `value`.
  put = 1,
  /// Removes `key`.
  del = 2,
  /// Sets `key` to `value` only if its current value is `expected`, or, when
  /// `expected` is empty, only if `key` is absent.
  cas = 3,
};

/// Returns "put", "del" or "cas".
const char* to_string(kv_op x);

/// One command of the replicated key-value store (see `encode`).
struct kv_command {
  kv_op op = kv_op::put;
  std::string key;
  /// The new value (put, cas); unused by del.
  std::string value;
  /// For cas: the value the key must hold, or nothing for "must be absent".
  std::optional<std::string> expected;

  /// A put of `value` at `key`.
  static kv_command put(std::string key, std::string value);

  /// A delete of `key`.
  static kv_command del(std::string key);

  /// A compare-and-set of `key` from `expected` (nothing = absent) to
  /// `value`.
  static kv_command cas(std::string key, std::optional<std::string> expected,
                        std::string value);

  friend bool operator==(const kv_command& x, const kv_command& y) {
    return x.op == y.op && x.key == y.key && x.value == y.value
           && x.expected == y.expected;
  }
};

/// The version byte `encode` writes first; `decode` refuses any other.
constexpr uint8_t kv_command_version = 1;

/// The largest key or value `decode` accepts (and `encode` should be given),
/// so a corrupt length can never drive a huge allocation.
constexpr uint64_t kv_max_field_size = uint64_t{1} << 30;

/// Encodes `cmd` for a raft log entry. Layout: the version byte, the op byte,
/// then each field as an unsigned LEB128 length followed by its bytes:
/// put: key, value; del: key; cas: key, a flag byte (0: must be absent,
/// 1: expected value follows), [expected], value. Nothing may follow.
raft::bytes encode(const kv_command& cmd);

/// Reverses `encode`; fails with `bad_message` naming what is wrong on a
/// wrong version, an unknown op, a truncated or oversized field, a bad flag
/// or trailing bytes. Never reads out of bounds on any input.
caf::expected<kv_command> decode(const raft::bytes& buf);

/// What `kv_fsm::apply` answers for a command (inside the caf::message).
struct kv_result {
  /// put: always true; del: whether the key existed; cas: whether it
  /// swapped.
  bool ok = false;
  /// Whether the key holds a value after the command.
  bool found = false;
  /// The key's value after the command (empty if not found): for a failed
  /// cas, the current value the caller compared against.
  std::string value;
  /// The log index of the key's last change (0 if absent), usable as a
  /// version in later reads.
  raft::index_t revision = 0;
  /// The log index of this command.
  raft::index_t index = 0;

  friend bool operator==(const kv_result& x, const kv_result& y) {
    return x.ok == y.ok && x.found == y.found && x.value == y.value
           && x.revision == y.revision && x.index == y.index;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_result& x) {
  return f(caf::meta::type_name("kv_result"), x.ok, x.found, x.value,
           x.revision, x.index);
}

} // namespace raft::fsm
