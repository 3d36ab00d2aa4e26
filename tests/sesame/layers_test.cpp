// Advertisement, segment layer, application structures and the share URI.
#include <gtest/gtest.h>

#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/segment.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame {
namespace {

using test::hex;

const nlohmann::json& vectors() {
  static const nlohmann::json v = test::load_vectors("sesame_vectors.json");
  return v;
}

// ---- advertisement ----------------------------------------------------------------------

TEST(SesameAdvertisement, ParsesAndBuildsTheSpecExample) {
  const auto& v = vectors().at("advertisement");
  const Bytes ad = test::hex_field(v, "unregistered");
  auto adv = parse_advertisement(ad);
  ASSERT_TRUE(adv) << adv.error().message();
  EXPECT_EQ(adv->model, 5);
  EXPECT_FALSE(adv->registered);
  EXPECT_FALSE(adv->has_history);
  EXPECT_BYTES_EQ(adv->uuid, test::hex_field(v, "uuid"));
  EXPECT_EQ(uuid_to_string(adv->uuid), "8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f");
  EXPECT_BYTES_EQ(build_advertisement(*adv), ad);
  EXPECT_EQ(ad.size(), 30u);

  adv->registered = true;
  adv->has_history = true;
  EXPECT_BYTES_EQ(build_manufacturer_data(*adv), test::hex_field(v, "registered_history_mfr"));
  auto back = parse_manufacturer_data(test::hex_field(v, "registered_history_mfr"));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->registered);
  EXPECT_TRUE(back->has_history);
  EXPECT_EQ(model_name(back->model), "SESAME 5");
}

TEST(SesameAdvertisement, NotASesameIsAnErrorNeverACrash) {
  EXPECT_EQ(parse_advertisement(hex("020106")).error(), Errc::not_sesame);                 // no mfr data
  EXPECT_EQ(parse_advertisement(Bytes{}).error(), Errc::not_sesame);                       // empty
  EXPECT_EQ(parse_advertisement(hex("020106 05ff4c000215")).error(), Errc::not_sesame);    // Apple
  EXPECT_EQ(parse_advertisement(hex("020106 09ff")).error(), Errc::ad_malformed);         // overrun
  EXPECT_EQ(parse_advertisement(hex("020106 07ff5a0505000011")).error(), Errc::manufacturer_data_short);
  EXPECT_EQ(parse_manufacturer_data(hex("5a")).error(), Errc::not_sesame);
  // A foreign manufacturer structure first, ours second: found.
  const Bytes ours = test::hex_field(vectors().at("advertisement"), "registered_history_mfr");
  Bytes ad = hex("05ff4c000215");
  ad.push_back(static_cast<std::uint8_t>(ours.size() + 1));
  ad.push_back(0xFF);
  append(ad, ours);
  auto adv = parse_advertisement(ad);
  ASSERT_TRUE(adv);
  EXPECT_TRUE(adv->registered);
  // Zero padding after the structures ends parsing quietly.
  Bytes padded = test::hex_field(vectors().at("advertisement"), "unregistered");
  padded.push_back(0);
  EXPECT_TRUE(parse_advertisement(padded));
}

// ---- segment layer ----------------------------------------------------------------------

TEST(SesameSegment, SplitsAt19BytesWithoutEmptyTrailingPacket) {
  Bytes msg(38);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i);
  std::vector<Bytes> pkts;
  ASSERT_TRUE(segment(msg, SegmentKind::plaintext, pkts));
  ASSERT_EQ(pkts.size(), 2u);
  EXPECT_EQ(pkts[0][0], 0x01);
  EXPECT_EQ(pkts[1][0], 0x02);
  EXPECT_EQ(pkts[0].size(), 20u);
  EXPECT_EQ(pkts[1].size(), 20u);
  pkts.clear();
  ASSERT_TRUE(segment(ByteView(msg).first(5), SegmentKind::ciphertext, pkts));
  ASSERT_EQ(pkts.size(), 1u);
  EXPECT_EQ(pkts[0][0], 0x05);
  pkts.clear();
  ASSERT_TRUE(segment(msg, SegmentKind::ciphertext, pkts));
  EXPECT_EQ(pkts[1][0], 0x04);
  pkts.clear();
  ASSERT_TRUE(segment(Bytes(39, 1), SegmentKind::plaintext, pkts));
  ASSERT_EQ(pkts.size(), 3u);
  EXPECT_EQ(pkts[1][0], 0x00);
  EXPECT_EQ(pkts[2].size(), 2u);
}

TEST(SesameSegment, SenderRejectsBadArguments) {
  std::vector<Bytes> pkts;
  EXPECT_EQ(segment(Bytes{}, SegmentKind::plaintext, pkts).error(), Errc::message_empty);
  EXPECT_EQ(segment(Bytes(3), SegmentKind::plaintext, pkts, 1).error(), Errc::packet_size_invalid);
  EXPECT_EQ(segment(Bytes(513), SegmentKind::plaintext, pkts).error(), Errc::message_too_large);
  EXPECT_TRUE(pkts.empty());
}

TEST(SesameSegment, ReassemblesAnyPacketSizeAndRoundTrips) {
  for (std::size_t size : {2u, 3u, 20u, 23u, 244u}) {
    for (std::size_t len : {1u, 18u, 19u, 20u, 80u, 512u}) {
      Bytes msg(len);
      for (std::size_t i = 0; i < len; ++i) msg[i] = static_cast<std::uint8_t>(i * 7 + size);
      std::vector<Bytes> pkts;
      ASSERT_TRUE(segment(msg, SegmentKind::ciphertext, pkts, size));
      Reassembler r;
      std::optional<SegmentedMessage> got;
      for (std::size_t i = 0; i < pkts.size(); ++i) {
        auto res = r.feed(pkts[i]);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->has_value(), i + 1 == pkts.size());
        if (res->has_value()) got = std::move(**res);
      }
      ASSERT_TRUE(got);
      EXPECT_TRUE(got->encrypted);
      EXPECT_EQ(got->data, msg);
    }
  }
}

TEST(SesameSegment, EveryIllegalSequenceIsATypedError) {
  Reassembler r;
  EXPECT_EQ(r.feed(hex("03")).error(), Errc::packet_too_short);
  EXPECT_EQ(r.feed(Bytes{}).error(), Errc::packet_too_short);
  for (int h = 6; h < 256; ++h) EXPECT_EQ(r.feed(Bytes{static_cast<std::uint8_t>(h), 1}).error(), Errc::segment_header_invalid);
  EXPECT_EQ(r.feed(hex("00aa")).error(), Errc::segment_without_start);
  EXPECT_EQ(r.feed(hex("02aa")).error(), Errc::segment_without_start);
  EXPECT_EQ(r.feed(hex("04aa")).error(), Errc::segment_without_start);
  // A new start discards the partial message.
  ASSERT_TRUE(r.feed(hex("01aaaa")));
  auto m = r.feed(hex("03bb"));
  ASSERT_TRUE(m && m->has_value());
  EXPECT_BYTES_EQ((*m)->data, hex("bb"));
  EXPECT_EQ(r.discarded_partials(), 1u);
  // After an end, a continuation is again illegal.
  EXPECT_EQ(r.feed(hex("02cc")).error(), Errc::segment_without_start);
  // Overflow: the cap is enforced and the reassembler recovers.
  Reassembler small(40);
  ASSERT_TRUE(small.feed(Bytes(20, 0x01)));
  ASSERT_TRUE(small.feed(Bytes(20, 0x00)));
  EXPECT_EQ(small.feed(Bytes(20, 0x00)).error(), Errc::reassembly_overflow);
  EXPECT_FALSE(small.in_progress());
  EXPECT_EQ(small.feed(hex("02aa")).error(), Errc::segment_without_start);
  auto ok2 = small.feed(hex("03aa"));
  ASSERT_TRUE(ok2 && ok2->has_value());
  // Default cap 512: one byte more than that overflows.
  Reassembler big;
  ASSERT_TRUE(big.feed([] { Bytes b(257, 0); b[0] = 0x01; return b; }()));
  ASSERT_TRUE(big.feed(Bytes(257, 0)));
  EXPECT_EQ(big.feed(hex("0201")).error(), Errc::reassembly_overflow);
}

// ---- application layer ------------------------------------------------------------------

TEST(SesameMessages, MechStatusOfSection10_4) {
  const auto& v = vectors().at("mech_status");
  auto s = MechStatus::parse(test::hex_field(v, "bytes"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->battery_raw, 2950);
  EXPECT_EQ(s->target, kNoTarget);
  EXPECT_EQ(s->position, -90);
  EXPECT_TRUE(s->locked());
  EXPECT_TRUE(s->is_stopped());
  EXPECT_DOUBLE_EQ(s->volts(), 5.9);
  EXPECT_EQ(s->battery_percent(), 100);
  EXPECT_BYTES_EQ(s->encode(), test::hex_field(v, "bytes"));
  EXPECT_EQ(MechStatus::parse(hex("860b0080a6ff")).error(), Errc::payload_length);
}

TEST(SesameMessages, BatteryPercentFollowsTheTable) {
  EXPECT_EQ(battery_percent_from_volts(6.0), 100);
  EXPECT_EQ(battery_percent_from_volts(5.85), 100);
  EXPECT_EQ(battery_percent_from_volts(5.82), 95);
  EXPECT_EQ(battery_percent_from_volts(5.70), 70);
  EXPECT_EQ(battery_percent_from_volts(5.675), 65);
  EXPECT_EQ(battery_percent_from_volts(5.45), 26);
  EXPECT_EQ(battery_percent_from_volts(4.70), 1);
  EXPECT_EQ(battery_percent_from_volts(4.60), 0);
  EXPECT_EQ(battery_percent_from_volts(3.0), 0);
  MechStatus s;
  s.battery_raw = 2910;  // 5.82 V
  EXPECT_EQ(s.battery_percent(), 95);
}

TEST(SesameMessages, HistoryRecordOfSection10_4) {
  const auto& v = vectors().at("history_record");
  auto r = HistoryRecord::parse(test::hex_field(v, "bytes"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->id, 7);
  EXPECT_EQ(r->type, 1);
  EXPECT_EQ(r->unix_time, 1700000000u);
  EXPECT_EQ(r->status.position, -90);
  EXPECT_EQ(r->tag.kind, HistoryTag::Kind::text);
  EXPECT_EQ(r->tag.text, "SESAME ESP32");
  EXPECT_EQ(r->source, HistoryRecord::Source::ble);
  EXPECT_EQ(r->type_name(), "BLE lock");
  EXPECT_BYTES_EQ(r->encode(), test::hex_field(v, "bytes"));
}

TEST(SesameMessages, HistoryTagOffsetsForWm2AndWeb) {
  Bytes rec = test::hex_field(vectors().at("history_record"), "bytes");
  rec[16] = 12 + 30;  // through WiFi Module 2
  auto wm2 = HistoryRecord::parse(rec);
  ASSERT_TRUE(wm2);
  EXPECT_EQ(wm2->source, HistoryRecord::Source::wifi_module2);
  EXPECT_EQ(wm2->tag.text, "SESAME ESP32");
  EXPECT_BYTES_EQ(wm2->encode(), rec);
  rec[16] = 12 + 60;  // web API
  auto web = HistoryRecord::parse(rec);
  ASSERT_TRUE(web);
  EXPECT_EQ(web->source, HistoryRecord::Source::web);
  EXPECT_EQ(web->tag.text, "SESAME ESP32");
  // Not for other types: 42 is then a length that overruns.
  rec[4] = 7;
  rec[16] = 42;
  EXPECT_EQ(HistoryRecord::parse(rec).error(), Errc::tag_length);
  EXPECT_EQ(HistoryRecord::parse(ByteView(rec).first(15)).error(), Errc::history_record_short);
}

TEST(SesameMessages, UuidTagOfSection10_4AndTextTruncation) {
  const auto& v = vectors().at("uuid_tag");
  auto t = HistoryTag::parse(test::hex_field(v, "bytes"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, HistoryTag::Kind::uuid);
  EXPECT_EQ(t->uuid_type, 14);
  EXPECT_BYTES_EQ(t->uuid, test::hex_field(v, "uuid"));
  EXPECT_EQ(t->describe(), "Android BLE 00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_BYTES_EQ(HistoryTag::from_uuid(14, test::to_array<16>(test::hex_field(v, "uuid"))).encode(),
                  test::hex_field(v, "bytes"));
  // With voltages (Remote).
  Bytes with_v = test::hex_field(v, "bytes");
  append(with_v, hex("6a0b 6b0b ff"));
  auto tv = HistoryTag::parse(with_v);
  ASSERT_TRUE(tv);
  EXPECT_EQ(tv->voltage.value_or(0), 0x0b6a);
  EXPECT_EQ(tv->voltage2.value_or(0), 0x0b6b);
  EXPECT_BYTES_EQ(tv->extra, hex("ff"));
  EXPECT_BYTES_EQ(tv->encode(), with_v);
  // Text: empty, overrun, UTF-8 boundary truncation at 29 bytes.
  EXPECT_BYTES_EQ(HistoryTag::from_text("").encode(), hex("00"));
  EXPECT_EQ(HistoryTag::parse(hex("05414243")).error(), Errc::tag_length);
  EXPECT_EQ(HistoryTag::parse(Bytes{}).error(), Errc::tag_length);
  std::string long_text(28, 'a');
  long_text += "\xc3\xa9";  // 'é' straddles byte 29
  auto enc = HistoryTag::from_text(long_text).encode();
  EXPECT_EQ(enc[0], 28);
  auto ok = HistoryTag::parse(enc);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->text, std::string(28, 'a'));
}

TEST(SesameMessages, FramingAndMalformedMessages) {
  auto resp = parse_device_message(hex("075200"));
  ASSERT_TRUE(resp);
  EXPECT_TRUE(resp->is_response());
  EXPECT_EQ(resp->item, item::lock);
  EXPECT_EQ(resp->result, ResultCode::success);
  auto pub = parse_device_message(hex("080ea1b2c3d4"));
  ASSERT_TRUE(pub);
  EXPECT_BYTES_EQ(pub->payload, hex("a1b2c3d4"));
  EXPECT_EQ(parse_device_message(hex("07")).error(), Errc::message_short);
  EXPECT_EQ(parse_device_message(hex("0752")).error(), Errc::message_short);
  EXPECT_EQ(parse_device_message(hex("0952")).error(), Errc::unknown_op_code);
  EXPECT_EQ(parse_request(Bytes{}).error(), Errc::message_short);
  EXPECT_BYTES_EQ(encode_response(item::login, ResultCode::invalid_signature), hex("070204"));
  EXPECT_BYTES_EQ(encode_publish(item::initial, hex("0c0ffee0")), hex("080e0c0ffee0"));
  auto setting = MechSetting::parse(hex("a6ff00000000"));
  ASSERT_TRUE(setting);
  EXPECT_EQ(setting->lock_position, -90);
  EXPECT_EQ(item_name(item::toggle), "TOGGLE");
  EXPECT_EQ(result_name(ResultCode::not_found), "not found");
}

// ---- share URI --------------------------------------------------------------------------

TEST(SesameShareUri, Os3KeyRoundTrip) {
  const Bytes secret = hex("4a456a3ddd7a2d28af7dd1ea0aa037c2");
  const Uuid uuid = test::to_array<16>(hex("8cbe3f106b4c4d1e9f7a2a3b4c5d6e7f"));
  const std::string uri = build_share_uri(5, secret, uuid, 0, "Front door", 1700000000, 3);
  auto key = parse_share_uri(uri);
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->model, 5);
  EXPECT_FALSE(key->os2);
  EXPECT_BYTES_EQ(key->secret.view(), secret);
  ASSERT_TRUE(key->uuid);
  EXPECT_BYTES_EQ(*key->uuid, uuid);
  EXPECT_EQ(key->key_time.value_or(0), 1700000000u);
  EXPECT_EQ(key->key_index.value_or(0), 3);
  EXPECT_EQ(key->level, 0);
  EXPECT_EQ(key->level_name(), "owner");
  EXPECT_EQ(key->name, "Front door");
}

TEST(SesameShareUri, HandWrittenUrisIncludingOs2AndUnpaddedBase64) {
  // OS3: model 5 || 16 x 11 || time 00f15365 || index 0100 || uuid, base64 without padding, raw '+'.
  Bytes raw = hex("05");
  append(raw, Bytes(16, 0x11));
  append(raw, hex("00f15365 0100 8cbe3f106b4c4d1e9f7a2a3b4c5d6e7f"));
  std::string b64 = base64_encode(raw);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  auto k = parse_share_uri("ssm://UI?t=sk&sk=" + b64 + "&l=2&n=Back%20door");
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->level_name(), "guest");
  EXPECT_EQ(k->name, "Back door");
  EXPECT_BYTES_EQ(k->secret.view(), Bytes(16, 0x11));
  // OS2: 99 bytes with the device public key.
  Bytes os2 = hex("00");
  append(os2, Bytes(16, 0x22));
  append(os2, Bytes(64, 0x33));
  append(os2, Bytes(18, 0x44));
  auto k2 = parse_share_uri("ssm://UI?t=sk&sk=" + base64_encode(os2));
  ASSERT_TRUE(k2);
  EXPECT_TRUE(k2->os2);
  EXPECT_EQ(k2->model, 0);
  ASSERT_TRUE(k2->public_key);
  EXPECT_EQ((*k2->public_key)[0], 0x33);
  EXPECT_EQ(k2->level, -1);
  EXPECT_EQ(base64_decode("TWFu").value(), hex("4d616e"));
  EXPECT_EQ(base64_decode("TWE=").value(), hex("4d61"));
  EXPECT_EQ(base64_decode("_-8").value(), base64_decode("/+8").value());
}

// Hardening (#15 item 11): the key layout decides OS2/OS3, and the model byte must be a model
// of that layout (spec §3: models 0-4 are OS2; OS3 keys come from 5-36 without 12 and 34, the
// Android SDK's CHProductModel list).
TEST(SesameShareUri, ModelByteMustBelongToTheKeyLayout) {
  const Uuid uuid{};
  for (int m : {5, 6, 7, 16, 17, 20, 21, 25, 36}) EXPECT_TRUE(parse_share_uri(build_share_uri(static_cast<std::uint8_t>(m), Bytes(16, 1), uuid, 0, "x"))) << m;
  for (int m : {0, 4, 12, 34, 37, 200, 255})
    EXPECT_EQ(parse_share_uri(build_share_uri(static_cast<std::uint8_t>(m), Bytes(16, 1), uuid, 0, "x")).error(), Errc::uri_model)
        << m;
  Bytes os2 = hex("05");  // an OS2-sized key claiming SESAME 5
  append(os2, Bytes(98, 0x22));
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=" + base64_encode(os2)).error(), Errc::uri_model);
  os2[0] = 4;
  EXPECT_TRUE(parse_share_uri("ssm://UI?t=sk&sk=" + base64_encode(os2)));
}

// Hardening (#15 item 8): the name is attacker-controlled text. Control characters stay in the
// data but print escaped; invalid UTF-8 becomes U+FFFD in the parser itself, so every consumer
// (CLI, Python) sees the same valid text and nothing throws.
TEST(SesameShareUri, NamesWithControlCharactersAndInvalidUtf8) {
  const std::string base = build_share_uri(5, Bytes(16, 1), Uuid{}, 0, "");
  auto k = parse_share_uri(base + "%1B%5B2J%1B%5D0%3Bpwned%07x%00y");
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->name, std::string("\x1b[2J\x1b]0;pwned\x07x\0y", 17));
  EXPECT_EQ(escape_control(k->name), "\\x1b[2J\\x1b]0;pwned\\x07x\\x00y");
  EXPECT_EQ(escape_control("a\\b \xC2\x9B" "1m \xC3\xA9"), "a\\x5cb \\u009b1m \xC3\xA9");  // C1 CSI escaped, é kept
  auto bad = parse_share_uri(base + "%FF%C3caf%C3%A9%ED%A0%80%F4%90%80%80%C0%AF");
  ASSERT_TRUE(bad) << bad.error().message();
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(bad->name, fffd + fffd + "caf\xC3\xA9" + fffd + fffd + fffd + fffd + fffd + fffd + fffd + fffd + fffd);
}

TEST(SesameShareUri, MalformedInputGivesClearErrors) {
  EXPECT_EQ(parse_share_uri("").error(), Errc::uri_scheme);
  EXPECT_EQ(parse_share_uri("https://example.com/?t=sk&sk=AAAA").error(), Errc::uri_scheme);
  EXPECT_EQ(parse_share_uri("ssm://UI?").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=xx&sk=AAAA").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=AA%4").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=AA%zz").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=AAAA&l=owner").error(), Errc::uri_parameter);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=not*base64").error(), Errc::uri_base64);
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=A").error(), Errc::uri_base64);
  // A server token (Aug 2026 format) decodes to an unknown length.
  EXPECT_EQ(parse_share_uri("ssm://UI?t=sk&sk=c2VydmVyLXRva2VuLTEyMzQ1Njc4").error(), Errc::uri_key_format);
  EXPECT_NE(make_error_code(Errc::uri_key_format).message().find("server token"), std::string::npos);
}

}  // namespace
}  // namespace blecrypt::sesame
