#include "caf-raft/actors/watchdog.hpp"

#include <spdlog/spdlog.h>

#include "caf-raft/config/errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

struct watchdog_state {
  static inline const char* name = "raft.watchdog";
  caf::actor_clock::time_point last_contact;
};

using watchdog_ptr = watchdog_actor::stateful_pointer<watchdog_state>;

/// Restarts the worker after `timeout` without a leader, unless the node
/// was removed from the cluster: no leader will contact it, by design, and
/// a restart would only make it campaign again (the node logs its removal).
void restart_unless_removed(watchdog_ptr self, const node_actor& node,
                            caf::actor_clock::time_point now,
                            std::chrono::milliseconds interval,
                            std::shared_ptr<spdlog::logger> log) {
  auto restart = [=] {
    log->error("raft: no leader contact for {} ms; restarting the worker",
               std::chrono::duration_cast<std::chrono::milliseconds>(
                 now - self->state.last_contact)
                 .count());
    self->quit(make_error(errc::no_leader_timeout));
  };
  // Bounded: a node that cannot answer within a check interval is stuck,
  // which is what the restart is for.
  self->request(node, interval, stats_atom_v)
    .then(
      [=](const stats_map& stats) {
        auto i = stats.find("removed");
        if (i != stats.end() && i->second == "true") {
          self->state.last_contact = now;
          return;
        }
        restart();
      },
      [=](caf::error& err) {
        // A node that is gone is the supervisor's to see.
        if (err == caf::sec::request_timeout)
          restart();
      });
}

watchdog_actor::behavior_type
watchdog(watchdog_ptr self,
         node_actor node, std::chrono::milliseconds timeout,
         std::chrono::milliseconds interval,
         std::shared_ptr<spdlog::logger> log) {
  // Starting counts as contact, as in the original (lastContact = Now()).
  self->state.last_contact = self->clock().now();
  self->delayed_send(self, interval, check_atom_v);
  return {
    [=](check_atom) {
      auto now = self->clock().now();
      // Re-arm first, as the original does, so a slow answer cannot stop
      // the checks.
      self->delayed_send(self, interval, check_atom_v);
      self->request(node, caf::infinite, contact_atom_v)
        .then(
          [=](caf::timespan since) {
            auto& st = self->state;
            if (since.count() >= 0) {
              // A newer contact moves it forward; never backwards.
              auto seen = now - since;
              if (seen > st.last_contact)
                st.last_contact = seen;
            }
            if (now > st.last_contact + timeout)
              restart_unless_removed(self, node, now, interval, log);
          },
          [=](caf::error&) {
            // The node is gone; the supervisor sees that on its own.
          });
    },
  };
}

} // namespace

watchdog_actor spawn_watchdog(caf::actor_system& sys, node_actor node,
                          std::chrono::milliseconds timeout,
                          std::chrono::milliseconds interval,
                          std::shared_ptr<spdlog::logger> logger) {
  return sys.spawn(watchdog, std::move(node), timeout, interval,
                   std::move(logger));
}

} // namespace raft
