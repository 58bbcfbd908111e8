#include "apps/raftd/kv_service.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "actors/transport/address_provider.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/node_id.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/stateful_actor.hpp"
#include "config/errc.hpp"
#include "fsm/kv/kv_command.hpp"

namespace raft {

namespace {

struct kv_state {
  kv_service_options opts;
  /// The worker's live node, monitored: asked of the engine once, then
  /// kept until it goes (a restarted worker has a new one).
  node_actor node;
  /// Handles of other servers' services, by client address.
  std::map<std::string, caf::actor> services;
  static inline const char* name = "kv_service";
};

using kv_ptr = caf::stateful_actor<kv_state>*;

/// Re-sends a request to the leader's service (given as argument).
using retry_fn = std::function<void(const caf::actor&)>;

/// Runs `f(node)` with the worker's live node, or `g(error)` if the worker
/// is not running. The node's handle is kept (and monitored), so a client
/// request costs one round trip to the node, not two.
void node_or(kv_ptr self, std::function<void(const node_actor&)> f,
             std::function<void(caf::error&)> g) {
  auto& st = self->state;
  if (st.node) {
    f(st.node);
    return;
  }
  self
    ->request(st.opts.engine, st.opts.request_timeout, raft_atom_v,
              st.opts.manifold)
    .then(
      [self, f](node_actor& node) {
        if (self->state.node != node) {
          self->state.node = node;
          self->monitor(node);
        }
        f(node);
      },
      [g](caf::error& err) { g(err); });
}

/// Runs `f(node)` with the worker's live node, or fails `rp` with an error
/// saying the worker is not running.
void with_node(kv_ptr self, caf::response_promise rp,
               std::function<void(const node_actor&)> f) {
  node_or(self, std::move(f), [rp](caf::error& err) mutable {
    rp.deliver(make_error(errc::raft_shutdown,
                          "the raft worker of this server is not running ("
                            + describe(err)
                            + "); it restarts by itself: retry in a few "
                              "seconds"));
  });
}

/// The client address of `id`: the settings first, then the store.
std::string client_address_of(kv_ptr self, const std::string& id) {
  auto& st = self->state;
  auto i = st.opts.client_addresses.find(id);
  if (i != st.opts.client_addresses.end())
    return i->second;
  if (auto f = st.opts.fsm->get())
    if (auto v = f->get(client_address_prefix + id))
      return *v;
  return {};
}

/// Calls `f` with the service at client address `addr`, connecting once
/// (asynchronously, over the same TLS settings as everything else).
void with_service(kv_ptr self, const std::string& addr,
                  std::function<void(caf::expected<caf::actor>)> f) {
  auto& st = self->state;
  if (auto i = st.services.find(addr); i != st.services.end()) {
    f(i->second);
    return;
  }
  auto hp = split_host_port(addr);
  if (!hp) {
    f(std::move(hp.error()));
    return;
  }
  auto mm = self->system().openssl_manager().actor_handle();
  self
    ->request(mm, st.opts.request_timeout, caf::connect_atom_v, hp->first,
              hp->second)
    .then(
      [=](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>&) {
        if (!ptr) {
          f(make_error(errc::unknown_peer, "no service at " + addr));
          return;
        }
        auto h = caf::actor_cast<caf::actor>(ptr);
        // Forget the handle once its server goes away, so the next forward
        // reconnects (or fails fast) instead of talking to a dead proxy.
        self->monitor(h);
        self->state.services[addr] = h;
        f(h);
      },
      [=](caf::error& err) { f(std::move(err)); });
}

/// A retry that sends `(kv_fwd_atom, xs...)` to the leader's service and
/// hands its answer (an `R`) or error to `rp`.
template <class R, class... Ts>
retry_fn forward_as(kv_ptr self, caf::response_promise rp, Ts... xs) {
  return [=](const caf::actor& leader) mutable {
    if (auto& log = self->state.opts.logger)
      log->debug("forwarding a request to the leader's service");
    self->request(leader, self->state.opts.request_timeout, kv_fwd_atom_v,
                  xs...)
      .then([=](R& r) mutable { rp.deliver(std::move(r)); },
            [=](caf::error& err) mutable {
              if (auto& log = self->state.opts.logger)
                log->debug("forwarded request failed: {}", describe(err));
              // A handle whose connection died answers with an error:
              // reconnect next time.
              if (!is(err, errc::not_leader))
                for (auto i = self->state.services.begin();
                     i != self->state.services.end(); ++i)
                  if (i->second == leader) {
                    self->state.services.erase(i);
                    break;
                  }
              if (err == caf::sec::request_timeout)
                err = make_error(errc::timeout,
                                 "the leader did not answer in time; the "
                                 "outcome is unknown (check with get, then "
                                 "retry)");
              rp.deliver(std::move(err));
            });
  };
}

/// Rewrites errors for people. On a follower, a not-leader error is
/// answered by forwarding the request to the leader's service when `retry`
/// is set (requests forwarded once are not forwarded again), otherwise by
/// an error naming the leader's client address.
void fail(kv_ptr self, caf::response_promise& rp, const node_actor& node,
          caf::error err, retry_fn retry = {}) {
  if (!is(err, errc::not_leader)) {
    if (is(err, errc::timeout) || err == caf::sec::request_timeout)
      err = make_error(errc::timeout,
                       "the request timed out; its outcome is unknown "
                       "(check with get, then retry)");
    rp.deliver(std::move(err));
    return;
  }
  self->request(node, self->state.opts.request_timeout, leader_atom_v)
    .then(
      [=](leader_info& li) mutable {
        if (li.id.empty()) {
          rp.deliver(make_error(errc::not_leader,
                                "no leader yet (an election is under way): "
                                "retry in a few seconds"));
          return;
        }
        auto client = client_address_of(self, li.id);
        if (retry && !client.empty() && li.id != self->state.opts.local_id) {
          with_service(self, client, [=](caf::expected<caf::actor> h) mutable {
            if (h) {
              retry(*h);
              return;
            }
            rp.deliver(make_error(errc::not_leader,
                                  "this server is not the leader and cannot "
                                  "reach the leader " + li.id + " at " + client
                                    + " (" + describe(h.error())
                                    + "): retry in a few seconds"));
          });
          return;
        }
        rp.deliver(make_error(errc::not_leader,
                              "this server is not the leader; the leader is "
                                + li.id + " at "
                                + (client.empty() ? std::string{"an unknown "
                                                                "client "
                                                                "address"}
                                                  : client)));
      },
      [=](caf::error&) mutable { rp.deliver(err); });
}

void apply_command(kv_ptr self, caf::response_promise rp,
                   const fsm::kv_command& cmd, retry_fn retry) {
  auto& st = self->state;
  if (cmd.key.empty()) {
    rp.deliver(make_error(errc::not_valid, "empty key: give a key"));
    return;
  }
  auto limit = st.opts.max_value_size;
  auto too_big = [&](const std::string& what, size_t n) {
    rp.deliver(make_error(errc::too_large,
                          what + " of " + std::to_string(n)
                            + " bytes exceeds the limit of "
                            + std::to_string(limit)
                            + " bytes (max-value-size); store smaller "
                              "values"));
  };
  if (cmd.key.size() > limit)
    return too_big("key", cmd.key.size());
  if (cmd.value.size() > limit)
    return too_big("value", cmd.value.size());
  if (cmd.expected && cmd.expected->size() > limit)
    return too_big("expected value", cmd.expected->size());
  auto data = fsm::encode(cmd);
  with_node(self, rp, [=](const node_actor& node) mutable {
    self->request(node, self->state.opts.request_timeout, apply_atom_v, data)
      .then(
        [=](index_t, caf::message& response) mutable {
          if (response.match_elements<fsm::kv_result>())
            rp.deliver(response.get_as<fsm::kv_result>(0));
          else if (response.match_elements<caf::error>())
            rp.deliver(response.get_as<caf::error>(0));
          else
            rp.deliver(make_error(errc::bad_message,
                                  "unexpected answer of the state machine"));
        },
        [=](caf::error& err) mutable {
          fail(self, rp, node, std::move(err), retry);
        });
  });
}

fsm::kv_result local_read(kv_ptr self, const std::string& key) {
  fsm::kv_result r;
  if (auto f = self->state.opts.fsm->get()) {
    r.index = f->applied_index();
    if (auto e = f->get_entry(key)) {
      r.ok = r.found = true;
      r.value = e->value;
      r.revision = e->revision;
    }
  }
  return r;
}

/// Answers `rp` with `base` plus the node's stats and its leader; a node
/// whose worker is not running answers state "Unavailable" and the error.
void node_stats(kv_ptr self, stats_map base, caf::response_promise rp) {
  node_or(
    self,
      [=](const node_actor& node) mutable {
        self->request(node, self->state.opts.request_timeout, stats_atom_v)
          .then(
            [=](stats_map& m) mutable {
              m.insert(base.begin(), base.end());
              self
                ->request(node, self->state.opts.request_timeout,
                          leader_atom_v)
                .then(
                  [=](leader_info& li) mutable {
                    m["leader_id"] = li.id;
                    m["leader_client"]
                      = li.id.empty() ? std::string{}
                                      : client_address_of(self, li.id);
                    rp.deliver(m);
                  },
                  [=](caf::error&) mutable { rp.deliver(m); });
            },
            [=](caf::error& err) mutable {
              base["state"] = "Unavailable";
              base["error"] = describe(err);
              rp.deliver(base);
            });
      },
      [=](caf::error& err) mutable {
        base["state"] = "Unavailable";
        base["error"] = describe(err);
        rp.deliver(base);
      });
}

void learn(kv_ptr self, const configuration& conf) {
  auto& st = self->state;
  if (!st.opts.learn_address)
    return;
  for (auto& s : conf.servers)
    if (s.id != st.opts.local_id && !s.address.empty())
      st.opts.learn_address(s.id, s.address);
}

} // namespace

caf::actor spawn_kv_service(caf::actor_system& sys, kv_service_options opts) {
  auto impl = [](kv_ptr self, kv_service_options opts) -> caf::behavior {
    self->state.opts = std::move(opts);
    self->send(self, timer_atom_v);
    self->set_down_handler([self](caf::down_msg& dm) {
      if (self->state.node && self->state.node.address() == dm.source) {
        self->state.node = nullptr; // the worker restarts with a new one
        return;
      }
      auto& services = self->state.services;
      for (auto i = services.begin(); i != services.end(); ++i)
        if (i->second.address() == dm.source) {
          services.erase(i);
          return;
        }
    });
    // Each operation once; `fwd` says whether a follower may forward it to
    // the leader (false for requests that were forwarded already).
    auto put = [=](bool fwd, std::string key, std::string value) {
      auto rp = self->make_response_promise();
      auto retry = fwd ? forward_as<fsm::kv_result>(self, rp, kv_put_atom_v,
                                                    key, value)
                       : retry_fn{};
      apply_command(self, rp, fsm::kv_command::put(key, value), retry);
      return rp;
    };
    auto del = [=](bool fwd, std::string key) {
      auto rp = self->make_response_promise();
      auto retry = fwd ? forward_as<fsm::kv_result>(self, rp, kv_del_atom_v,
                                                    key)
                       : retry_fn{};
      apply_command(self, rp, fsm::kv_command::del(key), retry);
      return rp;
    };
    auto cas = [=](bool fwd, std::string key, bool has_expected,
                   std::string expected, std::string value) {
      auto rp = self->make_response_promise();
      auto retry = fwd ? forward_as<fsm::kv_result>(self, rp, kv_cas_atom_v,
                                                    key, has_expected,
                                                    expected, value)
                       : retry_fn{};
      std::optional<std::string> exp;
      if (has_expected)
        exp = expected;
      apply_command(self, rp, fsm::kv_command::cas(key, exp, value), retry);
      return rp;
    };
    auto get = [=](bool fwd, std::string key, bool stale) {
      auto rp = self->make_response_promise();
      if (stale) {
        // A stopped worker's state machine is empty or old, with nothing
        // to show it: refuse rather than answer from it.
        with_node(self, rp, [=](const node_actor&) mutable {
          rp.deliver(local_read(self, key));
        });
        return rp;
      }
      auto retry = fwd ? forward_as<fsm::kv_result>(self, rp, kv_get_atom_v,
                                                    key, false)
                       : retry_fn{};
      with_node(self, rp, [=](const node_actor& node) mutable {
        // ReadIndex: once it resolves, the local FSM holds every write
        // acknowledged before this read began.
        self->request(node, self->state.opts.request_timeout, read_atom_v)
          .then([=](index_t) mutable { rp.deliver(local_read(self, key)); },
                [=](caf::error& err) mutable {
                  fail(self, rp, node, std::move(err), retry);
                });
      });
      return rp;
    };
    auto change = [=](bool fwd, configuration_change ch) {
      auto rp = self->make_response_promise();
      auto& st = self->state;
      if (!ch.address.empty() && st.opts.learn_address)
        st.opts.learn_address(ch.id, ch.address);
      auto retry = fwd ? forward_as<index_t>(self, rp, change_atom_v, ch)
                       : retry_fn{};
      with_node(self, rp, [=](const node_actor& node) mutable {
        self
          ->request(node, self->state.opts.request_timeout, change_atom_v, ch)
          .then([=](index_t idx) mutable { rp.deliver(idx); },
                [=](caf::error& err) mutable {
                  fail(self, rp, node, std::move(err), retry);
                });
      });
      return rp;
    };
    auto add = [=](bool fwd, configuration_change ch, std::string client) {
      // Records the client address first (harmless if the change then
      // fails), so status and forwarding find the new server.
      auto rp = self->make_response_promise();
      auto& st = self->state;
      if (!ch.address.empty() && st.opts.learn_address)
        st.opts.learn_address(ch.id, ch.address);
      auto retry = fwd ? forward_as<index_t>(self, rp, change_atom_v, ch,
                                             client)
                       : retry_fn{};
      auto data = fsm::encode(
        fsm::kv_command::put(client_address_prefix + ch.id, client));
      with_node(self, rp, [=](const node_actor& node) mutable {
        auto timeout = self->state.opts.request_timeout;
        self->request(node, timeout, apply_atom_v, data)
          .then(
            [=](index_t, caf::message&) mutable {
              self->request(node, timeout, change_atom_v, ch)
                .then([=](index_t idx) mutable { rp.deliver(idx); },
                      [=](caf::error& err) mutable {
                        fail(self, rp, node, std::move(err));
                      });
            },
            [=](caf::error& err) mutable {
              fail(self, rp, node, std::move(err), retry);
            });
      });
      return rp;
    };
    auto transfer = [=](bool fwd, std::string id) {
      auto rp = self->make_response_promise();
      auto retry = fwd ? forward_as<bool>(self, rp, transfer_atom_v, id)
                       : retry_fn{};
      with_node(self, rp, [=](const node_actor& node) mutable {
        self
          ->request(node, self->state.opts.request_timeout, transfer_atom_v,
                    id)
          .then([=](bool ok) mutable { rp.deliver(ok); },
                [=](caf::error& err) mutable {
                  fail(self, rp, node, std::move(err), retry);
                });
      });
      return rp;
    };
    return {
      [=](kv_put_atom, std::string& key, std::string& value) {
        return put(true, std::move(key), std::move(value));
      },
      [=](kv_fwd_atom, kv_put_atom, std::string& key, std::string& value) {
        return put(false, std::move(key), std::move(value));
      },
      [=](kv_del_atom, std::string& key) { return del(true, std::move(key)); },
      [=](kv_fwd_atom, kv_del_atom, std::string& key) {
        return del(false, std::move(key));
      },
      [=](kv_cas_atom, std::string& key, bool has_expected,
          std::string& expected, std::string& value) {
        return cas(true, std::move(key), has_expected, std::move(expected),
                   std::move(value));
      },
      [=](kv_fwd_atom, kv_cas_atom, std::string& key, bool has_expected,
          std::string& expected, std::string& value) {
        return cas(false, std::move(key), has_expected, std::move(expected),
                   std::move(value));
      },
      [=](kv_get_atom, std::string& key, bool stale) {
        return get(true, std::move(key), stale);
      },
      [=](kv_fwd_atom, kv_get_atom, std::string& key, bool stale) {
        return get(false, std::move(key), stale);
      },
      [=](change_atom, configuration_change& ch) {
        return change(true, std::move(ch));
      },
      [=](kv_fwd_atom, change_atom, configuration_change& ch) {
        return change(false, std::move(ch));
      },
      [=](change_atom, configuration_change& ch, std::string& client) {
        return add(true, std::move(ch), std::move(client));
      },
      [=](kv_fwd_atom, change_atom, configuration_change& ch,
          std::string& client) {
        return add(false, std::move(ch), std::move(client));
      },
      [=](transfer_atom, std::string& id) {
        return transfer(true, std::move(id));
      },
      [=](kv_fwd_atom, transfer_atom, std::string& id) {
        return transfer(false, std::move(id));
      },
      [=](leader_atom) {
        auto rp = self->make_response_promise();
        with_node(self, rp, [=](const node_actor& node) mutable {
          self->request(node, self->state.opts.request_timeout, leader_atom_v)
            .then(
              [=](leader_info& li) mutable {
                li.address = li.id.empty() ? std::string{}
                                           : client_address_of(self, li.id);
                rp.deliver(li);
              },
              [=](caf::error& err) mutable { rp.deliver(err); });
        });
        return rp;
      },
      [=](stats_atom) {
        auto rp = self->make_response_promise();
        auto& st = self->state;
        stats_map base;
        base["id"] = st.opts.local_id;
        base["client_address"] = client_address_of(self, st.opts.local_id);
        if (!st.opts.transport) {
          node_stats(self, std::move(base), rp);
          return rp;
        }
        // The raft links as the transport sees them ("link.<id>"), so an
        // operator sees which peers this server reaches, and why not.
        self
          ->request(st.opts.transport, st.opts.request_timeout,
                    net_stats_atom_v)
          .then(
            [=](stats_map& t) mutable {
              for (auto& [k, v] : t)
                if (k.rfind("link.", 0) == 0 || k == "peers_connected")
                  base[k] = v;
              node_stats(self, std::move(base), rp);
            },
            [=](caf::error&) mutable {
              node_stats(self, std::move(base), rp);
            });
        return rp;
      },
      [=](get_config_atom) {
        auto rp = self->make_response_promise();
        with_node(self, rp, [=](const node_actor& node) mutable {
          self
            ->request(node, self->state.opts.request_timeout,
                      get_config_atom_v)
            .then(
              [=](configuration& conf, index_t idx) mutable {
                learn(self, conf);
                stats_map clients;
                for (auto& s : conf.servers) {
                  auto c = client_address_of(self, s.id);
                  if (!c.empty())
                    clients[s.id] = c;
                }
                rp.deliver(conf, idx, clients);
              },
              [=](caf::error& err) mutable { rp.deliver(err); });
        });
        return rp;
      },
      [=](snapshot_atom) {
        auto rp = self->make_response_promise();
        with_node(self, rp, [=](const node_actor& node) mutable {
          self->request(node, self->state.opts.request_timeout, snapshot_atom_v)
            .then([=](snapshot_meta& m) mutable { rp.deliver(m); },
                  [=](caf::error& err) mutable { rp.deliver(err); });
        });
        return rp;
      },
      [=](timer_atom) {
        // Keeps the transport's address book in step with the cluster's
        // configuration (servers added through another node).
        auto& st = self->state;
        self->delayed_send(self, st.opts.refresh_interval, timer_atom_v);
        node_or(
          self,
          [=](const node_actor& node) {
            self
              ->request(node, self->state.opts.request_timeout,
                        get_config_atom_v)
              .then([=](configuration& conf, index_t) { learn(self, conf); },
                    [](caf::error&) {});
          },
          [](caf::error&) {});
      },
    };
  };
  return sys.spawn(impl, std::move(opts));
}

} // namespace raft
