// The vocabulary of the SMP module (Core Vol 3 Part H): roles, IO capabilities, association
// models, security levels, addresses, keys, bonds, pairing results and the pairing engine's
// events. Everything here is plain data; the bond store and the security manager use it without
// pulling in the engine.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/secret.hpp"

namespace blecrypt::smp {

// Every 128-bit SMP value: keys (TK, STK, LTK, IRK, CSRK), nonces, confirm and DHKey check values,
// AES blocks. The same type as crypto::Block; the SMP module names it only this way. Whether a
// value is in spec order (most significant octet first) or wire order is said where it is held.
using Key128 = crypto::Block;

enum class Role : std::uint8_t { central, peripheral };  // central = initiator, peripheral = responder
// IO capability, values as in the Pairing Request/Response (spec 3.5.1, Table 3.4).
enum class IoCapability : std::uint8_t {
  display_only = 0,
  display_yes_no = 1,
  keyboard_only = 2,
  no_input_no_output = 3,
  keyboard_display = 4,
};
inline constexpr int kIoCapabilities = 5;
// Association model (spec 2.3.5.1).
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

// LESC out-of-band data of one device (spec 2.3.5.6.4).
struct OobData {
  Key128 c{};  // f4(PKx, PKx, r, 0), wire order
  Key128 r{};  // wire order
};

namespace events {
struct PairingStarted {};
// Central: ask the link layer to start (or refresh) encryption.
struct StartEncryption {
  SecretBytes ltk;  // wire order, masked to key_size (the STK of a legacy pairing)
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

}  // namespace blecrypt::smp
