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
  explicit Rig(std::uint16_t key_index = 7, std::uint16_t model = model::sesame4) {
    DeviceConfig2 dc;
    dc.model = model;
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

// Runs one request to its answer and returns the client's events.
template <typename F>
std::vector<Client2::Event> run(Rig& r, F&& request) {
  auto st = request();
  EXPECT_TRUE(st) << (st ? "" : st.error().message());
  EXPECT_TRUE(r.pipe->pump());
  return events_of(*r.client);
}
template <typename T>
const T* find(const std::vector<Client2::Event>& ev) {
  for (const auto& e : ev)
    if (const auto* x = std::get_if<T>(&e)) return x;
  return nullptr;
}

TEST(SesameOs2, TagsAreAlways22BytesOfText) {
  EXPECT_BYTES_EQ(encode_tag2(HistoryTag::from_text("ab")).value(), hex("026162" "00000000000000000000000000000000000000"));
  // 21 bytes at most, cut on a UTF-8 boundary: 10 x "é" (2 bytes) + "é" would end at 22.
  std::string e11;
  for (int i = 0; i < 11; ++i) e11 += "\xC3\xA9";
  auto t = encode_tag2(HistoryTag::from_text(e11));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), kTag2Size);
  EXPECT_EQ((*t)[0], 20);
  EXPECT_EQ(encode_tag2(HistoryTag::from_uuid(14, Uuid{})).error(), Errc::not_supported_by_model);
  // The device side: an empty tag is 22 zero bytes (not the OS3 UUID form).
  EXPECT_EQ(parse_tag2(encode_tag2(HistoryTag{}).value()).value(), "");
  EXPECT_EQ(parse_tag2(hex("03616263")).value(), "abc");
  EXPECT_EQ(parse_tag2({}).error(), Errc::tag_length);
  EXPECT_EQ(parse_tag2(hex("0461")).error(), Errc::tag_length);
  EXPECT_EQ(parse_tag2(Bytes(23, 22)).error(), Errc::tag_length);  // above 21
}

TEST(SesameOs2, HistoryRecordParserAndTypedErrors) {
  HistoryRecord2 h;
  h.id = 0x01020304;
  h.type = 2;
  h.unix_ms = 1700000000123ull;
  h.tag = "front door";
  h.source = HistoryRecord::Source::wifi_module2;
  const Bytes enc = h.encode();
  ASSERT_EQ(enc.size(), HistoryRecord2::kTagOffset + kTag2Size);
  EXPECT_EQ(enc[HistoryRecord2::kTagOffset], 10 + 30);  // WM2: +30 on the length byte
  auto back = HistoryRecord2::parse(enc);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, h);
  // Without a tag (13 bytes: the SDK's minimum) and with the opaque bytes only.
  auto bare = HistoryRecord2::parse(ByteView(enc).first(13));
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->unix_ms, 1700000000123ull);
  EXPECT_TRUE(bare->tag.empty());
  EXPECT_TRUE(HistoryRecord2::parse(ByteView(enc).first(HistoryRecord2::kTagOffset)));
  for (std::size_t n = 0; n < 13; ++n) EXPECT_EQ(HistoryRecord2::parse(ByteView(enc).first(n)).error(), Errc::history_record_short) << n;
  // A length byte that runs past the payload or above 21.
  EXPECT_EQ(HistoryRecord2::parse(ByteView(enc).first(HistoryRecord2::kTagOffset + 5)).error(), Errc::tag_length);
  Bytes big = enc;
  big[HistoryRecord2::kTagOffset] = 22;
  EXPECT_EQ(HistoryRecord2::parse(big).error(), Errc::tag_length);
  // Invalid UTF-8 from the device becomes U+FFFD.
  Bytes bad = enc;
  bad[HistoryRecord2::kTagOffset] = 1;
  bad[HistoryRecord2::kTagOffset + 1] = 0xFF;
  EXPECT_EQ(HistoryRecord2::parse(bad).value().tag, "\xEF\xBF\xBD");
  // Bot settings keep their 7 bytes inside the 12-byte setting.
  const BotSetting1 bs{1, 2, 3, 4, 5, 6, 1};
  EXPECT_EQ(BotSetting1::from(bs.raw()), bs);
  EXPECT_EQ(BotSetting1::parse(Bytes(11, 0)).error(), Errc::payload_length);
}

TEST(SesameOs2, Sesame4HistoryAutolockSettingsTimeVersion) {
  Rig r;
  r.connect_with(r.uri());
  ASSERT_TRUE(r.client->ready());
  ASSERT_TRUE(r.client->setting());
  (void)events_of(*r.client);
  // Two operations and a manual turn make three records.
  (void)run(r, [&] { return r.client->lock(HistoryTag::from_text("phone"), r.pipe->now); });
  (void)run(r, [&] { return r.client->unlock(HistoryTag::from_text("tablet"), r.pipe->now); });
  r.device->add_history(8, "", r.pipe->now);
  auto ev = run(r, [&] { return r.client->read_history(1, r.pipe->now); });  // peek
  const auto* h = find<events2::History>(ev);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->record.type, 1);
  EXPECT_EQ(h->record.tag, "phone");
  EXPECT_EQ(h->record.unix_ms, 1700001000000ull);
  EXPECT_EQ(r.device->history().size(), 3u);
  ASSERT_TRUE(r.client->drain_history(r.pipe->now));
  ASSERT_TRUE(r.pipe->pump());
  ev = events_of(*r.client);
  std::vector<std::string> got;
  for (const auto& e : ev)
    if (const auto* x = std::get_if<events2::History>(&e)) got.push_back(history_type_name(x->record.type) + ":" + x->record.tag);
  EXPECT_EQ(got, (std::vector<std::string>{"BLE lock:phone", "BLE unlock:tablet", "manual unlocked:"}));
  EXPECT_NE(find<events2::HistoryEmpty>(ev), nullptr);
  EXPECT_FALSE(r.client->draining());
  EXPECT_TRUE(r.device->history().empty());
  // Auto-lock: set, read back.
  ev = run(r, [&] { return r.client->set_autolock(30, HistoryTag::from_text("cli"), r.pipe->now); });
  ASSERT_NE(find<events2::Autolock>(ev), nullptr);
  EXPECT_EQ(find<events2::Autolock>(ev)->seconds, 30);
  EXPECT_EQ(r.device->autolock_seconds(), 30);
  ev = run(r, [&] { return r.client->read_autolock(r.pipe->now); });
  ASSERT_NE(find<events2::Autolock>(ev), nullptr);
  EXPECT_EQ(find<events2::Autolock>(ev)->seconds, 30);
  // Lock positions: +/-150 ranges, published back.
  ev = run(r, [&] { return r.client->set_lock_positions(-300, 200, HistoryTag::from_text("cal"), r.pipe->now); });
  const MechSetting2 want{-300, 200, -450, -150, 50, 350};
  EXPECT_EQ(r.device->setting(), want);
  EXPECT_EQ(*r.client->setting(), want);
  ASSERT_NE(find<events2::Setting>(ev), nullptr);
  // Time and version, mech status.
  ev = run(r, [&] { return r.client->sync_time(1800000000, r.pipe->now); });
  EXPECT_EQ(find<events2::CommandResult>(ev)->result, ResultCode::success);
  ev = run(r, [&] { return r.client->read_version(r.pipe->now); });
  ASSERT_NE(find<events2::Version>(ev), nullptr);
  EXPECT_EQ(find<events2::Version>(ev)->text, "blecrypt-os2");
  ev = run(r, [&] { return r.client->read_mech_status(r.pipe->now); });
  ASSERT_NE(find<events2::Status>(ev), nullptr);
  EXPECT_EQ(find<events2::Status>(ev)->status.position, 100);  // where the last UNLOCK left it (the old unlock angle)
  // Records of the settings with the new clock.
  ev = run(r, [&] { return r.client->read_history(1, r.pipe->now); });
  ASSERT_NE(find<events2::History>(ev), nullptr);
  EXPECT_EQ(find<events2::History>(ev)->record.type, 4);  // auto-lock updated
  EXPECT_EQ(r.device->history().back().type, 3);          // time changed
  EXPECT_EQ(r.device->history().back().unix_ms, 1800000000000ull);
  // Not for a lock: bot commands.
  EXPECT_EQ(r.client->click(HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  EXPECT_EQ(r.client->set_bot_setting(BotSetting1{}, HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  EXPECT_EQ(r.client->lock(HistoryTag::from_uuid(14, Uuid{}), r.pipe->now).error(), Errc::not_supported_by_model);
}

TEST(SesameOs2, Bot1ClickAndSettings) {
  Rig r(3, model::bot1);
  r.connect_with(r.uri());
  ASSERT_TRUE(r.client->ready());
  EXPECT_EQ(r.client->model(), model::bot1);
  EXPECT_NEAR(r.client->status()->bot_volts(), 3.0, 0.01);
  EXPECT_EQ(BotSetting1::from(*r.client->setting()), BotSetting1{});
  (void)events_of(*r.client);
  auto ev = run(r, [&] { return r.client->click(HistoryTag::from_text("kettle"), r.pipe->now); });
  EXPECT_EQ(find<events2::CommandResult>(ev)->result, ResultCode::success);
  EXPECT_TRUE(r.client->status()->unlocked());
  EXPECT_EQ(r.client->status()->motor_status(), 0);
  bool clicked = false;
  for (const auto& e : events_of(*r.device))
    if (const auto* m = std::get_if<events2::Moved>(&e); m && m->item == item::click && m->tag.text == "kettle") clicked = true;
  EXPECT_TRUE(clicked);
  const BotSetting1 bs{1, 5, 4, 2, 3, 2, 1};
  ev = run(r, [&] { return r.client->set_bot_setting(bs, HistoryTag::from_text("cfg"), r.pipe->now); });
  EXPECT_EQ(BotSetting1::from(r.device->setting()), bs);
  ASSERT_NE(find<events2::Setting>(ev), nullptr);
  EXPECT_EQ(BotSetting1::from(find<events2::Setting>(ev)->setting), bs);
  (void)run(r, [&] { return r.client->toggle(HistoryTag::from_text("t"), r.pipe->now); });  // unlocked -> LOCK
  EXPECT_TRUE(r.client->status()->locked());
  ev = run(r, [&] { return r.client->read_history(0, r.pipe->now); });
  EXPECT_EQ(find<events2::History>(ev)->record.type, 18);  // BLE click
  EXPECT_EQ(history_type_name(18), "BLE click");
  // Lock-only commands are refused on the client; raw requests get not_supported from the bot.
  EXPECT_EQ(r.client->set_lock_positions(1, 2, HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  EXPECT_EQ(r.client->set_autolock(5, HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  ev = run(r, [&] { return r.client->request(op::read, item::autolock, {}, r.pipe->now); });
  EXPECT_EQ(find<events2::CommandResult>(ev)->result, ResultCode::not_supported);
}

TEST(SesameOs2, Bike1UnlocksOnly) {
  Rig r(1, model::bike1);
  r.connect_with(r.uri());
  ASSERT_TRUE(r.client->ready());
  (void)events_of(*r.client);
  EXPECT_EQ(r.client->lock(HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  EXPECT_EQ(r.client->toggle(HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  EXPECT_EQ(r.client->click(HistoryTag{}, r.pipe->now).error(), Errc::not_supported_by_model);
  auto ev = run(r, [&] { return r.client->unlock(HistoryTag::from_text("ride"), r.pipe->now); });
  EXPECT_EQ(find<events2::CommandResult>(ev)->result, ResultCode::success);
  EXPECT_TRUE(r.client->status()->unlocked());
  // A raw LOCK reaches the emulator, which refuses it as the firmware would.
  const Bytes tag = encode_tag2(HistoryTag{}).value();
  ev = run(r, [&] { return r.client->request(op::async, item::lock, tag, r.pipe->now); });
  EXPECT_EQ(find<events2::CommandResult>(ev)->result, ResultCode::not_supported);
  ev = run(r, [&] { return r.client->read_history(0, r.pipe->now); });
  EXPECT_EQ(find<events2::History>(ev)->record.tag, "ride");
}

TEST(SesameOs2, DrainStopsOnAFirmwareThatDoesNotPop) {
  for (const bool pops : {true, false}) {
    Rig r;
    r.device.reset();
    DeviceConfig2 dc;
    dc.model = model::sesame3;
    dc.secret = SecretBytes(hex("4a456a3ddd7a2d28af7dd1ea0aa037c2"));
    dc.key_index = 7;
    dc.pop_history_on_zero = pops;
    r.device.emplace(std::move(dc), r.drng);
    r.share = r.device->share_key_bytes();
    r.connect_with(r.uri());
    ASSERT_TRUE(r.client->ready());
    r.device->add_history(7, "", r.pipe->now);
    r.device->add_history(8, "", r.pipe->now);
    (void)events_of(*r.client);
    ASSERT_TRUE(r.client->drain_history(r.pipe->now));
    ASSERT_TRUE(r.pipe->pump());
    int records = 0;
    bool empty = false;
    for (const auto& e : events_of(*r.client)) {
      records += std::holds_alternative<events2::History>(e);
      empty = empty || std::holds_alternative<events2::HistoryEmpty>(e);
    }
    EXPECT_EQ(records, pops ? 2 : 1) << pops;  // a peeking firmware: the repeat ends the drain
    EXPECT_EQ(empty, pops);
    EXPECT_FALSE(r.client->draining());
    EXPECT_EQ(r.device->history().size(), pops ? 0u : 2u);
  }
}

}  // namespace
}  // namespace blecrypt::sesame::os2
