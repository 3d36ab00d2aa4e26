// Behaviour of the seam beyond the vectors: typed errors for wrong sizes, tamper rejection,
// context reuse, and cross-backend agreement (picotls style: every pair of backends).
#include <gtest/gtest.h>

#include "support/vectors.hpp"

namespace blecrypt::crypto {
namespace {

class Seam : public ::testing::TestWithParam<const Backend*> {
 protected:
  const Backend& be() const { return *GetParam(); }
};

TEST_P(Seam, WrongSizesAreTypedErrors) {
  EXPECT_EQ(be().aes_block(Bytes(15)).error(), Errc::invalid_key_size);
  EXPECT_EQ(be().aes_cbc(Bytes(17)).error(), Errc::invalid_key_size);
  EXPECT_EQ(be().aes_ccm(Bytes(0)).error(), Errc::invalid_key_size);
  EXPECT_EQ(be().aes_cmac(Bytes(33)).error(), Errc::invalid_key_size);

  auto cbc = std::move(*be().aes_cbc(Bytes(16)));
  EXPECT_EQ(cbc->encrypt(Bytes(15), Bytes(16)).error(), Errc::invalid_iv_size);
  EXPECT_EQ(cbc->encrypt(Bytes(16), Bytes(17)).error(), Errc::invalid_length);
  EXPECT_EQ(cbc->decrypt(Bytes(16), Bytes(1)).error(), Errc::invalid_length);
  Bytes small(8);
  EXPECT_EQ(cbc->encrypt(Bytes(16), Bytes(16), small).error(), Errc::output_too_small);
  EXPECT_TRUE(cbc->encrypt(Bytes(16), Bytes{}));  // empty is fine

  auto ccm = std::move(*be().aes_ccm(Bytes(16)));
  EXPECT_EQ(ccm->seal(Bytes(6), {}, Bytes(4), 4).error(), Errc::invalid_nonce_size);
  EXPECT_EQ(ccm->seal(Bytes(14), {}, Bytes(4), 4).error(), Errc::invalid_nonce_size);
  EXPECT_EQ(ccm->seal(Bytes(13), {}, Bytes(4), 3).error(), Errc::invalid_tag_size);
  EXPECT_EQ(ccm->seal(Bytes(13), {}, Bytes(4), 5).error(), Errc::invalid_tag_size);
  EXPECT_EQ(ccm->seal(Bytes(13), {}, Bytes(4), 18).error(), Errc::invalid_tag_size);
  EXPECT_EQ(ccm->open(Bytes(13), {}, Bytes(3), 4).error(), Errc::invalid_length);
  // 13-byte nonce leaves a 2-byte length field: 65536 bytes do not fit.
  EXPECT_EQ(ccm->seal(Bytes(13), {}, Bytes(65536), 4).error(), Errc::invalid_length);

  EXPECT_EQ(be().p256_from_private(Bytes(31, 1)).error(), Errc::invalid_key_size);
  EXPECT_EQ(be().p256_from_private(Bytes(32, 0)).error(), Errc::invalid_private_key);
  EXPECT_EQ(be().p256_from_private(Bytes(32, 0xff)).error(), Errc::invalid_private_key);  // >= n
  EXPECT_EQ(be().p256_public_key(Bytes(63)).error(), Errc::invalid_public_key);
  EXPECT_EQ(be().p256_public_key(Bytes(65, 4)).error(), Errc::invalid_public_key);
}

TEST_P(Seam, CcmEveryNonceAndTagSizeRoundTripsAndRejectsTampering) {
  auto ccm = std::move(*be().aes_ccm(test::hex("000102030405060708090a0b0c0d0e0f")));
  const Bytes aad{0x00};
  for (std::size_t nonce_size = 7; nonce_size <= 13; ++nonce_size) {
    for (std::size_t tag = 4; tag <= 16; tag += 2) {
      SCOPED_TRACE("nonce " + std::to_string(nonce_size) + " tag " + std::to_string(tag));
      const Bytes nonce(nonce_size, 0x5a);
      const Bytes pt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
      auto sealed = ccm->seal(nonce, aad, pt, tag);
      ASSERT_TRUE(sealed);
      ASSERT_EQ(sealed->size(), pt.size() + tag);
      EXPECT_EQ(*ccm->open(nonce, aad, *sealed, tag), pt);
      for (std::size_t i = 0; i < sealed->size(); ++i) {
        Bytes bad = *sealed;
        bad[i] ^= 0x01;
        auto r = ccm->open(nonce, aad, bad, tag);
        ASSERT_FALSE(r) << "flip at " << i;
        EXPECT_EQ(r.error(), Errc::authentication_failed);
      }
      Bytes other_aad{0x01};
      EXPECT_EQ(ccm->open(nonce, other_aad, *sealed, tag).error(), Errc::authentication_failed);
      Bytes other_nonce = nonce;
      other_nonce.back() ^= 0x80;
      EXPECT_EQ(ccm->open(other_nonce, aad, *sealed, tag).error(), Errc::authentication_failed);
      // A failed open leaves the context usable: the genuine message still opens.
      EXPECT_EQ(*ccm->open(nonce, aad, *sealed, tag), pt);
    }
  }
}

TEST_P(Seam, CcmFailedOpenLeavesNoPlaintext) {
  auto ccm = std::move(*be().aes_ccm(Bytes(16, 7)));
  const Bytes nonce(13, 1), pt(32, 0xaa);
  auto sealed = *ccm->seal(nonce, {}, pt, 4);
  sealed.back() ^= 1;
  Bytes out(32, 0xcc);
  ASSERT_FALSE(ccm->open(nonce, {}, sealed, 4, out));
  for (auto b : out) ASSERT_NE(b, 0xaa);  // never the plaintext
}

TEST_P(Seam, CcmEmptyMessageAndLongAad) {
  auto ccm = std::move(*be().aes_ccm(Bytes(16, 9)));
  const Bytes nonce(12, 3), aad(300, 0x11);
  auto sealed = ccm->seal(nonce, aad, {}, 16);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->size(), 16u);
  auto back = ccm->open(nonce, aad, *sealed, 16);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->empty());
}

TEST_P(Seam, ContextsSurviveManyMessagesAndShapeChanges) {
  auto ccm = std::move(*be().aes_ccm(Bytes(16, 1)));
  auto reference = std::move(*be().aes_ccm(Bytes(16, 1)));
  for (int i = 0; i < 200; ++i) {
    const Bytes nonce(static_cast<std::size_t>(7 + i % 7), static_cast<std::uint8_t>(i));
    const Bytes msg(static_cast<std::size_t>(i), static_cast<std::uint8_t>(i * 3));
    const std::size_t tag = 4 + 2 * static_cast<std::size_t>(i % 7);
    auto a = ccm->seal(nonce, Bytes{0}, msg, tag);
    auto b = std::move(*be().aes_ccm(Bytes(16, 1)))->seal(nonce, Bytes{0}, msg, tag);  // fresh context
    ASSERT_TRUE(a && b);
    ASSERT_EQ(*a, *b) << "message " << i;
    ASSERT_EQ(*reference->open(nonce, Bytes{0}, *a, tag), msg);
  }
}

TEST_P(Seam, EcdhAgreesBothWaysAndRejectsForeignObjects) {
  DeterministicRng rng(5);
  auto a = std::move(*be().p256_generate(rng));
  auto b = std::move(*be().p256_generate(rng));
  EXPECT_NE(a->public_raw(), b->public_raw());
  auto a_pub = std::move(*be().p256_public_key(a->public_raw()));
  auto b_pub = std::move(*be().p256_public_key(b->public_raw()));
  EXPECT_BYTES_EQ(*a->ecdh(*b_pub), *b->ecdh(*a_pub));
  for (const auto* other : test::backends()) {
    if (other == GetParam()) continue;
    auto foreign = std::move(*other->p256_public_key(b->public_raw()));
    EXPECT_EQ(a->ecdh(*foreign).error(), Errc::wrong_backend);
  }
}

TEST_P(Seam, DeterministicRngGivesReproducibleKeys) {
  DeterministicRng r1(99), r2(99);
  EXPECT_EQ((*be().p256_generate(r1))->public_raw(), (*be().p256_generate(r2))->public_raw());
}

INSTANTIATE_TEST_SUITE_P(Backends, Seam, ::testing::ValuesIn(test::backends()), test::backend_name);

// Every pair of backends: keys made by one are used by the other.
class CrossBackend : public ::testing::TestWithParam<test::BackendPair> {};

TEST_P(CrossBackend, KeyPairsAgreeOnEcdhAndSignatures) {
  const auto& [one, two] = GetParam();
  DeterministicRng rng(11);
  for (int i = 0; i < 3; ++i) {
    auto k1 = std::move(*one->p256_generate(rng));
    auto k2 = std::move(*two->p256_generate(rng));
    auto k2_in_one = std::move(*one->p256_public_key(k2->public_raw()));
    auto k1_in_two = std::move(*two->p256_public_key(k1->public_raw()));
    EXPECT_BYTES_EQ(*k1->ecdh(*k2_in_one), *k2->ecdh(*k1_in_two));

    const Bytes msg = rng.bytes(80);
    auto sig = *k1->sign(msg);
    EXPECT_TRUE(k1_in_two->verify(msg, sig));
    auto sig2 = *k2->sign(msg);
    EXPECT_TRUE(k2_in_one->verify(msg, sig2));

    // Same private scalar imported into the other backend gives the same public key.
    auto clone = std::move(*two->p256_from_private(k1->private_scalar()));
    EXPECT_EQ(clone->public_raw(), k1->public_raw());
  }
}

TEST_P(CrossBackend, SymmetricOutputsAreIdentical) {
  const auto& [one, two] = GetParam();
  DeterministicRng rng(3);
  for (std::size_t key_size : {16u, 24u, 32u}) {
    const Bytes key = rng.bytes(key_size), iv = rng.bytes(16), nonce = rng.bytes(13), msg = rng.bytes(200);
    const Bytes padded(msg.begin(), msg.begin() + 192);
    EXPECT_EQ(*(*one->aes_cbc(key))->encrypt(iv, padded), *(*two->aes_cbc(key))->encrypt(iv, padded));
    EXPECT_EQ(*(*one->aes_ccm(key))->seal(nonce, Bytes{0}, msg, 4), *(*two->aes_ccm(key))->seal(nonce, Bytes{0}, msg, 4));
    EXPECT_EQ((*one->aes_cmac(key))->mac(msg), (*two->aes_cmac(key))->mac(msg));
  }
  EXPECT_EQ(one->md5()->digest(Bytes(100, 1)), two->md5()->digest(Bytes(100, 1)));
  EXPECT_EQ(one->sha256()->digest(Bytes(100, 1)), two->sha256()->digest(Bytes(100, 1)));
}

INSTANTIATE_TEST_SUITE_P(Pairs, CrossBackend, ::testing::ValuesIn(test::backend_pairs()), test::backend_pair_name);

}  // namespace
}  // namespace blecrypt::crypto
