#include "config/scheduler_defaults.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"

namespace raft {

void set_node_process_defaults(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", size_t{1});
  cfg.set("middleman.workers", size_t{0});
}

} // namespace raft
