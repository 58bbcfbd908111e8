#include "caf-raft/fsm/simple_snapshot.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft::fsm {

namespace {

void put_u64(raft::bytes& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

bool get_u64(const raft::bytes& in, size_t& pos, uint64_t& x) {
  if (in.size() - pos < 8)
    return false;
  x = 0;
  for (int i = 0; i < 8; ++i)
    x |= static_cast<uint64_t>(in[pos + i]) << (8 * i);
  pos += 8;
  return true;
}

} // namespace

simple_snapshot::simple_snapshot(std::vector<raft::bytes> logs, size_t n)
  : logs_(std::move(logs)), n_(n) {
  // Nothing to check beyond the bound: persist never reads past `n`.
  if (n_ > logs_.size())
    n_ = logs_.size();
}

raft::bytes simple_snapshot::encode(const std::vector<raft::bytes>& logs,
                                    size_t n) {
  raft::bytes out;
  put_u64(out, n);
  for (size_t i = 0; i < n; ++i) {
    put_u64(out, logs[i].size());
    out.insert(out.end(), logs[i].begin(), logs[i].end());
  }
  return out;
}

caf::expected<std::vector<raft::bytes>>
simple_snapshot::decode(const raft::bytes& buf) {
  using raft::errc;
  size_t pos = 0;
  uint64_t n = 0;
  if (!get_u64(buf, pos, n))
    return raft::make_error(errc::corrupt,
                            "simple_fsm snapshot: missing entry count");
  // Each entry needs at least its 8-byte length: a count larger than the
  // buffer allows is corrupt, and must not drive a huge reserve().
  if (n > (buf.size() - pos) / 8)
    return raft::make_error(errc::corrupt,
                            "simple_fsm snapshot: entry count "
                              + std::to_string(n) + " exceeds the data");
  std::vector<raft::bytes> logs;
  logs.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len = 0;
    if (!get_u64(buf, pos, len) || buf.size() - pos < len)
      return raft::make_error(errc::corrupt,
                              "simple_fsm snapshot: entry "
                                + std::to_string(i) + " is truncated");
    logs.emplace_back(buf.begin() + pos, buf.begin() + pos + len);
    pos += len;
  }
  if (pos != buf.size())
    return raft::make_error(errc::corrupt,
                            "simple_fsm snapshot: trailing bytes after "
                              + std::to_string(n) + " entries");
  return logs;
}

caf::error simple_snapshot::persist(raft::snapshot_sink& sink) {
  auto buf = encode(logs_, n_);
  if (auto err = sink.write(buf.data(), buf.size())) {
    sink.cancel();
    return err;
  }
  // As the seed's Persist, a close error is not reported (see spec §4);
  // the snapshot manager checks the snapshot when it opens it.
  sink.close();
  return caf::none;
}

void simple_snapshot::release() {
  // Nothing to release: the snapshot owns a plain copy.
}

} // namespace raft::fsm
