#define BOOST_TEST_MODULE snapshot_store_contract
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <boost/mpl/list.hpp>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/file_snapshot_store.hpp"
#include "caf-raft/storage/inmem_snapshot_store.hpp"

// One suite, run unchanged against every snapshot store: whatever a store
// promises through the `snapshot_store` interface holds for all of them.

using namespace raft;

namespace {

/// The error text of a failed `x`, for assertion messages (which Boost
/// evaluates even when the assertion holds).
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/caf-raft-snap-contract-XXXXXX";
    auto res = ::mkdtemp(tmpl);
    BOOST_REQUIRE(res != nullptr);
    path = res;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Makes file snapshot stores over one temporary folder.
struct file_factory {
  temp_dir dir;

  std::shared_ptr<snapshot_store> make(int retain) {
    auto store = new_snapshot_store(dir.path, retain, nullptr);
    BOOST_REQUIRE_MESSAGE(store, why(store));
    return *store;
  }

  /// Flips the first stored byte of `id` behind the store's back.
  void corrupt(snapshot_store&, const std::string& id) {
    auto path = dir.path + "/snapshots/" + id + "/state.bin";
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    BOOST_REQUIRE(f);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(0);
    f.write(&c, 1);
  }
};

/// Makes in-memory snapshot stores.
struct inmem_factory {
  std::shared_ptr<snapshot_store> make(int retain) {
    auto store = new_inmem_snapshot_store(retain);
    BOOST_REQUIRE_MESSAGE(store, why(store));
    return *store;
  }

  void corrupt(snapshot_store& store, const std::string& id) {
    auto& inmem = dynamic_cast<inmem_snapshot_store&>(store);
    BOOST_REQUIRE(inmem.tamper_for_testing(id, [](bytes& b) { b[0] ^= 0x01; }));
  }
};

using factories = boost::mpl::list<file_factory, inmem_factory>;

configuration test_config() {
  configuration cfg;
  cfg.servers.push_back({suffrage::voter, "1", "10.0.0.1:17070"});
  cfg.servers.push_back({suffrage::voter, "2", "10.0.0.2:17070"});
  cfg.servers.push_back({suffrage::nonvoter, "3", "10.0.0.3:17070"});
  return cfg;
}

/// Deterministic bytes that differ per `seed`, so mixed-up snapshots show.
bytes pattern(size_t n, uint32_t seed) {
  bytes out(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return out;
}

uint64_t crc_of(const bytes& data) {
  crc64_ecma crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

std::string write_snapshot(snapshot_store& store, term_t term, index_t index,
                           const bytes& data,
                           const configuration& cfg = test_config(),
                           index_t cfg_index = 1) {
  auto sink = store.create(index, term, cfg, cfg_index);
  BOOST_REQUIRE_MESSAGE(sink, why(sink));
  auto id = (*sink)->id();
  if (!data.empty())
    BOOST_REQUIRE_EQUAL(describe((*sink)->write(data.data(), data.size())),
                        "no error");
  BOOST_REQUIRE_EQUAL(describe((*sink)->close()), "no error");
  return id;
}

bytes read_snapshot(snapshot_store& store, const std::string& id,
                    snapshot_meta* meta = nullptr) {
  auto opened = store.open(id);
  BOOST_REQUIRE_MESSAGE(opened, why(opened));
  if (meta != nullptr)
    *meta = opened->first;
  bytes out;
  BOOST_REQUIRE_EQUAL(describe(read_all(*opened->second, out)), "no error");
  opened->second->close();
  return out;
}

std::vector<std::pair<term_t, index_t>> positions(snapshot_store& store) {
  auto metas = store.list();
  BOOST_REQUIRE_MESSAGE(metas, why(metas));
  std::vector<std::pair<term_t, index_t>> out;
  for (auto& m : *metas)
    out.emplace_back(m.term, m.index);
  return out;
}

} // namespace

// Create, write, close; then list and open hand back every metadata field and
// the exact bytes, and the reader refuses reads after close.
BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip_keeps_meta_and_state, F, factories) {
  F f;
  auto store = f.make(3);
  auto sink = store->create(10, 3, test_config(), 7);
  BOOST_REQUIRE(sink);
  auto id = (*sink)->id();
  std::string part1 = "hello ", part2 = "world";
  BOOST_REQUIRE(!(*sink)->write(part1.data(), part1.size()));
  BOOST_REQUIRE(!(*sink)->write(part2.data(), part2.size()));
  BOOST_REQUIRE(!(*sink)->close());
  bytes expected{part1.begin(), part1.end()};
  expected.insert(expected.end(), part2.begin(), part2.end());
  auto metas = store->list();
  BOOST_REQUIRE(metas);
  BOOST_REQUIRE_EQUAL(metas->size(), 1u);
  auto& m = metas->front();
  BOOST_CHECK_EQUAL(m.version, snapshot_version);
  BOOST_CHECK_EQUAL(m.id, id);
  BOOST_CHECK_EQUAL(m.index, 10u);
  BOOST_CHECK_EQUAL(m.term, 3u);
  BOOST_CHECK(m.configuration == test_config());
  BOOST_CHECK_EQUAL(m.configuration_index, 7u);
  BOOST_CHECK_EQUAL(m.size, expected.size());
  BOOST_CHECK_EQUAL(m.crc, crc_of(expected));
  snapshot_meta opened_meta;
  BOOST_CHECK(read_snapshot(*store, id, &opened_meta) == expected);
  BOOST_CHECK_EQUAL(opened_meta.id, id);
  BOOST_CHECK(opened_meta.configuration == test_config());
  BOOST_CHECK_EQUAL(opened_meta.size, m.size);
  BOOST_CHECK_EQUAL(opened_meta.crc, m.crc);
  auto again = store->open(id);
  BOOST_REQUIRE(again);
  again->second->close();
  uint8_t buf[4];
  BOOST_CHECK(!again->second->read(buf, sizeof(buf)));
}

// An empty configuration survives the round trip too.
BOOST_AUTO_TEST_CASE_TEMPLATE(empty_configuration_round_trips, F, factories) {
  F f;
  auto store = f.make(1);
  auto id = write_snapshot(*store, 1, 1, pattern(10, 1), configuration{}, 0);
  snapshot_meta meta;
  read_snapshot(*store, id, &meta);
  BOOST_CHECK(meta.configuration.servers.empty());
}

// List is sorted by term, then index, newest first, whatever the write order.
BOOST_AUTO_TEST_CASE_TEMPLATE(list_is_newest_first, F, factories) {
  F f;
  auto store = f.make(10);
  write_snapshot(*store, 1, 20, pattern(5, 1));
  write_snapshot(*store, 2, 5, pattern(5, 2));
  write_snapshot(*store, 2, 10, pattern(5, 3));
  write_snapshot(*store, 1, 30, pattern(5, 4));
  using pos = std::pair<term_t, index_t>;
  std::vector<pos> expected{{2, 10}, {2, 5}, {1, 30}, {1, 20}};
  BOOST_CHECK(positions(*store) == expected);
}

// Snapshots at the same term and index, created back to back (the same
// millisecond), get distinct ids; the later one sorts first. Two sinks may be
// open at once and interleave their writes.
BOOST_AUTO_TEST_CASE_TEMPLATE(ids_unique_within_a_millisecond, F, factories) {
  F f;
  auto store = f.make(50);
  auto a = store->create(5, 2, test_config(), 1);
  auto b = store->create(5, 2, test_config(), 1);
  BOOST_REQUIRE(a && b);
  BOOST_CHECK_NE((*a)->id(), (*b)->id());
  auto da = pattern(1000, 1), db = pattern(1000, 2);
  for (size_t i = 0; i < 1000; i += 100) {
    BOOST_REQUIRE(!(*a)->write(da.data() + i, 100));
    BOOST_REQUIRE(!(*b)->write(db.data() + i, 100));
  }
  BOOST_REQUIRE(!(*b)->close());
  BOOST_REQUIRE(!(*a)->close());
  std::set<std::string> ids{(*a)->id(), (*b)->id()};
  for (int i = 0; i < 20; ++i)
    ids.insert(write_snapshot(*store, 2, 5, pattern(3, i)));
  BOOST_CHECK_EQUAL(ids.size(), 22u);
  auto metas = store->list();
  BOOST_REQUIRE(metas);
  BOOST_CHECK_EQUAL(metas->size(), 22u);
  BOOST_CHECK(read_snapshot(*store, (*a)->id()) == da);
  BOOST_CHECK(read_snapshot(*store, (*b)->id()) == db);
}

// Closing a snapshot drops those beyond the newest `retain`, oldest first;
// a dropped one can no longer be opened.
BOOST_AUTO_TEST_CASE_TEMPLATE(retention_keeps_newest, F, factories) {
  F f;
  auto store = f.make(2);
  std::vector<std::string> ids;
  for (index_t i = 1; i <= 5; ++i) {
    ids.push_back(write_snapshot(*store, 1, i, pattern(100, i)));
    BOOST_CHECK_EQUAL(positions(*store).size(), std::min<size_t>(i, 2));
  }
  using pos = std::pair<term_t, index_t>;
  std::vector<pos> expected{{1, 5}, {1, 4}};
  BOOST_CHECK(positions(*store) == expected);
  BOOST_CHECK(read_snapshot(*store, ids[4]) == pattern(100, 5));
  BOOST_CHECK(read_snapshot(*store, ids[3]) == pattern(100, 4));
  for (size_t i = 0; i < 3; ++i)
    BOOST_CHECK(!store->open(ids[i]));
}

// A cancelled sink leaves nothing to list or open, and refuses more writes.
BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_leaves_nothing, F, factories) {
  F f;
  auto store = f.make(2);
  auto sink = store->create(4, 1, test_config(), 1);
  BOOST_REQUIRE(sink);
  auto data = pattern(5000, 9);
  BOOST_REQUIRE(!(*sink)->write(data.data(), data.size()));
  BOOST_CHECK(!(*sink)->cancel());
  BOOST_CHECK((*sink)->write(data.data(), 1));
  BOOST_CHECK(positions(*store).empty());
  BOOST_CHECK(!store->open((*sink)->id()));
}

// A sink dropped without close or cancel is discarded, not published.
BOOST_AUTO_TEST_CASE_TEMPLATE(dropped_sink_is_discarded, F, factories) {
  F f;
  auto store = f.make(2);
  {
    auto sink = store->create(4, 1, test_config(), 1);
    BOOST_REQUIRE(sink);
    auto data = pattern(100, 9);
    BOOST_REQUIRE(!(*sink)->write(data.data(), data.size()));
  }
  BOOST_CHECK(positions(*store).empty());
}

// Closing twice, or writing after close, is an error and changes nothing.
BOOST_AUTO_TEST_CASE_TEMPLATE(sink_use_after_close_fails, F, factories) {
  F f;
  auto store = f.make(2);
  auto sink = store->create(4, 1, test_config(), 1);
  BOOST_REQUIRE(sink);
  BOOST_REQUIRE(!(*sink)->write("abc", 3));
  BOOST_REQUIRE(!(*sink)->close());
  BOOST_CHECK((*sink)->write("d", 1));
  BOOST_CHECK((*sink)->close());
  BOOST_CHECK(read_snapshot(*store, (*sink)->id()) == (bytes{'a', 'b', 'c'}));
}

// A snapshot with no state at all is valid: size 0, CRC 0, reads nothing.
BOOST_AUTO_TEST_CASE_TEMPLATE(empty_snapshot, F, factories) {
  F f;
  auto store = f.make(1);
  auto id = write_snapshot(*store, 1, 1, bytes{});
  snapshot_meta meta;
  BOOST_CHECK(read_snapshot(*store, id, &meta).empty());
  BOOST_CHECK_EQUAL(meta.size, 0u);
  BOOST_CHECK_EQUAL(meta.crc, 0u);
}

// Several MiB written in many small, uneven writes come back byte for byte,
// read in uneven chunks.
BOOST_AUTO_TEST_CASE_TEMPLATE(multi_mib_in_small_writes, F, factories) {
  F f;
  auto store = f.make(1);
  auto data = pattern(5 * 1024 * 1024 + 17, 42);
  auto sink = store->create(100, 7, test_config(), 3);
  BOOST_REQUIRE(sink);
  size_t pos = 0;
  for (size_t step = 1; pos < data.size(); step = step * 7 % 4099 + 1) {
    auto n = std::min(step, data.size() - pos);
    BOOST_REQUIRE(!(*sink)->write(data.data() + pos, n));
    pos += n;
  }
  BOOST_REQUIRE(!(*sink)->close());
  auto opened = store->open((*sink)->id());
  BOOST_REQUIRE_MESSAGE(opened, why(opened));
  BOOST_CHECK_EQUAL(opened->first.size, data.size());
  BOOST_CHECK_EQUAL(opened->first.crc, crc_of(data));
  bytes out;
  uint8_t buf[777];
  for (;;) {
    auto n = opened->second->read(buf, sizeof(buf));
    BOOST_REQUIRE_MESSAGE(n, why(n));
    if (*n == 0)
      break;
    out.insert(out.end(), buf, buf + *n);
  }
  opened->second->close();
  BOOST_CHECK(out == data);
}

// Opening an id the store never had fails with not_found, with or without
// other snapshots present.
BOOST_AUTO_TEST_CASE_TEMPLATE(unknown_id_fails, F, factories) {
  F f;
  auto store = f.make(1);
  auto none = store->open("1-2-3");
  BOOST_REQUIRE(!none);
  BOOST_CHECK(is(none.error(), errc::not_found));
  write_snapshot(*store, 1, 1, pattern(10, 1));
  auto still_none = store->open("1-2-3");
  BOOST_REQUIRE(!still_none);
  BOOST_CHECK(is(still_none.error(), errc::not_found));
}

// A stored state that no longer matches its CRC is refused on open.
BOOST_AUTO_TEST_CASE_TEMPLATE(altered_state_fails_open, F, factories) {
  F f;
  auto store = f.make(2);
  auto good = write_snapshot(*store, 1, 1, pattern(1000, 1));
  auto bad = write_snapshot(*store, 1, 2, pattern(1000, 2));
  f.corrupt(*store, bad);
  auto opened = store->open(bad);
  BOOST_REQUIRE(!opened);
  BOOST_CHECK(is(opened.error(), errc::corrupt));
  BOOST_CHECK_NE(describe(opened.error()).find("CRC mismatch"),
                 std::string::npos);
  BOOST_CHECK(read_snapshot(*store, good) == pattern(1000, 1));
}
