// SESAME 5 device emulator (sans-IO): a lock as complete as the protocol needs. It publishes the
// random code when the client subscribes, accepts registration (64- or 68-byte payloads) and
// login, and runs a mech model whose angle moves over time (publishes while moving and at rest via
// deadlines), an auto-lock timer, a history store, a version string and reset. The §9 knobs are
// options of DeviceConfig.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/bot2.hpp"
#include "blecrypt/sesame/credentials.hpp"
#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/segment.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::sesame {

struct DeviceConfig {
  const crypto::Backend* backend = nullptr;  // nullptr: crypto::default_backend()
  std::uint16_t model = model::sesame5;
  Uuid uuid{};
  std::optional<SecretBytes> secret;         // registered with this secret; none: unregistered
  std::size_t packet_size = kDefaultPacketSize;
  std::size_t reassembly_cap = kDefaultReassemblyCap;
  std::int64_t unix_time_offset = 0;         // device unix seconds = offset + seconds of `now`
  std::string version = "blecrypt-emu";      // VERSION_TAG answer (12 bytes, like the hardware)
  MechStatus status{3000, kNoTarget, 0, MechStatus::in_unlock_range | MechStatus::stopped};
  MechSetting setting{-90, 0, 0};
  std::int16_t degrees_per_step = 30;        // motor model: angle change per step
  Duration step_interval = std::chrono::milliseconds(100);
  Duration auth_timeout = std::chrono::seconds(10);  // drop sessions not authenticated by then (0: never)
  std::size_t history_capacity = 100;
  // Spec §9 knobs.
  bool advance_decrypt_counter_on_failure = false;   // #2
  bool reset_counters_on_login = true;               // #3 (only while the client sent no ciphertext yet)
  bool accept_64_byte_registration = true;           // #4 (ESP32 demo form without timestamp)
  // Accessories (model is_key_accessory / is_credential_accessory): key slots, list transfers and
  // what a matching credential does.
  std::size_t key_slots = 3;                 // slots published with item 102 (vendor doc shows 3)
  std::size_t list_message_size = 100;       // max bytes of credential entries per notify publish
  std::uint8_t credential_action = item::unlock;  // item sent to the held locks on a match (82/83/88)
};

// What the emulator reports (Device::Event), in the same events namespace as the client's.
namespace events {
struct Subscribed {};          // the client enabled notifications: INITIAL sent
struct ClientRegistered {};    // a client registered (the device secret is now set)
struct ClientLoggedIn {};
struct LoginRefused {          // LOGIN answered with an error result
  ResultCode result;
};
struct RequestHandled {        // an encrypted request was handled
  std::uint8_t item;
  ResultCode result;
};
struct AuthFailed {            // an encrypted packet failed its tag (dropped)
  std::error_code error;
};
struct Ignored {               // a message not allowed in this state was ignored
  std::uint8_t item;
};
struct MotionDone {            // the motor came to rest
  sesame::MechStatus status;
};
struct AutoLocked {};          // the auto-lock timer started a lock
struct Unregistered {};        // RESET (item 104): secret and history cleared
// Accessory: a presented credential matched. The accessory now connects to each lock it holds a
// key for and sends `item` (LOCK/UNLOCK/TOGGLE) with `tag` (the credential as a UUID history tag,
// or its name as text). A host runs a sesame::Client with `secret` against that lock (the
// emulator has no radio of its own): see operate_lock_config().
struct OperateLock {
  Uuid lock;
  SecretBytes secret;
  std::uint8_t item;
  HistoryTag tag;
  // The request payload: the encoded tag, nothing for DOOR_OPEN / DOOR_CLOSED (90/91).
  Bytes payload() const;
};
// Lock (server role): a logged-in peer operated the lock. `tag` names who: a Remote (UUID tag
// type 10 + its UUID + battery), a Touch card, a phone's text tag ... One event per request.
struct Operated {
  std::uint8_t item;   // LOCK / UNLOCK / TOGGLE / CLICK / RUN_SCRIPT_n
  HistoryTag tag;
};
struct CredentialAdded {       // accessory in add mode: a new card / fingerprint / passcode stored
  CredentialKind kind;
  Credential credential;
};
struct DoorChanged {           // lock: an Open Sensor reported the door open (true) or closed (false)
  bool open;
};
// SessionEnded (client.hpp's events) is shared: the device drops the connection, error says why.
}  // namespace events

class Device {
 public:
  using Event = std::variant<events::Subscribed, events::ClientRegistered, events::ClientLoggedIn, events::LoginRefused,
                             events::RequestHandled, events::AuthFailed, events::Ignored, events::MotionDone,
                             events::AutoLocked, events::Unregistered, events::SessionEnded, events::OperateLock,
                             events::CredentialAdded, events::DoorChanged, events::Operated>;

  Device(DeviceConfig config, crypto::Rng& rng);
  ~Device();
  Device(Device&&) noexcept;
  Device& operator=(Device&&) noexcept;

  // What the lock advertises right now (registered bit, has-history bit).
  Advertisement advertisement() const;
  Bytes advertisement_payload() const { return build_advertisement(advertisement()); }

  // The client enabled notifications: new random code, INITIAL published in plaintext.
  void on_link_up(TimePoint now);
  // Link down: session keys wiped (mech model and history keep running).
  void on_link_down();

  // One written packet. Errors: not_connected, the segment errors, no_session (ciphertext before
  // login: ignored), ciphertext_short, authentication_failed, plaintext_after_login, the
  // application errors (message_short, payload_length), invalid_public_key, login_rejected,
  // crypto_failure.
  Result<void> feed(ByteView packet, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Drops the session (keys, buffers, queued packets and events); the lock itself (secret,
  // history, mech, clock) is kept, like a dropped connection.
  void reset();
  // Factory state: unregistered, history cleared, mech as configured, session dropped.
  void factory_reset();

  // Physical-world hooks for tests and demos.
  void set_battery_raw(std::uint16_t raw);
  void turn_by_hand(std::int16_t position, TimePoint now);  // manual lock/unlock: history 7/8/9
  // Accessory: a card is swiped / a finger laid on / a passcode typed (`id` = its identity). In
  // add mode (mode 1, set by items 114/122/130) an unknown credential is stored and published
  // (107/115/123); in verify mode (0) a known one emits events::OperateLock for every held lock.
  // Returns whether it matched (verify mode). Errors: not_supported for models without credentials
  // (Errc::invalid_argument), credential_length for an empty or oversized id.
  Result<bool> present_credential(CredentialKind kind, ByteView id, TimePoint now);
  // Remote / Remote nano: a button press. Emits events::OperateLock (TOGGLE) for every held lock
  // with the UUID history tag naming this remote (type 10 / 11, its UUID, its battery voltage).
  // Open Sensor: the door opened / closed: OperateLock with DOOR_OPEN / DOOR_CLOSED (no tag).
  // Errors: invalid_argument for other models.
  Result<void> press_button(TimePoint now);
  Result<void> set_door(bool open, TimePoint now);
  // Accessory: set the connection state shown in a key slot (published with 102 when logged in).
  void set_key_status(const Uuid& lock, KeySlot::Status status);
  // Bot 2 / bot 3: the ten scripts (default "script 0" ... "script 9": forward 1 s, stop 0.5 s,
  // reverse 1 s), the selected one (CLICK runs it), and the last one run.
  const std::vector<Bot2Script>& scripts() const noexcept { return scripts_; }
  std::uint8_t current_script() const noexcept { return current_script_; }
  std::optional<std::uint8_t> last_script_run() const noexcept { return last_script_run_; }
  const std::vector<Credential>& credentials(CredentialKind kind) const noexcept {
    return credentials_[static_cast<std::size_t>(kind)];
  }
  std::uint8_t credential_mode(CredentialKind kind) const noexcept { return modes_[static_cast<std::size_t>(kind)]; }
  std::vector<KeySlot> key_slots() const;
  std::uint16_t ops_timer_seconds() const noexcept { return ops_seconds_; }
  std::uint16_t model() const noexcept { return cfg_.model; }

  bool connected() const noexcept { return connected_; }
  bool registered() const noexcept { return secret_.size() == kSecretSize; }
  bool logged_in() const noexcept { return logged_in_; }
  const SecretBytes& secret() const noexcept { return secret_; }
  const MechStatus& status() const noexcept { return status_; }
  const MechSetting& setting() const noexcept { return setting_; }
  const std::vector<HistoryRecord>& history() const noexcept { return history_; }
  std::uint32_t unix_time(TimePoint now) const;
  std::uint64_t tx_counter() const noexcept { return cipher_ ? cipher_->tx_counter() : 0; }
  std::uint64_t rx_counter() const noexcept { return cipher_ ? cipher_->rx_counter() : 0; }
  std::size_t auth_failures() const noexcept { return auth_failures_; }
  std::size_t ignored_messages() const noexcept { return ignored_; }

 private:
  Result<void> handle_plain(ByteView message, TimePoint now);
  Result<void> handle_request(const RequestView& req, TimePoint now);
  Result<void> handle_registration(const RequestView& req, TimePoint now);
  Result<void> handle_login(const RequestView& req, TimePoint now);
  void send_plain(ByteView message);
  void send_encrypted(ByteView message);
  void respond(std::uint8_t item, ResultCode r, ByteView payload = {});
  void publish_status();
  void publish_setting();
  void start_motion(std::int16_t target, TimePoint now);
  void step_motion(TimePoint now);
  void add_history(std::uint8_t type, const HistoryTag& tag, TimePoint now);
  void end_session(std::error_code why);
  void emit(Event e) { events_.push_back(std::move(e)); }
  void update_rest_flags();
  bool accessory() const { return is_key_accessory(cfg_.model); }
  bool is_bot2() const { return cfg_.model == model::bot2 || cfg_.model == model::bot3; }
  std::optional<ResultCode> handle_accessory_request(const RequestView& req, TimePoint now);
  void publish_key_slots();
  void publish_list(CredentialKind kind);
  Bytes status_payload() const;

  DeviceConfig cfg_;
  const crypto::Backend* backend_;
  crypto::Rng* rng_;
  // persistent state
  SecretBytes secret_;
  MechStatus status_;
  MechSetting setting_;
  std::vector<HistoryRecord> history_;
  std::int32_t next_history_id_ = 1;
  std::int64_t clock_adjust_ = 0;
  std::optional<std::int16_t> motion_target_;
  std::optional<TimePoint> next_step_;
  std::optional<TimePoint> autolock_at_;
  std::optional<TimePoint> ops_lock_at_;
  std::uint16_t ops_seconds_ = 0;
  struct HeldKey {
    Uuid uuid{};
    SecretBytes secret;
    bool os2 = false;
    KeySlot::Status status = KeySlot::Status::disconnected;
  };
  std::vector<HeldKey> keys_;
  std::array<std::vector<Credential>, 3> credentials_;
  std::array<std::uint8_t, 3> modes_{};
  std::vector<Bot2Script> scripts_;
  std::uint8_t current_script_ = 0;
  std::optional<std::uint8_t> last_script_run_;
  // session state
  bool connected_ = false;
  bool logged_in_ = false;
  Reassembler reassembler_;
  RandomCode random_code_{};
  std::optional<SessionCipher> cipher_;
  std::optional<TimePoint> auth_deadline_;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
  std::size_t auth_failures_ = 0;
  std::size_t ignored_ = 0;
};
static_assert(Engine<Device>);

// The client configuration an accessory host uses to carry out events::OperateLock: the held
// secret, no registration, no time sync (the accessory is not the lock's clock).
ClientConfig operate_lock_config(const events::OperateLock& op, const crypto::Backend* backend = nullptr);

}  // namespace blecrypt::sesame
