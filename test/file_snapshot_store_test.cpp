#define BOOST_TEST_MODULE file_snapshot_store
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"

// What only the file store promises: its on-disk layout and format, crash
// safety, and detection of damage done to the files behind its back. The
// interface contract is in snapshot_store_contract_test.cpp.

using namespace raft;
namespace fs = std::filesystem;

namespace {

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

bool contains(const std::string& str, const std::string& what) {
  return str.find(what) != std::string::npos;
}

struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-snap-file-XXXXXX";
    auto res = ::mkdtemp(tmpl);
    BOOST_REQUIRE(res != nullptr);
    path = res;
  }

  ~temp_dir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, ec);
    fs::remove_all(path, ec);
  }
};

struct fixture {
  temp_dir dir;

  std::string snaps() const {
    return dir.path + "/snapshots";
  }

  std::shared_ptr<snapshot_store> open_store(int retain) {
    auto store = new_snapshot_store(dir.path, retain, nullptr);
    BOOST_REQUIRE_MESSAGE(store, why(store));
    return *store;
  }

  /// Names in the snapshots folder.
  std::set<std::string> on_disk() const {
    std::set<std::string> names;
    for (auto& entry : fs::directory_iterator(snaps()))
      names.insert(entry.path().filename().string());
    return names;
  }
};

configuration test_config() {
  configuration cfg;
  cfg.servers.push_back({suffrage::voter, "1", "10.0.0.1:17070"});
  cfg.servers.push_back({suffrage::nonvoter, "2", "10.0.0.2:17070"});
  return cfg;
}

bytes pattern(size_t n, uint32_t seed) {
  bytes out(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return out;
}

/// Writes one complete snapshot without Boost assertions, so a forked child
/// can use it too. Returns the id, or an empty string on failure.
std::string try_write(snapshot_store& store, term_t term, index_t index,
                      const bytes& data) {
  auto sink = store.create(index, term, test_config(), 1);
  if (!sink)
    return {};
  if ((*sink)->write(data.data(), data.size()) || (*sink)->close())
    return {};
  return (*sink)->id();
}

std::string write_snapshot(snapshot_store& store, term_t term, index_t index,
                           const bytes& data) {
  auto id = try_write(store, term, index, data);
  BOOST_REQUIRE(!id.empty());
  return id;
}

bytes read_snapshot(snapshot_store& store, const std::string& id) {
  auto opened = store.open(id);
  BOOST_REQUIRE_MESSAGE(opened, why(opened));
  bytes out;
  BOOST_REQUIRE_EQUAL(describe(read_all(*opened->second, out)), "no error");
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& content) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << content;
}

size_t open_fds() {
  size_t n = 0;
  for (auto& entry : fs::directory_iterator("/proc/self/fd")) {
    static_cast<void>(entry);
    ++n;
  }
  return n;
}

/// Reads everything a child writes to `fd` until it closes its end.
std::string drain(int fd) {
  std::string out;
  char buf[512];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      return out;
  }
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(file_snapshot_store_tests, fixture)

// The seed's exact text for a retain below one, and nothing is created.
BOOST_AUTO_TEST_CASE(retain_below_one_is_refused) {
  for (int retain : {0, -1}) {
    auto store = new_snapshot_store(dir.path, retain, nullptr);
    BOOST_REQUIRE(!store);
    BOOST_CHECK(is(store.error(), errc::not_valid));
    BOOST_CHECK_EQUAL(describe(store.error()),
                      "failed to create file snapshot store: must retain at "
                      "least one snapshot");
  }
  BOOST_CHECK(!fs::exists(snaps()));
}

// MkdirAll semantics: missing parents are created, all with mode 0700, and
// the permissions probe file is gone afterwards.
BOOST_AUTO_TEST_CASE(creates_private_folders) {
  auto base = dir.path + "/a/b";
  auto store = new_snapshot_store(base, 1, nullptr);
  BOOST_REQUIRE_MESSAGE(store, why(store));
  for (auto path : {dir.path + "/a", base, base + "/snapshots"}) {
    struct stat st;
    BOOST_REQUIRE_EQUAL(::stat(path.c_str(), &st), 0);
    BOOST_CHECK(S_ISDIR(st.st_mode));
    BOOST_CHECK_EQUAL(st.st_mode & 0777, 0700u);
  }
  BOOST_CHECK(fs::is_empty(base + "/snapshots"));
  // Opening an existing store works and keeps its snapshots.
  auto id = write_snapshot(**store, 1, 1, pattern(10, 1));
  auto again = new_snapshot_store(base, 1, nullptr);
  BOOST_REQUIRE(again);
  BOOST_CHECK(read_snapshot(**again, id) == pattern(10, 1));
}

// A folder the store cannot write to is reported at creation with the path.
// Root ignores permissions, so as root the check runs in a child that drops
// to an unprivileged user first.
BOOST_AUTO_TEST_CASE(unwritable_folder_fails_early) {
  open_store(1);
  fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_read
                              | fs::perms::group_exec | fs::perms::others_read
                              | fs::perms::others_exec);
  fs::permissions(snaps(), fs::perms::owner_read | fs::perms::owner_exec
                             | fs::perms::group_read | fs::perms::group_exec
                             | fs::perms::others_read
                             | fs::perms::others_exec);
  int fds[2];
  BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      report = "cannot drop privileges";
    } else {
      auto store = new_snapshot_store(dir.path, 1, nullptr);
      report = store ? "opened"
                     : std::to_string(is(store.error(), errc::storage_failure))
                         + describe(store.error());
    }
    auto ignored = ::write(fds[1], report.data(), report.size());
    static_cast<void>(ignored);
    ::_exit(0);
  }
  ::close(fds[1]);
  auto text = drain(fds[0]);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_CHECK_MESSAGE(text.rfind("1", 0) == 0
                        && contains(text, "permissions test failed")
                        && contains(text, snaps() + "/permTest")
                        && contains(text, "Permission denied"),
                      text);
}

// The on-disk layout: one folder "<term>-<index>-<unix-ms>" per snapshot
// holding exactly meta.json and state.bin (mode 0700), with HashiCorp's JSON
// field names, and the CRC stored as Go stores its []byte (base64).
BOOST_AUTO_TEST_CASE(on_disk_layout) {
  auto store = open_store(3);
  auto before = unix_millis_now();
  std::string text = "123456789";
  auto id = write_snapshot(*store, 4, 12, bytes{text.begin(), text.end()});
  auto after = unix_millis_now();
  BOOST_CHECK(on_disk() == std::set<std::string>{id});
  std::smatch m;
  BOOST_REQUIRE(std::regex_match(id, m, std::regex{"^(\\d+)-(\\d+)-(\\d+)$"}));
  BOOST_CHECK_EQUAL(m[1].str(), "4");
  BOOST_CHECK_EQUAL(m[2].str(), "12");
  auto ms = std::stoll(m[3].str());
  BOOST_CHECK(ms >= before && ms <= after + 1);
  auto folder = snaps() + "/" + id;
  std::set<std::string> files;
  for (auto& entry : fs::directory_iterator(folder))
    files.insert(entry.path().filename().string());
  BOOST_CHECK(files == (std::set<std::string>{"meta.json", "state.bin"}));
  struct stat st;
  BOOST_REQUIRE_EQUAL(::stat(folder.c_str(), &st), 0);
  BOOST_CHECK_EQUAL(st.st_mode & 0777, 0700u);
  BOOST_CHECK_EQUAL(slurp(folder + "/state.bin"), text);
  auto j = nlohmann::json::parse(slurp(folder + "/meta.json"));
  BOOST_CHECK_EQUAL(j["Version"].get<int>(), 1);
  BOOST_CHECK_EQUAL(j["ID"].get<std::string>(), id);
  BOOST_CHECK_EQUAL(j["Index"].get<uint64_t>(), 12u);
  BOOST_CHECK_EQUAL(j["Term"].get<uint64_t>(), 4u);
  BOOST_CHECK_EQUAL(j["ConfigurationIndex"].get<uint64_t>(), 1u);
  BOOST_CHECK_EQUAL(j["Size"].get<uint64_t>(), 9u);
  auto& servers = j["Configuration"]["Servers"];
  BOOST_REQUIRE_EQUAL(servers.size(), 2u);
  BOOST_CHECK_EQUAL(servers[1]["Suffrage"].get<int>(), 1);
  BOOST_CHECK_EQUAL(servers[1]["ID"].get<std::string>(), "2");
  BOOST_CHECK_EQUAL(servers[1]["Address"].get<std::string>(), "10.0.0.2:17070");
  // Big-endian 0x995DC9BBDF1939FA, base64-encoded.
  BOOST_CHECK_EQUAL(j["CRC"].get<std::string>(), "mV3Ju98ZOfo=");
}

// A state larger than the sink's writeback chunk (8 MiB), written through
// both of the sink's paths, reads back whole: starting the disk early
// changes nothing that is stored. The first 9 MiB go through the sink's
// buffer only (small writes), so that path starts a writeback of its own;
// after that, megabyte writes (straight to the file) and small ones mix.
BOOST_AUTO_TEST_CASE(state_larger_than_the_writeback_chunk_reads_back) {
  auto store = open_store(1);
  auto data = pattern(19 * 1024 * 1024 + 5, 7);
  auto sink = store->create(9, 2, test_config(), 1);
  BOOST_REQUIRE(sink);
  size_t at = 0;
  for (size_t step = 0; at < data.size(); ++step) {
    bool big = at >= 9 * 1024 * 1024 && step % 3 == 0;
    auto n = std::min(data.size() - at, big ? size_t{1} << 20 : size_t{4093});
    BOOST_REQUIRE(!(*sink)->write(data.data() + at, n));
    at += n;
  }
  BOOST_REQUIRE(!(*sink)->close());
  BOOST_CHECK(read_snapshot(*store, (*sink)->id()) == data);
}

// The checksum is CRC-64/XZ (Go's crc64.ECMA table): the standard check value.
BOOST_AUTO_TEST_CASE(crc64_test_vector) {
  crc64_ecma crc;
  crc.process_bytes("123456789", 9);
  BOOST_CHECK_EQUAL(crc.checksum(), 0x995DC9BBDF1939FAull);
  crc64_ecma split;
  split.process_bytes("1234", 4);
  split.process_bytes("56789", 5);
  BOOST_CHECK_EQUAL(split.checksum(), 0x995DC9BBDF1939FAull);
}

// Reaping deletes the folders, not just hides them; cancel removes the
// .tmp folder.
BOOST_AUTO_TEST_CASE(retention_and_cancel_free_disk) {
  auto store = open_store(2);
  std::vector<std::string> ids;
  for (index_t i = 1; i <= 4; ++i)
    ids.push_back(write_snapshot(*store, 1, i, pattern(100, i)));
  BOOST_CHECK(on_disk() == (std::set<std::string>{ids[2], ids[3]}));
  auto sink = store->create(9, 1, test_config(), 1);
  BOOST_REQUIRE(sink);
  BOOST_CHECK(fs::is_directory(snaps() + "/" + (*sink)->id() + ".tmp"));
  BOOST_REQUIRE(!(*sink)->write("xyz", 3));
  BOOST_REQUIRE(!(*sink)->cancel());
  BOOST_CHECK(on_disk() == (std::set<std::string>{ids[2], ids[3]}));
}

// A store opened with a smaller retain lists only that many, without
// deleting anything until the next snapshot closes.
BOOST_AUTO_TEST_CASE(list_returns_at_most_retain) {
  auto store = open_store(5);
  for (index_t i = 1; i <= 4; ++i)
    write_snapshot(*store, 1, i, pattern(10, i));
  auto small = open_store(2);
  auto metas = small->list();
  BOOST_REQUIRE(metas);
  BOOST_REQUIRE_EQUAL(metas->size(), 2u);
  BOOST_CHECK_EQUAL((*metas)[0].index, 4u);
  BOOST_CHECK_EQUAL((*metas)[1].index, 3u);
  BOOST_CHECK_EQUAL(on_disk().size(), 4u);
}

// .tmp folders (interrupted writes) are removed when a store opens; plain
// files are ignored by list and left alone; complete snapshots survive.
BOOST_AUTO_TEST_CASE(leftover_tmp_folders_removed_on_open) {
  auto id = write_snapshot(*open_store(3), 1, 1, pattern(50, 1));
  fs::create_directory(snaps() + "/2-9-1700000000000.tmp");
  spit(snaps() + "/2-9-1700000000000.tmp/state.bin", "partial");
  spit(snaps() + "/notes.txt", "not a snapshot");
  auto store = open_store(3);
  BOOST_CHECK(on_disk() == (std::set<std::string>{id, "notes.txt"}));
  auto metas = store->list();
  BOOST_REQUIRE(metas);
  BOOST_REQUIRE_EQUAL(metas->size(), 1u);
  BOOST_CHECK_EQUAL(metas->front().id, id);
}

// A real crash: a child process writes two complete snapshots, then is
// killed (SIGKILL) in the middle of writing a third. The partial one is
// never listed and its .tmp folder is removed on reopen; the complete ones
// open with their exact contents.
BOOST_AUTO_TEST_CASE(crash_mid_write_leaves_complete_snapshots) {
  int fds[2];
  BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto store = new_snapshot_store(dir.path, 5, nullptr);
    if (!store)
      ::_exit(2);
    for (index_t i = 1; i <= 2; ++i)
      if (try_write(**store, 1, i, pattern(300000, i)).empty())
        ::_exit(3);
    auto sink = (*store)->create(3, 1, test_config(), 1);
    if (!sink)
      ::_exit(4);
    auto chunk = pattern(64 * 1024, 3);
    // Keep writing until killed; tell the parent once a good part of the
    // state has gone to disk. The bound only limits disk use should the
    // parent never kill us.
    for (size_t written = 0; written < (64u << 20); written += chunk.size()) {
      if ((*sink)->write(chunk.data(), chunk.size()))
        ::_exit(5);
      if (written == (1u << 20)) {
        char c = 'w';
        if (::write(fds[1], &c, 1) != 1)
          ::_exit(6);
      }
    }
    for (;;)
      ::pause();
  }
  ::close(fds[1]);
  char c = 0;
  auto n = ::read(fds[0], &c, 1); // EOF if the child died early
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  BOOST_REQUIRE_MESSAGE(n == 1, "child failed with status " << status);
  BOOST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // The crash left a partial snapshot behind.
  size_t tmp_count = 0;
  for (auto& name : on_disk())
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
      ++tmp_count;
  BOOST_REQUIRE_EQUAL(tmp_count, 1u);
  auto store = open_store(5);
  auto names = on_disk();
  BOOST_CHECK_EQUAL(names.size(), 2u);
  for (auto& name : names)
    BOOST_CHECK_MESSAGE(name.find(".tmp") == std::string::npos, name);
  auto metas = store->list();
  BOOST_REQUIRE(metas);
  BOOST_REQUIRE_EQUAL(metas->size(), 2u);
  BOOST_CHECK_EQUAL((*metas)[0].index, 2u);
  BOOST_CHECK_EQUAL((*metas)[1].index, 1u);
  BOOST_CHECK(read_snapshot(*store, (*metas)[0].id) == pattern(300000, 2));
  BOOST_CHECK(read_snapshot(*store, (*metas)[1].id) == pattern(300000, 1));
}

// A truncated state.bin is refused with corrupt, naming the file and the
// size mismatch.
BOOST_AUTO_TEST_CASE(truncated_state_is_corrupt) {
  auto store = open_store(2);
  auto id = write_snapshot(*store, 1, 1, pattern(10000, 1));
  auto path = snaps() + "/" + id + "/state.bin";
  fs::resize_file(path, 9999);
  auto opened = store->open(id);
  BOOST_REQUIRE(!opened);
  BOOST_CHECK(is(opened.error(), errc::corrupt));
  auto text = describe(opened.error());
  BOOST_CHECK_MESSAGE(contains(text, path) && contains(text, "size mismatch")
                        && contains(text, "9999") && contains(text, "10000"),
                      text);
}

// One flipped byte in state.bin is refused with "CRC mismatch", naming the
// file; the snapshot next to it still opens.
BOOST_AUTO_TEST_CASE(flipped_byte_is_crc_mismatch) {
  auto store = open_store(2);
  auto good = write_snapshot(*store, 1, 1, pattern(10000, 1));
  auto bad = write_snapshot(*store, 1, 2, pattern(10000, 2));
  auto path = snaps() + "/" + bad + "/state.bin";
  auto content = slurp(path);
  content[5000] = static_cast<char>(content[5000] ^ 0x80);
  spit(path, content);
  auto opened = store->open(bad);
  BOOST_REQUIRE(!opened);
  BOOST_CHECK(is(opened.error(), errc::corrupt));
  auto text = describe(opened.error());
  BOOST_CHECK_MESSAGE(contains(text, "CRC mismatch") && contains(text, path),
                      text);
  BOOST_CHECK(read_snapshot(*store, good) == pattern(10000, 1));
}

// If state.bin changes after open verified it, the reader fails at the end
// instead of reporting a clean end of state.
BOOST_AUTO_TEST_CASE(change_after_open_fails_the_read) {
  auto store = open_store(1);
  auto id = write_snapshot(*store, 1, 1, pattern(1000, 1));
  auto opened = store->open(id);
  BOOST_REQUIRE(opened);
  auto path = snaps() + "/" + id + "/state.bin";
  {
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(10);
    f.put('\x55' ^ static_cast<char>(pattern(1000, 1)[10]));
  }
  bytes out;
  auto err = read_all(*opened->second, out);
  BOOST_CHECK(is(err, errc::corrupt));
}

// Garbage in meta.json, or an unsupported version, makes list skip that
// snapshot (the others are still listed) and open refuse it.
BOOST_AUTO_TEST_CASE(bad_meta_is_skipped) {
  auto store = open_store(5);
  auto a = write_snapshot(*store, 1, 1, pattern(10, 1));
  auto b = write_snapshot(*store, 1, 2, pattern(10, 2));
  auto c = write_snapshot(*store, 1, 3, pattern(10, 3));
  auto d = write_snapshot(*store, 1, 4, pattern(10, 4));
  spit(snaps() + "/" + b + "/meta.json", "{not json at all");
  auto meta_c = nlohmann::json::parse(slurp(snaps() + "/" + c + "/meta.json"));
  meta_c["Version"] = 2;
  spit(snaps() + "/" + c + "/meta.json", meta_c.dump());
  fs::remove(snaps() + "/" + d + "/meta.json");
  auto metas = store->list();
  BOOST_REQUIRE(metas);
  BOOST_REQUIRE_EQUAL(metas->size(), 1u);
  BOOST_CHECK_EQUAL(metas->front().id, a);
  auto ob = store->open(b);
  BOOST_REQUIRE(!ob);
  BOOST_CHECK(is(ob.error(), errc::corrupt));
  BOOST_CHECK_MESSAGE(contains(describe(ob.error()), "meta.json"),
                      describe(ob.error()));
  auto oc = store->open(c);
  BOOST_REQUIRE(!oc);
  BOOST_CHECK(is(oc.error(), errc::unsupported));
  BOOST_CHECK(read_snapshot(*store, a) == pattern(10, 1));
}

// Ids that could escape the snapshots folder are refused outright.
BOOST_AUTO_TEST_CASE(path_like_ids_are_refused) {
  auto store = open_store(1);
  for (auto id : {"../x", "a/b", "..", "", "1-1-1.tmp", "/etc"}) {
    auto opened = store->open(id);
    BOOST_REQUIRE(!opened);
    BOOST_CHECK_MESSAGE(is(opened.error(), errc::not_valid), id);
  }
}

// The reader holds one descriptor, released by close (and by destruction).
BOOST_AUTO_TEST_CASE(reader_close_releases_the_file) {
  auto store = open_store(1);
  auto id = write_snapshot(*store, 1, 1, pattern(100000, 1));
  auto before = open_fds();
  {
    auto opened = store->open(id);
    BOOST_REQUIRE(opened);
    BOOST_CHECK_EQUAL(open_fds(), before + 1);
    uint8_t buf[100];
    auto n = opened->second->read(buf, sizeof(buf));
    BOOST_REQUIRE(n);
    BOOST_CHECK_EQUAL(*n, 100u);
    opened->second->close();
    BOOST_CHECK_EQUAL(open_fds(), before);
    BOOST_CHECK(!opened->second->read(buf, sizeof(buf)));
  }
  {
    auto opened = store->open(id);
    BOOST_REQUIRE(opened);
  }
  BOOST_CHECK_EQUAL(open_fds(), before);
}

// A sink keeps working after its store is gone (the snapshot manager may
// drop the store while a persist runs on another thread).
BOOST_AUTO_TEST_CASE(sink_outlives_store) {
  auto store = open_store(1);
  auto sink = store->create(1, 1, test_config(), 1);
  BOOST_REQUIRE(sink);
  store.reset();
  BOOST_REQUIRE(!(*sink)->write("abc", 3));
  BOOST_REQUIRE(!(*sink)->close());
  BOOST_CHECK(read_snapshot(*open_store(1), (*sink)->id())
              == (bytes{'a', 'b', 'c'}));
}

// A failed write (here EFBIG from a file-size limit, standing in for a full
// disk) is reported with the file's path; close then fails too and leaves
// no folder behind. Runs in a child so the limit cannot touch the runner.
BOOST_AUTO_TEST_CASE(write_error_names_the_file) {
  int fds[2];
  BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    auto store = new_snapshot_store(dir.path, 1, nullptr);
    auto sink = store ? (*store)->create(1, 1, test_config(), 1)
                      : caf::expected<std::unique_ptr<snapshot_sink>>{
                        make_error(errc::storage_failure, "no store")};
    if (sink) {
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit lim;
      ::getrlimit(RLIMIT_FSIZE, &lim);
      lim.rlim_cur = 256 * 1024;
      ::setrlimit(RLIMIT_FSIZE, &lim);
      auto chunk = pattern(16 * 1024, 1);
      caf::error err;
      for (int i = 0; i < 64 && !err; ++i)
        err = (*sink)->write(chunk.data(), chunk.size());
      report += "write=" + describe(err) + "\n";
      report += "again=" + describe((*sink)->write(chunk.data(), 1)) + "\n";
      report += "close=" + describe((*sink)->close()) + "\n";
      report += "storage_failure=" + std::to_string(is(err, errc::storage_failure))
                + "\n";
    } else {
      report = "setup failed\n";
    }
    auto ignored = ::write(fds[1], report.data(), report.size());
    static_cast<void>(ignored);
    ::_exit(0);
  }
  ::close(fds[1]);
  auto report = drain(fds[0]);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST_MESSAGE(report);
  std::map<std::string, std::string> lines;
  std::istringstream in{report};
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos)
      lines[line.substr(0, eq)] = line.substr(eq + 1);
  }
  BOOST_REQUIRE_MESSAGE(lines.count("write") == 1, report);
  auto& write_err = lines["write"];
  BOOST_CHECK_MESSAGE(contains(write_err, ".tmp/state.bin")
                        && contains(write_err, "File too large"),
                      write_err);
  BOOST_CHECK_EQUAL(lines["storage_failure"], "1");
  BOOST_CHECK_EQUAL(lines["again"], write_err);
  BOOST_CHECK_MESSAGE(contains(lines["close"], "failed write"),
                      lines["close"]);
  BOOST_CHECK(on_disk().empty());
  BOOST_CHECK(open_store(1)->list()->empty());
}

// The store logs through the given logger with the seed's "[snapshot] "
// prefix: the removal of an interrupted write and a skipped snapshot.
BOOST_AUTO_TEST_CASE(logs_with_snapshot_prefix) {
  auto id = write_snapshot(*open_store(2), 1, 1, pattern(10, 1));
  fs::create_directory(snaps() + "/1-2-3.tmp");
  spit(snaps() + "/" + id + "/meta.json", "garbage");
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
    "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_pattern("%v");
  auto store = new_snapshot_store(dir.path, 2, logger);
  BOOST_REQUIRE(store);
  BOOST_REQUIRE((*store)->list());
  auto text = out.str();
  BOOST_CHECK_MESSAGE(contains(text, "[snapshot] removed interrupted snapshot "
                                       + snaps() + "/1-2-3.tmp"),
                      text);
  BOOST_CHECK_MESSAGE(contains(text, "[snapshot] skipping snapshot " + id), text);
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);)
    BOOST_CHECK_MESSAGE(line.rfind("[snapshot] ", 0) == 0, line);
}

BOOST_AUTO_TEST_SUITE_END()
