// MQTT topics and payloads, both ways, for BLUETTI devices (what is published per model comes from
// entities.hpp, i.e. the model table): the bluetti_mqtt topic tree
// (github.com/warhammerkid/bluetti_mqtt, bluetti_mqtt/mqtt_client.py), Home Assistant discovery,
// command payload parsing with typed errors, and command results. Pure functions: no IO.
//
//   bluetti/state/<TYPE>-<SN>/<field>                      state (retained here; bluetti_mqtt does not retain)
//   bluetti/command/<TYPE>-<SN>/<field>                    commands (ON/OFF, decimal numbers, enum names)
//   bluetti/command/<TYPE>-<SN>/<field>/result             {"ok":true,...} / {"ok":false,"error":...}
//   bluetti/availability/<TYPE>-<SN>                       online / offline, retained (blecrypt addition)
//   bluetti/state/<TYPE>-<SN>/pack_details<N>              battery pack N as JSON (retained)
//   <discovery>/<component>/<SN>_<field>/config            Home Assistant discovery, retained
//   <discovery>/sensor/<SN>_pack_percent<N>/config         per-pack sensors (also pack_voltage<N>, pack_status<N>)
//   <gateway_topic>/availability                           the gateway's own online / offline (last will)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "blecrypt/bytes.hpp"
#include "blecrypt/gateway/entities.hpp"
#include "blecrypt/result.hpp"

namespace blecrypt::gateway {

struct DeviceIdentity {
  std::string type;        // "AC180" (the model register)
  std::uint64_t serial = 0;
  std::string id() const;  // "AC180-2345000000001"
};

std::string state_topic(const DeviceIdentity& d, std::string_view field);
std::string command_topic(const DeviceIdentity& d, std::string_view field);
std::string command_filter(const DeviceIdentity& d);  // bluetti/command/<TYPE>-<SN>/+ (the only subscription per device)
std::string result_topic(std::string_view command_topic);
std::string availability_topic(const DeviceIdentity& d);
std::string discovery_topic(std::string_view prefix, const DeviceIdentity& d, const Entity& e);

struct CommandTarget {
  std::string device_id;  // "AC180-2345000000001"
  std::string field;
};
// bluetti/command/<TYPE>-<SN>/<field>: TYPE [A-Za-z0-9_]+, SN digits, field [a-z0-9_]+.
Result<CommandTarget> parse_command_topic(std::string_view topic);

// Home Assistant discovery config (JSON) for one entity: bluetti_mqtt's keys (state_topic, device,
// unique_id <SN>_<name>, object_id, command_topic, name, unit_of_measurement, device_class,
// state_class, force_update, options / min / max / step) from the model table, plus availability
// and origin.
struct DiscoveryContext {
  std::string_view gateway_availability_topic;
  std::string_view sw_version;
};
std::string discovery_payload(const DiscoveryContext& ctx, const DeviceIdentity& d, const Entity& e);

// Battery packs (entities.hpp PackPlan): <discovery>/sensor/<SN>_<id><N>/config, a sensor on
// bluetti/state/<TYPE>-<SN>/pack_details<N> with bluetti_mqtt's name and value_template
// ("Battery Pack 2 Percent", "{{ value_json.percent }}") and the table field's classes and unit.
std::string pack_discovery_topic(std::string_view prefix, const DeviceIdentity& d, const PackEntity& e, unsigned pack);
std::string pack_discovery_payload(const DiscoveryContext& ctx, const DeviceIdentity& d, const PackEntity& e, unsigned pack);

// Command results.
std::string result_ok(std::string_view field, std::string_view value);
std::string result_error(std::string_view field, std::error_code error);
// The enum name of a gateway::Errc ("payload_invalid"); other categories give "device_error".
std::string_view error_name(std::error_code e);

}  // namespace blecrypt::gateway
