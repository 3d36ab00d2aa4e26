// BLUETTI client engine (sans-IO): the `**` challenge, the signed ECDH handshake and the session
// records that carry Modbus. Bytes and time in; writes, events and deadlines out.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <variant>

#include "blecrypt/bluetti/modbus.hpp"
#include "blecrypt/bluetti/protocol.hpp"
#include "blecrypt/engine.hpp"
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::bluetti {

// The GATT characteristics of a BLUETTI unit (spec section 2): service FF00, the client writes
// FF02 (with response, as ESPHome and the official app do), the unit notifies FF01.
inline constexpr link::GattProfile kGattProfile{
    "BLUETTI", "0000ff00-0000-1000-8000-00805f9b34fb", "0000ff02-0000-1000-8000-00805f9b34fb",
    "0000ff01-0000-1000-8000-00805f9b34fb", link::WriteType::with_response};

struct ClientConfig {
  const crypto::Backend* backend = nullptr;  // nullptr = crypto::default_backend()
  // Verifies the DEVICE_PUBKEY signature. nullptr = K2 (real units). For the emulator pass the
  // test key (kTestDevicePublicKey) or the emulator's configured key.
  std::shared_ptr<const crypto::P256PublicKey> device_verify_key;
  // Signs CLIENT_PUBKEY. nullptr = L1 (what every unit expects).
  std::shared_ptr<const crypto::P256KeyPair> client_signing_key;
  Duration step_timeout = std::chrono::seconds(30);    // per handshake notification (official HA)
  Duration request_timeout = std::chrono::seconds(5);  // per Modbus command

  // Imports the raw keys once (the config is reused for every session and reconnect).
  // Errors: invalid_key (not a P-256 point).
  static Result<ClientConfig> make(const crypto::Backend& backend, ByteView device_verify_key_raw);
};

enum class ClientState { idle, wait_challenge, wait_challenge_accepted, wait_device_key, wait_pubkey_accepted, established, failed };
const char* client_state_name(ClientState s) noexcept;

// What the client reports (Client::Event). Handshake progress, then session traffic.
namespace events {
struct ChallengeAnswered {};   // CHALLENGE received, CHALLENGE_RESPONSE queued
struct ChallengeAccepted {};   // CHALLENGE_ACCEPTED with status 0
struct DeviceKeyVerified {};   // DEVICE_PUBKEY signature good, CLIENT_PUBKEY queued
struct Established {};         // PUBKEY_ACCEPTED: the session key is in use
struct Data {                  // a session record that answers no outstanding request
  Bytes plaintext;
};
struct Response {              // the answer to an outstanding request (an exception response too:
  modbus::Request request;     //   response.exception is set)
  modbus::Response response;
  Bytes adu;                   // the decrypted record
};
struct RequestFailed {         // bad CRC, garbled answer, timeout, unanswered, link down
  modbus::Request request;
  std::error_code error;
  Bytes adu;                   // the decrypted record when one arrived (bad CRC), else empty
};
struct Failed {                // the handshake failed: `error` says why; the next on_link_up retries
  std::error_code error;
};
}  // namespace events

class Client {
 public:
  using Event = std::variant<events::ChallengeAnswered, events::ChallengeAccepted, events::DeviceKeyVerified,
                             events::Established, events::Data, events::Response, events::RequestFailed, events::Failed>;

  // `rng` must outlive the engine (kept as a pointer: the engine is movable).
  Client(ClientConfig cfg, crypto::Rng& rng);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Notifications are enabled: wait for the device's challenge (arms the first deadline). Always
  // a fresh handshake: keys of an earlier connection are never reused.
  void on_link_up(TimePoint now);
  // The link is gone: every request in flight fails with Errc::link_down (events::RequestFailed),
  // keys and buffers are wiped, the state is `idle` until the next on_link_up.
  void on_link_down();
  // One notification (or any piece of the stream). Errors are also reported as events; a
  // handshake error moves to `failed`, a bad session record only fails its request.
  // Errors: any bluetti::Errc (frame_*, record_*, handshake and modbus errors, handshake_failed
  // while `failed`).
  Result<void> feed(ByteView notification, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Wipes every key, IV, cached record, buffer and queue; back to `idle` (on_link_up again).
  void reset();

  // Session traffic (state `established`). Errors: not_established, modbus_bad_count /
  // modbus_length_mismatch (request not encodable), crypto_failure.
  Result<void> send_request(const modbus::Request& req, TimePoint now);
  // One session record, not queued. Errors: not_established, crypto_failure.
  Result<Bytes> seal(ByteView plaintext);

  ClientState state() const noexcept { return state_; }
  bool established() const noexcept { return state_ == ClientState::established; }
  std::error_code failure() const noexcept { return failure_; }
  std::size_t pending_requests() const noexcept { return pending_.size(); }
  std::size_t receive_buffered() const noexcept { return reasm_.buffered(); }
  // True while no key, IV or ephemeral secret is held (after reset(), before the challenge).
  bool holds_no_secrets() const noexcept;

 private:
  Result<void> handle_unit(const Reassembler::Unit& u, TimePoint now);
  Result<void> on_challenge(const Frame& f, TimePoint now);
  Result<void> on_device_pubkey(const Frame& f, TimePoint now);
  Result<void> on_pubkey_accepted(const Frame& f);
  Result<void> on_session_record(ByteView record, TimePoint now);
  Result<void> fail(std::error_code e);
  void wipe();
  void fail_request(std::error_code e, Bytes adu = {});

  ClientConfig cfg_;
  crypto::Rng* rng_;
  std::unique_ptr<crypto::Md5> md5_;
  ClientState state_ = ClientState::idle;
  std::error_code failure_;
  Reassembler reasm_;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
  std::optional<TimePoint> step_deadline_;

  Bytes challenge_;
  Bytes challenge_response_;
  std::optional<HandshakeKeys> hs_keys_;
  std::optional<HandshakeCipher> hs_;
  Bytes device_key_raw_;     // Qd as last accepted (to recognise a repeated DEVICE_PUBKEY)
  Bytes client_record_;      // cached CLIENT_PUBKEY record
  std::optional<SessionCipher> session_;

  struct Pending {
    modbus::Request request;
    TimePoint deadline;
  };
  Fifo<Pending> pending_;
};

static_assert(Engine<Client>);

}  // namespace blecrypt::bluetti
