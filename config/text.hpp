#pragma once

#include <cstddef>
#include <string>

namespace raft {

/// `s` without the blanks (spaces, tabs, carriage returns) at either end.
std::string trim(const std::string& s);

/// `n` bytes at `data` as lowercase hex digits, two per byte.
std::string to_hex(const void* data, size_t n);

/// `bytes` (a string of raw bytes) as lowercase hex digits.
inline std::string to_hex(const std::string& bytes) {
  return to_hex(bytes.data(), bytes.size());
}

} // namespace raft
