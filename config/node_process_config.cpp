#include "caf-raft/config/node_process_config.hpp"

#include "caf-raft/config/spin_sharing.hpp"
#include "caf/actor_system.hpp"
#include "caf/atom.hpp"
#include "caf/config_option_adder.hpp"
#include "caf/policy/work_sharing.hpp"
#include "caf/policy/work_stealing.hpp"
#include "caf/scheduler/coordinator.hpp"
#include "caf/scheduler/test_coordinator.hpp"

namespace raft {

node_process_config::node_process_config() {
  opt_group{custom_options_, "scheduler"}.add<size_t>(
    "spin-us", "with policy 'spinning': how long an idle worker spins "
               "before it sleeps (0: never)");
  set("scheduler.policy", caf::atom("spinning"));
  set("scheduler.max-threads", size_t{1});
  set("middleman.workers", size_t{0});
  // CAF builds its own scheduler only if no module took the slot, so this
  // factory has to serve every policy, not only ours.
  module_factories.push_back([](caf::actor_system& sys)
                               -> caf::actor_system::module* {
    auto policy = caf::get_or(sys.config(), "scheduler.policy",
                              caf::atom("spinning"));
    if (policy == caf::atom("spinning"))
      return new caf::scheduler::coordinator<spin_sharing>(sys);
    if (policy == caf::atom("sharing"))
      return new caf::scheduler::coordinator<caf::policy::work_sharing>(sys);
    if (policy == caf::atom("testing"))
      return new caf::scheduler::test_coordinator(sys);
    // CAF falls back to work stealing for anything it does not know.
    return new caf::scheduler::coordinator<caf::policy::work_stealing>(sys);
  });
}

} // namespace raft
