#pragma once

#include <cstddef>
#include <cstdint>

namespace raft {

/// CRC-32C (Castagnoli, reflected; the checksum of every stored log entry).
/// Computed eight bytes at a time (slicing-by-8): the values of
/// `boost::crc_optimal<32, 0x1EDC6F41, ~0, ~0, true, true>` at about five
/// times its speed, which is byte-at-a-time and was a fifth of the store's
/// write path and half of a snapshot install's CPU.
class crc32c {
public:
  void process_bytes(const void* data, size_t n);

  uint32_t checksum() const {
    return state_ ^ 0xFFFFFFFFu;
  }

private:
  uint32_t state_ = 0xFFFFFFFFu;
};

/// CRC-32 (IEEE 802.3, reflected; zlib's and Go's hash/crc32 IEEE): the
/// checksum of kv_fsm's snapshots. Slicing-by-8 as `crc32c`; the values of
/// `boost::crc_32_type` at about four times its speed (it was a third of a
/// 256 MiB snapshot's restore).
class crc32_ieee {
public:
  void process_bytes(const void* data, size_t n);

  uint32_t checksum() const {
    return state_ ^ 0xFFFFFFFFu;
  }

private:
  uint32_t state_ = 0xFFFFFFFFu;
};

/// CRC-64 with the ECMA-182 polynomial, reflected, as Go's hash/crc64 with
/// its ECMA table (CRC-64/XZ): "123456789" hashes to 0x995DC9BBDF1939FA.
/// Slicing-by-8 as `crc32c`; the values of
/// `boost::crc_optimal<64, 0x42F0E1EBA9EA3693, ~0, ~0, true, true>`.
class crc64_ecma {
public:
  void process_bytes(const void* data, size_t n);

  uint64_t checksum() const {
    return state_ ^ ~uint64_t{0};
  }

private:
  uint64_t state_ = ~uint64_t{0};
};

} // namespace raft
