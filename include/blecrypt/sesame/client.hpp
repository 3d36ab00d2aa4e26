// SESAME 5 client engine (sans-IO): the procedures of spec §6.3 for one connection. Feed it each
// notification from 16860003-...; write every packet from poll_transmit() to 16860002-...
// (write without response; kGattProfile names both). Time is the `now` argument; randomness the
// injected Rng. It follows the engine shape of blecrypt/engine.hpp; link::Session runs it over a
// GATT link, link::Pipe against the emulator (sesame::Device).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/engine.hpp"
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/bot2.hpp"
#include "blecrypt/sesame/credentials.hpp"
#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/segment.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::sesame {

// The SESAME 5 GATT profile (spec §2): service 0xFD81, the client writes 16860002 without
// response, the lock notifies on 16860003.
inline constexpr link::GattProfile kGattProfile{
    "SESAME 5", "0000fd81-0000-1000-8000-00805f9b34fb", kWriteCharacteristic, kNotifyCharacteristic,
    link::WriteType::without_response};

struct ClientConfig {
  const crypto::Backend* backend = nullptr;   // nullptr: crypto::default_backend()
  std::optional<SecretBytes> secret;          // the 16-byte device secret; none: register
  bool auto_authenticate = true;              // on INITIAL: log in (secret) or register (none)
  bool auto_time_sync = true;                 // send TIME when |device - phone| > 3 s at login
  bool drain_history = false;                 // after login: HISTORY(1) + HISTORY_DELETE until not found
  std::int64_t unix_time_offset = 0;          // phone unix seconds = offset + seconds of `now`
  std::size_t packet_size = kDefaultPacketSize;
  std::size_t reassembly_cap = kDefaultReassemblyCap;
  Duration initial_timeout = std::chrono::seconds(5);
  Duration registration_timeout = std::chrono::seconds(5);
  Duration login_timeout = std::chrono::seconds(2);
  Duration request_timeout = std::chrono::seconds(2);
  unsigned max_auth_failures = 3;             // unsolicited tag failures before the session ends
};

// What the client reports (Client::Event). Every struct is small; `item` is the item code the
// event is about where there is one.
namespace events {
struct RandomCode {            // INITIAL received (plaintext)
  sesame::RandomCode code;
};
struct Registered {            // registration done, session encrypted; the new device secret
  SecretBytes secret;
};
struct LoggedIn {              // encrypted LOGIN success
  std::uint32_t device_time;
};
struct MechStatus {            // publish 81, or part of the registration response (item 1)
  std::uint8_t item;
  sesame::MechStatus status;
};
struct MechSetting {           // publish 80, or part of the registration response (item 1)
  std::uint8_t item;
  sesame::MechSetting setting;
};
struct CommandResult {         // a response to LOCK/UNLOCK/TOGGLE/AUTOLOCK/MAGNET/MECH_SETTING/RESET/TIME ...
  std::uint8_t item;
  ResultCode result;
  Bytes payload;
};
struct History {               // one history record (HISTORY answered)
  HistoryRecord record;
};
struct HistoryEmpty {};        // HISTORY answered "not found"
struct HistoryDeleted {        // HISTORY_DELETE answered
  ResultCode result;
};
struct Version {               // VERSION_TAG answered
  std::string text;
};
struct RequestFailed {         // a request timed out, was refused or its answer was malformed
  std::uint8_t item;
  std::error_code error;
  ResultCode result = ResultCode::success;  // the device's result code when it answered
};
struct Publish {               // any other publish
  std::uint8_t item;
  Bytes payload;
};
struct SessionEnded {          // the session is over (error says why); disconnect and reconnect
  std::error_code error;
};
}  // namespace events


// What a user wants to know about the lock.
struct LockState {
  enum class Position { unknown, locked, unlocked, moving, jammed, between };
  Position position = Position::unknown;
  std::optional<MechStatus> status;
  std::optional<MechSetting> setting;
  std::optional<HistoryRecord> last_history;
  std::optional<std::uint32_t> device_time;
  std::string version;
  int battery_percent() const { return status ? status->battery_percent() : -1; }
  double battery_volts() const { return status ? status->volts() : 0.0; }
  std::string describe() const;  // "locked, battery 100 % (6.00 V)"
};
std::string position_name(LockState::Position p);

// What a client learned from an accessory (Touch / Face / Remote / Open Sensor) or the
// accessory-related lock settings: filled from publishes (which are also reported as
// events::Publish) and responses (events::CommandResult).
struct AccessoryState {
  std::vector<KeySlot> key_slots;                              // last PUB_KEY_SESAME (102)
  std::array<std::vector<Credential>, 3> credentials;          // by CredentialKind, complete after LAST
  std::array<bool, 3> list_complete{};                         // LAST received for the last GET
  std::array<std::optional<std::uint8_t>, 3> modes;            // 0 verify, 1 add
  std::optional<std::uint16_t> ops_timer_seconds;              // lock: publish 92
  std::optional<Bot2ScriptList> bot2_scripts;                  // Bot 2: last SCRIPT_NAME_LIST answer
  std::optional<Bot2Script> bot2_script;                       // Bot 2: last SCRIPT_CURRENT answer
  const std::vector<Credential>& list(CredentialKind k) const { return credentials[static_cast<std::size_t>(k)]; }
};
LockState::Position position_from_status(const MechStatus& s);

class Client {
 public:
  enum class State { idle, awaiting_initial, connected, registering, logging_in, ready, ended };
  using Event = std::variant<events::RandomCode, events::Registered, events::LoggedIn, events::MechStatus,
                             events::MechSetting, events::CommandResult, events::History, events::HistoryEmpty,
                             events::HistoryDeleted, events::Version, events::RequestFailed, events::Publish,
                             events::SessionEnded>;

  Client(ClientConfig config, crypto::Rng& rng);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Notifications are enabled: a new session starts (waits up to initial_timeout for INITIAL).
  void on_link_up(TimePoint now);
  // The link went down: pending requests fail (RequestFailed, then SessionEnded{disconnected}),
  // session keys are wiped.
  void on_link_down();
  // An advertisement was seen: remembers registered / has_history; starts a history drain when
  // logged in and the has-history bit is set.
  void on_advertisement(const Advertisement& adv, TimePoint now);

  // One notification (any length >= 2). Errors: not_connected, session_ended, the segment errors
  // (packet_too_short, segment_header_invalid, segment_without_start, reassembly_overflow), the
  // security errors (no_session, authentication_failed, ciphertext_short, plaintext_after_login,
  // crypto_failure) and the application errors (message_short, unknown_op_code, payload_length,
  // tag_length, history_record_short); the engine errors of the procedure an answer belongs to
  // (already_registered, registration_failed, invalid_public_key, login_rejected, no_secret).
  // A refused notification is dropped; what ends the session is also reported as SessionEnded.
  Result<void> feed(ByteView notification, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Back to idle: every session key, buffer, queue, event and pending request dropped (the device
  // secret and the configuration are kept).
  void reset();

  // Procedures (each queues packets). register_device/login need INITIAL first. Errors:
  // not_connected (no INITIAL yet / idle), request_pending (registration or login in progress, or
  // a request for the same item in flight), session_ended, not_logged_in, already_registered
  // (register on an authenticated session), no_secret (login without one), counter_reuse
  // (login once ciphertext passed on this connection or it registered), message_too_large,
  // counter_exhausted, crypto_failure.
  Result<void> register_device(TimePoint now);
  Result<void> login(TimePoint now);
  Result<void> lock(const HistoryTag& tag, TimePoint now);
  Result<void> unlock(const HistoryTag& tag, TimePoint now);
  Result<void> toggle(const HistoryTag& tag, TimePoint now);
  Result<void> read_history(TimePoint now, std::uint8_t flag = 1);
  Result<void> delete_history(std::int32_t record_id, TimePoint now);
  Result<void> drain_history(TimePoint now);  // read with 1, delete with 18, until not found
  Result<void> read_version(TimePoint now);
  Result<void> sync_time(TimePoint now);
  Result<void> set_autolock(std::uint16_t seconds, TimePoint now);
  Result<void> set_mech_setting(std::int16_t lock_position, std::int16_t unlock_position, TimePoint now);
  Result<void> magnet(TimePoint now);
  Result<void> reset_device(TimePoint now);
  // Open Sensor -> lock (items 90/91) and the lock's "lock N s after the door closed" (92).
  Result<void> door_open(TimePoint now);
  Result<void> door_closed(TimePoint now);
  Result<void> set_ops_timer(std::uint16_t seconds, TimePoint now);
  // Bot 2: CLICK (89) runs the current script, run_script(n) = item 170 + n (n 0-9).
  Result<void> click(const HistoryTag& tag, TimePoint now);
  Result<void> run_script(std::uint8_t n, const HistoryTag& tag, TimePoint now);
  // Bot 2 scripts (bot2.hpp): SCRIPT_SELECT, SCRIPT_CURRENT (nullopt: the selected one),
  // SCRIPT_NAME_LIST, EDIT_SCRIPT. Answers land in accessory_state().bot2_script(s).
  // Errors: invalid_argument (n > 9, a script that does not encode), and request's.
  Result<void> select_script(std::uint8_t n, TimePoint now);
  Result<void> read_script(std::optional<std::uint8_t> n, TimePoint now);
  Result<void> read_script_names(TimePoint now);
  Result<void> edit_script(std::uint8_t n, const Bot2Script& script, TimePoint now);
  // Accessories: hold / drop a lock's key (101 / 103). The secret travels encrypted.
  Result<void> add_sesame(const Uuid& lock, ByteView secret, TimePoint now);
  Result<void> remove_sesame(const Uuid& lock, TimePoint now);
  // Touch / Face family: list (GET, answered by FIRST, NOTIFY..., LAST publishes), rename
  // (CHANGE), delete, read / set the mode (0 verify, 1 add). id 1-32 bytes, name 0-32 bytes.
  Result<void> list_credentials(CredentialKind kind, TimePoint now);
  Result<void> rename_credential(CredentialKind kind, ByteView id, ByteView name, TimePoint now);
  Result<void> delete_credential(CredentialKind kind, ByteView id, TimePoint now);
  Result<void> get_credential_mode(CredentialKind kind, TimePoint now);
  Result<void> set_credential_mode(CredentialKind kind, std::uint8_t mode, TimePoint now);
  // Any encrypted request (item + payload), one in flight per item.
  Result<void> request(std::uint8_t item, ByteView payload, TimePoint now);

  State state() const noexcept { return state_; }
  bool ready() const noexcept { return state_ == State::ready; }
  const LockState& lock_state() const noexcept { return lock_state_; }
  const AccessoryState& accessory_state() const noexcept { return accessory_; }
  // The device secret (after registration or from the config); empty when none.
  const SecretBytes& device_secret() const noexcept { return secret_; }
  bool has_cipher() const noexcept { return cipher_.has_value(); }
  std::uint64_t tx_counter() const noexcept;
  std::uint64_t rx_counter() const noexcept;
  std::size_t auth_failures() const noexcept { return auth_failures_; }
  std::uint32_t unix_time(TimePoint now) const;

 private:
  struct Pending {
    std::uint8_t item;
    TimePoint deadline;
  };
  Result<void> send_plain(ByteView message);
  Result<void> send_encrypted(ByteView message);
  Result<void> handle(ByteView message, bool encrypted, TimePoint now);
  Result<void> handle_registration(const DeviceMessageView& m, TimePoint now);
  Result<void> handle_login(const DeviceMessageView& m, bool encrypted, TimePoint now);
  void handle_response(const DeviceMessageView& m, TimePoint now);
  Result<void> handle_accessory_publish(const DeviceMessageView& m);
  void after_authenticated(TimePoint now);
  void end_session(std::error_code why);
  void emit(Event e) { events_.push_back(std::move(e)); }
  void fail_pending(std::error_code why);
  void set_status(const MechStatus& s);
  bool take_pending(std::uint8_t item);
  void wipe_session();

  ClientConfig cfg_;
  const crypto::Backend* backend_;
  crypto::Rng* rng_;
  State state_ = State::idle;
  Reassembler reassembler_;
  std::optional<RandomCode> random_code_;
  SecretBytes secret_;
  std::optional<SessionCipher> cipher_;
  std::array<std::uint8_t, 64> plain_{};  // decrypt scratch for the usual small messages
  std::unique_ptr<crypto::P256KeyPair> ephemeral_;
  std::vector<Pending> pending_;
  std::optional<TimePoint> auth_deadline_;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
  LockState lock_state_;
  AccessoryState accessory_;
  std::array<std::vector<Credential>, 3> incoming_;  // list transfer between FIRST and LAST
  std::optional<Advertisement> adv_;
  bool draining_ = false;
  bool ciphertext_seen_ = false;  // ciphertext passed either way on this connection (or it registered)
  bool peer_verified_ = false;    // a message from the lock opened under this session's key
  std::int32_t drain_delete_id_ = 0;           // record the drain is deleting
  std::optional<std::int32_t> drain_gone_id_;  // the last record the drain deleted
  std::size_t auth_failures_ = 0;
};
static_assert(Engine<Client>);

// Short names for logs and bindings: "random_code", "registered", ... "session_ended".
std::string_view event_name(const Client::Event& e);

}  // namespace blecrypt::sesame
