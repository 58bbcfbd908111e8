#include "caf-raft/actors/manifold.hpp"

#include <algorithm>

#include <boost/core/demangle.hpp>

#include "caf-raft/config/errc.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

constexpr const char* missing_text = "dependency not available";

caf::error invalid(const std::string& what) {
  return make_error(errc::not_valid, what + " not valid");
}

/// Reads input `name` as a `T`; a missing input comes back unchanged.
template <class T>
caf::expected<T> input(dependency_context& ctx, const std::string& name,
                       const char* type_name) {
  auto x = ctx.get(name);
  if (!x)
    return std::move(x.error());
  if (auto ptr = std::any_cast<T>(&*x))
    return *ptr;
  return make_error(errc::not_valid, "input \"" + name
                                       + "\" is not a " + type_name);
}

/// Reads the transport input: a `transport_actor`, or the handle that
/// `spawn_inmem_transport` or `spawn_net_transport` returned (a host puts
/// whichever it has).
caf::expected<transport_actor> transport_input(dependency_context& ctx,
                                               const std::string& name) {
  auto x = ctx.get(name);
  if (!x)
    return std::move(x.error());
  if (auto ptr = std::any_cast<transport_actor>(&*x))
    return *ptr;
  if (auto ptr = std::any_cast<inmem_transport_actor>(&*x))
    return transport_actor{*ptr};
  if (auto ptr = std::any_cast<net_transport_actor>(&*x))
    return transport_actor{*ptr};
  return make_error(errc::not_valid,
                    "input \"" + name
                      + "\" is not a raft::transport_actor (put the handle "
                        "spawn_inmem_transport or spawn_net_transport "
                        "returned)");
}

} // namespace

caf::error missing_dependency() {
  return make_error(errc::not_found, missing_text);
}

bool is_missing(const caf::error& err) {
  return is(err, errc::not_found)
         && describe(err).find(missing_text) != std::string::npos;
}

dependency_context::dependency_context(caf::actor_system& sys,
                                       std::vector<std::string> inputs,
                                       std::map<std::string, std::any> available)
  : sys_(&sys), inputs_(std::move(inputs)), available_(std::move(available)) {
  // nop
}

caf::expected<std::any>
dependency_context::get(const std::string& name) const {
  if (std::find(inputs_.begin(), inputs_.end(), name) == inputs_.end())
    return make_error(errc::not_valid, "\"" + name + "\" not declared");
  auto i = available_.find(name);
  if (i == available_.end())
    return missing_dependency();
  return i->second;
}

caf::expected<std::string> tag_id(const std::string& tag) {
  auto dash = tag.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == tag.size())
    return make_error(errc::not_valid, "\"" + tag + "\" is not a valid tag");
  auto kind = tag.substr(0, dash);
  auto id = tag.substr(dash + 1);
  // Juju spells the id of a container machine "0/lxd/1" and its tag
  // "machine-0-lxd-1".
  if (kind == "machine")
    std::replace(id.begin(), id.end(), '-', '/');
  return id;
}

caf::error manifold_config::validate() const {
  if (clock_name.empty())
    return invalid("empty ClockName");
  if (agent_name.empty())
    return invalid("empty AgentName");
  if (transport_name.empty())
    return invalid("empty TransportName");
  if (!fsm)
    return invalid("nil FSM");
  if (!logger)
    return invalid("nil Logger");
  if (!new_worker)
    return invalid("nil NewWorker");
  return caf::none;
}

caf::expected<config> raft_manifold_worker_config(const manifold_config& cfg,
                                                  dependency_context& ctx) {
  if (auto err = cfg.validate())
    return err;
  auto clock = input<caf::actor_clock*>(ctx, cfg.clock_name,
                                        "caf::actor_clock*");
  if (!clock)
    return std::move(clock.error());
  auto agent = input<agent_info>(ctx, cfg.agent_name, "raft::agent_info");
  if (!agent)
    return std::move(agent.error());
  auto transport = transport_input(ctx, cfg.transport_name);
  if (!transport)
    return std::move(transport.error());
  auto id = tag_id(agent->tag);
  if (!id)
    return std::move(id.error());
  config result;
  result.fsm = cfg.fsm;
  result.logger = cfg.logger;
  result.storage_dir = agent->data_dir + "/raft";
  result.local_id = std::move(*id);
  result.transport = std::move(*transport);
  result.clock = *clock;
  result.prometheus_registerer = cfg.prometheus_registerer;
  result.no_leader_timeout = cfg.no_leader_timeout;
  result.no_leader_check_interval = cfg.no_leader_check_interval;
  result.election_timeout = cfg.election_timeout;
  result.heartbeat_timeout = cfg.heartbeat_timeout;
  result.leader_lease_timeout = cfg.leader_lease_timeout;
  result.snapshot_threshold = cfg.snapshot_threshold;
  result.snapshot_interval = cfg.snapshot_interval;
  result.trailing_logs = cfg.trailing_logs;
  return result;
}

dependency_manifold manifold(manifold_config cfg) {
  dependency_manifold m;
  m.inputs = {cfg.clock_name, cfg.agent_name, cfg.transport_name};
  m.start = [cfg](dependency_context& ctx) -> caf::expected<caf::actor> {
    auto wcfg = raft_manifold_worker_config(cfg, ctx);
    if (!wcfg)
      return std::move(wcfg.error());
    auto worker = cfg.new_worker(ctx.system(), *wcfg);
    if (!worker)
      return std::move(worker.error());
    return caf::actor_cast<caf::actor>(*worker);
  };
  m.output = [](caf::event_based_actor* self, const caf::actor& worker,
                const std::type_info& type,
                std::function<void(caf::expected<std::any>)> done) {
    auto w = caf::actor_cast<worker_actor>(worker);
    if (type == typeid(node_actor)) {
      self->request(w, caf::infinite, raft_atom_v)
        .then([done](node_actor& node) { done(std::any{std::move(node)}); },
              [done](caf::error& err) { done(std::move(err)); });
    } else if (type == typeid(shared_log_store)) {
      self->request(w, caf::infinite, log_store_atom_v)
        .then([done](shared_log_store& store) { done(std::any{store}); },
              [done](caf::error& err) { done(std::move(err)); });
    } else {
      done(make_error(errc::not_valid,
                      std::string{"expected output of raft::node_actor or "
                                  "raft::shared_log_store, got "}
                        + boost::core::demangle(type.name())));
    }
  };
  return m;
}

} // namespace raft
