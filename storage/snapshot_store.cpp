#include "caf-raft/storage/snapshot_store.hpp"

namespace raft {

snapshot_sink::~snapshot_sink() = default;

snapshot_reader::~snapshot_reader() = default;

snapshot_store::~snapshot_store() = default;

caf::error read_all(snapshot_reader& in, bytes& out) {
  uint8_t buf[65536];
  for (;;) {
    auto n = in.read(buf, sizeof(buf));
    if (!n)
      return std::move(n.error());
    if (*n == 0)
      return caf::none;
    out.insert(out.end(), buf, buf + *n);
  }
}

} // namespace raft
