// All 29 function vectors of tests/vectors/smp_test_vectors.json on both crypto backends.
#include <gtest/gtest.h>

#include <set>

#include "blecrypt/smp/toolbox.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

using test::hex;

class ToolboxVectors : public ::testing::TestWithParam<const crypto::Backend*> {};

std::string in(const nlohmann::json& v, const char* k) { return v.at("inputs").at(k).get<std::string>(); }
std::string out(const nlohmann::json& v, const char* k) { return v.at("outputs").at(k).get<std::string>(); }

// Runs one vector; returns false when the function name is unknown (so a new kind cannot slip by).
bool run_vector(const Toolbox& tb, const nlohmann::json& v) {
  const auto fn = v.at("function").get<std::string>();
  const auto& be = tb.backend();
  SCOPED_TRACE(v.at("id").get<std::string>());
  if (fn == "aes128") {
    auto r = tb.e(hex(in(v, "key")), hex(in(v, "plaintext")));
    EXPECT_BYTES_EQ(*r, hex(out(v, "ciphertext")));
  } else if (fn == "aes_cmac_subkeys") {
    auto zero = Key128{};
    EXPECT_BYTES_EQ(*tb.e(hex(in(v, "key")), zero), hex(out(v, "aes_k_zero")));
    auto k = tb.cmac_subkeys(hex(in(v, "key")));
    EXPECT_BYTES_EQ((*k)[0], hex(out(v, "k1")));
    EXPECT_BYTES_EQ((*k)[1], hex(out(v, "k2")));
  } else if (fn == "aes_cmac") {
    EXPECT_BYTES_EQ(*tb.cmac(hex(in(v, "key")), hex(in(v, "message"))), hex(out(v, "mac")));
  } else if (fn == "f4") {
    auto r = tb.f4(hex(in(v, "U")), hex(in(v, "V")), hex(in(v, "X")), hex(in(v, "Z"))[0]);
    EXPECT_BYTES_EQ(*r, hex(out(v, "result")));
  } else if (fn == "f5") {
    EXPECT_BYTES_EQ(*tb.f5_t(hex(in(v, "W"))), hex(out(v, "T")));
    auto r = tb.f5(hex(in(v, "W")), hex(in(v, "N1")), hex(in(v, "N2")), hex(in(v, "A1")), hex(in(v, "A2")));
    EXPECT_BYTES_EQ(r->mac_key.view(), hex(out(v, "MacKey")));
    EXPECT_BYTES_EQ(r->ltk.view(), hex(out(v, "LTK")));
  } else if (fn == "f6") {
    auto r = tb.f6(hex(in(v, "W")), hex(in(v, "N1")), hex(in(v, "N2")), hex(in(v, "R")), hex(in(v, "IOcap")),
                   hex(in(v, "A1")), hex(in(v, "A2")));
    EXPECT_BYTES_EQ(*r, hex(out(v, "result")));
  } else if (fn == "g2") {
    auto r = tb.g2(hex(in(v, "U")), hex(in(v, "V")), hex(in(v, "X")), hex(in(v, "Y")));
    Bytes be32 = {static_cast<std::uint8_t>(*r >> 24), static_cast<std::uint8_t>(*r >> 16),
                  static_cast<std::uint8_t>(*r >> 8), static_cast<std::uint8_t>(*r)};
    EXPECT_BYTES_EQ(be32, hex(out(v, "g2")));
    EXPECT_EQ(*r % 1000000, v.at("outputs").at("numeric_value").get<std::uint32_t>());
  } else if (fn == "h6") {
    EXPECT_BYTES_EQ(*tb.h6(hex(in(v, "W")), hex(in(v, "keyID"))), hex(out(v, "result")));
  } else if (fn == "h7") {
    EXPECT_BYTES_EQ(*tb.h7(hex(in(v, "SALT")), hex(in(v, "W"))), hex(out(v, "result")));
  } else if (fn == "ah") {
    auto h = tb.ah(hex(in(v, "IRK")), hex(in(v, "prand")));
    EXPECT_BYTES_EQ(*h, hex(out(v, "hash")));
    EXPECT_BYTES_EQ(concat({hex(in(v, "prand")), *h}), hex(out(v, "rpa")));
  } else if (fn == "c1") {
    auto r = tb.c1(hex(in(v, "k")), hex(in(v, "r")), hex(in(v, "preq")), hex(in(v, "pres")), hex(in(v, "iat"))[0],
                   hex(in(v, "rat"))[0], hex(in(v, "ia")), hex(in(v, "ra")));
    EXPECT_BYTES_EQ(*r, hex(out(v, "result")));
  } else if (fn == "s1") {
    EXPECT_BYTES_EQ(*tb.s1(hex(in(v, "k")), hex(in(v, "r1")), hex(in(v, "r2"))), hex(out(v, "result")));
  } else if (fn == "ctkd_ltk_to_linkkey") {
    auto r = tb.ltk_to_link_key(hex(in(v, "LTK")), v.at("inputs").at("ct2").get<bool>());
    EXPECT_BYTES_EQ(*r, hex(out(v, "LinkKey")));
  } else if (fn == "ctkd_linkkey_to_ltk") {
    auto r = tb.link_key_to_ltk(hex(in(v, "LinkKey")), v.at("inputs").at("ct2").get<bool>());
    EXPECT_BYTES_EQ(*r, hex(out(v, "LTK")));
  } else if (fn == "p256_keypair") {
    auto kp = be.p256_from_private(hex(in(v, "private_key")));
    EXPECT_BYTES_EQ((*kp)->public_raw(), concat({hex(out(v, "public_x")), hex(out(v, "public_y"))}));
  } else if (fn == "ecdh" || fn == "ecdh_reflected") {
    auto a = be.p256_from_private(hex(in(v, "private_a")));
    auto pb = be.p256_public_key(concat({hex(in(v, "public_b_x")), hex(in(v, "public_b_y"))}));
    if (!a || !pb) {
      ADD_FAILURE() << "key import failed";
      return true;
    }
    EXPECT_BYTES_EQ((*(*a)->ecdh(**pb)).view(), hex(out(v, "dhkey")));
    if (fn == "ecdh") {
      auto b = be.p256_from_private(hex(in(v, "private_b")));
      auto pa = be.p256_public_key(concat({hex(in(v, "public_a_x")), hex(in(v, "public_a_y"))}));
      EXPECT_BYTES_EQ((*(*b)->ecdh(**pa)).view(), hex(out(v, "dhkey")));
      EXPECT_BYTES_EQ((*a)->public_raw(), concat({hex(in(v, "public_a_x")), hex(in(v, "public_a_y"))}));
    }
  } else if (fn == "p256_invalid_public_key" || fn == "p256_valid_public_key") {
    auto pk = be.p256_public_key(concat({hex(in(v, "public_x")), hex(in(v, "public_y"))}));
    EXPECT_EQ(pk.has_value(), v.at("outputs").at("valid").get<bool>());
  } else {
    return false;
  }
  return true;
}

TEST_P(ToolboxVectors, AllSharedFunctionVectors) {
  const auto doc = test::load_vectors("smp_test_vectors.json");
  const Toolbox tb(*GetParam());
  std::size_t n = 0;
  for (const auto& v : doc.at("vectors")) {
    EXPECT_TRUE(run_vector(tb, v)) << "unknown function " << v.at("function");
    ++n;
  }
  EXPECT_EQ(n, 29u);
}

TEST_P(ToolboxVectors, DebugKeyConstantsMatchTheBackend) {
  auto kp = GetParam()->p256_from_private(kDebugPrivateKey);
  ASSERT_TRUE(kp);
  EXPECT_BYTES_EQ((*kp)->public_raw(), kDebugPublicKey);
}

TEST_P(ToolboxVectors, WrongSizesAreErrorsNotCrashes) {
  const Toolbox tb(*GetParam());
  Bytes k16(16), k15(15), k32(32);
  EXPECT_EQ(tb.e(k15, k16).error(), Errc::bad_argument);
  EXPECT_EQ(tb.f4(k16, k32, k16, 0).error(), Errc::bad_argument);
  EXPECT_EQ(tb.f5(k32, k16, k16, Bytes(6), Bytes(7)).error(), Errc::bad_argument);
  EXPECT_EQ(tb.c1(k16, k16, Bytes(6), Bytes(7), 0, 0, Bytes(6), Bytes(6)).error(), Errc::bad_argument);
  EXPECT_EQ(tb.ah(k16, Bytes(4)).error(), Errc::bad_argument);
  EXPECT_EQ(tb.h6(k16, Bytes(3)).error(), Errc::bad_argument);
  EXPECT_FALSE(tb.cmac(k15, k16));
}

TEST(Toolbox, ReversedIsAnInvolution) {
  Bytes b = hex("0102030405");
  EXPECT_BYTES_EQ(reversed(b), hex("0504030201"));
  EXPECT_BYTES_EQ(reversed(reversed(b)), b);
}

INSTANTIATE_TEST_SUITE_P(Backends, ToolboxVectors, ::testing::ValuesIn(test::backends()), test::backend_name);

}  // namespace
}  // namespace blecrypt::smp
