// The rest of the SESAME family (issue 13): model codes, the lock items 90/91/92 and Bot 2 / Bike 2
// specifics, the accessory items 101-130 in both directions (client vs the emulated Touch), list
// transfers over many segments, and the Touch-to-lock flow that names the card in the lock's history.
#include <gtest/gtest.h>

#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/bot2.hpp"
#include "blecrypt/sesame/credentials.hpp"
#include "blecrypt/sesame/device.hpp"
#include "helpers.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame {
namespace {

using namespace blecrypt::sesame::testing;
using namespace std::chrono_literals;
using test::hex;

constexpr std::int64_t kUnix = 1700000000;

// ---- parsers ---------------------------------------------------------------------------------

TEST(SesameModels, NewerModelCodesAndRoles) {
  EXPECT_EQ(model_name(model::sesame6), "SESAME 6");
  EXPECT_EQ(model_name(model::sesame6_pro), "SESAME 6 Pro");
  EXPECT_EQ(model_name(model::face), "SESAME Face");
  EXPECT_EQ(model_name(model::touch2_pro), "SESAME Touch 2 Pro");
  EXPECT_EQ(model_name(34), "model 34");
  EXPECT_TRUE(is_credential_accessory(model::touch));
  EXPECT_TRUE(is_credential_accessory(model::face2_pro_ai));
  EXPECT_FALSE(is_credential_accessory(model::remote));
  EXPECT_TRUE(is_key_accessory(model::remote));
  EXPECT_TRUE(is_key_accessory(model::open_sensor));
  EXPECT_FALSE(is_key_accessory(model::sesame5));
  EXPECT_TRUE(is_bot_or_bike(model::bot2));
  EXPECT_TRUE(is_bot_or_bike(model::bike2));
  EXPECT_TRUE(is_os2(model::sesame4));
  EXPECT_FALSE(is_os2(model::sesame5));
  EXPECT_TRUE(is_lock_with_motor(model::sesame6_pro));
  EXPECT_EQ(item_name(item::card_get), "CARD_GET");
  EXPECT_EQ(item_name(173), "RUN_SCRIPT_3");
  EXPECT_EQ(item_name(item::door_closed), "DOOR_CLOSED");
}

// Value computed with python3-cryptography: CMAC(uuid, "candy")[0..5], byte 5 |= 0xC0, reversed.
TEST(SesameModels, Os3AddressFromUuid) {
  for (const crypto::Backend* b : crypto::all_backends()) {
    auto a = address_from_uuid(*b, hex("8cbe3f106b4c4d1e9f7a2a3b4c5d6e7f"));
    ASSERT_TRUE(a) << b->name();
    EXPECT_EQ(*a, "E4:9F:72:D6:7F:05") << b->name();
    EXPECT_EQ(address_from_uuid(*b, Bytes(15, 0)).error(), Errc::invalid_argument);
  }
}

TEST(SesameCredentials, EntriesRoundTripAndBadInputIsTyped) {
  // Vendor doc 110: card_type 0, id 7 bytes, name 8 bytes.
  const Bytes one = hex("00" "07" "01020304050607" "08" "4142434445464748");
  auto list = parse_credential_list(one);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].type, 0);
  EXPECT_BYTES_EQ((*list)[0].id, hex("01020304050607"));
  EXPECT_BYTES_EQ((*list)[0].name, Bytes({'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'}));
  EXPECT_BYTES_EQ(encode_credential_entry((*list)[0]), one);
  Bytes two = one;
  append(two, hex("02" "01" "09" "00"));  // a second entry with an empty name
  list = parse_credential_list(two);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].type, 2);
  EXPECT_TRUE((*list)[1].name.empty());
  // Truncated at every length: a typed error, never a crash.
  for (std::size_t n = 1; n < one.size(); ++n)
    EXPECT_EQ(parse_credential_list(ByteView(one).first(n)).error(), Errc::credential_length) << n;
  EXPECT_EQ(parse_credential_list({}).error(), Errc::message_short);
  EXPECT_EQ(parse_credential_list(hex("000000")).error(), Errc::credential_length);            // zero-length id
  Bytes big = hex("0021");
  append(big, Bytes(33, 1));
  append(big, hex("00"));
  EXPECT_EQ(parse_credential_list(big).error(), Errc::credential_length);                       // id 33 > 32
  // Change request (vendor doc 107): id_len id name_len name, nothing after.
  Credential c;
  c.id = hex("0102030405");
  c.name = Bytes({'d', 'o', 'o', 'r'});
  const Bytes req = encode_credential_change(c);
  EXPECT_BYTES_EQ(req, hex("05" "0102030405" "04" "646f6f72"));
  auto back = parse_credential_change(req);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, c);
  Bytes trailing = req;
  trailing.push_back(0);
  EXPECT_EQ(parse_credential_change(trailing).error(), Errc::credential_length);
  EXPECT_EQ(parse_credential_change(ByteView(req).first(6)).error(), Errc::credential_length);
  EXPECT_EQ(credential_kind_of_item(item::fingerprint_get), CredentialKind::fingerprint);
  EXPECT_EQ(credential_kind_of_item(item::passcode_mode_set), CredentialKind::passcode);
  EXPECT_FALSE(credential_kind_of_item(106));
  EXPECT_FALSE(credential_kind_of_item(131));
  EXPECT_EQ(credential_items(CredentialKind::passcode).get, item::passcode_get);
}

TEST(SesameCredentials, KeySlotsOs3AndOs2) {
  const Uuid os3 = uuid_from_string("8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f").value();
  const Uuid os2 = uuid_from_string("00112233-4455-6677-8899-aabbccddeeff").value();
  std::vector<KeySlot> slots(3);
  slots[0] = KeySlot{KeySlot::Status::locked, false, os3};
  slots[1] = KeySlot{KeySlot::Status::disconnected, true, os2};
  const Bytes b = encode_key_slots(slots);
  ASSERT_EQ(b.size(), 69u);
  EXPECT_BYTES_EQ(ByteView(b).first(23), hex("8cbe3f106b4c4d1e9f7a2a3b4c5d6e7f" "000000000000" "06"));
  EXPECT_EQ(std::string(b.begin() + 23, b.begin() + 45), uuid_base64_name(os2));
  EXPECT_EQ(uuid_base64_name(os2).size(), 22u);
  auto back = parse_key_slots(b);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, slots);
  EXPECT_TRUE((*back)[2].empty());
  EXPECT_EQ(parse_key_slots(ByteView(b).first(68)).error(), Errc::key_slot_length);
  EXPECT_EQ(parse_key_slots({}).error(), Errc::key_slot_length);
  EXPECT_EQ(parse_key_slots(Bytes(23 * 33, 0)).error(), Errc::key_slot_length);
  Bytes garbled = b;
  garbled[23] = '*';  // not base64
  EXPECT_EQ(parse_key_slots(garbled).error(), Errc::key_slot_garbled);
  // ADD_SESAME: OS3 32 bytes, OS2 102 bytes, anything else refused.
  AddSesame a;
  a.uuid = os3;
  a.secret = SecretBytes(hex("4a456a3ddd7a2d28af7dd1ea0aa037c2"));
  const Bytes p3 = encode_add_sesame(a);
  ASSERT_EQ(p3.size(), 32u);
  auto a3 = parse_add_sesame(p3);
  ASSERT_TRUE(a3);
  EXPECT_EQ(a3->uuid, os3);
  EXPECT_TRUE(equal(a3->secret, a.secret));
  a.os2 = true;
  a.uuid = os2;
  a.public_key = crypto::P256Raw{};
  (*a.public_key)[0] = 0x77;
  const Bytes p2 = encode_add_sesame(a);
  ASSERT_EQ(p2.size(), 102u);
  auto a2 = parse_add_sesame(p2);
  ASSERT_TRUE(a2);
  EXPECT_TRUE(a2->os2);
  EXPECT_EQ(a2->uuid, os2);
  EXPECT_EQ((*a2->public_key)[0], 0x77);
  EXPECT_EQ(parse_add_sesame(Bytes(31, 0)).error(), Errc::add_sesame_length);
  EXPECT_EQ(parse_add_sesame(Bytes(102, 0)).error(), Errc::key_slot_garbled);
  EXPECT_EQ(parse_remove_sesame(ByteView(p2).first(22)).value(), os2);
  EXPECT_EQ(parse_remove_sesame(Bytes(15, 0)).error(), Errc::add_sesame_length);
}

TEST(SesameCredentials, CompactMechStatusOfBot2AndBike2) {
  auto s = MechStatus::parse_any(hex("b80b06"));  // 6.00 V, in lock range, stopped
  ASSERT_TRUE(s);
  EXPECT_EQ(s->battery_raw, 3000);
  EXPECT_TRUE(s->locked());
  EXPECT_TRUE(s->is_stopped());
  std::uint8_t out[3];
  s->write_compact(out);
  EXPECT_BYTES_EQ(ByteView(out, 3), hex("b80b06"));
  s = MechStatus::parse_any(hex("b80b00"));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->unlocked());
  EXPECT_FALSE(s->is_stopped());
  EXPECT_EQ(MechStatus::parse_any(hex("b80b")).error(), Errc::payload_length);
  EXPECT_EQ(MechStatus::parse_any(hex("b80b0000")).error(), Errc::payload_length);
}

// ---- engines ---------------------------------------------------------------------------------

struct Rig {
  crypto::DeterministicRng crng{1}, drng{2};
  Client client;
  Device device;
  StrictPipe pipe;
  explicit Rig(DeviceConfig dc, ClientConfig cc = {}, std::size_t pdu = StrictPipe::kWhole)
      : client(with_time(std::move(cc)), crng), device(with_time(std::move(dc)), drng), pipe(client, device, pdu) {}
  static ClientConfig with_time(ClientConfig c) {
    c.unix_time_offset = kUnix;
    return c;
  }
  static DeviceConfig with_time(DeviceConfig d) {
    d.unix_time_offset = kUnix;
    return d;
  }
  std::vector<Client::Event> events() { return drain_events(client); }
  void ok(Result<void> r) {
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_TRUE(pipe.pump());
  }
};

DeviceConfig model_config(std::uint16_t m) {
  DeviceConfig d;
  d.model = m;
  d.uuid = uuid_from_string("8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f").value();
  return d;
}

TEST(SesameLockItems, DoorClosedLocksAfterTheOpsTimerAndDoorOpenCancels) {
  Rig r(model_config(model::sesame5));
  r.pipe.connect();
  ASSERT_TRUE(r.client.ready());
  r.events();
  r.ok(r.client.set_ops_timer(5, r.pipe.now));
  EXPECT_EQ(r.device.ops_timer_seconds(), 5);
  EXPECT_EQ(r.client.accessory_state().ops_timer_seconds, 5);
  auto ev = r.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::ops_timer && e.result == ResultCode::success; }));
  ASSERT_TRUE(r.device.status().unlocked());
  // Door closed, then opened again within 5 s: nothing locks.
  r.ok(r.client.door_closed(r.pipe.now));
  r.pipe.advance(2s);
  r.ok(r.client.door_open(r.pipe.now));
  r.pipe.advance(10s);
  EXPECT_TRUE(r.device.status().unlocked());
  // Door closed: 5 s later the lock locks itself (history type 6, auto-lock).
  const std::size_t before = r.device.history().size();
  r.ok(r.client.door_closed(r.pipe.now));
  r.pipe.advance(4s);
  EXPECT_TRUE(r.device.status().unlocked());
  r.pipe.advance(5s);
  EXPECT_TRUE(r.device.status().locked());
  ASSERT_EQ(r.device.history().size(), before + 1);
  EXPECT_EQ(r.device.history().back().type, 6);
  EXPECT_EQ(r.client.lock_state().position, LockState::Position::locked);
  // A door message with a payload is refused with result 1.
  r.events();
  r.ok(r.client.request(item::door_open, hex("00"), r.pipe.now));
  ev = r.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::door_open && e.result == ResultCode::invalid_format; }));
}

TEST(SesameLockItems, AutolockMagnetMechSettingAndResetOnASesame6) {
  Rig r(model_config(model::sesame6));
  r.pipe.connect();
  ASSERT_TRUE(r.client.ready());
  r.ok(r.client.set_autolock(30, r.pipe.now));
  EXPECT_EQ(r.device.setting().auto_lock_seconds, 30);
  EXPECT_EQ(r.client.lock_state().setting->auto_lock_seconds, 30);
  r.ok(r.client.set_mech_setting(-120, 10, r.pipe.now));
  EXPECT_EQ(r.client.lock_state().setting->lock_position, -120);
  r.events();
  r.ok(r.client.magnet(r.pipe.now));
  auto ev = r.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::magnet && e.result == ResultCode::success; }));
  EXPECT_TRUE(has<events::MechStatus>(ev));
  r.ok(r.client.reset_device(r.pipe.now));
  EXPECT_FALSE(r.device.registered());
}

TEST(SesameBotBike, Bot2RegistersWithTheCompactLayoutAndClicks) {
  for (std::uint16_t m : {model::bot2, model::bike2}) {
    Rig r(model_config(m));
    r.pipe.connect();
    ASSERT_TRUE(r.client.ready()) << m;
    EXPECT_EQ(r.client.device_secret().size(), 16u);
    EXPECT_TRUE(equal(r.client.device_secret(), r.device.secret()));
    auto ev = r.events();
    EXPECT_FALSE(has<events::MechSetting>(ev));  // no setting in the 67-byte response
    ASSERT_TRUE(r.client.lock_state().status);
    EXPECT_EQ(r.client.lock_state().status->battery_raw, 3000);
    r.ok(r.client.click(HistoryTag::from_text("bot"), r.pipe.now));
    ev = r.events();
    const ResultCode want = m == model::bot2 ? ResultCode::success : ResultCode::not_supported;
    EXPECT_TRUE(has<events::CommandResult>(ev, [&](const auto& e) { return e.item == item::click && e.result == want; })) << m;
    r.pipe.advance(2s);
    if (m == model::bot2) {
      EXPECT_EQ(r.device.history().back().tag.text, "bot");
      EXPECT_EQ(r.client.lock_state().position, LockState::Position::locked);  // from the 3-byte publish
    }
    EXPECT_EQ(r.client.run_script(10, {}, r.pipe.now).error(), Errc::invalid_argument);
  }
}

TEST(SesameBotBike, Bot2ScriptsSelectEditListRun) {
  Rig r(model_config(model::bot2));
  r.pipe.connect();
  ASSERT_TRUE(r.client.ready());
  (void)r.events();
  // The name list: ten scripts, the first selected.
  r.ok(r.client.read_script_names(r.pipe.now));
  ASSERT_TRUE(r.client.accessory_state().bot2_scripts);
  EXPECT_EQ(r.client.accessory_state().bot2_scripts->names.size(), 10u);
  EXPECT_EQ(r.client.accessory_state().bot2_scripts->current, 0);
  // Edit script 4, select it, read it back (current), click runs it; RUN_SCRIPT_7 runs script 7.
  const Bot2Script s{"kettle", {{Bot2Action::forward, 7}, {Bot2Action::sleep, 3}, {Bot2Action::reverse, 7}}};
  r.ok(r.client.edit_script(4, s, r.pipe.now));
  EXPECT_EQ(r.device.scripts()[4], s);
  r.ok(r.client.select_script(4, r.pipe.now));
  EXPECT_EQ(r.device.current_script(), 4);
  r.ok(r.client.read_script(std::nullopt, r.pipe.now));
  ASSERT_TRUE(r.client.accessory_state().bot2_script);
  EXPECT_EQ(*r.client.accessory_state().bot2_script, s);
  r.ok(r.client.read_script_names(r.pipe.now));
  EXPECT_EQ(r.client.accessory_state().bot2_scripts->current, 4);
  EXPECT_EQ(r.client.accessory_state().bot2_scripts->names[4], "kettle");
  r.ok(r.client.click(HistoryTag::from_text("go"), r.pipe.now));
  EXPECT_EQ(r.device.last_script_run(), 4);
  r.pipe.advance(2s);
  r.ok(r.client.run_script(7, HistoryTag::from_text("seven"), r.pipe.now));
  EXPECT_EQ(r.device.last_script_run(), 7);
  r.pipe.advance(2s);
  // libsesame3bt's Bot 2 click with a script number (one byte).
  r.ok(r.client.request(item::click, Bytes{2}, r.pipe.now));
  EXPECT_EQ(r.device.last_script_run(), 2);
  // Refusals: a bad index on the device, a script that does not encode on the client.
  (void)r.events();
  r.ok(r.client.request(item::script_select, Bytes{10}, r.pipe.now));
  EXPECT_TRUE(has<events::CommandResult>(r.events(), [](const auto& e) {
    return e.item == item::script_select && e.result == ResultCode::invalid_parameter;
  }));
  EXPECT_EQ(r.client.select_script(10, r.pipe.now).error(), Errc::invalid_argument);
  const Bot2Script unnamed{"", {}}, long_name{std::string(21, 'x'), {}};
  EXPECT_EQ(r.client.edit_script(1, unnamed, r.pipe.now).error(), Errc::invalid_argument);
  EXPECT_EQ(r.client.edit_script(1, long_name, r.pipe.now).error(), Errc::invalid_argument);
  // Not on a lock.
  Rig lock(model_config(model::sesame5));
  lock.pipe.connect();
  lock.ok(lock.client.read_script_names(lock.pipe.now));
  EXPECT_TRUE(has<events::CommandResult>(lock.events(), [](const auto& e) {
    return e.item == item::script_name_list && e.result == ResultCode::not_supported;
  }));
}

TEST(SesameBotBike, Bot2ScriptParsersRefuseBadInput) {
  const Bot2Script s{"ab", {{Bot2Action::stop, 1}}};
  const Bytes enc = s.encode().value();
  EXPECT_EQ(enc.size(), 1u + 20 + 1 + 2);
  EXPECT_EQ(Bot2Script::parse(enc).value(), s);
  for (std::size_t n = 0; n < enc.size(); ++n) EXPECT_EQ(Bot2Script::parse(ByteView(enc).first(n)).error(), Errc::script_format) << n;
  Bytes bad = enc;
  bad[0] = 0;  // name length 0
  EXPECT_EQ(Bot2Script::parse(bad).error(), Errc::script_format);
  bad = enc;
  bad[0] = 21;
  EXPECT_EQ(Bot2Script::parse(bad).error(), Errc::script_format);
  bad = enc;
  bad[22] = 4;  // action code
  EXPECT_EQ(Bot2Script::parse(bad).error(), Errc::script_format);
  bad = enc;
  bad.push_back(0);  // trailing byte: count does not match
  EXPECT_EQ(Bot2Script::parse(bad).error(), Errc::script_format);
  const Bot2Script too_long{"x", std::vector<Bot2Action>(21)};
  EXPECT_EQ(too_long.encode().error(), Errc::invalid_argument);
  const Bot2ScriptList l{1, {"a", "bc"}};
  const Bytes le = l.encode();
  EXPECT_EQ(Bot2ScriptList::parse(le).value(), l);
  for (std::size_t n = 0; n < le.size(); ++n) EXPECT_EQ(Bot2ScriptList::parse(ByteView(le).first(n)).error(), Errc::script_format) << n;
  const Bot2ScriptList past{2, {"a", "b"}};
  EXPECT_EQ(Bot2ScriptList::parse(past.encode()).error(), Errc::script_format);  // current >= count
  Bytes garbled = le;
  garbled[2] = 21;
  EXPECT_EQ(Bot2ScriptList::parse(garbled).error(), Errc::script_format);
}

// ---- the Touch -------------------------------------------------------------------------------

Uuid name_uuid(int i) {
  Uuid u{};
  for (std::size_t k = 0; k < u.size(); ++k) u[k] = static_cast<std::uint8_t>(0x10 * i + k);
  return u;
}

TEST(SesameTouch, RegistersLoginsHoldsKeysAndManagesCards) {
  DeviceConfig dc = model_config(model::touch);
  dc.status.battery_raw = 1450;  // 2.90 V
  Rig r(std::move(dc));
  r.pipe.connect();
  ASSERT_TRUE(r.client.ready());  // 64-byte registration response (public key only)
  auto ev = r.events();
  ASSERT_TRUE(has<events::Registered>(ev));
  // After registration the Touch publishes its battery (81) and key slots (102).
  EXPECT_EQ(r.client.lock_state().status->battery_raw, 1450);
  ASSERT_EQ(r.client.accessory_state().key_slots.size(), 3u);
  EXPECT_TRUE(r.client.accessory_state().key_slots[0].empty());
  // Keys: add two locks, then a fourth one does not fit the three slots.
  const Uuid lock1 = name_uuid(1), lock2 = name_uuid(2);
  r.ok(r.client.add_sesame(lock1, Bytes(16, 0x11), r.pipe.now));
  r.ok(r.client.add_sesame(lock2, Bytes(16, 0x22), r.pipe.now));
  ASSERT_EQ(r.client.accessory_state().key_slots.size(), 3u);
  EXPECT_EQ(r.client.accessory_state().key_slots[0].uuid, lock1);
  EXPECT_EQ(r.client.accessory_state().key_slots[1].uuid, lock2);
  EXPECT_EQ(r.client.accessory_state().key_slots[1].status, KeySlot::Status::disconnected);
  r.ok(r.client.add_sesame(name_uuid(3), Bytes(16, 0x33), r.pipe.now));
  r.events();
  r.ok(r.client.add_sesame(name_uuid(4), Bytes(16, 0x44), r.pipe.now));
  ev = r.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::add_sesame && e.result == ResultCode::storage_fail; }));
  r.ok(r.client.remove_sesame(name_uuid(3), r.pipe.now));
  EXPECT_TRUE(r.client.accessory_state().key_slots[2].empty());
  r.ok(r.client.remove_sesame(name_uuid(3), r.pipe.now));
  ev = r.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::remove_sesame && e.result == ResultCode::not_found; }));
  EXPECT_EQ(r.client.add_sesame(lock1, Bytes(15, 0), r.pipe.now).error(), Errc::invalid_argument);
  // Lock commands are not a Touch's business.
  r.ok(r.client.lock(HistoryTag::from_text("x"), r.pipe.now));
  ev = r.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::lock && e.result == ResultCode::not_supported; }));

  for (CredentialKind kind : {CredentialKind::card, CredentialKind::fingerprint, CredentialKind::passcode}) {
    SCOPED_TRACE(credential_kind_name(kind));
    const CredentialItems it = credential_items(kind);
    // Add mode, present two credentials: each is stored and published (CHANGE) to the client.
    r.ok(r.client.set_credential_mode(kind, 1, r.pipe.now));
    EXPECT_EQ(r.device.credential_mode(kind), 1);
    EXPECT_EQ(r.client.accessory_state().modes[static_cast<std::size_t>(kind)], 1);
    ASSERT_TRUE(r.device.present_credential(kind, hex("04a1b2c3"), r.pipe.now));
    ASSERT_TRUE(r.device.present_credential(kind, hex("04d4e5f6a7"), r.pipe.now));
    ASSERT_TRUE(r.pipe.pump());
    EXPECT_EQ(r.device.credentials(kind).size(), 2u);
    EXPECT_EQ(r.client.accessory_state().list(kind).size(), 2u);
    // Rename one to a UUID (what the current apps do), list, delete the other.
    r.ok(r.client.rename_credential(kind, hex("04a1b2c3"), name_uuid(9), r.pipe.now));
    const Uuid nine = name_uuid(9);
    EXPECT_BYTES_EQ(r.device.credentials(kind)[0].name, Bytes(nine.begin(), nine.end()));
    r.ok(r.client.list_credentials(kind, r.pipe.now));
    EXPECT_TRUE(r.client.accessory_state().list_complete[static_cast<std::size_t>(kind)]);
    EXPECT_EQ(r.client.accessory_state().list(kind), r.device.credentials(kind));
    r.ok(r.client.delete_credential(kind, hex("04d4e5f6a7"), r.pipe.now));
    EXPECT_EQ(r.device.credentials(kind).size(), 1u);
    r.events();
    r.ok(r.client.delete_credential(kind, hex("04d4e5f6a7"), r.pipe.now));
    ev = r.events();
    EXPECT_TRUE(has<events::CommandResult>(ev, [&](const auto& e) { return e.item == it.del && e.result == ResultCode::not_found; }));
    r.ok(r.client.rename_credential(kind, hex("99"), Bytes{'x'}, r.pipe.now));
    ev = r.events();
    EXPECT_TRUE(has<events::CommandResult>(ev, [&](const auto& e) { return e.item == it.change && e.result == ResultCode::not_found; }));
    r.ok(r.client.set_credential_mode(kind, 0, r.pipe.now));
    r.ok(r.client.get_credential_mode(kind, r.pipe.now));
    ev = r.events();
    EXPECT_TRUE(has<events::CommandResult>(ev, [&](const auto& e) {
      return e.item == it.mode_get && e.result == ResultCode::success && e.payload == Bytes{0};
    }));
    EXPECT_EQ(r.client.set_credential_mode(kind, 2, r.pipe.now).error(), Errc::invalid_argument);
  }
  // A lock model answers credential items "not supported"; present_credential refuses.
  Rig lock(model_config(model::sesame5));
  lock.pipe.connect();
  lock.ok(lock.client.list_credentials(CredentialKind::card, lock.pipe.now));
  ev = lock.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::card_get && e.result == ResultCode::not_supported; }));
  EXPECT_EQ(lock.device.present_credential(CredentialKind::card, hex("01"), lock.pipe.now).error(), Errc::invalid_argument);
}

// List transfers over many segments: list lengths from 0 to 40 cards, three notify message sizes
// and three packet sizes (20-byte default ATT, 7 bytes, and 244 for ATT_MTU 247 as the apps use
// with Touch devices), so the message and segment boundaries fall everywhere.
TEST(SesameTouch, LongListTransfersAcrossSegmentBoundaries) {
  for (std::size_t msg : {std::size_t{30}, std::size_t{100}, std::size_t{240}}) {
    for (std::size_t pdu : {std::size_t{20}, std::size_t{7}, std::size_t{244}}) {
      DeviceConfig dc = model_config(model::touch_pro);
      dc.list_message_size = msg;
      dc.packet_size = pdu;
      ClientConfig cc;
      cc.packet_size = pdu;
      Rig r(std::move(dc), std::move(cc));
      r.pipe.connect();
      ASSERT_TRUE(r.client.ready());
      ASSERT_TRUE(r.client.set_credential_mode(CredentialKind::card, 1, r.pipe.now));
      ASSERT_TRUE(r.pipe.pump());
      for (int n = 0; n <= 40; ++n) {
        if (n > 0) {
          Bytes id = {0x04, static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n * 7)};
          id.resize(3 + static_cast<std::size_t>(n % 8), 0xEE);  // ids of 3..10 bytes
          ASSERT_TRUE(r.device.present_credential(CredentialKind::card, id, r.pipe.now));
          ASSERT_TRUE(r.pipe.pump());
        }
        if (n % 7 != 0 && n != 40) continue;
        r.events();
        ASSERT_TRUE(r.client.list_credentials(CredentialKind::card, r.pipe.now));
        ASSERT_TRUE(r.pipe.pump());
        auto ev = r.events();
        EXPECT_EQ(r.client.accessory_state().list(CredentialKind::card), r.device.credentials(CredentialKind::card))
            << "msg " << msg << " pdu " << pdu << " n " << n;
        const std::size_t notifies = count<events::Publish>(ev, [](const auto& e) { return e.item == item::card_notify; });
        if (n == 0) {
          EXPECT_EQ(notifies, 0u);
        }
        if (n == 40) {
          EXPECT_GE(notifies, 2u);  // 40 entries of 6-13 bytes never fit one message of <= 240
        }
        EXPECT_TRUE(has<events::Publish>(ev, [](const auto& e) { return e.item == item::card_first; }));
        EXPECT_TRUE(has<events::Publish>(ev, [](const auto& e) { return e.item == item::card_last; }));
      }
    }
  }
}

// Issue 13's end-to-end flow: a phone registers a SESAME 5 and a Touch, gives the Touch the lock's
// key, adds a card and names it; a swipe makes the Touch operate the lock; the lock's history names
// the card (UUID tag type 0 = NFC card, the card's name, the Touch's battery voltage).
TEST(SesameTouch, CardSwipeUnlocksTheHeldLockAndTheHistoryNamesTheCard) {
  crypto::DeterministicRng rng_phone1{11}, rng_phone2{12}, rng_lock{13}, rng_touch{14}, rng_relay{15};
  DeviceConfig lock_cfg = model_config(model::sesame5);
  lock_cfg.unix_time_offset = kUnix;
  lock_cfg.status = MechStatus{3000, kNoTarget, -90, MechStatus::in_lock_range | MechStatus::stopped};
  Device lock(std::move(lock_cfg), rng_lock);
  DeviceConfig touch_cfg = model_config(model::touch);
  touch_cfg.uuid = name_uuid(7);
  touch_cfg.status.battery_raw = 1500;  // 3.00 V
  Device touch(std::move(touch_cfg), rng_touch);

  // The phone registers the lock.
  ClientConfig pc;
  pc.unix_time_offset = kUnix;
  Client phone_lock(pc, rng_phone1);
  StrictPipe to_lock(phone_lock, lock);
  to_lock.connect();
  ASSERT_TRUE(phone_lock.ready());
  const SecretBytes lock_secret = phone_lock.device_secret();
  to_lock.disconnect();

  // The phone registers the Touch, hands it the lock's key and enrols a card named by a UUID.
  Client phone_touch(pc, rng_phone2);
  StrictPipe to_touch(phone_touch, touch, StrictPipe::kWhole, to_lock.now);
  to_touch.connect();
  ASSERT_TRUE(phone_touch.ready());
  const Uuid lock_uuid = lock.advertisement().uuid;
  ASSERT_TRUE(phone_touch.add_sesame(lock_uuid, lock_secret.view(), to_touch.now));
  ASSERT_TRUE(phone_touch.set_credential_mode(CredentialKind::card, 1, to_touch.now));
  ASSERT_TRUE(to_touch.pump());
  const Bytes card_id = hex("04a224b2c35e80");
  ASSERT_TRUE(touch.present_credential(CredentialKind::card, card_id, to_touch.now));
  const Uuid card_name = uuid_from_string("c0ffee00-1234-4abc-8def-0123456789ab").value();
  ASSERT_TRUE(phone_touch.rename_credential(CredentialKind::card, card_id, card_name, to_touch.now));
  ASSERT_TRUE(phone_touch.set_credential_mode(CredentialKind::card, 0, to_touch.now));
  ASSERT_TRUE(to_touch.pump());
  to_touch.disconnect();
  drain_events(touch);

  // An unknown card does nothing.
  auto swiped = touch.present_credential(CredentialKind::card, hex("0400"), to_touch.now);
  ASSERT_TRUE(swiped);
  EXPECT_FALSE(*swiped);
  EXPECT_TRUE(of<events::OperateLock>(drain_events(touch)).empty());

  // The swipe: the Touch asks to operate its lock.
  swiped = touch.present_credential(CredentialKind::card, card_id, to_touch.now);
  ASSERT_TRUE(swiped);
  ASSERT_TRUE(*swiped);
  auto ops = of<events::OperateLock>(drain_events(touch));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].lock, lock_uuid);
  EXPECT_EQ(ops[0].item, item::unlock);
  EXPECT_TRUE(equal(ops[0].secret, lock_secret));

  // The Touch's connection to the lock: a client with the held key logs in and sends the command.
  Client relay(operate_lock_config(ops[0]), rng_relay);
  StrictPipe touch_to_lock(relay, lock, StrictPipe::kWhole, to_touch.now);
  touch_to_lock.connect();
  ASSERT_TRUE(relay.ready());
  ASSERT_TRUE(relay.request(ops[0].item, ops[0].tag.encode(), touch_to_lock.now));
  touch_to_lock.advance(3s);
  EXPECT_TRUE(lock.status().unlocked());

  // The lock's history names the card; the phone reads it like any history record.
  const HistoryRecord& rec = lock.history().back();
  EXPECT_EQ(rec.type, 2);  // BLE unlock
  EXPECT_EQ(rec.tag.kind, HistoryTag::Kind::uuid);
  EXPECT_EQ(rec.tag.uuid_type, 0);  // NFC card
  EXPECT_EQ(rec.tag.uuid, card_name);
  EXPECT_EQ(rec.tag.voltage, 1500);
  EXPECT_EQ(rec.tag.describe(), "NFC card c0ffee00-1234-4abc-8def-0123456789ab 3.00 V");
  Client phone_again(pc, rng_phone1);
  ClientConfig with_secret = pc;
  with_secret.secret = lock_secret;
  Client reader(with_secret, rng_phone1);
  StrictPipe read(reader, lock, StrictPipe::kWhole, touch_to_lock.now);
  read.connect();
  ASSERT_TRUE(reader.ready());
  ASSERT_TRUE(reader.drain_history(read.now));
  ASSERT_TRUE(read.pump());
  auto records = of<events::History>(drain_events(reader));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().record.tag.uuid, card_name);
  EXPECT_EQ(records.back().record.tag.uuid_type, 0);
}

// A card without a UUID name goes into the history as text.
TEST(SesameTouch, UnnamedAndTextNamedCredentialsBecomeTextTags) {
  crypto::DeterministicRng rng{3};
  DeviceConfig dc = model_config(model::face);
  Device face(std::move(dc), rng);
  const Uuid lock = name_uuid(5);
  // Hold a key without a phone: the same request a phone sends, fed through a logged-in client.
  crypto::DeterministicRng crng{4};
  Client phone(ClientConfig{}, crng);
  StrictPipe pipe(phone, face);
  pipe.connect();
  ASSERT_TRUE(phone.ready());
  ASSERT_TRUE(phone.add_sesame(lock, Bytes(16, 9), pipe.now));
  ASSERT_TRUE(phone.set_credential_mode(CredentialKind::fingerprint, 1, pipe.now));
  ASSERT_TRUE(pipe.pump());
  ASSERT_TRUE(face.present_credential(CredentialKind::fingerprint, hex("07"), pipe.now));
  ASSERT_TRUE(phone.set_credential_mode(CredentialKind::fingerprint, 0, pipe.now));
  ASSERT_TRUE(pipe.pump());
  drain_events(face);
  ASSERT_TRUE(face.present_credential(CredentialKind::fingerprint, hex("07"), pipe.now).value());
  auto ops = of<events::OperateLock>(drain_events(face));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].tag.kind, HistoryTag::Kind::text);
  EXPECT_EQ(ops[0].tag.text, "fingerprint 07");
  ASSERT_TRUE(phone.rename_credential(CredentialKind::fingerprint, hex("07"), Bytes{'K', 'e', 'n'}, pipe.now));
  ASSERT_TRUE(pipe.pump());
  ASSERT_TRUE(face.present_credential(CredentialKind::fingerprint, hex("07"), pipe.now).value());
  ops = of<events::OperateLock>(drain_events(face));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].tag.text, "Ken");
  EXPECT_EQ(face.present_credential(CredentialKind::fingerprint, {}, pipe.now).error(), Errc::credential_length);
}

// Bad accessory publishes (sealed under the session key, so they reach the parsers) are typed
// errors at the client; the session goes on and a good publish after them is taken.
TEST(SesameTouch, MalformedAccessoryPublishesAreRefused) {
  const Bytes secret = hex("4a456a3ddd7a2d28af7dd1ea0aa037c2");
  const RandomCode code{0x0c, 0x0f, 0xfe, 0xe0};
  crypto::ScriptedRng dev_rng({Bytes(code.begin(), code.end())});
  crypto::DeterministicRng cli_rng(1);
  ClientConfig cc;
  cc.secret = SecretBytes(secret);
  cc.auto_time_sync = false;
  DeviceConfig dc = model_config(model::touch);
  dc.secret = SecretBytes(secret);
  Client client(std::move(cc), cli_rng);
  Device device(std::move(dc), dev_rng);
  StrictPipe pipe(client, device);
  pipe.connect();
  ASSERT_TRUE(client.ready());
  auto key = derive_session_key(crypto::default_backend(), secret, code);
  ASSERT_TRUE(key);
  auto forger = SessionCipher::create(crypto::default_backend(), *key, code);
  ASSERT_TRUE(forger);
  for (std::uint64_t i = 0; i < device.tx_counter(); ++i) ASSERT_TRUE(forger->seal(Bytes{1}));
  auto feed = [&](std::uint8_t it, const Bytes& payload) -> Result<void> {
    auto sealed = forger->seal(encode_publish(it, payload));
    if (!sealed) return Unexpected{sealed.error()};
    std::vector<Bytes> pkts;
    BLECRYPT_TRY_VOID(segment(*sealed, SegmentKind::ciphertext, pkts));
    Result<void> last = ok();
    for (const auto& p : pkts) last = client.feed(p, pipe.now);
    return last;
  };
  EXPECT_EQ(feed(item::pub_key_sesame, Bytes(22, 0)).error(), Errc::key_slot_length);
  Bytes bad_slot(23, 0);
  bad_slot[0] = '*';
  bad_slot[21] = 'A';
  bad_slot[22] = 1;
  EXPECT_EQ(feed(item::pub_key_sesame, bad_slot).error(), Errc::key_slot_garbled);
  EXPECT_EQ(feed(item::card_notify, hex("0005")).error(), Errc::credential_length);
  EXPECT_EQ(feed(item::card_change, hex("00ff01")).error(), Errc::credential_length);
  EXPECT_EQ(feed(item::card_mode_set, hex("0001")).error(), Errc::payload_length);
  EXPECT_EQ(feed(item::ops_timer, hex("05")).error(), Errc::payload_length);
  EXPECT_EQ(client.state(), Client::State::ready);
  std::vector<KeySlot> one(1);
  one[0] = KeySlot{KeySlot::Status::connected, false, name_uuid(3)};
  ASSERT_TRUE(feed(item::pub_key_sesame, encode_key_slots(one)));
  EXPECT_EQ(client.accessory_state().key_slots, one);
}

// ---- server role: blecrypt as the lock that accessories operate -------------------------------

// What an accessory host does with events::OperateLock: connect to the lock with the held key, send
// the item with its payload, wait for the answer, disconnect. Returns the lock's answer.
ResultCode carry_out(const events::OperateLock& op, Device& lock, TimePoint& now) {
  crypto::DeterministicRng rng{99};
  Client relay(operate_lock_config(op), rng);
  StrictPipe pipe(relay, lock, StrictPipe::kWhole, now);
  pipe.connect();
  EXPECT_TRUE(relay.ready());
  EXPECT_TRUE(relay.request(op.item, op.payload(), pipe.now));
  EXPECT_TRUE(pipe.pump());
  ResultCode rc = ResultCode::unknown;
  for (const auto& e : of<events::CommandResult>(drain_events(relay)))
    if (e.item == op.item) rc = e.result;
  pipe.disconnect();
  now = pipe.now;
  return rc;
}

// Pairs an accessory with a lock the way the app does: register both, give the accessory the key.
SecretBytes pair_accessory(Device& lock, Device& accessory, TimePoint& now) {
  crypto::DeterministicRng r1{31}, r2{32};
  ClientConfig pc;
  pc.unix_time_offset = kUnix;
  Client phone(pc, r1);
  StrictPipe to_lock(phone, lock, StrictPipe::kWhole, now);
  to_lock.connect();
  EXPECT_TRUE(phone.ready());
  SecretBytes secret = phone.device_secret();
  to_lock.disconnect();
  Client phone2(pc, r2);
  StrictPipe to_acc(phone2, accessory, StrictPipe::kWhole, to_lock.now);
  to_acc.connect();
  EXPECT_TRUE(phone2.ready());
  EXPECT_TRUE(phone2.add_sesame(lock.advertisement().uuid, secret.view(), to_acc.now));
  EXPECT_TRUE(to_acc.pump());
  to_acc.disconnect();
  now = to_acc.now;
  drain_events(lock);
  drain_events(accessory);
  return secret;
}

TEST(SesameServerRole, AnEmulatedRemotePressReachesTheLockWithTheRemotesIdentity) {
  for (std::uint16_t m : {model::remote, model::remote_nano}) {
    crypto::DeterministicRng rl{41}, rr{42};
    Device lock(model_config(model::sesame5), rl);
    DeviceConfig rc = model_config(m);
    rc.uuid = name_uuid(6);
    rc.status.battery_raw = 1480;
    Device remote(std::move(rc), rr);
    TimePoint now = time_from_seconds(1000);
    pair_accessory(lock, remote, now);
    ASSERT_TRUE(remote.press_button(now));
    auto ops = of<events::OperateLock>(drain_events(remote));
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].item, item::toggle);
    EXPECT_EQ(carry_out(ops[0], lock, now), ResultCode::success);
    auto presses = of<events::Operated>(drain_events(lock));
    ASSERT_EQ(presses.size(), 1u);  // one event per press
    EXPECT_EQ(presses[0].item, item::toggle);
    EXPECT_EQ(presses[0].tag.kind, HistoryTag::Kind::uuid);
    EXPECT_EQ(presses[0].tag.uuid_type, m == model::remote ? 10 : 11);
    EXPECT_EQ(presses[0].tag.uuid, name_uuid(6));
    EXPECT_EQ(presses[0].tag.voltage, 1480);
    // A second press: a second event.
    ASSERT_TRUE(remote.press_button(now));
    ops = of<events::OperateLock>(drain_events(remote));
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(carry_out(ops[0], lock, now), ResultCode::success);
    EXPECT_EQ(of<events::Operated>(drain_events(lock)).size(), 1u);
  }
  crypto::DeterministicRng r{1};
  Device lock(model_config(model::sesame5), r);
  EXPECT_EQ(lock.press_button(TimePoint{}).error(), Errc::invalid_argument);
  EXPECT_EQ(lock.set_door(true, TimePoint{}).error(), Errc::invalid_argument);
}

TEST(SesameServerRole, OpenSensorDoorEventsDriveTheOpsTimer) {
  crypto::DeterministicRng rl{51}, rs{52}, rp{53};
  DeviceConfig lc = model_config(model::sesame5);
  lc.unix_time_offset = kUnix;
  Device lock(std::move(lc), rl);
  Device sensor(model_config(model::open_sensor), rs);
  TimePoint now = time_from_seconds(1000);
  const SecretBytes secret = pair_accessory(lock, sensor, now);
  // The owner sets "lock 3 s after the door closed".
  ClientConfig oc;
  oc.secret = secret;
  oc.unix_time_offset = kUnix;
  Client owner(oc, rp);
  StrictPipe op(owner, lock, StrictPipe::kWhole, now);
  op.connect();
  ASSERT_TRUE(owner.set_ops_timer(3, op.now));
  ASSERT_TRUE(op.pump());
  op.disconnect();
  now = op.now;
  ASSERT_TRUE(lock.status().unlocked());
  ASSERT_TRUE(sensor.set_door(false, now));
  auto ops = of<events::OperateLock>(drain_events(sensor));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].item, item::door_closed);
  EXPECT_TRUE(ops[0].payload().empty());
  EXPECT_EQ(carry_out(ops[0], lock, now), ResultCode::success);
  EXPECT_TRUE(has<events::DoorChanged>(drain_events(lock), [](const auto& e) { return !e.open; }));
  // Nobody is connected: the lock's own deadlines run the timer and the motor.
  for (int i = 0; i < 100 && lock.next_deadline(); ++i) {
    const TimePoint d = *lock.next_deadline();
    lock.on_deadline(d);
    now = d;
  }
  EXPECT_TRUE(lock.status().locked());
  EXPECT_EQ(lock.history().back().type, 6);
}

}  // namespace
}  // namespace blecrypt::sesame
