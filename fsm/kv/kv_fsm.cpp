#include "caf-raft/fsm/kv/kv_fsm.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include <sys/mman.h>
#include <unistd.h>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/kv/kv_messages.hpp"
#include "caf-raft/storage/crc.hpp"
#include "caf-raft/storage/span_reader.hpp"

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

/// Linux 5.14's madvise advice, for headers that predate it.
#ifndef MADV_POPULATE_WRITE
#  define MADV_POPULATE_WRITE 23
#endif

/// Values at least this large get their pages mapped before they are filled.
constexpr size_t populate_threshold = 16 * 1024;

/// Maps the whole pages inside `[data, data + n)` with one system call,
/// instead of one page fault per page as the copy into them touches each.
/// A restore fills fresh memory only, and on this project's VMs a page
/// fault costs 11 µs: a cold 256 MiB restore took 0.87 s, of which 0.72 s
/// were faults, against 0.15 s in warm memory. Populating pages in the
/// kernel costs about 6.5 µs each there (64 KiB values: 0.43 against 0.77 s
/// for 256 MiB). It changes no byte; where the kernel lacks it, or memory
/// is short, the copy faults the pages in as before.
void populate(char* data, size_t n) {
  // Set once a kernel refuses the advice, so that it is not asked again.
  static std::atomic<bool> unsupported{false};
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  if (unsupported.load(std::memory_order_relaxed))
    return;
  auto first = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  auto last = (reinterpret_cast<uintptr_t>(data) + n) & ~(page - 1);
  if (last > first
      && madvise(reinterpret_cast<void*>(first), last - first,
                 MADV_POPULATE_WRITE)
           != 0
      && errno == EINVAL)
    unsupported.store(true, std::memory_order_relaxed);
}

caf::error corrupt(const std::string& what) {
  return raft::make_error(raft::errc::corrupt, "kv_fsm snapshot: " + what);
}

/// Reads a snapshot from a reader a window at a time and shows the decoder
/// only bytes that cannot be the 4-byte trailer, so the decoder sees the
/// body as if it held the whole snapshot, without a copy of the whole state
/// in memory: a 256 MiB restore spent a third of its time faulting in that
/// copy. Consumed bytes go through the CRC as the window moves on.
class body_stream {
public:
  explicit body_stream(raft::snapshot_reader& in)
    : in_(in), size_hint_(in.remaining()), buf_(window) {
    // nop
  }

  /// Stream bytes the decoder consumed so far.
  uint64_t consumed() const {
    return dropped_ + pos_;
  }

  /// Body bytes left, if the reader told its size up front.
  std::optional<uint64_t> body_left_hint() const {
    if (size_hint_ < trailer_size + consumed())
      return std::nullopt;
    return size_hint_ - trailer_size - consumed();
  }

  bool raw(void* out, size_t n) {
    if (!ensure(n))
      return false;
    std::memcpy(out, buf_.data() + pos_, n);
    pos_ += n;
    return true;
  }

  bool u64(uint64_t& x) {
    if (!ensure(8))
      return false;
    x = 0;
    for (int i = 0; i < 8; ++i)
      x |= static_cast<uint64_t>(buf_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return true;
  }

  bool varint(uint64_t& x) {
    x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (!ensure(1))
        return false;
      auto b = buf_[pos_++];
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
    if (!varint(len))
      return false;
    out.clear();
    // A corrupt length runs into the end of the body, piece by piece; it
    // never sizes an allocation beyond one window.
    out.reserve(static_cast<size_t>(std::min<uint64_t>(len, window)));
    auto fresh = std::min<size_t>(out.capacity(), len);
    if (fresh >= populate_threshold)
      populate(out.data(), fresh);
    while (out.size() < len) {
      if (!ensure(1))
        return false;
      auto n = std::min<uint64_t>(exposed(), len - out.size());
      out.append(reinterpret_cast<const char*>(buf_.data() + pos_), n);
      pos_ += n;
    }
    return true;
  }

  /// Reads and checksums the rest of the body, to its end.
  void drain() {
    do
      pos_ = exposed_end();
    while (fill());
    crc_.process_bytes(buf_.data() + crc_done_, pos_ - crc_done_);
    crc_done_ = pos_;
  }

  /// After `drain`: the failure of the reader, if it failed.
  const caf::error& read_error() const {
    return err_;
  }

  /// After `drain`: the size of the whole snapshot.
  uint64_t total() const {
    return total_;
  }

  /// After `drain`: whether the trailer holds the CRC of the body.
  bool checksum_matches() const {
    if (end_ < trailer_size)
      return false;
    uint32_t stored = 0;
    for (size_t i = 0; i < trailer_size; ++i)
      stored |= static_cast<uint32_t>(buf_[end_ - trailer_size + i]) << (8 * i);
    return crc_.checksum() == stored;
  }

private:
  /// A megabyte: four reads for a 4 MiB chunk of 64 KiB values.
  static constexpr size_t window = 1 << 20;

  size_t exposed_end() const {
    return end_ < trailer_size ? 0 : end_ - trailer_size;
  }

  size_t exposed() const {
    return exposed_end() - pos_;
  }

  bool ensure(size_t n) {
    while (exposed() < n)
      if (!fill())
        return false;
    return true;
  }

  /// Reads more; false at the end of the snapshot or on a read error.
  bool fill() {
    if (done_)
      return false;
    if (end_ == buf_.size()) {
      // Full: checksum what was consumed and keep only the rest.
      crc_.process_bytes(buf_.data() + crc_done_, pos_ - crc_done_);
      std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      dropped_ += pos_;
      end_ -= pos_;
      pos_ = 0;
      crc_done_ = 0;
    }
    auto n = in_.read(buf_.data() + end_, buf_.size() - end_);
    if (!n) {
      err_ = std::move(n.error());
      done_ = true;
      return false;
    }
    if (*n == 0) {
      done_ = true;
      return false;
    }
    end_ += *n;
    total_ += *n;
    return true;
  }

  raft::snapshot_reader& in_;
  uint64_t size_hint_;
  raft::bytes buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  size_t crc_done_ = 0;
  uint64_t dropped_ = 0;
  uint64_t total_ = 0;
  bool done_ = false;
  caf::error err_;
  raft::crc32_ieee crc_;
};

/// What the structure check of a snapshot found.
struct body_check {
  bool bad_magic = false;
  caf::error err;
};

/// Decodes the body of `in` into `map` and `applied`, stopping at the first
/// structural flaw (bad magic, unsorted or duplicate keys, revisions beyond
/// the applied index, truncation).
body_check decode_body(body_stream& in, kv_fsm::map_type& map,
                       raft::index_t& applied) {
  body_check res;
  char magic[sizeof(snapshot_magic)];
  uint64_t idx = 0;
  uint64_t count = 0;
  if (!in.raw(magic, sizeof(magic)) || !in.u64(idx) || !in.u64(count)) {
    res.err = corrupt("truncated header");
    return res;
  }
  if (std::memcmp(magic, snapshot_magic, sizeof(magic)) != 0) {
    res.bad_magic = true;
    res.err = corrupt("bad magic (not a kv_fsm snapshot or an unknown "
                      "version)");
    return res;
  }
  // Each key takes at least three bytes (two empty strings and a revision),
  // so the loop below ends with the data whatever the count says; where the
  // size is known up front, a count beyond it is named as what it is.
  if (auto left = in.body_left_hint(); left && count > *left / 3) {
    res.err = corrupt("key count " + std::to_string(count)
                      + " exceeds the data");
    return res;
  }
  const std::string* prev = nullptr;
  for (uint64_t n = 0; n < count; ++n) {
    std::string key;
    kv_fsm::entry x;
    if (!in.str(key) || !in.str(x.value) || !in.varint(x.revision)) {
      res.err = corrupt("key " + std::to_string(n) + " is truncated");
      return res;
    }
    if (prev != nullptr && !(*prev < key)) {
      res.err = corrupt("key " + std::to_string(n) + " is out of order");
      return res;
    }
    if (x.revision == 0 || x.revision > idx) {
      res.err = corrupt("key " + std::to_string(n) + " has revision "
                        + std::to_string(x.revision) + " outside 1.."
                        + std::to_string(idx));
      return res;
    }
    auto pos = map.emplace_hint(map.end(), std::move(key), std::move(x));
    prev = &pos->first;
  }
  applied = idx;
  return res;
}

/// Reads a whole snapshot from `reader`. Damage is named in the order a
/// reader of the file would look for it: too short to be a snapshot, not a
/// kv_fsm snapshot, a checksum that does not match (the bytes changed), and
/// only then a flaw in the structure (written wrong).
caf::error read_snapshot(raft::snapshot_reader& reader, kv_fsm::map_type& map,
                         raft::index_t& applied) {
  body_stream in{reader};
  kv_fsm::map_type result;
  raft::index_t idx = 0;
  auto check = decode_body(in, result, idx);
  auto used = in.consumed();
  in.drain();
  if (in.read_error())
    return in.read_error();
  if (in.total() < header_size + trailer_size)
    return corrupt("truncated: " + std::to_string(in.total())
                   + " bytes, a snapshot has at least "
                   + std::to_string(header_size + trailer_size));
  if (check.bad_magic)
    return std::move(check.err);
  if (!in.checksum_matches())
    return corrupt("checksum mismatch");
  if (check.err)
    return std::move(check.err);
  auto body = in.total() - trailer_size;
  if (body != used)
    return corrupt(std::to_string(body - used) + " trailing bytes after "
                   + std::to_string(result.size()) + " keys");
  map = std::move(result);
  applied = idx;
  return caf::none;
}

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
  auto map = std::make_shared<map_type>();
  raft::index_t applied = 0;
  auto err = read_snapshot(in, *map, applied);
  in.close();
  if (err)
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
  raft::span_reader in{buf};
  return read_snapshot(in, map, applied);
}

} // namespace raft::fsm
