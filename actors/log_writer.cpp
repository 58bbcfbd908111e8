#include "caf-raft/actors/log_writer.hpp"

#include <chrono>
#include <mutex>

#include "caf-raft/actors/metrics.hpp"

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/spin_sharing.hpp"
#include "caf-raft/storage/stable_store.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/detail/sync_request_bouncer.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/typed_event_based_actor.hpp"

namespace raft {

namespace {

caf::expected<loaded_state> load(log_store& log, stable_store& stable) {
  loaded_state st;
  auto term = stable.get_uint64(stable_keys::current_term);
  if (term)
    st.term = *term;
  else if (!is(term.error(), errc::not_found))
    return std::move(term.error());
  // A vote counts only if it was cast in the current term; see persist()
  // for why the candidate is written before the vote's term.
  auto vote_term = stable.get_uint64(stable_keys::last_vote_term);
  if (vote_term && *vote_term == st.term && st.term > 0) {
    auto cand = stable.get(stable_keys::last_vote_cand);
    if (cand)
      st.voted_for.assign(cand->begin(), cand->end());
    else if (!is(cand.error(), errc::not_found))
      return std::move(cand.error());
  } else if (!vote_term && !is(vote_term.error(), errc::not_found)) {
    return std::move(vote_term.error());
  }
  auto first = log.first_index();
  if (!first)
    return std::move(first.error());
  auto last = log.last_index();
  if (!last)
    return std::move(last.error());
  if (*last >= *first && *first > 0) {
    if (auto err = log.get_range(*first, *last, SIZE_MAX, st.entries))
      return err;
  }
  auto commit = log.stored_commit_index();
  if (!commit)
    return std::move(commit.error());
  st.commit_index = *commit;
  return st;
}

/// Deletes the stored entries that a durable snapshot covers (§7), up to
/// `compact_through`. Only after the snapshot covering them is durable:
/// the snapshot manager closed it before the core asked for this.
caf::error compact(log_store& log, index_t compact_through) {
  auto first = log.first_index();
  if (!first)
    return std::move(first.error());
  if (*first != 0 && *first <= compact_through)
    return log.delete_range(*first, compact_through);
  return caf::none;
}

caf::error persist(log_store& log, stable_store& stable,
                   const persist_request& req) {
  if (req.hard_state) {
    // Term first; then the candidate, then the vote's term: a crash in
    // between leaves a vote whose term does not match, which load() ignores.
    // No vote was sent before this write completed, so none is forgotten.
    if (auto err = stable.set_uint64(stable_keys::current_term, req.term))
      return err;
    if (!req.voted_for.empty()) {
      bytes cand(req.voted_for.begin(), req.voted_for.end());
      if (auto err = stable.set(stable_keys::last_vote_cand, cand))
        return err;
      if (auto err = stable.set_uint64(stable_keys::last_vote_term, req.term))
        return err;
    }
  }
  if (req.truncate_from != 0) {
    auto last = log.last_index();
    if (!last)
      return std::move(last.error());
    if (*last >= req.truncate_from)
      if (auto err = log.delete_range(req.truncate_from, *last))
        return err;
  }
  if (req.entries.empty())
    return caf::none;
  // After a snapshot replaced the log, the new entries start past the
  // stored ones, which the snapshot covers (the node sends entries only
  // after its log or its snapshot). Those go first: stored the other way
  // round, a crash before their deletion leaves a gap that no restart can
  // read past (found by the simulator's crashes during writes).
  auto first = log.first_index();
  auto last = log.last_index();
  if (!first)
    return std::move(first.error());
  if (!last)
    return std::move(last.error());
  if (*last != 0 && req.entries.front().index > *last + 1)
    if (auto err = log.delete_range(*first, *last))
      return err;
  return log.store_logs_with_commit(req.entries, req.commit_index);
}

/// Makes `req` durable and answers `seq`; then deletes the compacted
/// entries it names. The answer does not wait for the deletion: nothing
/// that a node acknowledges depends on it, and a slice of
/// `consensus::compaction_slice` entries is a transaction of its own that
/// held every acknowledgement behind it for milliseconds. The next request
/// arrives a round trip later, and the deletion runs meanwhile. A crash
/// before it leaves entries the snapshot covers, which the next slice
/// deletes. Returns an error if the deletion failed after the answer.
template <class Promise>
caf::error persist_then_compact(Promise& rp, log_store& log,
                                stable_store& stable, raft_metrics* metrics,
                                uint64_t seq, const persist_request& req) {
  auto t0 = std::chrono::steady_clock::now();
  if (auto err = persist(log, stable, req)) {
    rp.deliver(err);
    return caf::none; // The node quits on the answer.
  }
  if (metrics && !req.entries.empty()) {
    metrics->log_store(std::chrono::steady_clock::now() - t0,
                       req.entries.size());
    if (auto sync = log.last_sync_duration(); sync.count() > 0)
      metrics->log_fsync(sync);
  }
  rp.deliver(seq);
  if (req.compact_through == 0)
    return caf::none;
  auto t1 = std::chrono::steady_clock::now();
  auto err = compact(log, req.compact_through);
  if (metrics && !err)
    metrics->compact_logs(std::chrono::steady_clock::now() - t1);
  return err;
}

/// Reads up to `max_count` entries from `from` on (a replicator's fetch
/// for a follower that needs entries the node no longer keeps in memory).
caf::result<entry_batch> handle_read(log_store& log, index_t from,
                                     term_t prev_term, uint64_t max_count,
                                     uint64_t max_bytes) {
  std::vector<log_entry> entries;
  if (auto err = log.get_range(from, from + max_count - 1, max_bytes, entries))
    return err;
  return make_entry_batch(from - 1, prev_term, std::move(entries));
}

caf::result<loaded_state> handle_load(log_store& log, stable_store& stable) {
  auto st = load(log, stable);
  if (!st)
    return std::move(st.error());
  return std::move(*st);
}

/// The writer on the scheduler (deterministic tests).
log_writer_actor::behavior_type
log_writer(log_writer_actor::pointer self, std::shared_ptr<log_store> log,
           std::shared_ptr<stable_store> stable,
           std::shared_ptr<raft_metrics> metrics) {
  return {
    [=](load_atom) { return handle_load(*log, *stable); },
    [=](entries_atom, index_t from, term_t prev_term, uint64_t max_count,
        uint64_t max_bytes) {
      return handle_read(*log, from, prev_term, max_count, max_bytes);
    },
    [=](persist_atom, uint64_t seq,
        const persist_request& req) -> caf::result<uint64_t> {
      // A failed deletion stops the writer, and the node with it (linked),
      // as a failed write does.
      auto rp = self->make_response_promise<uint64_t>();
      if (auto err = persist_then_compact(rp, *log, *stable, metrics.get(),
                                          seq, req))
        self->quit(err);
      return rp;
    },
  };
}

/// The writer on a thread of its own. Before it sleeps for the next
/// request it spins for `spin` (yielding the core), like the `spinning`
/// scheduler's worker (config/spin_sharing.hpp): a request that arrives
/// meanwhile costs the node no futex wake-up of this thread, and at one
/// write in flight the next request follows the previous answer within
/// tens of µs.
class spinning_log_writer : public caf::blocking_actor {
public:
  spinning_log_writer(caf::actor_config& cfg, std::shared_ptr<log_store> log,
                      std::shared_ptr<stable_store> stable,
                      std::shared_ptr<raft_metrics> metrics,
                      std::chrono::microseconds spin)
    : caf::blocking_actor(cfg),
      log_(std::move(log)),
      stable_(std::move(stable)),
      metrics_(std::move(metrics)),
      spin_(spin) {
    // nop
  }

  const char* name() const override {
    return "raft.log_writer";
  }

  void act() override {
    bool running = true;
    receive_while(running)(
      [&](load_atom) { return handle_load(*log_, *stable_); },
      [&](entries_atom, index_t from, term_t prev_term, uint64_t max_count,
          uint64_t max_bytes) {
        return handle_read(*log_, from, prev_term, max_count, max_bytes);
      },
      [&](persist_atom, uint64_t seq, const persist_request& req) {
        auto rp = make_response_promise<uint64_t>();
        if (auto err = persist_then_compact(rp, *log_, *stable_,
                                            metrics_.get(), seq, req)) {
          running = false;
          fail_state(std::move(err));
        }
      },
      // Blocking actors get exit messages like any other: without this
      // the node's send_exit (or its death, through the link) would sit
      // in the mailbox for good.
      [&](caf::exit_msg& x) {
        running = false;
        fail_state(std::move(x.reason));
      });
  }

  /// CAF's blocking actor wakes its reader while holding the mutex the
  /// reader needs next: the writer woke only to block on that mutex and be
  /// woken once more (four futex calls and two wake-ups per request, seen
  /// with strace). Taking and dropping the mutex before the notification
  /// keeps the guarantee the lock gives (the reader either has not checked
  /// its mailbox yet, or waits on the condition) and wakes it once.
  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit*) override {
    auto mid = ptr->mid;
    auto src = ptr->sender;
    switch (mailbox().push_back(std::move(ptr))) {
      case caf::intrusive::inbox_result::unblocked_reader:
        { std::lock_guard<std::mutex> guard{mtx_}; }
        cv_.notify_one();
        break;
      case caf::intrusive::inbox_result::queue_closed:
        // Gone: a request gets its error at once, as from CAF's enqueue.
        // The reason is read under the actor's lock: the writer's thread
        // may be storing it right now (monitorable_actor::cleanup).
        if (mid.is_request())
          caf::detail::sync_request_bouncer{
            caf::monitorable_actor::fail_state()}(src, mid);
        break;
      default:
        break;
    }
  }

protected:
  void await_data() override {
    spin_sharing::spin_while([this] { return mailbox().empty(); }, spin_);
    caf::blocking_actor::await_data();
  }

private:
  std::shared_ptr<log_store> log_;
  std::shared_ptr<stable_store> stable_;
  std::shared_ptr<raft_metrics> metrics_;
  std::chrono::microseconds spin_;
};

} // namespace

log_writer_actor spawn_log_writer(caf::actor_system& sys,
                            std::shared_ptr<log_store> log,
                            std::shared_ptr<stable_store> stable,
                            bool detached,
                            std::shared_ptr<raft_metrics> metrics) {
  if (!detached)
    return sys.spawn(log_writer, std::move(log), std::move(stable),
                     std::move(metrics));
  // Spins only where the process asked its scheduler to (node processes:
  // config/node_process_config.hpp); a host's own system keeps its threads
  // asleep when idle.
  // A blocking actor has no typed form in CAF 0.17; it answers exactly the
  // interface of the event-based writer above.
  return caf::actor_cast<log_writer_actor>(
    sys.spawn<spinning_log_writer>(std::move(log), std::move(stable),
                                   std::move(metrics),
                                   spin_sharing::spin_for(sys.config())));
}

} // namespace raft
