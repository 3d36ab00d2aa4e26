// The worked examples of spec §10, byte for byte, on every backend and between backends.
#include <gtest/gtest.h>

#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/messages.hpp"
#include "helpers.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame {
namespace {

using namespace blecrypt::sesame::testing;
using test::hex;

const nlohmann::json& vectors() {
  static const nlohmann::json v = test::load_vectors("sesame_vectors.json");
  return v;
}
Bytes vhex(const char* section, const char* field) { return test::hex_field(vectors().at(section), field); }
std::vector<Bytes> vhex_list(const char* section, const char* field) {
  std::vector<Bytes> out;
  for (const auto& s : vectors().at(section).at(field)) out.push_back(hex(s.get<std::string>()));
  return out;
}
RandomCode code_of(ByteView b) { return test::to_array<4>(b); }

class SesamePrimitives : public ::testing::TestWithParam<const crypto::Backend*> {};

TEST_P(SesamePrimitives, EcdhGivesDeviceSecretOfSection10_1) {
  const auto& be = *GetParam();
  auto app = be.p256_from_private(vhex("inputs", "app_private"));
  auto dev = be.p256_from_private(vhex("inputs", "device_private"));
  ASSERT_TRUE(app && dev);
  EXPECT_BYTES_EQ((*app)->public_raw(), vhex("ecdh", "pubA"));
  EXPECT_BYTES_EQ((*dev)->public_raw(), vhex("ecdh", "pubS"));
  auto pub_s = be.p256_public_key(vhex("ecdh", "pubS"));
  auto pub_a = be.p256_public_key(vhex("ecdh", "pubA"));
  ASSERT_TRUE(pub_s && pub_a);
  auto s1 = derive_device_secret(**app, **pub_s);
  auto s2 = derive_device_secret(**dev, **pub_a);
  ASSERT_TRUE(s1 && s2);
  EXPECT_BYTES_EQ(s1->view(), vhex("ecdh", "device_secret"));
  EXPECT_BYTES_EQ(s2->view(), vhex("ecdh", "device_secret"));
}

TEST_P(SesamePrimitives, SessionKeysLoginTokenAndNonce) {
  const auto& be = *GetParam();
  const Bytes secret = vhex("ecdh", "device_secret");
  auto k1 = derive_session_key(be, secret, code_of(vhex("inputs", "registration_random_code")));
  auto k2 = derive_session_key(be, secret, code_of(vhex("inputs", "login_random_code")));
  ASSERT_TRUE(k1 && k2);
  EXPECT_BYTES_EQ(k1->view(), vhex("registration", "session_key"));
  EXPECT_BYTES_EQ(k2->view(), vhex("login", "session_key"));
  const auto token = login_token(*k2);
  EXPECT_BYTES_EQ(token, ByteView(vhex("login", "login_packet")).subspan(2));
  const auto& nv = vectors().at("nonce");
  EXPECT_BYTES_EQ(make_nonce(nv.at("counter").get<std::uint64_t>(), code_of(test::hex_field(nv, "random_code"))),
                  test::hex_field(nv, "nonce"));
  EXPECT_BYTES_EQ(make_nonce(0, code_of(vhex("inputs", "registration_random_code"))),
                  vhex("registration", "publish81_nonce"));
  const auto& cv = vectors().at("cmac_rfc4493");
  auto cmac = be.aes_cmac(test::hex_field(cv, "key"));
  ASSERT_TRUE(cmac);
  EXPECT_BYTES_EQ((*cmac)->mac(test::hex_field(cv, "message")), test::hex_field(cv, "mac"));
}

TEST_P(SesamePrimitives, CcmMessagesOfSection10_3) {
  const auto& be = *GetParam();
  const RandomCode code = code_of(vhex("inputs", "login_random_code"));
  auto device = SessionCipher::create(be, vhex("login", "session_key"), code);
  auto client = SessionCipher::create(be, vhex("login", "session_key"), code);
  ASSERT_TRUE(device && client);
  // device tx 0: login response
  auto sealed = device->seal(vhex("login", "login_response_plaintext"));
  ASSERT_TRUE(sealed);
  EXPECT_BYTES_EQ(*sealed, ByteView(vhex("login", "login_response_packet")).subspan(1));
  auto opened = client->open(*sealed);
  ASSERT_TRUE(opened);
  EXPECT_BYTES_EQ(*opened, vhex("login", "login_response_plaintext"));
  // client tx 0: LOCK with the 20-byte text tag
  auto lock = client->seal(vhex("login", "lock_plaintext"));
  ASSERT_TRUE(lock);
  EXPECT_BYTES_EQ(*lock, vhex("login", "lock_sealed"));
  // registration connection: publish 81 at device tx 0
  auto reg = SessionCipher::create(be, vhex("registration", "session_key"), code_of(vhex("inputs", "registration_random_code")));
  ASSERT_TRUE(reg);
  auto pub = reg->seal(vhex("registration", "publish81_plaintext"));
  ASSERT_TRUE(pub);
  EXPECT_BYTES_EQ(*pub, ByteView(vhex("registration", "publish81_packet")).subspan(1));
}

INSTANTIATE_TEST_SUITE_P(Backends, SesamePrimitives, ::testing::ValuesIn(test::backends()), test::backend_name);

// Full transcripts: the client engine on backend A against the device emulator on backend B.
class SesameTranscript : public ::testing::TestWithParam<test::BackendPair> {};

TEST_P(SesameTranscript, RegistrationConnectionMatchesSection10_2) {
  const auto [client_be, device_be] = GetParam();
  crypto::ScriptedRng client_rng({vhex("inputs", "app_private")});
  crypto::ScriptedRng device_rng({vhex("inputs", "registration_random_code"), vhex("inputs", "device_private")});
  ClientConfig cc;
  cc.backend = client_be;
  cc.unix_time_offset = vectors().at("inputs").at("phone_time").get<std::int64_t>();
  DeviceConfig dc;
  dc.backend = device_be;
  Client client(std::move(cc), client_rng);
  Device device(std::move(dc), device_rng);
  const TimePoint t0{};

  client.on_link_up(t0);
  device.on_link_up(t0);
  auto initial = drain_tx(device);
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_BYTES_EQ(initial[0], vhex("registration", "initial_packet"));
  ASSERT_TRUE(client.feed(initial[0], t0));
  auto request = drain_tx(client);
  const auto want_req = vhex_list("registration", "request_packets");
  ASSERT_EQ(request.size(), want_req.size());
  for (std::size_t i = 0; i < request.size(); ++i) EXPECT_BYTES_EQ(request[i], want_req[i]) << "packet " << i;
  for (const auto& p : request) ASSERT_TRUE(device.feed(p, t0));
  EXPECT_TRUE(device.registered());
  EXPECT_BYTES_EQ(device.secret().view(), vhex("ecdh", "device_secret"));

  auto response = drain_tx(device);
  const auto want_resp = vhex_list("registration", "response_packets");
  ASSERT_GE(response.size(), want_resp.size() + 1);
  for (std::size_t i = 0; i < want_resp.size(); ++i) EXPECT_BYTES_EQ(response[i], want_resp[i]) << "packet " << i;
  EXPECT_BYTES_EQ(response[want_resp.size()], vhex("registration", "publish81_packet"));
  for (const auto& p : response) ASSERT_TRUE(client.feed(p, t0));
  EXPECT_TRUE(client.ready());
  EXPECT_BYTES_EQ(client.device_secret().view(), vhex("ecdh", "device_secret"));
  auto events = drain_events(client);
  EXPECT_TRUE(has<events::Registered>(events));
  EXPECT_EQ(client.lock_state().position, LockState::Position::unlocked);
  EXPECT_EQ(client.lock_state().battery_percent(), 100);
  EXPECT_EQ(client.rx_counter(), 2u);  // publishes 81 and 80
}

TEST_P(SesameTranscript, LoginConnectionMatchesSection10_3) {
  const auto [client_be, device_be] = GetParam();
  crypto::ScriptedRng client_rng({});
  crypto::ScriptedRng device_rng({vhex("inputs", "login_random_code")});
  ClientConfig cc;
  cc.backend = client_be;
  cc.secret = SecretBytes(vhex("ecdh", "device_secret"));
  cc.unix_time_offset = vectors().at("inputs").at("phone_time").get<std::int64_t>();
  cc.auto_time_sync = false;  // the vector's LOCK is the client's first encrypted message
  DeviceConfig dc;
  dc.backend = device_be;
  dc.secret = SecretBytes(vhex("ecdh", "device_secret"));
  dc.unix_time_offset = vectors().at("inputs").at("device_time_at_login").get<std::int64_t>();
  Client client(std::move(cc), client_rng);
  Device device(std::move(dc), device_rng);
  const TimePoint t0{};

  client.on_link_up(t0);
  device.on_link_up(t0);
  auto initial = drain_tx(device);
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_BYTES_EQ(initial[0], vhex("login", "initial_packet"));
  ASSERT_TRUE(client.feed(initial[0], t0));
  auto login = drain_tx(client);
  ASSERT_EQ(login.size(), 1u);
  EXPECT_BYTES_EQ(login[0], vhex("login", "login_packet"));
  ASSERT_TRUE(device.feed(login[0], t0));
  auto resp = drain_tx(device);
  ASSERT_EQ(resp.size(), 3u);  // login response, publish 81, publish 80
  EXPECT_BYTES_EQ(resp[0], vhex("login", "login_response_packet"));
  for (const auto& p : resp) ASSERT_TRUE(client.feed(p, t0));
  ASSERT_TRUE(client.ready());
  auto events = drain_events(client);
  ASSERT_TRUE(has<events::LoggedIn>(events, [](const auto& e) {
    return e.device_time == 1700000100u;
  }));

  ASSERT_TRUE(client.lock(HistoryTag::from_text(vectors().at("login").at("lock_tag_text").get<std::string>()), t0));
  auto lock = drain_tx(client);
  const auto want_lock = vhex_list("login", "lock_packets");
  ASSERT_EQ(lock.size(), want_lock.size());
  for (std::size_t i = 0; i < lock.size(); ++i) EXPECT_BYTES_EQ(lock[i], want_lock[i]);
  for (const auto& p : lock) ASSERT_TRUE(device.feed(p, t0));
  auto lock_resp = drain_tx(device);
  ASSERT_FALSE(lock_resp.empty());
  EXPECT_BYTES_EQ(lock_resp[0], vhex("login", "lock_response_packet"));
  EXPECT_EQ(device.history().back().tag.text, "SESAME 5 vector test");
}

INSTANTIATE_TEST_SUITE_P(BackendPairs, SesameTranscript, ::testing::ValuesIn(test::backend_pairs()),
                         test::backend_pair_name);

}  // namespace
}  // namespace blecrypt::sesame
