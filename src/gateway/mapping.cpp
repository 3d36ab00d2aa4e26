#include "blecrypt/gateway/mapping.hpp"

#include <nlohmann/json.hpp>

#include "blecrypt/gateway/errors.hpp"

namespace blecrypt::gateway {

std::string DeviceIdentity::id() const { return type + "-" + std::to_string(serial); }

std::string state_topic(const DeviceIdentity& d, std::string_view field) { return "bluetti/state/" + d.id() + "/" + std::string(field); }
std::string command_topic(const DeviceIdentity& d, std::string_view field) { return "bluetti/command/" + d.id() + "/" + std::string(field); }
std::string command_filter(const DeviceIdentity& d) { return "bluetti/command/" + d.id() + "/+"; }
std::string result_topic(std::string_view command_topic) { return std::string(command_topic) + "/result"; }
std::string availability_topic(const DeviceIdentity& d) { return "bluetti/availability/" + d.id(); }
std::string discovery_topic(std::string_view prefix, const DeviceIdentity& d, const Field& f) {
  return std::string(prefix) + "/" + std::string(f.component()) + "/" + std::to_string(d.serial) + "_" + std::string(f.name) + "/config";
}

std::string format_state(const Field& f, std::uint16_t raw) {
  switch (f.type) {
    case FieldType::boolean: return raw ? "ON" : "OFF";
    case FieldType::enumeration:
      if (raw < f.enum_names.size()) return std::string(f.enum_names[raw]);
      return std::to_string(raw);
    case FieldType::numeric: break;
  }
  if (f.divisor <= 1) return std::to_string(raw);
  // Exact decimal text: 1234 / 10 -> "123.4" (no binary floating point on the way).
  std::uint16_t d = f.divisor, places = 0;
  while (d > 1) {
    d = static_cast<std::uint16_t>(d / 10);
    ++places;
  }
  std::string s = std::to_string(raw);
  if (s.size() <= places) s.insert(0, places - s.size() + 1, '0');
  s.insert(s.size() - places, ".");
  return s;
}

namespace {
bool is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
}  // namespace

Result<CommandTarget> parse_command_topic(std::string_view topic) {
  constexpr std::string_view prefix = "bluetti/command/";
  if (topic.size() > 256 || topic.substr(0, prefix.size()) != prefix) return Errc::unknown_topic;
  topic.remove_prefix(prefix.size());
  const auto slash = topic.find('/');
  if (slash == std::string_view::npos) return Errc::unknown_topic;
  const std::string_view dev = topic.substr(0, slash), field = topic.substr(slash + 1);
  const auto dash = dev.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == dev.size()) return Errc::unknown_topic;
  for (std::size_t i = 0; i < dash; ++i)
    if (!is_word(dev[i])) return Errc::unknown_topic;
  for (std::size_t i = dash + 1; i < dev.size(); ++i)
    if (dev[i] < '0' || dev[i] > '9') return Errc::unknown_topic;
  if (field.empty()) return Errc::unknown_field;
  for (char c : field)
    if (!((c >= 'a' && c <= 'z') || c == '_')) return Errc::unknown_field;
  return CommandTarget{std::string(dev), std::string(field)};
}

Result<std::uint16_t> parse_command_payload(const Field& f, ByteView payload) {
  if (!f.settable()) return Errc::field_read_only;
  if (payload.empty() || payload.size() > kMaxCommandPayload) return Errc::payload_invalid;
  const std::string_view p(reinterpret_cast<const char*>(payload.data()), payload.size());
  switch (f.type) {
    case FieldType::boolean:
      if (p == "ON") return std::uint16_t{1};
      if (p == "OFF") return std::uint16_t{0};
      return Errc::payload_invalid;
    case FieldType::enumeration:
      for (std::size_t i = 0; i < f.enum_names.size(); ++i)
        if (f.enum_names[i] == p) return static_cast<std::uint16_t>(i);
      return Errc::payload_invalid;
    case FieldType::numeric: break;
  }
  if (p.size() > 5) return Errc::value_out_of_range;
  std::uint32_t v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return Errc::payload_invalid;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (p.size() > 1 && p[0] == '0') return Errc::payload_invalid;
  if (v < f.min || v > f.max) return Errc::value_out_of_range;
  return static_cast<std::uint16_t>(v);
}

std::string discovery_payload(const DiscoveryContext& ctx, const DeviceIdentity& d, const Field& f) {
  nlohmann::ordered_json j;
  j["state_topic"] = state_topic(d, f.name);
  j["device"] = {{"identifiers", {std::to_string(d.serial)}},
                 {"manufacturer", "Bluetti"},
                 {"name", d.type + " " + std::to_string(d.serial)},
                 {"model", d.type}};
  j["unique_id"] = std::to_string(d.serial) + "_" + std::string(f.name);
  j["object_id"] = d.type + "_" + std::string(f.name);
  if (f.settable()) j["command_topic"] = command_topic(d, f.name);
  j["name"] = f.label;
  if (!f.unit.empty()) j["unit_of_measurement"] = f.unit;
  if (!f.device_class.empty()) j["device_class"] = f.device_class;
  if (!f.state_class.empty()) j["state_class"] = f.state_class;
  if (f.force_update) j["force_update"] = true;
  if (f.type == FieldType::numeric && f.settable()) {
    j["min"] = f.min;
    j["max"] = f.max;
  }
  if (f.type == FieldType::enumeration && f.settable()) {
    auto& options = j["options"] = nlohmann::ordered_json::array();
    for (auto n : f.enum_names) options.push_back(n);
  }
  j["availability"] = {{{"topic", std::string(ctx.gateway_availability_topic)}}, {{"topic", availability_topic(d)}}};
  j["availability_mode"] = "all";
  j["origin"] = {{"name", "blecrypt"}, {"sw", std::string(ctx.sw_version)}, {"url", "https://github.com/blecrypt/blecrypt"}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string_view error_name(std::error_code e) {
  if (e.category() != category()) return "device_error";
  switch (static_cast<Errc>(e.value())) {
    case Errc::config_syntax: return "config_syntax";
    case Errc::config_invalid: return "config_invalid";
    case Errc::file_unreadable: return "file_unreadable";
    case Errc::file_not_private: return "file_not_private";
    case Errc::file_too_large: return "file_too_large";
    case Errc::unknown_topic: return "unknown_topic";
    case Errc::unknown_field: return "unknown_field";
    case Errc::field_read_only: return "field_read_only";
    case Errc::payload_invalid: return "payload_invalid";
    case Errc::value_out_of_range: return "value_out_of_range";
    case Errc::queue_full: return "queue_full";
    case Errc::device_unavailable: return "device_unavailable";
    case Errc::link_lost: return "link_lost";
    case Errc::device_rejected: return "device_rejected";
    case Errc::device_disabled: return "device_disabled";
  }
  return "device_error";
}

std::string result_ok(std::string_view field, std::string_view value) {
  nlohmann::ordered_json j{{"ok", true}, {"field", field}, {"value", value}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string result_error(std::string_view field, std::error_code error) {
  nlohmann::ordered_json j{{"ok", false}, {"field", field}, {"error", error_name(error)}, {"message", error.message()}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace blecrypt::gateway
