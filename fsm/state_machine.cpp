#include "fsm/state_machine.hpp"

namespace fsm {

snapshot::~snapshot() = default;

state_machine::~state_machine() = default;

} // namespace fsm
