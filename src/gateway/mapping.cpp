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
std::string discovery_topic(std::string_view prefix, const DeviceIdentity& d, const Entity& e) {
  return std::string(prefix) + "/" + models::component_name(e.component()) + "/" + std::to_string(d.serial) + "_" + std::string(e.name) + "/config";
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
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return Errc::unknown_field;
  return CommandTarget{std::string(dev), std::string(field)};
}

namespace {
// Units whose sensors bluetti_mqtt marks force_update (a repeated equal reading is still a sample).
bool forced(std::string_view unit) { return unit == "W" || unit == "V" || unit == "A" || unit == "Hz"; }
}  // namespace

namespace {
// The keys every discovery config shares, in bluetti_mqtt's order.
nlohmann::ordered_json discovery_head(const DeviceIdentity& d, std::string_view state, std::string_view id) {
  nlohmann::ordered_json j;
  j["state_topic"] = state_topic(d, state);
  j["device"] = {{"identifiers", {std::to_string(d.serial)}},
                 {"manufacturer", "Bluetti"},
                 {"name", d.type + " " + std::to_string(d.serial)},
                 {"model", d.type}};
  j["unique_id"] = std::to_string(d.serial) + "_" + std::string(id);
  j["object_id"] = d.type + "_" + std::string(id);
  return j;
}

// Unit, classes and choices of `f` shown as `component`.
void describe(nlohmann::ordered_json& j, const models::Field& f, models::Component component) {
  if (!f.unit.empty()) j["unit_of_measurement"] = f.unit;
  if (!f.device_class.empty()) j["device_class"] = f.device_class;
  if (!f.state_class.empty() && component == models::Component::sensor) j["state_class"] = f.state_class;
  if (component == models::Component::sensor && forced(f.unit)) j["force_update"] = true;
  if (f.type == models::Type::enumeration) {
    auto& options = j["options"] = nlohmann::ordered_json::array();
    for (const auto& c : f.choices) options.push_back(c.name);
  }
}

std::string discovery_tail(nlohmann::ordered_json& j, const DiscoveryContext& ctx, const DeviceIdentity& d) {
  j["availability"] = {{{"topic", std::string(ctx.gateway_availability_topic)}}, {{"topic", availability_topic(d)}}};
  j["availability_mode"] = "all";
  j["origin"] = {{"name", "blecrypt"}, {"sw", std::string(ctx.sw_version)}, {"url", "https://github.com/blecrypt/blecrypt"}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}
}  // namespace

std::string discovery_payload(const DiscoveryContext& ctx, const DeviceIdentity& d, const Entity& e) {
  const models::Field& f = e.describing();
  const auto component = e.component();
  nlohmann::ordered_json j = discovery_head(d, e.name, e.name);
  if (e.settable()) j["command_topic"] = command_topic(d, e.name);
  j["name"] = display_name(e);
  describe(j, f, component);
  if (component == models::Component::number) {
    if (f.scale == 1.0) {
      j["step"] = 1;
      j["min"] = f.min;
      j["max"] = f.max;
    } else {
      j["step"] = f.scale;
      j["min"] = f.min * f.scale;
      j["max"] = f.max * f.scale;
    }
  }
  return discovery_tail(j, ctx, d);
}

std::string pack_discovery_topic(std::string_view prefix, const DeviceIdentity& d, const PackEntity& e, unsigned pack) {
  return std::string(prefix) + "/sensor/" + std::to_string(d.serial) + "_" + std::string(e.id) + std::to_string(pack) + "/config";
}

std::string pack_discovery_payload(const DiscoveryContext& ctx, const DeviceIdentity& d, const PackEntity& e, unsigned pack) {
  nlohmann::ordered_json j = discovery_head(d, pack_details_name(pack), std::string(e.id) + std::to_string(pack));
  j["name"] = "Battery Pack " + std::to_string(pack) + " " + std::string(e.label);
  if (e.field) describe(j, *e.field, models::Component::sensor);
  j["value_template"] = "{{ value_json." + std::string(e.key) + " }}";
  return discovery_tail(j, ctx, d);
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
