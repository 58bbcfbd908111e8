#include "caf-raft/storage/inmem_snapshot_store.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"

namespace raft {

namespace {

struct stored {
  snapshot_meta meta;
  /// Immutable once stored: `open` hands out a reference, and tampering
  /// swaps in a changed copy.
  std::shared_ptr<const bytes> data;
};

bool newer(const snapshot_meta& x, const snapshot_meta& y) {
  return std::tie(x.term, x.index, x.id) > std::tie(y.term, y.index, y.id);
}

std::string hex(uint64_t x) {
  char buf[19];
  std::snprintf(buf, sizeof(buf), "0x%016llx",
                static_cast<unsigned long long>(x));
  return buf;
}

} // namespace

struct inmem_snapshot_store::state {
  std::mutex mtx;
  int retain = 1;
  int64_t last_ms = 0;
  /// Newest first.
  std::vector<stored> snapshots;
  /// Ids of sinks not yet closed or cancelled, so a new id never repeats one.
  std::vector<std::string> pending;
};

namespace {

using state = inmem_snapshot_store::state;

class inmem_sink final : public snapshot_sink {
public:
  inmem_sink(std::shared_ptr<state> st, snapshot_meta meta)
    : st_(std::move(st)), meta_(std::move(meta)) {
    // nop
  }

  ~inmem_sink() override {
    cancel();
  }

  const std::string& id() const override {
    return meta_.id;
  }

  std::optional<uint64_t> running_crc() const override {
    return crc_.checksum();
  }

  caf::error write(const void* data, size_t n) override {
    if (done_)
      return make_error(errc::not_valid,
                        "snapshot " + meta_.id + ": write after close/cancel");
    auto ptr = static_cast<const uint8_t*>(data);
    buf_.insert(buf_.end(), ptr, ptr + n);
    crc_.process_bytes(data, n);
    return caf::none;
  }

  caf::error close() override {
    if (done_)
      return make_error(errc::not_valid,
                        "snapshot " + meta_.id + ": already closed");
    done_ = true;
    meta_.size = buf_.size();
    meta_.crc = crc_.checksum();
    std::lock_guard<std::mutex> guard{st_->mtx};
    forget_pending();
    auto& all = st_->snapshots;
    stored entry{meta_, std::make_shared<const bytes>(std::move(buf_))};
    auto pos = std::find_if(all.begin(), all.end(), [&](const stored& x) {
      return newer(meta_, x.meta);
    });
    all.insert(pos, std::move(entry));
    if (all.size() > static_cast<size_t>(st_->retain))
      all.resize(static_cast<size_t>(st_->retain));
    return caf::none;
  }

  caf::error cancel() override {
    if (done_)
      return caf::none;
    done_ = true;
    buf_.clear();
    std::lock_guard<std::mutex> guard{st_->mtx};
    forget_pending();
    return caf::none;
  }

private:
  void forget_pending() {
    auto& ids = st_->pending;
    ids.erase(std::remove(ids.begin(), ids.end(), meta_.id), ids.end());
  }

  std::shared_ptr<state> st_;
  snapshot_meta meta_;
  bytes buf_;
  crc64_ecma crc_;
  bool done_ = false;
};

class inmem_reader final : public snapshot_reader {
public:
  explicit inmem_reader(std::shared_ptr<const bytes> data)
    : data_(std::move(data)) {
    // nop
  }

  caf::expected<size_t> read(void* buf, size_t n) override {
    if (!data_)
      return make_error(errc::not_valid, "snapshot reader: read after close");
    auto count = std::min(n, data_->size() - pos_);
    if (count > 0)
      std::memcpy(buf, data_->data() + pos_, count);
    pos_ += count;
    return count;
  }

  void close() override {
    data_.reset();
  }

  uint64_t remaining() const override {
    return data_ ? data_->size() - pos_ : 0;
  }

private:
  std::shared_ptr<const bytes> data_;
  size_t pos_ = 0;
};

} // namespace

inmem_snapshot_store::inmem_snapshot_store(int retain)
  : state_(std::make_shared<state>()) {
  state_->retain = std::max(retain, 1);
}

inmem_snapshot_store::~inmem_snapshot_store() = default;

caf::expected<std::unique_ptr<snapshot_sink>>
inmem_snapshot_store::create(index_t index, term_t term,
                             const configuration& cfg,
                             index_t configuration_index) {
  snapshot_meta meta;
  meta.index = index;
  meta.term = term;
  meta.configuration = cfg;
  meta.configuration_index = configuration_index;
  std::lock_guard<std::mutex> guard{state_->mtx};
  // Same naming and same-millisecond rule as the file store.
  auto ms = std::max(unix_millis_now(), state_->last_ms + 1);
  auto taken = [&](const std::string& id) {
    auto& all = state_->snapshots;
    auto& ids = state_->pending;
    return std::any_of(all.begin(), all.end(),
                       [&](const stored& x) { return x.meta.id == id; })
           || std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  for (;; ++ms) {
    meta.id = std::to_string(term) + "-" + std::to_string(index) + "-"
              + std::to_string(ms);
    if (!taken(meta.id))
      break;
  }
  state_->last_ms = ms;
  state_->pending.push_back(meta.id);
  return std::unique_ptr<snapshot_sink>{
    new inmem_sink(state_, std::move(meta))};
}

caf::expected<std::vector<snapshot_meta>> inmem_snapshot_store::list() {
  std::lock_guard<std::mutex> guard{state_->mtx};
  std::vector<snapshot_meta> result;
  for (auto& x : state_->snapshots)
    result.push_back(x.meta);
  return result;
}

caf::expected<std::pair<snapshot_meta, std::unique_ptr<snapshot_reader>>>
inmem_snapshot_store::open(const std::string& id) {
  snapshot_meta meta;
  std::shared_ptr<const bytes> data;
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    auto& all = state_->snapshots;
    auto i = std::find_if(all.begin(), all.end(),
                          [&](const stored& x) { return x.meta.id == id; });
    if (i == all.end())
      return make_error(errc::not_found, "snapshot " + id + " not found");
    meta = i->meta;
    data = i->data;
  }
  if (data->size() != meta.size)
    return make_error(errc::corrupt,
                      "snapshot " + id + ": size mismatch: state has "
                        + std::to_string(data->size())
                        + " bytes, metadata records "
                        + std::to_string(meta.size));
  crc64_ecma crc;
  crc.process_bytes(data->data(), data->size());
  if (crc.checksum() != meta.crc)
    return make_error(errc::corrupt, "snapshot " + id
                                       + ": CRC mismatch: state hashes to "
                                       + hex(crc.checksum())
                                       + ", metadata records " + hex(meta.crc));
  auto reader = std::unique_ptr<snapshot_reader>{
    new inmem_reader(std::move(data))};
  return std::make_pair(std::move(meta), std::move(reader));
}

bool inmem_snapshot_store::tamper_for_testing(
  const std::string& id, const std::function<void(bytes&)>& f) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  for (auto& x : state_->snapshots) {
    if (x.meta.id == id) {
      auto copy = *x.data;
      f(copy);
      x.data = std::make_shared<const bytes>(std::move(copy));
      return true;
    }
  }
  return false;
}

caf::expected<std::shared_ptr<inmem_snapshot_store>>
new_inmem_snapshot_store(int retain) {
  if (retain < 1)
    return make_error(errc::not_valid, "failed to create in-memory snapshot "
                                       "store: must retain at least one "
                                       "snapshot");
  return std::make_shared<inmem_snapshot_store>(retain);
}

} // namespace raft
