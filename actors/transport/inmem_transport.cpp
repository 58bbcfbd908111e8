#include "caf-raft/actors/transport/inmem_transport.hpp"

#include <map>
#include <random>
#include <set>

#include "caf-raft/actors/messages.hpp"
#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

struct transport_state {
  static inline const char* name = "raft.inmem_transport";
  std::map<std::string, caf::actor> routes;
  std::map<std::string, int> groups;
  /// Links that lose every message one way: (from, to).
  std::set<std::pair<std::string, std::string>> cut;
  /// Slow links: every message from -> to waits this long at least.
  std::map<std::pair<std::string, std::string>, caf::timespan> slow;
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

inmem_transport_actor::behavior_type
transport(inmem_transport_actor::stateful_pointer<transport_state> self,
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
          || st.cut.count({from, to}) != 0 || st.chance(st.faults.drop)) {
        ++st.dropped;
        return;
      }
      int copies = st.chance(st.faults.duplicate) ? 2 : 1;
      auto base = caf::timespan{0};
      if (auto s = st.slow.find({from, to}); s != st.slow.end())
        base = s->second;
      for (int k = 0; k < copies; ++k) {
        auto delay = base;
        if (st.faults.max_delay.count() > 0 && st.chance(st.faults.delay)) {
          std::uniform_int_distribution<int64_t> dist{
            1, st.faults.max_delay.count()};
          delay += std::chrono::milliseconds{dist(st.rng)};
        }
        if (delay.count() > 0)
          caf::delayed_anon_send(i->second, delay, msg);
        else
          caf::anon_send(i->second, msg);
      }
    },
    [=](fault_atom, const fault_settings& f) { self->state.faults = f; },
    [=](partition_atom, const std::string& id, int group) {
      self->state.groups[id] = group;
    },
    [=](partition_atom, const std::string& from, const std::string& to) {
      self->state.cut.emplace(from, to);
    },
    [=](fault_atom, const std::string& from, const std::string& to,
        caf::timespan delay) { self->state.slow[{from, to}] = delay; },
    [=](heal_atom) {
      self->state.groups.clear();
      self->state.cut.clear();
      self->state.slow.clear();
    },
  };
}

} // namespace

inmem_transport_actor spawn_inmem_transport(caf::actor_system& sys, uint64_t seed,
                                 rpc_audit audit) {
  return sys.spawn(transport, seed, std::move(audit));
}

} // namespace raft
