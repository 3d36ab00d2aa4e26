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

// ---- payloads -----------------------------------------------------------------------------------

// The state payload of a decoded reading, as bluetti_mqtt publishes it.
std::string state_payload(const models::Reading& r);
// The same for a raw register value of a one-register field (command results).
std::string value_payload(const models::Field& f, std::uint16_t raw);
// "ac_output_power" -> "AC Output Power" (Home Assistant entity name).
std::string label(std::string_view name);

// The raw register value a command payload asks for, range-checked by the table
// (models::parse_setting). Payloads: at most kMaxCommandPayload printable ASCII bytes; ON / OFF
// for switches (as published; on/off/true/false/1/0 too), a choice name for selects, a decimal
// number in the field's unit for numbers. Errors (gateway::Errc): field_read_only,
// payload_invalid, value_out_of_range.
inline constexpr std::size_t kMaxCommandPayload = 64;
Result<std::uint16_t> parse_command_payload(const Entity& e, ByteView payload);

}  // namespace blecrypt::gateway
