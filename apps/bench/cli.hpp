#pragma once

// Flag parsing shared by the benchmark programs (Go-style flags like the
// peer's: -flag value, -flag=value, --flag). Header-only because every
// apps/*.cpp becomes a program of its own. Bad input throws
// std::invalid_argument naming the flag.

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace raft::bench {

inline int to_int(const std::string& flag, const std::string& str, int min) {
  char* end = nullptr;
  auto x = std::strtol(str.c_str(), &end, 10);
  if (str.empty() || *end != '\0' || x < min || x > 1000000)
    throw std::invalid_argument(flag + ": not a valid number: " + str);
  return static_cast<int>(x);
}

inline double to_double(const std::string& flag, const std::string& str) {
  char* end = nullptr;
  auto x = std::strtod(str.c_str(), &end);
  if (str.empty() || *end != '\0' || !(x >= 0))
    throw std::invalid_argument(flag + ": not a valid number: " + str);
  return x;
}

inline std::vector<int> int_list(const std::string& flag,
                                 const std::string& str) {
  std::vector<int> out;
  std::stringstream in{str};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(to_int(flag, item, 1));
  if (out.empty())
    throw std::invalid_argument(flag + ": empty list");
  return out;
}

/// Splits "-name=value", "--name" etc. into name and (optional) value.
struct flag {
  std::string name;
  std::string value;
  bool has_value = false;

  explicit flag(const std::string& arg) : name(arg) {
    while (!name.empty() && name[0] == '-')
      name.erase(0, 1);
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
  }
};

/// Reads the value of flag `f` (from `-f=value` or the next argument).
inline std::string flag_value(const flag& f, int& i, int argc, char** argv) {
  if (f.has_value)
    return f.value;
  if (i + 1 >= argc)
    throw std::invalid_argument("-" + f.name + " needs a value");
  return argv[++i];
}

} // namespace raft::bench
