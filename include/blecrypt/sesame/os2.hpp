// SESAME "OS2" (SESAME 3, SESAME 4, SESAME bot 1, SESAME Bike 1): the previous protocol
// generation. Same GATT service and segment layer as OS3 (spec §2, §4); a different security layer
// and message framing. Facts from CANDY HOUSE's SesameSDK_Android_with_DemoApp (ble/os2/
// CHSesame2Device.kt, SesameOS2BleCipher.kt, app ScanQRcodeFG.kt) and mochipon/pysesameos2
// (crypto.py BleCipher, chsesame2.py loginSesame, helper.py) -- see docs/sesame.md "OS2".
//
//   device -> INITIAL publish (plaintext) 08 0E sesame_token(4)
//   client -> LOGIN (plaintext)            05 02 key_index(2) app_pub(64) app_token(4) auth(4)
//             session_token = app_token || sesame_token (8)
//             auth          = AES-CMAC(secret, key_index || app_pub || session_token)[0..3]
//             session_key   = AES-CMAC(ECDH-X(app_priv, device_pub)[0..15], session_token)
//   device -> LOGIN response (encrypted)   07 02 05 00 time(4) fw(1) ?(1) history_count(1) ?(1)
//                                          mech_setting(12) mech_status(8)
//   requests:  op ‖ item ‖ payload (op 5 sync, 6 async, 3 update, 2 read); responses 07 item op result
//   payload; publishes 08 item payload. AES-128-CCM, tag 4, AAD 00, nonce = counter (5 bytes LE,
//   bit 39 set for client->device, clear for device->client) || session_token (8).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <optional>
#include <variant>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/engine.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/segment.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::sesame::os2 {

namespace op {
inline constexpr std::uint8_t create = 1, read = 2, update = 3, del = 4, sync = 5, async = 6;
}
// OS2 item codes not used by OS3 (SesameItemCode, SDK SesameProtocols.kt).
namespace item2 {
inline constexpr std::uint8_t time_phone = 16;  // update: unix seconds u32 LE (SDK toUInt32ByteArray)
}

// OS2 history tags are always 22 bytes: length ‖ UTF-8 text (<= 21 bytes) ‖ zeros (SDK
// CHDBModel.kt createHistag, pysesameos2 HistoryTagHelper.create_htag). Text only: OS2 firmware has
// no UUID tags (libsesame3bt ClientCoreImpl "UUID tag is not supported on OS2 devices").
inline constexpr std::size_t kTag2Size = 22;
inline constexpr std::size_t kTag2MaxText = 21;
// Errors: not_supported_by_model for a UUID-form tag. Longer text is cut on a UTF-8 boundary.
Result<Bytes> encode_tag2(const HistoryTag& tag);
// The text of a tag as a device reads it (length ‖ text ‖ anything): length 0 is an empty tag
// (never the OS3 UUID form). Errors: tag_length (empty input, length above 21 or past the end).
Result<std::string> parse_tag2(ByteView b);

using Token = std::array<std::uint8_t, 4>;
using SessionToken = std::array<std::uint8_t, 8>;

// 8 bytes: battery raw u16 (volts = raw * 7.2 / 1023), target i16, position i16, retcode u8,
// flags u8 (bit1 in lock range, bit2 in unlock range, bit5 battery critical).
struct MechStatus2 {
  std::uint16_t battery_raw = 0;
  std::int16_t target = kNoTarget;
  std::int16_t position = 0;
  std::uint8_t retcode = 0;
  std::uint8_t flags = 0;
  static constexpr std::size_t kSize = 8;
  double volts() const { return battery_raw * 7.2 / 1023.0; }
  // bot 1 (SDK CHSesameBotMechStatus, pysesameos2 helper.py): 3.6 V scale (raw * 3.6 / 1023), the
  // motor state in byte 4 (0 idle, 1 locking, 2 holding, 3 unlocking), flags bit 0 = moving.
  double bot_volts() const { return battery_raw * 3.6 / 1023.0; }
  std::uint8_t motor_status() const { return static_cast<std::uint8_t>(static_cast<std::uint16_t>(position) & 0xFF); }
  double volts_for(std::uint16_t model) const { return model == model::bot1 ? bot_volts() : volts(); }
  // pysesameos2 helper.py getBatteryPrecentage: piecewise linear, 6.0 V = 100 ... 4.6 V = 0 for
  // locks (the bot 1 table is the same at half the volts), truncated.
  int battery_percent(std::uint16_t model) const;
  bool locked() const { return (flags & 0x02) != 0; }
  bool unlocked() const { return (flags & 0x04) != 0; }
  bool battery_critical() const { return (flags & 0x20) != 0; }
  void write(std::uint8_t* out) const;
  static Result<MechStatus2> parse(ByteView b);  // payload_length unless exactly 8 bytes
  friend bool operator==(const MechStatus2&, const MechStatus2&) = default;
};

// 12 bytes: lock i16, unlock i16, lock range min/max i16, unlock range min/max i16.
struct MechSetting2 {
  std::int16_t lock = 0, unlock = 0, lock_min = 0, lock_max = 0, unlock_min = 0, unlock_max = 0;
  static constexpr std::size_t kSize = 12;
  bool configured() const { return lock != unlock; }
  void write(std::uint8_t* out) const;
  static Result<MechSetting2> parse(ByteView b);
  friend bool operator==(const MechSetting2&, const MechSetting2&) = default;
};

// bot 1 mech setting (the same 12 bytes as MechSetting2, other meaning; SDK CHSesameBotMechSettings,
// pysesameos2 CHSesameBotMechSettings): user_pref_dir (0 normal, 1 reversed), lock / unlock / click
// lock / click hold / click unlock seconds, button_mode (0 click, 1 toggle), 5 zero bytes.
struct BotSetting1 {
  std::uint8_t user_pref_dir = 0, lock_sec = 3, unlock_sec = 3, click_lock_sec = 3, click_hold_sec = 1,
               click_unlock_sec = 3, button_mode = 0;
  static constexpr std::size_t kSize = 12;
  void write(std::uint8_t* out) const;
  static Result<BotSetting1> parse(ByteView b);  // payload_length unless exactly 12 bytes
  static BotSetting1 from(const MechSetting2& raw);
  MechSetting2 raw() const;
  friend bool operator==(const BotSetting1&, const BotSetting1&) = default;
};

// One OS2 history record: the payload of a HISTORY (item 4) response after the result byte
// (libsesame3bt os2.cpp handle_history, Sesame.h response_history_t): record id i32, type u8,
// time u64 (unix milliseconds), 18 bytes the public sources do not decode (kept as read; zeros
// from the emulator), then the 22-byte tag (length ‖ text). Tag length >= 30 on types 1/2 (BLE
// lock/unlock) marks WM2 (-30) and >= 60 the web API (-60), as on OS3.
struct HistoryRecord2 {
  std::int32_t id = 0;
  std::uint8_t type = 0;  // history_type_name(): 1 ble lock, 2 ble unlock, 6 autolock, 7/8 manual ...
  std::uint64_t unix_ms = 0;
  std::array<std::uint8_t, 18> opaque{};
  std::string tag;  // text (OS2 tags carry no UUIDs)
  HistoryRecord::Source source = HistoryRecord::Source::ble;
  static constexpr std::size_t kFixedSize = 13;             // id, type, time: a record without a tag
  static constexpr std::size_t kTagOffset = 13 + 18;        // the tag's length byte
  Bytes encode() const;                                     // with the 22-byte tag
  // Errors: history_record_short (< 13 bytes), tag_length (the length byte runs past the payload).
  static Result<HistoryRecord2> parse(ByteView b);
  friend bool operator==(const HistoryRecord2&, const HistoryRecord2&) = default;
};

// LOGIN response payload (28 bytes).
struct LoginResponse2 {
  std::uint32_t time = 0;
  std::uint8_t fw_version = 0;
  std::uint8_t history_count = 0;
  MechSetting2 setting;
  MechStatus2 status;
  static constexpr std::size_t kSize = 28;
  Bytes encode() const;
  static Result<LoginResponse2> parse(ByteView b);  // payload_length unless >= 28 bytes
};

// One connection's OS2 CCM context (client or device side).
class Cipher2 {
 public:
  static Result<Cipher2> create(const crypto::Backend& backend, ByteView session_key, const SessionToken& token,
                                bool device_side);
  Result<Bytes> seal(ByteView plaintext);
  Result<Bytes> open(ByteView sealed);  // rx advances only when the tag verifies
  std::uint64_t tx_counter() const noexcept { return tx_; }
  std::uint64_t rx_counter() const noexcept { return rx_; }
  static std::array<std::uint8_t, 13> nonce(std::uint64_t counter, bool from_client, const SessionToken& token);

 private:
  Cipher2(std::unique_ptr<crypto::AesCcm> ccm, const SessionToken& t, bool dev) : ccm_(std::move(ccm)), token_(t), device_(dev) {}
  std::unique_ptr<crypto::AesCcm> ccm_;
  SessionToken token_{};
  bool device_ = false;
  std::uint64_t tx_ = 0, rx_ = 0;
};

// login auth tag and session key (exposed for the vector tests).
Result<std::array<std::uint8_t, 4>> login_auth(const crypto::Backend& b, ByteView secret, std::uint16_t key_index,
                                               const crypto::P256Raw& app_public, const SessionToken& token);
Result<SecretBytes> session_key(const crypto::Backend& b, const crypto::P256KeyPair& own,
                                const crypto::P256PublicKey& peer, const SessionToken& token);

// blecrypt's own convention (not the protocol's): the private key an emulated OS2 device derives
// from its secret, SHA-256("blecrypt OS2 emulator key" ‖ secret), so that a share key made by the
// emulator (Device2::share_key_bytes) logs in to any emulator given the same secret, in any
// process (the CLI's --emulator, the BlueZ mock). A real device's key cannot be emulated.
SecretBytes emulator_private_key(ByteView secret);

struct ClientConfig2 {
  const crypto::Backend* backend = nullptr;
  SecretBytes secret;                 // 16 bytes (share key)
  crypto::P256Raw device_public{};    // the lock's public key (share key)
  std::uint16_t key_index = 0;        // share key bytes 81-82 (sent as stored, LE)
  std::uint16_t model = model::sesame3;  // share key byte 0: what the device can do (lock / bot / bike)
  std::size_t packet_size = kDefaultPacketSize;
  Duration initial_timeout = std::chrono::seconds(5);
  Duration login_timeout = std::chrono::seconds(2);
  Duration request_timeout = std::chrono::seconds(2);
  // From a decoded 99-byte share key (parse_share_uri). Errors: uri_key_format when it is not OS2.
  static Result<ClientConfig2> from_share_key(const ShareKey& key);
};

namespace events2 {
struct LoggedIn {
  LoginResponse2 login;
};
struct Status {
  MechStatus2 status;
};
struct CommandResult {
  std::uint8_t item;
  ResultCode result;
  Bytes payload;  // after the result byte
};
struct History {  // HISTORY answered success
  HistoryRecord2 record;
};
struct HistoryEmpty {};  // HISTORY answered not_found
struct Setting {         // LOGIN, a mech-setting publish (80) or our update's success
  MechSetting2 setting;  // bot 1: BotSetting1::from(setting)
};
struct Autolock {        // AUTOLOCK read or update answered success
  std::uint16_t seconds;
};
struct Version {
  std::string text;
};
struct Publish {
  std::uint8_t item;
  Bytes payload;
};
struct RequestFailed {
  std::uint8_t item;
  std::error_code error;
};
struct SessionEnded {
  std::error_code error;
};
struct ClientLoggedIn {};  // device side
struct Moved {             // device side: a lock / unlock / click request moved the bolt (or the arm)
  std::uint8_t item;
  HistoryTag tag;
};
struct SettingChanged {    // device side: AUTOLOCK, MECH_SETTING or TIME updated by the client
  std::uint8_t item;
};
}  // namespace events2

class Client2 {
 public:
  using Event = std::variant<events2::LoggedIn, events2::Status, events2::CommandResult, events2::Publish,
                             events2::RequestFailed, events2::SessionEnded, events2::History, events2::HistoryEmpty,
                             events2::Setting, events2::Autolock, events2::Version>;
  Client2(ClientConfig2 config, crypto::Rng& rng);
  Client2(Client2&&) noexcept;
  Client2& operator=(Client2&&) noexcept;
  ~Client2();

  void on_link_up(TimePoint now);
  void on_link_down();
  // Errors: not_connected, session_ended, segment errors, authentication_failed, message_short,
  // unknown_op_code, payload_length, login_rejected, invalid_public_key, crypto_failure.
  Result<void> feed(ByteView notification, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  void reset();

  // Commands (SDK os2/CHSesame2Device.kt, CHSesameBotDevice.kt, CHSesameBikeDevice.kt). Tags are
  // text (22-byte OS2 form); a UUID tag, LOCK / TOGGLE on a Bike 1 and CLICK / bot settings on
  // anything but a bot 1 (or lock settings on a bot) are refused with not_supported_by_model.
  Result<void> lock(const HistoryTag& tag, TimePoint now);
  Result<void> unlock(const HistoryTag& tag, TimePoint now);
  Result<void> toggle(const HistoryTag& tag, TimePoint now);  // LOCK or UNLOCK by the last status (the SDK does the same)
  Result<void> click(const HistoryTag& tag, TimePoint now);   // bot 1: async CLICK (89)
  // read HISTORY (item 4, flag u8: the emulator pops on 0 and peeks otherwise, as on OS3).
  Result<void> read_history(std::uint8_t flag, TimePoint now);
  // Pops records (flag 0) until not_found, a repeated id (a firmware that does not pop) or an error.
  Result<void> drain_history(TimePoint now);
  Result<void> read_autolock(TimePoint now);
  Result<void> set_autolock(std::uint16_t seconds, const HistoryTag& tag, TimePoint now);  // 0 = off
  // Locks: lock / unlock positions; ranges are +/-150 around them (SDK CHSesameLockPositionConfiguration).
  Result<void> set_lock_positions(std::int16_t lock, std::int16_t unlock, const HistoryTag& tag, TimePoint now);
  Result<void> set_bot_setting(const BotSetting1& s, const HistoryTag& tag, TimePoint now);
  Result<void> sync_time(std::uint32_t unix_seconds, TimePoint now);
  Result<void> read_version(TimePoint now);
  Result<void> read_mech_status(TimePoint now);
  // Any encrypted request: op ‖ item ‖ payload.
  Result<void> request(std::uint8_t op_code, std::uint8_t item, ByteView payload, TimePoint now);

  bool ready() const noexcept { return ready_; }
  bool draining() const noexcept { return draining_; }
  std::uint16_t model() const noexcept { return cfg_.model; }
  const std::optional<MechStatus2>& status() const noexcept { return status_; }
  const std::optional<MechSetting2>& setting() const noexcept { return setting_; }
  const std::optional<LoginResponse2>& login_response() const noexcept { return login_; }

 private:
  Result<void> start_login(TimePoint now);
  Result<void> handle(ByteView m, bool encrypted, TimePoint now);
  Result<void> handle_response(std::uint8_t it, ResultCode result, ByteView payload, TimePoint now);
  Result<void> tagged(std::uint8_t op_code, std::uint8_t it, ByteView head, const HistoryTag& tag, TimePoint now);
  void end(std::error_code why);
  ClientConfig2 cfg_;
  const crypto::Backend* backend_;
  crypto::Rng* rng_;
  Reassembler reassembler_;
  std::optional<Cipher2> cipher_;
  Token sesame_token_{};
  std::optional<TimePoint> deadline_;
  std::optional<std::uint8_t> pending_;
  std::optional<TimePoint> pending_deadline_;
  bool connected_ = false, logging_in_ = false, ready_ = false, ended_ = false, draining_ = false;
  std::optional<std::int32_t> last_drained_;
  std::optional<MechSetting2> pending_setting_;
  std::optional<std::uint16_t> pending_autolock_;
  std::optional<MechStatus2> status_;
  std::optional<MechSetting2> setting_;
  std::optional<LoginResponse2> login_;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
};
static_assert(Engine<Client2>);

struct DeviceConfig2 {
  const crypto::Backend* backend = nullptr;
  std::uint16_t model = model::sesame3;
  Uuid uuid{};
  SecretBytes secret;                        // 16 bytes
  SecretBytes private_key;                   // 32 bytes; empty: generated at construction
  std::uint16_t key_index = 0;
  std::int64_t unix_time_offset = 0;
  std::size_t packet_size = kDefaultPacketSize;
  MechSetting2 setting{-100, 100, -250, 50, -50, 250};  // bot 1: BotSetting1{}.raw() when left at this default
  MechStatus2 status{853, kNoTarget, 100, 0, 0x04};  // 6.00 V (853 * 7.2 / 1023), in unlock range
  std::uint16_t autolock_seconds = 0;
  std::string version = "blecrypt-os2";  // VERSION answer: 4 zero bytes ‖ up to 12 bytes of text
  std::size_t history_capacity = 100;    // oldest records dropped beyond this
  bool pop_history_on_zero = true;       // HISTORY flag 0 pops the oldest record (false: every flag peeks)
};

class Device2 {
 public:
  using Event = std::variant<events2::ClientLoggedIn, events2::Moved, events2::SessionEnded, events2::SettingChanged>;
  Device2(DeviceConfig2 config, crypto::Rng& rng);
  Device2(Device2&&) noexcept;
  Device2& operator=(Device2&&) noexcept;
  ~Device2();

  void on_link_up(TimePoint now);
  void on_link_down();
  Result<void> feed(ByteView packet, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const { return std::nullopt; }
  void on_deadline(TimePoint) {}
  void reset();

  // What the owner's app would put into the 99-byte share key: model ‖ secret ‖ public key ‖
  // key index (2) ‖ UUID (16).
  Bytes share_key_bytes() const;
  const crypto::P256Raw& public_key() const;
  const MechStatus2& status() const noexcept { return status_; }
  const MechSetting2& setting() const noexcept { return cfg_.setting; }
  std::uint16_t model() const noexcept { return cfg_.model; }
  std::uint16_t autolock_seconds() const noexcept { return cfg_.autolock_seconds; }
  const std::deque<HistoryRecord2>& history() const noexcept { return history_; }
  // A record as the firmware would log it (manual turn, autolock ...), timestamped `now`.
  void add_history(std::uint8_t type, std::string_view tag, TimePoint now);
  bool logged_in() const noexcept { return cipher_.has_value(); }
  std::size_t rejected_logins() const noexcept { return rejected_; }

 private:
  Result<void> handle_login(ByteView m, TimePoint now);
  Result<void> handle_request(ByteView m, TimePoint now);
  void send(ByteView message, bool encrypted);
  void respond(std::uint8_t it, std::uint8_t opc, ResultCode rc, ByteView payload = {});
  void publish_status();
  std::uint64_t unix_ms(TimePoint now) const;
  DeviceConfig2 cfg_;
  const crypto::Backend* backend_;
  crypto::Rng* rng_;
  std::unique_ptr<crypto::P256KeyPair> key_;
  Reassembler reassembler_;
  Token token_{};
  std::optional<Cipher2> cipher_;
  MechStatus2 status_;
  std::deque<HistoryRecord2> history_;
  std::int32_t next_history_id_ = 1;
  bool connected_ = false;
  std::size_t rejected_ = 0;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
};
static_assert(Engine<Device2>);

}  // namespace blecrypt::sesame::os2
