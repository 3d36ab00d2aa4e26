// The sans-IO SMP pairing engine (Core Vol 3 Part H 2.3-2.4, 3): one link, one role.
//
// Inputs: received SMP PDUs (feed), link-layer events (LTK request, encryption changed/failed),
// user answers (passkey, yes/no, OOB data), app commands (pair, security request, encrypt with the
// bond) and time (every call takes `now`; on_deadline() fires the 30 s SMP timeout).
// Outputs: PDUs to send (poll_transmit), events (poll_event), the next deadline.
// Randomness comes from the injected Rng; crypto from the configured backend. No IO, no clock.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/smp/pdu.hpp"
#include "blecrypt/smp/toolbox.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::smp {

enum class Role : std::uint8_t { central, peripheral };
enum class IoCapability : std::uint8_t {
  display_only = 0,
  display_yes_no = 1,
  keyboard_only = 2,
  no_input_no_output = 3,
  keyboard_display = 4,
};
enum class Method : std::uint8_t { just_works, numeric_comparison, passkey, oob };
// blatann's SecurityLevel values.
enum class SecurityLevel : std::uint8_t { no_access = 0, open = 1, just_works = 2, mitm = 3, lesc_mitm = 4 };

std::string_view method_name(Method m) noexcept;
std::string_view io_capability_name(IoCapability io) noexcept;
std::optional<IoCapability> parse_io_capability(std::string_view s) noexcept;  // name or 0..4
std::string_view security_level_name(SecurityLevel l) noexcept;

inline constexpr std::chrono::seconds kSmpTimeout{30};

// A device address: type 0 public / 1 random, bytes most significant first (as displayed).
struct Address {
  std::uint8_t type = 0;
  std::array<std::uint8_t, 6> bytes{};
  std::string to_string() const;                              // "C0:00:00:00:00:01/random"
  static std::optional<Address> parse(std::string_view text);  // same form; "/public" default
  friend bool operator==(const Address&, const Address&) = default;
};

// Keys one side distributed in phase 3. Key values in wire order (least significant first).
struct DistributedKeys {
  SecretBytes ltk;  // legacy Encryption Information (empty when not distributed)
  std::uint16_t ediv = 0;
  std::array<std::uint8_t, 8> rand{};  // wire order
  SecretBytes irk;
  std::optional<Address> identity;
  SecretBytes csrk;
};

// What a stored bond says about its strength, plus the keys for re-encryption.
struct BondInfo {
  bool sc = false;
  bool authenticated = false;
  bool debug = false;  // made with the LESC debug key (link decryptable by sniffers)
  std::uint8_t key_size = 16;
  SecretBytes ltk;  // LESC LTK (wire order); legacy bonds use local/peer below
  DistributedKeys local, peer;
};

struct PairingResult {
  bool sc = false;
  Method method = Method::just_works;
  bool authenticated = false;
  bool bonded = false;
  std::uint8_t key_size = 16;
  SecretBytes ltk;  // LESC LTK (wire order, masked to key_size)
  DistributedKeys local, peer;
  SecretBytes link_key;  // CTKD (LinkKey bit negotiated in LESC)
  SecurityLevel level = SecurityLevel::open;
};

struct OobData {
  Key128 c{};  // f4(PKx, PKx, r, 0), wire order
  Key128 r{};  // wire order
};

namespace events {
struct PairingStarted {};
// Central: ask the link layer to start (or refresh) encryption.
struct StartEncryption {
  SecretBytes ltk;  // wire order, masked to key_size
  std::uint16_t ediv = 0;
  std::array<std::uint8_t, 8> rand{};
  std::uint8_t key_size = 16;
};
// Peripheral: answer to ltk_request(); empty ltk = negative reply.
struct LtkReply {
  SecretBytes ltk;
};
// Show a number: match_request=false -> the user types it on the peer (passkey entry);
// match_request=true -> numeric comparison (the user compares and answers yes/no).
struct PasskeyDisplay {
  std::uint32_t passkey = 0;
  bool match_request = false;
  Method method = Method::passkey;
};
struct PasskeyRequired {};  // the user must type the passkey shown on the peer
struct JustWorksConfirm {};  // only with EngineConfig::confirm_just_works
struct SecurityRequestReceived {
  std::uint8_t auth_req = 0;
  bool bond_satisfies = false;  // a stored bond meets the requested MITM/SC level
  bool ignored = false;  // arrived while pairing or encryption was under way (spec 2.4.6): report only
};
struct SecurityLevelChanged {
  SecurityLevel level = SecurityLevel::open;
};
struct PairingComplete {
  PairingResult result;
};
struct PairingFailed {
  std::uint8_t reason = 0;  // SMP reason code; 0 for a timeout
  bool local = true;        // true: this side sent Pairing Failed
  bool timeout = false;
};
struct PairingRequestRejected {
  std::uint8_t reason = 0;  // why this side refused the peer's request (policy / weaker bond)
};
struct EncryptionFailed {
  std::uint8_t status = 0;  // HCI status
};
}  // namespace events

using Event = std::variant<events::PairingStarted, events::StartEncryption, events::LtkReply, events::PasskeyDisplay,
                           events::PasskeyRequired, events::JustWorksConfirm, events::SecurityRequestReceived,
                           events::SecurityLevelChanged, events::PairingComplete, events::PairingFailed,
                           events::PairingRequestRejected, events::EncryptionFailed>;

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
  PairingEngine(EngineConfig cfg, crypto::Rng& rng);
  ~PairingEngine();
  PairingEngine(const PairingEngine&) = delete;
  PairingEngine& operator=(const PairingEngine&) = delete;

  // ---- the shared engine shape ----
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
  void disconnected();

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

}  // namespace blecrypt::smp
