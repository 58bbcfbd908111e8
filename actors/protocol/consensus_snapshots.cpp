#include "caf-raft/actors/protocol/consensus.hpp"

#include <algorithm>

#include "caf-raft/actors/mutation.hpp"

// Snapshots and log compaction (§7): InstallSnapshot on the follower's
// side, and which entries the log may drop. consensus.hpp documents the
// class.

namespace raft {

bool consensus::handle(const install_snapshot_request& req) {
  if (role_ == role::shutdown)
    return false;
  if (req.term < term_) {
    // §5.1: tell a stale leader about the newer term.
    send(req.leader, install_snapshot_response{term_, cfg_.local_id,
                                               req.snapshot_id, 0, false});
    return false;
  }
  if (req.term > term_ || role_ != role::follower || leader_id_ != req.leader)
    become_follower(req.term, req.leader);
  // Chunks are the leader's heartbeats while a snapshot is on its way.
  heard_leader_ = true;
  removed_ = false;
  out_.leader_contact = true;
  return true;
}

void consensus::handle(const install_snapshot_response& resp) {
  if (role_ == role::shutdown)
    return;
  if (resp.term > term_)
    become_follower(resp.term, std::string{});
  else if (role_ == role::leader && resp.term == term_)
    if (auto i = followers_.find(resp.from); i != followers_.end()) {
      i->second.contacted = true;
      i->second.silent = false;
    }
}

void consensus::ack_snapshot_chunk(const install_snapshot_request& req,
                                   uint64_t next_offset, bool success) {
  send(req.leader, install_snapshot_response{term_, cfg_.local_id,
                                             req.snapshot_id, next_offset,
                                             success});
}

bool consensus::install_snapshot(index_t index, term_t term,
                                 const configuration& cfg, index_t cfg_index) {
  if (index <= commit_index_ && !mutant(mutation::snapshot_over_newer_state))
    return false;
  if (log_.term_at(index) == term) {
    // §7: the log already holds the snapshot's last entry; what follows it
    // may be newer than the snapshot and stays.
    if (unstable_from_ <= index)
      unstable_from_ = index + 1;
    log_.compact(index);
  } else {
    // §7: otherwise the snapshot replaces the whole log.
    log_.reset(index, term);
    pending_truncate_ = pending_truncate_ == 0
                          ? index + 1
                          : std::min(pending_truncate_, index + 1);
    unstable_from_ = index + 1;
  }
  pending_compact_ = std::max(pending_compact_, index);
  // The snapshot's configuration is the base; later entries still count,
  // but only if they stayed: a configuration whose entry went with the
  // replaced log is no configuration at all (seed 78456: a server kept one
  // of an old term's uncommitted entries and the cluster never elected a
  // leader again).
  bool kept_log = log_.last_index() > index;
  std::vector<std::pair<index_t, configuration>> later;
  for (auto& c : configs_)
    if (c.first > index
        && (kept_log || mutant(mutation::keep_replaced_configurations)))
      later.push_back(c);
  configs_.clear();
  configs_.emplace_back(cfg_index, cfg);
  for (auto& c : later)
    configs_.push_back(std::move(c));
  commit_index_ = index;
  durable_index_ = std::max(durable_index_, index);
  if (durable_index_ > log_.last_index())
    durable_index_ = log_.last_index();
  return true;
}

index_t consensus::compact(index_t snapshot_index) {
  if (snapshot_index <= cfg_.trailing_logs)
    return 0;
  // Only entries already handed to the log writer and known committed may
  // go: the store must never miss an entry that a snapshot does not cover.
  auto through = std::min({snapshot_index - cfg_.trailing_logs, commit_index_,
                           unstable_from_ - 1});
  if (through <= log_.snapshot_index())
    return 0;
  // The configuration as of the new base becomes the base configuration.
  auto base = configuration_at(through);
  log_.compact(through);
  pending_compact_ = std::max(pending_compact_, through);
  std::vector<std::pair<index_t, configuration>> kept;
  kept.emplace_back(base.second, std::move(base.first));
  for (auto& c : configs_)
    if (c.first > through)
      kept.push_back(std::move(c));
  configs_ = std::move(kept);
  return through;
}

void consensus::discard_stored_log() {
  auto base = log_.snapshot_index();
  pending_compact_ = std::max(pending_compact_, base);
  pending_truncate_ = pending_truncate_ == 0 ? base + 1
                                             : std::min(pending_truncate_,
                                                        base + 1);
}

} // namespace raft
