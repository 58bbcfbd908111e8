#define BOOST_TEST_MODULE kv_fsm
#include <boost/test/unit_test.hpp>

#include <boost/crc.hpp>

#include <random>
#include <thread>

#include "caf-raft/actors/messages.hpp"
#include "caf-raft/actors/node.hpp"
#include "caf-raft/actors/transport/inmem_transport.hpp"
#include "caf-raft/bootstrap/bootstrap_cluster.hpp"
#include "caf-raft/config/errc.hpp"
#include "caf-raft/fsm/kv/kv_command.hpp"
#include "caf-raft/fsm/kv/kv_fsm.hpp"
#include "caf-raft/fsm/kv/kv_messages.hpp"
#include "caf-raft/storage/inmem_snapshot_store.hpp"
#include "caf-raft/storage/inmem_store.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/event_based_actor.hpp"
#include "sim/sim.hpp"

// The replicated key-value state machine: its command encoding, apply
// semantics, snapshots, and a round trip through a raft node.

using namespace raft;
using raft::fsm::kv_command;
using raft::fsm::kv_fsm;
using raft::fsm::kv_op;
using raft::fsm::kv_result;

namespace std {

ostream& operator<<(ostream& os, const optional<string>& x) {
  return x ? os << '"' << *x << '"' : os << "nullopt";
}

} // namespace std

namespace raft::fsm {

std::ostream& operator<<(std::ostream& os, const kv_command& x) {
  os << to_string(x.op) << '(' << x.key << ", " << x.value << ", "
     << x.expected << ')';
  return os;
}

} // namespace raft::fsm

namespace {

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

log_entry entry_of(index_t index, const kv_command& cmd) {
  log_entry e;
  e.index = index;
  e.term = 1;
  e.type = entry_type::command;
  e.data = raft::fsm::encode(cmd);
  return e;
}

kv_result result_of(const caf::message& msg) {
  BOOST_REQUIRE_MESSAGE(msg.match_elements<kv_result>(),
                        "not a kv_result: " << to_string(msg));
  return msg.get_as<kv_result>(0);
}

kv_result run(kv_fsm& f, index_t index, const kv_command& cmd) {
  return result_of(f.apply(entry_of(index, cmd)));
}

std::vector<kv_command> samples() {
  std::string binary{"\0\x01\xff\x80", 4};
  return {
    kv_command::put("a", "1"),
    kv_command::put("", ""),
    kv_command::put(binary, binary),
    kv_command::put("big", std::string(300, 'x')), // two-byte length
    kv_command::del("a"),
    kv_command::del(""),
    kv_command::cas("k", std::nullopt, "new"),
    kv_command::cas("k", std::string{"old"}, "new"),
    kv_command::cas("k", std::string{}, ""),
  };
}

/// Serves fixed bytes a few at a time; counts close calls.
class bytes_reader : public snapshot_reader {
public:
  /// With `tells_size`, the reader reports what is left, as the file and
  /// in-memory stores do; without, it leaves the size unknown.
  /// At most `step` bytes per read.
  explicit bytes_reader(bytes data, bool tells_size = false, size_t step = 7)
    : data_(std::move(data)), tells_size_(tells_size), step_(step) {
    // nop
  }

  uint64_t remaining() const override {
    return tells_size_ ? data_.size() - pos_ : 0;
  }

  caf::expected<size_t> read(void* buf, size_t n) override {
    if (closes > 0)
      return make_error(errc::not_valid, "read after close");
    auto count = std::min({n, step_, data_.size() - pos_});
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
  bool tells_size_;
  size_t step_;
  size_t pos_ = 0;
};

/// Replaces the CRC-32 trailer of a snapshot after the test edited it, so
/// the structural checks (not the checksum) must catch the damage.
void reseal(bytes& buf) {
  buf.resize(buf.size() - 4);
  boost::crc_32_type crc;
  crc.process_bytes(buf.data(), buf.size());
  auto sum = crc.checksum();
  for (int i = 0; i < 4; ++i)
    buf.push_back(static_cast<uint8_t>(sum >> (8 * i)));
}

/// Persists `f` into `store` and returns the id.
std::string persist(kv_fsm& f, inmem_snapshot_store& store) {
  auto snap = f.take_snapshot();
  BOOST_REQUIRE(snap);
  auto sink = store.create(f.applied_index(), 1, configuration{}, 1);
  BOOST_REQUIRE_MESSAGE(sink, why(sink));
  auto id = (*sink)->id();
  auto err = (*snap)->persist(**sink);
  BOOST_REQUIRE_MESSAGE(!err, describe(err));
  (*snap)->release();
  return id;
}

caf::error restore_from(kv_fsm& f, inmem_snapshot_store& store,
                        const std::string& id) {
  auto opened = store.open(id);
  if (!opened)
    return opened.error();
  return f.restore(*opened->second);
}

} // namespace

// -- command encoding ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(encode_decode_round_trip) {
  for (auto& cmd : samples()) {
    auto buf = raft::fsm::encode(cmd);
    auto back = raft::fsm::decode(buf);
    BOOST_REQUIRE_MESSAGE(back, why(back));
    BOOST_CHECK_EQUAL(*back, cmd);
  }
}

BOOST_AUTO_TEST_CASE(encoding_is_compact_and_versioned) {
  // version, op, key length, "a", value length, "1"
  BOOST_CHECK((raft::fsm::encode(kv_command::put("a", "1"))
               == bytes{1, 1, 1, 'a', 1, '1'}));
  BOOST_CHECK((raft::fsm::encode(kv_command::del("k")) == bytes{1, 2, 1, 'k'}));
  BOOST_CHECK((raft::fsm::encode(kv_command::cas("k", std::nullopt, "v"))
               == bytes{1, 3, 1, 'k', 0, 1, 'v'}));
  BOOST_CHECK((raft::fsm::encode(kv_command::cas("k", std::string{"e"}, "v"))
               == bytes{1, 3, 1, 'k', 1, 1, 'e', 1, 'v'}));
}

BOOST_AUTO_TEST_CASE(decode_rejects_every_truncation) {
  for (auto& cmd : samples()) {
    auto buf = raft::fsm::encode(cmd);
    for (size_t n = 0; n < buf.size(); ++n) {
      bytes prefix(buf.begin(), buf.begin() + n);
      auto res = raft::fsm::decode(prefix);
      BOOST_REQUIRE_MESSAGE(!res, "prefix of " << n << " bytes of " << cmd
                                               << " decoded");
      BOOST_CHECK(is(res.error(), errc::bad_message));
    }
  }
}

BOOST_AUTO_TEST_CASE(decode_names_what_is_wrong) {
  auto text = [](const bytes& buf) {
    auto res = raft::fsm::decode(buf);
    BOOST_REQUIRE(!res);
    BOOST_CHECK(is(res.error(), errc::bad_message));
    return describe(res.error());
  };
  BOOST_CHECK_EQUAL(text({}), "kv command: truncated before version");
  BOOST_CHECK_EQUAL(text({2, 1, 0, 0}),
                    "kv command: unsupported version 2 (expected 1)");
  BOOST_CHECK_EQUAL(text({1}), "kv command: truncated before op");
  BOOST_CHECK_EQUAL(text({1, 9, 0}), "kv command: unknown op 9");
  BOOST_CHECK_EQUAL(text({1, 1}), "kv command: truncated length of key");
  BOOST_CHECK_EQUAL(text({1, 1, 5, 'a'}),
                    "kv command: key truncated: 5 bytes announced, 1 left");
  BOOST_CHECK_EQUAL(text({1, 2, 1, 'k', 0}),
                    "kv command: 1 trailing bytes after the del command");
  BOOST_CHECK_EQUAL(text({1, 3, 1, 'k', 2, 0}),
                    "kv command: cas flag 2 is neither 0 nor 1");
  BOOST_CHECK_EQUAL(text({1, 3, 1, 'k'}),
                    "kv command: truncated before cas flag");
  // Eleven continuation bytes: no 64-bit length looks like that.
  bytes overlong{1, 1};
  for (int i = 0; i < 11; ++i)
    overlong.push_back(0xff);
  BOOST_CHECK_EQUAL(text(overlong),
                    "kv command: length of key overflows 64 bits");
  // A huge length is refused before anything is allocated.
  bytes huge{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f};
  BOOST_CHECK_EQUAL(text(huge), "kv command: key of 4294967295 bytes exceeds "
                                "the limit of 1073741824");
}

BOOST_AUTO_TEST_CASE(decode_survives_random_input) {
  std::mt19937_64 rng{42};
  size_t accepted = 0;
  auto check_one = [&](const bytes& buf) {
    auto res = raft::fsm::decode(buf);
    if (res) {
      ++accepted;
      // Whatever decodes is a real command: it survives a round trip.
      auto again = raft::fsm::decode(raft::fsm::encode(*res));
      BOOST_REQUIRE(again);
      BOOST_REQUIRE_EQUAL(*again, *res);
    } else {
      BOOST_REQUIRE(is(res.error(), errc::bad_message));
    }
  };
  // Pure garbage.
  for (int i = 0; i < 20000; ++i) {
    bytes buf(rng() % 40);
    for (auto& x : buf)
      x = static_cast<uint8_t>(rng());
    check_one(buf);
  }
  // Valid encodings with a few bytes flipped, cut or appended.
  auto cmds = samples();
  for (int i = 0; i < 20000; ++i) {
    auto buf = raft::fsm::encode(cmds[rng() % cmds.size()]);
    switch (rng() % 3) {
      case 0:
        for (int k = 0; k < 3; ++k)
          buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
        break;
      case 1:
        buf.resize(rng() % buf.size());
        break;
      default:
        buf.push_back(static_cast<uint8_t>(rng()));
    }
    check_one(buf);
  }
  BOOST_TEST_MESSAGE(accepted << " random inputs happened to decode");
}

// -- apply ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(put_get_del) {
  kv_fsm f;
  BOOST_CHECK_EQUAL(f.size(), 0u);
  BOOST_CHECK_EQUAL(f.get("a"), std::nullopt);
  auto r = run(f, 1, kv_command::put("a", "1"));
  BOOST_CHECK(r.ok);
  BOOST_CHECK(r.found);
  BOOST_CHECK_EQUAL(r.value, "1");
  BOOST_CHECK_EQUAL(r.revision, 1u);
  BOOST_CHECK_EQUAL(r.index, 1u);
  BOOST_CHECK_EQUAL(f.get("a"), std::optional<std::string>{"1"});
  r = run(f, 2, kv_command::put("a", "2"));
  BOOST_CHECK_EQUAL(r.revision, 2u);
  BOOST_CHECK_EQUAL(f.get("a"), std::optional<std::string>{"2"});
  run(f, 3, kv_command::put("b", "x"));
  BOOST_CHECK_EQUAL(f.size(), 2u);
  BOOST_CHECK_EQUAL(f.get_entry("b")->revision, 3u);
  r = run(f, 4, kv_command::del("a"));
  BOOST_CHECK(r.ok);
  BOOST_CHECK(!r.found);
  BOOST_CHECK_EQUAL(r.revision, 0u);
  BOOST_CHECK_EQUAL(f.get("a"), std::nullopt);
  // Deleting what is not there changes nothing and says so.
  r = run(f, 5, kv_command::del("a"));
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(f.size(), 1u);
  BOOST_CHECK_EQUAL(f.applied_index(), 5u);
}

BOOST_AUTO_TEST_CASE(cas_semantics) {
  kv_fsm f;
  // Must be absent: succeeds once, then fails showing the current value.
  auto r = run(f, 1, kv_command::cas("k", std::nullopt, "v1"));
  BOOST_CHECK(r.ok);
  BOOST_CHECK_EQUAL(r.value, "v1");
  BOOST_CHECK_EQUAL(r.revision, 1u);
  r = run(f, 2, kv_command::cas("k", std::nullopt, "v2"));
  BOOST_CHECK(!r.ok);
  BOOST_CHECK(r.found);
  BOOST_CHECK_EQUAL(r.value, "v1");
  BOOST_CHECK_EQUAL(r.revision, 1u);
  BOOST_CHECK_EQUAL(f.get("k"), std::optional<std::string>{"v1"});
  // Expected value: a mismatch fails and changes nothing.
  r = run(f, 3, kv_command::cas("k", std::string{"nope"}, "v3"));
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.value, "v1");
  BOOST_CHECK_EQUAL(f.get_entry("k")->revision, 1u);
  r = run(f, 4, kv_command::cas("k", std::string{"v1"}, "v4"));
  BOOST_CHECK(r.ok);
  BOOST_CHECK_EQUAL(r.value, "v4");
  BOOST_CHECK_EQUAL(r.revision, 4u);
  // An expected value never matches an absent key, not even "".
  r = run(f, 5, kv_command::cas("none", std::string{}, "x"));
  BOOST_CHECK(!r.ok);
  BOOST_CHECK(!r.found);
  BOOST_CHECK_EQUAL(f.get("none"), std::nullopt);
  // An empty value is a value: "must be absent" fails on it.
  run(f, 6, kv_command::put("empty", ""));
  r = run(f, 7, kv_command::cas("empty", std::nullopt, "x"));
  BOOST_CHECK(!r.ok);
  BOOST_CHECK(r.found);
  r = run(f, 8, kv_command::cas("empty", std::string{}, "x"));
  BOOST_CHECK(r.ok);
  BOOST_CHECK_EQUAL(f.get("empty"), std::optional<std::string>{"x"});
}

BOOST_AUTO_TEST_CASE(malformed_entry_answers_an_error_and_counts_as_applied) {
  kv_fsm f;
  run(f, 1, kv_command::put("a", "1"));
  log_entry e;
  e.index = 2;
  e.data = bytes{1, 7};
  auto msg = f.apply(e);
  BOOST_REQUIRE(msg.match_elements<caf::error>());
  BOOST_CHECK(is(msg.get_as<caf::error>(0), errc::bad_message));
  BOOST_CHECK_EQUAL(describe(msg.get_as<caf::error>(0)),
                    "kv command: unknown op 7");
  BOOST_CHECK_EQUAL(f.applied_index(), 2u);
  BOOST_CHECK_EQUAL(f.size(), 1u);
  // Entries that are not commands leave the map alone.
  log_entry noop;
  noop.index = 3;
  noop.type = entry_type::noop;
  BOOST_CHECK(f.apply(noop).empty());
  BOOST_CHECK_EQUAL(f.size(), 1u);
}

// A restarted node replays its log into the state machine its predecessor
// used: entries already applied must not apply twice.
BOOST_AUTO_TEST_CASE(replayed_entries_are_skipped) {
  kv_fsm f;
  std::vector<log_entry> log{
    entry_of(1, kv_command::cas("k", std::nullopt, "first")),
    entry_of(2, kv_command::put("k", "second")),
    entry_of(3, kv_command::del("gone")),
    entry_of(4, kv_command::put("gone", "back")),
  };
  for (auto& e : log)
    f.apply(e);
  auto before = f.items();
  for (auto& e : log)
    BOOST_CHECK(f.apply(e).empty());
  BOOST_CHECK(f.items() == before);
  BOOST_CHECK_EQUAL(f.get("k"), std::optional<std::string>{"second"});
  BOOST_CHECK_EQUAL(f.get("gone"), std::optional<std::string>{"back"});
  // The next new entry applies as usual.
  auto r = run(f, 5, kv_command::cas("k", std::string{"second"}, "third"));
  BOOST_CHECK(r.ok);
  // A restore resets the applied index: entries after the snapshot apply.
  inmem_snapshot_store store{1};
  kv_fsm g;
  run(g, 1, kv_command::put("k", "old"));
  auto id = persist(g, store);
  BOOST_REQUIRE(!restore_from(f, store, id));
  BOOST_CHECK_EQUAL(f.applied_index(), 1u);
  r = run(f, 2, kv_command::put("k", "new"));
  BOOST_CHECK(r.ok);
  BOOST_CHECK_EQUAL(f.get("k"), std::optional<std::string>{"new"});
}

// -- snapshots -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(snapshot_round_trip) {
  inmem_snapshot_store store{2};
  kv_fsm f;
  index_t i = 0;
  run(f, ++i, kv_command::put("a", "1"));
  run(f, ++i, kv_command::put("b", std::string{"\0\1\2", 3}));
  run(f, ++i, kv_command::put("", "empty key"));
  run(f, ++i, kv_command::put("c", ""));
  run(f, ++i, kv_command::del("a"));
  auto id = persist(f, store);
  kv_fsm g;
  run(g, 1, kv_command::put("stale", "replaced by the restore"));
  auto err = restore_from(g, store, id);
  BOOST_REQUIRE_MESSAGE(!err, describe(err));
  BOOST_CHECK(g.items() == f.items());
  BOOST_CHECK_EQUAL(g.applied_index(), 5u);
  BOOST_CHECK_EQUAL(g.get("stale"), std::nullopt);
  BOOST_CHECK_EQUAL(g.get_entry("c")->revision, 4u);
  // The restored machine carries on where the original left off.
  auto r = run(g, 6, kv_command::cas("b", std::string{"\0\1\2", 3}, "B"));
  BOOST_CHECK(r.ok);
  // An empty machine round-trips too.
  kv_fsm empty;
  auto eid = persist(empty, store);
  BOOST_REQUIRE(!restore_from(g, store, eid));
  BOOST_CHECK_EQUAL(g.size(), 0u);
  BOOST_CHECK_EQUAL(g.applied_index(), 0u);
}

BOOST_AUTO_TEST_CASE(large_snapshot_streams_in_chunks) {
  inmem_snapshot_store store{1};
  kv_fsm f;
  for (index_t i = 1; i <= 5000; ++i)
    run(f, i, kv_command::put("key-" + std::to_string(i),
                              std::string(100, static_cast<char>('a' + i % 26))));
  auto id = persist(f, store);
  auto metas = store.list();
  BOOST_REQUIRE(metas);
  BOOST_CHECK_GT(metas->front().size, 500000u);
  // What persist streams equals the one-shot encoding.
  auto opened = store.open(id);
  BOOST_REQUIRE(opened);
  bytes written;
  BOOST_REQUIRE(!read_all(*opened->second, written));
  BOOST_CHECK(written == kv_fsm::encode_snapshot(f.items(), 5000));
  kv_fsm g;
  BOOST_REQUIRE(!restore_from(g, store, id));
  BOOST_CHECK_EQUAL(g.size(), 5000u);
  BOOST_CHECK(g.items() == f.items());
}

// take_snapshot shares the map; writes after it must not show in the
// snapshot, and the snapshot must not hold back the live map.
BOOST_AUTO_TEST_CASE(snapshot_is_point_in_time) {
  inmem_snapshot_store store{1};
  kv_fsm f;
  run(f, 1, kv_command::put("a", "1"));
  run(f, 2, kv_command::put("b", "2"));
  auto snap = f.take_snapshot();
  BOOST_REQUIRE(snap);
  run(f, 3, kv_command::put("a", "changed"));
  run(f, 4, kv_command::del("b"));
  run(f, 5, kv_command::put("c", "3"));
  auto sink = store.create(2, 1, configuration{}, 1);
  BOOST_REQUIRE(sink);
  BOOST_REQUIRE(!(*snap)->persist(**sink));
  (*snap)->release();
  auto metas = store.list();
  BOOST_REQUIRE(metas);
  kv_fsm g;
  BOOST_REQUIRE(!restore_from(g, store, metas->front().id));
  BOOST_CHECK_EQUAL(g.applied_index(), 2u);
  BOOST_CHECK_EQUAL(g.get("a"), std::optional<std::string>{"1"});
  BOOST_CHECK_EQUAL(g.get("b"), std::optional<std::string>{"2"});
  BOOST_CHECK_EQUAL(g.get("c"), std::nullopt);
  BOOST_CHECK_EQUAL(f.get("a"), std::optional<std::string>{"changed"});
  BOOST_CHECK_EQUAL(f.size(), 2u);
}

// The node persists on another thread while the FSM runner keeps applying:
// both must see a consistent map (run under TSan/ASan to be thorough).
BOOST_AUTO_TEST_CASE(persist_runs_concurrently_with_apply) {
  inmem_snapshot_store store{1};
  kv_fsm f;
  for (index_t i = 1; i <= 2000; ++i)
    run(f, i, kv_command::put("k" + std::to_string(i % 300), std::to_string(i)));
  auto expected = f.items();
  auto snap = f.take_snapshot();
  BOOST_REQUIRE(snap);
  auto sink = store.create(2000, 1, configuration{}, 1);
  BOOST_REQUIRE(sink);
  caf::error perr;
  std::thread persister{[&] { perr = (*snap)->persist(**sink); }};
  for (index_t i = 2001; i <= 4000; ++i) {
    run(f, i, kv_command::put("k" + std::to_string(i % 300), std::to_string(i)));
    if (i % 7 == 0) {
      ++i;
      run(f, i, kv_command::del("k" + std::to_string(i % 300)));
    }
    f.get("k1");
  }
  persister.join();
  BOOST_REQUIRE_MESSAGE(!perr, describe(perr));
  auto metas = store.list();
  BOOST_REQUIRE(metas);
  kv_fsm g;
  BOOST_REQUIRE(!restore_from(g, store, metas->front().id));
  BOOST_CHECK(g.items() == expected);
  BOOST_CHECK_EQUAL(g.applied_index(), 2000u);
}

BOOST_AUTO_TEST_CASE(persist_failure_cancels_the_sink) {
  struct failing_sink : snapshot_sink {
    std::string id_ = "x";
    int cancels = 0;
    int closes = 0;
    const std::string& id() const override {
      return id_;
    }
    caf::error write(const void*, size_t) override {
      return make_error(errc::storage_failure, "disk full");
    }
    caf::error close() override {
      ++closes;
      return caf::none;
    }
    caf::error cancel() override {
      ++cancels;
      return caf::none;
    }
  };
  kv_fsm f;
  run(f, 1, kv_command::put("a", "1"));
  auto snap = f.take_snapshot();
  BOOST_REQUIRE(snap);
  failing_sink sink;
  auto err = (*snap)->persist(sink);
  BOOST_CHECK(is(err, errc::storage_failure));
  BOOST_CHECK_EQUAL(sink.cancels, 1);
  BOOST_CHECK_EQUAL(sink.closes, 0);
}

// Every flipped byte and every truncation is refused, the reader is closed,
// and the state machine keeps its state.
BOOST_AUTO_TEST_CASE(restore_rejects_corrupt_snapshots) {
  kv_fsm f;
  run(f, 1, kv_command::put("alpha", "1"));
  run(f, 2, kv_command::put("beta", "22"));
  run(f, 3, kv_command::put("gamma", "333"));
  auto good = kv_fsm::encode_snapshot(f.items(), 3);
  kv_fsm g;
  run(g, 1, kv_command::put("mine", "kept"));
  auto before = g.items();
  auto refused = [&](bytes buf, bool tells_size = false) {
    bytes_reader in{std::move(buf), tells_size};
    auto err = g.restore(in);
    BOOST_CHECK_EQUAL(in.closes, 1);
    BOOST_CHECK(g.items() == before);
    BOOST_CHECK_EQUAL(g.applied_index(), 1u);
    BOOST_REQUIRE(err);
    BOOST_CHECK(is(err, errc::corrupt));
    return describe(err);
  };
  for (size_t n = 0; n < good.size(); ++n)
    refused(bytes(good.begin(), good.begin() + n));
  for (size_t k = 0; k < good.size(); ++k)
    for (uint8_t bit : {0x01, 0x80}) {
      auto buf = good;
      buf[k] ^= bit;
      refused(buf);
    }
  BOOST_CHECK_EQUAL(refused({}), "kv_fsm snapshot: truncated: 0 bytes, a "
                                 "snapshot has at least 24");
  auto bad_magic = good;
  bad_magic[3] = '2';
  reseal(bad_magic);
  BOOST_CHECK_EQUAL(refused(bad_magic), "kv_fsm snapshot: bad magic (not a "
                                        "kv_fsm snapshot or an unknown "
                                        "version)");
  auto flipped = good;
  flipped[25] ^= 1;
  BOOST_CHECK_EQUAL(refused(flipped), "kv_fsm snapshot: checksum mismatch");
  // Damage with a valid checksum: the structure checks catch it.
  auto kv = [](std::initializer_list<std::pair<std::string, index_t>> keys,
               index_t applied, uint64_t count_delta = 0) {
    bytes out{'K', 'V', 'S', '1'};
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<uint8_t>(applied >> (8 * i)));
    uint64_t count = keys.size() + count_delta;
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<uint8_t>(count >> (8 * i)));
    for (auto& [key, rev] : keys) {
      out.push_back(static_cast<uint8_t>(key.size()));
      out.insert(out.end(), key.begin(), key.end());
      out.push_back(1);
      out.push_back('v');
      out.push_back(static_cast<uint8_t>(rev));
    }
    out.insert(out.end(), 4, 0);
    reseal(out);
    return out;
  };
  // The helper itself builds valid snapshots.
  {
    bytes_reader in{kv({{"a", 1}, {"b", 2}}, 2)};
    kv_fsm h;
    BOOST_REQUIRE(!h.restore(in));
    BOOST_CHECK_EQUAL(h.size(), 2u);
  }
  BOOST_CHECK_EQUAL(refused(kv({{"b", 1}, {"a", 2}}, 2)),
                    "kv_fsm snapshot: key 1 is out of order");
  BOOST_CHECK_EQUAL(refused(kv({{"a", 1}, {"a", 2}}, 2)),
                    "kv_fsm snapshot: key 1 is out of order");
  BOOST_CHECK_EQUAL(refused(kv({{"a", 3}}, 2)),
                    "kv_fsm snapshot: key 0 has revision 3 outside 1..2");
  BOOST_CHECK_EQUAL(refused(kv({{"a", 0}}, 2)),
                    "kv_fsm snapshot: key 0 has revision 0 outside 1..2");
  BOOST_CHECK_EQUAL(refused(kv({{"abcdefgh", 1}}, 2, 1)),
                    "kv_fsm snapshot: key 1 is truncated");
  // A count beyond the data: named where the size is known up front, and
  // otherwise found where the keys run out.
  BOOST_CHECK_EQUAL(refused(kv({{"a", 1}}, 2, 1000000), true),
                    "kv_fsm snapshot: key count 1000001 exceeds the data");
  BOOST_CHECK_EQUAL(refused(kv({{"a", 1}}, 2, 1000000)),
                    "kv_fsm snapshot: key 1 is truncated");
  // raftctl decodes a file read whole (decode_snapshot), through a
  // span_reader, which knows its size as well.
  {
    kv_fsm::map_type map;
    raft::index_t applied = 0;
    auto err = kv_fsm::decode_snapshot(kv({{"a", 1}}, 2, 1000000), map,
                                       applied);
    BOOST_CHECK_EQUAL(describe(err),
                      "kv_fsm snapshot: key count 1000001 exceeds the data");
  }
  auto trailing = kv({{"a", 1}, {"b", 2}}, 2);
  trailing[19] = 0; // count 1 (little endian low byte sits at offset 12)
  trailing[12] = 1;
  reseal(trailing);
  BOOST_CHECK_EQUAL(refused(trailing),
                    "kv_fsm snapshot: 5 trailing bytes after 1 keys");
}

// The restore reads a megabyte at a time: values larger than that, and keys
// and lengths that straddle two reads, come back whole, and damage anywhere
// in a snapshot of several windows is still found by the checksum.
BOOST_AUTO_TEST_CASE(restore_streams_snapshots_larger_than_its_window) {
  kv_fsm f;
  index_t idx = 0;
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + i * 7 % 26);
  run(f, ++idx, kv_command::put("big", big));
  // Values from the size at which the restore maps their pages up front
  // (16 KiB) to past a 64 KiB page run, at odd offsets in the window.
  for (size_t n : {size_t{16 * 1024}, size_t{16 * 1024 + 1}, size_t{40000},
                   size_t{65536 + 5}})
    run(f, ++idx, kv_command::put("mid" + std::to_string(n),
                                  std::string(big, n % 1000, n)));
  for (int i = 0; i < 3000; ++i)
    run(f, ++idx, kv_command::put("k" + std::to_string(i),
                                  std::string(i % 700, 'v')));
  auto good = kv_fsm::encode_snapshot(f.items(), idx);
  BOOST_REQUIRE_GT(good.size(), 4u * 1000 * 1000);
  for (size_t step : {size_t{65536 + 3}, size_t{1} << 22}) {
    kv_fsm g;
    bytes_reader in{good, step % 2 == 0, step};
    auto err = g.restore(in);
    BOOST_REQUIRE_MESSAGE(!err, describe(err));
    BOOST_CHECK(g.items() == f.items());
    BOOST_CHECK_EQUAL(g.applied_index(), idx);
  }
  for (size_t at : {size_t{30}, size_t{1} << 20, (size_t{1} << 20) + 3,
                    good.size() / 2, good.size() - 5}) {
    auto bad = good;
    bad[at] ^= 0x10;
    kv_fsm g;
    bytes_reader in{std::move(bad), false, 65536 + 3};
    BOOST_CHECK_EQUAL(describe(g.restore(in)),
                      "kv_fsm snapshot: checksum mismatch");
    BOOST_CHECK_EQUAL(g.size(), 0u);
  }
  // Cut short inside the big value: the body runs out, and the four bytes
  // read as a trailer do not match.
  kv_fsm g;
  bytes_reader in{bytes(good.begin(), good.begin() + 2 * 1024 * 1024), true,
                  65536 + 3};
  BOOST_CHECK_EQUAL(describe(g.restore(in)),
                    "kv_fsm snapshot: checksum mismatch");
}

BOOST_AUTO_TEST_CASE(tampered_store_snapshot_is_refused) {
  inmem_snapshot_store store{1};
  kv_fsm f;
  run(f, 1, kv_command::put("a", "1"));
  auto id = persist(f, store);
  BOOST_REQUIRE(store.tamper_for_testing(id, [](bytes& b) { b[5] ^= 0xff; }));
  kv_fsm g;
  auto err = restore_from(g, store, id);
  BOOST_CHECK(is(err, errc::corrupt));
  BOOST_CHECK_EQUAL(g.size(), 0u);
}

// -- messages and a raft node ----------------------------------------------------

// kv_result is registered: a message holding it survives CAF's serializer,
// as it must to reach a client over the network.
BOOST_AUTO_TEST_CASE(kv_result_serializes_in_a_message) {
  test::test_system_config cfg;
  register_kv_types(cfg);
  caf::actor_system sys{cfg};
  kv_result r;
  r.ok = true;
  r.found = true;
  r.value = "v";
  r.revision = 7;
  r.index = 9;
  auto msg = caf::make_message(r);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  BOOST_REQUIRE(!sink(msg));
  caf::message back;
  caf::binary_deserializer source{sys, buf};
  BOOST_REQUIRE(!source(back));
  BOOST_REQUIRE(back.match_elements<kv_result>());
  BOOST_CHECK(back.get_as<kv_result>(0) == r);
}

// The first apply after a snapshot copies the whole map and a restore
// decodes a whole snapshot: the node must run this FSM on a thread of its
// own, or a large state would stall its heartbeats (state_machine.hpp).
BOOST_AUTO_TEST_CASE(kv_fsm_asks_for_a_thread_of_its_own) {
  kv_fsm kv;
  BOOST_TEST(kv.apply_blocks());
}

// Commands proposed to a (single-server) raft node come back as kv_results,
// and the FSM can be read after a ReadIndex.
BOOST_AUTO_TEST_CASE(commands_through_a_raft_node) {
  test::sim s;
  auto store = std::make_shared<inmem_store>();
  configuration conf;
  conf.servers.push_back(server{suffrage::voter, "1", "addr-1"});
  BOOST_REQUIRE(!bootstrap_cluster(*store, *store, conf));
  auto kv = std::make_shared<kv_fsm>();
  auto probe = std::make_shared<node_probe>();
  node_options opts;
  opts.settings.heartbeat_timeout = std::chrono::milliseconds{100};
  opts.settings.election_timeout = std::chrono::milliseconds{100};
  opts.settings.leader_lease_timeout = std::chrono::milliseconds{100};
  opts.settings.local_id = "1";
  opts.log = store;
  opts.stable = store;
  opts.fsm = kv;
  opts.transport = spawn_inmem_transport(s.sys, 1);
  opts.detach_blocking = false;
  opts.probe = probe;
  auto node = spawn_node(s.sys, opts);
  BOOST_REQUIRE(s.run_until([&] {
    return probe->core && probe->core->role() == role::leader;
  }));
  auto propose = [&](const kv_command& cmd) {
    auto out = std::make_shared<caf::message>();
    auto done = std::make_shared<bool>(false);
    auto data = raft::fsm::encode(cmd);
    s.sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, apply_atom_v, data)
        .then([=](index_t, caf::message& resp) {
                *out = std::move(resp);
                *done = true;
              },
              [=](caf::error& err) {
                *out = caf::make_message(std::move(err));
                *done = true;
              });
    });
    BOOST_REQUIRE(s.run_until([&] { return *done; }));
    return *out;
  };
  auto r = result_of(propose(kv_command::put("x", "1")));
  BOOST_CHECK(r.ok);
  r = result_of(propose(kv_command::cas("x", std::string{"0"}, "2")));
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.value, "1");
  r = result_of(propose(kv_command::cas("x", std::string{"1"}, "2")));
  BOOST_CHECK(r.ok);
  {
    auto done = std::make_shared<bool>(false);
    auto idx = std::make_shared<index_t>(0);
    s.sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, read_atom_v)
        .then([=](index_t i) {
                *idx = i;
                *done = true;
              },
              [=](caf::error&) { *done = true; });
    });
    BOOST_REQUIRE(s.run_until([&] { return *done; }));
    BOOST_CHECK_GE(kv->applied_index(), *idx);
    BOOST_CHECK_EQUAL(kv->get("x"), std::optional<std::string>{"2"});
  }
  auto bad = std::make_shared<caf::message>();
  {
    auto done = std::make_shared<bool>(false);
    s.sys.spawn([=](caf::event_based_actor* self) {
      self->request(node, caf::infinite, apply_atom_v, bytes{9, 9})
        .then([=](index_t, caf::message& resp) {
                *bad = std::move(resp);
                *done = true;
              },
              [=](caf::error&) { *done = true; });
    });
    BOOST_REQUIRE(s.run_until([&] { return *done; }));
  }
  BOOST_REQUIRE(bad->match_elements<caf::error>());
  BOOST_CHECK(is(bad->get_as<caf::error>(0), errc::bad_message));
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(opts.transport, caf::exit_reason::user_shutdown);
  s.sched.run();
}
