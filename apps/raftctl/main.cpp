// raftctl: the operator's CLI for raftd clusters.
//
// Online commands talk to a raftd's client service over mutual TLS (with a
// client certificate made by scripts/make-certs.sh, e.g. for "admin");
// a follower forwards leader-only commands to the leader's service itself.
// Offline commands (inspect, recover) work on a stopped server's data dir.
//
// Exit codes: 0 ok, 1 error, 2 usage.

#include <unistd.h>

#include <iomanip>
#include <set>
#include <string_view>
#include <thread>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/actors/transport/net_client.hpp"
#include "caf-raft/apps/raftd/kv_service.hpp"
#include "caf-raft/apps/raftd/snapshot_file.hpp"
#include "caf-raft/bootstrap/inspect.hpp"
#include "caf-raft/bootstrap/recover.hpp"
#include "caf-raft/bootstrap/seed_snapshot.hpp"
#include "caf-raft/config/text.hpp"
#include "caf-raft/config/version.hpp"
#include "caf-raft/fsm/kv/kv_fsm.hpp"
#include "caf-raft/fsm/kv/kv_messages.hpp"
#include "caf-raft/storage/crc.hpp"
#include "caf-raft/storage/span_reader.hpp"
#include <openssl/evp.h>
#include "caf-raft/actors/transport/address_provider.hpp"
#include "caf-raft/apps/raftd/node_config.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf-raft/config/tls_settings.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"


using namespace raft;
using json = nlohmann::json;

namespace {

const char* usage_text = R"(usage: raftctl [options] <command> [args]

options:
  --addr HOST:PORT[,HOST:PORT...]
                       client address of a raftd; with several, the first
                       that answers (default: $RAFTCTL_ADDR)
  --endpoints LIST     the same as --addr with several addresses
  --tls-dir DIR        folder with ca.pem and <name>.pem/.key (make-certs.sh;
                       default: $RAFTCTL_TLS_DIR)
  --name NAME          certificate name inside --tls-dir (default: admin,
                       or $RAFTCTL_NAME)
  --cert F --key F --ca F   the TLS files one by one (default:
                       $RAFTCTL_CERT, $RAFTCTL_KEY, $RAFTCTL_CACERT)
  --insecure           plain TCP (only against raftd --insecure)
  --timeout SECONDS    per request (default: 15)
  --json               machine-readable output

  --version            the versions of raftctl, CAF, SQLite and OpenSSL

online commands:
  status [--cluster]                 one node, or every server as a table
  endpoint health                    every server's health; exit 1 if any
                                     is unhealthy or unreachable
  put KEY (VALUE | --file F)
  get KEY [--stale]                  linearizable unless --stale
  cas KEY (--expect OLD | --absent) NEW
  delete KEY
  config                             the cluster's configuration
  add-voter ID RAFT_ADDR [CLIENT_ADDR]
  add-nonvoter ID RAFT_ADDR [CLIENT_ADDR]
  demote ID
  remove ID
  transfer-leadership [ID]
  snapshot                           take one now
  snapshot save FILE                 take one and copy it into FILE (backup)

offline commands (raftd stopped):
  version                            as --version
  snapshot restore FILE              every server's state replaced by FILE's
                                     (through the leader)
  snapshot restore FILE --data-dir DIR --id ID --raft-address ADDR
                                     seed an empty data dir from FILE: a new
                                     one-server cluster (rebuild a lost one)
  snapshot status FILE               what a saved snapshot holds, checked
  inspect DATA_DIR
  recover DATA_DIR --config ID=RAFT_ADDR,...   force the membership (backstop)
)";

/// A usage error: exit code 2.
struct usage_error {
  std::string what;
};

/// A failure: exit code 1. `kind` names the raft error ("not_leader",
/// "timeout", ...) for --json output.
struct failure {
  std::string what;
  std::string kind = "error";
};

struct options {
  bool json = false;
  std::string addr;
  std::string tls_dir;
  std::string name = "admin";
  std::string cert, key, ca;
  bool insecure = false;
  int timeout_s = 15;
  std::string command;
  std::vector<std::string> args;
};

/// Settings from the environment (flags win), as etcdctl's ETCDCTL_*.
void read_environment(options& o) {
  auto env = [](const char* name, std::string& out) {
    if (auto v = std::getenv(name); v != nullptr && *v != '\0')
      out = v;
  };
  env("RAFTCTL_ADDR", o.addr);
  env("RAFTCTL_ENDPOINTS", o.addr);
  env("RAFTCTL_TLS_DIR", o.tls_dir);
  env("RAFTCTL_NAME", o.name);
  env("RAFTCTL_CERT", o.cert);
  env("RAFTCTL_KEY", o.key);
  env("RAFTCTL_CACERT", o.ca);
}

options parse_args(int argc, char** argv) {
  options o;
  read_environment(o);
  int i = 1;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= argc)
      throw usage_error{flag + " needs a value"};
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (!o.command.empty()) {
      o.args.push_back(a);
      continue;
    }
    if (a == "--json")
      o.json = true;
    else if (a == "--addr" || a == "--endpoints")
      o.addr = value(a);
    else if (a == "--tls-dir")
      o.tls_dir = value(a);
    else if (a == "--name")
      o.name = value(a);
    else if (a == "--cert")
      o.cert = value(a);
    else if (a == "--key")
      o.key = value(a);
    else if (a == "--ca")
      o.ca = value(a);
    else if (a == "--insecure")
      o.insecure = true;
    else if (a == "--timeout") {
      auto v = value(a);
      try {
        o.timeout_s = std::stoi(v);
      } catch (...) {
        throw usage_error{"--timeout needs a number of seconds, not '" + v
                          + "'"};
      }
      if (o.timeout_s <= 0)
        throw usage_error{"--timeout must be positive"};
    } else if (a == "-h" || a == "--help") {
      std::cout << usage_text;
      std::exit(0);
    } else if (a == "--version") {
      std::cout << version_text("raftctl");
      std::exit(0);
    } else if (a.size() > 1 && a[0] == '-')
      throw usage_error{"unknown option " + a};
    else
      o.command = a;
  }
  if (o.command.empty())
    throw usage_error{"no command given"};
  return o;
}

/// Takes `flag` out of `args`; true if it was there.
bool take_flag(std::vector<std::string>& args, const std::string& flag) {
  auto i = std::find(args.begin(), args.end(), flag);
  if (i == args.end())
    return false;
  args.erase(i);
  return true;
}

/// Takes `flag VALUE` out of `args`.
std::optional<std::string> take_option(std::vector<std::string>& args,
                                       const std::string& flag) {
  auto i = std::find(args.begin(), args.end(), flag);
  if (i == args.end())
    return std::nullopt;
  if (i + 1 == args.end())
    throw usage_error{flag + " needs a value"};
  auto v = *(i + 1);
  args.erase(i, i + 2);
  return v;
}

void expect_args(const options& o, const std::vector<std::string>& args,
                 size_t min, size_t max, const std::string& form) {
  if (args.size() < min || args.size() > max)
    throw usage_error{"usage: raftctl " + o.command + " " + form};
  for (auto& a : args)
    if (a.size() > 2 && a[0] == '-' && a[1] == '-')
      throw usage_error{"unknown option " + a + " for " + o.command
                        + "; usage: raftctl " + o.command + " " + form};
}

// -- output ------------------------------------------------------------------

/// Prints rows as columns aligned to their widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c)
        width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size())
        line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

std::string config_servers(const configuration& conf) {
  std::string s;
  for (auto& x : conf.servers)
    s += (s.empty() ? "" : ", ") + x.id + " (" + to_string(x.suffrage) + ", "
         + x.address + ")";
  return s;
}

json config_json(const configuration& conf) {
  auto arr = json::array();
  for (auto& x : conf.servers)
    arr.push_back({{"id", x.id},
                   {"suffrage", to_string(x.suffrage)},
                   {"address", x.address}});
  return arr;
}

// -- the session with one or more raftd ----------------------------------------

struct ctl_config : caf::actor_system_config {
  ctl_config() {
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
    register_types(*this);
    register_kv_types(*this);
  }
};

class session {
public:
  session(const options& o) : opts_(o) {
    tls_settings tls;
    tls.insecure = o.insecure;
    if (!o.insecure) {
      auto pick = [&](const std::string& given, const std::string& file) {
        return !given.empty() || o.tls_dir.empty() ? given
                                                   : o.tls_dir + "/" + file;
      };
      tls.certificate = pick(o.cert, o.name + ".pem");
      tls.key = pick(o.key, o.name + ".key");
      tls.cafile = pick(o.ca, "ca.pem");
      if (tls.certificate.empty() || tls.key.empty() || tls.cafile.empty())
        throw usage_error{"no TLS material: give --tls-dir DIR (with ca.pem, "
                          + o.name + ".pem, " + o.name
                          + ".key from scripts/make-certs.sh DIR " + o.name
                          + ") or --cert/--key/--ca, or --insecure"};
    }
    if (auto err = configure_network(cfg_, tls))
      throw failure{describe(err)};
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
  }

  ~session() {
    self_.reset();
    handles_.clear();
  }

  caf::timespan timeout() const {
    return std::chrono::seconds{opts_.timeout_s};
  }

  /// With several endpoints (`--endpoints a,b,c`), the first that answers
  /// becomes the one every command talks to.
  caf::error choose_endpoint() {
    std::vector<std::string> list;
    std::stringstream in{opts_.addr};
    for (std::string ep; std::getline(in, ep, ',');)
      if (!ep.empty())
        list.push_back(ep);
    if (list.size() <= 1)
      return {};
    std::string why;
    for (auto& ep : list) {
      auto h = connect(ep);
      if (h) {
        opts_.addr = ep;
        return {};
      }
      why += "; " + ep + ": " + describe(h.error());
    }
    return make_error(errc::unknown_peer, "no endpoint answers" + why);
  }

  /// The service at `addr`, connecting once.
  caf::expected<kv_service_actor> connect(const std::string& addr) {
    auto i = handles_.find(addr);
    if (i != handles_.end())
      return i->second;
    auto hp = split_host_port(addr);
    if (!hp)
      return make_error(errc::not_valid, "bad address '" + addr
                                           + "': use host:port");
    // The client port always speaks TLS (anonymous with --insecure). The
    // timeout bounds the whole connection, dial and handshakes included.
    auto h = connect_published(*sys_, hp->first, hp->second, true,
                               std::chrono::seconds{opts_.timeout_s});
    if (!h)
      return std::move(h.error());
    auto service = caf::actor_cast<kv_service_actor>(*h);
    handles_.emplace(addr, service);
    return service;
  }

  /// Sends `xs` to the service at `addr`; `on_ok` takes the answer.
  template <class F, class... Ts>
  caf::error ask(const std::string& addr, F on_ok, const Ts&... xs) {
    // One --timeout bounds the whole exchange with a server: connecting
    // (dial, TLS, handshake) and the request.
    auto start = std::chrono::steady_clock::now();
    auto h = connect(addr);
    if (!h)
      return std::move(h.error());
    auto left = timeout() - (std::chrono::steady_clock::now() - start);
    if (left < std::chrono::milliseconds{100})
      left = std::chrono::milliseconds{100};
    caf::error result;
    (*self_)
      ->request(*h, std::chrono::duration_cast<caf::timespan>(left), xs...)
      .receive(on_ok, [&](caf::error& err) { result = std::move(err); });
    if (result == caf::sec::request_timeout)
      return make_error(errc::timeout,
                        "no answer from " + addr + " within "
                          + std::to_string(opts_.timeout_s)
                          + " s: the outcome is unknown; check and retry");
    return result;
  }

  /// As `ask`, at the server of `--addr`. A follower forwards what only
  /// the leader can do (the service's one redirect path), so the client
  /// never redirects itself.
  template <class F, class... Ts>
  caf::error ask_cluster(F on_ok, const Ts&... xs) {
    return ask(opts_.addr, on_ok, xs...);
  }

  const options& opts() const {
    return opts_;
  }

private:
  options opts_;
  ctl_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::map<std::string, kv_service_actor> handles_;
};

void check(const caf::error& err) {
  if (!err)
    return;
  auto kind = err.category() == caf::atom("raft")
                ? to_string(static_cast<errc>(err.code()))
                : std::string{"error"};
  // A stable token for scripts: "unknown peer" -> "unknown_peer".
  std::replace(kind.begin(), kind.end(), ' ', '_');
  throw failure{describe(err), kind};
}

/// Whether `s` is valid UTF-8 (JSON strings must be).
bool is_utf8(const std::string& s) {
  try {
    (void) json(s).dump();
    return true;
  } catch (json::type_error&) {
    return false;
  }
}

std::string base64(const std::string& s) {
  static constexpr char abc[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : s) {
    acc = (acc << 8) | c;
    for (bits += 8; bits >= 6; bits -= 6)
      out += abc[(acc >> (bits - 6)) & 63];
  }
  if (bits > 0)
    out += abc[(acc << (6 - bits)) & 63];
  while (out.size() % 4 != 0)
    out += '=';
  return out;
}

/// Sets `j[name]` to `s`, or, if `s` is not UTF-8, to null and
/// `j[name + "_base64"]` to its base64: a script never gets output that
/// fails to parse (or a failure after a write that happened).
void set_text(json& j, const std::string& name, const std::string& s) {
  if (is_utf8(s)) {
    j[name] = s;
    return;
  }
  j[name] = nullptr;
  j[name + "_base64"] = base64(s);
}

/// A stats map as JSON, numbers as numbers. Ids stay strings whatever they
/// hold (Juju's server ids are digits), so a field's type never depends on
/// its value.
json typed_json(const stats_map& m) {
  static const std::set<std::string> text_keys{"id", "leader_id", "leader",
                                               "suffrage", "cluster_id"};
  json j = json::object();
  for (auto& [k, v] : m) {
    if (k == "removed") {
      j[k] = v == "true";
      continue;
    }
    bool digits = text_keys.count(k) == 0 && k.rfind("link.", 0) != 0
                  && !v.empty() && v.size() < 20
                  && v.find_first_not_of("0123456789") == std::string::npos;
    if (digits)
      j[k] = std::stoull(v);
    else
      set_text(j, k, v);
  }
  return j;
}

// -- online commands -------------------------------------------------------------

const std::vector<std::string> status_order
  = {"id",           "state",  "removed",  "term",          "leader_id",
     "leader_client", "commit_index",  "applied_index", "last_log_index",
     "last_log_term", "last_contact",  "first_log_index",
     "last_snapshot_index", "last_snapshot_term", "latest_configuration",
     "latest_configuration_index", "num_peers", "client_address",
     "cluster_id", "error"};

/// The cluster's configuration as the server at --addr knows it: the
/// servers, the index of the configuration entry and each server's client
/// address.
struct fetched_config {
  configuration conf;
  index_t index = 0;
  stats_map clients;
};

fetched_config fetch_config(session& s) {
  fetched_config out;
  check(s.ask(
    s.opts().addr,
    [&](configuration& c, index_t i, stats_map& cl) {
      out.conf = std::move(c);
      out.index = i;
      out.clients = std::move(cl);
    },
    get_config_atom_v));
  return out;
}

/// One server's stats as a table (or JSON).
int status_one(session& s) {
  auto& o = s.opts();
  stats_map m;
  check(s.ask(o.addr, [&](stats_map& x) { m = std::move(x); }, stats_atom_v));
  if (o.json) {
    auto j = typed_json(m);
    // The configuration as an array, beside the stats' one-line text
    // (absent while the worker does not run).
    configuration conf;
    if (!s.ask(o.addr,
               [&](configuration& c, index_t, stats_map&) {
                 conf = std::move(c);
               },
               get_config_atom_v))
      j["configuration"] = config_json(conf);
    std::cout << j.dump(2) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& k : status_order)
    if (auto i = m.find(k); i != m.end())
      rows.push_back({k, i->second});
  for (auto& [k, v] : m)
    if (std::find(status_order.begin(), status_order.end(), k)
        == status_order.end())
      rows.push_back({k, v});
  print_table(rows);
  if (m.count("removed"))
    std::cout << "\nthis server was removed from the cluster: it does not "
                 "campaign and waits for a leader to add it again "
                 "(raftctl add-voter), or stop it\n";
  return 0;
}

/// A size in bytes for people ("812 KiB").
std::string human_bytes(const std::string& text) {
  uint64_t n = 0;
  try {
    n = std::stoull(text);
  } catch (...) {
    return "-";
  }
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double x = static_cast<double>(n);
  int u = 0;
  for (; x >= 1024 && u < 4; ++u)
    x /= 1024;
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", x,
                units[u]);
  return buf;
}

/// What one member of the configuration answered.
struct member_status {
  server srv;
  std::string client;
  stats_map stats; // empty if unreachable
  caf::error error;

  std::string get(const char* key) const {
    auto i = stats.find(key);
    return i == stats.end() ? std::string{"-"} : i->second;
  }
};

/// How many entries `m` has yet to apply of those the leader committed.
std::string behind(const member_status& m, const std::string& leader_commit) {
  try {
    auto commit = std::stoull(leader_commit);
    auto applied = std::stoull(m.get("applied_index"));
    return std::to_string(commit > applied ? commit - applied : 0);
  } catch (...) {
    return "-";
  }
}

/// Every member of the configuration as a table (or JSON): its role, how
/// far it trails the leader, its database size and version. Exit code 1 if
/// any member is unreachable.
int status_cluster(session& s) {
  auto& o = s.opts();
  auto [conf, idx, clients] = fetch_config(s);
  std::vector<member_status> members;
  std::string leader_commit = "-";
  for (auto& srv : conf.servers) {
    member_status m{srv, clients.count(srv.id) ? clients[srv.id] : "", {}, {}};
    if (m.client.empty())
      m.error = make_error(errc::unknown_peer, "client address unknown");
    else
      m.error = s.ask(m.client, [&](stats_map& x) { m.stats = std::move(x); },
                      stats_atom_v);
    if (!m.error && m.get("state") == "Leader")
      leader_commit = m.get("commit_index");
    members.push_back(std::move(m));
  }
  std::vector<std::vector<std::string>> rows{
    {"ID", "SUFFRAGE", "ROLE", "TERM", "APPLIED", "BEHIND", "LAST CONTACT",
     "DB SIZE", "VERSION", "CLIENT ADDRESS"}};
  auto arr = json::array();
  int unreachable = 0;
  for (auto& m : members) {
    auto suffrage = to_string(m.srv.suffrage);
    if (m.error) {
      ++unreachable;
      rows.push_back({m.srv.id, suffrage, "unreachable", "-", "-", "-", "-",
                      "-", "-", m.client.empty() ? "?" : m.client});
      arr.push_back({{"id", m.srv.id},
                     {"suffrage", suffrage},
                     {"reachable", false},
                     {"error", describe(m.error)},
                     {"client_address", m.client}});
      continue;
    }
    auto lag = behind(m, leader_commit);
    rows.push_back({m.srv.id, suffrage, m.get("state"), m.get("term"),
                    m.get("applied_index"), lag, m.get("last_contact"),
                    human_bytes(m.get("db_size_bytes")), m.get("version"),
                    m.client});
    json j = typed_json(m.stats);
    j["suffrage"] = suffrage;
    j["reachable"] = true;
    j["behind"] = lag == "-" ? json(nullptr) : json(std::stoull(lag));
    arr.push_back(j);
  }
  if (o.json) {
    std::cout << json{{"configuration_index", idx},
                      {"servers", arr},
                      {"unreachable", unreachable}}
                   .dump(2)
              << '\n';
  } else {
    print_table(rows);
    if (unreachable > 0)
      std::cout << unreachable << " of " << conf.servers.size()
                << " servers unreachable (is raftd running there?)\n";
  }
  return unreachable > 0 ? 1 : 0;
}

/// `endpoint health`: every member's health report (apps/raftd/health.hpp),
/// as etcdctl's. Exit code 1 if any is unhealthy or unreachable.
int cmd_endpoint(session& s, std::vector<std::string> args) {
  auto& o = s.opts();
  expect_args(o, args, 1, 1, "health");
  if (args[0] != "health")
    throw usage_error{"unknown endpoint command '" + args[0]
                      + "': use 'endpoint health'"};
  auto [conf, idx, clients] = fetch_config(s);
  std::vector<std::vector<std::string>> rows{
    {"ID", "HEALTHY", "BEHIND", "CLIENT ADDRESS", "REASON"}};
  auto arr = json::array();
  int bad = 0;
  for (auto& srv : conf.servers) {
    auto client = clients.count(srv.id) ? clients[srv.id] : std::string{};
    stats_map m;
    caf::error err = client.empty()
                       ? make_error(errc::unknown_peer,
                                    "client address unknown")
                       : s.ask(client, [&](stats_map& x) { m = std::move(x); },
                               kv_health_atom_v);
    if (err)
      m = {{"healthy", "false"}, {"reason", "unreachable: " + describe(err)}};
    auto healthy = m["healthy"] == "true";
    bad += healthy ? 0 : 1;
    auto behind = m.count("behind") ? m["behind"] : std::string{"-"};
    rows.push_back({srv.id, healthy ? "yes" : "NO", behind,
                    client.empty() ? "?" : client, m["reason"]});
    json j = typed_json(m);
    j["id"] = srv.id;
    j["healthy"] = healthy;
    j["client_address"] = client;
    arr.push_back(j);
  }
  if (o.json)
    std::cout << json{{"healthy", bad == 0}, {"servers", arr}}.dump(2)
              << '\n';
  else
    print_table(rows);
  return bad == 0 ? 0 : 1;
}

int cmd_status(session& s, std::vector<std::string> args) {
  bool cluster = take_flag(args, "--cluster");
  expect_args(s.opts(), args, 0, 0, "[--cluster]");
  return cluster ? status_cluster(s) : status_one(s);
}

void print_result(const options& o, const std::string& op,
                  const std::string& key, const raft::fsm::kv_result& r) {
  if (o.json) {
    json j{{"op", op},
           {"ok", r.ok},
           {"found", r.found},
           {"revision", r.revision},
           {"index", r.index}};
    set_text(j, "key", key);
    set_text(j, "value", r.value);
    std::cout << j.dump() << '\n';
    return;
  }
  if (op == "get") {
    std::cout << r.value << '\n';
  } else if (op == "put") {
    std::cout << "OK (index " << r.index << ")\n";
  } else if (op == "delete") {
    std::cout << (r.ok ? "deleted" : "no such key") << " (index " << r.index
              << ")\n";
  } else if (op == "cas") {
    if (r.ok)
      std::cout << "swapped (index " << r.index << ")\n";
    else if (r.found)
      std::cerr << "raftctl: not swapped: '" << key << "' holds '" << r.value
                << "' (revision " << r.revision << ")\n";
    else
      std::cerr << "raftctl: not swapped: '" << key << "' does not exist\n";
  }
}

int cmd_kv(session& s, std::vector<std::string> args) {
  auto& o = s.opts();
  raft::fsm::kv_result r;
  auto keep = [&](raft::fsm::kv_result& x) { r = std::move(x); };
  if (o.command == "put") {
    if (auto file = take_option(args, "--file")) {
      // Values too large for a command line.
      std::ifstream in{*file, std::ios::binary};
      if (!in)
        throw failure{"cannot read " + *file};
      std::ostringstream buf;
      buf << in.rdbuf();
      args.push_back(buf.str());
    }
    expect_args(o, args, 2, 2, "KEY (VALUE | --file F)");
    check(s.ask_cluster(keep, kv_put_atom_v, args[0], args[1]));
    print_result(o, "put", args[0], r);
    return 0;
  }
  if (o.command == "get") {
    bool stale = take_flag(args, "--stale");
    expect_args(o, args, 1, 1, "KEY [--stale]");
    if (stale)
      check(s.ask(o.addr, keep, kv_get_atom_v, args[0], true));
    else
      check(s.ask_cluster(keep, kv_get_atom_v, args[0], false));
    if (!r.found) {
      if (o.json)
        print_result(o, "get", args[0], r);
      else
        std::cerr << "raftctl: key '" << args[0] << "' not found\n";
      return 1;
    }
    print_result(o, "get", args[0], r);
    return 0;
  }
  if (o.command == "delete") {
    expect_args(o, args, 1, 1, "KEY");
    check(s.ask_cluster(keep, kv_del_atom_v, args[0]));
    print_result(o, "delete", args[0], r);
    return 0;
  }
  // cas
  auto form = std::string{"KEY (--expect OLD | --absent) NEW"};
  auto expected = take_option(args, "--expect");
  bool absent = take_flag(args, "--absent");
  if (expected.has_value() == absent)
    throw usage_error{"usage: raftctl cas " + form};
  expect_args(o, args, 2, 2, form);
  check(s.ask_cluster(keep, kv_cas_atom_v, args[0], !absent,
                     expected.value_or(""), args[1]));
  print_result(o, "cas", args[0], r);
  return r.ok ? 0 : 1;
}

int cmd_config(session& s, std::vector<std::string> args) {
  auto& o = s.opts();
  expect_args(o, args, 0, 0, "");
  auto [conf, idx, clients] = fetch_config(s);
  if (o.json) {
    auto j = config_json(conf);
    for (auto& x : j)
      x["client_address"] = clients.count(x["id"]) ? clients[x["id"]] : "";
    std::cout << json{{"index", idx}, {"servers", j}}.dump(2) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
    {"ID", "SUFFRAGE", "RAFT ADDRESS", "CLIENT ADDRESS"}};
  for (auto& x : conf.servers)
    rows.push_back({x.id, to_string(x.suffrage), x.address,
                    clients.count(x.id) ? clients[x.id] : "?"});
  print_table(rows);
  std::cout << "(configuration at index " << idx << ")\n";
  return 0;
}

int cmd_change(session& s, std::vector<std::string> args) {
  auto& o = s.opts();
  configuration_change ch;
  std::string client;
  if (o.command == "add-voter" || o.command == "add-nonvoter") {
    expect_args(o, args, 2, 3, "ID RAFT_ADDR [CLIENT_ADDR]");
    ch.kind = o.command == "add-voter" ? change_kind::add_voter
                                       : change_kind::add_nonvoter;
    ch.id = args[0];
    ch.address = args[1];
    if (!valid_server_id(ch.id))
      throw usage_error{"'" + ch.id + "' is not a server id"};
    if (auto hp = split_host_port(ch.address); !hp)
      throw usage_error{"RAFT_ADDR: " + describe(hp.error())};
    if (args.size() == 3) {
      client = args[2];
      if (auto hp = split_host_port(client); !hp)
        throw usage_error{"CLIENT_ADDR: " + describe(hp.error())};
    }
  } else {
    expect_args(o, args, 1, 1, "ID");
    ch.kind = o.command == "demote" ? change_kind::demote_voter
                                    : change_kind::remove_server;
    ch.id = args[0];
  }
  index_t idx = 0;
  auto keep = [&](index_t i) { idx = i; };
  if (client.empty())
    check(s.ask_cluster(keep, change_atom_v, ch));
  else
    check(s.ask_cluster(keep, change_atom_v, ch, client));
  if (o.json)
    std::cout << json{{"op", o.command}, {"id", ch.id}, {"index", idx}}.dump()
              << '\n';
  else
    std::cout << o.command << " " << ch.id << ": committed at index " << idx
              << '\n';
  return 0;
}

int cmd_transfer(session& s, std::vector<std::string> args) {
  auto& o = s.opts();
  expect_args(o, args, 0, 1, "[ID]");
  std::string target = args.empty() ? std::string{} : args[0];
  leader_info before;
  s.ask(o.addr, [&](leader_info& x) { before = std::move(x); }, leader_atom_v);
  bool ok = false;
  check(s.ask_cluster([&](bool x) { ok = x; }, transfer_atom_v, target));
  // Who leads now: the server asked learns it from the new leader's first
  // heartbeat, so ask until it names someone else (a few heartbeats).
  leader_info li;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  do {
    li = {};
    s.ask(o.addr, [&](leader_info& x) { li = std::move(x); }, leader_atom_v);
    if (!ok || (!li.id.empty() && li.id != before.id))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  } while (std::chrono::steady_clock::now() < deadline);
  if (o.json)
    std::cout << json{{"transferred", ok}, {"leader", li.id}}.dump() << '\n';
  else
    std::cout << (ok ? "leadership transferred" : "leadership not transferred")
              << (li.id.empty() ? std::string{} : "; leader: " + li.id)
              << '\n';
  return ok ? 0 : 1;
}

/// The leader as the server asked names it: its id, and the client
/// address to stream a backup or a restore to (the server asked if it
/// leads or the address is unknown).
leader_info leader_for_streams(session& s) {
  auto& o = s.opts();
  leader_info li;
  check(s.ask(o.addr, [&](leader_info& x) { li = std::move(x); },
              leader_atom_v));
  if (li.address.empty())
    li.address = o.addr;
  return li;
}

/// `snapshot save FILE`: a snapshot taken now on the leader (after a read
/// point: it holds every write acknowledged before), copied into FILE with
/// its metadata, checked against its CRC-64 before FILE takes its name.
int cmd_snapshot_save(session& s, const std::string& path) {
  auto& o = s.opts();
  auto target = leader_for_streams(s).address;
  snapshot_file f;
  check(s.ask(target, [&](snapshot_meta& x) { f.meta = std::move(x); },
              kv_snapshot_read_atom_v, open_atom_v));
  while (f.state.size() < f.meta.size) {
    std::string chunk;
    check(s.ask(target, [&](std::string& x) { chunk = std::move(x); },
                kv_snapshot_read_atom_v, f.meta.id,
                uint64_t{f.state.size()}));
    if (chunk.empty())
      throw failure{"snapshot " + f.meta.id + " ended after "
                    + std::to_string(f.state.size()) + " of "
                    + std::to_string(f.meta.size) + " bytes: save again"};
    f.state.insert(f.state.end(), chunk.begin(), chunk.end());
  }
  check(write_snapshot_file(path, f));
  if (o.json)
    std::cout << json{{"file", path},        {"id", f.meta.id},
                      {"index", f.meta.index}, {"term", f.meta.term},
                      {"size", f.meta.size}, {"crc", f.meta.crc}}
                   .dump()
              << '\n';
  else
    std::cout << "saved snapshot " << f.meta.id << " (index " << f.meta.index
              << ", term " << f.meta.term << ", " << f.meta.size
              << " bytes) to " << path << '\n';
  return 0;
}

/// A digest of the state's keys and values (SHA-256, first 16 bytes in
/// hex), independent of revisions and encoding: equal on servers, and in
/// saved files, that hold the same data.
std::string state_hash(const raft::fsm::kv_fsm& state) {
  auto ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (auto& [k, e] : state.items()) {
    uint64_t sizes[2] = {k.size(), e.value.size()};
    EVP_DigestUpdate(ctx, sizes, sizeof(sizes));
    EVP_DigestUpdate(ctx, k.data(), k.size());
    EVP_DigestUpdate(ctx, e.value.data(), e.value.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return to_hex(md, 16);
}

/// `snapshot status FILE` (offline): what a saved snapshot holds, checked.
int cmd_snapshot_status(const options& o, std::vector<std::string> args) {
  expect_args(o, args, 2, 2, "status FILE");
  auto f = read_snapshot_file(args[1]);
  if (!f)
    check(f.error());
  raft::fsm::kv_fsm state;
  span_reader in{f->state};
  check(state.restore(in));
  std::ostringstream crc;
  crc << std::hex << std::setw(16) << std::setfill('0') << f->meta.crc;
  std::string servers;
  for (auto& srv : f->meta.configuration.servers)
    servers += (servers.empty() ? "" : ",") + srv.id;
  if (o.json) {
    std::cout << json{{"file", args[1]},          {"id", f->meta.id},
                      {"index", f->meta.index},   {"term", f->meta.term},
                      {"size", f->meta.size},     {"crc", crc.str()},
                      {"keys", state.size()},     {"servers", servers},
                      {"state_hash", state_hash(state)}}
                   .dump(2)
              << '\n';
    return 0;
  }
  print_table({{"file", args[1]},
               {"id", f->meta.id},
               {"index", std::to_string(f->meta.index)},
               {"term", std::to_string(f->meta.term)},
               {"size", std::to_string(f->meta.size) + " bytes"},
               {"crc64", crc.str() + " (checked)"},
               {"keys", std::to_string(state.size())},
               {"state hash", state_hash(state)},
               {"servers", servers}});
  return 0;
}

std::string offline_error(const caf::error& err, const std::string& dir);

/// Bytes per chunk of an online restore.
constexpr size_t restore_chunk_size = 1024 * 1024;

/// `snapshot restore FILE` (online): every server's state replaced by the
/// file's, through the leader (HashiCorp's Restore). The server asked
/// names the leader; the upload goes there.
int cmd_snapshot_restore(session& s, const std::string& path) {
  auto& o = s.opts();
  auto f = read_snapshot_file(path);
  if (!f)
    check(f.error());
  auto li = leader_for_streams(s);
  auto target = li.address;
  std::string token;
  check(s.ask(target, [&](std::string& t) { token = std::move(t); },
              kv_restore_atom_v, open_atom_v));
  auto& state = f->state;
  crc32c crc;
  crc.process_bytes(state.data(), state.size());
  uint64_t offset = 0;
  while (offset < state.size()) {
    auto n = std::min(restore_chunk_size, state.size() - offset);
    std::string chunk(state.begin() + offset, state.begin() + offset + n);
    check(s.ask(target, [&](uint64_t next) { offset = next; },
                kv_restore_atom_v, token, offset, chunk));
  }
  index_t idx = 0;
  check(s.ask(target, [&](index_t x) { idx = x; }, kv_restore_atom_v,
              commit_atom_v, token, uint64_t{state.size()}, crc.checksum()));
  if (o.json)
    std::cout << json{{"file", path},          {"id", f->meta.id},
                      {"index", f->meta.index}, {"term", f->meta.term},
                      {"restore_index", idx},   {"leader", li.id}}
                   .dump()
              << '\n';
  else
    std::cout << "restored snapshot " << f->meta.id << " (index "
              << f->meta.index << ", term " << f->meta.term << ", "
              << state.size() << " bytes) through leader "
              << (li.id.empty() ? target : li.id) << " as entry " << idx
              << "; every server applies it\n";
  return 0;
}

/// The saved KV state without raftd's client address records (they
/// describe the old cluster's members), plus `id`'s own if given.
bytes without_old_records(const bytes& state, const std::string& id,
                          const std::string& client) {
  raft::fsm::kv_fsm::map_type map;
  index_t applied = 0;
  check(raft::fsm::kv_fsm::decode_snapshot(state, map, applied));
  for (auto i = map.lower_bound(client_address_prefix);
       i != map.end() && i->first.rfind(client_address_prefix, 0) == 0;)
    i = map.erase(i);
  if (!client.empty())
    map[client_address_prefix + id] = raft::fsm::kv_fsm::entry{client, applied};
  return raft::fsm::kv_fsm::encode_snapshot(map, applied);
}

/// `snapshot restore FILE --data-dir DIR --id ID --raft-address ADDR`
/// (offline, etcdutl's restore): an empty data dir seeded from the file as
/// a new one-server cluster, to rebuild a lost cluster; the others join it.
int cmd_snapshot_restore_offline(const options& o,
                                 std::vector<std::string> args) {
  auto form = std::string{"restore FILE --data-dir DIR --id ID --raft-address "
                          "HOST:PORT [--client-address HOST:PORT] "
                          "[--cluster-token T]"};
  auto dir = take_option(args, "--data-dir");
  auto id = take_option(args, "--id");
  auto addr = take_option(args, "--raft-address");
  auto client = take_option(args, "--client-address").value_or("");
  auto token = take_option(args, "--cluster-token").value_or("caf-raft");
  if (!dir || !id || !addr)
    throw usage_error{"usage: raftctl snapshot " + form};
  expect_args(o, args, 2, 2, form);
  auto f = read_snapshot_file(args[1]);
  if (!f)
    check(f.error());
  configuration conf;
  conf.servers.push_back(server{suffrage::voter, *id, *addr});
  auto state_dir = *dir + "/raft";
  auto id_path = state_dir + "/" + cluster_id_file;
  if (std::filesystem::exists(id_path))
    throw failure{*dir + " already holds a cluster id (" + id_path
                  + "): restore into an empty data dir"};
  // A new cluster: the old one's members, if any survive, refuse it. The
  // id goes first, so no seeded folder is ever without one.
  auto cluster = cluster_identity::derive(
    token + "/restored/" + f->meta.id + "/"
      + tls_identity::random_bytes(16),
    {{*id, *addr}});
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  check(cluster_identity::write(id_path, cluster));
  if (auto err = seed_from_snapshot(state_dir, f->meta.index, f->meta.term,
                                    conf,
                                    without_old_records(f->state, *id,
                                                        client))) {
    // Not seeded: the id file did not exist before; it goes again.
    std::filesystem::remove(id_path, ec);
    throw failure{offline_error(err, *dir)};
  }
  if (o.json) {
    std::cout << json{{"data_dir", *dir},      {"id", *id},
                      {"index", f->meta.index}, {"term", f->meta.term},
                      {"cluster_id", cluster}}
                   .dump()
              << '\n';
    return 0;
  }
  std::cout << "restored snapshot " << f->meta.id << " (index "
            << f->meta.index << ") into " << *dir
            << " as a new one-server cluster " << cluster << " of " << *id
            << " at " << *addr << "\nnext: start raftd --id " << *id
            << " --data-dir " << *dir
            << " (without --bootstrap), then add each other server with an "
               "empty data dir: raftctl add-voter ID RAFT_ADDR CLIENT_ADDR\n";
  return 0;
}

int cmd_snapshot(session& s, std::vector<std::string> args) {
  auto& o = s.opts();
  if (!args.empty() && args[0] == "save") {
    expect_args(o, args, 2, 2, "save FILE");
    return cmd_snapshot_save(s, args[1]);
  }
  if (!args.empty() && args[0] == "restore") {
    expect_args(o, args, 2, 2, "restore FILE");
    return cmd_snapshot_restore(s, args[1]);
  }
  expect_args(o, args, 0, 0, "[save FILE | restore FILE | status FILE]");
  snapshot_meta m;
  check(s.ask(o.addr, [&](snapshot_meta& x) { m = std::move(x); },
              snapshot_atom_v));
  if (o.json)
    std::cout << json{{"id", m.id},     {"index", m.index}, {"term", m.term},
                      {"size", m.size}, {"crc", m.crc}}
                   .dump()
              << '\n';
  else
    std::cout << "snapshot " << m.id << ": index " << m.index << ", term "
              << m.term << ", " << m.size << " bytes\n";
  return 0;
}

// -- offline commands -------------------------------------------------------------

/// raftd keeps its state in <data-dir>/raft; accept either folder.
std::string store_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path{dir} / "raft") && !fs::exists(fs::path{dir} / "logs"))
    return (fs::path{dir} / "raft").string();
  return dir;
}

std::string offline_error(const caf::error& err, const std::string& dir) {
  if (is(err, errc::not_found))
    return describe(err) + " (is " + dir + " a raftd --data-dir?)";
  return describe(err);
}

int cmd_inspect(const options& o, std::vector<std::string> args) {
  expect_args(o, args, 1, 1, "DATA_DIR");
  auto dir = store_dir(args[0]);
  auto info = inspect_data_dir(dir);
  if (!info)
    throw failure{offline_error(info.error(), args[0])};
  if (o.json) {
    json j{{"dir", info->dir},
           {"first_index", info->first_index},
           {"last_index", info->last_index},
           {"last_term", info->last_term},
           {"current_term", info->current_term},
           {"voted_for", info->voted_for},
           {"last_vote_term", info->last_vote_term},
           {"commit_index", info->commit_index},
           {"problems", info->problems}};
    auto cs = json::array();
    for (auto& c : info->configurations)
      cs.push_back({{"index", c.index},
                    {"term", c.term},
                    {"servers", config_json(c.servers)}});
    j["configurations"] = cs;
    auto ss = json::array();
    for (auto& sn : info->snapshots)
      ss.push_back({{"id", sn.id},
                    {"term", sn.term},
                    {"index", sn.index},
                    {"size", sn.size},
                    {"crc_ok", sn.crc_ok},
                    {"error", sn.error},
                    {"configuration_index", sn.configuration_index},
                    {"servers", config_json(sn.servers)}});
    j["snapshots"] = ss;
    std::cout << j.dump(2) << '\n';
    return info->problems.empty() ? 0 : 1;
  }
  print_table({{"data dir", info->dir},
               {"log", info->last_index == 0
                         ? std::string{"empty"}
                         : std::to_string(info->first_index) + " .. "
                             + std::to_string(info->last_index)
                             + " (last term "
                             + std::to_string(info->last_term) + ")"},
               {"current term", std::to_string(info->current_term)},
               {"voted for", info->voted_for.empty()
                               ? std::string{"-"}
                               : info->voted_for + " (term "
                                   + std::to_string(info->last_vote_term)
                                   + ")"},
               {"commit index", std::to_string(info->commit_index)}});
  std::cout << "\nconfiguration entries:\n";
  std::vector<std::vector<std::string>> rows{{"  INDEX", "TERM", "SERVERS"}};
  for (auto& c : info->configurations)
    rows.push_back({"  " + std::to_string(c.index), std::to_string(c.term),
                    config_servers(c.servers)});
  print_table(rows);
  std::cout << "\nsnapshots:\n";
  rows = {{"  ID", "TERM", "INDEX", "SIZE", "CRC", "CONFIGURATION"}};
  for (auto& sn : info->snapshots)
    rows.push_back({"  " + sn.id, std::to_string(sn.term),
                    std::to_string(sn.index), std::to_string(sn.size),
                    sn.crc_ok ? "ok" : "BAD: " + sn.error,
                    config_servers(sn.servers)});
  if (info->snapshots.empty())
    rows.push_back({"  (none)"});
  print_table(rows);
  if (!info->problems.empty()) {
    std::cout << "\nproblems:\n";
    for (auto& p : info->problems)
      std::cout << "  " << p << '\n';
    return 1;
  }
  return 0;
}

int cmd_recover(const options& o, std::vector<std::string> args) {
  auto form = std::string{"DATA_DIR --config ID=RAFT_ADDR,..."};
  auto spec = take_option(args, "--config");
  if (!spec)
    throw usage_error{"usage: raftctl recover " + form};
  expect_args(o, args, 1, 1, form);
  auto map = parse_address_map(*spec, "--config");
  if (!map)
    throw usage_error{describe(map.error())};
  if (map->empty())
    throw usage_error{"--config names no server; usage: raftctl recover "
                      + form};
  configuration conf;
  for (auto& [id, addr] : *map)
    conf.servers.push_back(server{suffrage::voter, id, addr});
  auto res = recover(store_dir(args[0]), conf);
  if (!res)
    throw failure{offline_error(res.error(), args[0])};
  if (o.json) {
    std::cout << json{{"appended", res->appended},
                      {"index", res->index},
                      {"term", res->term},
                      {"previous", config_json(res->previous)},
                      {"previous_index", res->previous_index}}
                   .dump(2)
              << '\n';
    return 0;
  }
  if (res->appended)
    std::cout << "recovered: configuration " << config_servers(conf)
              << " written at index " << res->index << ", term " << res->term
              << "\n(was: " << config_servers(res->previous)
              << ")\nstart raftd on this data dir; the survivors elect a "
                 "leader among themselves\n";
  else
    std::cout << "nothing to do: the latest configuration (index "
              << res->index << ") already is " << config_servers(conf)
              << '\n';
  return 0;
}

int dispatch(const options& o) {
  auto& c = o.command;
  if (c == "version") {
    if (o.json)
      std::cout << json(build_info()).dump(2) << '\n';
    else
      std::cout << version_text("raftctl");
    return 0;
  }
  if (c == "inspect")
    return cmd_inspect(o, o.args);
  if (c == "recover")
    return cmd_recover(o, o.args);
  if (c == "snapshot" && !o.args.empty() && o.args[0] == "status")
    return cmd_snapshot_status(o, o.args);
  if (c == "snapshot" && !o.args.empty() && o.args[0] == "restore"
      && std::find(o.args.begin(), o.args.end(), "--data-dir") != o.args.end())
    return cmd_snapshot_restore_offline(o, o.args);
  static const std::vector<std::string> online
    = {"status", "endpoint", "put", "get", "cas", "delete",
       "config", "add-voter", "add-nonvoter", "demote", "remove",
       "transfer-leadership", "snapshot"};
  if (std::find(online.begin(), online.end(), c) == online.end())
    throw usage_error{"unknown command '" + c + "'"};
  if (o.addr.empty())
    throw usage_error{"no server: give --addr HOST:PORT (a raftd's "
                      "client-listen) or set RAFTCTL_ADDR"};
  session s{o};
  check(s.choose_endpoint());
  if (c == "status")
    return cmd_status(s, o.args);
  if (c == "endpoint")
    return cmd_endpoint(s, o.args);
  if (c == "put" || c == "get" || c == "cas" || c == "delete")
    return cmd_kv(s, o.args);
  if (c == "config")
    return cmd_config(s, o.args);
  if (c == "transfer-leadership")
    return cmd_transfer(s, o.args);
  if (c == "snapshot")
    return cmd_snapshot(s, o.args);
  return cmd_change(s, o.args);
}

} // namespace

/// Reports an error and answers the exit code: a sentence on stderr, or
/// with --json an object on stdout, `{"error": {"kind", "message",
/// "exit_code"}}`, so a script parses every outcome the same way.
int report(bool as_json, const std::string& kind, const std::string& what,
           int code) {
  if (as_json) {
    json e{{"kind", kind}, {"exit_code", code}};
    set_text(e, "message", what);
    std::cout << json{{"error", e}}.dump() << '\n';
  } else {
    std::cerr << "raftctl: " << what
              << (code == 2 ? "\n(raftctl --help for usage)\n" : "\n");
  }
  return code;
}

int main(int argc, char** argv) {
  bool as_json = false;
  for (int i = 1; i < argc; ++i)
    as_json = as_json || std::string_view{argv[i]} == "--json";
  try {
    auto o = parse_args(argc, argv);
    return dispatch(o);
  } catch (usage_error& e) {
    return report(as_json, "usage", e.what, 2);
  } catch (failure& e) {
    return report(as_json, e.kind, e.what, 1);
  } catch (std::exception& e) {
    return report(as_json, "error", e.what(), 1);
  }
}
