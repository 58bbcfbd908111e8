#include "caf-raft/actors/engine.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "caf-raft/config/errc.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

enum class phase { waiting, running, delayed, stopping };

const char* to_string(phase x) {
  switch (x) {
    case phase::waiting:
      return "waiting";
    case phase::running:
      return "running";
    case phase::delayed:
      return "delayed";
    default:
      return "stopping";
  }
}

/// One manifold and its worker.
struct slot {
  dependency_manifold m;
  phase ph = phase::waiting;
  caf::actor worker;
  /// Bumped on every start and every scheduled restart, so answers and
  /// timers of an older incarnation are recognised and dropped.
  uint64_t generation = 0;
  size_t starts = 0;
  size_t failures = 0;
  caf::timespan delay{0};
  caf::error last_error;
  caf::actor_clock::time_point started_at;
  /// Holds a pending restart delay; killed on shutdown so no timer keeps
  /// anything alive.
  caf::actor timer;
  std::vector<std::string> missing;
};

struct engine_state {
  static inline const char* name = "raft.engine";
  engine_config cfg;
  std::map<std::string, slot> slots;
  bool shutting_down = false;
  std::vector<caf::typed_response_promise<bool>> shutdown_waiters;
  caf::error exit_reason;
};

// Untyped inside, so that manifolds' output functions get a plain
// event_based_actor to send requests from; the handle is typed.
using engine_ptr = caf::stateful_actor<engine_state>*;

void try_start(engine_ptr self, const std::string& name);

void log_info(engine_ptr self, const std::string& text) {
  if (self->state.cfg.logger)
    self->state.cfg.logger->info("engine: {}", text);
}

void log_error(engine_ptr self, const std::string& text) {
  if (self->state.cfg.logger)
    self->state.cfg.logger->error("engine: {}", text);
}

bool uses(const slot& s, const std::string& input) {
  return std::find(s.m.inputs.begin(), s.m.inputs.end(), input)
         != s.m.inputs.end();
}

void maybe_finish_shutdown(engine_ptr self) {
  auto& st = self->state;
  if (!st.shutting_down)
    return;
  for (auto& [name, s] : st.slots)
    if (s.ph == phase::running || s.ph == phase::stopping)
      return;
  for (auto& rp : st.shutdown_waiters)
    rp.deliver(true);
  st.shutdown_waiters.clear();
  log_info(self, "stopped");
  self->quit(st.exit_reason);
}

/// Asks the worker of `s` to stop; its end then arrives as usual.
void stop_worker(slot& s) {
  if (s.ph != phase::running)
    return;
  s.ph = phase::stopping;
  caf::anon_send_exit(s.worker, caf::exit_reason::user_shutdown);
}

void cancel_timer(slot& s) {
  if (s.timer) {
    caf::anon_send_exit(s.timer, caf::exit_reason::user_shutdown);
    s.timer = nullptr;
  }
}

/// Restarts the workers that read `input` (their input changed or went).
void bounce_dependents(engine_ptr self, const std::string& input) {
  for (auto& [name, s] : self->state.slots)
    if (uses(s, input) && s.ph == phase::running) {
      log_info(self, "restarting " + name + ": input " + input + " changed");
      stop_worker(s);
    }
}

/// Starts the waiting manifolds that read `input`.
void start_dependents(engine_ptr self, const std::string& input) {
  std::vector<std::string> names;
  for (auto& [name, s] : self->state.slots)
    if (uses(s, input) && s.ph == phase::waiting)
      names.push_back(name);
  for (auto& name : names)
    try_start(self, name);
}

void schedule_restart(engine_ptr self, const std::string& name, slot& s) {
  auto& cfg = self->state.cfg;
  ++s.failures;
  auto base = std::chrono::duration<double, std::milli>{cfg.restart_delay};
  auto scaled = base.count()
                * std::pow(cfg.backoff_factor,
                           static_cast<double>(s.failures - 1));
  auto capped = std::min(scaled,
                         static_cast<double>(cfg.max_restart_delay.count()));
  s.delay = std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double, std::milli>{capped});
  s.ph = phase::delayed;
  auto gen = ++s.generation;
  cancel_timer(s);
  auto delay = s.delay;
  s.timer = self->system().spawn(
    [=](caf::event_based_actor* timer, caf::actor engine) -> caf::behavior {
      timer->delayed_send(timer, delay, timer_atom_v);
      return {[=](timer_atom) {
        caf::anon_send(engine, timer_atom_v, name, gen);
        timer->quit();
      }};
    },
    caf::actor_cast<caf::actor>(self));
  log_info(self, "restarting " + name + " in "
                   + std::to_string(std::chrono::duration_cast<
                                      std::chrono::milliseconds>(delay)
                                      .count())
                   + " ms");
}

/// The worker of `name` (incarnation `gen`) ended with `err` (none: clean).
void on_ended(engine_ptr self, const std::string& name, uint64_t gen,
              caf::error err) {
  auto& st = self->state;
  auto i = st.slots.find(name);
  if (i == st.slots.end())
    return;
  auto& s = i->second;
  if (s.generation != gen
      || (s.ph != phase::running && s.ph != phase::stopping))
    return;
  auto asked = s.ph == phase::stopping;
  self->demonitor(s.worker);
  // The worker actor may linger after its stop (it keeps answering wait);
  // nobody needs it any more.
  caf::anon_send_exit(s.worker, caf::exit_reason::kill);
  s.worker = nullptr;
  s.ph = phase::waiting;
  bounce_dependents(self, name);
  if (st.shutting_down) {
    maybe_finish_shutdown(self);
    return;
  }
  if (asked) {
    try_start(self, name);
    return;
  }
  // A worker that ran long enough was healthy: its failure count (and so
  // its back-off) starts afresh. Failed starts never reset it.
  if (self->clock().now() - s.started_at
      >= caf::timespan{st.cfg.reset_after})
    s.failures = 0;
  s.last_error = err ? err : make_error(errc::worker_stopped,
                                        "worker stopped without being asked");
  log_error(self, name + " ended: " + describe(s.last_error));
  schedule_restart(self, name, s);
}

void try_start(engine_ptr self, const std::string& name) {
  auto& st = self->state;
  if (st.shutting_down)
    return;
  auto& s = st.slots[name];
  if (s.ph != phase::waiting)
    return;
  std::map<std::string, std::any> available;
  s.missing.clear();
  for (auto& in : s.m.inputs) {
    if (auto r = st.cfg.resources.find(in); r != st.cfg.resources.end()) {
      available.emplace(in, r->second);
      continue;
    }
    auto m = st.slots.find(in);
    if (m != st.slots.end() && m->second.ph == phase::running) {
      available.emplace(in, std::any{m->second.worker});
      continue;
    }
    s.missing.push_back(in);
  }
  if (!s.missing.empty())
    return;
  dependency_context ctx{self->system(), s.m.inputs, std::move(available)};
  caf::expected<caf::actor> worker{caf::error{}};
  try {
    worker = s.m.start(ctx);
  } catch (std::exception& e) {
    worker = make_error(errc::not_valid,
                        "start of " + name + " threw: " + e.what());
  }
  if (!worker) {
    if (is_missing(worker.error()))
      return; // waits for its inputs, as Juju's engine on ErrMissing
    s.last_error = worker.error();
    log_error(self, "cannot start " + name + ": " + describe(s.last_error));
    schedule_restart(self, name, s);
    return;
  }
  s.worker = std::move(*worker);
  s.ph = phase::running;
  ++s.starts;
  s.started_at = self->clock().now();
  auto gen = ++s.generation;
  self->monitor(s.worker);
  self->request(s.worker, caf::infinite, wait_atom_v)
    .then([=](bool) { on_ended(self, name, gen, caf::none); },
          [=](caf::error& err) { on_ended(self, name, gen, std::move(err)); });
  log_info(self, "started " + name);
  start_dependents(self, name);
}

void begin_shutdown(engine_ptr self) {
  auto& st = self->state;
  if (st.shutting_down)
    return;
  st.shutting_down = true;
  for (auto& [name, s] : st.slots) {
    cancel_timer(s);
    if (s.ph == phase::delayed)
      s.ph = phase::waiting;
    stop_worker(s);
  }
  maybe_finish_shutdown(self);
}

/// A manifold's worker went down: it ended, cleanly or not.
void on_down(engine_ptr self, caf::down_msg& dm) {
  for (auto& [name, s] : self->state.slots)
    if (s.worker && s.worker.address() == dm.source) {
      auto reason = dm.reason && dm.reason != caf::exit_reason::normal
                      ? std::move(dm.reason)
                      : caf::error{};
      on_ended(self, name, s.generation, std::move(reason));
      return;
    }
}

/// Asks the named manifold's output function for an output of `type`.
void output(engine_ptr self, const std::string& name,
            const std::type_info& type,
            std::function<void(caf::expected<std::any>)> done) {
  auto& st = self->state;
  auto i = st.slots.find(name);
  if (i == st.slots.end())
    return done(make_error(errc::not_found, "no manifold " + name));
  auto& s = i->second;
  if (s.ph != phase::running)
    return done(missing_dependency());
  if (!s.m.output)
    return done(make_error(errc::unsupported, name + " has no outputs"));
  s.m.output(self, s.worker, type, std::move(done));
}

/// The named manifold's output of type `T`, as a response.
template <class T>
caf::result<T> output_as(engine_ptr self, const std::string& name) {
  auto rp = self->make_response_promise<T>();
  output(self, name, typeid(T), [rp](caf::expected<std::any> x) mutable {
    if (!x)
      rp.deliver(std::move(x.error()));
    else
      rp.deliver(std::any_cast<T>(*x));
  });
  return rp;
}

/// The report of `engine_actor`'s `report_atom`.
stats_map make_report(engine_ptr self) {
  stats_map m;
  for (auto& [name, s] : self->state.slots) {
    m[name + ".state"] = to_string(s.ph);
    m[name + ".starts"] = std::to_string(s.starts);
    m[name + ".failures"] = std::to_string(s.failures);
    if (s.ph == phase::delayed)
      m[name + ".delay_ms"] = std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.delay)
          .count());
    if (s.last_error)
      m[name + ".error"] = describe(s.last_error);
    if (!s.missing.empty() && s.ph == phase::waiting) {
      std::string xs;
      for (auto& x : s.missing)
        xs += (xs.empty() ? "" : ",") + x;
      m[name + ".missing"] = xs;
    }
  }
  return m;
}

/// A restart delay ran out: start the manifold again, unless it moved on.
void on_restart_timer(engine_ptr self, const std::string& name,
                      uint64_t gen) {
  auto& st = self->state;
  auto i = st.slots.find(name);
  if (i == st.slots.end() || st.shutting_down)
    return;
  auto& s = i->second;
  if (s.ph != phase::delayed || s.generation != gen)
    return;
  s.timer = nullptr;
  s.ph = phase::waiting;
  try_start(self, name);
}

caf::behavior engine(engine_ptr self, engine_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  for (auto& [name, m] : st.cfg.manifolds)
    st.slots[name].m = m;
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.exit_reason = msg.reason;
    begin_shutdown(self);
  });
  std::vector<std::string> names;
  for (auto& [name, s] : st.slots)
    names.push_back(name);
  for (auto& name : names)
    try_start(self, name);
  return {
    [=](caf::get_atom, const std::string& name) -> caf::result<caf::actor> {
      auto& st = self->state;
      auto i = st.slots.find(name);
      if (i == st.slots.end())
        return make_error(errc::not_found, "no manifold " + name);
      if (i->second.ph != phase::running)
        return missing_dependency();
      return i->second.worker;
    },
    [=](raft_atom, const std::string& name) {
      return output_as<node_actor>(self, name);
    },
    [=](log_store_atom, const std::string& name) {
      return output_as<shared_log_store>(self, name);
    },
    [=](caf::put_atom, const std::string& name, engine_resource& res) {
      auto& st = self->state;
      auto existed = st.cfg.resources.count(name) > 0;
      st.cfg.resources[name] = std::move(res.value);
      if (existed)
        bounce_dependents(self, name);
      start_dependents(self, name);
    },
    [=](report_atom) { return make_report(self); },
    [=](shutdown_atom) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      self->state.shutdown_waiters.push_back(rp);
      begin_shutdown(self);
      return rp;
    },
    [=](timer_atom, const std::string& name, uint64_t gen) {
      on_restart_timer(self, name, gen);
    },
  };
}

} // namespace

caf::expected<engine_actor> spawn_engine(caf::actor_system& sys,
                                         engine_config cfg) {
  auto bad = [](const std::string& what) {
    return make_error(errc::not_valid, what + " not valid");
  };
  for (auto& [name, m] : cfg.manifolds) {
    if (name.empty())
      return bad("empty manifold name");
    if (!m.start)
      return bad("nil Start of manifold " + name);
    if (std::find(m.inputs.begin(), m.inputs.end(), name) != m.inputs.end())
      return bad("manifold " + name + " reading itself");
  }
  for (auto& [name, r] : cfg.resources)
    if (name.empty())
      return bad("empty resource name");
  if (cfg.restart_delay.count() < 0 || cfg.max_restart_delay.count() < 0
      || cfg.reset_after.count() < 0)
    return bad("negative restart delay");
  if (!(cfg.backoff_factor >= 1.0))
    return bad("backoff factor below 1");
  return caf::actor_cast<engine_actor>(sys.spawn(engine, std::move(cfg)));
}

} // namespace raft
