#include "caf-raft/storage/crc.hpp"

#include <cstring>

#include <lzma.h>
#include <zlib.h>

namespace raft {

namespace {

/// Tables for slicing-by-8 of a reflected CRC with reversed polynomial
/// `rpoly`: `t[0]` is the classic byte table, `t[k][i]` the CRC of byte `i`
/// followed by `k` zero bytes.
template <class T>
struct slicing_tables {
  T t[8][256];

  explicit slicing_tables(T rpoly) {
    for (unsigned i = 0; i < 256; ++i) {
      T crc = i;
      for (int bit = 0; bit < 8; ++bit)
        crc = (crc >> 1) ^ ((crc & 1) ? rpoly : 0);
      t[0][i] = crc;
    }
    for (int k = 1; k < 8; ++k)
      for (unsigned i = 0; i < 256; ++i)
        t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
};

template <class T>
T update(const slicing_tables<T>& tab, T crc, const void* data, size_t n) {
  auto p = static_cast<const uint8_t*>(data);
  auto& t = tab.t;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    // Little-endian (x86_64, arm64): byte 0 is the lowest.
    v ^= static_cast<uint64_t>(crc);
    crc = t[7][v & 0xFF] ^ t[6][(v >> 8) & 0xFF] ^ t[5][(v >> 16) & 0xFF]
          ^ t[4][(v >> 24) & 0xFF] ^ t[3][(v >> 32) & 0xFF]
          ^ t[2][(v >> 40) & 0xFF] ^ t[1][(v >> 48) & 0xFF]
          ^ t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return crc;
}

} // namespace

template <class T, T RPoly>
void reflected_crc<T, RPoly>::process_bytes(const void* data, size_t n) {
  static const slicing_tables<T> tables{RPoly};
  state_ = update(tables, state_, data, n);
}

template class reflected_crc<uint32_t, 0x82F63B78u>;

void crc32_ieee::process_bytes(const void* data, size_t n) {
  state_ = static_cast<uint32_t>(
    crc32_z(state_, static_cast<const Bytef*>(data), n));
}

void crc64_ecma::process_bytes(const void* data, size_t n) {
  state_ = lzma_crc64(static_cast<const uint8_t*>(data), n, state_);
}

} // namespace raft
