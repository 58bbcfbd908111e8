#include "caf-raft/config/config.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft {

namespace {

caf::error not_valid(const char* what) {
  return make_error(errc::not_valid, std::string{what} + " not valid");
}

// The checks of the original's Config.Validate, in its order. The flags let
// bootstrap skip the two fields it must leave empty.
caf::error check(const config& x, bool need_fsm, bool need_transport) {
  if (need_fsm && x.fsm == nullptr)
    return not_valid("nil FSM");
  if (x.logger == nullptr)
    return not_valid("nil Logger");
  if (x.storage_dir.empty())
    return not_valid("empty StorageDir");
  if (x.local_id.empty())
    return not_valid("empty LocalID");
  if (x.snapshot_retention < 0)
    return not_valid("negative SnapshotRetention");
  if (need_transport && !x.transport)
    return not_valid("nil Transport");
  if (x.clock == nullptr)
    return not_valid("nil Clock");
  return caf::none;
}

} // namespace

caf::error config::validate() const {
  return check(*this, true, true);
}

caf::error config::validate_for_bootstrap() const {
  if (fsm != nullptr)
    return not_valid("non-nil FSM during Bootstrap");
  if (transport)
    return not_valid("non-nil Transport during Bootstrap");
  return check(*this, false, false);
}

} // namespace raft
