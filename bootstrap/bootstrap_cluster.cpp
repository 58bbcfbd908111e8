#include "caf-raft/bootstrap/bootstrap_cluster.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft {

caf::expected<bool> has_existing_state(log_store& log, stable_store& stable) {
  auto term = stable.get_uint64(stable_keys::current_term);
  if (term && *term > 0)
    return true;
  if (!term && !is(term.error(), errc::not_found))
    return std::move(term.error());
  auto last = log.last_index();
  if (!last)
    return std::move(last.error());
  return *last > 0;
}

caf::error bootstrap_cluster(log_store& log, stable_store& stable,
                             const configuration& cfg) {
  if (auto why = cfg.problem(); !why.empty())
    return make_error(errc::not_valid, std::move(why));
  auto existing = has_existing_state(log, stable);
  if (!existing)
    return std::move(existing.error());
  if (*existing)
    return make_error(errc::cant_bootstrap);
  if (auto err = stable.set_uint64(stable_keys::current_term, 1))
    return err;
  log_entry entry;
  entry.index = 1;
  entry.term = 1;
  entry.type = entry_type::configuration;
  entry.data = encode(cfg);
  entry.appended_at_ms = unix_millis_now();
  return log.store_log(entry);
}

} // namespace raft
