#define BOOST_TEST_MODULE log_store_contract
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/mpl/list.hpp>

#include "caf-raft/config/errc.hpp"
#include "caf-raft/storage/inmem_store.hpp"
#include "caf-raft/storage/sqlite_store.hpp"

// One contract, run unchanged against every log/stable store implementation
// (DESIGN.md §5): whatever the consensus core may rely on is checked here.

using namespace raft;

namespace {

/// Opens `sqlite_store`s on one temporary directory; `reopen` closes the
/// store and opens the same files again, as a restarted server would.
struct sqlite_factory {
  using store_type = sqlite_store;
  static constexpr bool durable = true;

  std::string dir;

  sqlite_factory() {
    char tmpl[] = "/tmp/caf-raft-contract-XXXXXX";
    auto p = ::mkdtemp(tmpl);
    BOOST_REQUIRE(p != nullptr);
    dir = p;
  }

  ~sqlite_factory() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::shared_ptr<store_type> open() {
    auto st = new_log_store(dir);
    if (!st)
      BOOST_FAIL(describe(st.error()));
    return *st;
  }
};

/// Hands out the one `inmem_store`; "reopening" returns the same object, the
/// only persistence an in-memory store has.
struct inmem_factory {
  using store_type = inmem_store;
  static constexpr bool durable = false;

  std::shared_ptr<store_type> store = std::make_shared<inmem_store>();

  std::shared_ptr<store_type> open() {
    return store;
  }
};

using factories = boost::mpl::list<sqlite_factory, inmem_factory>;

/// Owns a factory and the open store.
template <class Factory>
struct harness {
  Factory factory;
  std::shared_ptr<typename Factory::store_type> store = factory.open();

  void reopen() {
    store.reset(); // The sqlite store must let go of its lock first.
    store = factory.open();
  }
};

log_entry make_entry(index_t index, term_t term, size_t size = 16,
                     entry_type type = entry_type::command) {
  log_entry x;
  x.index = index;
  x.term = term;
  x.type = type;
  x.appended_at_ms = 1700000000000 + static_cast<int64_t>(index);
  x.data.resize(size);
  for (size_t i = 0; i < size; ++i)
    x.data[i] = static_cast<uint8_t>(index * 31 + term * 7 + i);
  return x;
}

std::vector<log_entry> make_entries(index_t first, index_t last, term_t term,
                                    size_t size = 16) {
  std::vector<log_entry> xs;
  for (auto i = first; i <= last; ++i)
    xs.push_back(make_entry(i, term, size));
  return xs;
}

template <class Store>
index_t first_of(Store& st) {
  auto x = st.first_index();
  if (!x)
    BOOST_FAIL(describe(x.error()));
  return *x;
}

template <class Store>
index_t last_of(Store& st) {
  auto x = st.last_index();
  if (!x)
    BOOST_FAIL(describe(x.error()));
  return *x;
}

#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    auto check_ok_err = (expr);                                                \
    BOOST_REQUIRE_MESSAGE(!check_ok_err, describe(check_ok_err));              \
  } while (false)

} // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_store_has_zero_indexes, F, factories) {
  harness<F> h;
  BOOST_TEST(first_of(*h.store) == 0u);
  BOOST_TEST(last_of(*h.store) == 0u);
  log_entry e;
  BOOST_TEST(is(h.store->get_log(1, e), errc::log_not_found));
  std::vector<log_entry> out;
  BOOST_TEST(is(h.store->get_range(1, 5, 1024, out), errc::log_not_found));
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_and_get_one, F, factories) {
  harness<F> h;
  auto x = make_entry(1, 1, 10, entry_type::configuration);
  CHECK_OK(h.store->store_log(x));
  log_entry y;
  CHECK_OK(h.store->get_log(1, y));
  BOOST_TEST((y == x));
  BOOST_TEST(first_of(*h.store) == 1u);
  BOOST_TEST(last_of(*h.store) == 1u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_and_get_batch, F, factories) {
  harness<F> h;
  auto xs = make_entries(5, 104, 3);
  xs[7].type = entry_type::noop;
  xs[8].type = entry_type::barrier;
  xs[9].data.clear(); // Empty payloads are legal (noop entries have none).
  CHECK_OK(h.store->store_logs(xs));
  BOOST_TEST(first_of(*h.store) == 5u);
  BOOST_TEST(last_of(*h.store) == 104u);
  for (auto& x : xs) {
    log_entry y;
    CHECK_OK(h.store->get_log(x.index, y));
    BOOST_TEST((y == x), "entry " << x.index);
  }
  std::vector<log_entry> out;
  CHECK_OK(h.store->get_range(5, 104, 1 << 30, out));
  BOOST_TEST((out == xs));
  // An empty batch is a no-op.
  CHECK_OK(h.store->store_logs({}));
  BOOST_TEST(last_of(*h.store) == 104u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(get_range_stops_at_max_bytes, F, factories) {
  harness<F> h;
  CHECK_OK(h.store->store_logs(make_entries(1, 20, 1, 100)));
  std::vector<log_entry> out;
  // Stops once the data read reaches the limit...
  CHECK_OK(h.store->get_range(1, 20, 250, out));
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  BOOST_TEST(out[0].index == 1u);
  BOOST_TEST(out[2].index == 3u);
  // ...but always reads at least one entry.
  out.clear();
  CHECK_OK(h.store->get_range(4, 20, 1, out));
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].index == 4u);
  out.clear();
  CHECK_OK(h.store->get_range(4, 20, 0, out));
  BOOST_TEST(out.size() == 1u);
  // Appends to what `out` holds.
  CHECK_OK(h.store->get_range(5, 6, 1 << 20, out));
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  BOOST_TEST(out[2].index == 6u);
  // A reversed range reads nothing.
  out.clear();
  CHECK_OK(h.store->get_range(7, 6, 1 << 20, out));
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(get_range_fails_on_gaps, F, factories) {
  harness<F> h;
  CHECK_OK(h.store->store_logs(make_entries(1, 10, 1)));
  CHECK_OK(h.store->store_logs(make_entries(12, 20, 1)));
  std::vector<log_entry> out{make_entry(99, 9)};
  // A hole in the middle, a missing head and a missing tail all fail and
  // leave `out` as it was.
  BOOST_TEST(is(h.store->get_range(5, 15, 1 << 20, out), errc::log_not_found));
  BOOST_TEST(is(h.store->get_range(0, 5, 1 << 20, out), errc::log_not_found));
  BOOST_TEST(is(h.store->get_range(15, 25, 1 << 20, out),
                errc::log_not_found));
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].index == 99u);
  // Stopping at max_bytes before the gap is fine.
  out.clear();
  CHECK_OK(h.store->get_range(9, 15, 32, out));
  BOOST_TEST(out.size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(log_not_found_outside_the_range, F, factories) {
  harness<F> h;
  CHECK_OK(h.store->store_logs(make_entries(10, 20, 2)));
  log_entry e;
  BOOST_TEST(is(h.store->get_log(0, e), errc::log_not_found));
  BOOST_TEST(is(h.store->get_log(9, e), errc::log_not_found));
  BOOST_TEST(is(h.store->get_log(21, e), errc::log_not_found));
  BOOST_TEST(is(h.store->get_log(UINT64_MAX, e), errc::log_not_found));
  BOOST_TEST(describe(h.store->get_log(21, e)) == "log not found");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_overwrites_existing_entries, F,
                              factories) {
  harness<F> h;
  CHECK_OK(h.store->store_logs(make_entries(1, 10, 1)));
  // A new leader's entries replace a follower's conflicting ones.
  auto ys = make_entries(6, 12, 2, 40);
  CHECK_OK(h.store->store_logs(ys));
  BOOST_TEST(first_of(*h.store) == 1u);
  BOOST_TEST(last_of(*h.store) == 12u);
  log_entry e;
  CHECK_OK(h.store->get_log(5, e));
  BOOST_TEST(e.term == 1u);
  for (auto& y : ys) {
    CHECK_OK(h.store->get_log(y.index, e));
    BOOST_TEST((e == y));
  }
  CHECK_OK(h.store->store_log(make_entry(3, 7, 3)));
  CHECK_OK(h.store->get_log(3, e));
  BOOST_TEST((e == make_entry(3, 7, 3)));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(delete_prefix_for_compaction, F, factories) {
  harness<F> h;
  CHECK_OK(h.store->store_logs(make_entries(1, 100, 1)));
  CHECK_OK(h.store->delete_range(1, 60));
  BOOST_TEST(first_of(*h.store) == 61u);
  BOOST_TEST(last_of(*h.store) == 100u);
  log_entry e;
  BOOST_TEST(is(h.store->get_log(60, e), errc::log_not_found));
  CHECK_OK(h.store->get_log(61, e));
  // Deleting what is already gone is harmless.
  CHECK_OK(h.store->delete_range(1, 60));
  BOOST_TEST(first_of(*h.store) == 61u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(delete_suffix_for_conflicts, F, factories) {
  harness<F> h;
  CHECK_OK(h.store->store_logs(make_entries(1, 100, 1)));
  CHECK_OK(h.store->delete_range(71, 100));
  BOOST_TEST(first_of(*h.store) == 1u);
  BOOST_TEST(last_of(*h.store) == 70u);
  // Both bounds are inclusive and an open upper bound works.
  CHECK_OK(h.store->delete_range(70, UINT64_MAX));
  BOOST_TEST(last_of(*h.store) == 69u);
  log_entry e;
  BOOST_TEST(is(h.store->get_log(70, e), errc::log_not_found));
  CHECK_OK(h.store->get_log(69, e));
  // Appending after the truncation continues the log.
  CHECK_OK(h.store->store_logs(make_entries(70, 75, 2)));
  BOOST_TEST(last_of(*h.store) == 75u);
  // Deleting everything empties it.
  CHECK_OK(h.store->delete_range(first_of(*h.store), last_of(*h.store)));
  BOOST_TEST(first_of(*h.store) == 0u);
  BOOST_TEST(last_of(*h.store) == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stable_set_and_get, F, factories) {
  harness<F> h;
  auto missing = h.store->get("LastVoteCand");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(is(missing.error(), errc::not_found));
  // HashiCorp compares this text.
  BOOST_TEST(describe(missing.error()) == "not found");
  CHECK_OK(h.store->set(stable_keys::last_vote_cand, bytes{'n', '1'}));
  auto v = h.store->get(stable_keys::last_vote_cand);
  BOOST_REQUIRE(v);
  BOOST_TEST((*v == bytes{'n', '1'}));
  CHECK_OK(h.store->set(stable_keys::last_vote_cand, bytes{'n', '2', '2'}));
  v = h.store->get(stable_keys::last_vote_cand);
  BOOST_REQUIRE(v);
  BOOST_TEST((*v == bytes{'n', '2', '2'}));
  CHECK_OK(h.store->set("empty", bytes{}));
  v = h.store->get("empty");
  BOOST_REQUIRE(v);
  BOOST_TEST(v->empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stable_uint64, F, factories) {
  harness<F> h;
  auto missing = h.store->get_uint64(stable_keys::current_term);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(is(missing.error(), errc::not_found));
  BOOST_TEST(describe(missing.error()) == "not found");
  CHECK_OK(h.store->set_uint64(stable_keys::current_term, 0x0102030405060708));
  auto t = h.store->get_uint64(stable_keys::current_term);
  BOOST_REQUIRE(t);
  BOOST_TEST(*t == 0x0102030405060708u);
  // Stored as 8 bytes, big endian (raft-boltdb's encoding).
  auto raw = h.store->get(stable_keys::current_term);
  BOOST_REQUIRE(raw);
  BOOST_TEST((*raw == bytes{1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK_OK(h.store->set_uint64(stable_keys::current_term, UINT64_MAX));
  t = h.store->get_uint64(stable_keys::current_term);
  BOOST_REQUIRE(t);
  BOOST_TEST(*t == UINT64_MAX);
  // A value of the wrong length is corrupt, not a number.
  CHECK_OK(h.store->set(stable_keys::last_vote_term, bytes{1, 2, 3}));
  auto bad = h.store->get_uint64(stable_keys::last_vote_term);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(is(bad.error(), errc::corrupt));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(state_survives_reopen, F, factories) {
  harness<F> h;
  auto xs = make_entries(3, 300, 4, 64);
  CHECK_OK(h.store->store_logs(xs));
  CHECK_OK(h.store->delete_range(3, 10));
  CHECK_OK(h.store->set_uint64(stable_keys::current_term, 4));
  CHECK_OK(h.store->set(stable_keys::last_vote_cand, bytes{'x'}));
  h.reopen();
  BOOST_TEST(first_of(*h.store) == 11u);
  BOOST_TEST(last_of(*h.store) == 300u);
  std::vector<log_entry> out;
  CHECK_OK(h.store->get_range(11, 300, 1 << 30, out));
  BOOST_TEST((out == std::vector<log_entry>(xs.begin() + 8, xs.end())));
  auto t = h.store->get_uint64(stable_keys::current_term);
  BOOST_REQUIRE(t);
  BOOST_TEST(*t == 4u);
  auto v = h.store->get(stable_keys::last_vote_cand);
  BOOST_REQUIRE(v);
  BOOST_TEST((*v == bytes{'x'}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(large_entries, F, factories) {
  harness<F> h;
  constexpr size_t mib4 = 4 << 20;
  auto xs = make_entries(1, 3, 1, mib4);
  CHECK_OK(h.store->store_logs(xs));
  log_entry e;
  CHECK_OK(h.store->get_log(2, e));
  BOOST_TEST(e.data.size() == mib4);
  BOOST_TEST((e == xs[1]));
  std::vector<log_entry> out;
  CHECK_OK(h.store->get_range(1, 3, mib4, out));
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST((out[0] == xs[0]));
  h.reopen();
  out.clear();
  CHECK_OK(h.store->get_range(1, 3, 3 * mib4, out));
  BOOST_TEST((out == xs));
}

// Not part of the contract: the in-memory store's hook for simulating a full
// disk, which the consensus tests rely on.
BOOST_AUTO_TEST_CASE(inmem_injected_failures_change_nothing) {
  inmem_store st;
  CHECK_OK(st.store_logs(make_entries(1, 5, 1)));
  CHECK_OK(st.set_uint64(stable_keys::current_term, 1));
  st.fail_next_writes(4);
  BOOST_TEST(is(st.store_logs(make_entries(6, 9, 2)), errc::storage_failure));
  BOOST_TEST(is(st.delete_range(1, 5), errc::storage_failure));
  BOOST_TEST(is(st.set_uint64(stable_keys::current_term, 2),
                errc::storage_failure));
  auto err = st.set(stable_keys::last_vote_cand, bytes{'a'});
  BOOST_TEST(is(err, errc::storage_failure));
  BOOST_TEST(describe(err).find("disk full") != std::string::npos);
  BOOST_TEST(st.pending_failures() == 0u);
  // Nothing changed, and reads never failed.
  BOOST_TEST(first_of(st) == 1u);
  BOOST_TEST(last_of(st) == 5u);
  auto term = st.get_uint64(stable_keys::current_term);
  BOOST_REQUIRE(term);
  BOOST_TEST(*term == 1u);
  BOOST_TEST(!st.get(stable_keys::last_vote_cand));
  // The fifth write goes through again.
  CHECK_OK(st.store_logs(make_entries(6, 9, 2)));
  BOOST_TEST(last_of(st) == 9u);
  st.fail_next_writes(3);
  st.fail_next_writes(0);
  CHECK_OK(st.delete_range(1, 2));
  BOOST_TEST(first_of(st) == 3u);
}
