#pragma once

// The simulator's client history and its linearizability check.
//
// Every client operation is recorded with its call and its return on one
// clock that orders all events of a simulation (the simulation runs on one
// thread, so this is real time). The object is the replicated log itself:
// its state after index k is determined by the committed prefix up to k
// (State Machine Safety, which the fixture checks), so a read is described
// by the applied index it observed, and a write (an apply, a restore) by
// the index it was acknowledged with. A register per key is a projection
// of this state, so linearizability of the log implies it for every key.
//
// The history is linearizable iff each operation can be placed at one
// instant between its call and its return, in an order consistent with the
// log. For these operations that comes down to four rules, each checked by
// one sweep over the sorted history:
//   1. a read observes every write acknowledged before the read was called;
//   2. a read observes at least what any read that returned before it was
//      called observed;
//   3. a read observes no write called after the read returned;
//   4. a write acknowledged before another was called has a lower index.
// `verify_leader` reads nothing; it promises that the server was leader at
// some instant of the call, so no entry of a later term was committed
// before the call.

#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "caf-raft/storage/log_entry.hpp"

namespace raft::test {

/// One client operation as the simulator saw it.
struct client_op {
  enum kind_t { apply, restore, read_index, barrier, verify };
  kind_t kind = apply;
  std::string node;
  /// Event clock at the call and the return (0: never returned).
  uint64_t called = 0;
  uint64_t returned = 0;
  /// Simulated time of the call, for the printed history.
  int64_t called_ms = 0;
  bool ok = false;
  /// Apply, restore: the acknowledged index. Reads: the applied index the
  /// client observed.
  index_t index = 0;
  /// Verify: the leader's term.
  term_t term = 0;
  /// Apply: the command.
  bytes data;
};

class history {
public:
  /// Records a call; returns its handle for `complete`.
  size_t call(client_op op) {
    op.called = ++clock_;
    ops_.push_back(std::move(op));
    return ops_.size() - 1;
  }

  /// Records a return.
  void complete(size_t id, bool ok, index_t index = 0, term_t term = 0) {
    auto& op = ops_[id];
    op.returned = ++clock_;
    op.ok = ok;
    op.index = index;
    if (term != 0)
      op.term = term;
  }

  /// The clock now: an event stamped with it happened before every later
  /// call.
  uint64_t now() const {
    return clock_;
  }

  /// Records that index `k`, holding an entry of `entry_term` with `data`,
  /// was seen committed now.
  void committed(index_t k, term_t entry_term, const bytes& data,
                 bool command) {
    commits_.push_back(commit{clock_, k, entry_term});
    if (command)
      commands_[k] = data;
  }

  /// Successful reads and verifies checked so far.
  size_t reads_checked() const {
    size_t n = 0;
    for (auto& op : ops_)
      if (op.ok && op.kind != client_op::apply
          && op.kind != client_op::restore)
        ++n;
    return n;
  }

  /// Restores that were acknowledged.
  size_t restores_done() const {
    return static_cast<size_t>(std::count_if(
      ops_.begin(), ops_.end(),
      [](auto& op) { return op.ok && op.kind == client_op::restore; }));
  }

  /// Checks the four rules and the verify rule; returns what broke (with
  /// the history) or an empty string.
  std::string check() const {
    std::string err = check_reads();
    if (err.empty())
      err = check_writes();
    if (err.empty())
      err = check_verifies();
    return err.empty() ? err : err + "\n" + dump();
  }

  /// One line per operation, in call order.
  std::string dump() const {
    std::ostringstream os;
    os << "history (clock: call -> return):\n";
    for (auto& op : ops_) {
      os << "  " << op.called << " -> ";
      if (op.returned == 0)
        os << "never";
      else
        os << op.returned;
      os << " [" << op.called_ms << " ms] " << name(op.kind) << " on "
         << op.node << ": ";
      if (op.returned == 0)
        os << "no answer";
      else if (!op.ok)
        os << "failed";
      else if (op.kind == client_op::verify)
        os << "leader in term " << op.term;
      else
        os << "index " << op.index;
      if (op.kind == client_op::apply)
        os << " '" << std::string(op.data.begin(), op.data.end()) << "'";
      os << "\n";
    }
    return os.str();
  }

private:
  struct commit {
    uint64_t seen;
    index_t index;
    term_t term;
  };

  static const char* name(client_op::kind_t k) {
    switch (k) {
      case client_op::apply:
        return "apply";
      case client_op::restore:
        return "restore";
      case client_op::read_index:
        return "read";
      case client_op::barrier:
        return "barrier";
      default:
        return "verify";
    }
  }

  static bool is_write(const client_op& op) {
    return op.kind == client_op::apply || op.kind == client_op::restore;
  }

  static bool is_read(const client_op& op) {
    return op.kind == client_op::read_index || op.kind == client_op::barrier;
  }

  /// Successful operations matching `pred`, sorted by `key`.
  template <class Pred, class Key>
  std::vector<const client_op*> sorted(Pred pred, Key key) const {
    std::vector<const client_op*> out;
    for (auto& op : ops_)
      if (op.ok && pred(op))
        out.push_back(&op);
    std::sort(out.begin(), out.end(),
              [&](auto a, auto b) { return key(*a) < key(*b); });
    return out;
  }

  static std::string describe(const client_op& op) {
    std::ostringstream os;
    os << name(op.kind) << " on " << op.node << " (call " << op.called
       << ", return " << op.returned << ", index " << op.index << ")";
    return os.str();
  }

  /// Rules 1 to 3: one sweep over reads by call, with writes and reads by
  /// return.
  std::string check_reads() const {
    auto reads = sorted([](auto& op) { return is_read(op); },
                        [](auto& op) { return op.called; });
    auto writes = sorted([](auto& op) { return is_write(op); },
                         [](auto& op) { return op.returned; });
    auto done = sorted([](auto& op) { return is_read(op); },
                       [](auto& op) { return op.returned; });
    auto latest_call = latest_command_calls();
    size_t w = 0;
    size_t d = 0;
    const client_op* newest_write = nullptr;
    const client_op* newest_read = nullptr;
    for (auto r : reads) {
      for (; w < writes.size() && writes[w]->returned < r->called; ++w)
        if (!newest_write || writes[w]->index > newest_write->index)
          newest_write = writes[w];
      for (; d < done.size() && done[d]->returned < r->called; ++d)
        if (!newest_read || done[d]->index > newest_read->index)
          newest_read = done[d];
      if (newest_write && r->index < newest_write->index)
        return "stale read: " + describe(*r) + " misses "
               + describe(*newest_write) + ", acknowledged before the call";
      if (newest_read && r->index < newest_read->index)
        return "reads went back: " + describe(*r) + " after "
               + describe(*newest_read) + " had returned";
      auto it = latest_call.upper_bound(r->index);
      if (it != latest_call.begin() && std::prev(it)->second.first > r->returned)
        return "read from the future: " + describe(*r) + " observed index "
               + std::to_string(std::prev(it)->second.second)
               + ", whose apply was called after the read returned";
    }
    return {};
  }

  /// index k -> (the latest call among the commands at indexes up to k,
  /// the index of that command): rule 3 in one lookup per read.
  std::map<index_t, std::pair<uint64_t, index_t>> latest_command_calls() const {
    std::map<bytes, uint64_t> call_of;
    for (auto& op : ops_)
      if (op.kind == client_op::apply)
        call_of.emplace(op.data, op.called);
    std::map<index_t, std::pair<uint64_t, index_t>> out;
    std::pair<uint64_t, index_t> latest{0, 0};
    for (auto& [k, data] : commands_) {
      auto c = call_of.find(data);
      if (c != call_of.end() && c->second > latest.first)
        latest = {c->second, k};
      out.emplace(k, latest);
    }
    return out;
  }

  /// Rule 4.
  std::string check_writes() const {
    auto by_call = sorted([](auto& op) { return is_write(op); },
                          [](auto& op) { return op.called; });
    auto by_return = sorted([](auto& op) { return is_write(op); },
                            [](auto& op) { return op.returned; });
    size_t w = 0;
    const client_op* newest = nullptr;
    for (auto op : by_call) {
      for (; w < by_return.size() && by_return[w]->returned < op->called; ++w)
        if (!newest || by_return[w]->index > newest->index)
          newest = by_return[w];
      if (newest && op->index <= newest->index)
        return "writes out of order: " + describe(*op) + " after "
               + describe(*newest) + " had returned";
    }
    return {};
  }

  /// A verified leader of term T was leader at an instant of the call, so
  /// no entry of a later term had been committed before the call.
  std::string check_verifies() const {
    auto verifies = sorted(
      [](auto& op) { return op.kind == client_op::verify; },
      [](auto& op) { return op.called; });
    size_t c = 0;
    term_t newest = 0;
    index_t at = 0;
    for (auto v : verifies) {
      for (; c < commits_.size() && commits_[c].seen < v->called; ++c)
        if (commits_[c].term > newest) {
          newest = commits_[c].term;
          at = commits_[c].index;
        }
      if (newest > v->term)
        return "stale leader verified: " + describe(*v) + " as leader of term "
               + std::to_string(v->term) + ", but index " + std::to_string(at)
               + " of term " + std::to_string(newest)
               + " was committed before the call";
    }
    return {};
  }

  uint64_t clock_ = 0;
  std::vector<client_op> ops_;
  std::vector<commit> commits_;
  /// index -> command, as committed.
  std::map<index_t, bytes> commands_;
};

} // namespace raft::test
