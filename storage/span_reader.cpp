#include "caf-raft/storage/span_reader.hpp"

#include <algorithm>

#include "caf-raft/config/errc.hpp"

namespace raft {

span_reader::span_reader(const bytes& data) : data_(&data) {
  // nop
}

caf::expected<size_t> span_reader::read(void* buf, size_t n) {
  if (closed_)
    return make_error(errc::not_valid, "span_reader: read after close");
  auto count = std::min(n, data_->size() - pos_);
  std::copy_n(data_->begin() + static_cast<ptrdiff_t>(pos_), count,
              static_cast<uint8_t*>(buf));
  pos_ += count;
  return count;
}

void span_reader::close() {
  closed_ = true;
}

uint64_t span_reader::remaining() const {
  return closed_ ? 0 : data_->size() - pos_;
}

} // namespace raft
