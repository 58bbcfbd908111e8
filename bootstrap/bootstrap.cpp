#include "caf-raft/bootstrap/bootstrap.hpp"

#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/new_raft_config.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

namespace raft {

caf::error bootstrap(const config& cfg) {
  configuration conf;
  conf.servers.push_back(
    server{suffrage::voter, cfg.local_id, bootstrap_address});
  return bootstrap(cfg, conf);
}

caf::error bootstrap(const config& cfg, const configuration& founders) {
  // A founder missing from its own configuration would start as a server
  // that was never a member, and never vote or campaign.
  if (!founders.is_voter(cfg.local_id))
    return make_error(errc::not_valid,
                      "bootstrapping raft cluster: the founders' "
                      "configuration lacks this server, "
                        + cfg.local_id
                        + ", as a voter; give every founder the same "
                          "configuration, naming each of them as a voter");
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
  if (auto err = bootstrap_cluster(**store, **store, founders)) {
    auto code = is(err, errc::cant_bootstrap) ? errc::cant_bootstrap
                                              : static_cast<errc>(err.code());
    return make_error(code, "bootstrapping raft cluster: " + describe(err));
  }
  return (*store)->close();
}

} // namespace raft
