#include "caf-raft/fsm/kv/kv_fsm.hpp"

#include <algorithm>
#include <cstring>


#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/kv/kv_messages.hpp"
#include "caf-raft/storage/crc.hpp"

namespace raft::fsm {

namespace {

constexpr char snapshot_magic[4] = {'K', 'V', 'S', '1'};

/// Magic, applied index, key count.
constexpr size_t header_size = 4 + 8 + 8;

constexpr size_t trailer_size = 4;

/// Writes go to the sink in chunks of about this size, so persisting a large
/// map never holds a second full copy of it in memory.
constexpr size_t chunk_size = 64 * 1024;

void put_u64(raft::bytes& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

void put_varint(raft::bytes& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<uint8_t>(x | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<uint8_t>(x));
}

void put_string(raft::bytes& out, const std::string& str) {
  put_varint(out, str.size());
  out.insert(out.end(), str.begin(), str.end());
}

void put_entry(raft::bytes& out, const std::string& key,
               const kv_fsm::entry& x) {
  put_string(out, key);
  put_string(out, x.value);
  put_varint(out, x.revision);
}

caf::error corrupt(const std::string& what) {
  return raft::make_error(raft::errc::corrupt, "kv_fsm snapshot: " + what);
}

/// A bounds-checked cursor over the snapshot body.
struct cursor {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;

  size_t left() const {
    return size - pos;
  }

  bool u64(uint64_t& x) {
    if (left() < 8)
      return false;
    x = 0;
    for (int i = 0; i < 8; ++i)
      x |= static_cast<uint64_t>(data[pos + i]) << (8 * i);
    pos += 8;
    return true;
  }

  bool varint(uint64_t& x) {
    x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (left() < 1)
        return false;
      auto b = data[pos++];
      if (shift == 63 && b > 1)
        return false;
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        return true;
    }
    return false;
  }

  bool str(std::string& out) {
    uint64_t len = 0;
    if (!varint(len) || len > left())
      return false;
    out.assign(reinterpret_cast<const char*>(data) + pos, len);
    pos += len;
    return true;
  }
};

/// The snapshot `kv_fsm` hands out: a shared, never-modified map.
class kv_snapshot : public snapshot {
public:
  kv_snapshot(std::shared_ptr<const kv_fsm::map_type> map,
              raft::index_t applied)
    : map_(std::move(map)), applied_(applied) {
    // nop
  }

  caf::error persist(raft::snapshot_sink& sink) override {
    if (!map_) {
      sink.cancel();
      return raft::make_error(raft::errc::not_valid,
                              "kv_fsm snapshot persisted after release");
    }
    raft::crc32_ieee crc;
    raft::bytes buf;
    buf.reserve(chunk_size + 64);
    auto flush = [&]() -> caf::error {
      crc.process_bytes(buf.data(), buf.size());
      auto err = sink.write(buf.data(), buf.size());
      buf.clear();
      return err;
    };
    buf.insert(buf.end(), std::begin(snapshot_magic), std::end(snapshot_magic));
    put_u64(buf, applied_);
    put_u64(buf, map_->size());
    for (auto& [key, x] : *map_) {
      put_entry(buf, key, x);
      if (buf.size() >= chunk_size) {
        if (auto err = flush()) {
          sink.cancel();
          return err;
        }
      }
    }
    if (auto err = flush()) {
      sink.cancel();
      return err;
    }
    uint32_t sum = crc.checksum();
    for (int i = 0; i < 4; ++i)
      buf.push_back(static_cast<uint8_t>(sum >> (8 * i)));
    if (auto err = sink.write(buf.data(), buf.size())) {
      sink.cancel();
      return err;
    }
    return sink.close();
  }

  void release() override {
    // Dropping our reference lets the next write skip the copy.
    map_.reset();
  }

private:
  std::shared_ptr<const kv_fsm::map_type> map_;
  raft::index_t applied_;
};

} // namespace

kv_fsm::kv_fsm() : map_(std::make_shared<map_type>()) {
  // nop
}

void kv_fsm::detach_map() {
  // Only this object ever adds references (under mtx_), so a count of 1
  // cannot grow behind our back: the map is ours to change in place.
  if (map_.use_count() > 1)
    map_ = std::make_shared<map_type>(*map_);
}

kv_result kv_fsm::apply_command(const kv_command& cmd, raft::index_t index) {
  std::lock_guard<std::mutex> guard{mtx_};
  kv_result res;
  res.index = index;
  applied_ = std::max(applied_, index);
  auto i = map_->find(cmd.key);
  auto found = i != map_->end();
  switch (cmd.op) {
    case kv_op::put: {
      detach_map();
      auto& x = (*map_)[cmd.key];
      x.value = cmd.value;
      x.revision = index;
      res.ok = true;
      res.found = true;
      res.value = cmd.value;
      res.revision = index;
      break;
    }
    case kv_op::del:
      res.ok = found;
      if (found) {
        detach_map();
        map_->erase(cmd.key);
      }
      break;
    case kv_op::cas: {
      bool match = cmd.expected ? found && i->second.value == *cmd.expected
                                : !found;
      if (match) {
        detach_map();
        auto& x = (*map_)[cmd.key];
        x.value = cmd.value;
        x.revision = index;
        res.ok = true;
        res.found = true;
        res.value = cmd.value;
        res.revision = index;
      } else if (found) {
        res.found = true;
        res.value = i->second.value;
        res.revision = i->second.revision;
      }
      break;
    }
  }
  return res;
}

caf::message kv_fsm::apply(const raft::log_entry& e) {
  if (e.type != raft::entry_type::command)
    return caf::message{};
  {
    // A restarted node may hand a shared state machine the entries it
    // already holds again (it re-applies its log from the last snapshot):
    // applying them twice would change what a cas saw or undo later puts.
    std::lock_guard<std::mutex> guard{mtx_};
    if (e.index != 0 && e.index <= applied_)
      return caf::message{};
  }
  auto cmd = decode(e.data);
  if (!cmd) {
    // The entry is committed everywhere: count it as applied so replicas
    // agree, and tell the proposer why nothing changed.
    std::lock_guard<std::mutex> guard{mtx_};
    applied_ = std::max(applied_, e.index);
    return caf::make_message(std::move(cmd.error()));
  }
  return caf::make_message(apply_command(*cmd, e.index));
}

caf::expected<std::unique_ptr<snapshot>> kv_fsm::take_snapshot() {
  std::lock_guard<std::mutex> guard{mtx_};
  return std::unique_ptr<snapshot>{new kv_snapshot(map_, applied_)};
}

caf::error kv_fsm::restore(raft::snapshot_reader& in) {
  raft::bytes buf;
  auto err = raft::read_all(in, buf);
  in.close();
  if (err)
    return err;
  auto map = std::make_shared<map_type>();
  raft::index_t applied = 0;
  if (auto err = decode_snapshot(buf, *map, applied))
    return err;
  std::lock_guard<std::mutex> guard{mtx_};
  map_ = std::move(map);
  applied_ = applied;
  return caf::none;
}

std::optional<std::string> kv_fsm::get(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = map_->find(key);
  if (i == map_->end())
    return std::nullopt;
  return i->second.value;
}

std::optional<kv_fsm::entry> kv_fsm::get_entry(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = map_->find(key);
  if (i == map_->end())
    return std::nullopt;
  return i->second;
}

size_t kv_fsm::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return map_->size();
}

bool kv_fsm::apply_blocks() const {
  return true;
}

raft::index_t kv_fsm::applied_index() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return applied_;
}

kv_fsm::map_type kv_fsm::items() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return *map_;
}

raft::bytes kv_fsm::encode_snapshot(const map_type& map,
                                    raft::index_t applied) {
  raft::bytes out;
  out.insert(out.end(), std::begin(snapshot_magic), std::end(snapshot_magic));
  put_u64(out, applied);
  put_u64(out, map.size());
  for (auto& [key, x] : map)
    put_entry(out, key, x);
  raft::crc32_ieee crc;
  crc.process_bytes(out.data(), out.size());
  uint32_t sum = crc.checksum();
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(sum >> (8 * i)));
  return out;
}

caf::error kv_fsm::decode_snapshot(const raft::bytes& buf, map_type& map,
                                   raft::index_t& applied) {
  if (buf.size() < header_size + trailer_size)
    return corrupt("truncated: " + std::to_string(buf.size())
                   + " bytes, a snapshot has at least "
                   + std::to_string(header_size + trailer_size));
  if (std::memcmp(buf.data(), snapshot_magic, 4) != 0)
    return corrupt("bad magic (not a kv_fsm snapshot or an unknown version)");
  auto body = buf.size() - trailer_size;
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i)
    stored |= static_cast<uint32_t>(buf[body + i]) << (8 * i);
  raft::crc32_ieee crc;
  crc.process_bytes(buf.data(), body);
  if (crc.checksum() != stored)
    return corrupt("checksum mismatch");
  cursor in{buf.data(), body, 4};
  uint64_t idx = 0;
  uint64_t count = 0;
  in.u64(idx);
  in.u64(count);
  // Each key takes at least three bytes (two empty strings and a revision):
  // a larger count is corrupt and must not drive the loop.
  if (count > in.left() / 3)
    return corrupt("key count " + std::to_string(count) + " exceeds the data");
  map_type result;
  const std::string* prev = nullptr;
  for (uint64_t n = 0; n < count; ++n) {
    std::string key;
    entry x;
    if (!in.str(key) || !in.str(x.value) || !in.varint(x.revision))
      return corrupt("key " + std::to_string(n) + " is truncated");
    if (prev != nullptr && !(*prev < key))
      return corrupt("key " + std::to_string(n) + " is out of order");
    if (x.revision == 0 || x.revision > idx)
      return corrupt("key " + std::to_string(n) + " has revision "
                     + std::to_string(x.revision) + " outside 1.."
                     + std::to_string(idx));
    auto pos = result.emplace_hint(result.end(), std::move(key), std::move(x));
    prev = &pos->first;
  }
  if (in.left() != 0)
    return corrupt(std::to_string(in.left()) + " trailing bytes after "
                   + std::to_string(count) + " keys");
  map = std::move(result);
  applied = idx;
  return caf::none;
}

} // namespace raft::fsm
