#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "caf-raft/config/node_process_config.hpp"
#include "caf-raft/config/tls_settings.hpp"
#include "caf/error.hpp"

namespace raft {

/// The settings of one raftd node, read by CAF from a config file
/// (`--config-file=raftd.ini`, CAF's INI format, section `[global]`) and
/// from flags (`--id=a`), flags winning. `validate` turns them into the
/// resolved fields at the bottom and names the setting at fault. The CAF
/// scheduler and middleman defaults are `node_process_config`'s.
class node_config : public node_process_config {
public:
  node_config();

  // -- settings as given (strings as written) ---------------------------------

  /// This server's id (letters, digits, '.', '_', '-'); its certificate
  /// must name it.
  std::string id;
  /// Where the node keeps its state (`<data-dir>/raft`).
  std::string data_dir;
  /// The raft endpoint: "host:port" to listen on.
  std::string listen;
  /// The raft address other servers use to reach this one (default:
  /// `listen`).
  std::string advertise;
  /// The endpoint of the key-value/admin service raftctl talks to.
  std::string client_listen;
  /// The other servers' raft addresses: "id=host:port,id=host:port".
  std::string peers;
  /// The other servers' client addresses: "id=host:port,...".
  std::string peer_clients;
  /// TLS material: a folder holding ca.pem, <id>.pem and <id>.key (as
  /// scripts/make-certs.sh writes it), or the three files one by one
  /// (which win over the folder).
  std::string tls_dir;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  /// Plain TCP without authentication (loopback demos only).
  bool insecure = false;
  /// "host:port" of the Prometheus endpoint; empty disables it.
  std::string metrics;
  /// On a data dir without any state: write the initial configuration
  /// (this server and every peer as voters) before starting. Give every
  /// founding server the same peers; servers joining later start without
  /// it and are added with `raftctl add-voter`.
  bool bootstrap = false;
  /// Mixed into the cluster id a bootstrap makes (as etcd's
  /// initial-cluster-token): clusters bootstrapped with the same members
  /// but another token refuse each other.
  std::string cluster_token = "caf-raft";
  /// Raft timeouts in milliseconds (0 keeps the library's defaults).
  size_t election_timeout_ms = 0;
  size_t heartbeat_timeout_ms = 0;
  size_t leader_lease_timeout_ms = 0;
  /// Snapshot settings (0 keeps HashiCorp's: 8192 entries, checked every
  /// 120 s, 10240 entries kept after a snapshot).
  size_t snapshot_threshold = 0;
  size_t snapshot_interval_ms = 0;
  size_t trailing_logs = 0;
  /// How long without leader contact before the worker restarts (0: 60 s).
  size_t no_leader_timeout_ms = 0;
  /// How often that is checked (0: 10 s).
  size_t no_leader_check_interval_ms = 0;
  /// /health answers 503 once more committed entries than this wait to be
  /// applied here.
  size_t health_max_lag = 1000;
  /// Values (and keys) larger than this are refused before replication.
  size_t max_value_size = 1024 * 1024;
  /// spdlog level: trace, debug, info, warn, error.
  std::string log_level = "info";
  /// "text" (for people) or "json" (one object per line); times in UTC.
  std::string log_format = "text";

  // -- resolved by validate ---------------------------------------------------

  tls_settings tls;
  /// Raft addresses by id, including this server (its advertised address).
  std::map<std::string, std::string> raft_addresses;
  /// Client addresses by id, including this server.
  std::map<std::string, std::string> client_addresses;
  std::string listen_host;
  uint16_t listen_port = 0;
  std::string client_host;
  uint16_t client_port = 0;
  std::string metrics_host_port;

  /// Checks every setting and fills the resolved fields. The error reads
  /// "setting '<name>': <what is wrong>; <what to do>".
  caf::error validate();
};

/// Parses "id=host:port,id=host:port" (spaces ignored); the error names
/// `setting` and the bad element.
caf::expected<std::map<std::string, std::string>>
parse_address_map(const std::string& text, const std::string& setting);

/// True if `id` is a valid server id (non-empty, letters, digits, '.', '_',
/// '-': the ids make-certs.sh accepts).
bool valid_server_id(const std::string& id);

} // namespace raft
