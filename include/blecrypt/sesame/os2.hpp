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
#include <memory>
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
inline constexpr std::uint8_t read = 2, update = 3, sync = 5, async = 6;
}

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
  bool locked() const { return (flags & 0x02) != 0; }
  bool unlocked() const { return (flags & 0x04) != 0; }
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

struct ClientConfig2 {
  const crypto::Backend* backend = nullptr;
  SecretBytes secret;                 // 16 bytes (share key)
  crypto::P256Raw device_public{};    // the lock's public key (share key)
  std::uint16_t key_index = 0;        // share key bytes 81-82 (sent as stored, LE)
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
struct Moved {             // device side: a lock / unlock request moved the bolt
  std::uint8_t item;
  HistoryTag tag;
};
}  // namespace events2

class Client2 {
 public:
  using Event = std::variant<events2::LoggedIn, events2::Status, events2::CommandResult, events2::Publish,
                             events2::RequestFailed, events2::SessionEnded>;
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

  Result<void> lock(const HistoryTag& tag, TimePoint now);
  Result<void> unlock(const HistoryTag& tag, TimePoint now);
  // Any encrypted request: op ‖ item ‖ payload.
  Result<void> request(std::uint8_t op_code, std::uint8_t item, ByteView payload, TimePoint now);

  bool ready() const noexcept { return ready_; }
  const std::optional<MechStatus2>& status() const noexcept { return status_; }
  const std::optional<LoginResponse2>& login_response() const noexcept { return login_; }

 private:
  Result<void> start_login(TimePoint now);
  Result<void> handle(ByteView m, bool encrypted, TimePoint now);
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
  bool connected_ = false, logging_in_ = false, ready_ = false, ended_ = false;
  std::optional<MechStatus2> status_;
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
  MechSetting2 setting{-100, 100, -250, 50, -50, 250};
  MechStatus2 status{853, kNoTarget, 100, 0, 0x04};  // 6.00 V (853 * 7.2 / 1023), in unlock range
};

class Device2 {
 public:
  using Event = std::variant<events2::ClientLoggedIn, events2::Moved, events2::SessionEnded>;
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
  bool logged_in() const noexcept { return cipher_.has_value(); }
  std::size_t rejected_logins() const noexcept { return rejected_; }

 private:
  Result<void> handle_login(ByteView m, TimePoint now);
  Result<void> handle_request(ByteView m, TimePoint now);
  void send(ByteView message, bool encrypted);
  DeviceConfig2 cfg_;
  const crypto::Backend* backend_;
  crypto::Rng* rng_;
  std::unique_ptr<crypto::P256KeyPair> key_;
  Reassembler reassembler_;
  Token token_{};
  std::optional<Cipher2> cipher_;
  MechStatus2 status_;
  bool connected_ = false;
  std::size_t rejected_ = 0;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
};
static_assert(Engine<Device2>);

}  // namespace blecrypt::sesame::os2
