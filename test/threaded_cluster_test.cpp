#define BOOST_TEST_MODULE threaded_cluster
// The consensus issue's threaded test: three nodes on CAF's real
// work-stealing scheduler (2 threads), SQLite stores on disk with their log
// writers detached, FSM runners detached on some servers and on the
// scheduler on others, and the in-memory transport. Where the
// deterministic suites step a test coordinator, this one lets real threads
// race: concurrent clients, a leader killed mid-stream, restarts on the same
// stores. The test thread never sleeps to wait: every wait is on an event
// with a bound (a condition variable signalled by the state machines, the
// observers, the nodes' start signals, store releases and the transport's
// audit of durable acknowledgements; or a request's answer). Client actors
// back off 5 ms on the actor clock before retrying after an error.
//
// The raft seed (election timeout randomization) is printed on stderr and
// can be replayed with THREADED_CLUSTER_SEED=<n>; thread scheduling itself
// does not replay.

#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/restore_upload.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/inmem_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

using namespace raft;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// One condition variable for every event the test thread waits on: FSM
/// applies, observations, store releases, client acknowledgements.
struct signal {
  std::mutex mtx;
  std::condition_variable cv;
  uint64_t events = 0;

  void notify() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ++events;
    }
    cv.notify_all();
  }

  /// Waits until `pred` holds (evaluated under `mtx`), at most `bound`.
  template <class Pred>
  bool wait(clock_type::duration bound, Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, bound, pred);
  }

  /// Waits until any event after `seen` arrives, at most until `deadline`.
  bool wait_past(uint64_t seen, clock_type::time_point deadline) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_until(guard, deadline, [&] { return events > seen; });
  }

  uint64_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return events;
  }
};

/// A simple_fsm that tells the test thread when it applied an entry. It
/// says whether it `blocks`, so a cluster runs both FSM runners: on a
/// thread of its own (detached) and on the scheduler.
class watched_fsm : public raft::fsm::simple_fsm {
public:
  watched_fsm(std::shared_ptr<signal> sig, bool blocks)
    : sig_(std::move(sig)), blocks_(blocks) {
  }

  bool apply_blocks() const override {
    return blocks_;
  }

  caf::message apply(const log_entry& entry) override {
    auto result = simple_fsm::apply(entry);
    ++applied_;
    sig_->notify();
    return result;
  }

  caf::error restore(raft::snapshot_reader& in) override {
    auto err = simple_fsm::restore(in);
    if (!err) {
      applied_ = logs().size();
      sig_->notify();
    }
    return err;
  }

  /// How many commands the state holds.
  size_t size() const {
    return applied_.load();
  }

private:
  std::shared_ptr<signal> sig_;
  bool blocks_;
  std::atomic<size_t> applied_{0};
};

std::string text_of(const bytes& b) {
  return std::string(b.begin(), b.end());
}

bytes bytes_of(const std::string& s) {
  return bytes(s.begin(), s.end());
}

struct threaded_config : caf::actor_system_config {
  threaded_config() {
    // The default work-stealing scheduler, on two worker threads.
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    raft::register_types(*this);
  }
};

/// Temporary directories, removed when the fixture is gone (declared before
/// the actor system, so they outlive every actor that uses them).
struct temp_dirs {
  std::vector<std::string> paths;

  std::string make() {
    char tmpl[] = "/tmp/caf-raft-threaded-XXXXXX";
    auto p = mkdtemp(tmpl);
    if (p == nullptr)
      throw std::runtime_error("mkdtemp failed");
    paths.emplace_back(p);
    return paths.back();
  }

  ~temp_dirs() {
    for (auto& p : paths) {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  }
};

/// What a client learned about one acknowledged apply.
struct ack {
  index_t index = 0;
  /// The FSM's answer: its length after the apply, i.e. the 1-based position
  /// of the payload in every replica's simple_fsm log.
  int64_t position = 0;
  size_t node = 0;
  bool after_kill = false;
};

/// Everything the client actors and the test thread share.
struct shared_state {
  explicit shared_state(std::shared_ptr<signal> s) : sig(std::move(s)) {
  }

  std::shared_ptr<signal> sig;
  std::mutex mtx;
  /// Node handles by position; invalid while a node is down.
  std::vector<node_actor> nodes;
  std::vector<std::string> ids;
  std::set<std::string> sent;
  std::map<std::string, ack> acked;
  std::map<index_t, std::string> acked_at;
  std::vector<std::string> violations;
  std::map<std::string, size_t> errors;
  std::vector<std::string> unexpected_errors;
  std::atomic<size_t> acks{0};
  std::atomic<bool> stop{false};
  bool killed = false;

  node_actor node(size_t i) {
    std::lock_guard<std::mutex> guard{mtx};
    return i < nodes.size() ? nodes[i] : node_actor{};
  }

  int index_of(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == id)
        return static_cast<int>(i);
    return -1;
  }

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return nodes.size();
  }

  void note_sent(const std::string& payload) {
    std::lock_guard<std::mutex> guard{mtx};
    sent.insert(payload);
  }

  void note_ack(const std::string& payload, index_t idx,
                const caf::message& resp, size_t node) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ack a;
      a.index = idx;
      a.node = node;
      a.after_kill = killed;
      if (resp.match_elements<int64_t>())
        a.position = resp.get_as<int64_t>(0);
      else
        violations.push_back("apply of " + payload
                             + " answered without an FSM length: "
                             + to_string(resp));
      if (!acked.emplace(payload, a).second)
        violations.push_back(payload + " acknowledged twice");
      auto [it, fresh] = acked_at.emplace(idx, payload);
      if (!fresh)
        violations.push_back("index " + std::to_string(idx)
                             + " acknowledged for " + it->second + " and "
                             + payload);
    }
    ++acks;
    sig->notify();
  }

  void note_error(const caf::error& err) {
    std::string kind;
    if (is(err, errc::not_leader))
      kind = "not_leader";
    else if (is(err, errc::leadership_lost))
      kind = "leadership_lost";
    else if (err == caf::sec::request_timeout)
      kind = "request_timeout";
    else if (err == caf::sec::request_receiver_down)
      kind = "receiver_down";
    std::lock_guard<std::mutex> guard{mtx};
    if (kind.empty()) {
      unexpected_errors.push_back(describe(err));
      kind = "other";
    }
    ++errors[kind];
  }

  /// A client gave up on a request because its node went down.
  void note_down() {
    std::lock_guard<std::mutex> guard{mtx};
    ++errors["node_down"];
  }
};

// -- client actors -------------------------------------------------------------

// A client keeps one request in flight: it applies a new payload on the node
// it believes leads, and on any error (or when that node goes down) looks
// for the leader again and goes on with a new payload.
//
// CAF 0.17 drops the pending response promises of an actor that is killed
// without answering them (there is no broken_promise error before 0.18), so
// a client monitors the node it waits on: when that node dies it abandons
// the request at once instead of waiting for its timeout. Abandoned
// requests are tagged with a stale generation and ignored if they ever
// answer (an acknowledgement is still recorded).

using next_atom = caf::atom_constant<caf::atom("tnext")>;

constexpr auto apply_timeout = std::chrono::seconds{2};
constexpr auto retry_delay = std::chrono::milliseconds{5};

struct client_state {
  static inline const char* name = "threaded_test.client";
  int id = 0;
  uint64_t seq = 0;
  int target = -1;
  size_t rr = 0;
  /// Generation of the request in flight; answers of older ones are stale.
  uint64_t gen = 0;
  bool waiting = false;
  caf::actor_addr waiting_on;
  std::set<caf::actor_addr> monitored;
};

using client_ptr = caf::stateful_actor<client_state>*;

void retry_later(client_ptr self) {
  self->delayed_send(self, retry_delay, next_atom::value);
}

/// Marks a request to `node` as in flight; returns its generation.
uint64_t begin_request(client_ptr self, const node_actor& node) {
  auto& st = self->state;
  auto addr = node.address();
  if (st.monitored.insert(addr).second)
    self->monitor(node);
  st.waiting = true;
  st.waiting_on = addr;
  return ++st.gen;
}

/// True if the answer to request `gen` is still awaited (and closes it).
bool end_request(client_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (!st.waiting || st.gen != gen)
    return false;
  st.waiting = false;
  return true;
}

void send_apply(client_ptr self, std::shared_ptr<shared_state> sh,
                node_actor node, size_t target) {
  auto& st = self->state;
  auto payload = "c" + std::to_string(st.id) + "-" + std::to_string(st.seq++);
  sh->note_sent(payload);
  auto gen = begin_request(self, node);
  self->request(node, apply_timeout, apply_atom_v, bytes_of(payload))
    .then(
      [self, sh, payload, target, gen](index_t idx, caf::message& resp) {
        sh->note_ack(payload, idx, resp, target);
        if (end_request(self, gen))
          self->send(self, next_atom::value);
      },
      [self, sh, gen](caf::error& err) {
        if (!end_request(self, gen))
          return;
        // Unknown outcome: the payload may or may not commit. Find the
        // leader again and go on with a new payload.
        sh->note_error(err);
        self->state.target = -1;
        retry_later(self);
      });
}

void discover(client_ptr self, std::shared_ptr<shared_state> sh) {
  auto& st = self->state;
  auto n = sh->size();
  node_actor node;
  for (size_t k = 0; k < n && !node; ++k)
    node = sh->node(st.rr++ % n);
  if (!node) {
    retry_later(self);
    return;
  }
  auto gen = begin_request(self, node);
  self->request(node, std::chrono::milliseconds{500}, leader_atom_v)
    .then(
      [self, sh, gen](leader_info& li) {
        if (!end_request(self, gen))
          return;
        auto idx = sh->index_of(li.id);
        if (idx >= 0 && sh->node(static_cast<size_t>(idx))) {
          self->state.target = idx;
          self->send(self, next_atom::value);
        } else {
          retry_later(self);
        }
      },
      [self, gen](caf::error&) {
        if (end_request(self, gen))
          retry_later(self);
      });
}

caf::behavior client_impl(client_ptr self, std::shared_ptr<shared_state> sh,
                          int id) {
  self->state.id = id;
  self->state.rr = static_cast<size_t>(id);
  self->set_down_handler([self, sh](caf::down_msg& dm) {
    auto& st = self->state;
    st.monitored.erase(dm.source);
    if (st.waiting && st.waiting_on == dm.source) {
      st.waiting = false;
      ++st.gen;
      st.target = -1;
      sh->note_down();
      retry_later(self);
    }
  });
  self->send(self, next_atom::value);
  return {
    [self, sh](next_atom) {
      if (sh->stop) {
        self->quit();
        return;
      }
      auto& st = self->state;
      if (st.target >= 0) {
        auto target = static_cast<size_t>(st.target);
        if (auto node = sh->node(target)) {
          send_apply(self, sh, node, target);
          return;
        }
        st.target = -1;
      }
      discover(self, sh);
    },
  };
}

// -- the cluster ---------------------------------------------------------------

uint64_t pick_seed() {
  if (auto env = getenv("THREADED_CLUSTER_SEED"))
    return std::stoull(env);
  return std::random_device{}();
}

class threaded_cluster {
public:
  struct member {
    std::string id;
    std::string dir;
    std::shared_ptr<watched_fsm> fsm;
    std::shared_ptr<std::atomic<bool>> released;
    /// Set once the node loaded its store and runs (`on_started`).
    std::shared_ptr<std::atomic<bool>> started;
    bool up = false;
    int restarts = 0;
  };

  temp_dirs dirs;
  threaded_config cfg;
  caf::actor_system sys{cfg};
  uint64_t seed;
  std::shared_ptr<signal> sig = std::make_shared<signal>();
  std::shared_ptr<shared_state> shared = std::make_shared<shared_state>(sig);
  inmem_transport_actor transport;
  caf::actor observer;
  raft_config settings;
  std::vector<member> nodes;
  /// Observations seen, newest last (guarded by sig->mtx). Owned with the
  /// observer actor, which may run on while this object is torn down
  /// (AddressSanitizer caught the audit writing into a destroyed map).
  std::shared_ptr<std::vector<observation>> observations_holder
    = std::make_shared<std::vector<observation>>();
  std::vector<observation>& observations = *observations_holder;
  /// Per server id, the highest index it acknowledged with a successful
  /// AppendEntries response (guarded by sig->mtx). A node sends that only
  /// once the entries are durable (persist before send), so this is what
  /// its store is known to hold; the transport's audit hook reports it.
  /// (Per term, since an ack from an old term may cover entries that a
  /// later leader truncated.) Owned with the transport's audit hook, as
  /// above.
  using durable_map = std::map<std::string, std::map<term_t, index_t>>;
  std::shared_ptr<durable_map> durable_holder
    = std::make_shared<durable_map>();
  durable_map& durable = *durable_holder;

  /// With `with_snapshots`, every node keeps a file snapshot store in its
  /// directory and `tweak` may set how often snapshots are taken.
  bool with_snapshots = false;

  explicit threaded_cluster(size_t n, bool snapshots = false,
                            void (*tweak)(raft_config&) = nullptr)
    : seed(pick_seed()), with_snapshots(snapshots) {
    std::cerr << "threaded_cluster_test: seed " << seed << std::endl;
    auto sig_audit = sig;
    auto durable_ptr = durable_holder;
    transport = spawn_inmem_transport(
      sys, seed,
      [sig_audit, durable_ptr](const std::string& from, const std::string&,
                               const caf::message& msg) {
        if (!msg.match_elements<append_response>())
          return;
        auto& r = msg.get_as<append_response>(0);
        if (!r.success)
          return;
        {
          std::lock_guard<std::mutex> guard{sig_audit->mtx};
          auto& d = (*durable_ptr)[from][r.term];
          d = std::max(d, r.index);
          ++sig_audit->events;
        }
        sig_audit->cv.notify_all();
      });
    auto sig_ptr = sig;
    auto obs = observations_holder;
    observer = sys.spawn([sig_ptr, obs](caf::event_based_actor*) {
      return caf::behavior{[sig_ptr, obs](observation& x) {
        {
          std::lock_guard<std::mutex> guard{sig_ptr->mtx};
          obs->push_back(x);
          ++sig_ptr->events;
        }
        sig_ptr->cv.notify_all();
      }};
    });
    settings.heartbeat_timeout = 100ms;
    settings.election_timeout = 100ms;
    settings.leader_lease_timeout = 100ms;
    settings.commit_timeout = 5ms;
    if (tweak)
      tweak(settings);
    configuration conf;
    for (size_t i = 1; i <= n; ++i) {
      auto id = std::to_string(i);
      conf.servers.push_back(server{suffrage::voter, id, "addr-" + id});
    }
    shared->nodes.resize(n);
    for (size_t i = 1; i <= n; ++i) {
      member m;
      m.id = std::to_string(i);
      m.dir = dirs.make();
      auto store = new_log_store(m.dir);
      if (!store)
        throw std::runtime_error("cannot open store: "
                                 + describe(store.error()));
      if (auto err = bootstrap_cluster(**store, **store, conf))
        throw std::runtime_error("bootstrap failed: " + describe(err));
      nodes.push_back(std::move(m));
      shared->ids.push_back(std::to_string(i));
      // Close it; start() opens it again, as a restarted process would.
      (*store)->close();
    }
    for (size_t i = 0; i < n; ++i)
      if (auto err = start(i))
        throw std::runtime_error("cannot start node " + nodes[i].id + ": "
                                 + describe(err));
  }

  ~threaded_cluster() {
    shared->stop = true;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (auto h = shared->node(i))
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    {
      std::lock_guard<std::mutex> guard{shared->mtx};
      shared->nodes.clear();
    }
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(observer, caf::exit_reason::user_shutdown);
    // ~actor_system waits for every actor (clients quit on `stop`).
  }

  /// Spawns node `i` on its store directory with a fresh state machine. The
  /// node gets the only reference to the store; when the last actor holding
  /// it is gone, `released` is set and the test thread is told.
  caf::error start(size_t i) {
    auto& m = nodes[i];
    auto opened = new_log_store(m.dir);
    if (!opened)
      return std::move(opened.error());
    auto flag = std::make_shared<std::atomic<bool>>(false);
    auto sig_ptr = sig;
    std::shared_ptr<sqlite_store> real = std::move(*opened);
    auto raw = real.get();
    std::shared_ptr<sqlite_store> tracked{
      raw, [real, flag, sig_ptr](sqlite_store*) mutable {
        real.reset(); // closes the database and drops the flock
        flag->store(true);
        sig_ptr->notify();
      }};
    real.reset();
    m.released = flag;
    // Even servers apply on a thread of their own, odd ones on the
    // scheduler; a restart switches (m.restarts).
    m.fsm = std::make_shared<watched_fsm>(sig, (i + m.restarts) % 2 == 0);
    node_options opts;
    opts.settings = settings;
    opts.settings.local_id = m.id;
    opts.settings.random_seed = seed * 1000 + i + 1 + m.restarts * 7919;
    opts.log = tracked;
    opts.stable = tracked;
    tracked.reset();
    opts.fsm = m.fsm;
    if (std::getenv("RAFT_LOG") != nullptr) {
      // Debugging aid: RAFT_LOG=1 sends every node's log to stderr.
      static auto log = spdlog::stderr_color_mt("raft");
      opts.logger = log;
    }
    if (with_snapshots) {
      auto snaps = new_snapshot_store(m.dir, 2, nullptr);
      if (!snaps)
        return std::move(snaps.error());
      opts.snapshots = std::move(*snaps);
    }
    opts.transport = transport;
    opts.detach_blocking = true;
    // Until it loaded its store a node answers queries from a placeholder
    // (term 0, empty log); the test waits for this signal instead.
    auto started = std::make_shared<std::atomic<bool>>(false);
    m.started = started;
    opts.on_started = sys.spawn([started, sig_ptr](caf::event_based_actor* self) {
      return caf::behavior{[self, started, sig_ptr](loop_atom) {
        started->store(true);
        sig_ptr->notify();
        self->quit();
      }};
    });
    auto handle = spawn_node(sys, std::move(opts));
    caf::anon_send(handle, observe_atom_v, observer);
    {
      std::lock_guard<std::mutex> guard{shared->mtx};
      shared->nodes[i] = handle;
    }
    m.up = true;
    ++m.restarts;
    return caf::none;
  }

  /// Kills node `i` at once (as a crash): no shutdown, whatever its writer
  /// had not stored is lost.
  void kill(size_t i) {
    node_actor h;
    {
      std::lock_guard<std::mutex> guard{shared->mtx};
      h = shared->nodes[i];
      shared->nodes[i] = node_actor{};
      shared->killed = true;
    }
    nodes[i].up = false;
    caf::anon_send_exit(h, caf::exit_reason::kill);
    caf::anon_send(transport, disconnect_atom_v, nodes[i].id);
  }

  /// Shuts node `i` down cleanly; true if it answered within `bound`.
  bool shutdown(caf::scoped_actor& self, size_t i,
                caf::timespan bound = std::chrono::seconds{5}) {
    auto h = shared->node(i);
    {
      std::lock_guard<std::mutex> guard{shared->mtx};
      shared->nodes[i] = node_actor{};
    }
    nodes[i].up = false;
    bool ok = false;
    self->request(h, bound, shutdown_atom_v)
      .receive([&](bool) { ok = true; },
               [&](caf::error& err) {
                 BOOST_TEST_MESSAGE("shutdown of " << nodes[i].id << ": "
                                                   << describe(err));
               });
    return ok;
  }

  /// Waits until node `i`'s store is closed and unlocked.
  bool wait_released(size_t i, clock_type::duration bound = 10s) {
    auto flag = nodes[i].released;
    return sig->wait(bound, [&] { return flag->load(); });
  }

  /// Waits until node `i` loaded its store and runs.
  bool wait_started(size_t i, clock_type::duration bound = 10s) {
    auto flag = nodes[i].started;
    return sig->wait(bound, [&] { return flag->load(); });
  }

  /// Stats of node `i`, or nothing if it does not answer within `bound`.
  std::optional<stats_map> stats(caf::scoped_actor& self, size_t i,
                                 caf::timespan bound = std::chrono::seconds{1}) {
    std::optional<stats_map> out;
    auto h = shared->node(i);
    if (!h)
      return out;
    self->request(h, bound, stats_atom_v)
      .receive([&](stats_map& m) { out = std::move(m); },
               [&](caf::error&) {});
    return out;
  }

  /// The live node that claims leadership in the highest term, waiting for
  /// observations until `bound` passes; -1 if none.
  int find_leader(caf::scoped_actor& self, clock_type::duration bound = 10s,
                  term_t* term_out = nullptr) {
    auto deadline = clock_type::now() + bound;
    for (;;) {
      auto seen = sig->count();
      int best = -1;
      term_t best_term = 0;
      for (size_t i = 0; i < nodes.size(); ++i) {
        auto s = stats(self, i);
        if (!s || (*s)["state"] != "Leader")
          continue;
        auto t = std::stoull((*s)["term"]);
        if (best < 0 || t > best_term) {
          best = static_cast<int>(i);
          best_term = t;
        }
      }
      if (best >= 0) {
        if (term_out)
          *term_out = best_term;
        return best;
      }
      // No leader yet: wait for the next event (an observation, typically)
      // rather than polling.
      if (clock_type::now() >= deadline || !sig->wait_past(seen, deadline))
        return -1;
    }
  }

  /// Commits a barrier on the leader, so that its FSM reflects every entry
  /// in its log; returns the leader's position, or -1.
  /// `index_out` and `term_out` receive the barrier's index and the term the
  /// leader reported.
  int barrier(caf::scoped_actor& self, clock_type::duration bound = 10s,
              index_t* index_out = nullptr, term_t* term_out = nullptr) {
    auto deadline = clock_type::now() + bound;
    while (clock_type::now() < deadline) {
      term_t term = 0;
      auto l = find_leader(self, deadline - clock_type::now(), &term);
      if (l < 0)
        return -1;
      index_t idx = 0;
      self->request(shared->node(static_cast<size_t>(l)), std::chrono::seconds{5},
                    barrier_atom_v)
        .receive([&](index_t x) { idx = x; }, [&](caf::error&) {});
      if (idx != 0) {
        if (index_out)
          *index_out = idx;
        if (term_out)
          *term_out = term;
        return l;
      }
    }
    return -1;
  }

  /// Waits until every node but `leader` acknowledged `index` as durable in
  /// term `term` or later (when `index` was committed in `term`, every later
  /// leader holds it, so such an acknowledgement covers it).
  /// (A clean shutdown stops the log writer once its queued writes are
  /// done; entries a node holds only in memory, not yet handed to the
  /// writer, are not written. So what a store holds after a shutdown is
  /// what the node acknowledged, not what `last_index` reported.)
  bool wait_durable(int leader, index_t index, term_t term,
                    clock_type::duration bound = 10s) {
    return sig->wait(bound, [&] {
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (static_cast<int>(i) == leader)
          continue;
        auto& acks = durable[nodes[i].id];
        auto covered = std::any_of(acks.lower_bound(term), acks.end(),
                                   [&](auto& kv) { return kv.second >= index; });
        if (!covered)
          return false;
      }
      return true;
    });
  }

  std::string durable_indexes() {
    std::lock_guard<std::mutex> guard{sig->mtx};
    std::ostringstream os;
    for (auto& [id, acks] : durable)
      if (!acks.empty())
        os << id << ":" << acks.rbegin()->second << "@t"
           << acks.rbegin()->first << " ";
    return os.str();
  }

  /// What `apply` got acknowledged.
  struct applied {
    index_t index = 0;
    std::string payload;
  };

  /// Applies `base` on the leader. A refusal (not_leader) is retried with
  /// the same payload after a fresh lookup; an unknown outcome (leadership
  /// lost, timeout) with a new one, `base#1`, `base#2`, ..., since the first
  /// may still commit. Every payload tried goes into `tried`.
  applied apply(caf::scoped_actor& self, const std::string& base,
                std::set<std::string>& tried,
                clock_type::duration bound = 10s) {
    auto deadline = clock_type::now() + bound;
    int attempt = 0;
    auto payload = base;
    while (clock_type::now() < deadline) {
      auto l = find_leader(self, deadline - clock_type::now());
      if (l < 0)
        break;
      applied result;
      tried.insert(payload);
      self->request(shared->node(static_cast<size_t>(l)), std::chrono::seconds{5},
                    apply_atom_v, bytes_of(payload))
        .receive([&](index_t idx, caf::message&) {
                   result.index = idx;
                   result.payload = payload;
                 },
                 [&](caf::error& err) {
                   BOOST_TEST_MESSAGE("apply " << payload << ": "
                                               << describe(err));
                   if (!is(err, errc::not_leader))
                     payload = base + "#" + std::to_string(++attempt);
                 });
      if (result.index != 0)
        return result;
    }
    return applied{};
  }

  /// Waits until every live node's FSM has applied exactly `n` entries.
  bool wait_fsm_sizes(size_t n, clock_type::duration bound = 20s) {
    return sig->wait(bound, [&] {
      for (auto& m : nodes)
        if (m.up && m.fsm->size() != n)
          return false;
      return true;
    });
  }

  std::string fsm_sizes() const {
    std::ostringstream os;
    for (auto& m : nodes)
      os << m.id << ":" << (m.fsm ? m.fsm->size() : 0) << " ";
    return os.str();
  }
};

/// What a closed store holds, read by opening it afresh.
struct stored_state {
  std::map<index_t, log_entry> entries;
  term_t term = 0;

  index_t last_index() const {
    return entries.empty() ? 0 : entries.rbegin()->first;
  }
};

/// Opens the closed store in `dir` and reads every entry and the term.
stored_state read_store(const std::string& dir) {
  stored_state out;
  auto store = new_log_store(dir);
  if (!store)
    BOOST_FAIL("reopen " << dir << ": " << describe(store.error()));
  auto first = (*store)->first_index();
  auto last = (*store)->last_index();
  BOOST_REQUIRE(first && last);
  if (*first > 0 && *last >= *first) {
    std::vector<log_entry> entries;
    auto err = (*store)->get_range(*first, *last, SIZE_MAX, entries);
    BOOST_REQUIRE_MESSAGE(!err, describe(err));
    for (auto& e : entries)
      out.entries.emplace(e.index, std::move(e));
  }
  auto term = (*store)->get_uint64(stable_keys::current_term);
  if (term)
    out.term = *term;
  (*store)->close();
  return out;
}

/// Every acknowledged (index, payload) is on a majority of the stores, and
/// no store holds anything else at that index.
void check_stores(const std::vector<stored_state>& stores,
                  const std::map<index_t, std::string>& acked_at) {
  size_t under_replicated = 0;
  size_t replaced = 0;
  for (auto& [idx, payload] : acked_at) {
    size_t holders = 0;
    for (auto& s : stores) {
      auto e = s.entries.find(idx);
      if (e == s.entries.end())
        continue;
      if (text_of(e->second.data) == payload)
        ++holders;
      else if (replaced++ < 5)
        BOOST_ERROR("store holds " << text_of(e->second.data) << " at index "
                                   << idx << ", acknowledged for " << payload);
    }
    if (holders <= stores.size() / 2 && under_replicated++ < 5)
      BOOST_ERROR("acknowledged index " << idx << " is on " << holders
                                        << " stores");
  }
  BOOST_CHECK_EQUAL(replaced, 0u);
  BOOST_CHECK_EQUAL(under_replicated, 0u);
}

} // namespace

BOOST_AUTO_TEST_CASE(concurrent_applies_with_leader_killed) {
  constexpr size_t num_clients = 16;
  constexpr size_t acks_before_kill = 300;
  constexpr size_t acks_total = 1500;
  auto t0 = clock_type::now();
  threaded_cluster c{3};
  BOOST_TEST_CONTEXT("seed " << c.seed) {
    caf::scoped_actor self{c.sys};
    auto first_leader = c.find_leader(self);
    BOOST_REQUIRE_MESSAGE(first_leader >= 0, "no leader elected");

    // Clients run on the scheduler's threads, racing each other and raft.
    std::vector<caf::actor> clients;
    for (size_t k = 0; k < num_clients; ++k) {
      auto client = c.sys.spawn(client_impl, c.shared, static_cast<int>(k));
      self->monitor(client);
      clients.push_back(client);
    }
    auto sh = c.shared;
    BOOST_REQUIRE_MESSAGE(
      c.sig->wait(20s, [&] { return sh->acks >= acks_before_kill; }),
      "only " << sh->acks << " applies acknowledged before the kill");

    // Kill whoever leads now, while the clients keep going.
    auto victim = c.find_leader(self);
    BOOST_REQUIRE(victim >= 0);
    auto acks_at_kill = sh->acks.load();
    std::ostringstream at_kill;
    for (size_t i = 0; i < c.nodes.size(); ++i)
      if (auto s = c.stats(self, i))
        at_kill << c.nodes[i].id << ":" << (*s)["state"] << "/t"
                << (*s)["term"] << "/c" << (*s)["commit_index"] << " ";
    c.kill(static_cast<size_t>(victim));
    BOOST_TEST_MESSAGE("killed leader " << c.nodes[victim].id << " after "
                                        << acks_at_kill << " acks");
    BOOST_REQUIRE_MESSAGE(
      c.sig->wait(30s, [&] { return sh->acks >= acks_total; }),
      "only " << sh->acks << " applies acknowledged after the kill");

    // Stop the clients and wait until they are gone (each finishes its
    // request in flight, bounded by apply_timeout).
    sh->stop = true;
    size_t down = 0;
    bool stuck = false;
    while (down < clients.size() && !stuck)
      self->receive([&](caf::down_msg&) { ++down; },
                    caf::after(std::chrono::seconds{5}) >> [&] { stuck = true; });
    BOOST_REQUIRE_MESSAGE(!stuck, "clients did not stop: " << down << " of "
                                                           << clients.size());
    clients.clear();

    // The killed node's store is free once its actors are gone; restart it
    // on the same directory, as a restarted process would.
    BOOST_REQUIRE_MESSAGE(c.wait_released(static_cast<size_t>(victim)),
                          "the killed node never released its store");
    auto err = c.start(static_cast<size_t>(victim));
    BOOST_REQUIRE_MESSAGE(!err, "restart on the same store: " << describe(err));

    // A barrier makes the leader's FSM hold every entry of its log; no client
    // runs any more, so that is the final content every replica must reach.
    index_t barrier_index = 0;
    term_t barrier_term = 0;
    auto leader = c.barrier(self, 10s, &barrier_index, &barrier_term);
    BOOST_REQUIRE_MESSAGE(leader >= 0, "no barrier committed after restart");
    auto expected = c.nodes[leader].fsm->logs();
    BOOST_REQUIRE_MESSAGE(c.wait_fsm_sizes(expected.size()),
                          "FSMs did not converge to " << expected.size()
                                                      << " entries: "
                                                      << c.fsm_sizes());
    for (auto& m : c.nodes)
      BOOST_CHECK_MESSAGE(m.fsm->logs() == expected,
                          "FSM of " << m.id << " differs from the leader's");

    std::unique_lock<std::mutex> guard{sh->mtx};
    for (auto& v : sh->violations)
      BOOST_ERROR(v);
    BOOST_CHECK_MESSAGE(sh->unexpected_errors.empty(),
                        sh->unexpected_errors.size()
                          << " unexpected client errors, first: "
                          << (sh->unexpected_errors.empty()
                                ? std::string{}
                                : sh->unexpected_errors.front()));
    // Every replica applied each payload at most once, and nothing that no
    // client sent.
    std::map<std::string, size_t> where;
    for (size_t pos = 0; pos < expected.size(); ++pos) {
      auto text = text_of(expected[pos]);
      BOOST_CHECK_MESSAGE(where.emplace(text, pos + 1).second,
                          text << " applied twice");
      BOOST_CHECK_MESSAGE(sh->sent.count(text) == 1,
                          text << " applied but never sent");
    }
    // Every acknowledged payload is there, exactly where the FSM said it
    // was when acknowledging (its response is the log length after it).
    size_t missing = 0;
    size_t misplaced = 0;
    size_t after_kill = 0;
    std::map<std::pair<bool, size_t>, size_t> by_node;
    for (auto& [payload, a] : sh->acked) {
      ++by_node[{a.after_kill, a.node}];
      if (a.after_kill)
        ++after_kill;
      auto i = where.find(payload);
      if (i == where.end()) {
        if (missing++ < 5)
          BOOST_ERROR("acknowledged " << payload << " at index " << a.index
                                      << " is missing");
        continue;
      }
      if (static_cast<int64_t>(i->second) != a.position && misplaced++ < 5)
        BOOST_ERROR("acknowledged " << payload << " at FSM position "
                                    << a.position << " but applied at "
                                    << i->second);
    }
    BOOST_CHECK_EQUAL(missing, 0u);
    BOOST_CHECK_EQUAL(misplaced, 0u);
    BOOST_CHECK_MESSAGE(after_kill > 0, "nothing acknowledged after the kill");
    // Log indexes and FSM positions agree in order.
    {
      int64_t prev = 0;
      for (auto& [idx, payload] : sh->acked_at) {
        auto pos = sh->acked[payload].position;
        BOOST_CHECK_MESSAGE(pos > prev && static_cast<index_t>(pos) < idx,
                            "index " << idx << " acknowledged at position "
                                     << pos << " after position " << prev);
        prev = pos;
      }
    }
    std::ostringstream errs;
    errs << "[at kill: " << at_kill.str() << "; acks by node:";
    for (auto& [k, v] : by_node)
      errs << " " << (k.first ? "after/" : "before/") << c.nodes[k.second].id
           << "=" << v;
    errs << "] ";
    for (auto& [kind, n] : sh->errors)
      errs << kind << "=" << n << " ";
    auto acked = sh->acked.size();
    auto sent = sh->sent.size();
    guard.unlock();

    // Finally the stores themselves: once the followers acknowledged the
    // barrier (so their stores hold the whole committed log), shut every
    // node down, reopen each store and look up the acknowledged indexes. An
    // acknowledged entry is on a majority of stores and no store holds
    // anything else at its index.
    BOOST_REQUIRE_MESSAGE(c.wait_durable(leader, barrier_index, barrier_term),
                          "followers did not store index "
                            << barrier_index << ": " << c.durable_indexes());
    for (size_t i = 0; i < c.nodes.size(); ++i)
      BOOST_CHECK_MESSAGE(c.shutdown(self, i), "shutdown of node " << i + 1);
    std::vector<stored_state> stores;
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      BOOST_REQUIRE_MESSAGE(c.wait_released(i),
                            "node " << c.nodes[i].id
                                    << " did not release its store");
      stores.push_back(read_store(c.nodes[i].dir));
    }
    guard.lock();
    check_stores(stores, sh->acked_at);
    guard.unlock();
    auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::cerr << "concurrent_applies_with_leader_killed: " << acked
              << " acked of " << sent << " sent, " << expected.size()
              << " applied, killed " << c.nodes[victim].id << " after "
              << acks_at_kill << ", errors: " << errs.str() << "in " << secs
              << " s" << std::endl;
  }
}

/// Checks that every replica's FSM equals `expected`, that `expected` holds
/// no payload twice, only payloads from `tried`, and every one of `acked` in
/// order.
void check_fsms(threaded_cluster& c, const std::vector<bytes>& expected,
                const std::set<std::string>& tried,
                const std::vector<std::string>& acked) {
  for (auto& m : c.nodes)
    BOOST_CHECK_MESSAGE(m.fsm->logs() == expected,
                        "FSM of " << m.id << " differs from the leader's");
  std::set<std::string> seen;
  size_t next_ack = 0;
  for (auto& e : expected) {
    auto text = text_of(e);
    BOOST_CHECK_MESSAGE(seen.insert(text).second, text << " applied twice");
    BOOST_CHECK_MESSAGE(tried.count(text) == 1, text << " never sent");
    if (next_ack < acked.size() && acked[next_ack] == text)
      ++next_ack;
  }
  // (Boost evaluates the message even when the check passes.)
  BOOST_CHECK_MESSAGE(next_ack == acked.size(),
                      "acknowledged "
                        << (next_ack < acked.size() ? acked[next_ack] : "")
                        << " missing or out of order");
}

BOOST_AUTO_TEST_CASE(sqlite_state_survives_full_restart) {
  constexpr size_t n = 50;
  auto t0 = clock_type::now();
  threaded_cluster c{3};
  BOOST_TEST_CONTEXT("seed " << c.seed) {
    caf::scoped_actor self{c.sys};
    std::set<std::string> tried;
    std::vector<std::string> acked;
    std::map<index_t, std::string> acked_at;
    for (size_t k = 0; k < n; ++k) {
      auto r = c.apply(self, "old-" + std::to_string(k), tried);
      BOOST_REQUIRE_MESSAGE(r.index != 0, "apply old-" << k << " failed");
      acked.push_back(r.payload);
      acked_at.emplace(r.index, r.payload);
    }
    // A barrier, then every replica applies everything and the followers
    // acknowledge the barrier: their stores hold the whole log.
    index_t barrier_index = 0;
    term_t leader_term = 0;
    auto leader = c.barrier(self, 10s, &barrier_index, &leader_term);
    BOOST_REQUIRE_MESSAGE(leader >= 0, "no barrier committed");
    auto before = c.nodes[leader].fsm->logs();
    BOOST_REQUIRE_MESSAGE(c.wait_fsm_sizes(before.size()),
                          "FSMs: " << c.fsm_sizes() << ", leader has "
                                   << before.size());
    check_fsms(c, before, tried, acked);
    BOOST_REQUIRE_MESSAGE(c.wait_durable(leader, barrier_index, leader_term),
                          "followers did not store index "
                            << barrier_index << ": " << c.durable_indexes());
    for (size_t i = 0; i < c.nodes.size(); ++i)
      BOOST_REQUIRE_MESSAGE(c.shutdown(self, i), "shutdown of node " << i + 1);
    for (size_t i = 0; i < c.nodes.size(); ++i)
      BOOST_REQUIRE_MESSAGE(c.wait_released(i), "node " << c.nodes[i].id
                                                        << " kept its store");

    // What the stores hold: the term of the last leader (each follower
    // acknowledged in it, the leader voted for itself in it) and, on the
    // followers, the log up to the barrier. The leader's own store must
    // hold the applies: it wrote them long before the barrier.
    std::vector<stored_state> stores;
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      stores.push_back(read_store(c.nodes[i].dir));
      auto& st = stores.back();
      BOOST_CHECK_MESSAGE(st.term >= leader_term,
                          "store of " << c.nodes[i].id << " has term "
                                      << st.term << " < " << leader_term);
      auto want = static_cast<int>(i) == leader ? index_t{n + 2} : barrier_index;
      BOOST_CHECK_MESSAGE(st.last_index() >= want,
                          "store of " << c.nodes[i].id << " ends at "
                                      << st.last_index() << " < " << want);
    }
    check_stores(stores, acked_at);

    // Restart all three on the same directories, with fresh FSMs.
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      auto err = c.start(i);
      BOOST_REQUIRE_MESSAGE(!err, "restart " << c.nodes[i].id << ": "
                                             << describe(err));
    }
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      BOOST_REQUIRE_MESSAGE(c.wait_started(i), "node " << c.nodes[i].id
                                                        << " did not start");
      auto s = c.stats(self, i, std::chrono::seconds{5});
      BOOST_REQUIRE(s);
      auto term = std::stoull((*s)["term"]);
      auto last = std::stoull((*s)["last_log_index"]);
      // The node loaded its store: its term and log come back (a new
      // election may already have moved them on).
      BOOST_CHECK_MESSAGE(term >= stores[i].term,
                          "node " << c.nodes[i].id << " came back in term "
                                  << term << " < stored " << stores[i].term);
      // Configuration at 1, the first leader's no-op at 2, then the applies.
      BOOST_CHECK_MESSAGE(last >= n + 2, "node " << c.nodes[i].id
                                                  << " came back with last "
                                                  << "index " << last);
    }
    term_t new_term = 0;
    leader = c.find_leader(self, 10s, &new_term);
    BOOST_REQUIRE_MESSAGE(leader >= 0, "no leader after the restart");
    // A new election after the restart: a term above the old leader's.
    BOOST_CHECK_GT(new_term, leader_term);
    auto r = c.apply(self, "new", tried);
    BOOST_REQUIRE_MESSAGE(r.index != 0, "apply after the restart failed");
    BOOST_CHECK_GT(r.index, n + 2);
    acked.push_back(r.payload);
    // The fresh FSMs replay the old entries from the stores, then the new.
    leader = c.barrier(self);
    BOOST_REQUIRE_MESSAGE(leader >= 0, "no barrier committed after restart");
    auto after = c.nodes[leader].fsm->logs();
    BOOST_REQUIRE_MESSAGE(c.wait_fsm_sizes(after.size()),
                          "FSMs: " << c.fsm_sizes() << ", leader has "
                                   << after.size());
    BOOST_REQUIRE_GT(after.size(), before.size());
    BOOST_CHECK_MESSAGE(std::equal(before.begin(), before.end(), after.begin()),
                        "the replayed FSM does not start with the old entries");
    check_fsms(c, after, tried, acked);
    auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::cerr << "sqlite_state_survives_full_restart: " << before.size()
              << " entries, terms " << leader_term << " -> " << new_term
              << ", in " << secs << " s" << std::endl;
  }
}

BOOST_AUTO_TEST_CASE(snapshots_under_load_and_a_follower_caught_up_by_one) {
  // Real threads, SQLite and file snapshots: snapshots are taken every few
  // dozen entries while 16 clients apply; a follower is killed, the log
  // moves past what it has, and after its restart it catches up by
  // InstallSnapshot. Every acknowledged apply survives, exactly once.
  constexpr size_t num_clients = 16;
  threaded_cluster c{3, true, +[](raft_config& s) {
                       s.snapshot_threshold = 64;
                       s.snapshot_interval = 20ms;
                       s.trailing_logs = 16;
                       s.snapshot_chunk_size = 4096;
                     }};
  BOOST_TEST_CONTEXT("seed " << c.seed) {
    caf::scoped_actor self{c.sys};
    auto first_leader = c.find_leader(self);
    BOOST_REQUIRE_MESSAGE(first_leader >= 0, "no leader elected");
    std::vector<caf::actor> clients;
    for (size_t k = 0; k < num_clients; ++k) {
      auto client = c.sys.spawn(client_impl, c.shared, static_cast<int>(k));
      self->monitor(client);
      clients.push_back(client);
    }
    auto sh = c.shared;
    BOOST_REQUIRE(c.sig->wait(20s, [&] { return sh->acks >= 200; }));
    auto leader = c.find_leader(self);
    BOOST_REQUIRE(leader >= 0);
    auto victim = static_cast<size_t>((leader + 1) % 3);
    c.kill(victim);
    BOOST_REQUIRE_MESSAGE(c.sig->wait(30s, [&] { return sh->acks >= 1200; }),
                          "only " << sh->acks << " applies acknowledged");
    BOOST_REQUIRE(c.wait_released(victim));
    auto err = c.start(victim);
    BOOST_REQUIRE_MESSAGE(!err, "restart: " << describe(err));
    BOOST_REQUIRE(c.sig->wait(30s, [&] { return sh->acks >= 1600; }));
    sh->stop = true;
    size_t down = 0;
    bool stuck = false;
    while (down < clients.size() && !stuck)
      self->receive([&](caf::down_msg&) { ++down; },
                    caf::after(std::chrono::seconds{5}) >> [&] { stuck = true; });
    BOOST_REQUIRE(!stuck);
    clients.clear();
    index_t barrier_index = 0;
    auto l = c.barrier(self, 10s, &barrier_index);
    BOOST_REQUIRE(l >= 0);
    auto expected = c.nodes[l].fsm->logs();
    BOOST_REQUIRE_MESSAGE(c.wait_fsm_sizes(expected.size()),
                          "FSMs did not converge to " << expected.size()
                                                      << " entries: "
                                                      << c.fsm_sizes());
    // The restarted follower got a snapshot: its log no longer starts at 1
    // and its store holds a snapshot it did not take from its own log.
    auto stats = c.stats(self, victim);
    BOOST_REQUIRE(stats);
    BOOST_TEST(std::stoull((*stats)["last_snapshot_index"]) > 0u);
    BOOST_TEST(std::stoull((*stats)["first_log_index"]) > 1u);
    std::unique_lock<std::mutex> guard{sh->mtx};
    for (auto& v : sh->violations)
      BOOST_ERROR(v);
    std::set<std::string> tried = sh->sent;
    std::vector<std::pair<int64_t, std::string>> by_position;
    for (auto& [payload, a] : sh->acked)
      by_position.emplace_back(a.position, payload);
    std::sort(by_position.begin(), by_position.end());
    std::vector<std::string> acked;
    for (auto& x : by_position)
      acked.push_back(x.second);
    guard.unlock();
    check_fsms(c, expected, tried, acked);
    // Compaction kept every store small: no log starts at index 1 any more.
    for (size_t i = 0; i < c.nodes.size(); ++i)
      BOOST_CHECK_MESSAGE(c.shutdown(self, i), "shutdown of node " << i + 1);
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      BOOST_REQUIRE(c.wait_released(i));
      auto st = new_log_store(c.nodes[i].dir);
      BOOST_REQUIRE(st);
      auto first = (*st)->first_index();
      auto last = (*st)->last_index();
      BOOST_REQUIRE(first && last);
      // (Empty is fine: a snapshot installed last covers the whole log.)
      BOOST_CHECK_MESSAGE((*first == 0 && *last == 0)
                            || (*first > 1 && *last - *first < 1000),
                          "store of node " << c.nodes[i].id << " holds ["
                                           << *first << ", " << *last << "]");
    }
  }
}

BOOST_AUTO_TEST_CASE(restore_from_a_caller_stream_with_real_threads) {
  // HashiCorp's Restore(meta, reader, timeout) as a blocking caller uses it:
  // a snapshot saved to a file is streamed back in chunks through
  // restore_from_stream, and every FSM returns to it.
  threaded_cluster c{3, true, +[](raft_config& s) {
                       s.snapshot_threshold = 1 << 20; // by hand only
                     }};
  BOOST_TEST_CONTEXT("seed " << c.seed) {
    caf::scoped_actor self{c.sys};
    std::set<std::string> tried;
    BOOST_REQUIRE(c.apply(self, "command1", tried).index != 0);
    BOOST_REQUIRE(c.apply(self, "command2", tried).index != 0);
    auto l = c.find_leader(self);
    BOOST_REQUIRE(l >= 0);
    snapshot_meta meta;
    self->request(c.shared->node(static_cast<size_t>(l)), 10s, snapshot_atom_v)
      .receive([&](snapshot_meta& m) { meta = m; },
               [&](caf::error& e) { BOOST_FAIL(describe(e)); });
    // Save it to a file, as `raftctl snapshot save` would.
    auto file = c.dirs.make() + "/saved.snap";
    {
      auto store = new_snapshot_store(c.nodes[l].dir, 2, nullptr);
      BOOST_REQUIRE(store);
      auto opened = (*store)->open(meta.id);
      BOOST_REQUIRE(opened);
      std::ofstream out{file, std::ios::binary};
      std::vector<char> buf(4096);
      for (;;) {
        auto n = opened->second->read(buf.data(), buf.size());
        BOOST_REQUIRE(n);
        if (*n == 0)
          break;
        out.write(buf.data(), static_cast<std::streamsize>(*n));
      }
      opened->second->close();
    }
    BOOST_REQUIRE(c.apply(self, "command3", tried).index != 0);
    BOOST_REQUIRE(c.wait_fsm_sizes(3));
    std::ifstream in{file, std::ios::binary};
    auto idx = restore_from_stream(self,
                                   c.shared->node(static_cast<size_t>(l)), in,
                                   std::chrono::seconds{10}, 7);
    // (The message is built even when the check passes.)
    BOOST_REQUIRE_MESSAGE(idx, (idx ? std::string{} : describe(idx.error())));
    BOOST_TEST(*idx > meta.index);
    BOOST_REQUIRE_MESSAGE(c.wait_fsm_sizes(2), c.fsm_sizes());
  }
}

namespace {

/// A state machine whose `apply` waits until the test opens its gate, and
/// says so (`apply_blocks`): the node must run it on a thread of its own.
class gated_fsm : public raft::fsm::simple_fsm {
public:
  caf::message apply(const log_entry& entry) override {
    {
      std::unique_lock<std::mutex> guard{mtx};
      entered = true;
      cv.notify_all();
      cv.wait_for(guard, 20s, [this] { return open; });
    }
    auto result = simple_fsm::apply(entry);
    std::lock_guard<std::mutex> guard{mtx};
    ++applied;
    cv.notify_all();
    return result;
  }

  bool apply_blocks() const override {
    return true;
  }

  std::mutex mtx;
  std::condition_variable cv;
  bool entered = false;
  bool open = false;
  size_t applied = 0;
};

} // namespace

// raft::fsm::state_machine::apply_blocks: a state machine that blocks in apply
// runs on a thread of its own, so the node keeps answering while an apply
// waits. The actor system has a single scheduler thread (as raftd's): had
// the node applied on it, the state query below could not be answered.
BOOST_AUTO_TEST_CASE(a_blocking_state_machine_does_not_stall_the_node) {
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  auto store = std::make_shared<inmem_store>();
  configuration conf;
  conf.servers.push_back(server{suffrage::voter, "1", "addr-1"});
  BOOST_REQUIRE(!bootstrap_cluster(*store, *store, conf));
  auto fsm = std::make_shared<gated_fsm>();
  node_options opts;
  opts.settings.local_id = "1";
  opts.settings.heartbeat_timeout = 50ms;
  opts.settings.election_timeout = 50ms;
  opts.settings.leader_lease_timeout = 50ms;
  opts.log = store;
  opts.stable = store;
  opts.fsm = fsm;
  opts.transport = spawn_inmem_transport(sys, 1);
  auto node = spawn_node(sys, opts);
  // Told when the node leads.
  auto leads = std::make_shared<signal>();
  auto observer = sys.spawn([leads](caf::event_based_actor*) {
    return caf::behavior{[leads](const observation& o) {
      if (o.role == role::leader)
        leads->notify();
    }};
  });
  caf::anon_send(node, observe_atom_v, observer);
  BOOST_REQUIRE_MESSAGE(leads->wait(10s, [&] { return leads->events > 0; }),
                        "the single server never became leader");
  caf::anon_send(node, apply_atom_v, bytes{'x'});
  {
    std::unique_lock<std::mutex> guard{fsm->mtx};
    BOOST_REQUIRE_MESSAGE(fsm->cv.wait_for(guard, 10s,
                                           [&] { return fsm->entered; }),
                          "the entry was never applied");
  }
  caf::scoped_actor self{sys};
  bool answered = false;
  self->request(node, 5s, state_atom_v)
    .receive([&](role r) { answered = r == role::leader; },
             [&](caf::error& err) {
               BOOST_ERROR("node stalled while the FSM blocks: "
                           << describe(err));
             });
  BOOST_CHECK(answered);
  {
    std::unique_lock<std::mutex> guard{fsm->mtx};
    fsm->open = true;
    fsm->cv.notify_all();
    BOOST_CHECK(fsm->cv.wait_for(guard, 10s,
                                 [&] { return fsm->applied == 1; }));
  }
  self->request(node, 10s, shutdown_atom_v)
    .receive([](bool) {},
             [](caf::error& err) {
               BOOST_ERROR("shutdown failed: " << describe(err));
             });
  caf::anon_send_exit(observer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(opts.transport, caf::exit_reason::user_shutdown);
}
