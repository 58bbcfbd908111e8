#include "caf-raft/fsm/state_machine.hpp"

namespace raft::fsm {

snapshot::~snapshot() = default;

state_machine::~state_machine() = default;

bool state_machine::apply_blocks() const {
  return true;
}

raft::index_t state_machine::applied_index() const {
  return 0;
}

} // namespace raft::fsm
