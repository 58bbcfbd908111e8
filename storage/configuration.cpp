#include "caf-raft/storage/configuration.hpp"

#include <set>

namespace raft {

namespace {

constexpr uint8_t encoding_version = 1;

void put_u32(bytes& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

void put_str(bytes& out, const std::string& x) {
  put_u32(out, static_cast<uint32_t>(x.size()));
  out.insert(out.end(), x.begin(), x.end());
}

struct reader {
  const bytes& in;
  size_t pos = 0;

  bool u8(uint8_t& x) {
    if (pos >= in.size())
      return false;
    x = in[pos++];
    return true;
  }

  bool u32(uint32_t& x) {
    if (in.size() - pos < 4)
      return false;
    x = 0;
    for (int i = 0; i < 4; ++i)
      x |= static_cast<uint32_t>(in[pos + i]) << (8 * i);
    pos += 4;
    return true;
  }

  bool str(std::string& x) {
    uint32_t len = 0;
    if (!u32(len) || in.size() - pos < len)
      return false;
    x.assign(reinterpret_cast<const char*>(in.data()) + pos, len);
    pos += len;
    return true;
  }
};

std::nullopt_t corrupt(std::string* problem, const std::string& what) {
  if (problem != nullptr)
    *problem = "configuration entry: " + what;
  return std::nullopt;
}

} // namespace

const char* to_string(suffrage x) {
  return x == suffrage::voter ? "Voter" : "Nonvoter";
}

const server* configuration::find(const std::string& id) const {
  for (auto& s : servers)
    if (s.id == id)
      return &s;
  return nullptr;
}

bool configuration::is_voter(const std::string& id) const {
  auto s = find(id);
  return s != nullptr && s->suffrage == suffrage::voter;
}

size_t configuration::voter_count() const {
  size_t n = 0;
  for (auto& s : servers)
    if (s.suffrage == suffrage::voter)
      ++n;
  return n;
}

std::string configuration::problem() const {
  std::set<std::string> ids;
  std::set<std::string> addresses;
  for (auto& s : servers) {
    if (s.id.empty())
      return "empty ID in configuration";
    if (s.address.empty())
      return "empty address in configuration for server " + s.id;
    if (!ids.insert(s.id).second)
      return "found duplicate ID in configuration: " + s.id;
    if (!addresses.insert(s.address).second)
      return "found duplicate address in configuration: " + s.address;
  }
  if (voter_count() == 0)
    return "need at least one voter in configuration";
  return {};
}

bytes encode(const configuration& x) {
  bytes out;
  out.push_back(encoding_version);
  put_u32(out, static_cast<uint32_t>(x.servers.size()));
  for (auto& s : x.servers) {
    out.push_back(static_cast<uint8_t>(s.suffrage));
    put_str(out, s.id);
    put_str(out, s.address);
  }
  return out;
}

std::optional<configuration> decode_configuration(const bytes& buf,
                                                  std::string* problem) {
  reader rd{buf};
  uint8_t version = 0;
  if (!rd.u8(version))
    return corrupt(problem, "empty");
  if (version != encoding_version)
    return corrupt(problem,
                   "unknown encoding version " + std::to_string(version));
  uint32_t n = 0;
  if (!rd.u32(n))
    return corrupt(problem, "missing server count");
  // Each server needs at least 9 bytes; refuse counts the data cannot hold
  // before reserving memory for them.
  if (n > (buf.size() - rd.pos) / 9)
    return corrupt(problem,
                   "server count " + std::to_string(n) + " exceeds the data");
  configuration result;
  result.servers.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    server s;
    uint8_t suff = 0;
    if (!rd.u8(suff) || suff > 1 || !rd.str(s.id) || !rd.str(s.address))
      return corrupt(problem,
                     "server " + std::to_string(i) + " is malformed");
    s.suffrage = static_cast<suffrage>(suff);
    result.servers.push_back(std::move(s));
  }
  if (rd.pos != buf.size())
    return corrupt(problem, "trailing bytes");
  return result;
}

} // namespace raft
