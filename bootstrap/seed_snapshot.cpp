#include "caf-raft/bootstrap/seed_snapshot.hpp"

#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

namespace raft {

namespace {

caf::error not_empty(const std::string& dir, const std::string& what) {
  return make_error(errc::cant_bootstrap,
                    dir + " already holds " + what
                      + ": restore into an empty data dir, never over a "
                        "server's state");
}

} // namespace

caf::error seed_from_snapshot(const std::string& dir, index_t index,
                              term_t term, const configuration& conf,
                              const bytes& state) {
  if (auto why = conf.problem(); !why.empty())
    return make_error(errc::not_valid, std::move(why));
  if (index == 0 || term == 0)
    return make_error(errc::not_valid,
                      "a snapshot to seed from needs an index and a term");
  auto store = new_log_store(dir);
  if (!store)
    return std::move(store.error());
  auto existing = has_existing_state(**store, **store);
  if (!existing)
    return std::move(existing.error());
  if (*existing)
    return not_empty(dir, "a raft log or term");
  auto snaps = file_snapshot_store::make(dir, 2, nullptr);
  if (!snaps)
    return std::move(snaps.error());
  auto listed = (*snaps)->list();
  if (!listed)
    return std::move(listed.error());
  if (!listed->empty())
    return not_empty(dir, "snapshots");
  // The snapshot first: a folder left with only a snapshot is refused by
  // a second attempt, not mistaken for an empty one.
  auto sink = (*snaps)->create(index, term, conf, index);
  if (!sink)
    return std::move(sink.error());
  if (auto err = (*sink)->write(state.data(), state.size())) {
    (*sink)->cancel();
    return err;
  }
  if (auto err = (*sink)->close())
    return err;
  return (*store)->set_uint64(stable_keys::current_term, term);
}

} // namespace raft
