#pragma once

#include <chrono>
#include <istream>
#include <string>

#include "caf-raft/actors/messages.hpp"
#include "caf/fwd.hpp"

namespace raft {

/// How long an upload waits for its next chunk before it gives up and
/// frees what it holds.
constexpr std::chrono::seconds upload_idle_timeout{60};

/// The refusal of a restore whose state (`what`, `size` bytes) exceeds
/// max_entry_size: a restore travels as one log entry.
caf::error restore_too_large(const std::string& what, uint64_t size,
                             uint64_t max_bytes);

/// Spawns the receiving end of a streamed restore for `node`. It keeps the
/// state in memory, at most `max_bytes` (the largest entry: a restore
/// travels as one log entry), and ends after the commit or after
/// `upload_idle_timeout` without a message.
restore_upload_actor spawn_restore_upload(caf::actor_system& sys,
                                          node_actor node, uint64_t max_bytes);

/// HashiCorp's Restore(meta, reader, timeout) for a blocking caller: streams
/// `in` to `node` (the leader) in chunks of `chunk_size` bytes, with its
/// CRC-32C, and answers the restore entry's index once applied on the
/// leader. Memory on this side: one chunk.
caf::expected<index_t> restore_from_stream(caf::scoped_actor& self,
                                           const node_actor& node,
                                           std::istream& in,
                                           caf::timespan timeout,
                                           size_t chunk_size = 1 << 20);

} // namespace raft
