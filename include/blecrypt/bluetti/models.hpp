// The BLUETTI model table: one definition per power station model, as data. Everything that
// knows about a model reads this table: the decoder (register values -> typed field values), the
// encoder for setting writes (range-checked), detection (advertised name + device-type register),
// battery-pack paging, the emulator (bluetti::PowerStation), the CLI (`blecrypt bluetti fields`,
// `models`, `detect`) and the Python package.
//
// The register maps are public facts collected from warhammerkid/bluetti_mqtt,
// Patrick762/bluetti-bt-lib, Patrick762/hassio-bluetti-bt issue threads and the APK notes of
// vlad-zeus/bluetti-sdk; docs/bluetti-models.md says per model which source each came from and
// whether someone confirmed it on a real unit. The table itself (src/bluetti/models.cpp) is
// written for this project.
//
//   const auto* m = bluetti::models::find("AC300");
//   RegisterValues regs;                                   // fill from FC3 reads of m->blocks
//   for (const auto& r : bluetti::models::decode(*m, regs)) std::cout << r.field->name << " " << to_text(r);
//   auto req = bluetti::models::encode_write(*m, "battery_range_end", "90");   // Result<modbus::Request>
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "blecrypt/bluetti/modbus.hpp"

namespace blecrypt::bluetti::models {

// How a field's registers become a value.
enum class Type : std::uint8_t {
  uint16,         // one register, unsigned; value = raw * scale
  int16,          // one register, two's complement; value = raw * scale
  uint32,         // two registers, least significant word first (the order BLUETTI uses for serials)
  boolean,        // one register: 0 false, 1 true; any other raw value is not decoded
  boolean_one,    // one register: 1 true, anything else false (AC2P answers 3 for "off")
  enumeration,    // one register naming one of `choices`; an unlisted raw value decodes without a name
  ascii,          // `words` registers, high byte first (IoT V1), NULs and spaces trimmed
  ascii_swapped,  // `words` registers, low byte first (IoT V2)
  serial,         // four registers, least significant word first
  version,        // two registers, least significant word first, / 100
  cells,          // `words` registers, one cell voltage each (raw * scale)
};
const char* type_name(Type t) noexcept;

// Home Assistant entity kind the gateway publishes the field as.
enum class Component : std::uint8_t { sensor, binary_sensor, switch_, select, number };
const char* component_name(Component c) noexcept;

// What the emulator computes a field from (and what the legacy 9-field telemetry maps to).
enum class Role : std::uint8_t {
  none,           // a constant sample value (settable fields keep what was written)
  model_name, serial, soc,
  dc_input_power, ac_input_power, ac_output_power, dc_output_power,
  ac_state, dc_state,             // read-only output state
  ac_switch, dc_switch,           // settable output switch (its register also reads the state)
  ac_output_voltage, ac_output_frequency, dc_input_voltage, dc_input_current,
  battery_voltage, time_remaining, soc_range_start, soc_range_end,
  pack_count, pack_selector, pack_selected, pack_voltage, pack_soc, pack_cells,
};

// Who confirmed a model's map.
enum class Verified : std::uint8_t {
  hardware,      // the source's author ran it against a real unit ("validated")
  contributor,   // added from an owner's dump or report ("added and mostly validated by contributors")
  unverified,    // registers inferred (shared layout, APK notes) and not yet seen on a unit
};
const char* verified_name(Verified v) noexcept;

struct Choice {
  std::uint16_t value;
  std::string_view name;
};

struct Field {
  std::string_view name;         // unique within the model (bluetti-bt-lib's name where it has one)
  std::string_view mqtt_name;    // the bluetti_mqtt field name ("" when bluetti_mqtt has none)
  std::string_view ha_name;      // bluetti_mqtt's Home Assistant entity name ("" = none: the gateway derives one)
  std::uint16_t address = 0;
  Type type = Type::uint16;
  std::uint8_t words = 1;        // registers covered
  double scale = 1;              // engineering value = raw * scale
  std::string_view unit;
  std::span<const Choice> choices;
  bool settable = false;
  std::uint16_t min = 0, max = 0xFFFF;  // raw range accepted for a write
  Component component = Component::sensor;
  std::string_view device_class;  // Home Assistant device_class ("" = none)
  std::string_view state_class;   // Home Assistant state_class ("" = none)
  Role role = Role::none;
  std::uint16_t sample = 0;       // the emulator's starting raw value (first word)
};

struct Block {
  std::uint16_t address;
  std::uint16_t count;           // 1..125 (one FC3 read)
};

// Battery packs. IoT V1: write the pack number (1-based) to `selector`, wait `settle_ms` (real
// units need a few seconds; bluetti_mqtt waits 10 s), then read `blocks`. IoT V2: no public
// selector register is known (bluetti-official/bluetti-bluetooth-lib #14), `selector` is 0 and the
// blocks show the pack the unit chose.
struct PackLayout {
  std::uint8_t max_packs = 0;    // 0 = the table has no pack data for this model
  std::uint16_t selector = 0;
  std::span<const Block> blocks;
  std::span<const Field> fields;
  std::uint32_t settle_ms = 0;
};

struct Model {
  std::string_view name;         // as in the advertised name and the device-type register
  Protocol protocol;
  std::span<const Block> blocks;  // read these for a full refresh
  std::span<const Field> fields;
  PackLayout packs;
  Verified verified;
  std::string_view sources;       // short source list (details in docs/bluetti-models.md)
  // Emulator physics (plausible figures from the makers' data sheets).
  std::uint32_t capacity_wh = 1000;
  std::uint16_t ac_load_w = 100, dc_load_w = 20, solar_w = 200;
};

// Every model, in the order of docs/bluetti-models.md.
std::span<const Model> all() noexcept;
// Case-insensitive lookup by model name; nullptr if the table has no such model.
const Model* find(std::string_view name) noexcept;
// The field named `name` (or, failing that, the settable field whose mqtt_name is `name`).
const Field* field(const Model& m, std::string_view name) noexcept;
const Field* pack_field(const Model& m, std::string_view name) noexcept;

// ---- decoding ---------------------------------------------------------------------------

using Value = std::variant<bool, std::int64_t, std::uint64_t, double, std::string, std::vector<double>>;

struct Reading {
  const Field* field = nullptr;
  unsigned pack = 0;             // 0 = the unit; 1.. = that battery pack
  std::uint32_t raw = 0;         // first word (uint32/serial: the low 32 bits)
  Value value;
  std::string_view choice;       // enumeration: the name of the value ("" = not in the table)
};

// One field from `regs`; nullopt when a register of it is missing or its raw value is not
// decodable (a boolean that reads neither 0 nor 1).
std::optional<Reading> decode_field(const Field& f, const RegisterValues& regs);
// Every field of the model (pack fields excluded) present in `regs`, in table order.
std::vector<Reading> decode(const Model& m, const RegisterValues& regs);
// Every pack field present in `regs`, tagged with `pack`.
std::vector<Reading> decode_pack(const Model& m, unsigned pack, const RegisterValues& regs);
// The registers of one FC3 answer (`values` read from `address`) decoded against the model
// (fields wholly inside the answer only). Used by the fuzz target and by callers without a map.
std::vector<Reading> decode_block(const Model& m, std::uint16_t address, std::span<const std::uint16_t> values);

// "true", "42", "23.5", "AC180", "STANDARD", "[3.35,3.36]" (JSON-compatible except strings,
// which are returned unquoted).
std::string to_text(const Reading& r);
// The value as a JSON value (strings quoted and escaped, numbers plain, enumerations by name).
std::string to_json(const Reading& r);

// ---- encoding (settings) ----------------------------------------------------------------

// The raw register value for `text`: "on"/"off"/"true"/"false"/"1"/"0" for booleans, a choice
// name (case-insensitive) or its number for enumerations, a decimal number in the field's unit
// for numbers ("23.5" with scale 0.1 -> 235). Errors: setting_invalid (not parseable, not a
// choice), setting_out_of_range (outside min..max), field_not_settable.
Result<std::uint16_t> parse_setting(const Field& f, std::string_view text);
// FC06 write of `raw` to the field, after the range/choice check. Errors as parse_setting.
Result<modbus::Request> encode_write(const Field& f, std::uint16_t raw);
// Looks the field up by name or bluetti_mqtt name, settable fields first (field_unknown when
// missing), and encodes `text`.
Result<modbus::Request> encode_write(const Model& m, std::string_view field_name, std::string_view text);

// ---- battery packs ----------------------------------------------------------------------

// The write that selects pack `pack` (1..max_packs) on an IoT V1 unit. Errors: pack_out_of_range,
// field_not_settable (the model has no selector register).
Result<modbus::Request> select_pack(const Model& m, unsigned pack);
// The reads for the pack data (after select_pack and its settle time).
std::vector<modbus::Request> pack_requests(const Model& m);

// ---- polling ----------------------------------------------------------------------------

std::vector<modbus::Request> poll_requests(const Model& m);

// ---- detection --------------------------------------------------------------------------

// The model an advertised name announces ("AC1802524610159690" -> AC180): the longest table
// name followed only by digits; nullptr when none fits.
const Model* from_advertised_name(std::string_view name) noexcept;

// The registers detection reads: IoT V2 device type + serial (110, 10 words), then, when that
// answers an exception or names no model, IoT V1 (10, 11 words).
inline constexpr std::uint16_t kV2TypeRegister = 110, kV2TypeWords = 10;
inline constexpr std::uint16_t kV1TypeRegister = 10, kV1TypeWords = 11;

struct Identity {
  const Model* model = nullptr;    // the table to use (named by the device-type register)
  Protocol protocol = Protocol::iot_v2;
  std::string reported;            // what the device-type register says
  std::uint64_t serial = 0;        // device serial from the same read (0 = not read)
  const Model* advertised = nullptr;  // what the advertised name said (nullptr: no name / unknown)
  bool confirmed = false;          // advertised model == reported model
};

// Decides from whatever of 110..119 and 10..20 is in `regs`. IoT V2 is tried first (some V2
// units also fill the V1 registers with other data, bluetti-bt-lib device_recognizer).
// Errors: model_unknown (neither register block names a model of the table; `reported` text is
// in the message via identify_text).
Result<Identity> identify(std::string_view advertised_name, const RegisterValues& regs);
// What the device-type registers say, for a message when identify fails ("" if unreadable).
std::string reported_type(const RegisterValues& regs);

}  // namespace blecrypt::bluetti::models
