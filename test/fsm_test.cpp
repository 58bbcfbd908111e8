#define BOOST_TEST_MODULE fsm
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/bootstrap_fsm.hpp"
#include "caf-raft/fsm/simple_fsm.hpp"
#include "caf-raft/fsm/simple_snapshot.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"

// The seed's SimpleFSM, SimpleSnapshot and BootstrapFSM (spec §4).

using namespace raft;

namespace {

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

bytes b(const std::string& str) {
  return bytes{str.begin(), str.end()};
}

log_entry command(index_t index, const std::string& data) {
  log_entry e;
  e.index = index;
  e.term = 1;
  e.type = entry_type::command;
  e.data = b(data);
  return e;
}

struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-fsm-XXXXXX";
    auto res = ::mkdtemp(tmpl);
    BOOST_REQUIRE(res != nullptr);
    path = res;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Serves fixed bytes a few at a time and counts close calls; optionally
/// fails its reads.
class counting_reader : public snapshot_reader {
public:
  explicit counting_reader(bytes data, bool fail = false)
    : data_(std::move(data)), fail_(fail) {
    // nop
  }

  caf::expected<size_t> read(void* buf, size_t n) override {
    if (closes > 0)
      return make_error(errc::not_valid, "read after close");
    if (fail_)
      return make_error(errc::storage_failure, "read failed");
    auto count = std::min({n, size_t{3}, data_.size() - pos_});
    std::copy_n(data_.begin() + pos_, count, static_cast<uint8_t*>(buf));
    pos_ += count;
    return count;
  }

  void close() override {
    ++closes;
  }

  int closes = 0;

private:
  bytes data_;
  size_t pos_ = 0;
  bool fail_;
};

/// Collects what is written; can fail its writes.
class recording_sink : public snapshot_sink {
public:
  explicit recording_sink(bool fail = false) : fail_(fail) {
    // nop
  }

  const std::string& id() const override {
    return id_;
  }

  caf::error write(const void* data, size_t n) override {
    if (fail_)
      return make_error(errc::storage_failure, "disk full");
    auto ptr = static_cast<const uint8_t*>(data);
    written.insert(written.end(), ptr, ptr + n);
    return caf::none;
  }

  caf::error close() override {
    ++closes;
    return caf::none;
  }

  caf::error cancel() override {
    ++cancels;
    return caf::none;
  }

  bytes written;
  int closes = 0;
  int cancels = 0;

private:
  std::string id_ = "1-1-1";
  bool fail_;
};

std::vector<bytes> three_logs() {
  return {b("one"), b(""), b("three")};
}

void apply_all(raft::fsm::simple_fsm& f, const std::vector<bytes>& logs) {
  index_t i = 0;
  for (auto& data : logs) {
    log_entry e;
    e.index = ++i;
    e.data = data;
    f.apply(e);
  }
}

} // namespace

// The original's TestRaft answers: each apply returns the new length as an
// int64_t, starting at 1.
BOOST_AUTO_TEST_CASE(apply_returns_new_length) {
  raft::fsm::simple_fsm f;
  for (int64_t i = 1; i <= 3; ++i) {
    auto msg = f.apply(command(static_cast<index_t>(i), "cmd"));
    BOOST_REQUIRE(msg.match_elements<int64_t>());
    BOOST_CHECK_EQUAL(msg.get_as<int64_t>(0), i);
  }
}

// logs() hands out a copy: changing it does not change the state machine.
BOOST_AUTO_TEST_CASE(logs_returns_a_copy) {
  raft::fsm::simple_fsm f;
  f.apply(command(1, "a"));
  f.apply(command(2, "b"));
  auto copy = f.logs();
  BOOST_REQUIRE_EQUAL(copy.size(), 2u);
  BOOST_CHECK(copy[0] == b("a"));
  BOOST_CHECK(copy[1] == b("b"));
  copy[0] = b("changed");
  copy.clear();
  auto again = f.logs();
  BOOST_REQUIRE_EQUAL(again.size(), 2u);
  BOOST_CHECK(again[0] == b("a"));
}

// The seed's TestRestoreSnapshot through a real file snapshot store: the
// snapshot is point-in-time (a later apply is not in it), persists, opens
// with a valid CRC and restores into a fresh state machine.
BOOST_AUTO_TEST_CASE(snapshot_round_trip_through_file_store) {
  temp_dir dir;
  auto store = new_snapshot_store(dir.path, 2, nullptr);
  BOOST_REQUIRE_MESSAGE(store, why(store));
  raft::fsm::simple_fsm f;
  apply_all(f, three_logs());
  auto snap = f.take_snapshot();
  BOOST_REQUIRE(snap);
  f.apply(command(4, "after the snapshot"));
  configuration cfg;
  cfg.servers.push_back({suffrage::voter, "123", "localhost"});
  auto sink = (*store)->create(3, 1, cfg, 1);
  BOOST_REQUIRE(sink);
  BOOST_REQUIRE(!(*snap)->persist(**sink));
  (*snap)->release();
  auto metas = (*store)->list();
  BOOST_REQUIRE(metas);
  BOOST_REQUIRE_EQUAL(metas->size(), 1u);
  auto opened = (*store)->open(metas->front().id);
  BOOST_REQUIRE_MESSAGE(opened, why(opened));
  raft::fsm::simple_fsm g;
  g.apply(command(1, "old state, replaced"));
  BOOST_REQUIRE(!g.restore(*opened->second));
  BOOST_CHECK(g.logs() == three_logs());
  // The original keeps its later entry; the restore replaced g's state.
  BOOST_CHECK_EQUAL(f.logs().size(), 4u);
  // restore closed the store's reader.
  uint8_t buf[1];
  BOOST_CHECK(!opened->second->read(buf, 1));
}

// restore closes the reader exactly once whether it succeeds, fails to
// decode, or fails to read.
BOOST_AUTO_TEST_CASE(restore_always_closes_the_reader) {
  raft::fsm::simple_fsm f;
  counting_reader good{raft::fsm::simple_snapshot::encode(three_logs(), 3)};
  BOOST_CHECK(!f.restore(good));
  BOOST_CHECK_EQUAL(good.closes, 1);
  BOOST_CHECK(f.logs() == three_logs());
  counting_reader garbage{b("definitely not a snapshot")};
  BOOST_CHECK(f.restore(garbage));
  BOOST_CHECK_EQUAL(garbage.closes, 1);
  counting_reader failing{bytes{}, true};
  auto err = f.restore(failing);
  BOOST_CHECK(is(err, errc::storage_failure));
  BOOST_CHECK_EQUAL(failing.closes, 1);
  BOOST_CHECK(f.logs() == three_logs());
}

// Truncated, garbage, empty or over-long input fails with corrupt and leaves
// the previous state untouched.
BOOST_AUTO_TEST_CASE(restore_of_bad_bytes_keeps_state) {
  raft::fsm::simple_fsm f;
  apply_all(f, {b("keep"), b("me")});
  auto valid = raft::fsm::simple_snapshot::encode(three_logs(), 3);
  auto truncated = valid;
  truncated.pop_back();
  auto trailing = valid;
  trailing.push_back(0);
  bytes huge_count(8, 0xFF); // claims 2^64-1 entries
  for (auto& input : {truncated, trailing, huge_count, bytes{}, b("xyz")}) {
    counting_reader in{input};
    auto err = f.restore(in);
    BOOST_CHECK(is(err, errc::corrupt));
    BOOST_CHECK_EQUAL(in.closes, 1);
    BOOST_CHECK(f.logs() == (std::vector<bytes>{b("keep"), b("me")}));
  }
}

// A simple_snapshot persists only the first n entries of its copy, closes
// the sink on success, and n beyond the copy is clamped.
BOOST_AUTO_TEST_CASE(simple_snapshot_persists_first_n) {
  raft::fsm::simple_snapshot snap{three_logs(), 2};
  recording_sink sink;
  BOOST_REQUIRE(!snap.persist(sink));
  BOOST_CHECK_EQUAL(sink.closes, 1);
  BOOST_CHECK_EQUAL(sink.cancels, 0);
  auto decoded = raft::fsm::simple_snapshot::decode(sink.written);
  BOOST_REQUIRE(decoded);
  BOOST_CHECK(*decoded == (std::vector<bytes>{b("one"), b("")}));
  raft::fsm::simple_snapshot all{three_logs(), 99};
  recording_sink sink2;
  BOOST_REQUIRE(!all.persist(sink2));
  auto decoded2 = raft::fsm::simple_snapshot::decode(sink2.written);
  BOOST_REQUIRE(decoded2);
  BOOST_CHECK(*decoded2 == three_logs());
}

// A write error cancels the sink (never closes it) and is returned.
BOOST_AUTO_TEST_CASE(persist_cancels_on_write_error) {
  raft::fsm::simple_snapshot snap{three_logs(), 3};
  recording_sink sink{true};
  auto err = snap.persist(sink);
  BOOST_CHECK(is(err, errc::storage_failure));
  BOOST_CHECK_EQUAL(sink.cancels, 1);
  BOOST_CHECK_EQUAL(sink.closes, 0);
}

// raft must never call a bootstrap_fsm: every method throws logic_error,
// and restore still closes its reader first.
BOOST_AUTO_TEST_CASE(bootstrap_fsm_throws) {
  raft::fsm::bootstrap_fsm f;
  BOOST_CHECK_THROW(f.apply(command(1, "x")), std::logic_error);
  BOOST_CHECK_THROW(f.take_snapshot(), std::logic_error);
  counting_reader in{bytes{}};
  BOOST_CHECK_THROW(f.restore(in), std::logic_error);
  BOOST_CHECK_EQUAL(in.closes, 1);
}
