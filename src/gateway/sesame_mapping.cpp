#include "blecrypt/gateway/sesame_mapping.hpp"

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "blecrypt/gateway/errors.hpp"

namespace blecrypt::gateway::sesame_topics {

Lock make_lock(const sesame::Uuid& uuid, std::uint16_t model) {
  std::string s = sesame::uuid_to_string(uuid);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return Lock{s, model};
}

std::string state_topic(const Lock& l) { return l.base() + "/state"; }
std::string set_topic(const Lock& l) { return l.base() + "/set"; }
std::string result_topic(const Lock& l) { return l.base() + "/set/result"; }
std::string battery_topic(const Lock& l) { return l.base() + "/battery"; }
std::string voltage_topic(const Lock& l) { return l.base() + "/battery_voltage"; }
std::string history_topic(const Lock& l) { return l.base() + "/history"; }
std::string availability_topic(const Lock& l) { return l.base() + "/availability"; }

bool has_open(std::uint16_t /*model*/) {
  // SESAME 5, 5 Pro and 5 US are deadbolt turners: lock and unlock only (spec §7). OPEN belongs to
  // other CANDY HOUSE devices (Bot's "click", SESAME Touch with a latch), not driven here.
  return false;
}

Result<Command> parse_set_payload(std::uint16_t model, ByteView payload) {
  if (payload.empty() || payload.size() > 16) return Errc::payload_invalid;
  const std::string_view p(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (p == "LOCK") return Command::lock;
  if (p == "UNLOCK") return Command::unlock;
  if (p == "OPEN") {
    if (!has_open(model)) return Errc::value_out_of_range;
    return Command::open;
  }
  return Errc::payload_invalid;
}

std::string_view command_name(Command c) {
  switch (c) {
    case Command::lock: return "LOCK";
    case Command::unlock: return "UNLOCK";
    case Command::open: return "OPEN";
  }
  return "?";
}

std::optional<std::string_view> state_name(const sesame::MechStatus& s, std::optional<Command> last_command) {
  using P = sesame::LockState::Position;
  switch (sesame::position_from_status(s)) {
    case P::locked: return "locked";
    case P::unlocked: return "unlocked";
    case P::moving: return last_command == Command::lock ? "locking" : "unlocking";
    case P::jammed: return "jammed";
    case P::between: return "jammed";  // stopped outside both ranges: the bolt did not make it
    case P::unknown: break;
  }
  return std::nullopt;
}

std::string voltage_text(const sesame::MechStatus& s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", s.volts());
  return buf;
}

std::string history_json(const sesame::HistoryRecord& r) {
  nlohmann::ordered_json j{{"id", r.id}, {"type", r.type_name()}, {"tag", r.tag.describe()}, {"time", r.unix_time}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

namespace {
nlohmann::ordered_json device(const Lock& l) {
  return {{"identifiers", {"sesame_" + l.uuid}},
          {"manufacturer", "CANDY HOUSE"},
          {"model", sesame::model_name(l.model)},
          {"name", sesame::model_name(l.model) + " " + l.uuid.substr(0, 8)}};
}
void common(nlohmann::ordered_json& j, std::string_view gateway_availability, std::string_view sw, const Lock& l) {
  j["device"] = device(l);
  j["availability"] = {{{"topic", std::string(gateway_availability)}}, {{"topic", availability_topic(l)}}};
  j["availability_mode"] = "all";
  j["origin"] = {{"name", "blecrypt"}, {"sw", std::string(sw)}, {"url", "https://github.com/blecrypt/blecrypt"}};
}
std::string dump(const nlohmann::ordered_json& j) { return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace); }
}  // namespace

std::vector<DiscoveryTopic> discovery(std::string_view prefix, std::string_view gateway_availability, std::string_view sw,
                                      const Lock& l) {
  std::vector<DiscoveryTopic> out;
  const std::string p(prefix);
  {
    nlohmann::ordered_json j;
    j["name"] = nullptr;  // the entity is the device itself
    j["unique_id"] = l.uuid + "_lock";
    j["state_topic"] = state_topic(l);
    j["command_topic"] = set_topic(l);
    j["payload_lock"] = "LOCK";
    j["payload_unlock"] = "UNLOCK";
    if (has_open(l.model)) j["payload_open"] = "OPEN";
    j["state_locked"] = "locked";
    j["state_unlocked"] = "unlocked";
    j["state_locking"] = "locking";
    j["state_unlocking"] = "unlocking";
    j["state_jammed"] = "jammed";
    common(j, gateway_availability, sw, l);
    out.push_back({p + "/lock/" + l.uuid + "/config", dump(j)});
  }
  // The lock's sensors: one shape, the lock's device and availability on each.
  struct Sensor {
    const char* key;                // unique_id and discovery topic suffix
    const char* name;
    std::string topic;
    const char* unit;               // "" = none
    const char* device_class;       // "" = none
    bool diagnostic;
    bool json;                      // the state is the history JSON: show its type, the rest as attributes
  };
  const Sensor sensors[] = {
      {"battery", "Battery", battery_topic(l), "%", "battery", true, false},
      {"battery_voltage", "Battery voltage", voltage_topic(l), "V", "voltage", true, false},
      {"history", "Last event", history_topic(l), "", "", false, true},
  };
  for (const auto& s : sensors) {
    nlohmann::ordered_json j;
    j["name"] = s.name;
    j["unique_id"] = l.uuid + "_" + s.key;
    j["state_topic"] = s.topic;
    if (*s.unit) j["unit_of_measurement"] = s.unit;
    if (*s.device_class) {
      j["device_class"] = s.device_class;
      j["state_class"] = "measurement";
    }
    if (s.diagnostic) j["entity_category"] = "diagnostic";
    if (s.json) {
      j["value_template"] = "{{ value_json.type }}";
      j["json_attributes_topic"] = s.topic;
    }
    common(j, gateway_availability, sw, l);
    out.push_back({p + "/sensor/" + l.uuid + "_" + s.key + "/config", dump(j)});
  }
  return out;
}

}  // namespace blecrypt::gateway::sesame_topics
