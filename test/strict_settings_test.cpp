#define BOOST_TEST_MODULE strict_settings
// Settings are refused when misspelled or mistyped (issue 16): CAF alone
// keeps an unknown key or a value of the wrong type of a config file
// without a word, and the program then runs with its defaults.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "caf-raft/apps/raftd/node_config.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/config/strict_settings.hpp"

using namespace raft;
namespace fs = std::filesystem;

namespace {

struct fixture {
  node_config cfg;
  fs::path dir;

  fixture() {
    char tmpl[] = "/tmp/caf-raft-settings-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }

  ~fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  /// Writes an INI file and checks it; "" if it passes.
  std::string check_file(const std::string& text) {
    auto path = (dir / "raftd.ini").string();
    std::ofstream{path} << text;
    auto err = check_settings_file(cfg.options(), path);
    return err ? describe(err) : std::string{};
  }

  std::string check_flags(std::vector<std::string> args) {
    auto err = check_arguments(cfg.options(), args);
    return err ? describe(err) : std::string{};
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(strict_settings_suite, fixture)

BOOST_AUTO_TEST_CASE(unknown_keys_name_file_line_and_the_nearest_setting) {
  auto why = check_file("[global]\nid = \"a\"\ndata_dir = \"/x\"\n");
  BOOST_TEST(has(why, "raftd.ini:3: 'data_dir' is not a setting of [global] "
                      "(did you mean 'data-dir'?)"),
             why);
  why = check_file("[global]\nmetric = \"127.0.0.1:9100\"\n");
  BOOST_TEST(has(why, ":2: 'metric' is not a setting"), why);
  BOOST_TEST(has(why, "did you mean 'metrics'?"), why);
  why = check_file("snapshot_threshold = 5\n");
  BOOST_TEST(has(why, "did you mean 'snapshot-threshold'?"), why);
  // Nothing near: no guess.
  why = check_file("[global]\nfrobnicate = 1\n");
  BOOST_TEST(has(why, "'frobnicate' is not a setting"), why);
  BOOST_TEST(!has(why, "did you mean"), why);
  // CAF's own sections are checked by key too.
  why = check_file("[scheduler]\nmax-thread = 1\n");
  BOOST_TEST(has(why, "not a setting of [scheduler] (did you mean "
                      "'max-threads'?)"),
             why);
}

BOOST_AUTO_TEST_CASE(values_of_the_wrong_type_are_refused) {
  auto why = check_file("[global]\nelection-timeout-ms = \"abc\"\n");
  BOOST_TEST(has(why, ":2: setting 'election-timeout-ms': '\"abc\"' is not a "
                      "whole number, 0 or more"),
             why);
  why = check_file("[global]\nheartbeat-timeout-ms = -5\n");
  BOOST_TEST(has(why, "'-5' is not a whole number, 0 or more"), why);
  why = check_file("[global]\nbootstrap = \"yes\"\n");
  BOOST_TEST(has(why, "setting 'bootstrap': '\"yes\"' is not true or false"),
             why);
  why = check_file("[global]\nid = abc\n");
  BOOST_TEST(has(why, "setting 'id' is a string: write it in double quotes, "
                      "id = \"abc\""),
             why);
  why = check_file("[global]\nid\n");
  BOOST_TEST(has(why, ":2: expected key = value"), why);
}

BOOST_AUTO_TEST_CASE(a_valid_file_passes_and_caf_reads_every_value) {
  auto text = "; a comment\n[global]\nid = \"a\"\nbootstrap = true\n"
              "election-timeout-ms = 500\nmetrics = \"127.0.0.1:9100\"\n"
              "[scheduler]\nmax-threads = 1\n";
  BOOST_TEST(check_file(text) == "");
  std::istringstream ini{text};
  BOOST_REQUIRE(!cfg.parse(caf::actor_system_config::string_list{}, ini));
  BOOST_TEST(cfg.id == "a");
  BOOST_TEST(cfg.bootstrap);
  BOOST_TEST(cfg.election_timeout_ms == 500u);
  BOOST_TEST(cfg.metrics == "127.0.0.1:9100");
}

BOOST_AUTO_TEST_CASE(flags_are_checked_by_name_and_value) {
  auto why = check_flags({"--electon-timeout-ms=5"});
  BOOST_TEST(has(why, "unknown flag --electon-timeout-ms (did you mean "
                      "'--election-timeout-ms'?)"),
             why);
  why = check_flags({"--election-timeout-ms=abc"});
  BOOST_TEST(why
             == "flag --election-timeout-ms: 'abc' is not a whole number, 0 "
                "or more");
  why = check_flags({"--bootstrap=false"});
  BOOST_TEST(why
             == "flag --bootstrap is a switch and takes no value: give "
                "--bootstrap alone to turn it on; to turn off what a config "
                "file sets, write bootstrap = false there");
  why = check_flags({"--id"});
  BOOST_TEST(why == "flag --id needs a value: --id=VALUE");
  why = check_flags({"--scheduler.max-thread=1"});
  BOOST_TEST(has(why, "did you mean '--scheduler.max-threads'?"), why);
  // Valid flags, CAF's own included, pass; CAF stops at the first argument
  // that is not an option (raftd refuses that one itself).
  BOOST_TEST(check_flags({"--id=a", "--bootstrap", "--insecure",
                          "--election-timeout-ms=500",
                          "--scheduler.max-threads=1",
                          "--config-file=raftd.ini", "stray", "--bad"})
             == "");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(nearest_name_guesses_only_near_misspellings) {
  std::vector<std::string> names{"metrics", "data-dir", "id"};
  BOOST_TEST(nearest_name("metric", names) == "metrics");
  BOOST_TEST(nearest_name("data_dir", names) == "data-dir");
  BOOST_TEST(nearest_name("frobnicate", names) == "");
}
