#include "caf-raft/bootstrap/recover.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

namespace raft {

namespace {

/// The newest configuration entry in [first, last], scanning backwards.
caf::error latest_config(log_store& log, index_t first, index_t last,
                         configuration& cfg, index_t& index) {
  for (auto k = last; k >= first && k > 0; --k) {
    log_entry e;
    if (auto err = log.get_log(k, e))
      return err;
    if (e.type != entry_type::configuration)
      continue;
    std::string why;
    auto decoded = decode_configuration(e.data, &why);
    if (!decoded)
      return make_error(errc::corrupt, why);
    cfg = std::move(*decoded);
    index = k;
    return caf::none;
  }
  return caf::none;
}

} // namespace

caf::expected<recover_result>
recover_cluster(log_store& log, stable_store& stable, const configuration& cfg,
                index_t snapshot_index, term_t snapshot_term) {
  if (auto why = cfg.problem(); !why.empty())
    return make_error(errc::not_valid, std::move(why));
  term_t current = 0;
  if (auto t = stable.get_uint64(stable_keys::current_term))
    current = *t;
  else if (!is(t.error(), errc::not_found))
    return std::move(t.error());
  auto first = log.first_index();
  if (!first)
    return std::move(first.error());
  auto last = log.last_index();
  if (!last)
    return std::move(last.error());
  index_t last_index = snapshot_index;
  term_t last_term = snapshot_term;
  if (*last > 0 && *last >= snapshot_index) {
    log_entry e;
    if (auto err = log.get_log(*last, e))
      return err;
    last_index = e.index;
    last_term = e.term;
  }
  if (current == 0 && last_index == 0)
    return make_error(errc::cant_bootstrap,
                      "no existing state to recover: the stores hold no term "
                      "and no log (bootstrap a new cluster instead)");
  recover_result res;
  if (*last > 0)
    if (auto err = latest_config(log, *first, *last, res.previous,
                                 res.previous_index))
      return err;
  if (res.previous_index > 0 && res.previous == cfg) {
    // Already forced (or never needed): a second backstop run must not pile
    // up entries.
    log_entry e;
    if (auto err = log.get_log(res.previous_index, e))
      return err;
    res.index = e.index;
    res.term = e.term;
    return res;
  }
  // A term below the last entry's would break the log's order; the current
  // term is what a leader of this term would have written.
  auto term = std::max(current, last_term);
  log_entry entry;
  entry.index = last_index + 1;
  entry.term = term;
  entry.type = entry_type::configuration;
  entry.data = encode(cfg);
  entry.appended_at_ms = unix_millis_now();
  if (auto err = log.store_log(entry))
    return err;
  if (current < term)
    if (auto err = stable.set_uint64(stable_keys::current_term, term))
      return err;
  res.appended = true;
  res.index = entry.index;
  res.term = entry.term;
  return res;
}

caf::expected<std::shared_ptr<sqlite_store>>
open_stopped_store(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  auto logs = std::filesystem::path{dir} / "logs";
  if (!std::filesystem::exists(logs, ec))
    return make_error(errc::not_found,
                      prefix + "no raft store (" + logs.string()
                        + " does not exist)");
  auto store = new_log_store(dir);
  if (!store) {
    if (is(store.error(), errc::locked))
      return make_error(errc::locked,
                        prefix + describe(store.error())
                          + " (is the node still running? stop it first)");
    return annotate(store.error(), prefix);
  }
  return store;
}

caf::expected<recover_result> recover(const std::string& dir,
                                      const configuration& cfg) {
  auto prefix = "recovering raft cluster in " + dir + ": ";
  auto store = open_stopped_store(dir, prefix);
  if (!store)
    return std::move(store.error());
  index_t snap_index = 0;
  term_t snap_term = 0;
  auto last = (*store)->last_index();
  if (!last)
    return annotate(last.error(), prefix);
  std::error_code ec;
  if (*last == 0
      && std::filesystem::exists(std::filesystem::path{dir}
                                   / snapshots_folder,
                                 ec)) {
    // A log emptied by compaction continues after the newest snapshot.
    auto snaps = file_snapshot_store::make(dir, std::numeric_limits<int>::max(),
                                           nullptr);
    if (!snaps)
      return annotate(snaps.error(), prefix);
    auto metas = (*snaps)->list();
    if (!metas)
      return annotate(metas.error(), prefix);
    if (!metas->empty()) {
      snap_index = metas->front().index;
      snap_term = metas->front().term;
    }
  }
  auto res = recover_cluster(**store, **store, cfg, snap_index, snap_term);
  auto close_err = (*store)->close();
  if (!res)
    return annotate(res.error(), prefix);
  if (close_err)
    return annotate(close_err, prefix);
  return res;
}

} // namespace raft
