// What the gateway publishes for a BLUETTI power station: a table of fields per register layout.
// Each row names the register, how to turn it into an MQTT payload, whether (and how) it can be
// set, and what Home Assistant should show. The gateway is driven by this data only, so a larger
// per-model table (issue #12) plugs in by adding rows.
//
// Field names, payload formats and Home Assistant keys follow bluetti_mqtt
// (github.com/warhammerkid/bluetti_mqtt, bluetti_mqtt/mqtt_client.py: NORMAL_DEVICE_FIELDS);
// register addresses from docs/specs/bluetti.md section 6.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "blecrypt/bluetti/modbus.hpp"

namespace blecrypt::gateway {

enum class FieldType : std::uint8_t {
  numeric,      // decimal text ("42", "12.5" with a scale)
  boolean,      // ON / OFF
  enumeration,  // the name of the value
};

struct Field {
  std::string_view name = {};          // bluetti_mqtt name: state/command topic level and unique_id suffix
  std::string_view label = {};         // Home Assistant entity name
  std::uint16_t address = {};          // register read for the state
  FieldType type = FieldType::numeric;
  std::uint16_t divisor = 1;      // state = raw / divisor (10 -> one decimal)
  std::string_view unit = {};          // unit_of_measurement ("" = none)
  std::string_view device_class = {};  // HA device_class ("" = none)
  std::string_view state_class = {};   // HA state_class ("" = none)
  bool force_update = false;
  // Settable: the register written (0 = read-only); numbers within [min, max] (raw units).
  std::uint16_t write_address = 0;
  std::uint16_t min = 0, max = 0;
  std::span<const std::string_view> enum_names = {};  // index = raw value

  bool settable() const noexcept { return write_address != 0; }
  // Home Assistant component, as bluetti_mqtt chooses it: sensor/number, binary_sensor/switch, sensor/select.
  std::string_view component() const noexcept;
};

// The registers that identify a unit (read once per connection, never published as fields).
struct Identity {
  std::uint16_t model_address, model_words;
  std::uint16_t serial_address;  // 4 words, least significant first
};

struct FieldTable {
  bluetti::Protocol protocol;
  Identity identity;
  std::span<const Field> fields;
  const Field* find(std::string_view name) const noexcept;
};

const FieldTable& field_table(bluetti::Protocol p);

// The fewest FC3 reads (each at most 125 registers) that cover `addresses`, joining neighbours
// up to `max_gap` unused registers apart (a round trip costs more than the ~2 ATT payloads 16
// extra registers add). Kept small because units (and the emulator) may answer exception 2 for
// a read that spans unmapped registers.
std::vector<bluetti::modbus::Request> plan_reads(std::vector<std::uint16_t> addresses, std::uint16_t max_gap = 16);
// The reads for one refresh of every field of `t` (+ the identity registers when `identity`).
std::vector<bluetti::modbus::Request> refresh_reads(const FieldTable& t, bool identity);

}  // namespace blecrypt::gateway
