#include "caf-raft/bootstrap/inspect.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include "caf-raft/bootstrap/recover.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

namespace raft {

namespace {

/// Entries read per query while scanning the log.
constexpr index_t scan_batch = 512;

void note_entry(data_dir_info& info, const log_entry& e) {
  if (e.type != entry_type::configuration)
    return;
  std::string why;
  auto cfg = decode_configuration(e.data, &why);
  if (!cfg) {
    info.problems.push_back("entry " + std::to_string(e.index)
                            + ": configuration does not decode: " + why);
    return;
  }
  info.configurations.push_back({e.index, e.term, std::move(*cfg)});
}

/// Scans the log in batches; a batch that fails is re-read entry by entry
/// so one bad row does not hide the rest.
void scan_log(sqlite_store& store, data_dir_info& info) {
  for (auto k = info.first_index; k > 0 && k <= info.last_index;) {
    auto hi = std::min(info.last_index, k + scan_batch - 1);
    std::vector<log_entry> batch;
    if (!store.get_range(k, hi, std::numeric_limits<size_t>::max(), batch)
        && !batch.empty()) {
      for (auto& e : batch)
        note_entry(info, e);
      k = batch.back().index + 1;
      continue;
    }
    for (; k <= hi; ++k) {
      log_entry e;
      if (auto err = store.get_log(k, e)) {
        info.problems.push_back("entry " + std::to_string(k) + ": "
                                + describe(err));
        continue;
      }
      note_entry(info, e);
    }
  }
}

void scan_snapshots(const std::string& dir, data_dir_info& info) {
  std::error_code ec;
  auto folder = std::filesystem::path{dir} / snapshots_folder;
  if (!std::filesystem::is_directory(folder, ec))
    return;
  auto store = file_snapshot_store::make(dir, std::numeric_limits<int>::max(),
                                         nullptr);
  if (!store) {
    info.problems.push_back("snapshots: " + describe(store.error()));
    return;
  }
  auto metas = (*store)->list();
  if (!metas) {
    info.problems.push_back("snapshots: " + describe(metas.error()));
    return;
  }
  std::set<std::string> listed;
  for (auto& meta : *metas) {
    data_dir_info::snapshot_info s;
    s.id = meta.id;
    s.term = meta.term;
    s.index = meta.index;
    s.size = meta.size;
    s.servers = meta.configuration;
    s.configuration_index = meta.configuration_index;
    // open() checks size and CRC before handing out the reader.
    auto opened = (*store)->open(meta.id);
    if (opened) {
      s.crc_ok = true;
      opened->second->close();
    } else {
      s.error = describe(opened.error());
    }
    listed.insert(meta.id);
    info.snapshots.push_back(std::move(s));
  }
  // Folders the store skips (unreadable metadata) are worth showing too.
  std::vector<data_dir_info::snapshot_info> unusable;
  for (auto& ent : std::filesystem::directory_iterator{folder, ec}) {
    auto name = ent.path().filename().string();
    if (!ent.is_directory(ec) || listed.count(name) > 0)
      continue;
    data_dir_info::snapshot_info s;
    s.id = name;
    s.error = "not usable: metadata missing or unreadable";
    unusable.push_back(std::move(s));
  }
  std::sort(unusable.begin(), unusable.end(),
            [](auto& x, auto& y) { return x.id < y.id; });
  for (auto& s : unusable)
    info.snapshots.push_back(std::move(s));
}

/// What raftd would refuse to start from (the node's build_log rule): a
/// log that begins after the newest usable snapshot ends, so the entries in
/// between exist nowhere on this server.
void check_startable(data_dir_info& info) {
  if (info.last_index == 0)
    return;
  const data_dir_info::snapshot_info* newest = nullptr;
  for (auto& s : info.snapshots)
    if (s.crc_ok && (newest == nullptr || s.index > newest->index))
      newest = &s;
  auto covered = newest != nullptr ? newest->index : 0;
  if (info.first_index <= covered + 1)
    return;
  info.problems.push_back(
    "raftd will refuse to start: the log starts at index "
    + std::to_string(info.first_index) + " but "
    + (newest == nullptr ? std::string{"no snapshot is usable"}
                         : "the newest usable snapshot (" + newest->id
                             + ") ends at index " + std::to_string(covered))
    + ", so entries in between are lost here; if the other servers hold the "
      "data, wipe this folder and add the server again, else restore a "
      "backup");
}

} // namespace

caf::expected<data_dir_info> inspect_data_dir(const std::string& dir) {
  auto prefix = "inspecting raft data in " + dir + ": ";
  auto store = open_stopped_store(dir, prefix);
  if (!store)
    return std::move(store.error());
  data_dir_info info;
  info.dir = dir;
  auto& st = **store;
  auto first = st.first_index();
  if (!first)
    return annotate(first.error(), prefix);
  auto last = st.last_index();
  if (!last)
    return annotate(last.error(), prefix);
  info.first_index = *first;
  info.last_index = *last;
  if (*last > 0) {
    log_entry e;
    if (auto err = st.get_log(*last, e))
      info.problems.push_back("entry " + std::to_string(*last) + ": "
                              + describe(err));
    else
      info.last_term = e.term;
  }
  auto read_u64 = [&](const char* key, uint64_t& out) {
    auto x = st.get_uint64(key);
    if (x)
      out = *x;
    else if (!is(x.error(), errc::not_found))
      info.problems.push_back(std::string{key} + ": " + describe(x.error()));
  };
  read_u64(stable_keys::current_term, info.current_term);
  read_u64(stable_keys::last_vote_term, info.last_vote_term);
  if (auto cand = st.get(stable_keys::last_vote_cand))
    info.voted_for.assign(cand->begin(), cand->end());
  else if (!is(cand.error(), errc::not_found))
    info.problems.push_back(std::string{stable_keys::last_vote_cand} + ": "
                            + describe(cand.error()));
  if (auto c = st.stored_commit_index())
    info.commit_index = *c;
  else
    info.problems.push_back("commit index: " + describe(c.error()));
  scan_log(st, info);
  st.close();
  scan_snapshots(dir, info);
  check_startable(info);
  return info;
}

} // namespace raft
