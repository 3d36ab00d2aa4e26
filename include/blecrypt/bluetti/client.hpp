// BLUETTI client engine (sans-IO): the `**` challenge, the signed ECDH handshake and the session
// records that carry Modbus. Bytes and time in; writes, events and deadlines out.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "blecrypt/bluetti/modbus.hpp"
#include "blecrypt/bluetti/protocol.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::bluetti {

struct ClientConfig {
  const crypto::Backend* backend = &crypto::default_backend();
  // Verifies the DEVICE_PUBKEY signature. nullptr = K2 (real units). For the emulator pass the
  // test key (kTestDevicePublicKey) or the emulator's configured key.
  std::shared_ptr<const crypto::P256PublicKey> device_verify_key;
  // Signs CLIENT_PUBKEY. nullptr = L1 (what every unit expects).
  std::shared_ptr<const crypto::P256KeyPair> client_signing_key;
  Duration step_timeout = std::chrono::seconds(30);    // per handshake notification (official HA)
  Duration request_timeout = std::chrono::seconds(5);  // per Modbus command

  // Imports the raw keys once (the config is reused for every session and reconnect).
  static Result<ClientConfig> make(const crypto::Backend& backend, ByteView device_verify_key_raw);
};

enum class ClientState { idle, wait_challenge, wait_challenge_accepted, wait_device_key, wait_pubkey_accepted, established, failed };
const char* client_state_name(ClientState s) noexcept;

struct ClientEvent {
  enum class Kind {
    challenge_answered,   // CHALLENGE received, response queued
    challenge_accepted,   // CHALLENGE_ACCEPTED with status 0
    device_key_verified,  // DEVICE_PUBKEY signature good, CLIENT_PUBKEY queued
    established,          // PUBKEY_ACCEPTED: session key in use
    data,                 // a session record that answers no outstanding request
    response,             // the answer to the oldest outstanding request (may be an exception)
    request_failed,       // bad CRC / garbled answer / timeout for the oldest request
    failed,               // handshake failed: `error` says why; reset() to retry
  };
  Kind kind;
  Bytes data;
  std::optional<modbus::Request> request;
  std::optional<modbus::Response> response;
  std::error_code error;
};

class ClientSession {
 public:
  ClientSession(ClientConfig cfg, crypto::Rng& rng);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Notifications enabled: wait for the device's challenge (arms the first deadline).
  void start(TimePoint now);
  // One notification (or any piece of the stream). Errors are also reported as events; a
  // handshake error moves to `failed`, a bad session record only fails its request.
  Result<void> feed(ByteView notification, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<ClientEvent> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Wipes every key, IV, cached record and buffer; back to `idle` (call start() again).
  void reset();

  // Session traffic (state `established`).
  Result<void> send_request(const modbus::Request& req, TimePoint now);
  Result<Bytes> seal(ByteView plaintext);  // one session record, not queued

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
  void push(ClientEvent::Kind k, std::error_code e = {});

  ClientConfig cfg_;
  crypto::Rng& rng_;
  std::unique_ptr<crypto::Md5> md5_;
  ClientState state_ = ClientState::idle;
  std::error_code failure_;
  Reassembler reasm_;
  Fifo<Bytes> tx_;
  Fifo<ClientEvent> events_;
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

}  // namespace blecrypt::bluetti
