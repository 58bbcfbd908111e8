#define BOOST_TEST_MODULE crc
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include <boost/crc.hpp>

#include "caf-raft/storage/crc.hpp"

// The hand-written slicing-by-8 CRCs against Boost's byte-at-a-time ones
// (the oracle) and the published check values.

using boost_crc32c
  = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;
using boost_crc64
  = boost::crc_optimal<64, 0x42F0E1EBA9EA3693ull, ~0ull, ~0ull, true, true>;

BOOST_AUTO_TEST_CASE(check_values) {
  std::string s = "123456789";
  raft::crc32c a;
  a.process_bytes(s.data(), s.size());
  BOOST_TEST(a.checksum() == 0xE3069283u);
  raft::crc64_ecma b;
  b.process_bytes(s.data(), s.size());
  BOOST_TEST(b.checksum() == 0x995DC9BBDF1939FAull);
  raft::crc64_ecma empty;
  BOOST_TEST(empty.checksum() == 0u);
  raft::crc32_ieee c;
  c.process_bytes(s.data(), s.size());
  BOOST_TEST(c.checksum() == 0xCBF43926u);
}

BOOST_AUTO_TEST_CASE(same_as_boost_for_any_length_alignment_and_split) {
  std::mt19937_64 rng{42};
  std::vector<uint8_t> buf(4096 + 16);
  for (auto& x : buf)
    x = static_cast<uint8_t>(rng());
  for (int round = 0; round < 2000; ++round) {
    auto off = rng() % 16;
    auto len = rng() % 4096;
    auto split = len == 0 ? 0 : rng() % len;
    auto p = buf.data() + off;
    raft::crc32c a;
    a.process_bytes(p, split);
    a.process_bytes(p + split, len - split);
    boost_crc32c ra;
    ra.process_bytes(p, len);
    BOOST_REQUIRE_EQUAL(a.checksum(), ra.checksum());
    raft::crc64_ecma b;
    b.process_bytes(p, split);
    b.process_bytes(p + split, len - split);
    boost_crc64 rb;
    rb.process_bytes(p, len);
    BOOST_REQUIRE_EQUAL(b.checksum(), rb.checksum());
    raft::crc32_ieee c;
    c.process_bytes(p, split);
    c.process_bytes(p + split, len - split);
    boost::crc_32_type rc;
    rc.process_bytes(p, len);
    BOOST_REQUIRE_EQUAL(c.checksum(), rc.checksum());
  }
}
