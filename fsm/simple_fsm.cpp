#include "caf-raft/fsm/simple_fsm.hpp"

#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/simple_snapshot.hpp"

namespace raft::fsm {

caf::message simple_fsm::apply(const raft::log_entry& entry) {
  std::lock_guard<std::mutex> guard{mtx_};
  logs_.push_back(entry.data);
  applied_ = entry.index;
  return caf::make_message(static_cast<int64_t>(logs_.size()));
}

caf::expected<std::unique_ptr<snapshot>> simple_fsm::take_snapshot() {
  std::lock_guard<std::mutex> guard{mtx_};
  auto n = logs_.size();
  return std::unique_ptr<snapshot>{new simple_snapshot(logs_, n)};
}

caf::error simple_fsm::restore(raft::snapshot_reader& in) {
  raft::bytes buf;
  auto err = raft::read_all(in, buf);
  in.close(); // The original always closes the reader, success or not.
  if (err)
    return err;
  auto decoded = simple_snapshot::decode(buf);
  if (!decoded)
    return std::move(decoded.error());
  std::lock_guard<std::mutex> guard{mtx_};
  logs_ = std::move(*decoded);
  // The snapshot does not say up to which index it reaches (the original's
  // format); the node knows.
  applied_ = 0;
  return caf::none;
}

bool simple_fsm::apply_blocks() const {
  return false;
}

raft::index_t simple_fsm::applied_index() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return applied_;
}

std::vector<raft::bytes> simple_fsm::logs() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return logs_;
}

} // namespace raft::fsm
