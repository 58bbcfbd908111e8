#define BOOST_TEST_MODULE raftd_log
// raftd's log lines: UTC with the zone, and JSON lines whose message is
// escaped, so that a log shipper can parse every line.

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "caf-raft/apps/raftd/log_format.hpp"

using namespace raft;

namespace {

std::string log_one(const std::string& format, const std::string& text) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log{"test", sink};
  set_log_format(log, "a", format);
  log.warn("{}", text);
  log.flush();
  return out.str();
}

} // namespace

BOOST_AUTO_TEST_CASE(json_lines_parse_whatever_the_message_holds) {
  std::string text = "a \"quoted\" \\ path\nand a second line\t\x01";
  auto line = log_one("json", text);
  BOOST_REQUIRE(!line.empty());
  BOOST_TEST(line.find('\n') == line.size() - 1, line);
  auto j = nlohmann::json::parse(line);
  BOOST_TEST(j["msg"].get<std::string>() == text);
  BOOST_TEST(j["level"].get<std::string>() == "warning");
  BOOST_TEST(j["server"].get<std::string>() == "a");
  auto time = j["time"].get<std::string>();
  BOOST_TEST(time.size() == 24u, time);
  BOOST_TEST(time.back() == 'Z', time);
}

std::string utc_hour() {
  std::time_t now = std::time(nullptr);
  char hour[8];
  std::strftime(hour, sizeof(hour), "T%H:", std::gmtime(&now));
  return hour;
}

BOOST_AUTO_TEST_CASE(text_lines_are_utc_with_the_zone) {
  // The time is UTC: its hour is gmtime's, whatever TZ says (in a time
  // zone of whole hours off UTC this fails if the line is local time).
  setenv("TZ", "Asia/Kolkata", 1);
  tzset();
  auto before = utc_hour();
  auto line = log_one("text", "hello");
  auto after = utc_hour();
  // 2026-12-07T08:30:01.123Z warn  [a] hello
  BOOST_REQUIRE(line.size() > 24u);
  BOOST_TEST(line[23] == 'Z', line);
  BOOST_TEST(line.find("[a] hello") != std::string::npos, line);
  auto hour = line.substr(10, 4);
  BOOST_TEST((hour == before || hour == after), line);
}
