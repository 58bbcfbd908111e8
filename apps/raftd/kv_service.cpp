#include "caf-raft/apps/raftd/kv_service.hpp"

#include <filesystem>
#include <fstream>
#include <set>

#include <spdlog/spdlog.h>

#include "caf-raft/actors/transport/address_provider.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/apps/raftd/health.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/text.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf-raft/config/version.hpp"
#include "caf-raft/fsm/kv/kv_command.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/node_id.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

struct kv_state {
  kv_service_options opts;
  /// The worker's live node, monitored: asked of the engine once, then
  /// kept until it goes (a restarted worker has a new one).
  node_actor node;
  /// Handles of other servers' services, by client address.
  std::map<std::string, kv_service_actor> services;
  /// Restores being uploaded, by token, each with the members' client
  /// address records to write again once it is applied.
  struct upload {
    restore_upload_actor handle;
    std::map<std::string, std::string> records;
  };
  std::map<std::string, upload> uploads;
  static inline const char* name = "kv_service";
};

using kv_ptr = kv_service_actor::stateful_pointer<kv_state>;

/// Sends a leader-only request on to the leader's service; empty when the
/// request was forwarded to us already (it is never forwarded twice).
using forward_fn = std::function<void(const kv_service_actor&)>;

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

caf::error worker_down(const caf::error& err) {
  return make_error(errc::raft_shutdown,
                    "the raft worker of this server is not running ("
                      + describe(err)
                      + "); it restarts by itself: retry in a few seconds");
}

/// Runs `f(node)` with the worker's live node, or fails `rp` with an error
/// saying the worker is not running.
template <class Promise>
void with_node(kv_ptr self, Promise rp,
               std::function<void(const node_actor&)> f) {
  node_or(self, std::move(f),
          [rp](caf::error& err) mutable { rp.deliver(worker_down(err)); });
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
                  std::function<void(caf::expected<kv_service_actor>)> f) {
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
        auto h = caf::actor_cast<kv_service_actor>(ptr);
        // Forget the handle once its server goes away, so the next forward
        // reconnects (or fails fast) instead of talking to a dead proxy.
        self->monitor(h);
        self->state.services[addr] = h;
        f(h);
      },
      [=](caf::error& err) { f(std::move(err)); });
}

void forget_service(kv_ptr self, const kv_service_actor& h) {
  auto& services = self->state.services;
  for (auto i = services.begin(); i != services.end(); ++i)
    if (i->second == h) {
      services.erase(i);
      return;
    }
}

/// Sends `(kv_fwd_atom, xs...)` to the leader's service and hands its
/// answer (an `R`) or error to `rp`.
template <class R, class... Ts>
forward_fn forward_as(kv_ptr self, caf::typed_response_promise<R> rp,
                      Ts... xs) {
  return [=](const kv_service_actor& leader) mutable {
    if (auto& log = self->state.opts.logger)
      log->debug("forwarding a request to the leader's service");
    self->request(leader, self->state.opts.request_timeout, kv_fwd_atom_v,
                  xs...)
      .then([=](R& r) mutable { rp.deliver(std::move(r)); },
            [=](caf::error& err) mutable {
              // A handle whose connection died answers with an error:
              // reconnect next time.
              if (!is(err, errc::not_leader))
                forget_service(self, leader);
              if (err == caf::sec::request_timeout)
                err = make_error(errc::timeout,
                                 "the leader did not answer in time; the "
                                 "outcome is unknown (check with get, then "
                                 "retry)");
              rp.deliver(std::move(err));
            });
  };
}

/// The not-leader error clients see: it names the leader and its client
/// address, or says that none is known.
caf::error not_leader_naming(const leader_info& li,
                             const std::string& client) {
  if (li.id.empty())
    return make_error(errc::not_leader,
                      "no leader yet (an election is under way): retry in a "
                      "few seconds");
  return make_error(errc::not_leader,
                    "this server is not the leader; the leader is " + li.id
                      + " at "
                      + (client.empty() ? std::string{"an unknown client "
                                                      "address"}
                                        : client));
}

/// The one redirect path. A follower forwards a leader-only request to the
/// leader's service (`forward`, once: a forwarded request is not forwarded
/// again); when it cannot, the client gets an error naming the leader.
template <class Promise>
void redirect(kv_ptr self, Promise rp, const node_actor& node,
              caf::error err, forward_fn forward) {
  self->request(node, self->state.opts.request_timeout, leader_atom_v)
    .then(
      [=](leader_info& li) mutable {
        auto client = li.id.empty() ? std::string{}
                                    : client_address_of(self, li.id);
        if (!forward || client.empty() || li.id == self->state.opts.local_id) {
          rp.deliver(not_leader_naming(li, client));
          return;
        }
        with_service(self, client,
                     [=](caf::expected<kv_service_actor> h) mutable {
                       if (h)
                         return forward(*h);
                       rp.deliver(make_error(
                         errc::not_leader,
                         "this server is not the leader and cannot reach "
                         "the leader " + li.id + " at " + client + " ("
                           + describe(h.error())
                           + "): retry in a few seconds"));
                     });
      },
      [=](caf::error&) mutable { rp.deliver(err); });
}

/// Rewrites a node's error for people; a not-leader error takes the
/// redirect path.
template <class Promise>
void fail(kv_ptr self, Promise rp, const node_actor& node, caf::error err,
          forward_fn forward) {
  if (is(err, errc::not_leader))
    return redirect(self, rp, node, std::move(err), std::move(forward));
  if (is(err, errc::timeout) || err == caf::sec::request_timeout)
    err = make_error(errc::timeout,
                     "the request timed out; its outcome is unknown (check "
                     "with get, then retry)");
  rp.deliver(std::move(err));
}

/// Sends `xs...` to the node and hands its answer (an `R`) to `rp`; a
/// not-leader answer takes the redirect path.
template <class R, class... Ts>
void ask_node(kv_ptr self, caf::typed_response_promise<R> rp,
              forward_fn forward, Ts... xs) {
  with_node(self, rp, [=](const node_actor& node) mutable {
    self->request(node, self->state.opts.request_timeout, xs...)
      .then([=](R& r) mutable { rp.deliver(std::move(r)); },
            [=](caf::error& err) mutable {
              fail(self, rp, node, std::move(err), forward);
            });
  });
}

/// Refuses an empty key and keys or values over max-value-size, before
/// anything is replicated.
caf::error check_command(kv_ptr self, const raft::fsm::kv_command& cmd) {
  if (cmd.key.empty())
    return make_error(errc::not_valid, "empty key: give a key");
  if (cmd.key.rfind(reserved_prefix, 0) == 0)
    return make_error(errc::not_valid,
                      "key '" + cmd.key + "' is reserved: keys under "
                        + reserved_prefix
                        + " are raftd's own records (client addresses of "
                          "servers); pick another key");
  auto limit = self->state.opts.max_value_size;
  auto too_big = [&](const std::string& what, size_t n) {
    return make_error(errc::too_large,
                      what + " of " + std::to_string(n)
                        + " bytes exceeds the limit of "
                        + std::to_string(limit)
                        + " bytes (max-value-size); store smaller values");
  };
  if (cmd.key.size() > limit)
    return too_big("key", cmd.key.size());
  if (cmd.value.size() > limit)
    return too_big("value", cmd.value.size());
  if (cmd.expected && cmd.expected->size() > limit)
    return too_big("expected value", cmd.expected->size());
  return {};
}

/// The FSM's answer inside an apply's response.
caf::expected<raft::fsm::kv_result> kv_answer(caf::message& response) {
  if (response.match_elements<raft::fsm::kv_result>())
    return response.get_as<raft::fsm::kv_result>(0);
  if (response.match_elements<caf::error>())
    return response.get_as<caf::error>(0);
  return make_error(errc::bad_message,
                    "unexpected answer of the state machine");
}

using kv_promise = caf::typed_response_promise<raft::fsm::kv_result>;

/// Replicates a put, delete or compare-and-swap and answers the FSM's
/// result.
kv_promise apply_command(kv_ptr self, const raft::fsm::kv_command& cmd,
                         std::function<forward_fn(kv_promise)> forward_of) {
  auto rp = self->make_response_promise<raft::fsm::kv_result>();
  if (auto err = check_command(self, cmd)) {
    rp.deliver(std::move(err));
    return rp;
  }
  auto forward = forward_of ? forward_of(rp) : forward_fn{};
  auto data = raft::fsm::encode(cmd);
  with_node(self, rp, [=](const node_actor& node) mutable {
    self->request(node, self->state.opts.request_timeout, apply_atom_v, data)
      .then(
        [=](index_t, caf::message& response) mutable {
          auto r = kv_answer(response);
          if (r)
            rp.deliver(std::move(*r));
          else
            rp.deliver(std::move(r.error()));
        },
        [=](caf::error& err) mutable {
          fail(self, rp, node, std::move(err), forward);
        });
  });
  return rp;
}

raft::fsm::kv_result local_read(kv_ptr self, const std::string& key) {
  raft::fsm::kv_result r;
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

/// A read: linearizable through ReadIndex on the leader unless `stale`.
kv_promise get(kv_ptr self, bool fwd, const std::string& key, bool stale) {
  auto rp = self->make_response_promise<raft::fsm::kv_result>();
  if (stale) {
    // A stopped worker's state machine is empty or old, with nothing to
    // show it: refuse rather than answer from it.
    with_node(self, rp, [=](const node_actor&) mutable {
      rp.deliver(local_read(self, key));
    });
    return rp;
  }
  auto forward = fwd ? forward_as(self, rp, kv_get_atom_v, key, false)
                     : forward_fn{};
  with_node(self, rp, [=](const node_actor& node) mutable {
    // Once ReadIndex resolves, the local FSM holds every write
    // acknowledged before this read began.
    self->request(node, self->state.opts.request_timeout, read_atom_v)
      .then([=](index_t) mutable { rp.deliver(local_read(self, key)); },
            [=](caf::error& err) mutable {
              fail(self, rp, node, std::move(err), forward);
            });
  });
  return rp;
}

void learn_one(kv_ptr self, const std::string& id, const std::string& addr) {
  auto& st = self->state;
  if (st.opts.learn_address && !addr.empty() && id != st.opts.local_id)
    st.opts.learn_address(id, addr);
}

void learn(kv_ptr self, const configuration& conf) {
  for (auto& s : conf.servers)
    learn_one(self, s.id, s.address);
}

using index_promise = caf::typed_response_promise<index_t>;

/// A membership change. A removed server's client address record goes
/// with it (a stale one would send forwards to whoever takes the address).
index_promise change(kv_ptr self, bool fwd, const configuration_change& ch) {
  learn_one(self, ch.id, ch.address);
  auto rp = self->make_response_promise<index_t>();
  auto forward = fwd ? forward_as(self, rp, change_atom_v, ch) : forward_fn{};
  if (ch.kind != change_kind::remove_server) {
    ask_node(self, rp, forward, change_atom_v, ch);
    return rp;
  }
  auto forget = raft::fsm::encode(
    raft::fsm::kv_command::del(client_address_prefix + ch.id));
  with_node(self, rp, [=](const node_actor& node) mutable {
    auto timeout = self->state.opts.request_timeout;
    self->request(node, timeout, change_atom_v, ch)
      .then(
        [=](index_t idx) mutable {
          // The removal happened whatever becomes of the record: answer it.
          self->request(node, timeout, apply_atom_v, forget)
            .then([=](index_t, caf::message&) mutable { rp.deliver(idx); },
                  [=](caf::error&) mutable { rp.deliver(idx); });
        },
        [=](caf::error& err) mutable {
          fail(self, rp, node, std::move(err), forward);
        });
  });
  return rp;
}

/// A membership change that also records the new server's client address
/// (first, harmless if the change then fails), so status and forwarding
/// find it.
index_promise add(kv_ptr self, bool fwd, const configuration_change& ch,
                  const std::string& client) {
  learn_one(self, ch.id, ch.address);
  auto rp = self->make_response_promise<index_t>();
  auto forward = fwd ? forward_as(self, rp, change_atom_v, ch, client)
                     : forward_fn{};
  auto data = raft::fsm::encode(
    raft::fsm::kv_command::put(client_address_prefix + ch.id, client));
  with_node(self, rp, [=](const node_actor& node) mutable {
    self->request(node, self->state.opts.request_timeout, apply_atom_v, data)
      .then([=](index_t, caf::message&) mutable {
              ask_node(self, rp, forward_fn{}, change_atom_v, ch);
            },
            [=](caf::error& err) mutable {
              fail(self, rp, node, std::move(err), forward);
            });
  });
  return rp;
}

caf::typed_response_promise<bool> transfer(kv_ptr self, bool fwd,
                                           const std::string& id) {
  auto rp = self->make_response_promise<bool>();
  auto forward = fwd ? forward_as(self, rp, transfer_atom_v, id)
                     : forward_fn{};
  ask_node(self, rp, forward, transfer_atom_v, id);
  return rp;
}

/// The leader, named by its client address.
caf::typed_response_promise<leader_info> leader(kv_ptr self) {
  auto rp = self->make_response_promise<leader_info>();
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
}

using stats_promise = caf::typed_response_promise<stats_map>;

/// Calls `done` with `base` plus the node's stats and its leader; a node
/// whose worker is not running gives state "Unavailable" and the error.
void with_node_stats(kv_ptr self, stats_map base,
                     std::function<void(stats_map&)> done) {
  auto unavailable = [=](caf::error& err) mutable {
    base["state"] = "Unavailable";
    base["error"] = describe(err);
    done(base);
  };
  node_or(
    self,
    [=](const node_actor& node) mutable {
      auto timeout = self->state.opts.request_timeout;
      self->request(node, timeout, stats_atom_v)
        .then(
          [=](stats_map& m) mutable {
            m.insert(base.begin(), base.end());
            self->request(node, timeout, leader_atom_v)
              .then(
                [=](leader_info& li) mutable {
                  m["leader_id"] = li.id;
                  m["leader_client"] = li.id.empty()
                                         ? std::string{}
                                         : client_address_of(self, li.id);
                  done(m);
                },
                [=](caf::error&) mutable { done(m); });
          },
          unavailable);
    },
    unavailable);
}

void node_stats(kv_ptr self, stats_map base, stats_promise rp) {
  with_node_stats(self, std::move(base),
                  [rp](stats_map& m) mutable { rp.deliver(m); });
}

/// This server's health (apps/raftd/health.hpp), from its node's stats.
stats_promise health(kv_ptr self) {
  auto rp = self->make_response_promise<stats_map>();
  stats_map base;
  base["id"] = self->state.opts.local_id;
  auto max_lag = self->state.opts.health_max_lag;
  with_node_stats(self, std::move(base), [rp, max_lag](stats_map& m) mutable {
    rp.deliver(health_of(m, max_lag));
  });
  return rp;
}

/// Bytes of every file under `dir` (0 if it cannot be read).
uint64_t folder_size(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  uint64_t total = 0;
  for (fs::recursive_directory_iterator i{dir, ec}, end; !ec && i != end;
       i.increment(ec))
    if (i->is_regular_file(ec))
      total += i->file_size(ec);
  return total;
}

/// This server's stats: the node's, plus the raft links as the transport
/// sees them ("link.<id>"), so an operator sees which peers this server
/// reaches, and why not.
stats_promise stats(kv_ptr self) {
  auto rp = self->make_response_promise<stats_map>();
  auto& st = self->state;
  stats_map base;
  base["id"] = st.opts.local_id;
  base["client_address"] = client_address_of(self, st.opts.local_id);
  base["version"] = std::string{version()} + " (git " + git_revision() + ")";
  if (st.opts.cluster)
    base["cluster_id"] = st.opts.cluster->id();
  if (!st.opts.state_dir.empty())
    base["db_size_bytes"] = std::to_string(folder_size(st.opts.state_dir));
  if (!st.opts.transport) {
    node_stats(self, std::move(base), rp);
    return rp;
  }
  self->request(st.opts.transport, st.opts.request_timeout, net_stats_atom_v)
    .then(
      [=](stats_map& t) mutable {
        for (auto& [k, v] : t)
          if (k.rfind("link.", 0) == 0 || k == "peers_connected")
            base[k] = v;
        node_stats(self, std::move(base), rp);
      },
      [=](caf::error&) mutable { node_stats(self, std::move(base), rp); });
  return rp;
}

/// The configuration with every member's client address.
caf::typed_response_promise<configuration, index_t, stats_map>
get_config(kv_ptr self) {
  auto rp = self->make_response_promise<configuration, index_t, stats_map>();
  with_node(self, rp, [=](const node_actor& node) mutable {
    self->request(node, self->state.opts.request_timeout, get_config_atom_v)
      .then(
        [=](configuration& conf, index_t idx) mutable {
          learn(self, conf);
          stats_map clients;
          for (auto& s : conf.servers)
            if (auto c = client_address_of(self, s.id); !c.empty())
              clients[s.id] = c;
          rp.deliver(conf, idx, clients);
        },
        [=](caf::error& err) mutable { rp.deliver(err); });
  });
  return rp;
}

caf::typed_response_promise<snapshot_meta> snapshot(kv_ptr self) {
  auto rp = self->make_response_promise<snapshot_meta>();
  with_node(self, rp, [=](const node_actor& node) mutable {
    self->request(node, self->state.opts.request_timeout, snapshot_atom_v)
      .then([=](snapshot_meta& m) mutable { rp.deliver(m); },
            [=](caf::error& err) mutable { rp.deliver(err); });
  });
  return rp;
}

/// Runs `work` on a thread of its own and hands its outcome to `done` in
/// the service: the service shares the scheduler with the raft node, which
/// a disk read must not stall.
template <class T>
void off_scheduler(kv_ptr self, std::function<caf::expected<T>()> work,
                   std::function<void(caf::expected<T>)> done) {
  auto worker = self->spawn<caf::detached>(
    [work](caf::event_based_actor* w) -> caf::behavior {
      return {[=](kv_snapshot_read_atom) -> caf::result<T> {
        w->quit();
        auto x = work();
        if (!x)
          return std::move(x.error());
        return std::move(*x);
      }};
    });
  self->request(worker, self->state.opts.request_timeout,
                kv_snapshot_read_atom_v)
    .then([done](T& x) { done(std::move(x)); },
          [done](caf::error& err) { done(std::move(err)); });
}

/// Answers `rp` with a value or its error.
template <class Promise, class T>
void deliver(Promise& rp, caf::expected<T>&& x) {
  if (x)
    rp.deliver(std::move(*x));
  else
    rp.deliver(std::move(x.error()));
}

/// The newest snapshot stored under `state_dir`.
caf::expected<snapshot_meta> newest_snapshot(const std::string& state_dir) {
  auto all = list_snapshots(state_dir);
  if (!all)
    return std::move(all.error());
  if (all->empty())
    return make_error(errc::not_found, "no snapshot stored");
  return all->front();
}

/// A snapshot taken now, or the newest stored one if nothing was applied
/// since.
void snapshot_now(kv_ptr self, caf::typed_response_promise<snapshot_meta> rp,
                  const node_actor& node) {
  self->request(node, self->state.opts.request_timeout, snapshot_atom_v)
    .then([=](snapshot_meta& m) mutable { rp.deliver(m); },
          [=](caf::error& err) mutable {
            if (!is(err, errc::nothing_new_to_snapshot)) {
              rp.deliver(err);
              return;
            }
            auto dir = self->state.opts.state_dir;
            off_scheduler<snapshot_meta>(
              self, [dir] { return newest_snapshot(dir); },
              [rp](caf::expected<snapshot_meta> x) mutable {
                deliver(rp, std::move(x));
              });
          });
}

/// A snapshot to save (`raftctl snapshot save`), on the leader.
caf::typed_response_promise<snapshot_meta> snapshot_to_save(kv_ptr self) {
  auto rp = self->make_response_promise<snapshot_meta>();
  with_node(self, rp, [=](const node_actor& node) mutable {
    // A read point first (ReadIndex, leader only): the snapshot then holds
    // every write acknowledged before the save began, so restoring it
    // loses none of them.
    self->request(node, self->state.opts.request_timeout, read_atom_v)
      .then([=](index_t) mutable { snapshot_now(self, rp, node); },
            [=](caf::error& err) mutable {
              fail(self, rp, node, std::move(err), forward_fn{});
            });
  });
  return rp;
}

/// Up to `snapshot_read_chunk` bytes of the file at `path` from `offset`
/// on; `id` names the snapshot in errors.
caf::expected<std::string> read_chunk(const std::string& path,
                                      const std::string& id,
                                      uint64_t offset) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::not_found,
                      "snapshot " + id + " is gone (a newer one replaced "
                      "it): save again");
  in.seekg(static_cast<std::streamoff>(offset));
  std::string chunk(snapshot_read_chunk, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return chunk;
}

/// Up to `snapshot_read_chunk` bytes of snapshot `id`'s state from
/// `offset` on, read from the store's folder (the worker's store is its
/// only writer; a finished snapshot's files never change), off the
/// scheduler.
caf::result<std::string> read_snapshot(kv_ptr self, const std::string& id,
                                       uint64_t offset) {
  // Ids are "<term>-<index>-<unix-ms>": nothing else reaches the disk.
  if (id.empty() || id.find_first_not_of("0123456789-") != std::string::npos)
    return make_error(errc::not_valid, "'" + id + "' is not a snapshot id");
  auto path = self->state.opts.state_dir + "/" + snapshots_folder + "/" + id
              + "/state.bin";
  auto rp = self->make_response_promise<std::string>();
  off_scheduler<std::string>(
    self, [path, id, offset] { return read_chunk(path, id, offset); },
    [rp](caf::expected<std::string> x) mutable { deliver(rp, std::move(x)); });
  return rp;
}

/// Keeps the transport's address book in step with the cluster's
/// configuration (servers added through another node).
// -- restore (raftctl snapshot restore) --------------------------------------

/// The client address records of `conf`'s servers, as the FSM holds them.
std::map<std::string, std::string> client_records(kv_ptr self,
                                                  const configuration& conf) {
  std::map<std::string, std::string> out;
  if (auto f = self->state.opts.fsm->get())
    for (auto& s : conf.servers)
      if (auto v = f->get(client_address_prefix + s.id))
        out[s.id] = *v;
  return out;
}

/// Opens an upload on the leader's node. Not forwarded: a restore is too
/// large to relay hop by hop, so a follower's error names the leader.
caf::typed_response_promise<std::string> restore_open(kv_ptr self) {
  auto rp = self->make_response_promise<std::string>();
  with_node(self, rp, [=](const node_actor& node) mutable {
    auto timeout = self->state.opts.request_timeout;
    self->request(node, timeout, get_config_atom_v)
      .then(
        [=](configuration& conf, index_t) mutable {
          auto records = client_records(self, conf);
          self->request(node, timeout, restore_atom_v, open_atom_v)
            .then(
              [=](caf::actor& up) mutable {
                auto& st = self->state;
                // Unguessable: another client cannot push into this one.
                auto token = to_hex(tls_identity::random_bytes(16));
                auto handle = caf::actor_cast<restore_upload_actor>(up);
                self->monitor(handle);
                st.uploads[token] = kv_state::upload{handle, records};
                rp.deliver(token);
              },
              [=](caf::error& err) mutable {
                fail(self, rp, node, std::move(err), forward_fn{});
              });
        },
        [=](caf::error& err) mutable { rp.deliver(err); });
  });
  return rp;
}

/// The upload `token` names, or an error saying it is gone.
caf::expected<restore_upload_actor> upload_of(kv_ptr self,
                                              const std::string& token) {
  auto i = self->state.uploads.find(token);
  if (i == self->state.uploads.end())
    return make_error(errc::not_found,
                      "restore upload " + token
                        + " is gone (it failed, waited over a minute for "
                          "its next chunk, or leadership moved): restore "
                          "again");
  return i->second.handle;
}

caf::typed_response_promise<uint64_t>
restore_chunk(kv_ptr self, const std::string& token, uint64_t offset,
              const std::string& chunk) {
  auto rp = self->make_response_promise<uint64_t>();
  auto up = upload_of(self, token);
  if (!up) {
    rp.deliver(std::move(up.error()));
    return rp;
  }
  self
    ->request(*up, self->state.opts.request_timeout, upload_atom_v, offset,
              bytes(chunk.begin(), chunk.end()))
    .then([=](uint64_t next) mutable { rp.deliver(next); },
          [=](caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

/// Writes the members' client address records again where the restored
/// state holds other ones (or none): forwarding and status need them.
/// Calls `done` once every write answered; a failed one is logged.
void rewrite_client_records(kv_ptr self, const node_actor& node,
                            const std::map<std::string, std::string>& was,
                            std::function<void()> done) {
  auto f = self->state.opts.fsm->get();
  auto pending = std::make_shared<size_t>(1);
  auto finish = [pending, done] {
    if (--*pending == 0)
      done();
  };
  for (auto& [id, addr] : was) {
    if (f && f->get(client_address_prefix + id) == addr)
      continue;
    ++*pending;
    auto data = raft::fsm::encode(
      raft::fsm::kv_command::put(client_address_prefix + id, addr));
    self->request(node, self->state.opts.request_timeout, apply_atom_v, data)
      .then([finish](index_t, caf::message&) { finish(); },
            [self, finish, id = id](caf::error& err) {
              if (auto& log = self->state.opts.logger)
                log->warn("after the restore, the client address of {} "
                          "could not be written again: {}; add it with "
                          "raftctl add-voter",
                          id, describe(err));
              finish();
            });
  }
  finish();
}

index_promise restore_commit(kv_ptr self, const std::string& token,
                             uint64_t size, uint32_t crc) {
  auto rp = self->make_response_promise<index_t>();
  auto up = upload_of(self, token);
  if (!up) {
    rp.deliver(std::move(up.error()));
    return rp;
  }
  auto records = self->state.uploads[token].records;
  with_node(self, rp, [=](const node_actor& node) mutable {
    self
      ->request(*up, self->state.opts.request_timeout, upload_atom_v,
                commit_atom_v, size, crc)
      .then(
        [=](index_t idx) mutable {
          rewrite_client_records(self, node, records,
                                 [rp, idx]() mutable { rp.deliver(idx); });
        },
        [=](caf::error& err) mutable {
          fail(self, rp, node, std::move(err), forward_fn{});
        });
  });
  return rp;
}

void refresh_addresses(kv_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.opts.refresh_interval, timer_atom_v);
  node_or(
    self,
    [=](const node_actor& node) {
      self->request(node, self->state.opts.request_timeout, get_config_atom_v)
        .then([=](configuration& conf, index_t) { learn(self, conf); },
              [](caf::error&) {});
    },
    [](caf::error&) {});
}

void on_down(kv_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.node && st.node.address() == dm.source) {
    st.node = nullptr; // the worker restarts with a new one
    return;
  }
  for (auto i = st.uploads.begin(); i != st.uploads.end(); ++i)
    if (i->second.handle.address() == dm.source) {
      st.uploads.erase(i); // committed, abandoned or its node gone
      return;
    }
  for (auto i = st.services.begin(); i != st.services.end(); ++i)
    if (i->second.address() == dm.source) {
      st.services.erase(i);
      return;
    }
}

/// The write commands; `fwd` says whether a follower may forward them to
/// the leader (false for requests forwarded already).
kv_promise put(kv_ptr self, bool fwd, const std::string& key,
               const std::string& value) {
  return apply_command(self, raft::fsm::kv_command::put(key, value),
                       [=](kv_promise rp) -> forward_fn {
                         if (!fwd)
                           return {};
                         return forward_as(self, rp, kv_put_atom_v, key,
                                           value);
                       });
}

kv_promise del(kv_ptr self, bool fwd, const std::string& key) {
  return apply_command(self, raft::fsm::kv_command::del(key),
                       [=](kv_promise rp) -> forward_fn {
                         if (!fwd)
                           return {};
                         return forward_as(self, rp, kv_del_atom_v, key);
                       });
}

kv_promise cas(kv_ptr self, bool fwd, const std::string& key,
               bool has_expected, const std::string& expected,
               const std::string& value) {
  std::optional<std::string> exp;
  if (has_expected)
    exp = expected;
  return apply_command(self, raft::fsm::kv_command::cas(key, exp, value),
                       [=](kv_promise rp) -> forward_fn {
                         if (!fwd)
                           return {};
                         return forward_as(self, rp, kv_cas_atom_v, key,
                                           has_expected, expected, value);
                       });
}

kv_service_actor::behavior_type kv_service(kv_ptr self,
                                           kv_service_options opts) {
  self->state.opts = std::move(opts);
  self->send(self, timer_atom_v);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  using str = const std::string&;
  return {
    [=](kv_put_atom, str key, str value) { return put(self, true, key, value); },
    [=](kv_fwd_atom, kv_put_atom, str key, str value) {
      return put(self, false, key, value);
    },
    [=](kv_del_atom, str key) { return del(self, true, key); },
    [=](kv_fwd_atom, kv_del_atom, str key) { return del(self, false, key); },
    [=](kv_cas_atom, str key, bool has_expected, str expected, str value) {
      return cas(self, true, key, has_expected, expected, value);
    },
    [=](kv_fwd_atom, kv_cas_atom, str key, bool has_expected, str expected,
        str value) {
      return cas(self, false, key, has_expected, expected, value);
    },
    [=](kv_get_atom, str key, bool stale) {
      return get(self, true, key, stale);
    },
    [=](kv_fwd_atom, kv_get_atom, str key, bool stale) {
      return get(self, false, key, stale);
    },
    [=](change_atom, const configuration_change& ch) {
      return change(self, true, ch);
    },
    [=](kv_fwd_atom, change_atom, const configuration_change& ch) {
      return change(self, false, ch);
    },
    [=](change_atom, const configuration_change& ch, str client) {
      return add(self, true, ch, client);
    },
    [=](kv_fwd_atom, change_atom, const configuration_change& ch,
        str client) { return add(self, false, ch, client); },
    [=](transfer_atom, str id) { return transfer(self, true, id); },
    [=](kv_fwd_atom, transfer_atom, str id) {
      return transfer(self, false, id);
    },
    [=](leader_atom) { return leader(self); },
    [=](stats_atom) { return stats(self); },
    [=](kv_health_atom) { return health(self); },
    [=](get_config_atom) { return get_config(self); },
    [=](snapshot_atom) { return snapshot(self); },
    [=](kv_snapshot_read_atom, open_atom) { return snapshot_to_save(self); },
    [=](kv_snapshot_read_atom, const std::string& id, uint64_t offset) {
      return read_snapshot(self, id, offset);
    },
    [=](kv_restore_atom, open_atom) { return restore_open(self); },
    [=](kv_restore_atom, str token, uint64_t offset, str chunk) {
      return restore_chunk(self, token, offset, chunk);
    },
    [=](kv_restore_atom, commit_atom, str token, uint64_t size,
        uint32_t crc) { return restore_commit(self, token, size, crc); },
    [=](timer_atom) { refresh_addresses(self); },
  };
}

} // namespace

kv_service_actor spawn_kv_service(caf::actor_system& sys,
                                  kv_service_options opts) {
  return sys.spawn(kv_service, std::move(opts));
}

} // namespace raft
