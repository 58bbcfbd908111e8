#pragma once

#include "caf-raft/actors/messages.hpp"

namespace raft {

/// The first CAF type ID a host program may give its own types. caf-raft's
/// block takes the IDs from `caf::first_custom_type_id` on, so a host block
/// starting there fails to compile; start it here instead:
///
///     CAF_BEGIN_TYPE_ID_BLOCK(my_app, ::raft::first_host_type_id)
///
/// and register both (`raft::register_types(cfg)`, then
/// `cfg.add_message_types<caf::id_block::my_app>()`); examples/embed does.
constexpr caf::type_id_t first_host_type_id = caf::id_block::caf_raft::end;

} // namespace raft
