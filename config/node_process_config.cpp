#include "caf-raft/config/node_process_config.hpp"

#include "caf-raft/config/loop_sharing.hpp"
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
    "spin-us", "with policy 'spinning' (default 250) or 'loop' (default 0): "
               "how long an idle worker or event loop spins "
               "before it sleeps (0: never)");
  set("scheduler.policy", caf::atom("loop"));
  set("scheduler.max-threads", size_t{1});
  set("middleman.workers", size_t{0});
  // Hands the loop's jobs back to the workers when the loop's thread ends
  // (a no-op under any other policy).
  add_thread_hook<loop_sharing::detach_hook>();
  // CAF builds its own scheduler only if no module took the slot, so this
  // factory has to serve every policy, not only ours.
  module_factories.push_back([](caf::actor_system& sys)
                               -> caf::actor_system::module* {
    auto policy = caf::get_or(sys.config(), "scheduler.policy",
                              caf::atom("loop"));
    if (policy == caf::atom("spinning"))
      return new caf::scheduler::coordinator<spin_sharing>(sys);
    if (policy == caf::atom("loop"))
      return new caf::scheduler::coordinator<loop_sharing>(sys);
    if (policy == caf::atom("sharing"))
      return new caf::scheduler::coordinator<caf::policy::work_sharing>(sys);
    if (policy == caf::atom("testing"))
      return new caf::scheduler::test_coordinator(sys);
    // CAF falls back to work stealing for anything it does not know.
    return new caf::scheduler::coordinator<caf::policy::work_stealing>(sys);
  });
}

} // namespace raft
