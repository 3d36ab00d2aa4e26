#include "blecrypt/gateway/fields.hpp"

#include <algorithm>
#include <array>

namespace blecrypt::gateway {

std::string_view Field::component() const noexcept {
  switch (type) {
    case FieldType::numeric: return settable() ? "number" : "sensor";
    case FieldType::boolean: return settable() ? "switch" : "binary_sensor";
    case FieldType::enumeration: return settable() ? "select" : "sensor";
  }
  return "sensor";
}

const Field* FieldTable::find(std::string_view name) const noexcept {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

namespace {

// Rows shared by both layouts; only the addresses differ (docs/specs/bluetti.md section 6).
constexpr Field power(std::string_view name, std::string_view label, std::uint16_t address) {
  Field f{};
  f.name = name;
  f.label = label;
  f.address = address;
  f.unit = "W";
  f.device_class = "power";
  f.state_class = "measurement";
  f.force_update = true;
  return f;
}
constexpr Field battery(std::uint16_t address) {
  Field f{};
  f.name = "total_battery_percent";
  f.label = "Total Battery Percent";
  f.address = address;
  f.unit = "%";
  f.device_class = "battery";
  f.state_class = "measurement";
  return f;
}
constexpr Field outlet(std::string_view name, std::string_view label, std::uint16_t state, std::uint16_t write) {
  Field f{};
  f.name = name;
  f.label = label;
  f.address = state;
  f.type = FieldType::boolean;
  f.device_class = "outlet";
  f.write_address = write;
  f.min = 0;
  f.max = 1;
  return f;
}

constexpr std::array<Field, 7> kV2Fields{
    battery(102),
    power("dc_input_power", "DC Input Power", 144),
    power("ac_input_power", "AC Input Power", 146),
    power("ac_output_power", "AC Output Power", 142),
    power("dc_output_power", "DC Output Power", 140),
    outlet("ac_output_on", "AC Output", 2011, 2011),
    outlet("dc_output_on", "DC Output", 2012, 2012),
};
constexpr std::array<Field, 7> kV1Fields{
    battery(43),
    power("dc_input_power", "DC Input Power", 36),
    power("ac_input_power", "AC Input Power", 37),
    power("ac_output_power", "AC Output Power", 38),
    power("dc_output_power", "DC Output Power", 39),
    outlet("ac_output_on", "AC Output", 48, 3007),
    outlet("dc_output_on", "DC Output", 49, 3008),
};

}  // namespace

const FieldTable& field_table(bluetti::Protocol p) {
  static const FieldTable v2{bluetti::Protocol::iot_v2, {110, 6, 116}, kV2Fields};
  static const FieldTable v1{bluetti::Protocol::iot_v1, {10, 6, 17}, kV1Fields};
  return p == bluetti::Protocol::iot_v2 ? v2 : v1;
}

std::vector<bluetti::modbus::Request> plan_reads(std::vector<std::uint16_t> addresses, std::uint16_t max_gap) {
  std::vector<bluetti::modbus::Request> out;
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  std::size_t i = 0;
  while (i < addresses.size()) {
    const std::uint32_t start = addresses[i];
    std::uint32_t end = start;  // inclusive
    ++i;
    while (i < addresses.size() && addresses[i] - end <= static_cast<std::uint32_t>(max_gap) + 1 &&
           addresses[i] - start + 1 <= bluetti::modbus::kMaxRead) {
      end = addresses[i];
      ++i;
    }
    out.push_back(bluetti::modbus::Request::read(static_cast<std::uint16_t>(start), static_cast<std::uint16_t>(end - start + 1)));
  }
  return out;
}

std::vector<bluetti::modbus::Request> refresh_reads(const FieldTable& t, bool identity) {
  std::vector<std::uint16_t> a;
  for (const auto& f : t.fields) a.push_back(f.address);
  if (identity) {
    for (std::uint16_t k = 0; k < t.identity.model_words; ++k) a.push_back(static_cast<std::uint16_t>(t.identity.model_address + k));
    for (std::uint16_t k = 0; k < 4; ++k) a.push_back(static_cast<std::uint16_t>(t.identity.serial_address + k));
  }
  return plan_reads(std::move(a));
}

}  // namespace blecrypt::gateway
