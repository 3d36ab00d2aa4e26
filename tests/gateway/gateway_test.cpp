// src/gateway: configuration validation, the entities and reads derived from the BLUETTI model
// table, topics and payloads both ways, Home Assistant discovery, and the per-device scheduler.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "blecrypt/gateway/config.hpp"
#include "blecrypt/gateway/errors.hpp"
#include "blecrypt/bluetti/models.hpp"
#include "blecrypt/gateway/entities.hpp"
#include "blecrypt/gateway/mapping.hpp"
#include "blecrypt/gateway/scheduler.hpp"

using namespace blecrypt;
using namespace blecrypt::gateway;
using namespace std::chrono_literals;

namespace {

bool has_issue(const ParsedConfig& p, int line, const std::string& key) {
  for (const auto& i : p.issues)
    if (i.line == line && i.key == key) return true;
  return false;
}

std::string dump(const ParsedConfig& p) {
  std::string s;
  for (const auto& i : p.issues) s += format_issue(i, "cfg") + "\n";
  return s;
}

ByteView bv(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

}  // namespace

TEST(Config, TheIssueExampleIsValid) {
  const auto p = parse_config(R"(mqtt: {host: 127.0.0.1, port: 1883, username: u, password_file: /etc/blecrypt/mqtt.pass, tls: {ca: /etc/ssl/ca.pem}}
adapter: hci0
devices:
  - {address: "C4:DE:E2:11:22:33", protocol: bluetti, poll_interval: 5, device_key: ")" + std::string(128, 'a') + R"("}
  - {address: "d0:11:22:33:44:55", protocol: sesame, key_file: /etc/blecrypt/lock.key}
)");
  ASSERT_TRUE(p.ok()) << dump(p);
  EXPECT_EQ(p.config.mqtt.port, 1883);
  EXPECT_EQ(p.config.mqtt.username, "u");
  ASSERT_TRUE(p.config.mqtt.tls);
  EXPECT_EQ(p.config.mqtt.tls->ca, "/etc/ssl/ca.pem");
  EXPECT_EQ(p.config.adapter, "hci0");
  ASSERT_EQ(p.config.devices.size(), 2u);
  EXPECT_EQ(p.config.devices[0].poll_interval, 5s);
  EXPECT_EQ(p.config.devices[1].address, "D0:11:22:33:44:55");  // upper-cased
  EXPECT_EQ(p.config.devices[1].protocol, DeviceProtocol::sesame);
  EXPECT_EQ(p.config.devices[1].line, 5);
}

TEST(Config, EveryMistakeIsReportedWithLineAndKey) {
  const auto p = parse_config(R"(mqtt:
  host: broker
  port: 0x50
  colour: blue
adapter: wlan0
devices:
  - address: "C4:DE:E2:11:22"
    protocol: bluetti
    poll_interval: 0
  - emulator: AC999
  - protocol: sesame
    address: "D0:11:22:33:44:55"
    device_key: "00"
)");
  EXPECT_FALSE(p.ok());
  EXPECT_TRUE(has_issue(p, 3, "mqtt.port")) << dump(p);
  EXPECT_TRUE(has_issue(p, 4, "mqtt.colour")) << dump(p);
  EXPECT_TRUE(has_issue(p, 5, "adapter")) << dump(p);
  EXPECT_TRUE(has_issue(p, 7, "devices[0].address")) << dump(p);
  EXPECT_TRUE(has_issue(p, 9, "devices[0].poll_interval")) << dump(p);
  EXPECT_TRUE(has_issue(p, 10, "devices[1].emulator")) << dump(p);
  EXPECT_TRUE(has_issue(p, 13, "devices[2].device_key")) << dump(p);
  EXPECT_TRUE(has_issue(p, 11, "devices[2].key_file")) << dump(p);
}

TEST(Config, NumbersAreDecimalOnly) {
  for (const char* bad : {"05", "+5", "-1", "5.0", "1e1", "' 5'", "0x5", "99999999999999999999999"}) {
    const auto p = parse_config(std::string("devices:\n  - {emulator: AC180, poll_interval: ") + bad + "}\n");
    EXPECT_TRUE(has_issue(p, 2, "devices[0].poll_interval")) << bad << "\n" << dump(p);
  }
}

TEST(Config, SyntaxErrorsHaveALine) {
  const auto p = parse_config("devices:\n  - {emulator: AC180\n  - x: [\n");
  ASSERT_EQ(p.issues.size(), 1u);
  EXPECT_GT(p.issues[0].line, 0);
}

TEST(Config, MissingDevicesAndDuplicates) {
  EXPECT_TRUE(has_issue(parse_config("adapter: hci0\n"), 0, "devices"));
  const auto p = parse_config("devices:\n  - {address: 'C4:DE:E2:11:22:33', protocol: bluetti}\n  - {address: 'c4:de:e2:11:22:33', protocol: bluetti}\n");
  EXPECT_TRUE(has_issue(p, 3, "devices[1]")) << dump(p);
}

TEST(Config, ModelNamesATableModel) {
  auto p = parse_config("devices:\n  - {address: 'C4:DE:E2:11:22:33', protocol: bluetti, model: ac300}\n");
  EXPECT_TRUE(p.ok()) << dump(p);
  EXPECT_EQ(p.config.devices.at(0).model, "ac300");  // looked up case-insensitively
  p = parse_config("devices:\n  - {address: 'C4:DE:E2:11:22:33', protocol: bluetti,\n     model: AC999}\n");
  EXPECT_TRUE(has_issue(p, 3, "devices[0].model")) << dump(p);
  EXPECT_NE(dump(p).find("AC300"), std::string::npos);  // the message lists the table's models
  p = parse_config("devices:\n  - {address: 'C4:DE:E2:11:22:33', protocol: sesame, key_file: /k, model: AC300}\n");
  EXPECT_TRUE(has_issue(p, 2, "devices[0].model")) << dump(p);
}

TEST(Config, DeviceKeyValueIsNeverEchoed) {
  const std::string secret = std::string(127, 'b') + "z";
  const auto p = parse_config("devices:\n  - {address: 'C4:DE:E2:11:22:33', protocol: bluetti, device_key: '" + secret + "'}\n");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(dump(p).find(secret), std::string::npos);
}

TEST(Config, PrivateFilesAreEnforced) {
  const std::string path = ::testing::TempDir() + "gateway_test_key";
  { std::ofstream(path) << "secret\n"; }
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(read_private_file(path, 100, true).error(), make_error_code(Errc::file_not_private));
  ::chmod(path.c_str(), 0600);
  auto ok = read_private_file(path, 100, true);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 7u);
  EXPECT_EQ(read_private_file(path, 3, true).error(), make_error_code(Errc::file_too_large));
  EXPECT_EQ(read_private_file("/nonexistent/x", 100, true).error(), make_error_code(Errc::file_unreadable));
  EXPECT_EQ(read_private_file("/tmp", 100, false).error(), make_error_code(Errc::file_unreadable));
  // A symlink is refused (O_NOFOLLOW).
  const std::string link = path + ".lnk";
  std::remove(link.c_str());
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_EQ(read_private_file(link, 100, true).error(), make_error_code(Errc::file_unreadable));
  // A device's bad key file disables that device only.
  Config c;
  DeviceEntry good, bad;
  good.emulator = "AC180";
  bad.emulator = "AC180";
  bad.key_file = path;
  ::chmod(path.c_str(), 0640);
  c.devices = {good, bad};
  std::vector<ConfigIssue> fatal;
  check_files(c, fatal);
  EXPECT_TRUE(fatal.empty());
  EXPECT_TRUE(c.devices[0].disabled_reason.empty());
  EXPECT_NE(c.devices[1].disabled_reason.find("group or others"), std::string::npos);
  std::remove(link.c_str());
  std::remove(path.c_str());
}

namespace {
const bluetti::models::Model& model(const char* name) {
  const auto* m = bluetti::models::find(name);
  EXPECT_NE(m, nullptr) << name;
  return *m;
}
std::string payload_of(const bluetti::models::Field& f, std::vector<std::uint16_t> words) {
  bluetti::RegisterValues regs;
  for (std::size_t i = 0; i < words.size(); ++i) regs[static_cast<std::uint16_t>(f.address + i)] = words[i];
  auto r = bluetti::models::decode_field(f, regs);
  EXPECT_TRUE(r.has_value()) << f.name;
  return r ? state_payload(*r) : std::string();
}
}  // namespace

TEST(Entities, EveryTableFieldIsAnEntityUnderItsBluettiMqttName) {
  for (const auto& m : bluetti::models::all()) {
    const auto es = entities(m);
    for (const auto& f : m.fields) {
      if (f.type == bluetti::models::Type::cells) continue;
      const std::string_view name = f.mqtt_name.empty() ? f.name : f.mqtt_name;
      const auto* e = find_entity(es, name);
      ASSERT_NE(e, nullptr) << m.name << " " << f.name;
      if (f.settable) {
        EXPECT_NE(e->command, nullptr) << m.name << " " << f.name;
      }
      EXPECT_TRUE(parse_command_topic("bluetti/command/X-1/" + std::string(name))) << name;  // every name fits the topic grammar
    }
    for (std::size_t i = 0; i < es.size(); ++i)
      for (std::size_t j = i + 1; j < es.size(); ++j) EXPECT_NE(es[i].name, es[j].name) << m.name;
  }
  // AC300 (IoT V1): the output state read at 48 and switched at 3007 is one switch entity.
  const auto ac300 = entities(model("AC300"));
  const auto* out = find_entity(ac300, "ac_output_on");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->state->address, 48);
  EXPECT_EQ(out->command->address, 3007);
  EXPECT_EQ(out->component(), bluetti::models::Component::switch_);
  EXPECT_EQ(find_entity(ac300, "ups_mode")->component(), bluetti::models::Component::select);
  EXPECT_EQ(find_entity(ac300, "battery_range_end")->component(), bluetti::models::Component::number);
  EXPECT_FALSE(find_entity(ac300, "ac_output_power")->settable());
  // AC180 (IoT V2): fields without a bluetti_mqtt name keep the table name.
  const auto ac180 = entities(model("AC180"));
  EXPECT_NE(find_entity(ac180, "ac_output_voltage"), nullptr);
  EXPECT_NE(find_entity(ac180, "charging_mode"), nullptr);
  EXPECT_EQ(find_entity(ac180, "nope"), nullptr);
}

TEST(Entities, RefreshReadsStayInsideTheTableBlocksAndSplitLiveFromFull) {
  for (const auto& m : bluetti::models::all()) {
    const auto p = plan_refresh(m);
    ASSERT_FALSE(p.full.empty()) << m.name;
    ASSERT_FALSE(p.live.empty()) << m.name;
    EXPECT_LE(p.full.size(), m.blocks.size()) << m.name;
    EXPECT_LE(p.live.size(), p.full.size()) << m.name;
    for (const auto& r : p.full) {
      EXPECT_LE(r.count, bluetti::modbus::kMaxRead);
      const bool inside = std::any_of(m.blocks.begin(), m.blocks.end(), [&](const bluetti::models::Block& b) {
        return r.address >= b.address && r.address + r.count <= b.address + b.count;
      });
      EXPECT_TRUE(inside) << m.name << " read " << r.address << "+" << r.count;
    }
    // Every field is covered by a full refresh.
    for (const auto& f : m.fields) {
      const bool covered = std::any_of(p.full.begin(), p.full.end(),
                                       [&](const auto& r) { return f.address >= r.address && f.address + f.words <= r.address + r.count; });
      EXPECT_TRUE(covered) << m.name << " " << f.name;
    }
  }
  // AC180: SOC and the four power flows in one read of 102..146 every poll (bluetti_mqtt reads
  // 100 x 62 once per poll); the other five blocks at a full refresh.
  const auto ac180 = plan_refresh(model("AC180"));
  ASSERT_EQ(ac180.live.size(), 1u);
  EXPECT_EQ(ac180.live[0].address, 102);
  EXPECT_EQ(ac180.live[0].count, 45);
  EXPECT_EQ(ac180.full.size(), 6u);
  // AC300: live = 10..49 (powers, SOC, output states); full = bluetti_mqtt's three reads, trimmed.
  const auto ac300 = plan_refresh(model("AC300"));
  ASSERT_EQ(ac300.live.size(), 1u);
  EXPECT_EQ(ac300.live[0].address, 10);
  EXPECT_EQ(ac300.live[0].count, 40);
  EXPECT_EQ(ac300.full.size(), 3u);
}

TEST(Entities, StatePayloadsAreBluettiMqttsFormats) {
  const auto& ac300 = model("AC300");
  const auto f = [&](const char* n) -> const bluetti::models::Field& { return *bluetti::models::field(ac300, n); };
  EXPECT_EQ(payload_of(f("ac_output_on"), {1}), "ON");
  EXPECT_EQ(payload_of(f("ac_output_on"), {0}), "OFF");
  EXPECT_EQ(payload_of(f("total_battery_percent"), {87}), "87");
  // Python's str(Decimal(raw) / 10**scale): exact, trailing zeros dropped.
  EXPECT_EQ(payload_of(f("internal_ac_voltage"), {2301}), "230.1");
  EXPECT_EQ(payload_of(f("internal_ac_voltage"), {2300}), "230");
  EXPECT_EQ(payload_of(f("internal_ac_voltage"), {5}), "0.5");
  EXPECT_EQ(payload_of(f("internal_ac_voltage"), {0}), "0");
  EXPECT_EQ(payload_of(f("internal_ac_frequency"), {5010}), "50.1");
  EXPECT_EQ(payload_of(f("internal_ac_frequency"), {4999}), "49.99");
  EXPECT_EQ(payload_of(f("arm_version"), {4020, 0}), "40.2");
  EXPECT_EQ(payload_of(f("ctrl_ups_mode"), {3}), "STANDARD");
  EXPECT_EQ(payload_of(f("ctrl_ups_mode"), {9}), "9");  // not a listed choice: the number
  EXPECT_EQ(payload_of(f("serial_number"), {0x5678, 0x1234, 0, 0}), "305419896");
  EXPECT_EQ(payload_of(f("device_type"), {0x4143, 0x3330, 0x3000, 0, 0, 0}), "AC300");
  EXPECT_EQ(value_payload(f("ctrl_ups_mode"), 2), "PV_PRIORITY");
  EXPECT_EQ(value_payload(f("soc_range_end"), 90), "90");
  EXPECT_EQ(label("ac_output_power"), "AC Output Power");
  EXPECT_EQ(label("battery_range_start"), "Battery Range Start");
}

TEST(Mapping, TopicsAndDiscoveryTopics) {
  const DeviceIdentity d{"AC180", 2524610159690ULL};
  EXPECT_EQ(state_topic(d, "ac_output_on"), "bluetti/state/AC180-2524610159690/ac_output_on");
  EXPECT_EQ(command_topic(d, "ac_output_on"), "bluetti/command/AC180-2524610159690/ac_output_on");
  EXPECT_EQ(command_filter(d), "bluetti/command/AC180-2524610159690/+");
  EXPECT_EQ(result_topic(command_topic(d, "x")), "bluetti/command/AC180-2524610159690/x/result");
  const auto es = entities(model("AC180"));
  EXPECT_EQ(discovery_topic("homeassistant", d, *find_entity(es, "ac_output_on")), "homeassistant/switch/2524610159690_ac_output_on/config");
  EXPECT_EQ(discovery_topic("homeassistant", d, *find_entity(es, "charging_mode")), "homeassistant/select/2524610159690_charging_mode/config");
  EXPECT_EQ(discovery_topic("ha", d, *find_entity(es, "ac_output_power")), "ha/sensor/2524610159690_ac_output_power/config");
}

TEST(Mapping, CommandTopicsParseStrictly) {
  auto ok = parse_command_topic("bluetti/command/AC180-123/ac_output_on");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->device_id, "AC180-123");
  EXPECT_EQ(ok->field, "ac_output_on");
  for (const char* bad : {"bluetti/state/AC180-123/x", "bluetti/command/AC180/x", "bluetti/command/AC180-12a/x", "bluetti/command/-1/x",
                          "bluetti/command/AC 180-1/x", "bluetti/command/AC180-1"})
    EXPECT_EQ(parse_command_topic(bad).error(), make_error_code(Errc::unknown_topic)) << bad;
  EXPECT_EQ(parse_command_topic("bluetti/command/AC180-1/X").error(), make_error_code(Errc::unknown_field));
  EXPECT_EQ(parse_command_topic("bluetti/command/AC180-1/a/b").error(), make_error_code(Errc::unknown_field));
}

TEST(Mapping, CommandPayloadsAreCheckedAgainstTheTable) {
  const auto ac300 = entities(model("AC300"));
  const Entity& sw = *find_entity(ac300, "ac_output_on");
  EXPECT_EQ(*parse_command_payload(sw, bv("ON")), 1);
  EXPECT_EQ(*parse_command_payload(sw, bv("OFF")), 0);
  for (const char* bad : {"ON ", "", "TRUE!", "2", "maybe"}) EXPECT_EQ(parse_command_payload(sw, bv(bad)).error(), make_error_code(Errc::payload_invalid)) << bad;
  EXPECT_EQ(parse_command_payload(sw, bv(std::string(100, 'O'))).error(), make_error_code(Errc::payload_invalid));
  EXPECT_EQ(parse_command_payload(*find_entity(ac300, "ac_output_power"), bv("5")).error(), make_error_code(Errc::field_read_only));
  // A number setting: the SOC range end, 0..100 %.
  const Entity& end = *find_entity(ac300, "battery_range_end");
  EXPECT_EQ(*parse_command_payload(end, bv("90")), 90);
  EXPECT_EQ(parse_command_payload(end, bv("101")).error(), make_error_code(Errc::value_out_of_range));
  for (const char* bad : {"-4", "0x10", "9 0", "1e2", "ninety"}) EXPECT_EQ(parse_command_payload(end, bv(bad)).error(), make_error_code(Errc::payload_invalid)) << bad;
  // An enumeration: UPS mode by name (as published) or number; names outside the table refused.
  const Entity& ups = *find_entity(ac300, "ups_mode");
  EXPECT_EQ(*parse_command_payload(ups, bv("PV_PRIORITY")), 2);
  EXPECT_EQ(*parse_command_payload(ups, bv("STANDARD")), 3);
  EXPECT_EQ(parse_command_payload(ups, bv("TURBO")).error(), make_error_code(Errc::payload_invalid));
  EXPECT_EQ(parse_command_payload(ups, bv("0")).error(), make_error_code(Errc::payload_invalid));
  // AC180: the charging mode select.
  const auto ac180 = entities(model("AC180"));
  EXPECT_EQ(*parse_command_payload(*find_entity(ac180, "charging_mode"), bv("TURBO")), 2);
}

TEST(Mapping, DiscoveryCarriesTheBluettiMqttKeysAvailabilityAndOrigin) {
  const DeviceIdentity d{"AC180", 2524610159690ULL};
  const auto es = entities(model("AC180"));
  const auto j = nlohmann::json::parse(discovery_payload({"blecrypt/gateway/availability", "0.1.0"}, d, *find_entity(es, "ac_output_on")));
  EXPECT_EQ(j["state_topic"], "bluetti/state/AC180-2524610159690/ac_output_on");
  EXPECT_EQ(j["command_topic"], "bluetti/command/AC180-2524610159690/ac_output_on");
  EXPECT_EQ(j["unique_id"], "2524610159690_ac_output_on");
  EXPECT_EQ(j["object_id"], "AC180_ac_output_on");
  EXPECT_EQ(j["device"]["identifiers"][0], "2524610159690");
  EXPECT_EQ(j["device"]["manufacturer"], "Bluetti");
  EXPECT_EQ(j["device"]["model"], "AC180");
  EXPECT_EQ(j["name"], "AC Output");  // bluetti_mqtt's discovery name (the table's ha_name)
  EXPECT_EQ(j["device_class"], "outlet");
  EXPECT_EQ(j["availability"].size(), 2u);
  EXPECT_EQ(j["availability"][0]["topic"], "blecrypt/gateway/availability");
  EXPECT_EQ(j["availability"][1]["topic"], "bluetti/availability/AC180-2524610159690");
  EXPECT_EQ(j["origin"]["name"], "blecrypt");
  const auto s = nlohmann::json::parse(discovery_payload({"a", "v"}, d, *find_entity(es, "dc_input_power")));
  EXPECT_EQ(s["unit_of_measurement"], "W");
  EXPECT_EQ(s["device_class"], "power");
  EXPECT_EQ(s["state_class"], "measurement");
  EXPECT_EQ(s["force_update"], true);
  EXPECT_FALSE(s.contains("command_topic"));
  const auto sel = nlohmann::json::parse(discovery_payload({"a", "v"}, d, *find_entity(es, "charging_mode")));
  EXPECT_EQ(sel["options"], nlohmann::json::array({"STANDARD", "SILENT", "TURBO"}));
  EXPECT_EQ(sel["command_topic"], "bluetti/command/AC180-2524610159690/charging_mode");
  const DeviceIdentity v1{"AC300", 1};
  const auto num = nlohmann::json::parse(discovery_payload({"a", "v"}, v1, *find_entity(entities(model("AC300")), "battery_range_start")));
  EXPECT_EQ(num["min"], 0);
  EXPECT_EQ(num["max"], 100);
  EXPECT_EQ(num["step"], 1);
  EXPECT_EQ(num["unit_of_measurement"], "%");
}

TEST(Mapping, Results) {
  const auto ok = nlohmann::json::parse(result_ok("ac_output_on", "ON"));
  EXPECT_EQ(ok["ok"], true);
  EXPECT_EQ(ok["value"], "ON");
  const auto err = nlohmann::json::parse(result_error("ac_output_on", make_error_code(Errc::queue_full)));
  EXPECT_EQ(err["ok"], false);
  EXPECT_EQ(err["error"], "queue_full");
}

// ---- battery packs -------------------------------------------------------------------------

TEST(Packs, ReadsAreThePackBlocksTrimmedToThePublishedFields) {
  // AC300: pack number 96, status 97, voltage 98, percent 99, cells 105..120 in one read (the BMS
  // version at 201 is not in bluetti_mqtt's JSON, so not read); bluetti_mqtt reads (91,119).
  const auto ac300 = plan_packs(model("AC300"));
  EXPECT_EQ(ac300.max_packs, 4u);
  ASSERT_EQ(ac300.reads.size(), 1u);
  EXPECT_EQ(ac300.reads[0].address, 96);
  EXPECT_EQ(ac300.reads[0].count, 25);
  ASSERT_EQ(ac300.entities.size(), 3u);
  EXPECT_EQ(ac300.entities[0].id, "pack_status");
  EXPECT_EQ(ac300.entities[1].id, "pack_voltage");
  EXPECT_EQ(ac300.entities[2].id, "pack_percent");
  ASSERT_NE(ac300.selected, nullptr);
  // EP500: one pack, no selector (the pack number register is not used).
  const auto ep500 = plan_packs(model("EP500"));
  EXPECT_EQ(ep500.max_packs, 1u);
  EXPECT_EQ(ep500.selected, nullptr);
  ASSERT_EQ(ep500.reads.size(), 1u);
  EXPECT_EQ(ep500.reads[0].address, 92);
  EXPECT_EQ(ep500.reads[0].count, 29);
  EXPECT_EQ(ep500.entities.size(), 2u);  // voltage, percent (bluetti_mqtt has no EP500 pack status)
  // EP600 (IoT V2): voltage and SOC registers only.
  const auto ep600 = plan_packs(model("EP600"));
  ASSERT_EQ(ep600.reads.size(), 1u);
  EXPECT_EQ(ep600.reads[0].address, 6111);
  EXPECT_EQ(ep600.reads[0].count, 3);
  // No pack data: no plan.
  EXPECT_EQ(plan_packs(model("AC180")).max_packs, 0u);
  EXPECT_TRUE(plan_packs(model("AC180")).reads.empty());
  // Every model: reads inside the table's pack blocks, one per block at most.
  for (const auto& m : bluetti::models::all()) {
    const auto p = plan_packs(m);
    EXPECT_EQ(p.max_packs, m.packs.max_packs) << m.name;
    EXPECT_LE(p.reads.size(), m.packs.blocks.size()) << m.name;
    for (const auto& r : p.reads) {
      bool inside = false;
      for (const auto& b : m.packs.blocks) inside = inside || (r.address >= b.address && r.address + r.count <= b.address + b.count);
      EXPECT_TRUE(inside) << m.name << " " << r.address;
    }
  }
}

TEST(Packs, DetailsAreBluettiMqttsJson) {
  const auto p = plan_packs(model("AC300"));
  bluetti::RegisterValues regs{{96, 2}, {97, 1}, {98, 5280}, {99, 87}};
  for (std::uint16_t i = 0; i < 16; ++i) regs[static_cast<std::uint16_t>(105 + i)] = static_cast<std::uint16_t>(i == 3 ? 330 : 335);
  // json.dumps({'status': 'CHARGE', 'percent': 87, 'voltage': float(Decimal('52.80')),
  //             'voltages': [...]}, separators=(',', ':'))
  EXPECT_EQ(pack_details_payload(p, regs),
            "{\"status\":\"CHARGE\",\"percent\":87,\"voltage\":52.8,\"voltages\":[3.35,3.35,3.35,3.3,3.35,3.35,3.35,3.35,3.35,3.35,"
            "3.35,3.35,3.35,3.35,3.35,3.35]}");
  EXPECT_EQ(shown_pack(p, 1, regs), 2u);  // the number the unit shows, as bluetti_mqtt takes it
  regs[98] = 5200;                        // float(Decimal('52.00')) prints 52.0
  regs[97] = 9;                           // not a BatteryState: left out
  regs.erase(110);                        // a cell missing: no "voltages"
  EXPECT_EQ(pack_details_payload(p, regs), "{\"percent\":87,\"voltage\":52.0}");
  regs[96] = 0;
  EXPECT_EQ(shown_pack(p, 1, regs), 0u);  // no pack shown: nothing published
  regs[96] = 5;
  EXPECT_EQ(shown_pack(p, 1, regs), 0u);  // above max_packs
  EXPECT_EQ(pack_details_payload(p, {}), "");
  // EP500: 0.1 V pack voltage at 92; the pack is the one asked for.
  const auto ep = plan_packs(model("EP500"));
  EXPECT_EQ(pack_details_payload(ep, {{92, 538}, {94, 96}}), "{\"percent\":96,\"voltage\":53.8}");
  EXPECT_EQ(shown_pack(ep, 1, {{96, 0}}), 1u);
  EXPECT_EQ(pack_details_name(3), "pack_details3");
}

TEST(Packs, DiscoveryIsBluettiMqttsPerPackSensors) {
  const DeviceIdentity d{"AC300", 2345000000001ULL};
  const auto p = plan_packs(model("AC300"));
  const PackEntity& percent = p.entities[2];
  EXPECT_EQ(pack_discovery_topic("homeassistant", d, percent, 2), "homeassistant/sensor/2345000000001_pack_percent2/config");
  const auto j = nlohmann::json::parse(pack_discovery_payload({"blecrypt/gateway/availability", "0.1.0"}, d, percent, 2));
  EXPECT_EQ(j["state_topic"], "bluetti/state/AC300-2345000000001/pack_details2");
  EXPECT_EQ(j["unique_id"], "2345000000001_pack_percent2");
  EXPECT_EQ(j["object_id"], "AC300_pack_percent2");
  EXPECT_EQ(j["name"], "Battery Pack 2 Percent");
  EXPECT_EQ(j["unit_of_measurement"], "%");
  EXPECT_EQ(j["device_class"], "battery");
  EXPECT_EQ(j["state_class"], "measurement");
  EXPECT_EQ(j["value_template"], "{{ value_json.percent }}");
  EXPECT_FALSE(j.contains("command_topic"));
  EXPECT_EQ(j["availability"][1]["topic"], "bluetti/availability/AC300-2345000000001");
  const auto v = nlohmann::json::parse(pack_discovery_payload({"a", "v"}, d, p.entities[1], 4));
  EXPECT_EQ(v["name"], "Battery Pack 4 Voltage");
  EXPECT_EQ(v["force_update"], true);
  EXPECT_EQ(v["value_template"], "{{ value_json.voltage }}");
  const auto st = nlohmann::json::parse(pack_discovery_payload({"a", "v"}, d, p.entities[0], 1));
  EXPECT_EQ(st["unique_id"], "2345000000001_pack_status1");
  EXPECT_EQ(st["options"], nlohmann::json::array({"STANDBY", "CHARGE", "DISCHARGE"}));
}

TEST(Entities, DisplayNamesAreBluettiMqttsWhereItHasOne) {
  const auto ac300 = entities(model("AC300"));
  EXPECT_EQ(display_name(*find_entity(ac300, "ac_output_on")), "AC Output");
  EXPECT_EQ(display_name(*find_entity(ac300, "ups_mode")), "UPS Working Mode");
  EXPECT_EQ(display_name(*find_entity(ac300, "internal_current_one")), "Internal Current Sensor 1");
  EXPECT_EQ(display_name(*find_entity(ac300, "power_generation")), "Total Power Generation");
  EXPECT_EQ(display_name(*find_entity(ac300, "auto_sleep_mode")), "Screen Auto Sleep Mode");
  EXPECT_EQ(display_name(*find_entity(entities(model("EB3A")), "eco_on")), "ECO");
  EXPECT_EQ(display_name(*find_entity(ac300, "internal_dc_input_voltage")), "DC Input Voltage 1");
  // No bluetti_mqtt name: derived from the topic name.
  EXPECT_EQ(display_name(*find_entity(entities(model("AC180")), "ac_output_voltage")), "AC Output Voltage");
}

TEST(Config, PackIntervalAndSettle) {
  const auto p = parse_config("devices:\n  - {emulator: AC300, pack_interval: 30, pack_settle_ms: 500}\n  - {emulator: AC500}\n");
  ASSERT_TRUE(p.ok()) << dump(p);
  EXPECT_EQ(p.config.devices[0].pack_interval, std::optional<Duration>(30s));
  EXPECT_EQ(p.config.devices[0].pack_settle, std::optional<Duration>(500ms));
  EXPECT_FALSE(p.config.devices[1].pack_interval.has_value());
  const auto bad = parse_config("devices:\n  - {emulator: AC300, pack_interval: -1}\n  - {emulator: 5, protocol: sesame, pack_settle_ms: 1}\n");
  EXPECT_TRUE(has_issue(bad, 2, "devices[0].pack_interval")) << dump(bad);
  EXPECT_TRUE(has_issue(bad, 3, "devices[1].pack_settle_ms")) << dump(bad);
}

// ---- scheduler -------------------------------------------------------------------------------

namespace {
struct Recorder {
  DeviceScheduler s;
  std::vector<Action> seen;
  explicit Recorder(SchedulerConfig c) : s(c) {}
  std::vector<Action>& drain() {
    seen.clear();
    while (auto a = s.poll_action()) seen.push_back(std::move(*a));
    return seen;
  }
  template <typename T>
  std::size_t count() const {
    std::size_t n = 0;
    for (const auto& a : seen) n += std::holds_alternative<T>(a);
    return n;
  }
  // Where every pack-tier test starts: the tier set, the link up at `start` and its first
  // refresh (one Poll, ahead of any pack step) done at `polled`; seen = what followed.
  void refreshed_with(PackTier tier, TimePoint start, TimePoint polled) {
    s.set_pack_tier(tier, start);
    s.start(start);
    s.on_link_up(start);
    drain();
    ASSERT_EQ(count<actions::Poll>(), 1u);  // the refresh first
    s.poll_done(polled, true);
    drain();
  }
};
Command cmd(std::string field, std::uint16_t v) { return Command{0, std::move(field), v, "r", {}}; }
const TimePoint t0 = time_from_seconds(1000);
}  // namespace

TEST(Scheduler, ConnectsPollsOnTheIntervalAndGoesOnlineOffline) {
  Recorder r({});
  r.s.start(t0);
  r.drain();
  EXPECT_EQ(r.count<actions::Connect>(), 1u);
  ASSERT_EQ(r.count<actions::Availability>(), 1u);
  EXPECT_FALSE(r.s.available());
  r.s.on_link_up(t0 + 1s);
  r.drain();
  EXPECT_EQ(r.count<actions::Poll>(), 1u);
  EXPECT_TRUE(r.s.available());
  r.s.poll_done(t0 + 2s, true);
  EXPECT_EQ(r.s.next_deadline(), t0 + 7s);
  r.s.on_deadline(t0 + 6s);
  EXPECT_TRUE(r.drain().empty());
  r.s.on_deadline(t0 + 7s);
  r.drain();
  EXPECT_EQ(r.count<actions::Poll>(), 1u);
  r.s.on_link_down(t0 + 8s);
  r.drain();
  EXPECT_EQ(r.count<actions::Availability>(), 1u);
  EXPECT_FALSE(r.s.available());
  // Backoff: reconnect after 1 s, then 2 s.
  EXPECT_EQ(r.s.next_deadline(), t0 + 9s);
  r.s.on_deadline(t0 + 9s);
  r.drain();
  EXPECT_EQ(r.count<actions::Connect>(), 1u);
  r.s.on_link_down(t0 + 9s);
  EXPECT_EQ(r.s.next_deadline(), t0 + 11s);
}

TEST(Scheduler, CommandsGoBeforePollsOneAtATime) {
  Recorder r({});
  r.s.start(t0);
  r.s.on_link_up(t0);
  r.drain();  // poll in flight
  EXPECT_FALSE(r.s.submit(cmd("ac_output_on", 1), t0));
  EXPECT_FALSE(r.s.submit(cmd("dc_output_on", 0), t0));
  EXPECT_TRUE(r.drain().empty());  // the poll is still in flight
  r.s.poll_done(t0 + 1s, true);
  r.drain();
  ASSERT_EQ(r.count<actions::Write>(), 1u);
  EXPECT_EQ(std::get<actions::Write>(r.seen[0]).command.field, "ac_output_on");
  r.s.write_done(t0 + 1s);
  r.drain();
  ASSERT_EQ(r.count<actions::Write>(), 1u);
  EXPECT_EQ(std::get<actions::Write>(r.seen[0]).command.field, "dc_output_on");
  r.s.write_done(t0 + 1s);
  r.drain();
  EXPECT_EQ(r.count<actions::Poll>(), 1u);  // refresh after a command
}

TEST(Scheduler, QueueIsBounded) {
  SchedulerConfig c;
  c.queue_limit = 3;
  Recorder r(c);
  r.s.start(t0);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(r.s.submit(cmd("ac_output_on", 1), t0));
  EXPECT_EQ(r.s.submit(cmd("ac_output_on", 1), t0), make_error_code(Errc::queue_full));
  EXPECT_EQ(r.s.queued(), 3u);
}

TEST(Scheduler, CommandsWaitForADownDeviceThenFail) {
  SchedulerConfig c;
  c.command_wait = 4s;
  Recorder r(c);
  r.s.start(t0);
  r.drain();
  EXPECT_FALSE(r.s.submit(cmd("ac_output_on", 1), t0));
  r.s.on_link_down(t0 + 1s);  // connect failed
  r.drain();
  EXPECT_EQ(r.count<actions::CommandFailed>(), 0u);
  r.s.on_deadline(t0 + 4s);
  r.drain();
  ASSERT_EQ(r.count<actions::CommandFailed>(), 1u);
  for (const auto& a : r.seen) {
    if (const auto* f = std::get_if<actions::CommandFailed>(&a)) {
      EXPECT_EQ(f->error, make_error_code(Errc::device_unavailable));
    }
  }
  // Once the device is back the failed command is not sent.
  r.s.on_deadline(t0 + 5s);
  r.drain();
  r.s.on_link_up(t0 + 5s);
  r.drain();
  EXPECT_EQ(r.count<actions::Write>(), 0u);
  EXPECT_EQ(r.count<actions::Poll>(), 1u);
}

TEST(Scheduler, ACommandInFlightWhenTheLinkDropsFailsAndIsNeverReplayed) {
  Recorder r({});
  r.s.start(t0);
  r.s.on_link_up(t0);
  r.drain();
  r.s.poll_done(t0, true);
  EXPECT_FALSE(r.s.submit(cmd("ac_output_on", 1), t0));
  r.drain();
  ASSERT_EQ(r.count<actions::Write>(), 1u);
  r.s.on_link_down(t0 + 1s);
  r.drain();
  ASSERT_EQ(r.count<actions::CommandFailed>(), 1u);
  EXPECT_EQ(std::get<actions::CommandFailed>(r.seen[0]).error, make_error_code(Errc::link_lost));
  r.s.on_deadline(t0 + 2s);
  r.drain();
  r.s.on_link_up(t0 + 2s);
  r.drain();
  EXPECT_EQ(r.count<actions::Write>(), 0u);
}

TEST(Scheduler, ConnectPerPollDisconnectsAfterEachPoll) {
  SchedulerConfig c;
  c.persistent = false;
  Recorder r(c);
  r.s.start(t0);
  r.s.on_link_up(t0);
  r.drain();
  r.s.poll_done(t0 + 1s, true);
  r.drain();
  EXPECT_EQ(r.count<actions::Disconnect>(), 1u);
  r.s.on_link_down(t0 + 1s);
  r.drain();
  EXPECT_EQ(r.count<actions::Availability>(), 0u);  // a planned disconnect is not an outage
  EXPECT_EQ(r.s.next_deadline(), t0 + 6s);
}

// The pack tier on a virtual clock: select, settle as a deadline (polls and commands run
// meanwhile), read, one pack per interval, in turn.
TEST(Scheduler, PackTierSelectsSettlesThenReadsWithoutHoldingUpPollsOrCommands) {
  Recorder r({});  // poll every 5 s
  r.refreshed_with({3, true, 10s, 60s}, t0, t0 + 1s);
  ASSERT_EQ(r.count<actions::SelectPack>(), 1u);
  EXPECT_EQ(std::get<actions::SelectPack>(r.seen[0]).pack, 1u);
  EXPECT_EQ(r.s.state(), DeviceScheduler::State::selecting_pack);
  r.s.pack_select_done(t0 + 2s, true);
  r.drain();
  EXPECT_TRUE(r.seen.empty());                 // settling: nothing read yet
  EXPECT_EQ(r.s.state(), DeviceScheduler::State::idle);
  EXPECT_EQ(r.s.next_deadline(), t0 + 6s);     // the next live poll comes first
  r.s.on_deadline(t0 + 6s);
  r.drain();
  ASSERT_EQ(r.count<actions::Poll>(), 1u);     // the live refresh is not held up by the settle
  r.s.poll_done(t0 + 6s, true);
  EXPECT_FALSE(r.s.submit(cmd("ac_output_on", 1), t0 + 7s));
  r.drain();
  ASSERT_EQ(r.count<actions::Write>(), 1u);    // nor is a command
  // ...but a command may page the unit: the pack is selected again before it is read.
  r.s.write_done(t0 + 7s);
  r.drain();
  ASSERT_EQ(r.count<actions::Poll>(), 1u);
  r.s.poll_done(t0 + 7s, true);
  r.drain();
  ASSERT_EQ(r.count<actions::SelectPack>(), 1u);
  r.s.pack_select_done(t0 + 8s, true);
  EXPECT_EQ(r.s.next_deadline(), t0 + 12s);    // poll at 12, settle ends at 18
  r.s.on_deadline(t0 + 12s);
  r.drain();
  r.s.poll_done(t0 + 12s, true);
  EXPECT_EQ(r.s.next_deadline(), t0 + 17s);
  r.s.on_deadline(t0 + 17s);
  r.drain();
  r.s.poll_done(t0 + 17s, true);
  EXPECT_EQ(r.s.next_deadline(), t0 + 18s);    // the settle deadline
  r.s.on_deadline(t0 + 17s + 999ms);
  EXPECT_TRUE(r.drain().empty());
  r.s.on_deadline(t0 + 18s);
  r.drain();
  ASSERT_EQ(r.count<actions::ReadPack>(), 1u);
  EXPECT_EQ(std::get<actions::ReadPack>(r.seen[0]).pack, 1u);
  r.s.pack_read_done(t0 + 18s, true);
  EXPECT_EQ(r.s.pack_reads(), 1u);
  EXPECT_EQ(r.s.next_pack(), 2u);
  // The next pack one interval later (after that instant's poll), then 3, then 1 again.
  unsigned expect = 2;
  TimePoint now = t0 + 18s;
  for (int k = 0; k < 3; ++k) {
    const TimePoint due = now + 60s;
    bool selected = false;
    while (!selected) {
      now = *r.s.next_deadline();
      ASSERT_LE(now, due);
      r.s.on_deadline(now);
      for (auto& a : r.drain()) {
        if (std::holds_alternative<actions::Poll>(a)) r.s.poll_done(now, true);
        if (auto* sp = std::get_if<actions::SelectPack>(&a)) {
          EXPECT_EQ(sp->pack, expect);
          EXPECT_EQ(now, due);
          selected = true;
        }
      }
    }
    r.s.pack_select_done(now, true);
    r.drain();
    while (true) {
      now = *r.s.next_deadline();
      r.s.on_deadline(now);
      r.drain();
      if (r.count<actions::ReadPack>()) break;
      ASSERT_EQ(r.count<actions::Poll>(), 1u);
      r.s.poll_done(now, true);
      r.drain();
      if (r.count<actions::ReadPack>()) break;
    }
    EXPECT_EQ(now, due + 10s);
    r.s.pack_read_done(now, true);
    expect = expect % 3 + 1;
  }
  EXPECT_EQ(r.s.pack_reads(), 4u);
  // The unit reports two packs: 1, 2, 1, ...
  r.s.set_pack_count(2);
  EXPECT_EQ(r.s.pack_count(), 2u);
  EXPECT_EQ(r.s.next_pack(), 2u);
  r.s.set_pack_count(9);
  EXPECT_EQ(r.s.pack_count(), 3u);  // never above the table's
}

TEST(Scheduler, PackTierWithoutPagingAndAcrossALinkDrop) {
  Recorder r({});
  r.refreshed_with({1, false, 0s, 60s}, t0, t0);
  ASSERT_EQ(r.count<actions::ReadPack>(), 1u);  // no selector: read at once
  r.s.pack_read_done(t0 + 1s, true);
  // Paging: a drop during the settle forgets the selection; after reconnect it is selected again.
  Recorder q({});
  q.refreshed_with({2, true, 10s, 60s}, t0, t0);
  ASSERT_EQ(q.count<actions::SelectPack>(), 1u);
  q.s.pack_select_done(t0 + 1s, true);
  q.s.on_link_down(t0 + 2s);
  q.drain();
  q.s.on_deadline(t0 + 3s);
  q.drain();
  ASSERT_EQ(q.count<actions::Connect>(), 1u);
  q.s.on_link_up(t0 + 3s);
  q.drain();
  q.s.poll_done(t0 + 3s, true);
  q.drain();
  ASSERT_EQ(q.count<actions::SelectPack>(), 1u);
  EXPECT_EQ(std::get<actions::SelectPack>(q.seen[0]).pack, 1u);
  // A failed select skips that pack until the next interval.
  q.s.pack_select_done(t0 + 4s, false);
  EXPECT_EQ(q.s.next_pack(), 2u);
  EXPECT_EQ(q.s.next_deadline(), t0 + 8s);  // the next poll; the pack tier waits until t0 + 64 s
  // No interval: no pack tier.
  Recorder z({});
  z.s.set_pack_tier({4, true, 10s, 0s}, t0);
  EXPECT_EQ(z.s.next_pack(), 0u);
}

TEST(Scheduler, ConnectPerPollKeepsTheLinkForADuePackStep) {
  SchedulerConfig c;
  c.persistent = false;
  Recorder r(c);
  r.refreshed_with({2, true, 2s, 60s}, t0, t0);
  EXPECT_EQ(r.count<actions::Disconnect>(), 0u);
  ASSERT_EQ(r.count<actions::SelectPack>(), 1u);
  r.s.pack_select_done(t0, true);
  r.s.on_deadline(t0 + 2s);
  r.drain();
  ASSERT_EQ(r.count<actions::ReadPack>(), 1u);
  r.s.pack_read_done(t0 + 2s, true);
  r.drain();
  EXPECT_EQ(r.count<actions::Disconnect>(), 1u);
}

TEST(Scheduler, StopFailsQueuedCommands) {
  Recorder r({});
  r.s.start(t0);
  EXPECT_FALSE(r.s.submit(cmd("ac_output_on", 1), t0));
  r.drain();
  r.s.stop();
  r.drain();
  EXPECT_EQ(r.count<actions::CommandFailed>(), 1u);
  EXPECT_EQ(r.s.submit(cmd("ac_output_on", 1), t0), make_error_code(Errc::device_disabled));
}

// ---- SESAME topics ---------------------------------------------------------------------------

#include "blecrypt/gateway/sesame_mapping.hpp"

TEST(SesameMapping, TopicsUseTheUpperCaseUuid) {
  sesame::Uuid u{};
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = static_cast<std::uint8_t>(0xA0 + i);
  const auto l = sesame_topics::make_lock(u, sesame::model::sesame5);
  EXPECT_EQ(l.uuid, "A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF");
  EXPECT_EQ(sesame_topics::state_topic(l), "sesame/A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF/state");
  EXPECT_EQ(sesame_topics::set_topic(l), "sesame/A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF/set");
  EXPECT_EQ(sesame_topics::result_topic(l), "sesame/A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF/set/result");
}

TEST(SesameMapping, SetPayloadsAreExact) {
  auto p = [](std::string_view s) { return sesame_topics::parse_set_payload(sesame::model::sesame5, as_bytes(s)); };
  EXPECT_EQ(*p("LOCK"), sesame_topics::Command::lock);
  EXPECT_EQ(*p("UNLOCK"), sesame_topics::Command::unlock);
  EXPECT_EQ(p("OPEN").error(), Errc::value_out_of_range);  // no SESAME 5 model unlatches
  for (auto bad : {"lock", "LOCK ", "", "TOGGLE", "ON"}) EXPECT_EQ(p(bad).error(), Errc::payload_invalid) << bad;
}

TEST(SesameMapping, StateNamesFollowTheMechStatus) {
  sesame::MechStatus s{3000, sesame::kNoTarget, -90, sesame::MechStatus::in_lock_range | sesame::MechStatus::stopped};
  EXPECT_EQ(*sesame_topics::state_name(s, std::nullopt), "locked");
  s.flags = sesame::MechStatus::in_unlock_range | sesame::MechStatus::stopped;
  EXPECT_EQ(*sesame_topics::state_name(s, std::nullopt), "unlocked");
  s.flags = 0;  // moving
  EXPECT_EQ(*sesame_topics::state_name(s, sesame_topics::Command::lock), "locking");
  EXPECT_EQ(*sesame_topics::state_name(s, sesame_topics::Command::unlock), "unlocking");
  s.flags = sesame::MechStatus::critical;
  EXPECT_EQ(*sesame_topics::state_name(s, std::nullopt), "jammed");
  EXPECT_EQ(sesame_topics::voltage_text(sesame::MechStatus{3000, 0, 0, 0}), "6.00");
}

TEST(SesameMapping, DiscoveryIsAHomeAssistantLockWithSensors) {
  const auto l = sesame_topics::make_lock(sesame::Uuid{}, sesame::model::sesame5_pro);
  const auto d = sesame_topics::discovery("homeassistant", "blecrypt/gateway/availability", "0.1.0", l);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].topic, "homeassistant/lock/" + l.uuid + "/config");
  const auto j = nlohmann::json::parse(d[0].payload);
  EXPECT_EQ(j["command_topic"], sesame_topics::set_topic(l));
  EXPECT_EQ(j["state_topic"], sesame_topics::state_topic(l));
  EXPECT_EQ(j["payload_lock"], "LOCK");
  EXPECT_EQ(j["state_jammed"], "jammed");
  EXPECT_FALSE(j.contains("payload_open"));
  EXPECT_EQ(j["availability"][1]["topic"], sesame_topics::availability_topic(l));
  EXPECT_EQ(j["device"]["manufacturer"], "CANDY HOUSE");
  EXPECT_EQ(d[1].topic, "homeassistant/sensor/" + l.uuid + "_battery/config");
  EXPECT_EQ(nlohmann::json::parse(d[1].payload)["device_class"], "battery");
}
