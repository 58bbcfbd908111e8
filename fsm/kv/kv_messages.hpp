#pragma once

// The key-value store's CAF types: the FSM's answer (`kv_result`) and the
// atoms of raftd's key-value service, in a type-ID block of their own that
// follows caf-raft's, so the library's messages never include an
// application header. A host program with its own block starts it at
// `caf::id_block::caf_raft_kv::end` if it registers this one, else at
// `caf::id_block::caf_raft::end`.

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/fsm/kv/kv_command.hpp"
#include "caf/type_id.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(caf_raft_kv, caf::id_block::caf_raft::end)

  CAF_ADD_TYPE_ID(caf_raft_kv, (raft::fsm::kv_result))
  // The key-value service of raftd (apps/raftd/kv_service.cpp).
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_put_atom, "kvput")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_get_atom, "kvget")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_cas_atom, "kvcas")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_del_atom, "kvdel")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_fwd_atom, "kvfwd")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_health_atom, "kvhealth")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_snapshot_read_atom, "kvsnapread")
  CAF_ADD_ATOM(caf_raft_kv, raft, kv_restore_atom, "kvrestore")

CAF_END_TYPE_ID_BLOCK(caf_raft_kv)

namespace raft {

/// Registers the key-value block; call `register_types` as well.
void register_kv_types(caf::actor_system_config& cfg);

} // namespace raft
