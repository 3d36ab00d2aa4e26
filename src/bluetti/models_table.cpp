// The BLUETTI model table (data only; the logic is in models.cpp).
//
// Facts (addresses, scales, enum values, which registers are writable) come from public projects,
// named per model below and in docs/bluetti-models.md:
//   [M] warhammerkid/bluetti_mqtt 0.15.0, bluetti_mqtt/core/devices/*.py (field names = the
//       gateway's topic names)
//   [L] Patrick762/bluetti-bt-lib (HEAD 6e8689e), bluetti_bt_lib/devices/*.py, base_devices/*.py,
//       README (which models were validated on a unit and by whom)
//   [H] Patrick762/hassio-bluetti-bt issue threads with real unit logs (#43, #76, #137)
//   [A] vlad-zeus/bluetti-sdk docs/blocks (APK notes; single source, not confirmed on a unit)
// Where the sources disagree the choice and the reason are written next to the field.
// The Home Assistant classes follow hassio-bluetti-bt's FieldDeviceClass/FieldStateClass tables.
#include <array>

#include "blecrypt/bluetti/models.hpp"

namespace blecrypt::bluetti::models {
namespace {

// ---- choices (enum values from [M] and [L]; names as bluetti_mqtt publishes them) ----------
constexpr Choice kOutputMode[] = {{0, "STOP"}, {1, "INVERTER_OUTPUT"}, {2, "BYPASS_OUTPUT_C"}, {3, "BYPASS_OUTPUT_D"}, {4, "LOAD_MATCHING"}};
constexpr Choice kUpsMode[] = {{1, "CUSTOMIZED"}, {2, "PV_PRIORITY"}, {3, "STANDARD"}, {4, "TIME_CONTROL"}};
constexpr Choice kMachineAddress[] = {{0, "SLAVE"}, {1, "MASTER"}};
constexpr Choice kAutoSleep[] = {{2, "THIRTY_SECONDS"}, {3, "ONE_MINUTE"}, {4, "FIVE_MINUTES"}, {5, "NEVER"}};
constexpr Choice kBatteryState[] = {{0, "STANDBY"}, {1, "CHARGE"}, {2, "DISCHARGE"}};
constexpr Choice kLedMode[] = {{1, "LOW"}, {2, "HIGH"}, {3, "SOS"}, {4, "OFF"}};
constexpr Choice kEcoShutdown[] = {{1, "ONE_HOUR"}, {2, "TWO_HOURS"}, {3, "THREE_HOURS"}, {4, "FOUR_HOURS"}};
constexpr Choice kChargingMode[] = {{0, "STANDARD"}, {1, "SILENT"}, {2, "TURBO"}};

// ---- Home Assistant names ----------------------------------------------------------------
// The entity names bluetti_mqtt's discovery gives its fields ([M] mqtt_client.py
// NORMAL_DEVICE_FIELDS, home_assistant_extra 'name'), so entities keep their names when users
// move to the gateway. Keyed by the bluetti_mqtt field name; every builder below applies it.
struct HaName {
  std::string_view mqtt, name;
};
constexpr HaName kHaNames[] = {
    {"dc_input_power", "DC Input Power"},
    {"ac_input_power", "AC Input Power"},
    {"ac_output_power", "AC Output Power"},
    {"dc_output_power", "DC Output Power"},
    {"power_generation", "Total Power Generation"},
    {"total_battery_percent", "Total Battery Percent"},
    {"ac_output_on", "AC Output"},
    {"dc_output_on", "DC Output"},
    {"ac_output_mode", "AC Output Mode"},
    {"internal_ac_voltage", "Internal AC Voltage"},
    {"internal_current_one", "Internal Current Sensor 1"},
    {"internal_power_one", "Internal Power Sensor 1"},
    {"internal_ac_frequency", "Internal AC Frequency"},
    {"internal_current_two", "Internal Current Sensor 2"},
    {"internal_power_two", "Internal Power Sensor 2"},
    {"ac_input_voltage", "AC Input Voltage"},
    {"internal_current_three", "Internal Current Sensor 3"},
    {"internal_power_three", "Internal Power Sensor 3"},
    {"ac_input_frequency", "AC Input Frequency"},
    {"total_battery_voltage", "Total Battery Voltage"},
    {"total_battery_current", "Total Battery Current"},
    {"ups_mode", "UPS Working Mode"},
    {"split_phase_on", "Split Phase"},
    {"split_phase_machine_mode", "Split Phase Machine"},
    {"grid_charge_on", "Grid Charge"},
    {"time_control_on", "Time Control"},
    {"battery_range_start", "Battery Range Start"},
    {"battery_range_end", "Battery Range End"},
    {"led_mode", "LED Mode"},
    {"power_off", "Power Off"},
    {"auto_sleep_mode", "Screen Auto Sleep Mode"},
    {"eco_on", "ECO"},
    {"eco_shutdown", "ECO Shutdown"},
    {"charging_mode", "Charging Mode"},
    {"power_lifting_on", "Power Lifting"},
    // DC_INPUT_FIELDS: bluetti_mqtt publishes these three as dc_input_voltage1 / _power1 /
    // _current1 (topics the gateway does not have: its topics are the struct names below).
    {"internal_dc_input_voltage", "DC Input Voltage 1"},
    {"internal_dc_input_power", "DC Input Power 1"},
    {"internal_dc_input_current", "DC Input Current 1"},
};
constexpr std::string_view ha_name_of(std::string_view mqtt) {
  for (const auto& h : kHaNames)
    if (!mqtt.empty() && h.mqtt == mqtt) return h.name;
  return {};
}

// ---- field builders ----------------------------------------------------------------------
constexpr void ha_classes(Field& f) {
  const std::string_view u = f.unit;
  if (u == "W") f.device_class = "power";
  else if (u == "V") f.device_class = "voltage";
  else if (u == "A") f.device_class = "current";
  else if (u == "Hz") f.device_class = "frequency";
  else if (u == "kWh") f.device_class = "energy";
  else if (u == "%") f.device_class = "battery";
  else if (u == "h") f.device_class = "duration";
  if (!u.empty()) f.state_class = u == "kWh" ? "total_increasing" : "measurement";
}

// A read-only number: raw * scale in `unit`.
constexpr Field num(std::string_view name, std::string_view mqtt, std::uint16_t address, double scale, std::string_view unit,
                    Role role = Role::none, std::uint16_t sample = 0) {
  Field f;
  f.name = name;
  f.mqtt_name = mqtt;
  f.ha_name = ha_name_of(mqtt);
  f.address = address;
  f.scale = scale;
  f.unit = unit;
  f.role = role;
  f.sample = sample;
  ha_classes(f);
  return f;
}
constexpr Field watts(std::string_view name, std::uint16_t address, Role role = Role::none, std::uint16_t sample = 0) {
  return num(name, name, address, 1, "W", role, sample);
}
// A read-only on/off state.
constexpr Field flag(std::string_view name, std::string_view mqtt, std::uint16_t address, Role role = Role::none, std::uint16_t sample = 0) {
  Field f;
  f.name = name;
  f.mqtt_name = mqtt;
  f.ha_name = ha_name_of(mqtt);
  f.address = address;
  f.type = Type::boolean;
  f.max = 1;
  f.component = Component::binary_sensor;
  f.device_class = (role == Role::ac_state || role == Role::dc_state) ? "power" : "";
  f.role = role;
  f.sample = sample;
  return f;
}
// A settable on/off switch (its register also reads back the state).
constexpr Field toggle(std::string_view name, std::string_view mqtt, std::uint16_t address, Role role = Role::none,
                       std::uint16_t sample = 0, Type type = Type::boolean) {
  Field f = flag(name, mqtt, address, role, sample);
  f.type = type;
  f.settable = true;
  f.component = Component::switch_;
  // bluetti_mqtt announces the AC and DC output switches as outlets (mqtt_client.py, 0.15.0).
  f.device_class = role == Role::ac_switch || role == Role::dc_switch ? "outlet" : "switch";
  return f;
}
// A read-only enumeration.
constexpr Field choice(std::string_view name, std::string_view mqtt, std::uint16_t address, std::span<const Choice> c,
                       std::uint16_t sample) {
  Field f;
  f.name = name;
  f.mqtt_name = mqtt;
  f.ha_name = ha_name_of(mqtt);
  f.address = address;
  f.type = Type::enumeration;
  f.choices = c;
  f.device_class = "enum";
  f.sample = sample;
  return f;
}
// A settable enumeration.
constexpr Field select(std::string_view name, std::string_view mqtt, std::uint16_t address, std::span<const Choice> c,
                       std::uint16_t sample) {
  Field f = choice(name, mqtt, address, c, sample);
  f.settable = true;
  f.component = Component::select;
  f.device_class = "";
  return f;
}
// A settable number (raw range min..max).
constexpr Field setting(std::string_view name, std::string_view mqtt, std::uint16_t address, std::uint16_t min,
                        std::uint16_t max, std::string_view unit, Role role, std::uint16_t sample) {
  Field f = num(name, mqtt, address, 1, unit, role, sample);
  f.settable = true;
  f.min = min;
  f.max = max;
  f.component = Component::number;
  f.device_class = "";
  f.state_class = "";
  return f;
}
constexpr Field text(std::string_view name, std::string_view mqtt, std::uint16_t address, std::uint8_t words, Type t,
                     Role role = Role::none) {
  Field f;
  f.name = name;
  f.mqtt_name = mqtt;
  f.ha_name = ha_name_of(mqtt);
  f.address = address;
  f.type = t;
  f.words = words;
  f.role = role;
  return f;
}
constexpr Field serial(std::string_view name, std::string_view mqtt, std::uint16_t address, Role role = Role::none) {
  Field f = text(name, mqtt, address, 4, Type::serial, role);
  return f;
}
constexpr Field version(std::string_view name, std::string_view mqtt, std::uint16_t address, std::uint16_t sample) {
  Field f = text(name, mqtt, address, 2, Type::version);
  f.sample = sample;
  return f;
}
constexpr Field cells(std::string_view name, std::string_view mqtt, std::uint16_t address, std::uint8_t n, double scale) {
  Field f = num(name, mqtt, address, scale, "V", Role::pack_cells, 0);
  f.type = Type::cells;
  f.words = n;
  f.state_class = "";
  return f;
}
// A percentage 0..100 read-only.
constexpr Field percent(std::string_view name, std::string_view mqtt, std::uint16_t address, Role role) {
  Field f = num(name, mqtt, address, 1, "%", role, 80);
  f.max = 100;
  return f;
}

// One field of the three a V1/V2 unit counts its energy with: kWh in 0.1 steps at `address`.
constexpr Field generation(std::uint16_t address, std::uint16_t sample) {
  return num("power_generation", "power_generation", address, 0.1, "kWh", Role::none, sample);
}

// The fields of every part, in order (rows and groups below are each written once and joined here).
template <std::size_t... N>
constexpr std::array<Field, (N + ... + 0)> cat(const std::array<Field, N>&... parts) {
  std::array<Field, (N + ... + 0)> out{};
  std::size_t i = 0;
  auto put = [&](const auto& part) {
    for (const auto& f : part) out[i++] = f;
  };
  (put(parts), ...);
  return out;
}

// ---- IoT V1 (plain ASCII model at 10, serial at 17; controls from 3000) -------------------

// Every V1 model: [M] (all devices) and [L] base_device_v1.
constexpr std::array kV1Core = {
    text("device_type", "device_type", 10, 6, Type::ascii, Role::model_name),
    serial("serial_number", "serial_number", 17, Role::serial),
    watts("dc_input_power", 36, Role::dc_input_power),
    watts("ac_input_power", 37, Role::ac_input_power),
    watts("ac_output_power", 38, Role::ac_output_power),
    watts("dc_output_power", 39, Role::dc_output_power),
    percent("total_battery_percent", "total_battery_percent", 43, Role::soc),
    flag("ac_output_on", "ac_output_on", 48, Role::ac_state),
    flag("dc_output_on", "dc_output_on", 49, Role::dc_state),
};
constexpr std::array kV1Versions = {
    version("arm_version", "arm_version", 23, 4020),
    version("dsp_version", "dsp_version", 25, 4010),
};

// Inverter rows several V1 families share ([M], [L]).
constexpr std::array kAcOutputMode = {choice("ac_output_mode", "ac_output_mode", 70, kOutputMode, 1)};
constexpr std::array kInverterPowerOne = {
    num("internal_current_one", "internal_current_one", 72, 0.1, "A", Role::none, 5),
    watts("internal_power_one", 73, Role::ac_output_power),
};
constexpr std::array kDcInputVoltagePower = {
    num("internal_dc_input_voltage", "internal_dc_input_voltage", 86, 0.1, "V", Role::dc_input_voltage),
    watts("internal_dc_input_power", 87, Role::dc_input_power),
};
constexpr std::array kPackCount = {num("pack_num_max", "pack_num_max", 91, 1, "", Role::pack_count)};
constexpr std::array kV1BatteryVoltage = {num("total_battery_voltage", "total_battery_voltage", 92, 0.1, "V", Role::battery_voltage)};

// V1 controls ([M] and [L]: the register numbers are the same on every V1 model that has them).
constexpr std::array kV1UpsMode = {select("ctrl_ups_mode", "ups_mode", 3001, kUpsMode, 3)};
constexpr std::array kV1Outputs = {
    toggle("ctrl_ac", "ac_output_on", 3007, Role::ac_switch),
    toggle("ctrl_dc", "dc_output_on", 3008, Role::dc_switch),
};
constexpr std::array kV1SocRange = {
    setting("soc_range_start", "battery_range_start", 3015, 0, 100, "%", Role::soc_range_start, 10),
    setting("soc_range_end", "battery_range_end", 3016, 0, 100, "%", Role::soc_range_end, 100),
};
constexpr std::array kV1PowerOff = {toggle("ctrl_power_off", "power_off", 3060)};
constexpr std::array kV1DisplayTimeout = {select("ctrl_display_timeout", "auto_sleep_mode", 3061, kAutoSleep, 5)};

// AC300 / AC500 / EP500 / EP500P share the inverter details and controls of [M]; [H] #76 (an
// AC500 owner) confirms the 0.1 V / 0.01 Hz scales of 71 and 74 that [L] dropped.
constexpr auto kBigInverter = cat(std::array{generation(41, 1234)}, kAcOutputMode,
                                  std::array{num("internal_ac_voltage", "internal_ac_voltage", 71, 0.1, "V", Role::ac_output_voltage)},
                                  kInverterPowerOne,
                                  std::array{
                                      num("internal_ac_frequency", "internal_ac_frequency", 74, 0.01, "Hz", Role::ac_output_frequency),
                                      num("internal_current_two", "internal_current_two", 75, 0.1, "A"),
                                      watts("internal_power_two", 76),
                                      num("ac_input_voltage", "ac_input_voltage", 77, 0.1, "V", Role::none, 2301),
                                      num("internal_current_three", "internal_current_three", 78, 0.1, "A"),
                                      watts("internal_power_three", 79),
                                      num("ac_input_frequency", "ac_input_frequency", 80, 0.01, "Hz", Role::none, 5000),
                                  },
                                  kDcInputVoltagePower,
                                  std::array{num("internal_dc_input_current", "internal_dc_input_current", 88, 0.1, "A", Role::dc_input_current)},
                                  kPackCount);
constexpr auto kBigControls = cat(kV1UpsMode,
                                  std::array{flag("ctrl_split_phase", "split_phase_on", 3004),
                                             choice("ctrl_split_phase_mode", "split_phase_machine_mode", 3005, kMachineAddress, 0)},
                                  kV1Outputs,
                                  std::array{toggle("grid_charge_on", "grid_charge_on", 3011, Role::none, 1),
                                             toggle("time_control_on", "time_control_on", 3013)},
                                  kV1SocRange, std::array{flag("bluetooth_connected", "bluetooth_connected", 3036, Role::none, 1)},
                                  kV1DisplayTimeout);
// The pack selector [M] (3006; bluetti_mqtt issue #71: "a number from 1-4 ... some lag").
constexpr Field pack_selector(std::uint16_t max) {
  return setting("pack_num", "pack_num", 3006, 1, max, "", Role::pack_selector, 1);
}

// Pack rows: the selected pack's number at 96 and its 16 cells from 105 ([M] AC300, AC200M,
// AC500, EP500; [L] AC300 pack fields).
constexpr std::array kPackSelected = {num("pack_selected", "pack_num", 96, 1, "", Role::pack_selected)};
constexpr std::array kCells16 = {cells("cell_voltages", "cell_voltages", 105, 16, 0.01)};

// Per-pack block (after writing 3006).
constexpr auto kV1PackFields = cat(kPackSelected,
                                   std::array{num("pack_voltage", "pack_voltage", 98, 0.01, "V", Role::pack_voltage),
                                              percent("pack_battery_percent", "pack_battery_percent", 99, Role::pack_soc)},
                                   kCells16);
constexpr std::array kAC300PackExtra = {
    choice("pack_status", "pack_status", 97, kBatteryState, 0),
    version("pack_bms_version", "pack_bms_version", 201, 2010),
};
constexpr Block kV1PackBlocks[] = {{96, 25}};
constexpr Block kAC300PackBlocks[] = {{96, 25}, {201, 2}};

// AC300 [M][L]; [H] #43 (AC300 + 2 x B300) shows the cell block on a unit.
constexpr auto kAC300 = cat(kV1Core, kV1Versions, kBigInverter, kV1BatteryVoltage,
                            std::array{num("total_battery_current", "total_battery_current", 93, 0.1, "A")}, kBigControls,
                            std::array{pack_selector(4)});
constexpr auto kAC300Packs = cat(kV1PackFields, kAC300PackExtra);
// AC500 [M][L]: up to six B300S packs.
constexpr auto kAC500 = cat(kV1Core, kV1Versions, kBigInverter, kV1BatteryVoltage, kBigControls, std::array{pack_selector(6)});
// EP500 / EP500P [M][L]: one pack, its voltage at 92 (0.1 V) and SOC at 94 ([M], bluetti_mqtt
// issue #54 shows an EP500P log: pack_voltage 53.8, pack_battery_percent 96, 16 cells).
constexpr auto kEP500 = cat(kV1Core, kV1Versions, kBigInverter, kV1BatteryVoltage, kBigControls);
constexpr auto kEP500Packs = cat(std::array{num("pack_voltage", "pack_voltage", 92, 0.1, "V", Role::pack_voltage),
                                            percent("pack_battery_percent", "pack_battery_percent", 94, Role::pack_soc)},
                                 kPackSelected, kCells16);
constexpr Block kEP500PackBlocks[] = {{92, 29}};

// The AC200 family reads 71 in whole volts, 74 in 0.1 Hz and 88 in 0.01 A ([L]; [H] #137).
constexpr std::array kAC200AcVoltage = {num("internal_ac_voltage", "internal_ac_voltage", 71, 1, "V", Role::none, 230)};
constexpr std::array kAC200AcFrequency = {num("internal_ac_frequency", "internal_ac_frequency", 74, 0.1, "Hz", Role::none, 500)};
constexpr auto kAC200DcInput = cat(kDcInputVoltagePower,
                                   std::array{num("internal_dc_input_current", "internal_dc_input_current", 88, 0.01, "A", Role::dc_input_current)});

// AC200M [M] (scales of [M]; [H] #137 shows an AC200M log: 92 and 98 read 53.95 with 0.01 V, so
// 92 is 0.01 V here, not 0.1 V as on the AC300). [L] reads 86 with 0.1 V and 87 unscaled where
// [M] had 86 unscaled and 87 with 0.1: [L] (later, validated by contributors) is used.
constexpr auto kAC200M = cat(kV1Core, kV1Versions, std::array{generation(41, 456)}, kAcOutputMode, kAC200AcVoltage, kInverterPowerOne,
                             kAC200AcFrequency, kAC200DcInput, kPackCount,
                             std::array{num("total_battery_voltage", "total_battery_voltage", 92, 0.01, "V", Role::battery_voltage),
                                        pack_selector(3)},
                             kV1Outputs, kV1PowerOff, kV1DisplayTimeout);

// AC200L [L] (contributors; ctrl_ac, ctrl_dc, ups mode confirmed by @seaburger).
constexpr auto kAC200L = cat(kV1Core, kV1Versions, kAcOutputMode, kAC200AcVoltage, kAC200AcFrequency, kAC200DcInput, kV1UpsMode,
                             kV1Outputs, kV1SocRange, kV1PowerOff, kV1DisplayTimeout);
// AC200PL [L] (contributor @0x4E4448).
constexpr auto kAC200PL = cat(kV1Core, kAcOutputMode, kAC200AcVoltage, kAC200AcFrequency, kAC200DcInput, kV1Outputs, kV1PowerOff,
                              kV1DisplayTimeout);
// EB3A [M][L] (validated on a unit by the bluetti-bt-lib author, controls included).
constexpr auto kEB3A = cat(kV1Core, kV1Versions,
                           std::array{num("ac_input_voltage", "ac_input_voltage", 77, 0.1, "V", Role::none, 0),
                                      num("dc_input_voltage", "internal_dc_input_voltage", 86, 0.01, "V", Role::dc_input_voltage)},
                           kPackCount, kV1Outputs, std::array{select("ctrl_led_mode", "led_mode", 3034, kLedMode, 4)}, kV1PowerOff,
                           std::array{toggle("ctrl_eco", "eco_on", 3063),
                                      select("ctrl_eco_time_mode", "eco_shutdown", 3064, kEcoShutdown, 4),
                                      select("ctrl_charging_mode", "charging_mode", 3065, kChargingMode, 0),
                                      toggle("ctrl_power_lifting", "power_lifting_on", 3066)});

constexpr Block kBigBlocks[] = {{10, 40}, {70, 24}, {3001, 61}};
constexpr Block kAC200LBlocks[] = {{10, 40}, {70, 19}, {3001, 61}};
constexpr Block kEB3ABlocks[] = {{10, 40}, {70, 22}, {3001, 66}};

// ---- IoT V2 (byte-swapped ASCII model at 110, serial at 116, SOC at 102; controls from 2000) --

constexpr std::array kV2Core = {
    percent("total_battery_percent", "total_battery_percent", 102, Role::soc),
    text("device_type", "device_type", 110, 6, Type::ascii_swapped, Role::model_name),
    serial("serial_number", "serial_number", 116, Role::serial),
};
constexpr std::array kV2Powers = {
    watts("dc_output_power", 140, Role::dc_output_power),
    watts("ac_output_power", 142, Role::ac_output_power),
    watts("dc_input_power", 144, Role::dc_input_power),
    watts("ac_input_power", 146, Role::ac_input_power),
};
constexpr std::array kV2AcInVoltage = {num("ac_input_voltage", "ac_input_voltage", 1314, 0.1, "V")};
// Inverter details of the AC180 family [L] (AC180, AC70 validated on units).
constexpr auto kV2Details = cat(std::array{num("dc_input_voltage", "", 1213, 0.1, "V", Role::dc_input_voltage),
                                           num("dc_input_current", "", 1214, 0.1, "A", Role::dc_input_current),
                                           num("ac_input_frequency", "ac_input_frequency", 1300, 0.1, "Hz")},
                                kV2AcInVoltage,
                                std::array{num("ac_input_current", "", 1315, 0.1, "A"),
                                           num("ac_output_frequency", "", 1500, 0.1, "Hz", Role::ac_output_frequency),
                                           num("ac_output_voltage", "", 1511, 0.1, "V", Role::ac_output_voltage)});
constexpr std::array kV2AcSwitch = {toggle("ctrl_ac", "ac_output_on", 2011, Role::ac_switch)};
constexpr auto kV2Outputs = cat(kV2AcSwitch, std::array{toggle("ctrl_dc", "dc_output_on", 2012, Role::dc_switch)});
constexpr std::array kV2ChargingMode = {select("ctrl_charging_mode", "charging_mode", 2020, kChargingMode, 0)};
constexpr std::array kV2PowerLifting = {toggle("ctrl_power_lifting", "power_lifting_on", 2021)};
// ECO and charging controls of AC180 / AC70 / EL30V2 [L] (2016 and 2019 read only: "not
// controllable" in [L]).
constexpr auto kV2Eco = cat(std::array{toggle("ctrl_eco_dc", "", 2014),
                                       select("ctrl_eco_time_mode_dc", "", 2015, kEcoShutdown, 4),
                                       num("ctrl_eco_min_power_dc", "", 2016, 1, "W", Role::none, 5),
                                       toggle("ctrl_eco_ac", "", 2017),
                                       select("ctrl_eco_time_mode_ac", "", 2018, kEcoShutdown, 4),
                                       num("ctrl_eco_min_power_ac", "", 2019, 1, "W", Role::none, 30)},
                            kV2ChargingMode, kV2PowerLifting);
constexpr std::array kV2Bms = {version("version_bms", "bcu_version", 6175, 1025)};
constexpr std::array kTimeRemaining = {num("time_remaining", "", 104, 0.1, "h", Role::time_remaining)};

constexpr auto kAC180 = cat(kV2Core, kV2Powers, kV2Details, kV2Outputs, kV2Eco, kV2Bms);
constexpr auto kAC70 = cat(kV2Core, kTimeRemaining, kV2Powers, kV2Details, kV2Outputs, kV2Eco, kV2Bms);
constexpr auto kAC70P = cat(kV2Core, kV2Powers, kV2Details);  // also AC180T [L]
constexpr auto kHandsfree1 = cat(kV2Core, kTimeRemaining, kV2Powers, kV2Details);
constexpr auto kAC180P = cat(kV2Core, kV2Powers, kV2AcInVoltage, kV2Outputs, kV2ChargingMode, kV2PowerLifting);
// EL30V2 [L]: time remaining at 104 read as raw / 10000 * 167 hours (minutes / 60 up to 0.2 %).
constexpr auto kEL30V2 = cat(kV2Core, std::array{num("time_remaining", "", 104, 0.0167, "h", Role::time_remaining)}, kV2Powers,
                             kV2AcInVoltage, kV2Outputs, kV2Eco);
// AC60 / AC60P [L] (+ power generation and the battery identity of [M] for the AC60). [L] reads
// 1314 unscaled on these two; every other V2 model reads it in 0.1 V, used here too.
constexpr auto kAC60P = cat(kV2Core, kV2Powers, kV2AcInVoltage, kV2Outputs, kV2PowerLifting);
constexpr auto kAC60 = cat(kAC60P, std::array{generation(154, 321)});
// AP300, EL100V2, PR30V2, PR100V2 [L]: the five core readings and the AC input voltage.
constexpr auto kPlainV2 = cat(kV2Core, kV2Powers, kV2AcInVoltage);
// AC50B [L]: no DC input power ("not validated" in [L]'s README).
constexpr auto kAC50B = cat(kV2Core, kTimeRemaining,
                            std::array{watts("dc_output_power", 140, Role::dc_output_power),
                                       watts("ac_output_power", 142, Role::ac_output_power),
                                       watts("ac_input_power", 146, Role::ac_input_power)});
// AC2A [L]: output states read at 1509 (AC) and 2012 (DC); no controls in [L].
constexpr auto kAC2A = cat(kV2Core, kV2Powers,
                           std::array{generation(154, 87),
                                      flag("ac_output_on", "ac_output_on", 1509, Role::ac_state),
                                      flag("dc_output_on", "dc_output_on", 2012, Role::dc_state),
                                      flag("power_lifting_on", "power_lifting_on", 2021)});
// AC2P [L]: 2011 reads 1 for on and 3 for off (docstring of devices/ac2p.py); 0/1 are written.
constexpr auto kAC2P = cat(kV2Core, kV2Powers,
                           std::array{generation(154, 87),
                                      toggle("ctrl_ac", "ac_output_on", 2011, Role::ac_switch, 0, Type::boolean_one),
                                      toggle("ctrl_dc", "dc_output_on", 2012, Role::dc_switch, 0, Type::boolean_one),
                                      toggle("ctrl_power_lifting", "power_lifting_on", 2021, Role::none, 0, Type::boolean_one)});

// Home battery / inverter systems [L] (EP600 validated on a unit; [M] adds the AC limits and
// the battery identity). The rows the EP2000 reads too are named once here.
constexpr std::array kPv = {
    watts("pv_s1_power", 1212, Role::dc_input_power),
    num("pv_s1_voltage", "", 1213, 0.1, "V", Role::dc_input_voltage),
    num("pv_s1_current", "", 1214, 0.1, "A", Role::dc_input_current),
    watts("pv_s2_power", 1220),
    num("pv_s2_voltage", "", 1221, 0.1, "V"),
    num("pv_s2_current", "", 1222, 0.1, "A"),
};
constexpr std::array kSmartMeter1 = {
    watts("sm_p1_power", 1228),
    num("sm_p1_voltage", "", 1229, 0.1, "V", Role::none, 2300),
    num("sm_p1_current", "", 1230, 1, "A"),
};
constexpr std::array kSmartMeter23 = {
    watts("sm_p2_power", 1236), num("sm_p2_voltage", "", 1237, 0.1, "V", Role::none, 2300), num("sm_p2_current", "", 1238, 1, "A"),
    watts("sm_p3_power", 1244), num("sm_p3_voltage", "", 1245, 0.1, "V", Role::none, 2300), num("sm_p3_current", "", 1246, 1, "A"),
};
constexpr std::array kGridFrequency = {num("grid_frequency", "", 1300, 0.1, "Hz", Role::none, 500)};
constexpr std::array kGridP1Voltage = {num("grid_p1_voltage", "", 1314, 0.1, "V", Role::none, 2300)};
constexpr std::array kGridP2Voltage = {num("grid_p2_voltage", "", 1320, 0.1, "V", Role::none, 2300)};
constexpr std::array kGridP3Voltage = {num("grid_p3_voltage", "", 1326, 0.1, "V", Role::none, 2300)};
constexpr std::array kAcOutputFrequency = {num("ac_output_frequency", "", 1500, 0.1, "Hz", Role::ac_output_frequency)};
constexpr std::array kAcP1Voltage = {num("ac_p1_voltage", "", 1511, 0.1, "V", Role::ac_output_voltage)};
constexpr std::array kAcP2Voltage = {num("ac_p2_voltage", "", 1518, 0.1, "V", Role::none, 2300)};
constexpr std::array kAcP3Voltage = {num("ac_p3_voltage", "", 1525, 0.1, "V", Role::none, 2300)};
constexpr auto kGrid1 = cat(kGridFrequency, std::array{watts("grid_p1_power", 1313, Role::ac_input_power)}, kGridP1Voltage,
                            std::array{num("grid_p1_current", "", 1315, 0.1, "A")});
constexpr auto kGrid23 = cat(std::array{watts("grid_p2_power", 1319)}, kGridP2Voltage, std::array{num("grid_p2_current", "", 1321, 0.1, "A")},
                             std::array{watts("grid_p3_power", 1325)}, kGridP3Voltage, std::array{num("grid_p3_current", "", 1327, 0.1, "A")});
constexpr auto kAcPhase1 = cat(kAcOutputFrequency, std::array{watts("ac_p1_power", 1510, Role::ac_output_power)}, kAcP1Voltage,
                               std::array{num("ac_p1_current", "", 1512, 0.1, "A")});
constexpr auto kAcPhase23 = cat(std::array{watts("ac_p2_power", 1517)}, kAcP2Voltage, std::array{num("ac_p2_current", "", 1519, 0.1, "A")},
                                std::array{watts("ac_p3_power", 1524)}, kAcP3Voltage, std::array{num("ac_p3_current", "", 1526, 0.1, "A")});
constexpr std::array kGridLimits = {
    num("soc_range_start", "battery_range_start", 2022, 1, "%", Role::soc_range_start, 10),
    num("soc_range_end", "battery_range_end", 2023, 1, "%", Role::soc_range_end, 100),
    flag("ctrl_generator", "", 2246),
    num("grid_voltage_min_value", "", 2435, 0.1, "V", Role::none, 1840),
    num("grid_voltage_max_value", "", 2436, 0.1, "V", Role::none, 2530),
    num("grid_frequency_min_value", "", 2437, 0.01, "Hz", Role::none, 4750),
    num("grid_frequency_max_value", "", 2438, 0.01, "Hz", Role::none, 5150),
    text("wifi_name", "", 12002, 16, Type::ascii_swapped),
};
constexpr auto kEP600 = cat(kV2Core, std::array{generation(1202, 2345)}, kPv, kSmartMeter1, kSmartMeter23, kGrid1, kGrid23, kAcPhase1,
                            kAcPhase23, kV2AcSwitch,
                            std::array{num("max_ac_input_power", "max_ac_input_power", 2213, 1, "W", Role::none, 6000),
                                       num("max_ac_input_current", "max_ac_input_current", 2214, 1, "A", Role::none, 26),
                                       num("max_ac_output_power", "max_ac_output_power", 2215, 1, "W", Role::none, 6000),
                                       num("max_ac_output_current", "max_ac_output_current", 2216, 1, "A", Role::none, 26)},
                            kGridLimits);
// V2 battery identity [M][L] (6101 type, 6107 serial, 6175.. versions); pack voltage / SOC from
// the APK notes [A] (PACK_ITEM_INFO: byte 22 -> 6111 in 0.01 V, byte 27 -> low byte of 6113).
constexpr std::array kV2PackFields = {
    text("pack_type", "battery_type", 6101, 6, Type::ascii_swapped),
    serial("pack_sn", "battery_serial_number", 6107),
    num("pack_voltage", "", 6111, 0.01, "V", Role::pack_voltage),
    percent("pack_battery_percent", "", 6113, Role::pack_soc),
    version("version_bcu", "bcu_version", 6175, 1010),
};
constexpr auto kEP600Packs = cat(kV2PackFields, std::array{version("version_bmu", "bmu_version", 6178, 1020),
                                                           version("version_safety_module", "safety_module_version", 6181, 1030),
                                                           version("version_hv_module", "high_voltage_module_version", 6184, 1040)});
constexpr Block kV2PackBlocks[] = {{6101, 13}, {6175, 2}};
constexpr Block kEP600PackBlocks[] = {{6101, 13}, {6175, 11}};

constexpr auto kEP760 = cat(kV2Core, kPv, kSmartMeter1, kGrid1, kAcPhase1, std::array{toggle("ctrl_ac", "ac_output_on", 2208, Role::ac_switch)});
// EP2000 [L] (tests only, not in [L]'s README): 2011 read as a state, not a switch.
constexpr auto kEP2000 = cat(kV2Core, kPv, kGridFrequency, kGridP1Voltage, kGridP2Voltage, kGridP3Voltage, kAcOutputFrequency, kAcP1Voltage,
                             kAcP2Voltage, kAcP3Voltage, std::array{flag("ctrl_ac", "ac_output_on", 2011, Role::ac_state)}, kGridLimits);

constexpr Block kAC180Blocks[] = {{100, 47}, {1213, 2}, {1300, 16}, {1500, 12}, {2011, 11}, {6175, 2}};
constexpr Block kAC70PBlocks[] = {{100, 47}, {1213, 2}, {1300, 16}, {1500, 12}};
constexpr Block kAC180PBlocks[] = {{100, 47}, {1314, 1}, {2011, 2}, {2020, 2}};
constexpr Block kEL30V2Blocks[] = {{100, 47}, {1314, 1}, {2011, 11}};
constexpr Block kAC60Blocks[] = {{100, 62}, {1314, 1}, {2011, 2}, {2021, 1}};
constexpr Block kPlainV2Blocks[] = {{100, 47}, {1314, 1}};
constexpr Block kAC50BBlocks[] = {{100, 47}};
constexpr Block kAC2ABlocks[] = {{100, 55}, {1509, 1}, {2012, 10}};
constexpr Block kAC2PBlocks[] = {{100, 55}, {2011, 2}, {2021, 1}};
constexpr Block kEP600Blocks[] = {{100, 20}, {1202, 45}, {1300, 28}, {1500, 27}, {2011, 1}, {2022, 2}, {2213, 4}, {2246, 1}, {2435, 4}, {12002, 16}};
constexpr Block kEP760Blocks[] = {{100, 20}, {1212, 19}, {1300, 16}, {1500, 13}, {2208, 1}};
constexpr Block kEP2000Blocks[] = {{100, 20}, {1212, 11}, {1300, 27}, {1500, 26}, {2011, 1}, {2022, 2}, {2246, 1}, {2435, 4}, {12002, 16}};
constexpr Block kEP800Blocks[] = {{100, 20}};

constexpr auto kEP800 = kV2Core;

constexpr const char* kSrcL = "bluetti-bt-lib";
constexpr const char* kSrcML = "bluetti_mqtt, bluetti-bt-lib";

constexpr Model model(std::string_view name, Protocol p, std::span<const Block> blocks, std::span<const Field> fields,
                      Verified v, std::string_view sources, std::uint32_t wh, std::uint16_t ac, std::uint16_t dc,
                      std::uint16_t solar, PackLayout packs = {}) {
  Model m{};
  m.name = name;
  m.protocol = p;
  m.blocks = blocks;
  m.fields = fields;
  m.packs = packs;
  m.verified = v;
  m.sources = sources;
  m.capacity_wh = wh;
  m.ac_load_w = ac;
  m.dc_load_w = dc;
  m.solar_w = solar;
  return m;
}
constexpr PackLayout packs(std::uint8_t max, std::uint16_t selector, std::span<const Block> blocks, std::span<const Field> fields,
                           std::uint32_t settle_ms) {
  return PackLayout{max, selector, blocks, fields, settle_ms};
}

constexpr auto V1 = Protocol::iot_v1;
constexpr auto V2 = Protocol::iot_v2;
constexpr auto HW = Verified::hardware;
constexpr auto CO = Verified::contributor;
constexpr auto UN = Verified::unverified;

// Capacities: the makers' data sheets (Wh of the unit, or of one expansion pack where the
// packs are the battery). Loads: what the emulator draws when an output is on.
const Model kModels[] = {
    model("AC180", V2, kAC180Blocks, kAC180, HW, kSrcL, 1152, 180, 24, 300),
    model("AC70", V2, kAC180Blocks, kAC70, HW, kSrcL, 768, 150, 20, 300),
    model("EB3A", V1, kEB3ABlocks, kEB3A, HW, kSrcML, 268, 90, 18, 200),
    model("EP600", V2, kEP600Blocks, kEP600, HW, kSrcML, 4960, 800, 0, 2000, packs(1, 0, kEP600PackBlocks, kEP600Packs, 0)),
    model("Handsfree 1", V2, kAC70PBlocks, kHandsfree1, HW, kSrcL, 1000, 100, 20, 200),
    model("AC200M", V1, kBigBlocks, kAC200M, CO, kSrcML, 2048, 250, 30, 500, packs(3, 3006, kV1PackBlocks, kV1PackFields, 10000)),
    model("AC300", V1, kBigBlocks, kAC300, CO, kSrcML, 3072, 300, 30, 1200, packs(4, 3006, kAC300PackBlocks, kAC300Packs, 10000)),
    model("AC500", V1, kBigBlocks, kAC500, CO, kSrcML, 3072, 400, 30, 1500, packs(6, 3006, kV1PackBlocks, kV1PackFields, 10000)),
    model("EP500", V1, kBigBlocks, kEP500, CO, kSrcML, 5100, 300, 30, 600, packs(1, 0, kEP500PackBlocks, kEP500Packs, 0)),
    model("EP500P", V1, kBigBlocks, kEP500, CO, kSrcML, 5100, 300, 30, 600, packs(1, 0, kEP500PackBlocks, kEP500Packs, 0)),
    model("AC200L", V1, kAC200LBlocks, kAC200L, CO, kSrcL, 2048, 250, 30, 500),
    model("AC200PL", V1, kAC200LBlocks, kAC200PL, CO, kSrcL, 2304, 250, 30, 500),
    model("AC2A", V2, kAC2ABlocks, kAC2A, CO, kSrcL, 204, 60, 10, 100),
    model("AC2P", V2, kAC2PBlocks, kAC2P, CO, kSrcL, 230, 60, 10, 100),
    model("AC50B", V2, kAC50BBlocks, kAC50B, CO, kSrcL, 448, 80, 15, 150),
    model("AC60", V2, kAC60Blocks, kAC60, CO, kSrcML, 403, 100, 15, 200, packs(1, 0, kV2PackBlocks, kV2PackFields, 0)),
    model("AC60P", V2, kAC60Blocks, kAC60P, CO, kSrcL, 504, 100, 15, 200),
    model("AC70P", V2, kAC70PBlocks, kAC70P, CO, kSrcL, 864, 150, 20, 300),
    model("AC180P", V2, kAC180PBlocks, kAC180P, CO, kSrcL, 1440, 180, 24, 300),
    model("AC180T", V2, kAC70PBlocks, kAC70P, UN, kSrcL, 1433, 180, 24, 300),
    model("AP300", V2, kPlainV2Blocks, kPlainV2, CO, kSrcL, 3072, 300, 0, 1200),
    model("EL30V2", V2, kEL30V2Blocks, kEL30V2, CO, kSrcL, 288, 60, 12, 120),
    model("EL100V2", V2, kPlainV2Blocks, kPlainV2, CO, kSrcL, 1024, 150, 20, 300),
    model("EP760", V2, kEP760Blocks, kEP760, CO, kSrcL, 4960, 800, 0, 2000),
    model("EP800", V2, kEP800Blocks, kEP800, CO, kSrcL, 4960, 800, 0, 2000),
    model("EP2000", V2, kEP2000Blocks, kEP2000, UN, kSrcL, 4960, 800, 0, 2000),
    model("PR30V2", V2, kPlainV2Blocks, kPlainV2, CO, kSrcL, 288, 60, 12, 120),
    model("PR100V2", V2, kPlainV2Blocks, kPlainV2, UN, kSrcL, 1024, 150, 20, 300),
};

}  // namespace

std::span<const Model> all() noexcept { return kModels; }

}  // namespace blecrypt::bluetti::models
