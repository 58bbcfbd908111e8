#include "caf-raft/actors/transport/address_provider.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft {

address_provider static_addresses(std::map<std::string, std::string> map) {
  return [map{std::move(map)}](const std::string& id)
           -> caf::expected<std::string> {
    auto i = map.find(id);
    if (i == map.end())
      return make_error(errc::unknown_peer, "no address known for server "
                                              + id);
    return i->second;
  };
}

caf::expected<std::pair<std::string, uint16_t>>
split_host_port(const std::string& address) {
  auto bad = [&](const char* why) {
    return make_error(errc::not_valid, "address '" + address
                                         + "' is not host:port: " + why);
  };
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return bad("missing host or port");
  auto host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']')
      return bad("unbalanced brackets");
    host = host.substr(1, host.size() - 2);
  }
  auto port_str = address.substr(colon + 1);
  if (port_str.empty() || port_str.size() > 5
      || port_str.find_first_not_of("0123456789") != std::string::npos)
    return bad("port is not a number");
  auto port = std::stoul(port_str);
  if (port == 0 || port > 65535)
    return bad("port out of range");
  if (host.empty())
    return bad("empty host");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

} // namespace raft
