#pragma once

#include <cstdint>
#include <string>

#include "caf-raft/storage/log_entry.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"

namespace raft {

/// Keys the consensus core keeps in the stable store (HashiCorp's names).
namespace stable_keys {
constexpr const char* current_term = "CurrentTerm";
constexpr const char* last_vote_term = "LastVoteTerm";
constexpr const char* last_vote_cand = "LastVoteCand";
/// The highest index known to be committed, kept so that a restarted node
/// can re-apply its log up to it (HashiCorp's CommitTrackingLogStore idea).
constexpr const char* commit_index = "CommitIndex";
} // namespace stable_keys

/// Durable key/value storage for the term, the vote and other small state
/// (HashiCorp's StableStore). A write is durable when it returns.
class stable_store {
public:
  virtual ~stable_store();

  /// Stores `value` under `key`.
  virtual caf::error set(const std::string& key, const bytes& value) = 0;

  /// Reads `key`; fails with `errc::not_found` if it was never set.
  virtual caf::expected<bytes> get(const std::string& key) = 0;

  /// Stores `value` under `key`.
  virtual caf::error set_uint64(const std::string& key, uint64_t value) = 0;

  /// Reads `key`; fails with `errc::not_found` if it was never set.
  virtual caf::expected<uint64_t> get_uint64(const std::string& key) = 0;
};

} // namespace raft
