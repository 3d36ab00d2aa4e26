// The model table (models.hpp): its consistency, decoding of register images (captured ones from
// public issue threads and synthetic ones per family), the setting encoder's ranges, detection,
// V1 pack paging against the emulator, and a client <-> emulator round trip of every field and
// every setting of every model.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "blecrypt/bluetti/models.hpp"
#include "pair.hpp"

namespace blecrypt::bluetti {
namespace {

using namespace blecrypt::bluetti::models;
using testing::Pair;

const Model& model_named(std::string_view name) {
  const Model* m = find(name);
  EXPECT_NE(m, nullptr) << name;
  return *m;
}

const Reading* reading(const std::vector<Reading>& rs, std::string_view name) {
  for (const auto& r : rs)
    if (r.field->name == name) return &r;
  return nullptr;
}

double number(const Reading* r) {
  EXPECT_NE(r, nullptr);
  if (!r) return NAN;
  if (auto* d = std::get_if<double>(&r->value)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&r->value)) return static_cast<double>(*i);
  if (auto* u = std::get_if<std::uint64_t>(&r->value)) return static_cast<double>(*u);
  ADD_FAILURE() << r->field->name << " is not a number";
  return NAN;
}

bool inside(const Field& f, std::span<const Block> blocks) {
  for (const auto& b : blocks)
    if (f.address >= b.address && std::uint32_t(f.address) + f.words <= std::uint32_t(b.address) + b.count) return true;
  return false;
}

// ---- the table --------------------------------------------------------------------------

TEST(BluettiModels, TableIsConsistent) {
  std::set<std::string_view> names;
  ASSERT_GE(all().size(), 28u);
  for (const auto& m : all()) {
    SCOPED_TRACE(std::string(m.name));
    EXPECT_TRUE(names.insert(m.name).second) << "duplicate model";
    EXPECT_EQ(find(m.name), &m);
    EXPECT_FALSE(m.blocks.empty());
    std::set<std::string_view> fields;
    std::set<std::uint32_t> used;
    auto check = [&](const Field& f, std::span<const Block> blocks) {
      SCOPED_TRACE(std::string(f.name));
      EXPECT_TRUE(fields.insert(f.name).second) << "duplicate field name";
      EXPECT_TRUE(inside(f, blocks)) << "field outside every block";
      EXPECT_GE(f.words, 1);
      EXPECT_LE(f.words, 32);  // the decoder's limit
      if (f.type == Type::enumeration) {
        EXPECT_FALSE(f.choices.empty());
        bool listed = false;
        for (const auto& c : f.choices) listed |= c.value == f.sample;
        EXPECT_TRUE(listed) << "sample not one of the choices";
      }
      if (f.settable) {
        EXPECT_TRUE(f.type == Type::boolean || f.type == Type::boolean_one || f.type == Type::enumeration ||
                    f.type == Type::uint16);
        EXPECT_NE(f.component, Component::sensor);
        EXPECT_LE(f.min, f.max);
      }
      EXPECT_GT(f.scale, 0);
    };
    for (const auto& f : m.fields) {
      check(f, m.blocks);
      for (std::uint32_t i = 0; i < f.words; ++i) EXPECT_TRUE(used.insert(f.address + i).second) << f.name << " overlaps";
    }
    for (const auto& f : m.packs.fields) check(f, m.packs.blocks);
    for (const auto& b : m.blocks) EXPECT_TRUE(b.count >= 1 && b.count <= modbus::kMaxRead);
    for (const auto& b : m.packs.blocks) EXPECT_TRUE(b.count >= 1 && b.count <= modbus::kMaxRead);
    // Every model names itself and its serial, and reads its SOC.
    ASSERT_NE(field(m, "device_type"), nullptr);
    EXPECT_EQ(field(m, "device_type")->address, m.protocol == Protocol::iot_v2 ? 110 : 10);
    ASSERT_NE(field(m, "serial_number"), nullptr);
    ASSERT_NE(field(m, "total_battery_percent"), nullptr);
    if (m.packs.max_packs > 1) {
      EXPECT_NE(m.packs.selector, 0);
    }
  }
  EXPECT_EQ(find("ac300"), find("AC300"));
  EXPECT_EQ(find("AC9000"), nullptr);
}

// ---- decoding of captured register images ----------------------------------------------

// AC200M, Patrick762/hassio-bluetti-bt issue #137 (2024-09-04 debug log): after "WriteSingleRegister
// (address=3006, value=0x01)" the read of 91 x37 parsed as pack_num_max 3, total_battery_voltage
// 539.5 (that version used 0.1 V), pack_num 1, pack_voltage 53.95, pack_battery_percent 95, and
// cells 3.36 x9, 3.37, 3.36, 3.37, 3.36 x4. The raw words below are those values unscaled.
TEST(BluettiModels, DecodesTheAC200MPackLogOfHassioIssue137) {
  const Model& m = model_named("AC200M");
  RegisterValues regs{{91, 3}, {92, 5395}, {96, 1}, {98, 5395}, {99, 95}};
  const std::uint16_t cells[16] = {336, 336, 336, 336, 336, 336, 336, 336, 336, 337, 336, 337, 336, 336, 336, 336};
  for (std::uint16_t i = 0; i < 16; ++i) regs[static_cast<std::uint16_t>(105 + i)] = cells[i];
  auto main = decode(m, regs);
  EXPECT_EQ(number(reading(main, "pack_num_max")), 3);
  EXPECT_NEAR(number(reading(main, "total_battery_voltage")), 53.95, 1e-9);  // 0.01 V on the AC200M
  auto pack = decode_pack(m, 1, regs);
  EXPECT_EQ(number(reading(pack, "pack_selected")), 1);
  EXPECT_NEAR(number(reading(pack, "pack_voltage")), 53.95, 1e-9);
  EXPECT_EQ(number(reading(pack, "pack_battery_percent")), 95);
  const auto* c = reading(pack, "cell_voltages");
  ASSERT_NE(c, nullptr);
  const auto& v = std::get<std::vector<double>>(c->value);
  ASSERT_EQ(v.size(), 16u);
  EXPECT_NEAR(v[9], 3.37, 1e-9);
  EXPECT_EQ(to_text(*c).substr(0, 10), "[3.36,3.36");
  EXPECT_EQ(c->pack, 1u);
}

// EP500P, warhammerkid/bluetti_mqtt issue #54 (2023-01-05): "pack_num_max 1, pack_voltage 53.8,
// pack_battery_percent 96, pack_num 1, cell_voltages [3.35, 3.36, 3.35, 3.35, 3.36, 3.35, 3.35,
// 3.35, 3.35, 3.35, 3.35, 3.36, 3.36, 3.35, 3.35, 3.35]".
TEST(BluettiModels, DecodesTheEP500PPackLogOfBluettiMqttIssue54) {
  const Model& m = model_named("EP500P");
  RegisterValues regs{{91, 1}, {92, 538}, {94, 96}, {96, 1}};
  const std::uint16_t cells[16] = {335, 336, 335, 335, 336, 335, 335, 335, 335, 335, 335, 336, 336, 335, 335, 335};
  for (std::uint16_t i = 0; i < 16; ++i) regs[static_cast<std::uint16_t>(105 + i)] = cells[i];
  auto pack = decode_pack(m, 1, regs);
  EXPECT_NEAR(number(reading(pack, "pack_voltage")), 53.8, 1e-9);
  EXPECT_EQ(number(reading(pack, "pack_battery_percent")), 96);
  double sum = 0;
  for (double x : std::get<std::vector<double>>(reading(pack, "cell_voltages")->value)) sum += x;
  EXPECT_NEAR(sum, 53.64, 1e-9);  // the BMS measures the pack voltage on its own
  EXPECT_EQ(number(reading(decode(m, regs), "pack_num_max")), 1);
}

// AC500, Patrick762/hassio-bluetti-bt issue #76: the app shows 228.8 V and 50 Hz where a version
// that read 71/74 with the wrong scale showed "2288V" and "500Hz": raw 2288 and 5000.
TEST(BluettiModels, DecodesTheAC500InverterScalesOfHassioIssue76) {
  const Model& m = model_named("AC500");
  RegisterValues regs{{70, 1}, {71, 2288}, {74, 5000}, {3001, 2}, {3005, 1}, {3061, 5}};
  auto rs = decode(m, regs);
  EXPECT_NEAR(number(reading(rs, "internal_ac_voltage")), 228.8, 1e-9);
  EXPECT_NEAR(number(reading(rs, "internal_ac_frequency")), 50.0, 1e-9);
  EXPECT_EQ(to_text(*reading(rs, "ac_output_mode")), "INVERTER_OUTPUT");
  EXPECT_EQ(to_text(*reading(rs, "ctrl_ups_mode")), "PV_PRIORITY");
  EXPECT_EQ(to_json(*reading(rs, "ctrl_split_phase_mode")), "\"MASTER\"");
  EXPECT_EQ(to_text(*reading(rs, "ctrl_display_timeout")), "NEVER");
}

// ---- decoding per family (synthetic images) --------------------------------------------

TEST(BluettiModels, DecodesAV2ImageOfTheAC180Family) {
  const Model& m = model_named("AC180");
  RegisterValues regs;
  std::uint16_t w[6];
  encode_model(Protocol::iot_v2, "AC180", w, 6);
  for (std::uint16_t i = 0; i < 6; ++i) regs[static_cast<std::uint16_t>(110 + i)] = w[i];
  std::uint16_t sn[4];
  encode_serial(2524610159690ULL, sn);
  for (std::uint16_t i = 0; i < 4; ++i) regs[static_cast<std::uint16_t>(116 + i)] = sn[i];
  regs[102] = 87;
  regs[140] = 12;
  regs[142] = 230;
  regs[144] = 305;
  regs[146] = 0;
  regs[1213] = 362;
  regs[1511] = 2301;
  regs[2011] = 1;
  regs[2012] = 0;
  regs[2015] = 2;
  regs[2020] = 2;
  regs[6175] = 1025;
  regs[6176] = 0;
  auto rs = decode(m, regs);
  EXPECT_EQ(to_text(*reading(rs, "device_type")), "AC180");
  EXPECT_EQ(std::get<std::uint64_t>(reading(rs, "serial_number")->value), 2524610159690ULL);
  EXPECT_EQ(number(reading(rs, "total_battery_percent")), 87);
  EXPECT_EQ(number(reading(rs, "dc_input_power")), 305);
  EXPECT_NEAR(number(reading(rs, "dc_input_voltage")), 36.2, 1e-9);
  EXPECT_EQ(to_text(*reading(rs, "ac_output_voltage")), "230.1");
  EXPECT_EQ(std::get<bool>(reading(rs, "ctrl_ac")->value), true);
  EXPECT_EQ(to_text(*reading(rs, "ctrl_eco_time_mode_dc")), "TWO_HOURS");
  EXPECT_EQ(to_text(*reading(rs, "ctrl_charging_mode")), "TURBO");
  EXPECT_EQ(to_text(*reading(rs, "version_bms")), "10.25");
  // Fields whose registers are missing are left out, not guessed.
  EXPECT_EQ(reading(rs, "ac_input_frequency"), nullptr);
}

TEST(BluettiModels, DecodingRulesOfTheFieldTypes) {
  Field f;
  f.address = 7;
  RegisterValues regs{{7, 0xFFFE}, {8, 0x0001}};
  f.type = Type::int16;
  f.scale = 0.1;
  EXPECT_NEAR(std::get<double>(decode_field(f, regs)->value), -0.2, 1e-12);
  f.type = Type::uint32;
  f.words = 2;
  f.scale = 1;
  EXPECT_EQ(std::get<std::int64_t>(decode_field(f, regs)->value), 0x1FFFE);  // low word first
  f.type = Type::boolean;
  f.words = 1;
  EXPECT_FALSE(decode_field(f, regs).has_value());  // 0xFFFE is neither 0 nor 1
  f.type = Type::boolean_one;
  EXPECT_FALSE(std::get<bool>(decode_field(f, regs)->value));
  f.type = Type::enumeration;
  f.choices = std::span<const Choice>();
  auto e = decode_field(f, regs);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->choice.empty());
  EXPECT_EQ(to_text(*e), "65534");
  f.address = 0xFFFF;
  f.words = 2;
  f.type = Type::uint32;
  EXPECT_FALSE(decode_field(f, {{0xFFFF, 1}}).has_value());  // runs past the last register
  // AC2P's output state reads 3 for off (bluetti-bt-lib devices/ac2p.py).
  const Model& ac2p = model_named("AC2P");
  EXPECT_EQ(std::get<bool>(decode_field(*field(ac2p, "ctrl_ac"), {{2011, 3}})->value), false);
  EXPECT_EQ(std::get<bool>(decode_field(*field(ac2p, "ctrl_ac"), {{2011, 1}})->value), true);
  // The EL30V2 time remaining: raw / 10000 * 167 hours (bluetti-bt-lib).
  EXPECT_EQ(to_text(*decode_field(*field(model_named("EL30V2"), "time_remaining"), {{104, 600}})), "10.0200");
  // A block of an FC3 answer decodes the fields wholly inside it only.
  const std::uint16_t block[] = {0x4341, 0x3831, 0x0030, 0, 0, 0};
  auto rs = decode_block(model_named("AC180"), 110, block);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(to_text(rs[0]), "AC180");
  EXPECT_TRUE(decode_block(model_named("AC180"), 111, block).empty());
}

// ---- encoding (settings) ----------------------------------------------------------------

TEST(BluettiModels, SettingsAreRangeCheckedBeforeAnythingIsWritten) {
  const Model& m = model_named("AC300");
  auto w = encode_write(m, "soc_range_end", "90");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->function, modbus::write_single);
  EXPECT_EQ(w->address, 3016);
  EXPECT_EQ(w->values, (std::vector<std::uint16_t>{90}));
  EXPECT_EQ(encode_write(m, "battery_range_end", "100")->address, 3016);  // the bluetti_mqtt name works too
  EXPECT_EQ(encode_write(m, "soc_range_end", "101").error(), make_error_code(Errc::setting_out_of_range));
  EXPECT_EQ(encode_write(m, "soc_range_end", "-1").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "soc_range_end", "9.5").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "soc_range_end", "0x10").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "soc_range_end", "").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "ctrl_ups_mode", "pv_priority")->values, (std::vector<std::uint16_t>{2}));
  EXPECT_EQ(encode_write(m, "ctrl_ups_mode", "4")->values, (std::vector<std::uint16_t>{4}));
  EXPECT_EQ(encode_write(m, "ctrl_ups_mode", "0").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "ctrl_ups_mode", "TURBO").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "ac_output_on", "on")->address, 3007);  // the settable field of that mqtt name
  EXPECT_EQ(encode_write(m, "ctrl_dc", "OFF")->values, (std::vector<std::uint16_t>{0}));
  EXPECT_EQ(encode_write(m, "ctrl_dc", "maybe").error(), make_error_code(Errc::setting_invalid));
  EXPECT_EQ(encode_write(m, "device_type", "AC500").error(), make_error_code(Errc::field_not_settable));
  EXPECT_EQ(encode_write(m, "total_battery_percent", "50").error(), make_error_code(Errc::field_not_settable));
  EXPECT_EQ(encode_write(m, "no_such_field", "1").error(), make_error_code(Errc::field_unknown));
  EXPECT_EQ(encode_write(*field(m, "ctrl_ac"), 2).error(), make_error_code(Errc::setting_out_of_range));
  EXPECT_EQ(encode_write(*field(m, "ctrl_display_timeout"), 1).error(), make_error_code(Errc::setting_invalid));
  // Pack selection: 1..max_packs on a model with a selector.
  EXPECT_EQ(select_pack(m, 4)->address, 3006);
  EXPECT_EQ(select_pack(m, 0).error(), make_error_code(Errc::pack_out_of_range));
  EXPECT_EQ(select_pack(m, 5).error(), make_error_code(Errc::pack_out_of_range));
  EXPECT_EQ(encode_write(m, "pack_num", "5").error(), make_error_code(Errc::setting_out_of_range));
  EXPECT_EQ(select_pack(model_named("EB3A"), 1).error(), make_error_code(Errc::pack_out_of_range));
  EXPECT_EQ(select_pack(model_named("EP600"), 1).error(), make_error_code(Errc::field_not_settable));
}

// ---- detection --------------------------------------------------------------------------

TEST(BluettiModels, AdvertisedNamesNameTheirModel) {
  EXPECT_EQ(from_advertised_name("AC1802524610159690"), find("AC180"));
  EXPECT_EQ(from_advertised_name("AC180P2524610159690"), find("AC180P"));  // the longest name wins
  EXPECT_EQ(from_advertised_name("EB3A2441001365385"), find("EB3A"));
  EXPECT_EQ(from_advertised_name("EP500P2222"), find("EP500P"));
  EXPECT_EQ(from_advertised_name("Handsfree 12400000000000"), find("Handsfree 1"));
  EXPECT_EQ(from_advertised_name("Elite 200 V22519004378012"), nullptr);  // not in the table (yet)
  EXPECT_EQ(from_advertised_name("AC180"), nullptr);                       // no serial digits
  EXPECT_EQ(from_advertised_name("AC180X123"), nullptr);
  EXPECT_EQ(from_advertised_name("PBOX123"), nullptr);
}

// Reads the detection registers the way the CLI does (exceptions leave them out).
RegisterValues detection_image(PowerStation& s) {
  RegisterValues regs;
  for (auto req : {modbus::Request::read(kV2TypeRegister, kV2TypeWords), modbus::Request::read(kV1TypeRegister, kV1TypeWords)}) {
    auto resp = s.handle(req, TimePoint{});
    collect(req, resp, regs);
  }
  return regs;
}

TEST(BluettiModels, DetectionConfirmsTheAdvertisedNameWithTheDeviceTypeRegister) {
  for (const auto& m : all()) {
    SCOPED_TRACE(std::string(m.name));
    auto s = PowerStation::create(m.name);
    ASSERT_TRUE(s.has_value());
    const auto regs = detection_image(*s);
    const std::string advert = std::string(m.name) + std::to_string(s->serial());
    auto id = identify(advert, regs);
    ASSERT_TRUE(id.has_value()) << reported_type(regs);
    EXPECT_EQ(id->model, &m);
    EXPECT_EQ(id->protocol, m.protocol);
    EXPECT_EQ(id->serial, s->serial());
    EXPECT_EQ(id->reported, m.name);
    EXPECT_TRUE(id->confirmed);
  }
  // The register wins over a wrong or unknown advertised name, and says so.
  auto ac180 = *PowerStation::create("AC180");
  auto id = identify("EB3A2441001365385", detection_image(ac180));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->model, find("AC180"));
  EXPECT_EQ(id->advertised, find("EB3A"));
  EXPECT_FALSE(id->confirmed);
  EXPECT_EQ(identify("", detection_image(ac180))->advertised, nullptr);
  // Neither register block names a model of the table.
  RegisterValues junk{{110, 0x5858}, {111, 0}, {112, 0}, {113, 0}, {114, 0}, {115, 0}};
  EXPECT_EQ(identify("AC1801", junk).error(), make_error_code(Errc::model_unknown));
  EXPECT_EQ(reported_type(junk), "XX");
  EXPECT_EQ(identify("AC1801", {}).error(), make_error_code(Errc::model_unknown));
}

// ---- client <-> emulator ----------------------------------------------------------------

std::optional<modbus::Response> exchange(Pair& p, const modbus::Request& req) {
  auto r = testing::response_of(p.exchange(req));
  if (!r) return std::nullopt;
  return r->response;
}

RegisterValues read_blocks(Pair& p, std::span<const Block> blocks) {
  RegisterValues regs;
  for (const auto& b : blocks) {
    const auto req = modbus::Request::read(b.address, b.count);
    auto resp = exchange(p, req);
    EXPECT_TRUE(resp && !resp->exception) << b.address;
    if (resp) collect(req, *resp, regs);
  }
  return regs;
}

// A valid setting different from `current` (raw).
std::string other_setting(const Field& f, std::uint32_t current) {
  switch (f.type) {
    case Type::boolean:
    case Type::boolean_one: return current == 1 ? "off" : "on";
    case Type::enumeration:
      for (const auto& c : f.choices)
        if (c.value != current) return std::string(c.name);
      return "";
    default: {
      const std::uint16_t raw = current == f.max ? f.min : f.max;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", raw * f.scale);
      return buf;
    }
  }
}

TEST(BluettiModels, EveryFieldAndEverySettingRoundTripsThroughTheEmulator) {
  for (const auto& m : all()) {
    SCOPED_TRACE(std::string(m.name));
    Pair p(crypto::default_backend(), crypto::default_backend(), std::string(m.name));
    p.connect();
    ASSERT_TRUE(p.client.established());
    auto regs = read_blocks(p, m.blocks);
    auto rs = decode(m, regs);
    EXPECT_EQ(rs.size(), m.fields.size()) << "every field decodes";
    EXPECT_EQ(to_text(*reading(rs, "device_type")), m.name);
    EXPECT_EQ(std::get<std::uint64_t>(reading(rs, "serial_number")->value), p.device.station().serial());
    EXPECT_GT(number(reading(rs, "total_battery_percent")), 0);
    for (const auto& f : m.fields) {
      if (!f.settable) continue;
      SCOPED_TRACE(std::string(f.name));
      const auto* before = reading(rs, f.name);
      ASSERT_NE(before, nullptr);
      const std::string text = other_setting(f, before->raw);
      auto w = encode_write(m, f.name, text);
      ASSERT_TRUE(w.has_value()) << text;
      auto echo = exchange(p, *w);
      ASSERT_TRUE(echo.has_value());
      EXPECT_FALSE(echo->exception.has_value());
      auto after = decode(m, read_blocks(p, m.blocks));
      const auto* r = reading(after, f.name);
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->raw, w->values[0]);
      if (f.type == Type::enumeration) {
        EXPECT_EQ(std::string(r->choice), text);
      }
      // Out of range is refused by the encoder (nothing goes out); and by the emulator if sent raw.
      if (f.type == Type::uint16 && f.max < 0xFFFF) {
        EXPECT_EQ(parse_setting(f, std::to_string(f.max + 1)).error(), make_error_code(Errc::setting_out_of_range));
        auto refused = exchange(p, modbus::Request::write(f.address, static_cast<std::uint16_t>(f.max + 1)));
        ASSERT_TRUE(refused.has_value());
        EXPECT_EQ(refused->exception, modbus::illegal_value);
        EXPECT_EQ(p.device.station().get(f.address), w->values[0]);
      }
    }
  }
}

TEST(BluettiModels, OutputSwitchesAndSocRangeChangeTheEmulatedUnit) {
  Pair p(crypto::default_backend(), crypto::default_backend(), "AC300");
  p.connect();
  const Model& m = model_named("AC300");
  ASSERT_TRUE(exchange(p, *encode_write(m, "ctrl_ac", "on")));
  auto rs = decode(m, read_blocks(p, m.blocks));
  EXPECT_TRUE(std::get<bool>(reading(rs, "ac_output_on")->value));  // the state register follows
  EXPECT_GT(number(reading(rs, "ac_output_power")), 0);
  EXPECT_NEAR(number(reading(rs, "internal_ac_voltage")), 230.0, 1e-9);
  EXPECT_GT(number(reading(rs, "dc_input_power")), 0);
  // Charging stops at the end of the SOC range (the unit is at 80 %).
  ASSERT_TRUE(exchange(p, *encode_write(m, "soc_range_end", "80")));
  rs = decode(m, read_blocks(p, m.blocks));
  EXPECT_EQ(number(reading(rs, "dc_input_power")), 0);
  // Discharging stops at its start.
  ASSERT_TRUE(exchange(p, *encode_write(m, "soc_range_start", "85")));
  rs = decode(m, read_blocks(p, m.blocks));
  EXPECT_EQ(number(reading(rs, "ac_output_power")), 0);
  // EP760 switches its AC output at 2208 (bluetti-bt-lib), and the generation's state follows.
  Pair q(crypto::default_backend(), crypto::default_backend(), "EP760");
  q.connect();
  ASSERT_TRUE(exchange(q, *encode_write(model_named("EP760"), "ctrl_ac", "on")));
  EXPECT_EQ(q.device.station().get(2011), 1);
  EXPECT_GT(*q.device.station().get(1510), 0);
  // AC2P reads 3 for "off" once switched off.
  Pair r(crypto::default_backend(), crypto::default_backend(), "AC2P");
  r.connect();
  ASSERT_TRUE(exchange(r, *encode_write(model_named("AC2P"), "ctrl_ac", "on")));
  ASSERT_TRUE(exchange(r, *encode_write(model_named("AC2P"), "ctrl_ac", "off")));
  EXPECT_EQ(r.device.station().get(2011), 3);
  EXPECT_EQ(*r.device.station().get(142), 0);
}

TEST(BluettiModels, V1PackPagingAgainstTheEmulator) {
  for (const char* name : {"AC300", "AC200M", "AC500"}) {
    SCOPED_TRACE(name);
    const Model& m = model_named(name);
    Pair p(crypto::default_backend(), crypto::default_backend(), name);
    p.connect();
    auto main = decode(m, read_blocks(p, m.blocks));
    ASSERT_EQ(number(reading(main, "pack_num_max")), m.packs.max_packs);
    const double soc = number(reading(main, "total_battery_percent"));
    std::set<double> voltages;
    for (unsigned pack = 1; pack <= m.packs.max_packs; ++pack) {
      auto sel = select_pack(m, pack);
      ASSERT_TRUE(sel.has_value());
      auto echo = exchange(p, *sel);
      ASSERT_TRUE(echo && !echo->exception);
      RegisterValues regs;
      for (const auto& req : pack_requests(m)) {
        auto resp = exchange(p, req);
        ASSERT_TRUE(resp && !resp->exception);
        collect(req, *resp, regs);
      }
      auto rs = decode_pack(m, pack, regs);
      EXPECT_EQ(number(reading(rs, "pack_selected")), pack);
      const double pack_soc = number(reading(rs, "pack_battery_percent"));
      EXPECT_NEAR(pack_soc, soc, 5.0);
      double sum = 0;
      for (double c : std::get<std::vector<double>>(reading(rs, "cell_voltages")->value)) {
        EXPECT_GT(c, 3.0);
        EXPECT_LT(c, 3.5);
        sum += c;
      }
      EXPECT_NEAR(number(reading(rs, "pack_voltage")), sum, 1e-6);  // cells sum up to the pack
      voltages.insert(number(reading(rs, "pack_voltage")));
      for (const auto& r : rs) EXPECT_EQ(r.pack, pack);
    }
    EXPECT_GT(voltages.size(), 1u);  // the pages really differ
    // Selecting a pack the unit does not have is refused by the encoder and by the emulator.
    EXPECT_FALSE(select_pack(m, m.packs.max_packs + 1).has_value());
    auto refused = exchange(p, modbus::Request::write(m.packs.selector, static_cast<std::uint16_t>(m.packs.max_packs + 1)));
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->exception, modbus::illegal_value);
  }
}

TEST(BluettiModels, V2PackRegistersOfTheEmulator) {
  const Model& m = model_named("EP600");
  Pair p(crypto::default_backend(), crypto::default_backend(), "EP600");
  p.connect();
  auto rs = decode_pack(m, 1, read_blocks(p, m.packs.blocks));
  EXPECT_EQ(rs.size(), m.packs.fields.size());
  EXPECT_EQ(to_text(*reading(rs, "pack_type")), "B300");
  EXPECT_GT(number(reading(rs, "pack_voltage")), 50);
  EXPECT_EQ(number(reading(rs, "pack_battery_percent")), number(reading(decode(m, read_blocks(p, m.blocks)), "total_battery_percent")));
}

}  // namespace
}  // namespace blecrypt::bluetti
