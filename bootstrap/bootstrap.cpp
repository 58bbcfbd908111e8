#include "caf-raft/bootstrap/bootstrap.hpp"

#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/new_raft_config.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

namespace raft {

caf::error bootstrap(const config& cfg) {
  if (auto err = cfg.validate_for_bootstrap())
    return err;
  // The same settings rules as a worker's (the original ran the full worker
  // constructor).
  auto settings = new_raft_config(cfg);
  if (!settings)
    return std::move(settings.error());
  auto store = new_log_store(cfg.storage_dir);
  if (!store)
    return std::move(store.error());
  auto retain = cfg.snapshot_retention != 0 ? cfg.snapshot_retention
                                            : default_snapshot_retention;
  auto snapshots = new_snapshot_store(cfg.storage_dir, retain, cfg.logger);
  if (!snapshots)
    return std::move(snapshots.error());
  configuration conf;
  conf.servers.push_back(
    server{suffrage::voter, cfg.local_id, bootstrap_address});
  if (auto err = bootstrap_cluster(**store, **store, conf)) {
    auto code = is(err, errc::cant_bootstrap) ? errc::cant_bootstrap
                                              : static_cast<errc>(err.code());
    return make_error(code, "bootstrapping raft cluster: " + describe(err));
  }
  return (*store)->close();
}

} // namespace raft
