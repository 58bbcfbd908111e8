#include "caf-raft/fsm/bootstrap_fsm.hpp"

#include <stdexcept>

namespace raft::fsm {

caf::message bootstrap_fsm::apply(const raft::log_entry&) {
  throw std::logic_error("bootstrap_fsm::apply called: raft must never apply "
                         "entries while bootstrapping");
}

caf::expected<std::unique_ptr<snapshot>> bootstrap_fsm::take_snapshot() {
  throw std::logic_error("bootstrap_fsm::take_snapshot called: raft must never "
                         "snapshot while bootstrapping");
}

caf::error bootstrap_fsm::restore(raft::snapshot_reader& in) {
  in.close();
  throw std::logic_error("bootstrap_fsm::restore called: raft must never "
                         "restore while bootstrapping");
}

} // namespace raft::fsm
