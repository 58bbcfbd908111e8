#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "caf-raft/actors/engine.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf-raft/fsm/kv/kv_fsm.hpp"
#include "caf-raft/fsm/kv/kv_messages.hpp"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace raft {

class cluster_identity;

/// The key-value FSM of the worker now running. Each worker start gets a
/// fresh FSM (entries are applied once per incarnation of the state), so
/// readers ask here for the current one instead of keeping a pointer.
class kv_fsm_slot {
public:
  void set(std::shared_ptr<raft::fsm::kv_fsm> x) {
    std::lock_guard<std::mutex> guard{mtx_};
    fsm_ = std::move(x);
  }

  std::shared_ptr<raft::fsm::kv_fsm> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return fsm_;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<raft::fsm::kv_fsm> fsm_;
};

/// The most a `kv_snapshot_read_atom` answers at once.
constexpr size_t snapshot_read_chunk = 1024 * 1024;

/// Keys under this prefix are raftd's own records: clients may read them,
/// never write them.
constexpr const char* reserved_prefix = "_raftd/";

/// Where raftd records the client address of a server added at run time
/// ("_raftd/client/<id>"); the record goes when the server is removed.
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
  /// The node's state folder (`<data-dir>/raft`), whose size `stats_atom`
  /// reports; may be empty.
  std::string state_dir;
  /// The raft transport, asked for its links in `stats_atom`; may be null.
  net_transport_actor transport;
  /// The cluster's id, shown in `stats_atom` as `cluster_id`; may be null.
  std::shared_ptr<cluster_identity> cluster;
  /// A server with more committed entries than this not yet applied is
  /// unhealthy (`kv_health_atom`).
  uint64_t health_max_lag = 1000;
  /// Keys or values larger than this are refused before replication.
  size_t max_value_size = 1024 * 1024;
  /// Bounds each request to the node (an apply covers the whole commit).
  std::chrono::milliseconds request_timeout{10000};
  /// How often the raft addresses of the configuration are refreshed.
  std::chrono::milliseconds refresh_interval{2000};
  std::shared_ptr<spdlog::logger> logger;
};

/// The client-facing service of raftd, which raftd publishes over TLS.
/// Every request answers a value or a raft error whose text says what to do.
///
/// One redirect path: a follower forwards the leader-only requests (put,
/// del, cas, linearizable get, membership changes, transfer) to the
/// leader's service, prefixed with `kv_fwd_atom` so that they are never
/// forwarded twice. If it cannot (no leader, the leader's client address
/// unknown or unreachable), the request fails with `not_leader` naming the
/// leader and its client address. Clients do not redirect themselves.
using kv_service_actor = caf::typed_actor<
  // Oversized keys or values fail with `too_large` before replication.
  caf::replies_to<kv_put_atom, std::string, std::string>::with<raft::fsm::kv_result>,
  caf::replies_to<kv_del_atom, std::string>::with<raft::fsm::kv_result>,
  // (key, has_expected, expected, value): the FSM's compare-and-swap.
  caf::replies_to<kv_cas_atom, std::string, bool, std::string,
                  std::string>::with<raft::fsm::kv_result>,
  // (key, stale): linearizable through ReadIndex on the leader (then read
  // from the leader's FSM) unless `stale`, which reads this node's FSM;
  // `index` is the applied index.
  caf::replies_to<kv_get_atom, std::string, bool>::with<raft::fsm::kv_result>,
  // A membership change; with a client address, it is recorded first.
  caf::replies_to<change_atom, configuration_change>::with<index_t>,
  caf::replies_to<change_atom, configuration_change,
                  std::string>::with<index_t>,
  caf::replies_to<transfer_atom, std::string>::with<bool>,
  // The same, forwarded by a follower.
  caf::replies_to<kv_fwd_atom, kv_put_atom, std::string,
                  std::string>::with<raft::fsm::kv_result>,
  caf::replies_to<kv_fwd_atom, kv_del_atom, std::string>::with<raft::fsm::kv_result>,
  caf::replies_to<kv_fwd_atom, kv_cas_atom, std::string, bool, std::string,
                  std::string>::with<raft::fsm::kv_result>,
  caf::replies_to<kv_fwd_atom, kv_get_atom, std::string,
                  bool>::with<raft::fsm::kv_result>,
  caf::replies_to<kv_fwd_atom, change_atom,
                  configuration_change>::with<index_t>,
  caf::replies_to<kv_fwd_atom, change_atom, configuration_change,
                  std::string>::with<index_t>,
  caf::replies_to<kv_fwd_atom, transfer_atom, std::string>::with<bool>,
  // The leader, its address being its *client* address ("" if unknown).
  caf::replies_to<leader_atom>::with<leader_info>,
  // The node's stats plus `id`, `client_address`, `leader_id`,
  // `leader_client`, `version` (with the git revision), `db_size_bytes`
  // (the state folder: log database and snapshots), and from the transport `peers_connected` and
  // `link.<id>` ("connected", "connecting", "down: <why>"); a node whose
  // worker is not running answers `state` = "Unavailable" and `error`.
  caf::replies_to<stats_atom>::with<stats_map>,
  // Whether this server is fit to serve (apps/raftd/health.hpp): `healthy`,
  // `reason`, `leader_id`, `behind`, ...; what /health and `raftctl endpoint
  // health` show.
  caf::replies_to<kv_health_atom>::with<stats_map>,
  // (configuration, index, client addresses by id).
  caf::replies_to<get_config_atom>::with<configuration, index_t, stats_map>,
  caf::replies_to<snapshot_atom>::with<snapshot_meta>,
  // A snapshot to save (`raftctl snapshot save`), leader only: after a
  // read point, so it holds every write acknowledged before the request;
  // one taken now, or the newest stored if nothing was applied since it.
  caf::replies_to<kv_snapshot_read_atom, open_atom>::with<snapshot_meta>,
  // (id, offset): up to `snapshot_read_chunk` bytes of the state of
  // snapshot `id` from `offset` on (`raftctl snapshot save`); empty past
  // its end. A string, not `bytes`: CAF 0.17 has a type ID for the one and
  // not for the other, and only typed values cross the network.
  caf::replies_to<kv_snapshot_read_atom, std::string,
                  uint64_t>::with<std::string>,
  // A restore streamed by `raftctl snapshot restore` (HashiCorp's Restore
  // through the leader; leader only, a follower's error names the leader's
  // client address). Opening answers the upload's token.
  caf::replies_to<kv_restore_atom, open_atom>::with<std::string>,
  // (token, offset, chunk): appends a chunk; answers the next offset.
  caf::replies_to<kv_restore_atom, std::string, uint64_t,
                  std::string>::with<uint64_t>,
  // (token, size, CRC-32C): ends the upload; every server's FSM is restored
  // to it (one log entry, at most max_entry_size) and the client addresses
  // of the current members are written again over the saved ones; answers
  // the restore entry's index.
  caf::replies_to<kv_restore_atom, commit_atom, std::string, uint64_t,
                  uint32_t>::with<index_t>,
  // Internal: refreshes the transport's addresses from the configuration.
  caf::reacts_to<timer_atom>>;

/// Spawns the service (`kv_service_actor`).
kv_service_actor spawn_kv_service(caf::actor_system& sys,
                                  kv_service_options opts);

} // namespace raft
