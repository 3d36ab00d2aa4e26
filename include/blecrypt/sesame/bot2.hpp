// SESAME Bot 2 scripts (OS3): the layouts of CANDY HOUSE's SesameSDK_Android_with_DemoApp
// (open/devices/CHSesameBot2.kt: CHSesamebot2Event, CHSesamebot2Status, Bot2Action;
// ble/os3/CHSesameBot2Device.kt: click, sendClickScript, selectScript, getCurrentScript,
// getScriptNameList). See docs/sesame.md "Bot 2 scripts".
//
//   script      name_len u8 ‖ name (padded with zeros to 20 bytes) ‖ action_count u8 ‖
//               action_count × (action u8: 0 forward, 1 reverse, 2 stop, 3 sleep; time u8)
//   name list   current index u8 ‖ count u8 ‖ count × (name_len u8 ‖ name padded to 20)
//   items       94 SCRIPT_SELECT (index u8), 95 SCRIPT_CURRENT ([index u8] -> script),
//               96 SCRIPT_NAME_LIST (-> name list), 181 EDIT_SCRIPT (index u8 ‖ script),
//               89 CLICK (run the current script), 170 + n RUN_SCRIPT_n (run script n)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

struct Bot2Action {
  enum Kind : std::uint8_t { forward = 0, reverse = 1, stop = 2, sleep = 3 };
  std::uint8_t action = forward;
  std::uint8_t time = 0;  // the SDK does not say the unit; the emulator counts tenths of a second
  friend bool operator==(const Bot2Action&, const Bot2Action&) = default;
};

struct Bot2Script {
  std::string name;  // 1..20 bytes
  std::vector<Bot2Action> actions;
  static constexpr std::size_t kNameField = 20, kMaxActions = 20, kScripts = 10;
  // Errors: invalid_argument (name empty or above 20 bytes, more than 20 actions, action > 3).
  Result<Bytes> encode() const;
  // Errors: script_format (truncated, name length 0 or above 20, action count above 20 or not
  // matching the bytes, unknown action).
  static Result<Bot2Script> parse(ByteView b);
  friend bool operator==(const Bot2Script&, const Bot2Script&) = default;
};

struct Bot2ScriptList {
  std::uint8_t current = 0;
  std::vector<std::string> names;
  Bytes encode() const;  // names cut to 20 bytes
  // Errors: script_format (truncated, current >= count, name length above 20).
  static Result<Bot2ScriptList> parse(ByteView b);
  friend bool operator==(const Bot2ScriptList&, const Bot2ScriptList&) = default;
};

}  // namespace blecrypt::sesame
