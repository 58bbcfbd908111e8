#pragma once

#include <cstddef>
#include <cstdint>

namespace raft {

/// A reflected CRC with reversed polynomial `RPoly`, initial value and
/// final XOR all ones, computed eight bytes at a time (slicing-by-8): the
/// values of Boost's byte-at-a-time `crc_optimal` at four to five times its
/// speed (crc_test checks both).
template <class T, T RPoly>
class reflected_crc {
public:
  void process_bytes(const void* data, size_t n);

  T checksum() const {
    return state_ ^ ~T{0};
  }

private:
  T state_ = ~T{0};
};

/// CRC-32C (Castagnoli): the checksum of every stored log entry. Boost's
/// version was a fifth of the store's write path and half of a snapshot
/// install's CPU.
using crc32c = reflected_crc<uint32_t, 0x82F63B78u>;

/// CRC-32 (IEEE 802.3; zlib's and Go's hash/crc32 IEEE): the checksum of
/// kv_fsm's snapshots, by zlib's `crc32_z` (three times the table's speed
/// here: 47 against 145 ms for 256 MiB).
class crc32_ieee {
public:
  void process_bytes(const void* data, size_t n);

  uint32_t checksum() const {
    return state_;
  }

private:
  uint32_t state_ = 0;
};

/// CRC-64 with the ECMA-182 polynomial, as Go's hash/crc64 with its ECMA
/// table (CRC-64/XZ): "123456789" hashes to 0x995DC9BBDF1939FA. Computed by
/// liblzma's `lzma_crc64`, xz's own checksum (three times the table's speed
/// here: 49 against 146 ms for 256 MiB).
class crc64_ecma {
public:
  void process_bytes(const void* data, size_t n);

  uint64_t checksum() const {
    return state_;
  }

private:
  uint64_t state_ = 0;
};

} // namespace raft
