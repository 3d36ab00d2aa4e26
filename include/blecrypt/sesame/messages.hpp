// Application layer (spec §6, §7): item codes, result codes, request / response / publish framing,
// mech status, mech setting, history record and history tag (text and UUID encodings).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

namespace item {
inline constexpr std::uint8_t registration = 1;
inline constexpr std::uint8_t login = 2;
inline constexpr std::uint8_t history = 4;
inline constexpr std::uint8_t version_tag = 5;
inline constexpr std::uint8_t time = 8;
inline constexpr std::uint8_t autolock = 11;
inline constexpr std::uint8_t initial = 14;
inline constexpr std::uint8_t magnet = 17;
inline constexpr std::uint8_t history_delete = 18;
inline constexpr std::uint8_t mech_setting = 80;
inline constexpr std::uint8_t mech_status = 81;
inline constexpr std::uint8_t lock = 82;
inline constexpr std::uint8_t unlock = 83;
inline constexpr std::uint8_t toggle = 88;
inline constexpr std::uint8_t reset = 104;
inline constexpr std::uint8_t battery_voltage = 202;
// Further items (numbers: SesameItemCode of CANDY HOUSE's SesameSDK_Android_with_DemoApp,
// SesameProtocols.kt; layouts: the vendor Bluetooth document, Sesame_BluetoothAPI_document/SesameOS3).
inline constexpr std::uint8_t click = 89;             // Bot 2: run the current script (history tag)
inline constexpr std::uint8_t door_open = 90;         // Open Sensor -> lock: the door opened (no payload)
inline constexpr std::uint8_t door_closed = 91;       // Open Sensor -> lock: the door closed (no payload)
inline constexpr std::uint8_t ops_timer = 92;         // lock: seconds after "door closed" to lock, u16; publish u16
inline constexpr std::uint8_t script_select = 94;     // Bot 2: select script index u8
inline constexpr std::uint8_t script_current = 95;    // Bot 2
inline constexpr std::uint8_t script_name_list = 96;  // Bot 2
inline constexpr std::uint8_t add_sesame = 101;       // accessory: hold a lock's key (uuid 16 || secret 16)
inline constexpr std::uint8_t pub_key_sesame = 102;   // accessory publish: the key slots (23 bytes each)
inline constexpr std::uint8_t remove_sesame = 103;    // accessory: drop a lock's key (uuid 16)
inline constexpr std::uint8_t card_change = 107;      // id_len id name_len name (request and publish)
inline constexpr std::uint8_t card_delete = 108;      // id bytes
inline constexpr std::uint8_t card_get = 109;         // -> publishes 112 first, 110 notify..., 111 last
inline constexpr std::uint8_t card_notify = 110;
inline constexpr std::uint8_t card_last = 111;
inline constexpr std::uint8_t card_first = 112;
inline constexpr std::uint8_t card_mode_get = 113;    // response payload: mode u8 (0 verify, 1 add)
inline constexpr std::uint8_t card_mode_set = 114;    // mode u8
inline constexpr std::uint8_t fingerprint_change = 115;
inline constexpr std::uint8_t fingerprint_delete = 116;
inline constexpr std::uint8_t fingerprint_get = 117;
inline constexpr std::uint8_t fingerprint_notify = 118;
inline constexpr std::uint8_t fingerprint_last = 119;
inline constexpr std::uint8_t fingerprint_first = 120;
inline constexpr std::uint8_t fingerprint_mode_get = 121;
inline constexpr std::uint8_t fingerprint_mode_set = 122;
inline constexpr std::uint8_t passcode_change = 123;
inline constexpr std::uint8_t passcode_delete = 124;
inline constexpr std::uint8_t passcode_get = 125;
inline constexpr std::uint8_t passcode_notify = 126;
inline constexpr std::uint8_t passcode_last = 127;
inline constexpr std::uint8_t passcode_first = 128;
inline constexpr std::uint8_t passcode_mode_get = 129;
inline constexpr std::uint8_t passcode_mode_set = 130;
inline constexpr std::uint8_t bot2_run_script_0 = 170;  // 170 + n: run script n (0-9), history tag
inline constexpr std::uint8_t bot2_edit_script = 181;   // Bot 2: index u8 ‖ script (bot2.hpp)
inline constexpr std::uint8_t sesame_unsupported = 204;
}  // namespace item
std::string item_name(std::uint8_t item);

inline constexpr std::uint8_t kOpResponse = 0x07;
inline constexpr std::uint8_t kOpPublish = 0x08;

enum class ResultCode : std::uint8_t {
  success = 0, invalid_format = 1, not_supported = 2, storage_fail = 3, invalid_signature = 4,
  not_found = 5, unknown = 6, busy = 7, invalid_parameter = 8, invalid_action = 9,
};
std::string result_name(ResultCode r);

inline constexpr std::int16_t kNoTarget = -32768;

// 7.1: 7 bytes.
struct MechStatus {
  std::uint16_t battery_raw = 0;
  std::int16_t target = kNoTarget;
  std::int16_t position = 0;
  std::uint8_t flags = 0;
  static constexpr std::uint8_t clutch_failed = 0x01, in_lock_range = 0x02, in_unlock_range = 0x04,
                                critical = 0x08, stopped = 0x10, low_battery = 0x20, clockwise = 0x40;
  static constexpr std::size_t kSize = 7;

  double volts() const { return battery_raw * 2 / 1000.0; }
  int battery_percent() const;
  bool locked() const { return (flags & in_lock_range) != 0; }
  bool unlocked() const { return (flags & in_unlock_range) != 0; }
  bool is_stopped() const { return (flags & stopped) != 0; }
  bool is_critical() const { return (flags & critical) != 0; }
  Bytes encode() const;
  void write(std::uint8_t* out) const;  // kSize bytes
  static Result<MechStatus> parse(ByteView b);  // exactly 7 bytes (or more: the first 7 are used)
  // Bot 2 / Bike 2 (3 bytes: battery raw u16 LE, flags with bit1 = in lock range, bit2 = stopped;
  // Android SDK CHSesameBot2MechStatus / CHSesameBike2MechStatus) or the 7-byte form.
  static constexpr std::size_t kCompactSize = 3;
  static Result<MechStatus> parse_any(ByteView b);
  void write_compact(std::uint8_t* out) const;  // kCompactSize bytes
  friend bool operator==(const MechStatus&, const MechStatus&) = default;
};

// Piecewise-linear battery percentage on volts (spec §7.1 table), truncated to an integer.
int battery_percent_from_volts(double volts);

// 7.2: 6 bytes.
struct MechSetting {
  std::int16_t lock_position = -90;
  std::int16_t unlock_position = 0;
  std::uint16_t auto_lock_seconds = 0;
  static constexpr std::size_t kSize = 6;
  Bytes encode() const;
  void write(std::uint8_t* out) const;  // kSize bytes
  static Result<MechSetting> parse(ByteView b);
  friend bool operator==(const MechSetting&, const MechSetting&) = default;
};

// 7.4: payload of LOCK/UNLOCK/TOGGLE and the history "parameter".
struct HistoryTag {
  enum class Kind { text, uuid } kind = Kind::text;
  std::string text;              // text form (UTF-8)
  std::uint8_t uuid_type = 0;    // UUID form: 0 NFC ... 14 Android BLE, 15 iOS BLE ...
  Uuid uuid{};
  std::optional<std::uint16_t> voltage, voltage2;  // raw, volts = raw * 2 / 1000
  Bytes extra;                   // bytes after voltage2 (UUID form)

  static constexpr std::size_t kMaxTextBytes = 29;  // encode() truncates longer text on a UTF-8 boundary
  static HistoryTag from_text(std::string_view text);
  static HistoryTag from_uuid(std::uint8_t type, const Uuid& uuid);
  Bytes encode() const;
  // The whole payload is the tag (text: len + 1 <= size, trailing bytes ignored; UUID: 00 type uuid ...).
  static Result<HistoryTag> parse(ByteView b);
  // "SESAME 5 vector test" or "Android BLE 00112233-...".
  std::string describe() const;
  friend bool operator==(const HistoryTag&, const HistoryTag&) = default;
};
std::string uuid_tag_type_name(std::uint8_t type);

// 7.3.
struct HistoryRecord {
  enum class Source { ble = 0, wifi_module2 = 1, web = 2 };
  std::int32_t id = 0;
  std::uint8_t type = 0;
  std::uint32_t unix_time = 0;
  MechStatus status;
  HistoryTag tag;
  Source source = Source::ble;  // types 1/2: tag length byte offset +30 (WM2) / +60 (web)
  static constexpr std::size_t kFixedSize = 16;
  Bytes encode() const;
  static Result<HistoryRecord> parse(ByteView b);
  std::string type_name() const;
  friend bool operator==(const HistoryRecord&, const HistoryRecord&) = default;
};
std::string history_type_name(std::uint8_t type);

// Device -> client message (response or publish).
struct DeviceMessage {
  std::uint8_t op = kOpPublish;
  std::uint8_t item = 0;
  ResultCode result = ResultCode::success;  // responses only
  Bytes payload;
  bool is_response() const { return op == kOpResponse; }
};
Result<DeviceMessage> parse_device_message(ByteView b);

// Zero-copy forms used by the engines (payload points into the caller's buffer).
struct DeviceMessageView {
  std::uint8_t op = kOpPublish;
  std::uint8_t item = 0;
  ResultCode result = ResultCode::success;
  ByteView payload;
  bool is_response() const { return op == kOpResponse; }
};
Result<DeviceMessageView> parse_device_message_view(ByteView b);
struct RequestView {
  std::uint8_t item = 0;
  ByteView payload;
};
Result<RequestView> parse_request_view(ByteView b);

// Client -> device request.
struct Request {
  std::uint8_t item = 0;
  Bytes payload;
};
Result<Request> parse_request(ByteView b);

// head || tail in one allocation (also sidesteps a GCC 12 -O3 -Warray-bounds false positive).
Bytes concat_head(std::initializer_list<std::uint8_t> head, ByteView tail);

Bytes encode_request(std::uint8_t item, ByteView payload = {});
Bytes encode_response(std::uint8_t item, ResultCode result, ByteView payload = {});
Bytes encode_publish(std::uint8_t item, ByteView payload);

}  // namespace blecrypt::sesame
