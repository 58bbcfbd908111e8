#include "caf-raft/storage/snapshot_store.hpp"

namespace raft {

snapshot_sink::~snapshot_sink() = default;

snapshot_reader::~snapshot_reader() = default;

snapshot_store::~snapshot_store() = default;

std::optional<uint64_t> snapshot_sink::running_crc() const {
  return std::nullopt;
}

uint64_t snapshot_reader::remaining() const {
  return 0;
}

caf::error read_all(snapshot_reader& in, bytes& out) {
  // Growing by copying a bounce buffer in cost a 256 MiB restore a dozen
  // reallocations and as many passes over fresh pages.
  constexpr size_t min_step = 64 * 1024;
  out.reserve(out.size() + in.remaining());
  for (;;) {
    auto used = out.size();
    if (out.capacity() == used) {
      // Full (the hint was exact, or there was none): a small read finds
      // out whether anything is left before the buffer grows.
      uint8_t probe[min_step];
      auto n = in.read(probe, sizeof(probe));
      if (!n)
        return std::move(n.error());
      if (*n == 0)
        return caf::none;
      out.insert(out.end(), probe, probe + *n);
      continue;
    }
    out.resize(out.capacity());
    auto n = in.read(out.data() + used, out.size() - used);
    if (!n) {
      out.resize(used);
      return std::move(n.error());
    }
    out.resize(used + *n);
    if (*n == 0)
      return caf::none;
  }
}

} // namespace raft
