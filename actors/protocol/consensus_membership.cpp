#include "caf-raft/actors/protocol/consensus.hpp"

#include <algorithm>
#include <stdexcept>

// Membership changes (§6, one server at a time as in thesis §4.1): which
// configuration is in force, and how servers join, are promoted, demoted
// and removed. consensus.hpp documents the class.

namespace raft {

proposal consensus::change_configuration(const configuration_change& ch) {
  proposal p;
  if (role_ != role::leader) {
    p.refusal = "node is not the leader";
    return p;
  }
  if (transferring()) {
    p.refusal = "leadership transfer in progress";
    return p;
  }
  if (!committed_in_term()) {
    p.refusal = "the leader has not committed an entry of its term yet; "
                "retry shortly";
    return p;
  }
  // §6 / thesis §4.1: one change at a time, each committed before the next.
  if (latest_configuration_index() > commit_index_) {
    p.refusal = "a configuration change is in progress (index "
                + std::to_string(latest_configuration_index())
                + " is not committed yet)";
    return p;
  }
  if (ch.prev_index != 0 && ch.prev_index != latest_configuration_index()) {
    p.refusal = "configuration changed since " + std::to_string(ch.prev_index)
                + " (latest is " + std::to_string(latest_configuration_index())
                + ")";
    return p;
  }
  if (ch.id.empty()) {
    p.refusal = "empty server ID";
    return p;
  }
  auto next = latest_configuration();
  auto i = std::find_if(next.servers.begin(), next.servers.end(),
                        [&](const server& s) { return s.id == ch.id; });
  auto known = i != next.servers.end();
  switch (ch.kind) {
    case change_kind::add_voter:
    case change_kind::add_nonvoter:
      if (ch.address.empty()) {
        p.refusal = "empty address for server " + ch.id;
        return p;
      }
      if (known) {
        i->address = ch.address;
      } else {
        // A new voter joins as a non-voter and is promoted once caught up
        // (maybe_promote), so it never holds back the commit index.
        next.servers.push_back(server{suffrage::nonvoter, ch.id, ch.address});
      }
      if (ch.kind == change_kind::add_voter
          && (!known || i->suffrage != suffrage::voter))
        promotions_[ch.id] = ch.address;
      break;
    // Removing or demoting a server that is not a member changes nothing
    // and succeeds, as HashiCorp's does: a caller whose first answer was
    // lost retries safely. The unchanged configuration is still written,
    // so the answer means the same as any other: committed.
    case change_kind::demote_voter:
      if (known)
        i->suffrage = suffrage::nonvoter;
      promotions_.erase(ch.id);
      break;
    case change_kind::remove_server:
      if (known)
        next.servers.erase(i);
      promotions_.erase(ch.id);
      break;
  }
  if (auto why = next.problem(); !why.empty()) {
    p.refusal = why;
    return p;
  }
  p.index = propose(entry_type::configuration, encode(next), 0);
  return p;
}

void consensus::maybe_promote() {
  if (role_ != role::leader || promotions_.empty() || !committed_in_term()
      || latest_configuration_index() > commit_index_)
    return;
  for (auto i = promotions_.begin(); i != promotions_.end(); ++i) {
    auto f = followers_.find(i->first);
    // Caught up: it holds everything committed so far.
    if (f == followers_.end() || f->second.match_index < commit_index_)
      continue;
    auto next = latest_configuration();
    for (auto& s : next.servers)
      if (s.id == i->first)
        s.suffrage = suffrage::voter;
    promotions_.erase(i);
    propose(entry_type::configuration, encode(next), 0);
    return; // one change at a time
  }
}

const configuration& consensus::committed_configuration() const {
  for (auto i = configs_.rbegin(); i != configs_.rend(); ++i)
    if (i->first <= commit_index_)
      return i->second;
  return configs_.front().second;
}

std::pair<configuration, index_t>
consensus::configuration_at(index_t index) const {
  for (auto i = configs_.rbegin(); i != configs_.rend(); ++i)
    if (i->first <= index)
      return {i->second, i->first};
  return {configs_.front().second, configs_.front().first};
}

bool consensus::is_voter(const std::string& id) const {
  return latest_configuration().is_voter(id);
}

std::vector<std::string> consensus::voters() const {
  std::vector<std::string> result;
  for (auto& s : latest_configuration().servers)
    if (s.suffrage == suffrage::voter)
      result.push_back(s.id);
  return result;
}

void consensus::track_configuration(const log_entry& entry) {
  if (entry.type != entry_type::configuration)
    return;
  auto cfg = decode_configuration(entry.data);
  if (!cfg)
    throw std::runtime_error("raft: configuration entry "
                             + std::to_string(entry.index)
                             + " cannot be decoded");
  configs_.emplace_back(entry.index, std::move(*cfg));
  if (role_ == role::leader) {
    // New servers get a replicator; removed ones lose theirs.
    auto& latest = configs_.back().second;
    for (auto& s : latest.servers)
      if (s.id != cfg_.local_id && followers_.count(s.id) == 0)
        add_follower(s.id);
    for (auto i = followers_.begin(); i != followers_.end();)
      if (latest.find(i->first) == nullptr)
        i = followers_.erase(i);
      else
        ++i;
  }
}

void consensus::drop_configurations_from(index_t index) {
  // The snapshot's configuration (the first) always stays.
  while (configs_.size() > 1 && configs_.back().first >= index)
    configs_.pop_back();
}

} // namespace raft
