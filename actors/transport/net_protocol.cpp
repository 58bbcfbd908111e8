#include "caf-raft/actors/transport/net_protocol.hpp"

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/config/errc.hpp"

namespace raft {

namespace {

void put_field(std::string& out, const std::string& x) {
  // Length-prefixed, so no two field lists encode to the same statement.
  uint64_t n = x.size();
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += x;
}

std::string statement(const char* tag, const std::string& client_nonce,
                      const std::string& server_nonce,
                      const std::string& server_id,
                      const std::string& client_id) {
  std::string out = tag;
  out.push_back('\0');
  put_field(out, client_nonce);
  put_field(out, server_nonce);
  put_field(out, server_id);
  put_field(out, client_id);
  return out;
}

caf::error bad(std::string what) {
  return make_error(errc::bad_message, std::move(what));
}

caf::error check_sender(const std::string& claimed, const std::string& from,
                        const char* rpc) {
  if (claimed != from)
    return bad(std::string{rpc} + " names sender '" + claimed
               + "' but came from server '" + from + "'");
  return caf::none;
}

caf::error check(const std::string& from, const vote_request& x) {
  if (auto err = check_sender(x.candidate, from, "vote_request"))
    return err;
  if (x.term == 0)
    return bad("vote_request with term 0");
  if (x.last_log_term > x.term)
    return bad("vote_request whose last log term passes its term");
  if (x.last_log_index == 0 && x.last_log_term != 0)
    return bad("vote_request with a term for an empty log");
  return caf::none;
}

caf::error check(const std::string& from, const vote_response& x) {
  return check_sender(x.from, from, "vote_response");
}

caf::error check(const std::string& from, const append_request& x) {
  if (auto err = check_sender(x.leader, from, "append_request"))
    return err;
  if (x.term == 0)
    return bad("append_request with term 0");
  if (x.prev_log_term > x.term)
    return bad("append_request whose prev_log_term passes its term");
  if (x.prev_log_index == 0 && x.prev_log_term != 0)
    return bad("append_request with a term for index 0");
  auto prev_term = x.prev_log_term;
  for (size_t i = 0; i < x.entries.size(); ++i) {
    auto& e = x.entries[i];
    if (e.index != x.prev_log_index + 1 + i)
      return bad("append_request entries not consecutive after "
                 "prev_log_index "
                 + std::to_string(x.prev_log_index) + " (entry "
                 + std::to_string(i) + " has index "
                 + std::to_string(e.index) + ")");
    if (e.term < prev_term || e.term > x.term || e.term == 0)
      return bad("append_request entry " + std::to_string(e.index)
                 + " has term " + std::to_string(e.term)
                 + " out of order or past the request's term");
    if (static_cast<uint8_t>(e.type) > static_cast<uint8_t>(last_entry_type))
      return bad("append_request entry " + std::to_string(e.index)
                 + " has an unknown type");
    prev_term = e.term;
  }
  return caf::none;
}

caf::error check(const std::string& from, const append_response& x) {
  return check_sender(x.from, from, "append_response");
}

caf::error check(const std::string& from, const timeout_now& x) {
  if (auto err = check_sender(x.leader, from, "timeout_now"))
    return err;
  if (x.term == 0)
    return bad("timeout_now with term 0");
  return caf::none;
}

caf::error check(const std::string& from, const install_snapshot_request& x) {
  if (auto err = check_sender(x.leader, from, "install_snapshot_request"))
    return err;
  if (x.term == 0)
    return bad("install_snapshot_request with term 0");
  if (x.last_term > x.term || x.last_index == 0 || x.last_term == 0)
    return bad("install_snapshot_request with a bad last index or term");
  if (x.snapshot_id.size() > net_max_id_size)
    return bad("install_snapshot_request with an oversized snapshot id");
  if (x.offset > x.size || x.data.size() > x.size - x.offset)
    return bad("install_snapshot_request chunk outside its snapshot");
  if (x.configuration_index > x.last_index)
    return bad("install_snapshot_request configuration index past the "
               "snapshot");
  return caf::none;
}

caf::error check(const std::string& from, const install_snapshot_response& x) {
  return check_sender(x.from, from, "install_snapshot_response");
}

std::string shorten(std::string x) {
  if (x.size() > 120) {
    x.resize(120);
    x += "...";
  }
  return x;
}

size_t size_of(const configuration& c) {
  size_t n = 0;
  for (auto& s : c.servers)
    n += s.id.size() + s.address.size() + 16;
  return n;
}

} // namespace

std::string net_server_proof(const std::string& client_nonce,
                             const std::string& server_nonce,
                             const std::string& server_id,
                             const std::string& client_id) {
  return statement("caf-raft/1 server proof", client_nonce, server_nonce,
                   server_id, client_id);
}

std::string net_client_proof(const std::string& client_nonce,
                             const std::string& server_nonce,
                             const std::string& server_id,
                             const std::string& client_id) {
  return statement("caf-raft/1 client proof", client_nonce, server_nonce,
                   server_id, client_id);
}

size_t net_payload_size(const caf::message& msg) {
  size_t n = 64;
  if (msg.match_elements<append_request>()) {
    auto& x = msg.get_as<append_request>(0);
    n += x.leader.size();
    for (auto& e : x.entries)
      n += e.data.size() + 32;
  } else if (msg.match_elements<install_snapshot_request>()) {
    auto& x = msg.get_as<install_snapshot_request>(0);
    n += x.leader.size() + x.snapshot_id.size() + x.data.size()
         + size_of(x.configuration);
  } else if (msg.match_elements<vote_request>()) {
    n += msg.get_as<vote_request>(0).candidate.size();
  } else if (msg.match_elements<vote_response>()) {
    n += msg.get_as<vote_response>(0).from.size();
  } else if (msg.match_elements<append_response>()) {
    n += msg.get_as<append_response>(0).from.size();
  } else if (msg.match_elements<timeout_now>()) {
    n += msg.get_as<timeout_now>(0).leader.size();
  } else if (msg.match_elements<install_snapshot_response>()) {
    auto& x = msg.get_as<install_snapshot_response>(0);
    n += x.from.size() + x.snapshot_id.size();
  }
  return n;
}

caf::error net_check_rpc(const std::string& from, const caf::message& msg,
                         size_t max_size) {
  if (from.empty() || from.size() > net_max_id_size)
    return bad("RPC from an empty or oversized server id");
  if (msg.size() != 1)
    return bad("RPC is not one Raft message: " + shorten(to_string(msg)));
  auto size = net_payload_size(msg);
  if (size > max_size)
    return make_error(errc::too_large,
                      "RPC of about " + std::to_string(size)
                        + " bytes exceeds the maximum message size "
                        + std::to_string(max_size));
  if (msg.match_elements<vote_request>())
    return check(from, msg.get_as<vote_request>(0));
  if (msg.match_elements<vote_response>())
    return check(from, msg.get_as<vote_response>(0));
  if (msg.match_elements<append_request>())
    return check(from, msg.get_as<append_request>(0));
  if (msg.match_elements<append_response>())
    return check(from, msg.get_as<append_response>(0));
  if (msg.match_elements<timeout_now>())
    return check(from, msg.get_as<timeout_now>(0));
  if (msg.match_elements<install_snapshot_request>())
    return check(from, msg.get_as<install_snapshot_request>(0));
  if (msg.match_elements<install_snapshot_response>())
    return check(from, msg.get_as<install_snapshot_response>(0));
  return bad("RPC of unknown type: " + shorten(to_string(msg)));
}

} // namespace raft
