#pragma once

// The client side of the benchmark programs (apps/bench/raft_bench*.cpp): `conc`
// client actors, each with one apply in flight, against a leader for a
// fixed time. Header-only because every apps/*.cpp becomes a program.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include <sys/resource.h>

#include "caf-raft/actors/commit_trace.hpp"
#include "caf-raft/actors/messages.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

namespace raft::bench {

using steady = std::chrono::steady_clock;

/// User+system CPU of this process so far, in seconds.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/// Every client's latencies: the exact count and maximum, and a uniform
/// sample of at most `capacity` of them (reservoir sampling), so that the
/// load's memory stays bounded however long it runs (the node's process
/// hosts it, and raft-bench reports that process's memory).
struct latency_sample {
  static constexpr size_t capacity = size_t{1} << 20;
  std::mutex mtx;
  std::vector<int64_t> lat_ns;
  uint64_t count = 0;
  int64_t max_ns = 0;
  std::minstd_rand rng{42};

  void add(int64_t ns) {
    std::lock_guard<std::mutex> guard{mtx};
    ++count;
    max_ns = std::max(max_ns, ns);
    if (lat_ns.size() < capacity) {
      lat_ns.push_back(ns);
      return;
    }
    auto j = std::uniform_int_distribution<uint64_t>{0, count - 1}(rng);
    if (j < capacity)
      lat_ns[j] = ns;
  }
};

struct client_result {
  std::shared_ptr<latency_sample> sample;
  uint64_t errors = 0;
};

struct client_ctx {
  node_actor node;
  std::shared_ptr<const bytes> payload;
  steady::time_point deadline;
  caf::duration timeout; // infinite if 0
  std::shared_ptr<client_result> out;
  /// Told `(int32_t)` once this client's last request was answered.
  caf::actor driver;
};

/// Issues the next apply unless the window is over; on the answer records
/// the latency and issues the next (one request in flight per client). Once
/// the window is over it tells the driver, and then waits to be stopped.
inline void issue(caf::event_based_actor* self, std::shared_ptr<client_ctx> c) {
  auto t0 = steady::now();
  if (t0 >= c->deadline) {
    self->send(c->driver, int32_t{0});
    return;
  }
  self->request(c->node, c->timeout, apply_atom_v, *c->payload)
    .then(
      [self, c, t0](index_t idx, caf::message&) {
        auto t1 = steady::now();
        c->out->sample->add(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
            .count());
        if (commit_trace::enabled()) {
          auto ns = [](steady::time_point t) {
            return std::chrono::duration_cast<std::chrono::nanoseconds>(
                     t.time_since_epoch())
              .count();
          };
          commit_trace::note_at(commit_trace::stage::requested, idx, idx,
                                ns(t0));
          commit_trace::note_at(commit_trace::stage::done, idx, idx, ns(t1));
        }
        issue(self, c);
      },
      [self, c](caf::error&) {
        ++c->out->errors;
        issue(self, c);
      });
}

// Clients stay alive until every client is done: in CAF 0.17.6 a request
// timeout is not removed from the actor clock when the response arrives,
// only when it falls due or when its actor ends. A client that ends at once
// would make the clock thread erase its thousands of pending timeouts while
// the other clients still wait for their last answers, stalling them for
// 100+ ms (seen as max_ms at conc=256).
inline caf::behavior client(caf::event_based_actor* self,
                            std::shared_ptr<client_ctx> c) {
  issue(self, std::move(c));
  return {
    [](int32_t) {
      // nop; the driver ends the client with an exit message
    },
  };
}

struct load_result {
  /// A uniform sample of the latencies, sorted (latency_sample).
  std::vector<int64_t> lat_ns;
  /// Commits acknowledged, and the largest latency (exact).
  uint64_t ops = 0;
  int64_t max_ns = 0;
  uint64_t errors = 0;
  double secs = 0;
  /// User+system CPU of the whole process during the window, in seconds.
  double cpu = 0;
  /// False if some client did not finish within the bound.
  bool complete = true;
  /// The clients, still alive; see stop_clients.
  std::vector<caf::actor> clients;
};

/// Runs `conc` clients against `leader` for `secs` seconds and merges their
/// latencies. Waits (bounded) until every client finished; the caller stops
/// them with stop_clients.
inline load_result run_load(caf::scoped_actor& self, const node_actor& leader,
                            int conc, int size, double secs,
                            double apply_timeout) {
  using namespace std::chrono_literals;
  caf::duration timeout = caf::infinite;
  if (apply_timeout > 0)
    timeout = caf::duration{std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(apply_timeout))};
  auto payload = std::make_shared<bytes>(static_cast<size_t>(size));
  for (size_t i = 0; i < payload->size(); ++i)
    (*payload)[i] = static_cast<uint8_t>('a' + i % 26);
  std::vector<std::shared_ptr<client_result>> results;
  auto sample = std::make_shared<latency_sample>();
  std::vector<caf::actor> clients;
  auto driver = caf::actor_cast<caf::actor>(self);
  load_result res;
  auto cpu0 = cpu_seconds();
  auto start = steady::now();
  auto deadline = start
                  + std::chrono::duration_cast<steady::duration>(
                    std::chrono::duration<double>(secs));
  for (int i = 0; i < conc; ++i) {
    auto out = std::make_shared<client_result>();
    out->sample = sample;
    results.push_back(out);
    auto ctx = std::make_shared<client_ctx>(
      client_ctx{leader, payload, deadline, timeout, out, driver});
    clients.push_back(self->spawn<caf::monitored>(client, ctx));
  }
  // A request fails after `apply_timeout`, so every client finishes by then;
  // the bound leaves room for a slow disk.
  auto limit = deadline + 30s
               + std::chrono::duration_cast<steady::duration>(
                 std::chrono::duration<double>(apply_timeout));
  int running = conc;
  while (running > 0) {
    auto now = steady::now();
    if (now >= limit) {
      res.complete = false;
      break;
    }
    self->receive(
      [&](int32_t) { --running; },
      caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(limit
                                                                       - now)
                 + 1ms)
        >> [] {});
  }
  res.secs = std::chrono::duration<double>(steady::now() - start).count();
  res.cpu = cpu_seconds() - cpu0;
  if (res.complete) {
    // Safe to read: each client wrote its result before telling us.
    for (auto& r : results)
      res.errors += r->errors;
    std::lock_guard<std::mutex> guard{sample->mtx};
    res.lat_ns = std::move(sample->lat_ns);
    res.ops = sample->count;
    res.max_ns = sample->max_ns;
    std::sort(res.lat_ns.begin(), res.lat_ns.end());
  }
  res.clients = std::move(clients);
  return res;
}

/// Ends the clients of a load and waits (bounded) until they are gone, so
/// that their clean-up (see `client`) does not overlap the next phase.
inline bool stop_clients(caf::scoped_actor& self,
                         std::vector<caf::actor>& clients) {
  for (auto& c : clients)
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  auto alive = clients.size();
  auto limit = steady::now() + std::chrono::seconds{30};
  while (alive > 0 && steady::now() < limit)
    self->receive([&](caf::down_msg&) { --alive; }, [](int32_t) {},
                  caf::after(std::chrono::milliseconds{500}) >> [] {});
  clients.clear();
  return alive == 0;
}

/// The peer's percentile: element int(q * (n - 1)) of the sorted list, in ms.
inline double quantile_ms(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty())
    return 0;
  auto i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[i]) / 1e6;
}

} // namespace raft::bench
