// The sans-IO SMP pairing engine (Core Vol 3 Part H 2.3-2.4, 3): one link, one role.
//
// Inputs: received SMP PDUs (feed), link-layer events (LTK request, encryption changed/failed),
// user answers (passkey, yes/no, OOB data), app commands (pair, security request, encrypt with the
// bond) and time (every call takes `now`; on_deadline() fires the 30 s SMP timeout).
// Outputs: PDUs to send (poll_transmit), events (poll_event), the next deadline.
// Randomness comes from the injected Rng; crypto from the configured backend. No IO, no clock.
#pragma once

#include <memory>
#include <optional>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/engine.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/smp/errors.hpp"
#include "blecrypt/smp/pdu.hpp"
#include "blecrypt/smp/toolbox.hpp"
#include "blecrypt/smp/types.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::smp {

struct EngineConfig {
  Role role = Role::central;
  IoCapability io = IoCapability::no_input_no_output;
  bool bonding = true;
  bool mitm = true;
  bool secure_connections = true;
  bool keypress = false;
  bool ct2 = false;
  std::uint8_t initiator_keys = key_dist::enc | key_dist::id;
  std::uint8_t responder_keys = key_dist::enc | key_dist::id;
  std::uint8_t max_key_size = 16;
  std::uint8_t min_key_size = 16;  // smallest acceptable negotiated size (7..16)
  bool sc_only = false;            // Secure Connections only: legacy refused with 0x03
  bool debug_keys = false;         // use the debug key pair AND accept a peer's debug key
  Bytes ecc_private_key;           // fixed P-256 scalar (spec order); empty = generate per engine
  std::optional<std::uint32_t> passkey;  // fixed passkey (tests, CLI --passkey); else random
  std::optional<Key128> legacy_oob_tk;   // legacy OOB TK, wire order
  bool confirm_just_works = false;       // ask JustWorksConfirm before finishing LESC Just Works
  bool reject_pairing_requests = false;  // peripheral: answer every Pairing Request with 0x05
  bool reject_bonded_repairing = false;  // refuse re-pairing when a bond exists (policy)
  Address local_address;
  Address peer_address;
  std::optional<Address> identity_address;  // distributed with IdKey; default local_address
  SecretBytes irk;                          // wire order; empty = random per pairing
  SecretBytes csrk;                         // wire order; empty = random per pairing
  std::optional<BondInfo> bond;             // existing bond with this peer
  Duration timeout = kSmpTimeout;
  // Repeated attempts (spec 2.3.6): after a failed pairing, a new Pairing Request (peripheral) or
  // Security Request (central) arriving sooner than this interval is answered with Repeated
  // Attempts (0x09); the interval doubles with every further failure (up to 64x) and resets
  // after a success. Zero disables it.
  Duration repeated_attempts_interval = Duration::zero();
  const crypto::Backend* backend = nullptr;  // nullptr = crypto::default_backend()
};

class PairingEngine {
 public:
  using Event = smp::Event;

  PairingEngine(EngineConfig cfg, crypto::Rng& rng);
  ~PairingEngine();
  // Movable (the state lives behind one pointer); a moved-from engine may only be assigned to or
  // destroyed.
  PairingEngine(PairingEngine&&) noexcept;
  PairingEngine& operator=(PairingEngine&&) noexcept;
  PairingEngine(const PairingEngine&) = delete;
  PairingEngine& operator=(const PairingEngine&) = delete;

  // ---- the shared engine shape (blecrypt/engine.hpp) ----
  // The LE link is up. Nothing to send: the central starts with pair()/encrypt_bonded(), the
  // peripheral waits or sends security_request().
  void on_link_up(TimePoint now);
  // The LE link is gone: a pairing in progress is abandoned without an event, session keys and
  // queued PDUs are wiped, the SMP timeout state is cleared (a new link may pair again). The bond
  // stays.
  void on_link_down();
  // One SMP PDU from the peer. Errors describe what was wrong; the engine has already queued
  // Pairing Failed when the spec asks for it. After a timeout: Errc::timed_out, nothing sent.
  Result<void> feed(ByteView pdu, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Back to idle: wipes every key (the timeout state stays: it belongs to the link).
  void reset();

  // ---- application ----
  Result<void> pair(TimePoint now);              // central: send Pairing Request (also re-pair)
  Result<void> security_request(TimePoint now);  // peripheral: send Security Request
  Result<void> passkey_reply(std::optional<std::uint32_t> passkey, TimePoint now);  // nullopt = reject
  Result<void> confirm_reply(bool accept, TimePoint now);                           // NC / JW confirm
  Result<OobData> local_oob_data();          // LESC OOB data of this side (creates the key pair)
  Result<void> set_peer_oob_data(const OobData& peer);
  void set_bond(std::optional<BondInfo> bond);

  // ---- link layer ----
  Result<void> encrypt_bonded(TimePoint now);  // central: start encryption with the bond's key
  void ltk_request(std::uint16_t ediv, ByteView rand, TimePoint now);  // peripheral -> LtkReply
  void encryption_changed(TimePoint now);
  void encryption_failed(std::uint8_t status, TimePoint now);
  // Deprecated name of on_link_down(), kept until the security manager moves over; do not use.
  void disconnected() { on_link_down(); }

  // ---- status ----
  Role role() const noexcept;
  bool pairing_in_progress() const noexcept;
  bool timed_out() const noexcept;
  bool encrypted() const noexcept;
  SecurityLevel security_level() const noexcept;
  const std::optional<BondInfo>& bond() const noexcept;
  // Only in the state where encryption with the pairing key is expected; for tests/fuzzing.
  bool waiting_for_encryption() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

static_assert(Engine<PairingEngine>);

}  // namespace blecrypt::smp
