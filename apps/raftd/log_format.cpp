#include "caf-raft/apps/raftd/log_format.hpp"

#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

namespace raft {

namespace {

/// `%*`: the message as the inside of a JSON string.
class json_message : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    for (auto c : msg.payload) {
      auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (u < 0x20) {
        const char esc[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 15]};
        dest.append(esc, esc + sizeof(esc));
      } else {
        dest.push_back(c);
      }
    }
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message>();
  }
};

} // namespace

void set_log_format(spdlog::logger& log, const std::string& server_id,
                    const std::string& format) {
  auto f = std::make_unique<spdlog::pattern_formatter>(
    spdlog::pattern_time_type::utc);
  if (format == "json")
    f->add_flag<json_message>('*').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","server":")"
      + server_id + R"(","msg":"%*"})");
  else
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [" + server_id + "] %v");
  log.set_formatter(std::move(f));
}

} // namespace raft
