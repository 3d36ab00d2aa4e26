// SESAME 5 client engine (sans-IO): the procedures of spec §6.3 for one connection. Feed it each
// notification from 16860003-...; write every packet from poll_transmit() to 16860002-...
// (write without response). Time is the `now` argument; randomness the injected Rng.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/segment.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::sesame {

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

struct ClientEvent {
  enum class Kind {
    random_code,      // INITIAL received (random_code)
    registered,       // registration done, session encrypted (secret = the new device secret)
    logged_in,        // encrypted LOGIN success (device_time)
    mech_status,      // publish 81 or registration (status)
    mech_setting,     // publish 80 or registration (setting)
    command_result,   // response to LOCK/UNLOCK/TOGGLE/AUTOLOCK/MAGNET/MECH_SETTING/RESET/TIME... (item, result)
    history,          // a history record (record)
    history_empty,    // HISTORY answered "not found"
    history_deleted,  // HISTORY_DELETE answered (item, result)
    version,          // VERSION_TAG (text)
    request_failed,   // a request timed out or was refused (item, error)
    publish,          // another publish (item, payload)
    session_ended,    // the session is over (error says why); disconnect and reconnect
  };
  ClientEvent() = default;
  explicit ClientEvent(Kind k, std::uint8_t it = 0, ResultCode r = ResultCode::success) : kind(k), item(it), result(r) {}
  Kind kind{};
  std::uint8_t item = 0;
  ResultCode result = ResultCode::success;
  std::error_code error;
  RandomCode random_code{};
  std::uint32_t device_time = 0;
  MechStatus status;
  MechSetting setting;
  std::shared_ptr<const HistoryRecord> record;  // history events only
  std::string text;
  Bytes payload;
  SecretBytes secret;
};
std::string kind_name(ClientEvent::Kind k);

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
LockState::Position position_from_status(const MechStatus& s);

class Client {
 public:
  enum class State { idle, awaiting_initial, connected, registering, logging_in, ready, ended };

  Client(ClientConfig config, crypto::Rng& rng);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Notifications are enabled: a new session starts (waits up to 5 s for INITIAL).
  void on_connected(TimePoint now);
  // The link went down: pending requests fail, session keys are wiped.
  void on_disconnected();
  // An advertisement was seen: remembers registered / has_history; starts a history drain when
  // logged in and the has-history bit is set.
  void on_advertisement(const Advertisement& adv, TimePoint now);

  // One notification (any length >= 2).
  Result<void> feed(ByteView notification, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<ClientEvent> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Back to idle: every session key, buffer, queue and pending request dropped (secret kept).
  void reset();

  // Procedures (each queues packets). register_device/login need INITIAL first.
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
  // Any encrypted request (item + payload), one in flight per item.
  Result<void> request(std::uint8_t item, ByteView payload, TimePoint now);

  State state() const noexcept { return state_; }
  bool ready() const noexcept { return state_ == State::ready; }
  const LockState& lock_state() const noexcept { return lock_state_; }
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
  void after_authenticated(TimePoint now);
  void end_session(std::error_code why);
  void emit(ClientEvent e) {
    events_.push_back(std::move(e));
  }
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
  // FIFOs as vectors with a read index; memory is released whenever a queue drains, so an idle
  // session holds no queue memory.
  Fifo<Bytes> tx_;
  Fifo<ClientEvent> events_;
  LockState lock_state_;
  std::optional<Advertisement> adv_;
  bool draining_ = false;
  std::int32_t drain_delete_id_ = 0;           // record the drain is deleting
  std::optional<std::int32_t> drain_gone_id_;  // the last record the drain deleted
  std::size_t auth_failures_ = 0;
};

}  // namespace blecrypt::sesame
