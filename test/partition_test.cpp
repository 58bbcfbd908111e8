#define BOOST_TEST_MODULE partitions
// A connected majority makes progress while a minority is partitioned away
// silently (issue 19): five raftd processes over mutual TLS on loopback,
// the minority's packets dropped by nftables rules this test makes and
// removes itself (a firewall or a powered-off host: no reset, no answer).
// The minority runs as another user so that one rule (`meta skuid`) takes
// everything it sends; a second drops everything sent to its raft ports.
//
// Needs root and nft (CI has both; scripts/deps.sh installs nftables).
// Elsewhere it says so and checks nothing, except under CI=true, where it
// fails.

#include "process_cluster.hpp"

#include <sys/stat.h>

using namespace raft::test;

namespace {

/// The minority runs as users of its own (nobody and the id below it),
/// one each, so each can be silenced and healed alone.
constexpr uid_t first_silent_uid = 65533;

/// An nftables table of this test's own, with one output chain per fault
/// so that each can be lifted alone; deleted when the test ends.
struct firewall {
  std::string table = "caf_raft_test_" + std::to_string(getpid());
  bool ok = false;

  firewall() {
    ok = run("nft add table inet " + table).code == 0 && chain("link");
  }

  ~firewall() {
    run("nft delete table inet " + table);
  }

  bool chain(const std::string& name) {
    return run("nft add chain inet " + table + " " + name
               + " '{ type filter hook output priority 0; policy accept; }'")
             .code
           == 0;
  }

  bool add(const std::string& chain, const std::string& rule) {
    auto r = run("nft add rule inet " + table + " " + chain + " " + rule);
    BOOST_TEST_REQUIRE(r.code == 0, "nft: " << r.out);
    return true;
  }

  /// Drops everything `n` (running as its own user) sends and everything
  /// sent to its raft port, in a chain named `name`.
  void silence(const std::string& name, const node& n) {
    BOOST_REQUIRE(chain(name));
    add(name, "meta skuid " + std::to_string(n.run_as) + " drop");
    add(name, "tcp dport " + std::to_string(n.raft_port) + " drop");
  }

  void lift(const std::string& chain) {
    run("nft flush chain inet " + table + " " + chain);
  }
};

bool firewall_available() {
  return geteuid() == 0 && run("nft --version").code == 0;
}

/// Whether this test may skip: only outside CI.
bool may_skip() {
  auto ci = std::getenv("CI");
  return ci == nullptr || std::string{ci} != "true";
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// `raftctl --json status` of `n`, or an empty object.
json status(const cluster& c, const node& n) {
  auto r = c.ctl(n, "--json status");
  if (r.code != 0)
    return json::object();
  try {
    return json::parse(r.out);
  } catch (...) {
    return json::object();
  }
}

/// Lets the minority's processes write their data folders and read their
/// keys after they drop root.
void hand_over(const cluster& c, const node& n) {
  chmod(c.root.c_str(), 0755);
  auto data = c.root + "/data-" + n.id;
  fs::create_directories(data);
  for (auto& p : {data, c.root + "/certs/" + n.id + ".key",
                  c.root + "/certs/" + n.id + ".pem"})
    BOOST_REQUIRE(chown(p.c_str(), n.run_as, n.run_as) == 0);
}

/// Puts `key` through `n` (forwarded to the leader); retries for a while,
/// as a client would, since each try may meet an election.
bool write(const cluster& c, const node& n, const std::string& key) {
  return poll_until(20s, [&] {
    return c.ctl(n, "put " + key + " yes").code == 0;
  });
}

/// Makes `id` the leader (a transfer unless it leads already).
void lead(cluster& c, const std::string& id) {
  BOOST_REQUIRE(poll_until(20s, [&] {
    auto l = c.leader();
    if (l == id)
      return true;
    if (!l.empty())
      c.ctl(c.by_id(l), "transfer-leadership " + id);
    return false;
  }));
}

} // namespace

BOOST_AUTO_TEST_CASE(majority_elects_while_a_silent_minority_is_away) {
  if (!firewall_available()) {
    BOOST_REQUIRE_MESSAGE(may_skip(), "CI must run this test as root with nft");
    BOOST_TEST_MESSAGE("skipped: needs root and nft (apt-get install "
                       "nftables)");
    return;
  }
  cluster c{{"n1", "n2", "n3", "n4", "n5"}};
  auto& n1 = c.by_id("n1");
  auto& n2 = c.by_id("n2");
  auto& n4 = c.by_id("n4");
  auto& n5 = c.by_id("n5");
  n4.run_as = first_silent_uid;
  n5.run_as = first_silent_uid + 1;
  hand_over(c, n4);
  hand_over(c, n5);
  c.start_all();
  BOOST_REQUIRE_MESSAGE(!c.wait_for_leader().empty(), "no leader\n" + c.logs());
  BOOST_REQUIRE(c.ctl(n1, "put before partition").code == 0);
  // The minority leads when the partition starts, so the majority must
  // elect a leader of its own.
  lead(c, "n4");
  firewall fw;
  BOOST_REQUIRE(fw.ok);
  fw.silence("n4", n4);
  fw.silence("n5", n5);
  auto t0 = clock_type::now();
  // Asked of the majority only: a silent server would hold each poll for
  // raftctl's whole timeout.
  auto in_majority = [&] {
    for (auto id : {"n1", "n2", "n3"})
      if (status(c, c.by_id(id)).value("state", "") == "Leader")
        return true;
    return false;
  };
  // Within a few election timeouts (400 ms here): the lease runs out on
  // the silent leader's side, then the majority votes (1.1 s measured).
  BOOST_REQUIRE_MESSAGE(poll_until(4s, in_majority),
                        "the majority elected no leader within 4 s\n"
                          + c.logs());
  auto elected = seconds_since(t0);
  BOOST_REQUIRE(write(c, n1, "first"));
  // n1 leads: it sends to the silent minority all the time, so it keeps
  // dialing it, and with n2 restarting it must reach n2 itself to commit
  // (n1, n2, n3 are the only majority).
  lead(c, "n1");
  // A majority member restarts while the minority is silent: it must be
  // dialed again at once, not behind dials to the minority (CAF's
  // middleman connects with a blocking connect()).
  c.kill_node(n2, SIGKILL);
  c.start(n2);
  t0 = clock_type::now();
  BOOST_TEST(write(c, n1, "second"), "no progress after n2 restarted\n"
                                       + c.logs());
  auto restarted = seconds_since(t0);
  // n4 comes back, n5 stays silent; n1 leads with n3 and n4 whatever
  // happens to its link to n2. That link (n1 dials n2, and only that
  // connection uses n2's raft port) falls silent and comes back: n1, which
  // keeps dialing n5 meanwhile, must dial n2 again as soon as it answers.
  fw.lift("n4");
  lead(c, "n1");
  auto link = [&](const std::string& peer) {
    return status(c, n1).value("link." + peer, "");
  };
  BOOST_REQUIRE(poll_until(20s, [&] { return link("n2") == "connected"; }));
  auto p2 = std::to_string(n2.raft_port);
  fw.add("link", "tcp dport " + p2 + " drop");
  fw.add("link", "tcp sport " + p2 + " drop");
  BOOST_TEST(poll_until(20s, [&] { return link("n2") != "connected"; }),
             "the silent link n1-n2 was never noticed: " << link("n2"));
  BOOST_TEST(write(c, n1, "third"), "no progress without the n1-n2 link");
  fw.lift("link");
  t0 = clock_type::now();
  BOOST_TEST(poll_until(20s, [&] { return link("n2") == "connected"; }),
             "link n1-n2 did not come back: " << link("n2") << "\n"
                                                << c.logs());
  auto relinked = seconds_since(t0);
  // Heal: every server reachable from the leader again, and n5 catches up.
  fw.lift("n5");
  t0 = clock_type::now();
  BOOST_TEST(poll_until(30s, [&] {
    auto l = c.leader();
    return !l.empty()
           && status(c, c.by_id(l)).value("peers_connected", 0) == 4;
  }), c.logs());
  auto healed = seconds_since(t0);
  BOOST_TEST(poll_until(30s, [&] {
    auto g = c.ctl(n5, "get third --stale");
    return g.code == 0 && g.out == "yes\n";
  }));
  BOOST_TEST_MESSAGE("partition to a majority leader: "
                     << elected << " s; majority member restarted to a "
                     << "commit: " << restarted << " s; link inside the "
                     << "majority restored to connected: " << relinked
                     << " s; heal to every link up: " << healed << " s");
}
