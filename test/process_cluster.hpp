#pragma once

#include <set>

// raftd processes on loopback as an operator runs them, for the tests that
// drive real programs: mutual TLS with material from scripts/make-certs.sh
// in a temp dir, settings from config files, raftctl as a child process.
// Waits poll raftctl with a bound (each poll is itself a network round
// trip); nothing sleeps to wait.

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "eventually.hpp"

#ifndef RAFT_BIN_DIR
#  error "RAFT_BIN_DIR must name the folder of raftd and raftctl"
#endif

namespace raft::test {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using clock_type = std::chrono::steady_clock;

inline const std::string bin_dir = RAFT_BIN_DIR;

/// What a finished raftctl run left.
struct run_result {
  int code = -1;
  std::string out;
};

/// Runs `cmd` through the shell; stdout and stderr together.
inline run_result run(const std::string& cmd) {
  run_result r;
  auto p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr)
    return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
    r.out.append(buf, n);
  auto st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

/// Polls `pred` every 50 ms (each poll is a raftctl process) until it
/// holds or `bound` passes.
inline bool poll_until(clock_type::duration bound,
                       const std::function<bool()>& pred) {
  return eventually(bound, pred, 50ms);
}

/// An HTTP GET of `path` on 127.0.0.1:`port`: the status code (0 if none)
/// and the body.
inline std::pair<int, std::string> http_get(uint16_t port,
                                            const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return {0, ""};
  }
  auto req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             + "Connection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) < 0) {
    close(fd);
    return {0, ""};
  }
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
    resp.append(buf, static_cast<size_t>(n));
  close(fd);
  int status = 0;
  if (resp.rfind("HTTP/1.1 ", 0) == 0)
    status = std::atoi(resp.c_str() + 9);
  auto body = resp.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : resp.substr(body + 4)};
}

/// A port nobody listens on right now.
/// A loopback port the OS reports free and this test process has not
/// handed out before: the OS may offer a just-closed port again, and two
/// servers given one port fail to start (seen in CI: b's metrics and c's
/// client port).
inline uint16_t free_port() {
  static std::set<uint16_t> given;
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    auto port = ntohs(a.sin_port);
    if (given.insert(port).second)
      return port;
  }
}

struct node {
  std::string id;
  uint16_t raft_port = 0;
  uint16_t client_port = 0;
  /// The HTTP listener: /metrics and /health.
  uint16_t metrics_port = 0;
  pid_t pid = -1;
  std::string ini;
  std::string log;
  /// Runs as this user id when non-zero (needs root): lets a test single
  /// out a server's packets with a firewall rule (`meta skuid`).
  uid_t run_as = 0;

  std::string client() const {
    return "127.0.0.1:" + std::to_string(client_port);
  }
};

/// A cluster of raftd processes (a, b, c unless told) in a temp dir;
/// stops whatever it started.
struct cluster {
  std::string root;
  std::vector<node> nodes;

  explicit cluster(std::vector<std::string> ids = {"a", "b", "c"}) {
    char tmpl[] = "/tmp/caf-raft-programs-XXXXXX";
    auto p = mkdtemp(tmpl);
    BOOST_REQUIRE(p != nullptr);
    root = p;
    auto script = fs::path{__FILE__}.parent_path().parent_path() / "scripts"
                  / "make-certs.sh";
    std::string names;
    for (auto& id : ids)
      names += id + " ";
    auto mk = run("sh '" + script.string() + "' '" + root + "/certs' " + names
                  + "--clients admin && sh '" + script.string() + "' '" + root
                  + "/other' --clients admin");
    BOOST_REQUIRE_MESSAGE(mk.code == 0, mk.out);
    for (auto& id : ids) {
      node n;
      n.id = id;
      n.raft_port = free_port();
      n.client_port = free_port();
      n.metrics_port = free_port();
      nodes.push_back(n);
    }
    for (auto& n : nodes) {
      std::string peers, clients;
      for (auto& m : nodes) {
        if (m.id == n.id)
          continue;
        peers += (peers.empty() ? "" : ",") + m.id
                 + "=127.0.0.1:" + std::to_string(m.raft_port);
        clients += (clients.empty() ? "" : ",") + m.id + "=" + m.client();
      }
      n.ini = root + "/" + n.id + ".ini";
      n.log = root + "/" + n.id + ".log";
      std::ofstream out{n.ini};
      out << "[global]\n"
          << "id=\"" << n.id << "\"\n"
          << "data-dir=\"" << root << "/data-" << n.id << "\"\n"
          << "listen=\"127.0.0.1:" << n.raft_port << "\"\n"
          << "client-listen=\"" << n.client() << "\"\n"
          << "metrics=\"127.0.0.1:" << n.metrics_port << "\"\n"
          << "peers=\"" << peers << "\"\n"
          << "peer-clients=\"" << clients << "\"\n"
          << "tls-dir=\"" << root << "/certs\"\n"
          << "bootstrap=true\n"
          << "election-timeout-ms=400\n"
          << "heartbeat-timeout-ms=400\n"
          << "leader-lease-timeout-ms=400\n";
    }
  }

  ~cluster() {
    for (auto& n : nodes)
      kill_node(n, SIGKILL);
    if (!std::getenv("PROGRAMS_TEST_KEEP")) {
      std::error_code ec;
      fs::remove_all(root, ec);
    }
  }

  void start(node& n, const std::vector<std::string>& extra = {}) {
    auto pid = fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      int fd = open(n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 2);
      dup2(fd, 1);
      if (n.run_as != 0 && (setgroups(0, nullptr) != 0 || setgid(n.run_as) != 0
                            || setuid(n.run_as) != 0))
        _exit(126);
      auto exe = bin_dir + "/raftd";
      std::vector<std::string> args{"raftd", "--config-file=" + n.ini};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& x : args)
        argv.push_back(x.data());
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    n.pid = pid;
  }

  void start_all() {
    for (auto& n : nodes)
      start(n);
  }

  /// Sends `sig` and reaps the process; returns its exit code (-1 if it
  /// died by a signal or was not running).
  int kill_node(node& n, int sig) {
    if (n.pid <= 0)
      return -1;
    ::kill(n.pid, sig);
    int st = 0;
    waitpid(n.pid, &st, 0);
    n.pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  std::string ctl(const std::string& addr) const {
    return bin_dir + "/raftctl --tls-dir '" + root + "/certs' --timeout 3 --addr "
           + addr + " ";
  }

  run_result ctl(const node& n, const std::string& args) const {
    return run(ctl(n.client()) + args);
  }

  /// The id of the leader all running nodes agree on, or "".
  std::string leader() const {
    for (auto& n : nodes) {
      if (n.pid <= 0)
        continue;
      auto r = ctl(n, "--json status");
      if (r.code != 0)
        continue;
      try {
        auto j = json::parse(r.out);
        auto l = j.value("leader_id", "");
        if (l.empty())
          return {};
        auto& ln = by_id(l);
        if (ln.pid <= 0)
          return {};
        auto lr = ctl(ln, "--json status");
        if (lr.code == 0 && json::parse(lr.out).value("state", "") == "Leader")
          return l;
      } catch (...) {
      }
      return {};
    }
    return {};
  }

  const node& by_id(const std::string& id) const {
    for (auto& n : nodes)
      if (n.id == id)
        return n;
    throw std::runtime_error("no node " + id);
  }

  node& by_id(const std::string& id) {
    return const_cast<node&>(static_cast<const cluster*>(this)->by_id(id));
  }

  std::string wait_for_leader(clock_type::duration bound = 20s) {
    std::string l;
    poll_until(bound, [&] {
      l = leader();
      return !l.empty();
    });
    return l;
  }

  std::string logs() const {
    std::string all;
    for (auto& n : nodes) {
      std::ifstream in{n.log};
      std::stringstream s;
      s << in.rdbuf();
      all += "--- " + n.id + "\n" + s.str();
    }
    return all;
  }
};

} // namespace raft::test
