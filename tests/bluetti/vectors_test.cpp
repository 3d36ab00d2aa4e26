// Known answers from the spec: challenge/response, captured frames, CRC check values, the
// advertisement classification, the constants, and the record sizes seen on the air.
#include <gtest/gtest.h>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "support/vectors.hpp"

namespace blecrypt::bluetti {
namespace {

using test::hex;

class BluettiVectors : public ::testing::TestWithParam<const crypto::Backend*> {};

TEST_P(BluettiVectors, CapturedChallengeResponses) {
  const auto v = test::load_vectors("bluetti_vectors.json");
  int n = 0;
  for (const auto& c : v["challenge_response"]) {
    auto challenge = parse_frame(test::hex_field(c, "challenge"));
    ASSERT_TRUE(challenge.has_value());
    ASSERT_EQ(challenge->type, 0x01);
    auto md5 = GetParam()->md5();
    auto keys = derive_handshake_keys(*md5, challenge->payload);
    const Bytes response = encode_frame(FrameType::challenge_response, ByteView(keys.iv).subspan(8, 4));
    EXPECT_BYTES_EQ(response, test::hex_field(c, "response"));
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST_P(BluettiVectors, ClientEngineAnswersCapturedChallenge) {
  const auto v = test::load_vectors("bluetti_vectors.json");
  for (const auto& c : v["challenge_response"]) {
    crypto::DeterministicRng rng(3);
    auto cfg = ClientConfig::make(*GetParam(), {});
    ASSERT_TRUE(cfg.has_value());
    Client client(std::move(*cfg), rng);
    client.on_link_up(TimePoint{});
    ASSERT_TRUE(client.feed(test::hex_field(c, "challenge"), TimePoint{}).has_value());
    auto tx = client.poll_transmit();
    ASSERT_TRUE(tx.has_value());
    EXPECT_BYTES_EQ(*tx, test::hex_field(c, "response"));
    // The captured CHALLENGE_ACCEPTED moves it on to waiting for the device key.
    ASSERT_TRUE(client.feed(hex("2a2a0301000004"), TimePoint{}).has_value());
    EXPECT_EQ(client.state(), ClientState::wait_device_key);
  }
}

TEST(BluettiFrames, CapturedFramesParseAndReencode) {
  const auto v = test::load_vectors("bluetti_vectors.json");
  for (const auto& f : v["frames"]) {
    const Bytes raw = test::hex_field(f, "frame");
    auto parsed = parse_frame(raw);
    ASSERT_TRUE(parsed.has_value()) << f["frame"];
    EXPECT_EQ(parsed->type, f["type"].get<int>());
    EXPECT_BYTES_EQ(parsed->payload, test::hex_field(f, "payload"));
    EXPECT_EQ(frame_checksum(parsed->type, parsed->payload), f["checksum"].get<int>());
    EXPECT_BYTES_EQ(encode_frame(parsed->type, parsed->payload), raw);
  }
}

TEST(BluettiFrames, RejectsEveryMalformation) {
  const Bytes good = hex("2a2a01048f57b72701c9");
  EXPECT_EQ(parse_frame(hex("2a2a01048f57b72701c8")).error(), make_error_code(Errc::frame_bad_checksum));
  EXPECT_EQ(parse_frame(hex("2a2b01048f57b72701c9")).error(), make_error_code(Errc::frame_bad_magic));
  EXPECT_EQ(parse_frame(hex("2a2a0105")).error(), make_error_code(Errc::frame_truncated));
  EXPECT_EQ(parse_frame(hex("2a2a01058f57b72701c9")).error(), make_error_code(Errc::frame_truncated));
  EXPECT_EQ(parse_frame(hex("2a2a01038f57b72701c9")).error(), make_error_code(Errc::frame_length_mismatch));
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_EQ(parse_frame(longer).error(), make_error_code(Errc::frame_length_mismatch));
  for (std::size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(parse_frame(ByteView(good).first(n)).has_value()) << n;
  // The checksum is masked to 16 bits: a 255-byte payload of 0xFF sums past 0xFFFF.
  const Bytes big(255, 0xFF);
  auto f = encode_frame(0x07, big);
  EXPECT_EQ(frame_checksum(0x07, big), static_cast<std::uint16_t>((0x07 + 0xFF + 255 * 0xFF) & 0xFFFF));
  EXPECT_TRUE(parse_frame(f).has_value());
}

TEST(BluettiModbus, CrcCheckValues) {
  const auto v = test::load_vectors("bluetti_vectors.json");
  EXPECT_EQ(modbus::crc16(as_bytes(v["crc16_modbus"][0]["data_ascii"].get<std::string>())), v["crc16_modbus"][0]["crc"].get<int>());
  EXPECT_EQ(modbus::crc16(as_bytes("123456789")), 0x4B37);
  auto req = modbus::encode_request(modbus::Request::read(0x74, 4));
  ASSERT_TRUE(req.has_value());
  EXPECT_BYTES_EQ(*req, concat({hex("010300740004"), hex("0413")}));
  EXPECT_BYTES_EQ(*req, concat({test::hex_field(v["crc16_modbus"][1], "data"), test::hex_field(v["crc16_modbus"][1], "crc_bytes")}));
}

TEST(BluettiAdvertisement, Elite200V2IsEncrypted) {
  const auto v = test::load_vectors("bluetti_vectors.json");
  const auto& a = v["advertisement"][0];
  auto r = classify_advertisement(test::hex_field(a, "ad"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, LinkKind::encrypted);
  EXPECT_EQ(r->marker, a["marker"].get<std::string>());
  EXPECT_EQ(r->name, a["name"].get<std::string>());
  ASSERT_TRUE(r->company_id.has_value());
  EXPECT_EQ(*r->company_id, a["company_id"].get<int>());
  EXPECT_TRUE(r->has_service_ff00);
  // BLUETTI marker: plaintext; no marker: not BLUETTI; broken AD length: typed error.
  EXPECT_EQ(classify_advertisement(hex("0aff424c424c5545545449"))->kind, LinkKind::plaintext);
  EXPECT_EQ(classify_advertisement(hex("020106"))->kind, LinkKind::not_bluetti);
  EXPECT_FALSE(classify_advertisement(hex("0aff424c42")).has_value());
}

TEST_P(BluettiVectors, PublicKeysDeriveFromTheirScalars) {
  auto l1 = GetParam()->p256_from_private(kPrivateKeyL1);
  ASSERT_TRUE(l1.has_value());
  EXPECT_BYTES_EQ((*l1)->public_raw(), kPublicKeyL1);
  auto test_key = GetParam()->p256_from_private(kTestDeviceSigningKey);
  ASSERT_TRUE(test_key.has_value());
  EXPECT_BYTES_EQ((*test_key)->public_raw(), kTestDevicePublicKey);
  EXPECT_BYTES_EQ(crypto::sha256(as_bytes("blecrypt bluetti emulator test key v1")), kTestDeviceSigningKey);
  EXPECT_TRUE(GetParam()->p256_public_key(kPublicKeyK2).has_value());
}

TEST_P(BluettiVectors, RecordSizesOnTheAir) {
  auto md5 = GetParam()->md5();
  auto keys = derive_handshake_keys(*md5, hex("8f57b727"));
  auto hs = HandshakeCipher::create(*GetParam(), keys);
  ASSERT_TRUE(hs.has_value());
  auto rec = hs->seal(Bytes(134, 0x2a));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->size(), 146u);
  EXPECT_EQ((*rec)[0], 0x00);
  EXPECT_EQ((*rec)[1], 0x86);
  auto acc = hs->seal(hex("2a2a0601000007"));
  EXPECT_EQ(acc->size(), 18u);
  auto back = hs->open(*acc);
  ASSERT_TRUE(back.has_value());
  EXPECT_BYTES_EQ(*back, hex("2a2a0601000007"));
  // K_h = IV_h XOR LOCAL_AES_KEY.
  for (std::size_t i = 0; i < 16; ++i) EXPECT_EQ(keys.key[i], keys.iv[i] ^ kLocalAesKey[i]);

  crypto::DeterministicRng rng(5);
  auto s = SessionCipher::create(*GetParam(), Bytes(32, 0x42));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->seal(Bytes(8, 1), rng)->size(), 22u);   // any 8-byte request
  EXPECT_EQ(s->seal(Bytes(5 + 2 * 5, 1), rng)->size(), 22u);
  EXPECT_EQ(s->seal(Bytes(5 + 2 * 6, 1), rng)->size(), 38u);
  EXPECT_EQ(s->seal(Bytes(5 + 2 * 125, 1), rng)->size(), 262u);
  EXPECT_FALSE(s->seal(Bytes(257, 1), rng).has_value());
  // Session record: IV = MD5(seed), checked independently of the engine.
  auto rec2 = s->seal(hex("0103007400040413"), rng);
  auto cbc = GetParam()->aes_cbc(Bytes(32, 0x42));
  const auto iv = md5->digest(ByteView(*rec2).subspan(2, 4));
  auto plain = (*cbc)->decrypt(iv, ByteView(*rec2).subspan(6));
  ASSERT_TRUE(plain.has_value());
  EXPECT_BYTES_EQ(*plain, concat({hex("0103007400040413"), Bytes(8, 0)}));
  EXPECT_EQ(load_be16(rec2->data()), 8);
}

TEST_P(BluettiVectors, HandshakeRecordMatchesIndependentCbc) {
  auto md5 = GetParam()->md5();
  auto keys = derive_handshake_keys(*md5, hex("9ddd1444"));
  auto hs = HandshakeCipher::create(*GetParam(), keys);
  auto rec = hs->seal(hex("2a2a0601000007"));
  // Independent computation with the spec's formulas on the other backend.
  const auto* other = GetParam() == &crypto::openssl_backend() ? &crypto::mbedtls_backend() : &crypto::openssl_backend();
  const auto iv = crypto::md5(hex("4414dd9d"));
  Bytes key(16);
  for (int i = 0; i < 16; ++i) key[i] = iv[i] ^ kLocalAesKey[i];
  auto cbc = other->aes_cbc(key);
  Bytes padded = hex("2a2a0601000007");
  padded.resize(16, 0);
  auto ct = (*cbc)->encrypt(iv, padded);
  EXPECT_BYTES_EQ(*rec, concat({hex("0007"), *ct}));
}

INSTANTIATE_TEST_SUITE_P(Backends, BluettiVectors, ::testing::ValuesIn(test::backends()), test::backend_name);

}  // namespace
}  // namespace blecrypt::bluetti
