#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "actors/engine.hpp"
#include "actors/messages.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "fsm/kv/kv_fsm.hpp"
#include "fsm/kv/kv_messages.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

/// The key-value FSM of the worker now running. Each worker start gets a
/// fresh FSM (entries are applied once per incarnation of the state), so
/// readers ask here for the current one instead of keeping a pointer.
class kv_fsm_slot {
public:
  void set(std::shared_ptr<fsm::kv_fsm> x) {
    std::lock_guard<std::mutex> guard{mtx_};
    fsm_ = std::move(x);
  }

  std::shared_ptr<fsm::kv_fsm> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return fsm_;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<fsm::kv_fsm> fsm_;
};

/// Reserved key prefix under which raftd records client addresses of
/// servers added at run time ("_raftd/client/<id>").
constexpr const char* client_address_prefix = "_raftd/client/";

/// What `spawn_kv_service` needs.
struct kv_service_options {
  std::string local_id;
  /// The engine running the worker, and the manifold's name in it.
  engine_actor engine;
  std::string manifold = "raft";
  std::shared_ptr<kv_fsm_slot> fsm;
  /// Client addresses by server id, from the node's settings.
  std::map<std::string, std::string> client_addresses;
  /// Called with (id, raft address) of every server the service learns of
  /// (configurations, add-voter), so the transport can reach it.
  std::function<void(const std::string&, const std::string&)> learn_address;
  /// The raft transport, asked for its links in `stats_atom`; may be null.
  net_transport_actor transport;
  /// Keys or values larger than this are refused before replication.
  size_t max_value_size = 1024 * 1024;
  /// Bounds each request to the node (an apply covers the whole commit).
  std::chrono::milliseconds request_timeout{10000};
  /// How often the raft addresses of the configuration are refreshed.
  std::chrono::milliseconds refresh_interval{2000};
  std::shared_ptr<spdlog::logger> logger;
};

/// Spawns the client-facing service of raftd, which raftd publishes over
/// TLS. An untyped actor (clients in other processes hold a plain handle);
/// every request answers a value or a raft error whose text says what to do:
///
/// - `(kv_put_atom, key, value)`, `(kv_del_atom, key)`,
///   `(kv_cas_atom, key, has_expected, expected, value)` → `fsm::kv_result`;
///   oversized keys/values fail with `too_large` before any replication.
///
/// A follower forwards the leader-only requests (put, del, cas, linearizable
/// get, membership changes, transfer) to the leader's service, prefixed
/// with `kv_fwd_atom` so they are never forwarded twice; if it cannot (no
/// leader, the leader's client address unknown or unreachable) it fails
/// with `not_leader` naming the leader, and clients may ask `leader_atom`
/// and retry there.
/// - `(kv_get_atom, key, stale)` → `fsm::kv_result` (`found`, `value`,
///   `revision`, `index` = applied index): linearizable through ReadIndex on
///   the leader (then read from the leader's FSM) unless `stale`, which
///   reads this node's FSM.
/// - `(leader_atom)` → `leader_info` whose address is the leader's *client*
///   address ("" if unknown).
/// - `(stats_atom)` → the node's stats plus `id`, `client_address`,
///   `leader_id`, `leader_client`, and from the transport `peers_connected`
///   and `link.<id>` ("connected", "connecting", "down: <why>"); a node whose worker is not running
///   answers `state` = "Unavailable" and `error`.
/// - `(get_config_atom)` → (configuration, index, client addresses by id).
/// - `(change_atom, configuration_change)` → index;
///   `(change_atom, configuration_change, client_address)` also records the
///   new server's client address in the store.
/// - `(transfer_atom, id)` → bool; `(snapshot_atom)` → `snapshot_meta`.
caf::actor spawn_kv_service(caf::actor_system& sys, kv_service_options opts);

} // namespace raft
