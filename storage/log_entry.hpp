#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>


namespace raft {

/// A position in the replicated log; 0 means "none" (§5.3 of the Raft paper:
/// indexes start at 1).
using index_t = uint64_t;

/// A Raft term; 0 means "before any election" (§5.1).
using term_t = uint64_t;

/// Opaque bytes: entry payloads, snapshot chunks, stable-store values.
using bytes = std::vector<uint8_t>;

/// What a log entry carries (HashiCorp's LogType, without the deprecated
/// AddPeer/RemovePeer of protocol versions below 3).
enum class entry_type : uint8_t {
  /// Application data handed to the state machine.
  command = 0,
  /// Written by a new leader to commit entries of earlier terms (§5.4.2).
  noop = 1,
  /// Resolves once every earlier entry has been applied.
  barrier = 2,
  /// A cluster configuration (§6); the data is an encoded `configuration`.
  configuration = 3,
  /// A user restore (HashiCorp's Restore): the data is a snapshot's state,
  /// which every state machine takes when it applies this entry. Carried
  /// in the log, the restore commits like any entry: a leader deposed
  /// before it committed loses it with its other uncommitted entries.
  restore = 4,
};

/// The highest entry type; anything above it is corrupt or foreign.
constexpr entry_type last_entry_type = entry_type::restore;

/// Returns "command", "noop", "barrier", "configuration" or "restore".
const char* to_string(entry_type x);

/// Parses the output of `to_string(entry_type)`; false for unknown names.
bool from_string(const std::string& str, entry_type& x);

/// One entry of the replicated log.
struct log_entry {
  index_t index = 0;
  term_t term = 0;
  entry_type type = entry_type::command;
  bytes data;
  /// Wall-clock time at which the leader appended the entry, in milliseconds
  /// since the Unix epoch (HashiCorp's AppendedAt; informational only).
  int64_t appended_at_ms = 0;

  friend bool operator==(const log_entry& x, const log_entry& y) {
    return x.index == y.index && x.term == y.term && x.type == y.type
           && x.data == y.data && x.appended_at_ms == y.appended_at_ms;
  }
  friend bool operator!=(const log_entry& x, const log_entry& y) {
    return !(x == y);
  }
};


/// Milliseconds since the Unix epoch, for `log_entry::appended_at_ms`.
int64_t unix_millis_now();

} // namespace raft
