// OS2 (SESAME 3/4, bot 1, bike 1): the security layer's nonce and key derivation against values
// computed independently with python3-cryptography, login with a real-format 99-byte share key,
// lock/unlock, wrong keys, tamper, and bad input.
#include <gtest/gtest.h>

#include "blecrypt/link/pipe.hpp"
#include "blecrypt/sesame/os2.hpp"
#include "helpers.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame::os2 {
namespace {

using namespace std::chrono_literals;
using test::hex;
using Pipe2 = link::Pipe<Client2, Device2>;

template <typename E>
std::vector<typename E::Event> events_of(E& e) {
  std::vector<typename E::Event> out;
  while (auto x = e.poll_event()) out.push_back(std::move(*x));
  return out;
}

TEST(SesameOs2, NonceCarriesTheDirectionBitAndTheSessionToken) {
  const SessionToken t{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_BYTES_EQ(Cipher2::nonce(0, true, t), hex("0000000080" "0102030405060708"));
  EXPECT_BYTES_EQ(Cipher2::nonce(0x0102, false, t), hex("0201000000" "0102030405060708"));
  EXPECT_BYTES_EQ(Cipher2::nonce(0x0102, true, t), hex("0201000080" "0102030405060708"));
}

// Values computed with python3-cryptography (AES-CMAC, AES-CCM tag 4, ECDH P-256):
//   secret 000102..0f, key index 0x0003, app public key = the public key of scalar 0x11..11,
//   session token a1a2a3a4 b1b2b3b4; device scalar 0x22..22.
TEST(SesameOs2, LoginAuthSessionKeyAndCcmMatchIndependentValues) {
  const crypto::Backend& b = crypto::default_backend();
  auto app = b.p256_from_private(Bytes(32, 0x11));
  auto dev = b.p256_from_private(Bytes(32, 0x22));
  ASSERT_TRUE(app && dev);
  const SessionToken st{0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xb3, 0xb4};
  auto auth = login_auth(b, hex("000102030405060708090a0b0c0d0e0f"), 3, (*app)->public_raw(), st);
  ASSERT_TRUE(auth);
  EXPECT_BYTES_EQ(*auth, hex("a6f411e4"));
  auto dev_pub = b.p256_public_key((*dev)->public_raw());
  ASSERT_TRUE(dev_pub);
  auto key = session_key(b, **app, **dev_pub, st);
  ASSERT_TRUE(key);
  EXPECT_BYTES_EQ(key->view(), hex("a4b3d7bd4ddc66cb9ff17b0328c64075"));
  auto c = Cipher2::create(b, key->view(), st, false);
  ASSERT_TRUE(c);
  auto sealed = c->seal(hex("06520a"));  // async LOCK, empty text tag
  ASSERT_TRUE(sealed);
  EXPECT_BYTES_EQ(*sealed, hex("6281cd45a2e657"));
}

struct Rig {
  crypto::DeterministicRng crng{21}, drng{22};
  std::optional<Device2> device;
  std::optional<Client2> client;
  std::optional<Pipe2> pipe;
  Bytes share;
  explicit Rig(std::uint16_t key_index = 7) {
    DeviceConfig2 dc;
    dc.model = model::sesame4;
    dc.uuid = uuid_from_string("00112233-4455-6677-8899-aabbccddeeff").value();
    dc.secret = SecretBytes(hex("4a456a3ddd7a2d28af7dd1ea0aa037c2"));
    dc.key_index = key_index;
    dc.unix_time_offset = 1700000000;
    device.emplace(std::move(dc), drng);
    share = device->share_key_bytes();
  }
  // Decodes the QR-code URI the owner's app would show and logs in with it.
  void connect_with(const std::string& uri) {
    auto key = parse_share_uri(uri);
    ASSERT_TRUE(key) << key.error().message();
    auto cfg = ClientConfig2::from_share_key(*key);
    ASSERT_TRUE(cfg);
    client.emplace(std::move(*cfg), crng);
    pipe.emplace(*client, *device);
    pipe->connect();
  }
  std::string uri() const { return "ssm://UI?t=sk&sk=" + base64_encode(share) + "&l=0&n=Front%20door"; }
};

TEST(SesameOs2, LoginWithARealFormatShareKeyThenLockAndUnlock) {
  Rig r;
  ASSERT_EQ(r.share.size(), 99u);
  auto key = parse_share_uri(r.uri());
  ASSERT_TRUE(key);
  EXPECT_TRUE(key->os2);
  EXPECT_EQ(key->model, model::sesame4);
  EXPECT_EQ(key->key_index, 7);
  EXPECT_EQ(uuid_to_string(*key->uuid), "00112233-4455-6677-8899-aabbccddeeff");
  r.connect_with(r.uri());
  ASSERT_TRUE(r.client->ready());
  EXPECT_TRUE(r.device->logged_in());
  auto ev = events_of(*r.client);
  ASSERT_FALSE(ev.empty());
  const auto* li = std::get_if<events2::LoggedIn>(&ev[0]);
  ASSERT_NE(li, nullptr);
  EXPECT_EQ(li->login.time, 1700001000u);  // the pipe's clock starts at 1000 s
  EXPECT_TRUE(li->login.setting.configured());
  EXPECT_NEAR(li->login.status.volts(), 6.0, 0.01);
  EXPECT_TRUE(li->login.status.unlocked());
  ASSERT_TRUE(r.client->lock(HistoryTag::from_text("os2 test"), r.pipe->now));
  ASSERT_TRUE(r.pipe->pump());
  ev = events_of(*r.client);
  bool answered = false;
  for (const auto& e : ev)
    if (const auto* c = std::get_if<events2::CommandResult>(&e); c && c->item == item::lock && c->result == ResultCode::success) answered = true;
  EXPECT_TRUE(answered);
  ASSERT_TRUE(r.client->status());
  EXPECT_TRUE(r.client->status()->locked());
  auto dev_ev = events_of(*r.device);
  bool moved = false;
  for (const auto& e : dev_ev)
    if (const auto* m = std::get_if<events2::Moved>(&e); m && m->tag.text == "os2 test") moved = true;
  EXPECT_TRUE(moved);
  ASSERT_TRUE(r.client->unlock(HistoryTag{}, r.pipe->now));
  EXPECT_EQ(r.client->lock(HistoryTag{}, r.pipe->now).error(), Errc::request_pending);
  ASSERT_TRUE(r.pipe->pump());
  EXPECT_TRUE(r.client->status()->unlocked());
}

TEST(SesameOs2, WrongSecretOrKeyIndexIsRefused) {
  for (int which = 0; which < 2; ++which) {
    Rig r;
    Bytes bad = r.share;
    if (which == 0) bad[1] ^= 0x01;    // secret
    else bad[81] ^= 0x01;              // key index
    r.pipe.reset();
    auto key = parse_share_uri("ssm://UI?t=sk&sk=" + base64_encode(bad));
    ASSERT_TRUE(key);
    auto cfg = ClientConfig2::from_share_key(*key);
    ASSERT_TRUE(cfg);
    r.client.emplace(std::move(*cfg), r.crng);
    r.pipe.emplace(*r.client, *r.device);
    r.pipe->connect();
    EXPECT_FALSE(r.client->ready());
    EXPECT_FALSE(r.device->logged_in());
    EXPECT_EQ(r.device->rejected_logins(), 1u);
    bool ended = false;
    for (const auto& e : events_of(*r.client))
      if (const auto* s = std::get_if<events2::SessionEnded>(&e); s && s->error == Errc::login_rejected) ended = true;
    EXPECT_TRUE(ended) << which;
  }
  // An OS3 key is not an OS2 login.
  ShareKey os3;
  os3.secret = SecretBytes(Bytes(16, 1));
  EXPECT_EQ(ClientConfig2::from_share_key(os3).error(), Errc::uri_key_format);
}

TEST(SesameOs2, TamperEndsTheSessionAndBadInputIsTyped) {
  Rig r;
  r.connect_with(r.uri());
  ASSERT_TRUE(r.client->ready());
  int n = 0;
  r.pipe->to_central.set_tamper([&](std::size_t, Bytes& pdu) {
    if (n++ == 0) pdu.back() ^= 0x01;
  });
  ASSERT_TRUE(r.client->lock(HistoryTag{}, r.pipe->now));
  r.pipe->pump();
  EXPECT_FALSE(r.client->ready());
  // Parsers.
  EXPECT_EQ(MechStatus2::parse(Bytes(7, 0)).error(), Errc::payload_length);
  EXPECT_EQ(MechSetting2::parse(Bytes(13, 0)).error(), Errc::payload_length);
  EXPECT_EQ(LoginResponse2::parse(Bytes(27, 0)).error(), Errc::payload_length);
  LoginResponse2 lr;
  lr.time = 5;
  lr.history_count = 2;
  lr.status.flags = 0x02;
  auto back = LoginResponse2::parse(lr.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->time, 5u);
  EXPECT_EQ(back->history_count, 2);
  EXPECT_TRUE(back->status.locked());
  // Device: short, wrong-size and not-login plaintext messages.
  Rig d;
  d.device->on_link_up(TimePoint{});
  while (d.device->poll_transmit()) {
  }
  EXPECT_EQ(d.device->feed(hex("0302"), TimePoint{}).error(), Errc::message_short);
  EXPECT_EQ(d.device->feed(hex("03050201"), TimePoint{}).error(), Errc::payload_length);
  EXPECT_TRUE(d.device->feed(hex("03065200"), TimePoint{}));  // plaintext LOCK before login: ignored
}

}  // namespace
}  // namespace blecrypt::sesame::os2
