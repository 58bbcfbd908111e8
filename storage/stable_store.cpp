#include "caf-raft/storage/stable_store.hpp"

namespace raft {

stable_store::~stable_store() = default;

} // namespace raft
