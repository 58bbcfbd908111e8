#include "actors/inmem_transport.hpp"

#include <map>
#include <random>

#include "actors/messages.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

namespace raft {

namespace {

struct transport_state {
  static inline const char* name = "raft.inmem_transport";
  std::map<std::string, caf::actor> routes;
  std::map<std::string, int> groups;
  fault_settings faults;
  std::mt19937_64 rng;
  uint64_t dropped = 0;

  bool chance(double p) {
    if (p <= 0)
      return false;
    return std::uniform_real_distribution<double>{0, 1}(rng) < p;
  }

  bool connected(const std::string& a, const std::string& b) const {
    auto ga = groups.find(a);
    auto gb = groups.find(b);
    int x = ga == groups.end() ? 0 : ga->second;
    int y = gb == groups.end() ? 0 : gb->second;
    return x == y;
  }
};

caf::behavior transport(caf::stateful_actor<transport_state>* self,
                        uint64_t seed, rpc_audit audit) {
  self->state.rng.seed(seed);
  return {
    [=](connect_atom, const std::string& id, const caf::actor& dest) {
      self->state.routes[id] = dest;
      // The local address: here the id itself (HashiCorp's LocalAddr).
      return id;
    },
    [=](disconnect_atom, const std::string& id) {
      self->state.routes.erase(id);
    },
    [=](rpc_atom, const std::string& from, const std::string& to,
        const caf::message& msg) {
      auto& st = self->state;
      if (audit)
        audit(from, to, msg);
      auto i = st.routes.find(to);
      if (i == st.routes.end() || !st.connected(from, to)
          || st.chance(st.faults.drop)) {
        ++st.dropped;
        return;
      }
      int copies = st.chance(st.faults.duplicate) ? 2 : 1;
      for (int k = 0; k < copies; ++k) {
        if (st.faults.max_delay.count() > 0 && st.chance(st.faults.delay)) {
          std::uniform_int_distribution<int64_t> dist{
            1, st.faults.max_delay.count()};
          caf::delayed_anon_send(i->second,
                                 std::chrono::milliseconds{dist(st.rng)}, msg);
        } else {
          caf::anon_send(i->second, msg);
        }
      }
    },
    [=](fault_atom, const fault_settings& f) { self->state.faults = f; },
    [=](partition_atom, const std::string& id, int group) {
      self->state.groups[id] = group;
    },
    [=](heal_atom) { self->state.groups.clear(); },
  };
}

} // namespace

caf::actor spawn_inmem_transport(caf::actor_system& sys, uint64_t seed,
                                 rpc_audit audit) {
  return sys.spawn(transport, seed, std::move(audit));
}

} // namespace raft
