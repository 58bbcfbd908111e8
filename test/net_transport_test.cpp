#define BOOST_TEST_MODULE net_transport
// The network transport on real threads: every server has its own actor
// system (its own openssl settings, its own middleman) on loopback ports
// chosen by the OS, and runs a real raft node with in-memory stores. The
// TLS material is made at run time by scripts/make-certs.sh into a temp
// dir: a cluster CA with certificates for a, b, c, and a second CA.
//
// The test thread never sleeps to wait: it polls with short request
// timeouts in loops bounded by a deadline.

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/transport/cluster_identity.hpp"
#include "caf-raft/actors/transport/net_protocol.hpp"
#include "caf-raft/actors/transport/net_tls.hpp"
#include "caf-raft/actors/transport/net_transport.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/tls_identity.hpp"
#include "caf-raft/config/tls_settings.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/inmem_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "eventually.hpp"

using namespace raft;
using namespace std::chrono_literals;
using raft::test::eventually;

namespace {

using clock_type = std::chrono::steady_clock;

// -- TLS material --------------------------------------------------------------

/// Certificates for a, b, c under the cluster CA, and for a, b under
/// another CA; made once per run.
struct cert_dirs {
  std::string root;
  std::string cluster;
  std::string other;

  cert_dirs() {
    char tmpl[] = "/tmp/caf-raft-net-XXXXXX";
    auto p = mkdtemp(tmpl);
    if (p == nullptr)
      throw std::runtime_error("mkdtemp failed");
    root = p;
    cluster = root + "/cluster";
    other = root + "/other";
    auto script = std::filesystem::path{__FILE__}.parent_path().parent_path()
                  / "scripts" / "make-certs.sh";
    for (auto& [dir, ids] : {std::pair{cluster,
                                       std::string{"a b c --clients admin"}},
                             std::pair{other, std::string{"a b"}}}) {
      auto cmd = "sh '" + script.string() + "' '" + dir + "' " + ids;
      if (std::system(cmd.c_str()) != 0)
        throw std::runtime_error("make-certs.sh failed: " + cmd);
    }
  }

  ~cert_dirs() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }

  tls_settings tls(const std::string& id, bool other_ca = false) const {
    auto& dir = other_ca ? other : cluster;
    tls_settings t;
    t.certificate = dir + "/" + id + ".pem";
    t.key = dir + "/" + id + ".key";
    t.cafile = dir + "/ca.pem";
    return t;
  }
};

const cert_dirs& certs() {
  static cert_dirs instance;
  return instance;
}

// -- actor systems -------------------------------------------------------------

struct net_config : caf::actor_system_config {
  explicit net_config(const tls_settings& tls) {
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    raft::register_types(*this);
    liveness_settings live;
    live.heartbeat_interval = 200ms;
    live.connection_timeout = 1500ms;
    if (auto err = configure_network(*this, tls, live))
      throw std::runtime_error("configure_network: " + describe(err));
    if (std::getenv("NET_TEST_NOLIVE")) {
      set("middleman.heartbeat-interval", caf::timespan{0});
      set("middleman.connection-timeout", caf::timespan{std::chrono::hours{1}});
    }
  }
};

/// A system with the openssl module but no TLS files: CAF then speaks
/// anonymous TLS and presents no certificate.
struct anonymous_tls_config : caf::actor_system_config {
  anonymous_tls_config() {
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    raft::register_types(*this);
    load<caf::io::middleman>();
    load<caf::openssl::manager>();
  }
};

/// The address book all providers read; filled as transports start.
struct address_book {
  std::mutex mtx;
  std::map<std::string, std::string> map;

  address_provider provider() {
    return [this](const std::string& id) -> caf::expected<std::string> {
      std::lock_guard<std::mutex> guard{mtx};
      auto i = map.find(id);
      if (i == map.end())
        return make_error(errc::unknown_peer, "no address for " + id);
      return i->second;
    };
  }

  void set(const std::string& id, const std::string& addr) {
    std::lock_guard<std::mutex> guard{mtx};
    map[id] = addr;
  }
};

caf::expected<stats_map> stats_of(caf::actor_system& sys,
                                  const net_transport_actor& transport) {
  caf::scoped_actor self{sys};
  caf::expected<stats_map> result{stats_map{}};
  self->request(transport, 2s, net_stats_atom_v)
    .receive([&](stats_map& m) { result = std::move(m); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

uint64_t stat(caf::actor_system& sys, const net_transport_actor& transport,
              const std::string& key) {
  auto m = stats_of(sys, transport);
  if (!m)
    return 0;
  auto i = m->find(key);
  return i == m->end() ? 0 : std::stoull(i->second);
}

/// One server: its actor system, transport and raft node. The store
/// outlives restarts (it stands for the disk).
struct server_proc {
  std::string id;
  std::shared_ptr<inmem_store> store;
  std::shared_ptr<raft::fsm::simple_fsm> fsm;
  std::unique_ptr<net_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  net_transport_actor transport;
  node_actor node;
  uint16_t port = 0;

  void stop() {
    if (!sys)
      return;
    if (node)
      caf::anon_send_exit(node, caf::exit_reason::kill);
    if (transport)
      caf::anon_send_exit(transport, caf::exit_reason::kill);
    node = nullptr;
    transport = nullptr;
    sys.reset(); // waits for its actors, closes its sockets
    cfg.reset();
  }

  ~server_proc() {
    stop();
  }
};

raft_config test_settings() {
  raft_config s;
  s.heartbeat_timeout = 300ms;
  s.election_timeout = 300ms;
  s.leader_lease_timeout = 300ms;
  s.commit_timeout = 10ms;
  return s;
}

std::atomic<int> log_counter{0};

/// Starts `p`'s system and transport (on `port`, 0 = any).
caf::error start_transport(server_proc& p, address_book& book, uint16_t port,
                           const tls_settings& tls,
                           std::shared_ptr<cluster_identity> cluster = {}) {
  p.cfg = std::make_unique<net_config>(tls);
  p.sys = std::make_unique<caf::actor_system>(*p.cfg);
  net_transport_options opts;
  opts.local_id = p.id;
  opts.listen_port = port;
  opts.addresses = book.provider();
  opts.tls = tls;
  opts.min_backoff = 20ms;
  opts.max_backoff = 500ms;
  opts.handshake_timeout = 2s;
  opts.reverse_dial_delay = 200ms;
  opts.max_message_size = 1024 * 1024;
  opts.cluster = std::move(cluster);
  if (std::getenv("NET_TEST_LOG")) {
    auto name = "net-" + p.id + "-" + std::to_string(++log_counter);
    opts.logger = spdlog::stderr_logger_mt(name);
  }
  auto t = spawn_net_transport(*p.sys, std::move(opts));
  if (!t)
    return std::move(t.error());
  p.transport = *t;
  auto m = stats_of(*p.sys, p.transport);
  if (!m)
    return std::move(m.error());
  auto addr = (*m)["local_address"];
  p.port = static_cast<uint16_t>(
    std::stoul(addr.substr(addr.rfind(':') + 1)));
  book.set(p.id, addr);
  return caf::none;
}

void start_node(server_proc& p, uint64_t seed) {
  node_options opts;
  opts.settings = test_settings();
  opts.settings.local_id = p.id;
  opts.settings.random_seed = seed;
  opts.log = p.store;
  opts.stable = p.store;
  opts.fsm = p.fsm;
  opts.transport = p.transport;
  opts.detach_blocking = true;
  p.node = spawn_node(*p.sys, std::move(opts));
}

/// A cluster of servers a, b, c, each in its own actor system.
struct net_cluster {
  address_book book;
  std::vector<std::unique_ptr<server_proc>> procs;
  uint64_t seed;

  explicit net_cluster(std::vector<std::string> ids) {
    seed = std::random_device{}();
    std::cerr << "net_transport_test: seed " << seed << std::endl;
    configuration conf;
    for (auto& id : ids)
      conf.servers.push_back(server{suffrage::voter, id, id});
    for (auto& id : ids) {
      auto p = std::make_unique<server_proc>();
      p->id = id;
      p->store = std::make_shared<inmem_store>();
      if (auto err = bootstrap_cluster(*p->store, *p->store, conf))
        throw std::runtime_error("bootstrap: " + describe(err));
      procs.push_back(std::move(p));
    }
    for (auto& p : procs)
      if (auto err = start_transport(*p, book, 0, certs().tls(p->id)))
        throw std::runtime_error("transport " + p->id + ": " + describe(err));
    for (size_t i = 0; i < procs.size(); ++i)
      start(i);
  }

  ~net_cluster() {
    for (auto& p : procs)
      p->stop();
  }

  void start(size_t i) {
    auto& p = *procs[i];
    p.fsm = std::make_shared<raft::fsm::simple_fsm>();
    start_node(p, seed * 10 + i);
  }

  /// Restarts server `i` on its old port, with its old store.
  caf::error restart(size_t i) {
    auto& p = *procs[i];
    if (auto err = start_transport(p, book, p.port, certs().tls(p.id)))
      return err;
    start(i);
    return caf::none;
  }

  std::optional<role> role_of(size_t i) {
    auto& p = *procs[i];
    if (!p.sys)
      return std::nullopt;
    caf::scoped_actor self{*p.sys};
    std::optional<role> r;
    self->request(p.node, 200ms, state_atom_v)
      .receive([&](role x) { r = x; }, [&](caf::error&) {});
    return r;
  }

  index_t applied(size_t i) {
    auto& p = *procs[i];
    if (!p.sys)
      return 0;
    caf::scoped_actor self{*p.sys};
    index_t r = 0;
    self->request(p.node, 200ms, applied_atom_v)
      .receive([&](index_t x) { r = x; }, [&](caf::error&) {});
    return r;
  }

  /// Waits for a leader among the live servers; its position or -1.
  int wait_leader(clock_type::duration bound = 15s) {
    int found = -1;
    eventually(bound, [&] {
      for (size_t i = 0; i < procs.size(); ++i)
        if (role_of(i) == role::leader) {
          found = static_cast<int>(i);
          return true;
        }
      return false;
    });
    return found;
  }

  /// Applies `n` commands through whichever server leads, retrying on
  /// errors until `bound`; the index of the last one, 0 on failure.
  index_t apply_n(int n, const std::string& prefix,
                  clock_type::duration bound = 20s) {
    auto deadline = clock_type::now() + bound;
    index_t last = 0;
    for (int k = 0; k < n;) {
      if (clock_type::now() >= deadline)
        return 0;
      auto l = wait_leader(deadline - clock_type::now());
      if (l < 0)
        return 0;
      auto& p = *procs[l];
      caf::scoped_actor self{*p.sys};
      auto payload = prefix + std::to_string(k);
      bool ok = false;
      self
        ->request(p.node, 2s, apply_atom_v,
                  bytes(payload.begin(), payload.end()))
        .receive(
          [&](index_t idx, caf::message&) {
            last = idx;
            ok = true;
          },
          [&](caf::error&) {});
      if (ok)
        ++k;
    }
    return last;
  }

  /// Every live server's role and transport counters, for diagnostics.
  std::string dump() {
    std::string out;
    for (size_t i = 0; i < procs.size(); ++i) {
      auto& p = *procs[i];
      if (!p.sys)
        continue;
      auto r = role_of(i);
      out += p.id + " role=" + (r ? to_string(*r) : "?")
             + " applied=" + std::to_string(applied(i));
      if (auto m = stats_of(*p.sys, p.transport))
        for (auto& [k, v] : *m)
          out += " " + k + "=" + v;
      out += "\n";
    }
    return out;
  }

  /// Waits until every live server applied `idx`.
  bool wait_applied(index_t idx, clock_type::duration bound = 15s) {
    return eventually(bound, [&] {
      for (size_t i = 0; i < procs.size(); ++i)
        if (procs[i]->sys && applied(i) < idx)
          return false;
      return true;
    });
  }
};

/// A local actor standing in for a node: counts the RPCs it receives and
/// wakes the test thread for each.
struct probe {
  struct shared {
    std::mutex mtx;
    std::condition_variable cv;
    int received = 0;
    std::vector<std::string> senders;
  };
  std::shared_ptr<shared> sh = std::make_shared<shared>();

  caf::actor spawn(caf::actor_system& sys) {
    auto sh = this->sh;
    auto note = [sh](const std::string& sender) {
      {
        std::lock_guard<std::mutex> guard{sh->mtx};
        sh->senders.push_back(sender);
        ++sh->received;
      }
      sh->cv.notify_all();
    };
    return sys.spawn([note](caf::event_based_actor*) -> caf::behavior {
      return {
        [note](vote_request& x) { note(x.candidate); },
        [note](append_request& x) { note(x.leader); },
      };
    });
  }

  int received() {
    std::lock_guard<std::mutex> guard{sh->mtx};
    return sh->received;
  }

  std::vector<std::string> senders() {
    std::lock_guard<std::mutex> guard{sh->mtx};
    return sh->senders;
  }

  /// Waits until at least `n` RPCs arrived, at most `bound`.
  bool wait_received(int n, clock_type::duration bound) {
    std::unique_lock<std::mutex> guard{sh->mtx};
    return sh->cv.wait_for(guard, bound, [&] { return sh->received >= n; });
  }
};

/// A TCP relay in front of one server, standing in for the network: it
/// forwards bytes both ways until `partition` is set, then forwards nothing
/// (connections stay open but fall silent, as behind a dead switch).
struct tcp_relay {
  int listen_fd = -1;
  uint16_t port = 0;
  uint16_t target = 0;
  std::atomic<bool> partition{false};
  std::atomic<bool> stop{false};
  std::thread thread;

  explicit tcp_relay(uint16_t target_port) : target(target_port) {
    listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
          != 0
        || ::listen(listen_fd, 16) != 0)
      throw std::runtime_error("relay: cannot listen");
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread = std::thread([this] { run(); });
  }

  ~tcp_relay() {
    stop = true;
    thread.join();
    ::close(listen_fd);
  }

  void run() {
    // Pairs of (client, server) sockets.
    std::vector<std::pair<int, int>> pairs;
    while (!stop) {
      std::vector<pollfd> fds;
      fds.push_back({listen_fd, POLLIN, 0});
      bool cut = partition;
      for (auto& [a, b] : pairs) {
        fds.push_back({a, static_cast<short>(cut ? 0 : POLLIN), 0});
        fds.push_back({b, static_cast<short>(cut ? 0 : POLLIN), 0});
      }
      // The timeout only lets the loop see `stop` and `partition`.
      if (::poll(fds.data(), fds.size(), 20) <= 0)
        continue;
      // Only these have entries in `fds`; a pair accepted below waits for
      // the next poll (found by AddressSanitizer).
      auto polled = pairs.size();
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listen_fd, nullptr, nullptr);
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(target);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (c >= 0
            && ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                 == 0) {
          pairs.emplace_back(c, s);
        } else {
          ::close(c);
          ::close(s);
        }
      }
      std::vector<std::pair<int, int>> alive;
      for (size_t i = 0; i < pairs.size(); ++i) {
        auto [a, b] = pairs[i];
        if (i >= polled) {
          alive.emplace_back(a, b);
          continue;
        }
        bool ok = true;
        auto pump = [&](const pollfd& from, int to) {
          if (!(from.revents & (POLLIN | POLLHUP | POLLERR)))
            return;
          char buf[16384];
          auto n = ::recv(from.fd, buf, sizeof(buf), 0);
          if (n <= 0 || ::send(to, buf, n, MSG_NOSIGNAL) != n)
            ok = false;
        };
        pump(fds[1 + 2 * i], b);
        pump(fds[2 + 2 * i], a);
        if (ok) {
          alive.emplace_back(a, b);
        } else {
          ::close(a);
          ::close(b);
        }
      }
      pairs = std::move(alive);
    }
    for (auto& [a, b] : pairs) {
      ::close(a);
      ::close(b);
    }
  }
};

size_t rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6));
  return 0;
}

/// Connects a raw TCP socket to 127.0.0.1:`port`, writes `data`, and reads
/// until the peer closes or 2 s pass; true if the peer closed (or reset)
/// the connection.
bool raw_send(uint16_t port, const std::string& data) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return false;
  }
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  char buf[4096];
  bool closed = false;
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) {
      closed = true;
      break;
    }
    if (n < 0) {
      // A reset (the server closed with our bytes unread) counts as
      // closed; a timeout does not.
      closed = errno == ECONNRESET;
      break;
    }
  }
  ::close(fd);
  return closed;
}

/// As raw_send, inside a TLS session made with `tls` (certificate, key,
/// CA). `handshake_ok` tells whether the server accepted the certificate;
/// true if the server closed the connection.
bool tls_send(uint16_t port, const tls_settings& tls, const std::string& data,
              bool& handshake_ok) {
  handshake_ok = false;
  auto ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_use_certificate_chain_file(ctx, tls.certificate.c_str());
  SSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_load_verify_locations(ctx, tls.cafile.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool closed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    auto ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    // With TLS 1.3 the client learns that its certificate was refused only
    // at its first read; an accepted one is greeted by the server's BASP
    // handshake.
    char buf[4096];
    if (SSL_connect(ssl) == 1 && SSL_read(ssl, buf, sizeof(buf)) > 0) {
      handshake_ok = true;
      if (SSL_write(ssl, data.data(), static_cast<int>(data.size())) > 0) {
        int n = 0;
        do {
          errno = 0;
          n = SSL_read(ssl, buf, sizeof(buf));
        } while (n > 0);
        closed = errno != EAGAIN && errno != EWOULDBLOCK;
      } else {
        closed = true;
      }
    } else {
      closed = true;
    }
    SSL_free(ssl);
  }
  ::close(fd);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return closed;
}

/// A BASP header as CAF 0.17.6 lays it out (32 bytes: operation, two
/// padding bytes, flags, payload length, operation data, source and
/// destination actor), announcing `payload_len` bytes. A client handshake
/// (operation 1, the default) with zero actors is valid: the server
/// believes the length and makes room for it.
std::string basp_header(uint32_t payload_len, char operation = 1) {
  std::string h;
  h.push_back(operation);
  h.append(3, '\0');
  for (int i = 3; i >= 0; --i)
    h.push_back(static_cast<char>((payload_len >> (8 * i)) & 0xff));
  h.append(8 + 16, '\0');
  return h;
}

/// Connects from `sys` to 127.0.0.1:`port` through the given middleman
/// actor, with a bound; the error, or none if it connected.
caf::error try_connect(caf::actor_system& sys, caf::io::middleman_actor mm,
                       uint16_t port) {
  caf::scoped_actor self{sys};
  caf::error result;
  self
    ->request(mm, 5s, caf::connect_atom_v, std::string{"127.0.0.1"}, port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (!ptr)
          result = make_error(errc::unknown_peer, "no actor");
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

// -- start-up checks -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(refuses_to_start_without_tls_material) {
  auto good = certs().tls("a");
  {
    auto t = good;
    t.certificate.clear();
    auto err = t.validate();
    BOOST_TEST(is(err, errc::not_valid));
    BOOST_TEST(describe(err).find("certificate missing") != std::string::npos,
               describe(err));
  }
  {
    auto t = good;
    t.key = certs().root + "/nope.key";
    auto err = t.validate();
    BOOST_TEST(describe(err).find("key file") != std::string::npos,
               describe(err));
  }
  {
    auto t = good;
    t.cafile.clear();
    auto err = t.validate();
    BOOST_TEST(describe(err).find("CA certificate missing") != std::string::npos,
               describe(err));
    caf::actor_system_config cfg;
    BOOST_TEST(is(configure_network(cfg, t), errc::not_valid));
  }
  {
    tls_settings t;
    t.insecure = true;
    BOOST_TEST(!t.validate());
  }
  // A certificate that names another server: refused at start.
  net_config cfg{certs().tls("c")};
  caf::actor_system sys{cfg};
  net_transport_options opts;
  opts.local_id = "a";
  opts.addresses = static_addresses({});
  opts.tls = certs().tls("c");
  auto t = spawn_net_transport(sys, opts);
  BOOST_REQUIRE(!t);
  BOOST_TEST(describe(t.error()).find("does not name this server's id a")
               != std::string::npos,
             describe(t.error()));
  // The actor system's openssl settings must be the transport's.
  opts.local_id = "c";
  opts.tls = certs().tls("c");
  opts.tls.cafile = certs().other + "/ca.pem";
  auto t2 = spawn_net_transport(sys, opts);
  BOOST_REQUIRE(!t2);
  BOOST_TEST(describe(t2.error()).find("c.pem") != std::string::npos,
             describe(t2.error()));
}

BOOST_AUTO_TEST_CASE(configure_network_overrides_nothing_the_host_set) {
  auto tls = certs().tls("a");
  {
    // A host that set nothing, parsed or not: configured.
    caf::actor_system_config cfg;
    BOOST_REQUIRE(!cfg.parse(caf::actor_system_config::string_list{}));
    BOOST_TEST(!configure_network(cfg, tls));
    BOOST_TEST(cfg.openssl_certificate == tls.certificate);
    // Again with the same values: nothing to refuse.
    BOOST_TEST(!configure_network(cfg, tls));
  }
  {
    // The host's own TLS identity: refused, naming both, nothing changed.
    caf::actor_system_config cfg;
    cfg.openssl_certificate = "/etc/host/cert.pem";
    auto err = configure_network(cfg, tls);
    BOOST_TEST(is(err, errc::not_valid));
    BOOST_TEST(describe(err).find("/etc/host/cert.pem") != std::string::npos,
               describe(err));
    BOOST_TEST(describe(err).find(tls.certificate) != std::string::npos);
    BOOST_TEST(cfg.openssl_certificate == "/etc/host/cert.pem");
    BOOST_TEST(cfg.openssl_key.empty());
  }
  {
    // The host's own middleman timing: refused likewise.
    caf::actor_system_config cfg;
    cfg.set("middleman.connection-timeout",
            caf::timespan{std::chrono::seconds{30}});
    auto err = configure_network(cfg, tls);
    BOOST_TEST(is(err, errc::not_valid));
    BOOST_TEST(describe(err).find("middleman.connection-timeout")
                 != std::string::npos,
               describe(err));
    BOOST_TEST(cfg.openssl_certificate.empty());
  }
}

BOOST_AUTO_TEST_CASE(addresses) {
  auto hp = split_host_port("10.0.0.1:17070");
  BOOST_REQUIRE(hp);
  BOOST_TEST(hp->first == "10.0.0.1");
  BOOST_TEST(hp->second == 17070);
  auto v6 = split_host_port("[::1]:80");
  BOOST_REQUIRE(v6);
  BOOST_TEST(v6->first == "::1");
  for (auto bad : {"host", ":80", "host:", "host:0", "host:65536", "host:8x",
                   "[::1:80"})
    BOOST_TEST(!split_host_port(bad), bad);
  auto provider = static_addresses({{"a", "h:1"}});
  BOOST_TEST(*provider("a") == "h:1");
  BOOST_TEST(is(provider("b").error(), errc::unknown_peer));
}

BOOST_AUTO_TEST_CASE(identity_signatures) {
  auto a = tls_identity::load(certs().tls("a"), "a");
  auto b = tls_identity::load(certs().tls("b"), "b");
  auto stranger = tls_identity::load(certs().tls("a", true), "a");
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_REQUIRE(stranger);
  auto sig = (*a)->sign("statement");
  BOOST_REQUIRE(sig);
  // b checks a's proof.
  BOOST_TEST(!(*b)->verify((*a)->certificate_pem(), "a", "statement", *sig));
  // Wrong id, wrong statement, another CA: refused.
  BOOST_TEST(bool((*b)->verify((*a)->certificate_pem(), "c", "statement",
                               *sig)));
  BOOST_TEST(bool((*b)->verify((*a)->certificate_pem(), "a", "other", *sig)));
  auto ssig = (*stranger)->sign("statement");
  BOOST_REQUIRE(ssig);
  auto err = (*b)->verify((*stranger)->certificate_pem(), "a", "statement",
                          *ssig);
  BOOST_TEST(describe(err).find("not signed by the cluster CA")
               != std::string::npos,
             describe(err));
  // a's certificate with a signature by b's key.
  auto bsig = (*b)->sign("statement");
  BOOST_TEST(bool((*b)->verify((*a)->certificate_pem(), "a", "statement",
                               *bsig)));
  BOOST_TEST(bool((*b)->verify("garbage", "a", "statement", *sig)));
}

BOOST_AUTO_TEST_CASE(rpc_validation) {
  auto size_max = size_t{1024};
  append_request ok;
  ok.term = 3;
  ok.leader = "a";
  ok.prev_log_index = 4;
  ok.prev_log_term = 2;
  for (index_t i = 5; i <= 7; ++i)
    ok.entries.push_back(log_entry{i, 3, entry_type::command, {1, 2}, 0});
  BOOST_TEST(!net_check_rpc("a", caf::make_message(ok), size_max));
  // Another sender than the authenticated one.
  BOOST_TEST(bool(net_check_rpc("b", caf::make_message(ok), size_max)));
  auto gap = ok;
  gap.entries[1].index = 9;
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(gap), size_max)));
  auto future_term = ok;
  future_term.entries[2].term = 4;
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(future_term),
                                size_max)));
  auto zero = ok;
  zero.term = 0;
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(zero), size_max)));
  auto big = ok;
  big.entries[0].data.resize(2048);
  BOOST_TEST(is(net_check_rpc("a", caf::make_message(big), size_max),
                errc::too_large));
  vote_request v{5, "a", 3, 2, false, false};
  BOOST_TEST(!net_check_rpc("a", caf::make_message(v), size_max));
  v.last_log_term = 6;
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(v), size_max)));
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(std::string{"x"}),
                                size_max)));
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(1, 2), size_max)));
  install_snapshot_request s;
  s.term = 2;
  s.leader = "a";
  s.last_index = 10;
  s.last_term = 2;
  s.size = 100;
  s.offset = 90;
  s.data.resize(20);
  BOOST_TEST(bool(net_check_rpc("a", caf::make_message(s), size_max)));
  s.data.resize(10);
  BOOST_TEST(!net_check_rpc("a", caf::make_message(s), size_max));
}

// -- a cluster over the network ------------------------------------------------

BOOST_AUTO_TEST_CASE(three_nodes_elect_and_commit) {
  net_cluster c{{"a", "b", "c"}};
  BOOST_REQUIRE(c.wait_leader() >= 0);
  auto t0 = clock_type::now();
  auto last = c.apply_n(20, "x");
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(
    clock_type::now() - t0);
  BOOST_REQUIRE(last > 0);
  BOOST_TEST_MESSAGE("20 sequential applies over mutual TLS: "
                     << took.count() / 20 << " us each");
  BOOST_TEST(c.wait_applied(last));
  uint64_t handshakes = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto& p = *c.procs[i];
    handshakes += stat(*p.sys, p.transport, "gateway_handshakes");
    BOOST_TEST(stat(*p.sys, p.transport, "gateway_rejected") == 0u);
    BOOST_TEST(p.fsm->logs().size() == 20u);
  }
  // The leader reaches both followers; each pair has one connection, used
  // both ways (followers that never talk need none).
  BOOST_TEST(eventually(10s, [&] {
    auto leader = c.wait_leader(2s);
    if (leader < 0)
      return false;
    auto& lp = *c.procs[leader];
    return stat(*lp.sys, lp.transport, "peers_connected") == 2u;
  }), c.dump());
  BOOST_TEST(handshakes >= 2u);
}

BOOST_AUTO_TEST_CASE(dead_peer_noticed_then_reconnected) {
  net_cluster c{{"a", "b", "c"}};
  auto leader = c.wait_leader();
  BOOST_REQUIRE(leader >= 0);
  auto first = c.apply_n(5, "before");
  BOOST_REQUIRE(first > 0);
  // Everyone has them: the leader is connected to both followers.
  BOOST_REQUIRE(c.wait_applied(first));
  leader = c.wait_leader();
  BOOST_REQUIRE(leader >= 0);
  // Kill a follower's whole process (actor system and sockets).
  size_t victim = (static_cast<size_t>(leader) + 1) % 3;
  c.procs[victim]->stop();
  // The others notice and go on committing with two of three.
  auto& lp = *c.procs[leader];
  BOOST_TEST(eventually(10s, [&] {
    return stat(*lp.sys, lp.transport, "disconnects") >= 1u;
  }), c.dump());
  auto last = c.apply_n(10, "during");
  BOOST_REQUIRE(last > 0);
  BOOST_TEST(c.wait_applied(last));
  // The smaller id dials: if that is the leader, its attempts to reach the
  // dead peer fail and back off.
  if (c.procs[leader]->id < c.procs[victim]->id)
    BOOST_TEST(eventually(10s, [&] {
      return stat(*lp.sys, lp.transport, "connect_failures") >= 2u;
    }));
  // Back on the same port with its old store: it reconnects and catches
  // up.
  BOOST_REQUIRE(!c.restart(victim));
  auto more = c.apply_n(5, "after");
  BOOST_REQUIRE(more > 0);
  BOOST_TEST(c.wait_applied(more, 20s));
  BOOST_TEST(c.procs[victim]->fsm->logs().size() >= 5u);
}

// -- refusing strangers --------------------------------------------------------

struct single_server {
  server_proc p;
  address_book book;
  probe rpc_probe;

  single_server() {
    p.id = "b";
    if (auto err = start_transport(p, book, 0, certs().tls("b")))
      throw std::runtime_error(describe(err));
    caf::scoped_actor self{*p.sys};
    self
      ->request(p.transport, 2s, connect_atom_v, std::string{"b"},
                rpc_probe.spawn(*p.sys))
      .receive([](const std::string&) {}, [](caf::error&) {});
  }

  bool serving() {
    // A genuine peer still gets through: a full handshake from "a" (the
    // smaller id dials).
    net_config cfg{certs().tls("a")};
    caf::actor_system sys{cfg};
    auto before = stat(*p.sys, p.transport, "gateway_handshakes");
    net_transport_options opts;
    opts.local_id = "a";
    opts.addresses = static_addresses(
      {{"b", "127.0.0.1:" + std::to_string(p.port)}});
    opts.tls = certs().tls("a");
    auto t = spawn_net_transport(sys, opts);
    if (!t)
      return false;
    // Any RPC to b triggers the connection.
    bool ok = eventually(10s, [&] {
      caf::anon_send(*t, rpc_atom_v, std::string{"a"}, std::string{"b"},
                     caf::make_message(vote_request{1, "a", 0, 0, true}));
      caf::scoped_actor self{sys};
      return stat(*p.sys, p.transport, "gateway_handshakes") > before
             && stat(sys, *t, "peers_connected") == 1u;
    });
    caf::anon_send_exit(*t, caf::exit_reason::kill);
    return ok;
  }
};

BOOST_FIXTURE_TEST_CASE(connections_without_cluster_cert_refused,
                        single_server) {
  // No client certificate (anonymous TLS).
  {
    anonymous_tls_config cfg;
    caf::actor_system sys{cfg};
    auto err = try_connect(sys, sys.openssl_manager().actor_handle(), p.port);
    BOOST_TEST(bool(err), "a client without certificate got through");
    BOOST_TEST_MESSAGE("no cert: " << sys.render(err));
  }
  // A certificate of another CA, even one naming a cluster member.
  {
    net_config cfg{certs().tls("a", true)};
    caf::actor_system sys{cfg};
    auto err = try_connect(sys, sys.openssl_manager().actor_handle(), p.port);
    BOOST_TEST(bool(err), "a client with another CA's cert got through");
    BOOST_TEST_MESSAGE("other CA: " << sys.render(err));
  }
  // Plain BASP (no TLS at all).
  {
    anonymous_tls_config cfg;
    caf::actor_system sys{cfg};
    auto err = try_connect(sys, sys.middleman().actor_handle(), p.port);
    BOOST_TEST(bool(err), "a plain TCP client got through");
  }
  BOOST_TEST(stat(*p.sys, p.transport, "gateway_handshakes") == 0u);
  BOOST_TEST(rpc_probe.received() == 0);
  BOOST_TEST(serving());
}

BOOST_FIXTURE_TEST_CASE(impersonation_refused, single_server) {
  // "c" holds a valid cluster certificate and tries to pass as "a".
  net_config cfg{certs().tls("c")};
  caf::actor_system sys{cfg};
  auto me = tls_identity::load(certs().tls("c"), "c");
  BOOST_REQUIRE(me);
  caf::scoped_actor self{sys};
  caf::actor gw;
  self
    ->request(sys.openssl_manager().actor_handle(), 5s, caf::connect_atom_v,
              std::string{"127.0.0.1"}, p.port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        gw = caf::actor_cast<caf::actor>(ptr);
      },
      [&](caf::error& err) { BOOST_FAIL("TLS connect: " << sys.render(err)); });
  BOOST_REQUIRE(gw);
  auto my_gw = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(caf::drop);
    return {[](net_fail_atom) {}};
  });
  // Runs the handshake claiming `claimed`, signing with c's key and
  // presenting `cert`; the token, or an empty string if refused.
  auto handshake = [&](const std::string& claimed, const std::string& cert) {
    auto nonce = tls_identity::random_bytes(net_nonce_size);
    std::string server_nonce;
    self
      ->request(gw, 5s, net_hello_atom_v, claimed, std::string{"b"}, nonce,
                my_gw, net_protocol_version, std::string{})
      .receive([&](std::string&, std::string& sn, std::string&,
                   std::string&) { server_nonce = sn; },
               [&](caf::error&) {});
    if (server_nonce.empty())
      return std::string{};
    auto sig = (*me)->sign(
      net_client_proof(nonce, server_nonce, "b", claimed));
    std::string token;
    self
      ->request(gw, 5s, net_auth_atom_v, server_nonce, cert, *sig,
                std::string(16, 't'))
      .receive([&](std::string& t) { token = t; }, [&](caf::error&) {});
    return token;
  };
  // Claiming "a" with c's certificate, or with a's (public) certificate but
  // c's key: both refused.
  auto a_cert = tls_identity::load(certs().tls("a"), "a");
  BOOST_REQUIRE(a_cert);
  BOOST_TEST(handshake("a", (*me)->certificate_pem()).empty());
  BOOST_TEST(handshake("a", (*a_cert)->certificate_pem()).empty());
  BOOST_TEST(stat(*p.sys, p.transport, "gateway_handshakes") == 0u);
  // RPCs without a session, or with a made-up one, are dropped.
  caf::anon_send(gw, net_rpc_atom_v, std::string(16, 'x'), std::string{"a"},
                 std::string{"b"},
                 caf::make_message(vote_request{9, "a", 0, 0, false}));
  // Authenticated honestly as "c", then speaking for "a": dropped.
  auto token = handshake("c", (*me)->certificate_pem());
  BOOST_REQUIRE(!token.empty());
  caf::anon_send(gw, net_rpc_atom_v, token, std::string{"a"},
                 std::string{"b"},
                 caf::make_message(vote_request{9, "a", 0, 0, false}));
  // ... or naming "a" inside the RPC: dropped too.
  caf::anon_send(gw, net_rpc_atom_v, token, std::string{"c"},
                 std::string{"b"},
                 caf::make_message(vote_request{9, "a", 0, 0, false}));
  // A malformed one (entries out of order): dropped.
  append_request bad;
  bad.term = 9;
  bad.leader = "c";
  bad.entries.push_back(log_entry{5, 9, entry_type::command, {}, 0});
  caf::anon_send(gw, net_rpc_atom_v, token, std::string{"c"},
                 std::string{"b"}, caf::make_message(bad));
  // Not an RPC at all.
  caf::anon_send(gw, net_rpc_atom_v, token, std::string{"c"},
                 std::string{"b"}, caf::make_message(std::string{"hi"}));
  // Speaking as itself: accepted and delivered.
  caf::anon_send(gw, net_rpc_atom_v, token, std::string{"c"},
                 std::string{"b"},
                 caf::make_message(vote_request{9, "c", 0, 0, false}));
  BOOST_TEST(rpc_probe.wait_received(1, 5s));
  BOOST_TEST(eventually(5s, [&] {
    return stat(*p.sys, p.transport, "gateway_rejected") >= 5u;
  }));
  BOOST_TEST(rpc_probe.received() == 1);
  auto senders = rpc_probe.senders();
  BOOST_TEST(senders.size() == 1u);
  if (!senders.empty())
    BOOST_TEST(senders.front() == "c");
  BOOST_TEST(stat(*p.sys, p.transport, "gateway_accepted") == 1u);
  // Larger than the maximum message size (1 MiB here): the raft port's
  // frame guard closes the connection as soon as the BASP header announces
  // it, before anything is allocated for it.
  append_request huge;
  huge.term = 9;
  huge.leader = "c";
  huge.entries.push_back(
    log_entry{1, 9, entry_type::command, bytes(2 * 1024 * 1024, 7), 0});
  self->monitor(gw);
  caf::anon_send(gw, net_rpc_atom_v, token, std::string{"c"},
                 std::string{"b"}, caf::make_message(huge));
  bool closed = false;
  self->receive([&](caf::down_msg&) { closed = true; },
                caf::after(std::chrono::seconds{5}) >> [] {});
  BOOST_TEST(closed, "the connection outlived an oversized frame");
  // Our own transport does not send oversized RPCs either.
  caf::anon_send(p.transport, rpc_atom_v, std::string{"b"}, std::string{"c"},
                 caf::make_message(huge));
  BOOST_TEST(eventually(5s, [&] {
    return stat(*p.sys, p.transport, "dropped_too_large") == 1u;
  }));
  caf::anon_send_exit(my_gw, caf::exit_reason::kill);
}

BOOST_FIXTURE_TEST_CASE(garbage_and_huge_basp_header_on_raft_port,
                        single_server) {
  auto before = rss_kib();
  std::mt19937 rng{42};
  // Each time the server must close the connection at the TLS layer.
  for (int round = 0; round < 5; ++round) {
    std::string junk(64 * 1024, '\0');
    for (auto& ch : junk)
      ch = static_cast<char>(rng());
    BOOST_TEST(raw_send(p.port, junk));
  }
  // A BASP header announcing a 4 GiB payload, then some bytes of it.
  for (int round = 0; round < 5; ++round)
    BOOST_TEST(raw_send(p.port, basp_header(0xffffffffu)
                                  + std::string(64 * 1024, 'A')));
  // A TLS ClientHello-looking start followed by garbage.
  BOOST_TEST(raw_send(p.port, std::string("\x16\x03\x01\xff\xff", 5)
                                + std::string(70000, '\x01')));
  auto after = rss_kib();
  BOOST_TEST_MESSAGE("VmRSS before " << before << " KiB, after " << after
                                     << " KiB");
  BOOST_TEST(after < before + 100 * 1024);
  BOOST_TEST(stat(*p.sys, p.transport, "gateway_handshakes") == 0u);
  BOOST_TEST(rpc_probe.received() == 0);
  // Still alive and serving genuine peers.
  BOOST_TEST(serving());
}

BOOST_FIXTURE_TEST_CASE(raft_port_refuses_clients_and_oversized_frames,
                        single_server) {
  ::signal(SIGPIPE, SIG_IGN);
  // A client certificate of the cluster CA (raftctl's "admin": extended
  // key usage clientAuth only) does not complete TLS on the raft port.
  auto admin = certs().tls("admin");
  bool accepted = true;
  BOOST_TEST(tls_send(p.port, admin, basp_header(0), accepted));
  BOOST_TEST(!accepted, "the raft port accepted a client certificate");
  // A server of the cluster CA announcing a 1 GiB BASP frame: cut off as
  // soon as the header is complete, before anything is allocated for it.
  auto before = rss_kib();
  for (int round = 0; round < 5; ++round) {
    accepted = false;
    BOOST_TEST(tls_send(p.port, certs().tls("c"),
                        basp_header(1u << 30)
                          + std::string(64 * 1024, 'A'),
                        accepted));
    BOOST_TEST(accepted);
  }
  auto after = rss_kib();
  BOOST_TEST_MESSAGE("VmRSS before " << before << " KiB, after " << after
                                     << " KiB");
  BOOST_TEST(after < before + 32 * 1024);
  BOOST_TEST(stat(*p.sys, p.transport, "gateway_handshakes") == 0u);
  BOOST_TEST(serving());
}

BOOST_AUTO_TEST_CASE(insecure_mode_works_and_says_so) {
  tls_settings insecure;
  insecure.insecure = true;
  address_book book;
  server_proc a;
  a.id = "a";
  server_proc b;
  b.id = "b";
  BOOST_REQUIRE(!start_transport(a, book, 0, insecure));
  BOOST_REQUIRE(!start_transport(b, book, 0, insecure));
  probe pr;
  {
    caf::scoped_actor self{*b.sys};
    self->request(b.transport, 2s, connect_atom_v, std::string{"b"},
                  pr.spawn(*b.sys))
      .receive([](const std::string&) {}, [](caf::error&) {});
  }
  BOOST_TEST(eventually(10s, [&] {
    caf::anon_send(a.transport, rpc_atom_v, std::string{"a"},
                   std::string{"b"},
                   caf::make_message(vote_request{1, "a", 0, 0, true}));
    return pr.wait_received(1, 50ms);
  }));
}

BOOST_AUTO_TEST_CASE(larger_id_reaches_a_silent_smaller_peer) {
  // "a" never sends (think of a non-voter): "c" dials it after its grace
  // period.
  address_book book;
  server_proc a;
  a.id = "a";
  server_proc c;
  c.id = "c";
  BOOST_REQUIRE(!start_transport(a, book, 0, certs().tls("a")));
  BOOST_REQUIRE(!start_transport(c, book, 0, certs().tls("c")));
  probe pr;
  {
    caf::scoped_actor self{*a.sys};
    self->request(a.transport, 2s, connect_atom_v, std::string{"a"},
                  pr.spawn(*a.sys))
      .receive([](const std::string&) {}, [](caf::error&) {});
  }
  BOOST_TEST(eventually(10s, [&] {
    caf::anon_send(c.transport, rpc_atom_v, std::string{"c"},
                   std::string{"a"},
                   caf::make_message(vote_request{1, "c", 0, 0, true}));
    return pr.wait_received(1, 50ms);
  }));
  BOOST_TEST(stat(*c.sys, c.transport, "connects") == 1u);
  BOOST_TEST(stat(*a.sys, a.transport, "accepts") == 1u);
}

BOOST_AUTO_TEST_CASE(partitioned_peer_noticed_and_reconnected_after_heal) {
  // "a" reaches "c" through a relay that can fall silent.
  address_book book;
  server_proc a;
  a.id = "a";
  server_proc c;
  c.id = "c";
  BOOST_REQUIRE(!start_transport(a, book, 0, certs().tls("a")));
  BOOST_REQUIRE(!start_transport(c, book, 0, certs().tls("c")));
  tcp_relay relay{c.port};
  book.set("c", "127.0.0.1:" + std::to_string(relay.port));
  probe pr;
  {
    caf::scoped_actor self{*c.sys};
    self->request(c.transport, 2s, connect_atom_v, std::string{"c"},
                  pr.spawn(*c.sys))
      .receive([](const std::string&) {}, [](caf::error&) {});
  }
  auto reach = [&](int n) {
    return eventually(15s, [&] {
      caf::anon_send(a.transport, rpc_atom_v, std::string{"a"},
                     std::string{"c"},
                     caf::make_message(vote_request{1, "a", 0, 0, true}));
      return pr.wait_received(n, 50ms);
    });
  };
  BOOST_REQUIRE(reach(1));
  // Silence: no FIN, no RST, just nothing. The middleman's connection
  // timeout (1.5 s here) closes the connection; both sides notice.
  relay.partition = true;
  BOOST_TEST(eventually(10s, [&] {
    return stat(*a.sys, a.transport, "disconnects") >= 1u
           && stat(*c.sys, c.transport, "disconnects") >= 1u;
  }));
  // Heal: "a" dials again and gets through.
  relay.partition = false;
  BOOST_TEST(reach(pr.received() + 1));
  BOOST_TEST(stat(*a.sys, a.transport, "connects") >= 2u);
}

// -- cluster identity ----------------------------------------------------------

/// An identity of cluster `id` ("" = none yet), kept at `path` ("" = in
/// memory).
std::shared_ptr<cluster_identity> cluster_of(const std::string& id,
                                             const std::string& path = {}) {
  auto c = cluster_identity::open(path);
  BOOST_REQUIRE(c);
  if (!id.empty())
    BOOST_REQUIRE(*(*c)->adopt(id));
  return *c;
}

/// Server "b" of cluster `id` (its identity at `path`), and clients that
/// dial it as "a".
struct cluster_server {
  server_proc p;
  address_book book;
  std::shared_ptr<cluster_identity> cluster;

  explicit cluster_server(const std::string& id, const std::string& path = {})
    : cluster(cluster_of(id, path)) {
    p.id = "b";
    if (auto err = start_transport(p, book, 0, certs().tls("b"), cluster))
      throw std::runtime_error(describe(err));
  }

  /// A client "a" of cluster `id`, in `sys`, dialing b.
  net_transport_actor client(caf::actor_system& sys,
                             std::shared_ptr<cluster_identity> id) {
    net_transport_options opts;
    opts.local_id = "a";
    opts.addresses = static_addresses(
      {{"b", "127.0.0.1:" + std::to_string(p.port)}});
    opts.tls = certs().tls("a");
    opts.min_backoff = 20ms;
    opts.max_backoff = 200ms;
    opts.cluster = std::move(id);
    auto t = spawn_net_transport(sys, opts);
    BOOST_REQUIRE(t);
    return *t;
  }

  /// Waits until the client's link to b is connected, or down for a reason
  /// holding `refusal`; the link's state.
  std::string link(caf::actor_system& sys, const net_transport_actor& t,
                   const std::string& refusal) {
    std::string state;
    eventually(10s, [&] {
      caf::anon_send(t, rpc_atom_v, std::string{"a"}, std::string{"b"},
                     caf::make_message(vote_request{1, "a", 0, 0, true}));
      if (auto m = stats_of(sys, t))
        state = (*m)["link.b"];
      return state == "connected"
             || (!refusal.empty() && state.find(refusal) != std::string::npos);
    });
    return state;
  }
};

BOOST_AUTO_TEST_CASE(a_peer_of_another_cluster_is_refused) {
  cluster_server b{"1111"};
  net_config cfg{certs().tls("a")};
  caf::actor_system sys{cfg};
  auto stranger = b.client(sys, cluster_of("2222"));
  auto state = b.link(sys, stranger, "belongs to cluster");
  BOOST_TEST_MESSAGE("link: " << state);
  // Both sides name both clusters.
  BOOST_TEST(state.find("cluster 1111") != std::string::npos);
  BOOST_TEST(state.find("cluster 2222") != std::string::npos);
  BOOST_TEST(stat(*b.p.sys, b.p.transport, "gateway_handshakes") == 0u);
  BOOST_TEST(stat(*b.p.sys, b.p.transport, "gateway_handshake_failures")
             >= 1u);
  caf::anon_send_exit(stranger, caf::exit_reason::kill);
  // A member of b's cluster gets through.
  caf::actor_system sys2{cfg};
  auto member = b.client(sys2, cluster_of("1111"));
  BOOST_TEST(b.link(sys2, member, "") == "connected");
  caf::anon_send_exit(member, caf::exit_reason::kill);
}

BOOST_AUTO_TEST_CASE(a_server_added_takes_its_clusters_id_and_keeps_it) {
  auto dir = std::filesystem::temp_directory_path()
             / ("cluster-id-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / cluster_id_file).string();
  {
    cluster_server b{"", path}; // a fresh server, not bootstrapped
    net_config cfg{certs().tls("a")};
    caf::actor_system sys{cfg};
    auto member = b.client(sys, cluster_of("abcd"));
    BOOST_TEST(b.link(sys, member, "") == "connected");
    BOOST_TEST(b.cluster->id() == "abcd");
    caf::anon_send_exit(member, caf::exit_reason::kill);
  }
  // Stored with its data: a restart knows it.
  auto again = cluster_identity::open(path);
  BOOST_REQUIRE(again);
  BOOST_TEST((*again)->id() == "abcd");
  // A file that holds no id is named, with what to do.
  std::ofstream{path} << "not hex\n";
  auto bad = cluster_identity::open(path);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(describe(bad.error()).find(path) != std::string::npos);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(founders_derive_one_id_and_other_tokens_another) {
  std::map<std::string, std::string> members{{"a", "h:1"}, {"b", "h:2"}};
  auto id = cluster_identity::derive("t", members);
  BOOST_TEST(id.size() == 32u);
  BOOST_TEST(cluster_identity::derive("t", members) == id);
  BOOST_TEST(cluster_identity::derive("u", members) != id);
  members["c"] = "h:3";
  BOOST_TEST(cluster_identity::derive("t", members) != id);
}

BOOST_AUTO_TEST_CASE(a_second_process_claiming_a_connected_id_is_refused) {
  cluster_server b{"1111"};
  net_config cfg{certs().tls("a")};
  auto first_sys = std::make_unique<caf::actor_system>(cfg);
  auto first = b.client(*first_sys, cluster_of("1111"));
  BOOST_REQUIRE(b.link(*first_sys, first, "") == "connected");
  // Another process with a's certificate (a copy of its folder, say).
  caf::actor_system sys2{cfg};
  auto twin = b.client(sys2, cluster_of("1111"));
  auto state = b.link(sys2, twin, "already connected");
  BOOST_TEST_MESSAGE("twin: " << state);
  BOOST_TEST(state.find("two servers share an id") != std::string::npos);
  // Once the first process is gone, the id is free again.
  caf::anon_send_exit(first, caf::exit_reason::kill);
  first_sys.reset();
  BOOST_TEST(b.link(sys2, twin, "") == "connected");
  caf::anon_send_exit(twin, caf::exit_reason::kill);
}

BOOST_AUTO_TEST_CASE(a_second_process_is_refused_while_we_dialed_the_first) {
  // b dialed the real a itself (a never dials: it knows no address of b),
  // so a is no client of b's gateway; a twin dialing b must still be
  // refused, or b would move its link to the twin.
  cluster_server b{"1111"};
  net_config cfg{certs().tls("a")};
  caf::actor_system sys{cfg};
  net_transport_options opts;
  opts.local_id = "a";
  opts.addresses = static_addresses({});
  opts.tls = certs().tls("a");
  opts.cluster = cluster_of("1111");
  auto real = spawn_net_transport(sys, opts);
  BOOST_REQUIRE(real);
  auto addr = (*stats_of(sys, *real))["local_address"];
  b.book.set("a", addr);
  bool linked = eventually(10s, [&] {
    caf::anon_send(b.p.transport, rpc_atom_v, std::string{"b"},
                   std::string{"a"},
                   caf::make_message(vote_request{1, "b", 0, 0, true}));
    return stat(*b.p.sys, b.p.transport, "peers_connected") == 1u;
  });
  BOOST_REQUIRE(linked);
  caf::actor_system sys2{cfg};
  auto twin = b.client(sys2, cluster_of("1111"));
  auto state = b.link(sys2, twin, "already connected");
  BOOST_TEST(state.find("two servers share an id") != std::string::npos,
             state);
  caf::anon_send_exit(twin, caf::exit_reason::kill);
  caf::anon_send_exit(*real, caf::exit_reason::kill);
}

BOOST_AUTO_TEST_CASE(an_older_protocol_is_refused_naming_both_versions) {
  cluster_server b{"1111"};
  net_config cfg{certs().tls("a")};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::actor gw;
  self
    ->request(sys.openssl_manager().actor_handle(), 5s, caf::connect_atom_v,
              std::string{"127.0.0.1"}, b.p.port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        gw = caf::actor_cast<caf::actor>(ptr);
      },
      [&](caf::error& err) { BOOST_FAIL("TLS connect: " << sys.render(err)); });
  std::string why;
  // Version 1's hello: four arguments, no version, no cluster.
  self
    ->request(gw, 5s, net_hello_atom_v, std::string{"a"}, std::string{"b"},
              tls_identity::random_bytes(net_nonce_size),
              caf::actor_cast<caf::actor>(self))
    .receive([&](std::string&, std::string&, std::string&, std::string&) {},
             [&](caf::error& err) { why = describe(err); });
  BOOST_TEST_MESSAGE(why);
  BOOST_TEST(why.find("protocol 1") != std::string::npos);
  BOOST_TEST(why.find("speaks " + std::to_string(net_protocol_version))
             != std::string::npos);
  // A newer version is refused as plainly.
  why.clear();
  self
    ->request(gw, 5s, net_hello_atom_v, std::string{"a"}, std::string{"b"},
              tls_identity::random_bytes(net_nonce_size), caf::actor_cast<caf::actor>(self),
              net_protocol_version + 1, std::string{"1111"})
    .receive([&](std::string&, std::string&, std::string&, std::string&) {},
             [&](caf::error& err) { why = describe(err); });
  BOOST_TEST(why.find("protocol " + std::to_string(net_protocol_version + 1))
             != std::string::npos);
}

// A TLS write to a connection the peer closed must fail, not raise SIGPIPE
// (whose default action kills the process): the raft port's sessions send
// with MSG_NOSIGNAL. Run with SIGPIPE at its default, as a host that never
// touched it has it.
BOOST_AUTO_TEST_CASE(tls_writes_to_a_closed_peer_raise_no_sigpipe) {
  auto old = ::signal(SIGPIPE, SIG_DFL);
  auto ctx = tls_context::make(certs().tls("a"));
  BOOST_REQUIRE_MESSAGE(ctx, (ctx ? std::string{} : describe(ctx.error())));
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  ::close(fds[1]);
  // The client's first write is its ClientHello, inside make().
  auto session = tls_session::make(**ctx, fds[0], false);
  if (session) {
    size_t n = 0;
    std::string data(1024, 'x');
    auto res = session->write_some(n, fds[0], data.data(), data.size());
    BOOST_TEST((res == caf::io::network::rw_state::failure || n == 0));
  }
  ::close(fds[0]);
  ::signal(SIGPIPE, old);
}

