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
