// MQTT topics and payloads for SESAME locks (pure functions, no IO). The tree:
//
//   sesame/<UUID>/state             locked | unlocked | locking | unlocking | jammed   (retained)
//   sesame/<UUID>/set               commands: LOCK, UNLOCK (OPEN where the model has it)
//   sesame/<UUID>/set/result        {"ok":true,...} / {"ok":false,"error":...}       (not retained)
//   sesame/<UUID>/battery           percent, decimal text                            (retained)
//   sesame/<UUID>/battery_voltage   volts, two decimals ("6.02")                     (retained)
//   sesame/<UUID>/history           the last history event: {"type":..,"tag":..,"time":..} (retained)
//   sesame/<UUID>/availability      online / offline, follows the link              (retained)
//   <discovery>/lock/<UUID>/config, <discovery>/sensor/<UUID>_<sensor>/config       Home Assistant
//
// <UUID> is the lock's 16-byte UUID in upper case with dashes (as the SESAME app shows it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/messages.hpp"

namespace blecrypt::gateway::sesame_topics {

struct Lock {
  std::string uuid;        // "8CBE3F10-6B4C-4D1E-9F7A-2A3B4C5D6E7F"
  std::uint16_t model = 5; // sesame::model::*
  std::string base() const { return "sesame/" + uuid; }
};

Lock make_lock(const sesame::Uuid& uuid, std::uint16_t model);

std::string state_topic(const Lock& l);
std::string set_topic(const Lock& l);
std::string result_topic(const Lock& l);
std::string battery_topic(const Lock& l);
std::string voltage_topic(const Lock& l);
std::string history_topic(const Lock& l);
std::string availability_topic(const Lock& l);

enum class Command : std::uint16_t { lock = 1, unlock = 2, open = 3 };
// Whether the model has an "open" (unlatch) action. None of the OS3 locks driven here has one.
bool has_open(std::uint16_t model);
// LOCK, UNLOCK, OPEN (exact). Errors: gateway::Errc::payload_invalid, value_out_of_range (OPEN on
// a model without it).
Result<Command> parse_set_payload(std::uint16_t model, ByteView payload);
std::string_view command_name(Command c);

// locked / unlocked / locking / unlocking / jammed; nullopt when unknown. `last_command` says
// which way a moving bolt goes when the status does not.
std::optional<std::string_view> state_name(const sesame::MechStatus& s, std::optional<Command> last_command);
std::string voltage_text(const sesame::MechStatus& s);
std::string history_json(const sesame::HistoryRecord& r);

struct DiscoveryTopic {
  std::string topic, payload;
};
// The lock entity and its sensors (battery, voltage, last history event).
std::vector<DiscoveryTopic> discovery(std::string_view prefix, std::string_view gateway_availability, std::string_view sw_version,
                                      const Lock& l);

}  // namespace blecrypt::gateway::sesame_topics
