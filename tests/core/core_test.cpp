// Result<T>, hex helpers, SecretBytes and constant-time equal().
#include <gtest/gtest.h>

#include <sstream>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"

namespace blecrypt {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return crypto::Errc::invalid_length;
  return x / 2;
}

Result<void> chain(int x) {
  BLECRYPT_TRY_VOID(half(x));
  return ok();
}

TEST(Result, CarriesValueOrError) {
  auto good = half(8);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 4);
  auto bad = half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), crypto::Errc::invalid_length);
  EXPECT_NE(bad.error().message().find("multiple of 16"), std::string::npos);
  EXPECT_TRUE(chain(4));
  EXPECT_EQ(chain(5).error(), crypto::Errc::invalid_length);
}

TEST(Hex, RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(to_hex(*from_hex("00ff10Ab")), "00ff10ab");
  EXPECT_EQ(*from_hex("01:02-03 04"), (Bytes{1, 2, 3, 4}));
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_hex("0 1"));
  EXPECT_TRUE(from_hex("")->empty());
}

TEST(Bytes, EndianHelpers) {
  std::uint8_t buf[4];
  store_le32(buf, 0x11223344);
  EXPECT_EQ(load_le32(buf), 0x11223344u);
  EXPECT_EQ(buf[0], 0x44);
  store_be16(buf, 0xabcd);
  EXPECT_EQ(buf[0], 0xab);
  EXPECT_EQ(load_be16(buf), 0xabcd);
  store_le16(buf, 0xabcd);
  EXPECT_EQ(load_le16(buf), 0xabcd);
}

TEST(SecretBytes, NeverPrintsItsContents) {
  SecretBytes s(*from_hex("deadbeef"));
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "<secret 4 bytes>");
}

TEST(SecretBytes, WipeZeroesAndEmpties) {
  SecretBytes s(*from_hex("0102030405"));
  const std::uint8_t* p = s.data();
  s.wipe();
  EXPECT_TRUE(s.empty());
  (void)p;  // the storage was zeroed before release (secure_wipe is tested directly below)
  std::uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  secure_wipe(buf, sizeof buf);
  for (auto b : buf) EXPECT_EQ(b, 0);
}

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  SecretBytes a(*from_hex("0102"));
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.size(), 2u);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented state
  SecretBytes c;
  c = b;
  EXPECT_TRUE(equal(b, c));
}

TEST(Equal, ComparesContentsAndLength) {
  const Bytes a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4}, d{1, 2};
  EXPECT_TRUE(equal(a, b));
  EXPECT_FALSE(equal(a, c));
  EXPECT_FALSE(equal(a, d));
  EXPECT_TRUE(equal(ByteView{}, ByteView{}));
}

TEST(Rng, DeterministicIsReproducibleAndSeedDependent) {
  crypto::DeterministicRng a(42), b(42), c(43);
  auto x = a.bytes(37), y = b.bytes(37), z = c.bytes(37);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

TEST(Rng, ScriptedReplaysThenFallsBack) {
  crypto::ScriptedRng rng({Bytes{1, 2, 3}, Bytes{4}});
  EXPECT_EQ(rng.bytes(2), (Bytes{1, 2}));
  EXPECT_EQ(rng.bytes(3), (Bytes{3, 4, 0}));
  crypto::DeterministicRng fallback(1);
  crypto::ScriptedRng rng2({Bytes{9}}, &fallback);
  auto out = rng2.bytes(5);
  EXPECT_EQ(out[0], 9);
}

TEST(Rng, SystemRngProducesDifferentOutputs) {
  auto a = crypto::system_rng().bytes(32), b = crypto::system_rng().bytes(32);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace blecrypt
