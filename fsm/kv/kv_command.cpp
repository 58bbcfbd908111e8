#include "caf-raft/fsm/kv/kv_command.hpp"

#include "caf-raft/config/errc.hpp"

namespace raft::fsm {

namespace {

void put_varint(raft::bytes& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<uint8_t>(x | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<uint8_t>(x));
}

void put_field(raft::bytes& out, const std::string& str) {
  put_varint(out, str.size());
  out.insert(out.end(), str.begin(), str.end());
}

caf::error bad(const std::string& what) {
  return raft::make_error(raft::errc::bad_message, "kv command: " + what);
}

/// A bounds-checked cursor over the input.
struct reader {
  const raft::bytes& buf;
  size_t pos = 0;

  size_t left() const {
    return buf.size() - pos;
  }

  caf::error byte(const char* name, uint8_t& x) {
    if (left() < 1)
      return bad(std::string{"truncated before "} + name);
    x = buf[pos++];
    return caf::none;
  }

  caf::error varint(const char* name, uint64_t& x) {
    x = 0;
    // Ten bytes carry 64 bits; more is malformed, not just large.
    for (int shift = 0; shift < 70; shift += 7) {
      if (left() < 1)
        return bad(std::string{"truncated length of "} + name);
      auto b = buf[pos++];
      if (shift == 63 && b > 1)
        return bad(std::string{"length of "} + name + " overflows 64 bits");
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        return caf::none;
    }
    return bad(std::string{"length of "} + name + " overflows 64 bits");
  }

  caf::error field(const char* name, std::string& out) {
    uint64_t len = 0;
    if (auto err = varint(name, len))
      return err;
    if (len > kv_max_field_size)
      return bad(std::string{name} + " of " + std::to_string(len)
                 + " bytes exceeds the limit of "
                 + std::to_string(kv_max_field_size));
    if (len > left())
      return bad(std::string{name} + " truncated: " + std::to_string(len)
                 + " bytes announced, " + std::to_string(left()) + " left");
    out.assign(reinterpret_cast<const char*>(buf.data()) + pos, len);
    pos += len;
    return caf::none;
  }
};

} // namespace

const char* to_string(kv_op x) {
  switch (x) {
    case kv_op::put:
      return "put";
    case kv_op::del:
      return "del";
    case kv_op::cas:
      return "cas";
  }
  return "unknown";
}

kv_command kv_command::put(std::string key, std::string value) {
  kv_command x;
  x.op = kv_op::put;
  x.key = std::move(key);
  x.value = std::move(value);
  return x;
}

kv_command kv_command::del(std::string key) {
  kv_command x;
  x.op = kv_op::del;
  x.key = std::move(key);
  return x;
}

kv_command kv_command::cas(std::string key,
                           std::optional<std::string> expected,
                           std::string value) {
  kv_command x;
  x.op = kv_op::cas;
  x.key = std::move(key);
  x.expected = std::move(expected);
  x.value = std::move(value);
  return x;
}

raft::bytes encode(const kv_command& cmd) {
  raft::bytes out;
  out.reserve(2 + 10 + cmd.key.size() + 10 + cmd.value.size()
              + (cmd.expected ? 11 + cmd.expected->size() : 1));
  out.push_back(kv_command_version);
  out.push_back(static_cast<uint8_t>(cmd.op));
  put_field(out, cmd.key);
  switch (cmd.op) {
    case kv_op::put:
      put_field(out, cmd.value);
      break;
    case kv_op::del:
      break;
    case kv_op::cas:
      out.push_back(cmd.expected ? 1 : 0);
      if (cmd.expected)
        put_field(out, *cmd.expected);
      put_field(out, cmd.value);
      break;
  }
  return out;
}

caf::expected<kv_command> decode(const raft::bytes& buf) {
  reader in{buf};
  uint8_t version = 0;
  if (auto err = in.byte("version", version))
    return err;
  if (version != kv_command_version)
    return bad("unsupported version " + std::to_string(version)
               + " (expected " + std::to_string(kv_command_version) + ")");
  uint8_t op = 0;
  if (auto err = in.byte("op", op))
    return err;
  kv_command cmd;
  switch (op) {
    case static_cast<uint8_t>(kv_op::put):
    case static_cast<uint8_t>(kv_op::del):
    case static_cast<uint8_t>(kv_op::cas):
      cmd.op = static_cast<kv_op>(op);
      break;
    default:
      return bad("unknown op " + std::to_string(op));
  }
  if (auto err = in.field("key", cmd.key))
    return err;
  if (cmd.op == kv_op::put) {
    if (auto err = in.field("value", cmd.value))
      return err;
  } else if (cmd.op == kv_op::cas) {
    uint8_t flag = 0;
    if (auto err = in.byte("cas flag", flag))
      return err;
    if (flag > 1)
      return bad("cas flag " + std::to_string(flag) + " is neither 0 nor 1");
    if (flag == 1) {
      std::string expected;
      if (auto err = in.field("expected value", expected))
        return err;
      cmd.expected = std::move(expected);
    }
    if (auto err = in.field("value", cmd.value))
      return err;
  }
  if (in.left() != 0)
    return bad(std::to_string(in.left()) + " trailing bytes after the "
               + to_string(cmd.op) + " command");
  return cmd;
}

} // namespace raft::fsm
