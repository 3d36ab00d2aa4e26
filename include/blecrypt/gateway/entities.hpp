// What the gateway publishes for a BLUETTI power station, derived from the model table
// (include/blecrypt/bluetti/models.hpp, docs/bluetti-models.md) and nothing else: one entity per
// topic level, the reads that refresh them, and the bluetti_mqtt payload formats.
//
//   entity name   = the field's bluetti_mqtt name (Field::mqtt_name) when it has one, else the
//                   table's name. Two table fields with one bluetti_mqtt name (IoT V1 reads the AC
//                   output state at 48 and switches it at 3007, both "ac_output_on") make one
//                   entity: the first field in table order gives the state, the settable one takes
//                   the commands.
//   payloads      = bluetti_mqtt's (github.com/warhammerkid/bluetti_mqtt 0.15.0,
//                   bluetti_mqtt/mqtt_client.py `_handle_message`): numbers as Python's str() of
//                   the Decimal it decodes (exact, trailing zeros dropped: 2300 x 0.1 -> "230"),
//                   booleans ON / OFF, enumerations by name.
//   refresh       = the table's register blocks, each trimmed to the fields inside it, split in
//                   two tiers: `live` (the blocks holding the state of charge, the power flows and
//                   the output states) read at every poll, `full` (every block) read at connect,
//                   after a command and every kFullRefreshEvery polls.
//   packs         = bluetti_mqtt's per-pack JSON (mqtt_client.py `_build_pack_details`,
//                   device_handler.py `_pack_poll`): bluetti/state/<dev>/pack_details<N> =
//                   {"status":"CHARGE","percent":96,"voltage":53.8,"voltages":[3.35,...]} with the
//                   keys the model's table has, N the pack number the unit shows (register 96 on
//                   IoT V1, as bluetti_mqtt takes `pack_num` from the same read); Home Assistant
//                   sensors "Battery Pack <N> Status/Percent/Voltage" (unique_id <SN>_pack_status<N>,
//                   <SN>_pack_percent<N>, <SN>_pack_voltage<N>) read it with a value_template,
//                   for packs 1..max_packs of the table (bluetti_mqtt's static pack_num_max).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "blecrypt/bluetti/modbus.hpp"
#include "blecrypt/bluetti/models.hpp"
#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"

namespace blecrypt::gateway {

namespace models = bluetti::models;

struct Entity {
  std::string_view name;                  // topic level and unique_id suffix
  const models::Field* state = nullptr;   // read for bluetti/state/<dev>/<name>
  const models::Field* command = nullptr; // written by bluetti/command/<dev>/<name> (nullptr: read-only)
  bool settable() const noexcept { return command != nullptr; }
  // Home Assistant component: the command field's (switch / select / number) else the state's.
  models::Component component() const noexcept;
  // The field whose Home Assistant classes, unit and choices describe the entity.
  const models::Field& describing() const noexcept { return command ? *command : *state; }
};

// Every entity of the model, in table order. Pack fields (paged, docs/bluetti-models.md) and cell
// voltage arrays are not published as entities.
std::vector<Entity> entities(const models::Model& m);
const Entity* find_entity(std::span<const Entity> es, std::string_view name) noexcept;

// ---- refresh plan -------------------------------------------------------------------------------

inline constexpr unsigned kFullRefreshEvery = 12;  // polls (1 min at the default 5 s interval)

struct RefreshPlan {
  std::vector<bluetti::modbus::Request> live;  // every poll
  std::vector<bluetti::modbus::Request> full;  // every block (a superset of live)
};
// Roles read at every poll: state of charge, the four power flows, output states (the block of
// the first field of each such role is a live block).
bool is_live(const models::Field& f) noexcept;
// The model's blocks, each trimmed to the first and last register of the fields inside it (a read
// never leaves a block of the table: units answer exception 2 for unmapped registers). Blocks with
// no field are dropped. When no field is live, live = full.
RefreshPlan plan_refresh(const models::Model& m);

// ---- battery packs ------------------------------------------------------------------------------

// One Home Assistant sensor per pack and JSON key (bluetti_mqtt `battery_pack_fields`).
struct PackEntity {
  std::string_view key;    // JSON key in pack_details<N>: "status", "percent", "voltage"
  std::string_view id;     // unique_id / object_id stem: "pack_status", "pack_percent", "pack_voltage"
  std::string_view label;  // "Status" -> "Battery Pack 1 Status"
  const models::Field* field = nullptr;  // the table field it shows (classes, unit, choices)
};

struct PackPlan {
  unsigned max_packs = 0;               // 0: the gateway publishes no pack data for this model
  std::vector<bluetti::modbus::Request> reads;  // the pack blocks trimmed to the fields below
  const models::Field* status = nullptr;
  const models::Field* percent = nullptr;   // Role::pack_soc
  const models::Field* voltage = nullptr;   // Role::pack_voltage
  const models::Field* cells = nullptr;     // Role::pack_cells ("voltages")
  const models::Field* selected = nullptr;  // Role::pack_selected: the pack number the unit shows
  std::vector<PackEntity> entities;         // discovery, in bluetti_mqtt's order
};
PackPlan plan_packs(const models::Model& m);
// "pack_details3"
std::string pack_details_name(unsigned pack);
// The pack a read shows: the unit's pack-number register when the model has one, else `asked`;
// 0 when that is outside 1..max_packs (nothing is published then).
unsigned shown_pack(const PackPlan& p, unsigned asked, const bluetti::RegisterValues& regs);
// The pack_details JSON (compact, keys status / percent / voltage / voltages in that order, each
// when read and decodable; numbers as Python's json.dumps prints bluetti_mqtt's values: int
// percent, float voltages "53.8" / "52.0"); "" when nothing was read.
std::string pack_details_payload(const PackPlan& p, const bluetti::RegisterValues& regs);

// ---- payloads -----------------------------------------------------------------------------------

// The state payload of a decoded reading, as bluetti_mqtt publishes it.
std::string state_payload(const models::Reading& r);
// The same for a raw register value of a one-register field (command results).
std::string value_payload(const models::Field& f, std::uint16_t raw);
// "ac_output_power" -> "AC Output Power" (Home Assistant entity name).
std::string label(std::string_view name);
// The entity's Home Assistant name: the table's ha_name (bluetti_mqtt's discovery name) when it
// has one, else label(name).
std::string display_name(const Entity& e);

// The raw register value a command payload asks for, range-checked by the table
// (models::parse_setting). Payloads: at most kMaxCommandPayload printable ASCII bytes; ON / OFF
// for switches (as published; on/off/true/false/1/0 too), a choice name for selects, a decimal
// number in the field's unit for numbers. Errors (gateway::Errc): field_read_only,
// payload_invalid, value_out_of_range.
inline constexpr std::size_t kMaxCommandPayload = 64;
Result<std::uint16_t> parse_command_payload(const Entity& e, ByteView payload);

}  // namespace blecrypt::gateway
