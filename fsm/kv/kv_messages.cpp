#include "caf-raft/fsm/kv/kv_messages.hpp"

#include "caf/actor_system_config.hpp"

namespace raft {

void register_kv_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::caf_raft_kv>();
}

} // namespace raft
