// Known-answer vectors (tests/vectors/*.json, sources named per vector) on every backend.
#include <gtest/gtest.h>

#include "support/vectors.hpp"

namespace blecrypt::crypto {
namespace {

using test::hex_field;
using test::load_vectors;

class CryptoVectors : public ::testing::TestWithParam<const Backend*> {
 protected:
  const Backend& be() const { return *GetParam(); }
};

TEST_P(CryptoVectors, AesBlockFips197AndSp80038aEcb) {
  const auto file = load_vectors("aes_block.json");
  ASSERT_GE(file["vectors"].size(), 3u);
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    auto aes = be().aes_block(hex_field(v, "key"));
    ASSERT_TRUE(aes);
    const auto pt = test::to_array<16>(hex_field(v, "plaintext"));
    const auto ct = test::to_array<16>(hex_field(v, "ciphertext"));
    EXPECT_BYTES_EQ((*aes)->encrypt(pt), ct);
    EXPECT_BYTES_EQ((*aes)->decrypt(ct), pt);
  }
}

TEST_P(CryptoVectors, AesCbcSp80038a) {
  const auto file = load_vectors("aes_cbc.json");
  ASSERT_EQ(file["vectors"].size(), 3u);
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    auto cbc = be().aes_cbc(hex_field(v, "key"));
    ASSERT_TRUE(cbc);
    const auto iv = hex_field(v, "iv"), pt = hex_field(v, "plaintext"), ct = hex_field(v, "ciphertext");
    auto enc = (*cbc)->encrypt(iv, pt);
    ASSERT_TRUE(enc);
    EXPECT_BYTES_EQ(*enc, ct);
    auto dec = (*cbc)->decrypt(iv, ct);
    ASSERT_TRUE(dec);
    EXPECT_BYTES_EQ(*dec, pt);
    // The context is reused: a second message with the same IV gives the same result.
    EXPECT_BYTES_EQ(*(*cbc)->encrypt(iv, pt), ct);
    // In place.
    Bytes buf = pt;
    ASSERT_TRUE((*cbc)->encrypt(iv, buf, buf));
    EXPECT_BYTES_EQ(buf, ct);
  }
}

TEST_P(CryptoVectors, AesCcmRfc3610AndSp80038c) {
  const auto file = load_vectors("aes_ccm.json");
  ASSERT_GE(file["vectors"].size(), 27u);
  bool saw_tag4 = false;
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    auto ccm = be().aes_ccm(hex_field(v, "key"));
    ASSERT_TRUE(ccm);
    const auto nonce = hex_field(v, "nonce"), aad = hex_field(v, "aad"), pt = hex_field(v, "plaintext"),
               sealed = hex_field(v, "sealed");
    const auto tag = v["tag_size"].get<std::size_t>();
    saw_tag4 |= tag == 4;
    auto out = (*ccm)->seal(nonce, aad, pt, tag);
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_BYTES_EQ(*out, sealed);
    auto back = (*ccm)->open(nonce, aad, sealed, tag);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_BYTES_EQ(*back, pt);
  }
  EXPECT_TRUE(saw_tag4) << "SP 800-38C C.1 (4-byte tag) must be in the file";
}

TEST_P(CryptoVectors, AesCmacRfc4493AndSp80038b) {
  const auto file = load_vectors("aes_cmac.json");
  ASSERT_GE(file["vectors"].size(), 4u);
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    auto cmac = be().aes_cmac(hex_field(v, "key"));
    ASSERT_TRUE(cmac);
    EXPECT_BYTES_EQ((*cmac)->mac(hex_field(v, "message")), hex_field(v, "mac"));
    EXPECT_BYTES_EQ((*cmac)->mac(hex_field(v, "message")), hex_field(v, "mac"));  // reused context
  }
}

Bytes message_of(const nlohmann::json& v) {
  Bytes one = hex_field(v, "message");
  if (!v.contains("repeat")) return one;
  Bytes all;
  const auto n = v["repeat"].get<std::size_t>();
  all.reserve(one.size() * n);
  for (std::size_t i = 0; i < n; ++i) append(all, one);
  return all;
}

TEST_P(CryptoVectors, Md5Rfc1321) {
  const auto file = load_vectors("md5.json");
  ASSERT_EQ(file["vectors"].size(), 7u);
  auto md5 = be().md5();
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    EXPECT_BYTES_EQ(md5->digest(message_of(v)), hex_field(v, "digest"));
  }
}

TEST_P(CryptoVectors, Sha256Fips180) {
  const auto file = load_vectors("sha256.json");
  ASSERT_GE(file["vectors"].size(), 3u);
  auto sha = be().sha256();
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    EXPECT_BYTES_EQ(sha->digest(message_of(v)), hex_field(v, "digest"));
  }
}

TEST_P(CryptoVectors, P256EcdhRfc5903AndCoreSpec) {
  const auto file = load_vectors("p256_ecdh.json");
  ASSERT_EQ(file["vectors"].size(), 4u);
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    auto i = be().p256_from_private(hex_field(v, "private_i"));
    ASSERT_TRUE(i);
    EXPECT_BYTES_EQ((*i)->public_raw(), hex_field(v, "public_i"));
    EXPECT_BYTES_EQ((*i)->private_scalar(), hex_field(v, "private_i"));
    auto r_pub = be().p256_public_key(hex_field(v, "public_r"));
    ASSERT_TRUE(r_pub);
    auto z = (*i)->ecdh(**r_pub);
    ASSERT_TRUE(z);
    EXPECT_BYTES_EQ(*z, hex_field(v, "shared"));
    if (v.contains("private_r")) {
      auto r = be().p256_from_private(hex_field(v, "private_r"));
      ASSERT_TRUE(r);
      EXPECT_BYTES_EQ((*r)->public_raw(), hex_field(v, "public_r"));
      auto i_pub = be().p256_public_key((*i)->public_raw());
      ASSERT_TRUE(i_pub);
      EXPECT_BYTES_EQ(*(*r)->ecdh(**i_pub), hex_field(v, "shared"));
    }
  }
}

TEST_P(CryptoVectors, EcdsaRfc6979VerifyAndOwnSignaturesRoundTrip) {
  const auto file = load_vectors("p256_ecdsa.json");
  ASSERT_EQ(file["vectors"].size(), 2u);
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    const auto msg = hex_field(v, "message");
    auto pub = be().p256_public_key(hex_field(v, "public"));
    ASSERT_TRUE(pub);
    const auto sig = test::to_array<64>(concat({hex_field(v, "r"), hex_field(v, "s")}));
    EXPECT_TRUE((*pub)->verify(msg, sig));
    auto bad = sig;
    bad[63] ^= 1;
    EXPECT_FALSE((*pub)->verify(msg, bad));
    Bytes other = msg;
    other.push_back('!');
    EXPECT_FALSE((*pub)->verify(other, sig));

    auto key = be().p256_from_private(hex_field(v, "private"));
    ASSERT_TRUE(key);
    EXPECT_BYTES_EQ((*key)->public_raw(), hex_field(v, "public"));
    auto own = (*key)->sign(msg);
    ASSERT_TRUE(own);
    EXPECT_TRUE((*pub)->verify(msg, *own));
    EXPECT_NE(to_hex(*own), to_hex(*(*key)->sign(msg))) << "signatures must use a fresh random nonce";
  }
}

TEST_P(CryptoVectors, P256PublicKeyValidation) {
  const auto file = load_vectors("p256_public_keys.json");
  ASSERT_EQ(file["vectors"].size(), 7u);
  for (const auto& v : file["vectors"]) {
    SCOPED_TRACE(v["id"].get<std::string>());
    auto pub = be().p256_public_key(hex_field(v, "public"));
    if (v["valid"].get<bool>()) {
      EXPECT_TRUE(pub) << pub.error().message();
    } else {
      ASSERT_FALSE(pub);
      EXPECT_EQ(pub.error(), Errc::invalid_public_key);
    }
  }
}

TEST_P(CryptoVectors, SharedSmpVectorFileP256Cases) {
  // The same cases straight from the vector file (tests/vectors/smp_test_vectors.json, a copy of the
  // project's shared vectors), so a change there cannot go unnoticed.
  const auto file = test::load_vectors("smp_test_vectors.json");
  int checked = 0;
  for (const auto& v : file["vectors"]) {
    const auto fn = v["function"].get<std::string>();
    if (fn != "p256_invalid_public_key" && fn != "p256_valid_public_key") continue;
    SCOPED_TRACE(v["id"].get<std::string>());
    const auto raw = concat({hex_field(v["inputs"], "public_x"), hex_field(v["inputs"], "public_y")});
    EXPECT_EQ(static_cast<bool>(be().p256_public_key(raw)), v["outputs"]["valid"].get<bool>());
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST_P(CryptoVectors, SelfTestPasses) { EXPECT_EQ(self_test(be()), ""); }

INSTANTIATE_TEST_SUITE_P(Backends, CryptoVectors, ::testing::ValuesIn(test::backends()), test::backend_name);

}  // namespace
}  // namespace blecrypt::crypto
