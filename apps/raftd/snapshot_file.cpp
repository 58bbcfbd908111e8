#include "caf-raft/apps/raftd/snapshot_file.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/crc.hpp"

namespace raft {

namespace {

constexpr const char* magic = "caf-raft-snapshot 1";

caf::error bad_file(const std::string& path, const std::string& what) {
  return make_error(errc::corrupt, path + ": " + what);
}

nlohmann::json meta_json(const snapshot_meta& m) {
  auto servers = nlohmann::json::array();
  for (auto& s : m.configuration.servers)
    servers.push_back({{"id", s.id},
                       {"address", s.address},
                       {"suffrage", to_string(s.suffrage)}});
  return {{"id", m.id},
          {"index", m.index},
          {"term", m.term},
          {"configuration_index", m.configuration_index},
          {"servers", servers},
          {"size", m.size},
          {"crc", m.crc}};
}

caf::expected<snapshot_meta> meta_of(const nlohmann::json& j) {
  snapshot_meta m;
  m.id = j.at("id").get<std::string>();
  m.index = j.at("index").get<index_t>();
  m.term = j.at("term").get<term_t>();
  m.configuration_index = j.at("configuration_index").get<index_t>();
  m.size = j.at("size").get<uint64_t>();
  m.crc = j.at("crc").get<uint64_t>();
  for (auto& s : j.at("servers")) {
    server x;
    x.id = s.at("id").get<std::string>();
    x.address = s.at("address").get<std::string>();
    x.suffrage = s.at("suffrage").get<std::string>() == "Voter"
                   ? suffrage::voter
                   : suffrage::nonvoter;
    m.configuration.servers.push_back(std::move(x));
  }
  return m;
}

caf::error check_state(const std::string& path, const snapshot_file& f) {
  if (f.state.size() != f.meta.size)
    return bad_file(path, "the state holds " + std::to_string(f.state.size())
                            + " bytes, the metadata says "
                            + std::to_string(f.meta.size)
                            + " (a truncated copy?)");
  if (state_crc(f.state) != f.meta.crc)
    return bad_file(path, "the state's CRC-64 does not match its metadata "
                          "(the file is damaged)");
  return {};
}

} // namespace

uint64_t state_crc(const bytes& data) {
  crc64_ecma crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

caf::error write_snapshot_file(const std::string& path,
                               const snapshot_file& file) {
  if (auto err = check_state(path, file))
    return err;
  auto part = path + ".part";
  {
    std::ofstream out{part, std::ios::binary | std::ios::trunc};
    out << magic << '\n' << meta_json(file.meta).dump() << '\n';
    out.write(reinterpret_cast<const char*>(file.state.data()),
              static_cast<std::streamsize>(file.state.size()));
    if (!out.flush())
      return make_error(errc::storage_failure,
                        "cannot write " + part + ": check the folder and "
                        "the free space");
  }
  // Durable before it takes the name: a crash leaves no half a backup.
  int fd = ::open(part.c_str(), O_RDONLY);
  bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0)
    ::close(fd);
  if (!synced || std::rename(part.c_str(), path.c_str()) != 0)
    return make_error(errc::storage_failure,
                      "cannot complete " + path + " (fsync or rename of "
                        + part + " failed)");
  return {};
}

caf::expected<snapshot_file> read_snapshot_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::not_found,
                      "cannot read " + path + ": check the path");
  std::string first, second;
  if (!std::getline(in, first) || first != magic)
    return bad_file(path, "not a caf-raft snapshot file (it does not start "
                          "with '" + std::string{magic} + "')");
  if (!std::getline(in, second))
    return bad_file(path, "the metadata line is missing");
  snapshot_file f;
  try {
    auto meta = meta_of(nlohmann::json::parse(second));
    f.meta = std::move(*meta);
  } catch (std::exception& e) {
    return bad_file(path, std::string{"malformed metadata ("} + e.what()
                            + ")");
  }
  f.state.assign(std::istreambuf_iterator<char>{in},
                 std::istreambuf_iterator<char>{});
  if (auto err = check_state(path, f))
    return err;
  return f;
}

} // namespace raft
