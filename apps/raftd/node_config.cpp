#include "caf-raft/apps/raftd/node_config.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>

#include "caf-raft/actors/transport/address_provider.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/text.hpp"
#include "caf/config_option_adder.hpp"

namespace raft {

namespace {

caf::error bad(const std::string& setting, const std::string& what) {
  return make_error(errc::not_valid, "setting '" + setting + "': " + what);
}

caf::error check_endpoint(const std::string& setting, const std::string& value,
                          std::string& host, uint16_t& port) {
  if (value.empty())
    return bad(setting, "missing; set it to host:port, e.g. 127.0.0.1:7001");
  auto hp = split_host_port(value);
  if (!hp)
    return bad(setting, describe(hp.error()) + "; use host:port");
  host = hp->first;
  port = hp->second;
  return caf::none;
}

caf::error check_readable(const std::string& setting, const std::string& path) {
  if (path.empty())
    return bad(setting, "missing; give --" + setting
                          + " (or --tls-dir holding ca.pem, <id>.pem, "
                            "<id>.key from scripts/make-certs.sh), or run "
                            "with --insecure on a trusted loopback");
  std::ifstream in{path};
  if (!in)
    return bad(setting, "cannot read " + path
                          + "; check the path and its permissions");
  return caf::none;
}

} // namespace

bool valid_server_id(const std::string& id) {
  if (id.empty())
    return false;
  for (auto c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
          || c == '-'))
      return false;
  return true;
}

caf::expected<std::map<std::string, std::string>>
parse_address_map(const std::string& text, const std::string& setting) {
  std::map<std::string, std::string> result;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    auto item = trim(text.substr(pos, comma == std::string::npos
                                        ? std::string::npos
                                        : comma - pos));
    pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (item.empty())
      continue;
    auto eq = item.find('=');
    if (eq == std::string::npos)
      return bad(setting, "'" + item + "' lacks '='; write id=host:port");
    auto id = trim(item.substr(0, eq));
    auto addr = trim(item.substr(eq + 1));
    if (!valid_server_id(id))
      return bad(setting, "'" + id
                            + "' is not a server id (letters, digits, '.', "
                              "'_', '-')");
    if (auto hp = split_host_port(addr); !hp)
      return bad(setting, "address of " + id + ": " + describe(hp.error()));
    if (!result.emplace(id, addr).second)
      return bad(setting, "server " + id + " given twice");
  }
  return result;
}

node_config::node_config() {
  opt_group{custom_options_, "global"}
    .add(id, "id", "this server's id (its certificate must name it)")
    .add(data_dir, "data-dir", "folder of this node's state")
    .add(listen, "listen", "raft endpoint host:port")
    .add(advertise, "advertise", "raft address others use (default: listen)")
    .add(client_listen, "client-listen",
         "endpoint of the service raftctl talks to, host:port")
    .add(peers, "peers", "other servers' raft addresses: id=host:port,...")
    .add(peer_clients, "peer-clients",
         "other servers' client addresses: id=host:port,...")
    .add(tls_dir, "tls-dir", "folder with ca.pem, <id>.pem, <id>.key")
    .add(tls_cert, "tls-cert", "this server's certificate (PEM)")
    .add(tls_key, "tls-key", "this server's private key (PEM)")
    .add(tls_ca, "tls-ca", "the cluster CA certificate (PEM)")
    .add(insecure, "insecure", "plain TCP, no authentication (demos only)")
    .add(metrics, "metrics", "Prometheus endpoint host:port (empty: off)")
    .add(bootstrap, "bootstrap",
         "on an empty data dir, start a cluster of this server and its peers")
    .add(cluster_token, "cluster-token",
         "mixed into the id of a cluster bootstrapped (same on its founders)")
    .add(election_timeout_ms, "election-timeout-ms", "raft election timeout")
    .add(heartbeat_timeout_ms, "heartbeat-timeout-ms",
         "raft heartbeat timeout")
    .add(leader_lease_timeout_ms, "leader-lease-timeout-ms",
         "raft leader lease timeout")
    .add(snapshot_threshold, "snapshot-threshold",
         "entries applied before a snapshot is taken (0: 8192)")
    .add(snapshot_interval_ms, "snapshot-interval-ms",
         "how often to check whether a snapshot is due (0: 120000)")
    .add(trailing_logs, "trailing-logs",
         "entries kept in the log after a snapshot (0: 10240)")
    .add(no_leader_timeout_ms, "no-leader-timeout-ms",
         "restart the worker after this long without a leader")
    .add(no_leader_check_interval_ms, "no-leader-check-interval-ms",
         "how often the no-leader timeout is checked")
    .add(max_value_size, "max-value-size", "largest key or value in bytes")
    .add(health_max_lag, "health-max-lag",
         "/health fails once more committed entries wait to be applied")
    .add(log_level, "log-level", "trace, debug, info, warn or error")
    .add(log_format, "log-format",
         "text, or json (one object per line); times in UTC");
}

caf::error node_config::validate() {
  if (id.empty())
    return bad("id", "missing; give this server's id, e.g. --id=a");
  if (!valid_server_id(id))
    return bad("id", "'" + id
                       + "' may only hold letters, digits, '.', '_' and '-'");
  if (data_dir.empty())
    return bad("data-dir", "missing; give the folder for this node's state");
  {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec)
      return bad("data-dir", "cannot create " + data_dir + ": " + ec.message());
  }
  if (auto err = check_endpoint("listen", listen, listen_host, listen_port))
    return err;
  if (!advertise.empty()) {
    std::string h;
    uint16_t p = 0;
    if (auto err = check_endpoint("advertise", advertise, h, p))
      return err;
  } else if (listen_host.empty() || listen_host == "0.0.0.0"
             || listen_host == "::") {
    return bad("advertise", "missing while listen binds every interface; "
                            "give the address others reach this server at");
  }
  if (auto err = check_endpoint("client-listen", client_listen, client_host,
                                client_port))
    return err;
  if (listen_port != 0 && listen_port == client_port && listen_host == client_host)
    return bad("client-listen", "same endpoint as listen; use another port");
  auto raft_peers = parse_address_map(peers, "peers");
  if (!raft_peers)
    return std::move(raft_peers.error());
  auto client_peers = parse_address_map(peer_clients, "peer-clients");
  if (!client_peers)
    return std::move(client_peers.error());
  if (raft_peers->count(id) != 0)
    return bad("peers", "lists this server (" + id
                          + "); list only the other servers");
  for (auto& kvp : *client_peers)
    if (kvp.first != id && raft_peers->count(kvp.first) == 0)
      return bad("peer-clients", "server " + kvp.first
                                   + " is not in 'peers'; add its raft "
                                     "address there");
  raft_addresses = std::move(*raft_peers);
  raft_addresses[id] = advertise.empty() ? listen : advertise;
  client_addresses = std::move(*client_peers);
  client_addresses[id] = client_listen;
  if (bootstrap && raft_addresses.size() > 1)
    for (auto& kvp : raft_addresses)
      if (client_addresses.count(kvp.first) == 0)
        return bad("peer-clients", "no client address for " + kvp.first
                                     + "; raftctl needs it to follow the "
                                       "leader (id=host:port)");
  if (!metrics.empty()) {
    std::string h;
    uint16_t p = 0;
    if (auto err = check_endpoint("metrics", metrics, h, p))
      return err;
    metrics_host_port = metrics;
  }
  if (max_value_size == 0)
    return bad("max-value-size", "must be at least 1 byte");
  if (log_level != "trace" && log_level != "debug" && log_level != "info"
      && log_level != "warn" && log_level != "error")
    return bad("log-level", "'" + log_level
                              + "' unknown; use trace, debug, info, warn or "
                                "error");
  if (log_format != "text" && log_format != "json")
    return bad("log-format", "'" + log_format + "' unknown; use text or json");
  if (heartbeat_timeout_ms != 0 && election_timeout_ms != 0
      && election_timeout_ms < heartbeat_timeout_ms)
    return bad("election-timeout-ms",
               "below heartbeat-timeout-ms; raise it or lower the other");
  tls = tls_settings{};
  tls.insecure = insecure;
  if (!insecure) {
    auto pick = [&](const std::string& given, const std::string& file) {
      if (!given.empty() || tls_dir.empty())
        return given;
      return tls_dir + "/" + file;
    };
    tls.certificate = pick(tls_cert, id + ".pem");
    tls.key = pick(tls_key, id + ".key");
    tls.cafile = pick(tls_ca, "ca.pem");
    if (auto err = check_readable("tls-cert", tls.certificate))
      return err;
    if (auto err = check_readable("tls-key", tls.key))
      return err;
    if (auto err = check_readable("tls-ca", tls.cafile))
      return err;
  }
  return caf::none;
}

} // namespace raft
