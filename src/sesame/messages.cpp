#include "blecrypt/sesame/messages.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace blecrypt::sesame {

namespace {
std::int16_t load_i16(const std::uint8_t* p) { return static_cast<std::int16_t>(load_le16(p)); }
void store_i16(std::uint8_t* p, std::int16_t v) { store_le16(p, static_cast<std::uint16_t>(v)); }

// Cut UTF-8 text to at most n bytes without splitting a character.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  std::size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}
}  // namespace

std::string item_name(std::uint8_t i) {
  switch (i) {
    case item::registration: return "REGISTRATION";
    case item::login: return "LOGIN";
    case item::history: return "HISTORY";
    case item::version_tag: return "VERSION_TAG";
    case item::time: return "TIME";
    case item::autolock: return "AUTOLOCK";
    case item::initial: return "INITIAL";
    case item::magnet: return "MAGNET";
    case item::history_delete: return "HISTORY_DELETE";
    case item::mech_setting: return "MECH_SETTING";
    case item::mech_status: return "MECH_STATUS";
    case item::lock: return "LOCK";
    case item::unlock: return "UNLOCK";
    case item::toggle: return "TOGGLE";
    case item::reset: return "RESET";
    case item::battery_voltage: return "BATTERY_VOLTAGE";
    case item::click: return "CLICK";
    case item::door_open: return "DOOR_OPEN";
    case item::door_closed: return "DOOR_CLOSED";
    case item::ops_timer: return "OPS_TIMER";
    case item::script_select: return "SCRIPT_SELECT";
    case item::script_current: return "SCRIPT_CURRENT";
    case item::script_name_list: return "SCRIPT_NAME_LIST";
    case item::bot2_edit_script: return "EDIT_SCRIPT";
    case item::add_sesame: return "ADD_SESAME";
    case item::pub_key_sesame: return "PUB_KEY_SESAME";
    case item::remove_sesame: return "REMOVE_SESAME";
    case item::card_change: return "CARD_CHANGE";
    case item::card_delete: return "CARD_DELETE";
    case item::card_get: return "CARD_GET";
    case item::card_notify: return "CARD_NOTIFY";
    case item::card_last: return "CARD_LAST";
    case item::card_first: return "CARD_FIRST";
    case item::card_mode_get: return "CARD_MODE_GET";
    case item::card_mode_set: return "CARD_MODE_SET";
    case item::fingerprint_change: return "FINGERPRINT_CHANGE";
    case item::fingerprint_delete: return "FINGERPRINT_DELETE";
    case item::fingerprint_get: return "FINGERPRINT_GET";
    case item::fingerprint_notify: return "FINGERPRINT_NOTIFY";
    case item::fingerprint_last: return "FINGERPRINT_LAST";
    case item::fingerprint_first: return "FINGERPRINT_FIRST";
    case item::fingerprint_mode_get: return "FINGERPRINT_MODE_GET";
    case item::fingerprint_mode_set: return "FINGERPRINT_MODE_SET";
    case item::passcode_change: return "PASSCODE_CHANGE";
    case item::passcode_delete: return "PASSCODE_DELETE";
    case item::passcode_get: return "PASSCODE_GET";
    case item::passcode_notify: return "PASSCODE_NOTIFY";
    case item::passcode_last: return "PASSCODE_LAST";
    case item::passcode_first: return "PASSCODE_FIRST";
    case item::passcode_mode_get: return "PASSCODE_MODE_GET";
    case item::passcode_mode_set: return "PASSCODE_MODE_SET";
    case item::sesame_unsupported: return "SESAME_UNSUPPORTED";
    default:
      if (i >= item::bot2_run_script_0 && i <= item::bot2_run_script_0 + 9)
        return "RUN_SCRIPT_" + std::to_string(i - item::bot2_run_script_0);
      return "item " + std::to_string(i);
  }
}

std::string result_name(ResultCode r) {
  switch (r) {
    case ResultCode::success: return "success";
    case ResultCode::invalid_format: return "invalid format";
    case ResultCode::not_supported: return "not supported";
    case ResultCode::storage_fail: return "storage fail";
    case ResultCode::invalid_signature: return "invalid signature";
    case ResultCode::not_found: return "not found";
    case ResultCode::unknown: return "unknown";
    case ResultCode::busy: return "busy";
    case ResultCode::invalid_parameter: return "invalid parameter";
    case ResultCode::invalid_action: return "invalid action";
  }
  return "result " + std::to_string(static_cast<int>(r));
}

// ---- mech status / setting ----------------------------------------------------------------

int battery_percent_from_volts(double v) {
  static constexpr double pts[][2] = {{5.85, 100}, {5.82, 95}, {5.79, 90}, {5.76, 85}, {5.73, 80}, {5.70, 70},
                                      {5.65, 60},  {5.60, 50}, {5.55, 40}, {5.50, 32}, {5.40, 21}, {5.20, 13},
                                      {5.10, 10},  {5.00, 7},  {4.80, 3},  {4.60, 0}};
  if (v >= pts[0][0]) return 100;
  constexpr std::size_t n = sizeof pts / sizeof pts[0];
  if (v <= pts[n - 1][0]) return 0;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const double hi_v = pts[i][0], hi_p = pts[i][1], lo_v = pts[i + 1][0], lo_p = pts[i + 1][1];
    if (v >= lo_v) {
      // small epsilon so 5.82 V computed as 2910*2/1000 lands on 95, not 94.999...
      return static_cast<int>(std::floor(lo_p + (v - lo_v) * (hi_p - lo_p) / (hi_v - lo_v) + 1e-9));
    }
  }
  return 0;
}

int MechStatus::battery_percent() const { return battery_percent_from_volts(volts()); }

void MechStatus::write(std::uint8_t* out) const {
  store_le16(out, battery_raw);
  store_i16(out + 2, target);
  store_i16(out + 4, position);
  out[6] = flags;
}

Bytes MechStatus::encode() const {
  Bytes b(kSize);
  write(b.data());
  return b;
}

Result<MechStatus> MechStatus::parse(ByteView b) {
  if (b.size() < kSize) return Errc::payload_length;
  MechStatus s;
  s.battery_raw = load_le16(b.data());
  s.target = load_i16(b.data() + 2);
  s.position = load_i16(b.data() + 4);
  s.flags = b[6];
  return s;
}

Result<MechStatus> MechStatus::parse_any(ByteView b) {
  if (b.size() >= kSize) return parse(b);
  if (b.size() != kCompactSize) return Errc::payload_length;
  MechStatus s;
  s.battery_raw = load_le16(b.data());
  s.target = kNoTarget;
  s.position = 0;
  const std::uint8_t f = b[2];
  s.flags = static_cast<std::uint8_t>(((f & 0x02) ? in_lock_range : in_unlock_range) | ((f & 0x04) ? stopped : 0));
  return s;
}

void MechStatus::write_compact(std::uint8_t* out) const {
  store_le16(out, battery_raw);
  out[2] = static_cast<std::uint8_t>((locked() ? 0x02 : 0) | (is_stopped() ? 0x04 : 0));
}

void MechSetting::write(std::uint8_t* out) const {
  store_i16(out, lock_position);
  store_i16(out + 2, unlock_position);
  store_le16(out + 4, auto_lock_seconds);
}

Bytes MechSetting::encode() const {
  Bytes b(kSize);
  write(b.data());
  return b;
}

Result<MechSetting> MechSetting::parse(ByteView b) {
  if (b.size() < kSize) return Errc::payload_length;
  MechSetting s;
  s.lock_position = load_i16(b.data());
  s.unlock_position = load_i16(b.data() + 2);
  s.auto_lock_seconds = load_le16(b.data() + 4);
  return s;
}

// ---- history tag --------------------------------------------------------------------------

HistoryTag HistoryTag::from_text(std::string_view text) {
  HistoryTag t;
  t.text = std::string(utf8_prefix(text, kMaxTextBytes));
  return t;
}

HistoryTag HistoryTag::from_uuid(std::uint8_t type, const Uuid& uuid) {
  HistoryTag t;
  t.kind = Kind::uuid;
  t.uuid_type = type;
  t.uuid = uuid;
  return t;
}

Bytes HistoryTag::encode() const {
  if (kind == Kind::text) {
    const auto s = utf8_prefix(text, kMaxTextBytes);
    return concat_head({static_cast<std::uint8_t>(s.size())}, as_bytes(s));
  }
  const std::size_t n = 18 + (voltage ? 2 : 0) + (voltage && voltage2 ? 2 + extra.size() : 0);
  Bytes b(n);
  b[0] = 0x00;
  b[1] = uuid_type;
  std::copy(uuid.begin(), uuid.end(), b.begin() + 2);
  if (voltage) {
    store_le16(b.data() + 18, *voltage);
    if (voltage2) {
      store_le16(b.data() + 20, *voltage2);
      std::copy(extra.begin(), extra.end(), b.begin() + 22);
    }
  }
  return b;
}

Result<HistoryTag> HistoryTag::parse(ByteView b) {
  if (b.empty()) return Errc::tag_length;
  HistoryTag t;
  if (b[0] == 0 && b.size() >= 18) {
    t.kind = Kind::uuid;
    t.uuid_type = b[1];
    std::copy_n(b.begin() + 2, 16, t.uuid.begin());
    if (b.size() >= 20) t.voltage = load_le16(b.data() + 18);
    if (b.size() >= 22) {
      t.voltage2 = load_le16(b.data() + 20);
      t.extra.assign(b.begin() + 22, b.end());
    }
    return t;
  }
  const std::size_t len = b[0];
  if (len + 1 > b.size()) return Errc::tag_length;
  t.text.assign(reinterpret_cast<const char*>(b.data() + 1), len);
  return t;
}

std::string uuid_tag_type_name(std::uint8_t type) {
  static constexpr const char* names[] = {"NFC card", "fingerprint", "passcode", "face", "palm vein", "Touch Pro",
                                          "Touch", "Open Sensor", "Face Pro", "Face", "Remote", "Remote nano",
                                          "Biz user", "web API", "Android BLE", "iOS BLE", "Android WiFi", "iOS WiFi"};
  if (type < sizeof names / sizeof names[0]) return names[type];
  return "tag type " + std::to_string(type);
}

std::string HistoryTag::describe() const {
  if (kind == Kind::text) return text;
  std::string s = uuid_tag_type_name(uuid_type) + " " + uuid_to_string(uuid);
  if (voltage) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.2f V", *voltage * 2 / 1000.0);
    s += buf;
  }
  return s;
}

// ---- history record -----------------------------------------------------------------------

std::string history_type_name(std::uint8_t type) {
  static constexpr const char* names[] = {"none",          "BLE lock",          "BLE unlock",     "time changed",
                                          "auto-lock updated", "mech setting updated", "auto-lock", "manual locked",
                                          "manual unlocked", "manual else",     "drive locked",   "drive unlocked",
                                          "drive failed",  "BLE adv param updated", "WM2 lock",   "WM2 unlock",
                                          "web lock",      "web unlock"};
  if (type < sizeof names / sizeof names[0]) return names[type];
  if (type == 18) return "BLE click";      // bot 1 (libsesame3bt Sesame.h history_type_t)
  if (type == 21) return "drive clicked";  // bot 1, observed by libsesame3bt
  return "history type " + std::to_string(type);
}

std::string HistoryRecord::type_name() const { return history_type_name(type); }

Bytes HistoryRecord::encode() const {
  Bytes b(9);
  store_le32(b.data(), static_cast<std::uint32_t>(id));
  b[4] = type;
  store_le32(b.data() + 5, unix_time);
  append(b, status.encode());
  Bytes t = tag.encode();
  if ((type == 1 || type == 2) && source != Source::ble)
    t[0] = static_cast<std::uint8_t>(t[0] + (source == Source::wifi_module2 ? 30 : 60));
  append(b, t);
  return b;
}

Result<HistoryRecord> HistoryRecord::parse(ByteView b) {
  if (b.size() < kFixedSize) return Errc::history_record_short;
  HistoryRecord r;
  r.id = static_cast<std::int32_t>(load_le32(b.data()));
  r.type = b[4];
  r.unix_time = load_le32(b.data() + 5);
  auto st = MechStatus::parse(b.subspan(9, 7));
  if (!st) return Unexpected{st.error()};
  r.status = *st;
  ByteView rest = b.subspan(kFixedSize);
  if (rest.empty()) return r;  // no tag parameter
  Bytes tag_bytes(rest.begin(), rest.end());
  if ((r.type == 1 || r.type == 2) && tag_bytes[0] >= 30) {
    r.source = tag_bytes[0] >= 60 ? Source::web : Source::wifi_module2;
    tag_bytes[0] = static_cast<std::uint8_t>(tag_bytes[0] % 30);
  }
  auto tag = HistoryTag::parse(tag_bytes);
  if (!tag) return Unexpected{tag.error()};
  r.tag = std::move(*tag);
  return r;
}

// ---- framing ------------------------------------------------------------------------------

Result<DeviceMessageView> parse_device_message_view(ByteView b) {
  if (b.size() < 2) return Errc::message_short;
  DeviceMessageView m;
  m.op = b[0];
  m.item = b[1];
  if (m.op == kOpResponse) {
    if (b.size() < 3) return Errc::message_short;
    m.result = static_cast<ResultCode>(b[2]);
    m.payload = b.subspan(3);
  } else if (m.op == kOpPublish) {
    m.payload = b.subspan(2);
  } else {
    return Errc::unknown_op_code;
  }
  return m;
}

Result<DeviceMessage> parse_device_message(ByteView b) {
  auto v = parse_device_message_view(b);
  if (!v) return Unexpected{v.error()};
  DeviceMessage m;
  m.op = v->op;
  m.item = v->item;
  m.result = v->result;
  m.payload.assign(v->payload.begin(), v->payload.end());
  return m;
}

Result<RequestView> parse_request_view(ByteView b) {
  if (b.empty()) return Errc::message_short;
  return RequestView{b[0], b.subspan(1)};
}

Result<Request> parse_request(ByteView b) {
  if (b.empty()) return Errc::message_short;
  return Request{b[0], Bytes(b.begin() + 1, b.end())};
}

Bytes concat_head(std::initializer_list<std::uint8_t> head, ByteView tail) {
  Bytes b(head.size() + tail.size());
  std::copy(head.begin(), head.end(), b.begin());
  if (!tail.empty()) std::memcpy(b.data() + head.size(), tail.data(), tail.size());
  return b;
}

Bytes encode_request(std::uint8_t it, ByteView payload) { return concat_head({it}, payload); }

Bytes encode_response(std::uint8_t it, ResultCode result, ByteView payload) {
  return concat_head({kOpResponse, it, static_cast<std::uint8_t>(result)}, payload);
}

Bytes encode_publish(std::uint8_t it, ByteView payload) { return concat_head({kOpPublish, it}, payload); }

}  // namespace blecrypt::sesame
