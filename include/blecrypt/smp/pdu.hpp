// SMP PDUs (Core Vol 3 Part H 3.3-3.6): the 14 commands carried on L2CAP CID 0x0006.
// Multi-octet fields are kept in wire order (least significant octet first), as received.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <variant>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/smp/errors.hpp"
#include "blecrypt/smp/types.hpp"

namespace blecrypt::smp {

enum class Opcode : std::uint8_t {
  pairing_request = 0x01,
  pairing_response = 0x02,
  pairing_confirm = 0x03,
  pairing_random = 0x04,
  pairing_failed = 0x05,
  encryption_information = 0x06,
  central_identification = 0x07,
  identity_information = 0x08,
  identity_address_information = 0x09,
  signing_information = 0x0a,
  security_request = 0x0b,
  pairing_public_key = 0x0c,
  pairing_dhkey_check = 0x0d,
  keypress_notification = 0x0e,
};

// Pairing Failed reasons (spec 3.5.5).
enum class Reason : std::uint8_t {
  passkey_entry_failed = 0x01,
  oob_not_available = 0x02,
  authentication_requirements = 0x03,
  confirm_value_failed = 0x04,
  pairing_not_supported = 0x05,
  encryption_key_size = 0x06,
  command_not_supported = 0x07,
  unspecified_reason = 0x08,
  repeated_attempts = 0x09,
  invalid_parameters = 0x0a,
  dhkey_check_failed = 0x0b,
  numeric_comparison_failed = 0x0c,
  bredr_pairing_in_progress = 0x0d,
  ctkd_not_allowed = 0x0e,
};
// "confirm_value_failed" etc.; "unknown" outside the table.
std::string_view reason_name(std::uint8_t reason) noexcept;
std::string_view opcode_name(std::uint8_t opcode) noexcept;

namespace auth_req {
inline constexpr std::uint8_t bonding = 0x01;
inline constexpr std::uint8_t mitm = 0x04;
inline constexpr std::uint8_t sc = 0x08;
inline constexpr std::uint8_t keypress = 0x10;
inline constexpr std::uint8_t ct2 = 0x20;
}  // namespace auth_req

namespace key_dist {
inline constexpr std::uint8_t enc = 0x01;
inline constexpr std::uint8_t id = 0x02;
inline constexpr std::uint8_t sign = 0x04;
inline constexpr std::uint8_t link = 0x08;
}  // namespace key_dist

using Coord = std::array<std::uint8_t, 32>;  // wire order

struct PairingParameters {
  std::uint8_t io_capability = 3;
  std::uint8_t oob_data_flag = 0;
  std::uint8_t auth_req = 0;
  std::uint8_t max_key_size = 16;
  std::uint8_t initiator_key_distribution = 0;
  std::uint8_t responder_key_distribution = 0;
  friend bool operator==(const PairingParameters&, const PairingParameters&) = default;
};
struct PairingRequest { PairingParameters p; friend bool operator==(const PairingRequest&, const PairingRequest&) = default; };
struct PairingResponse { PairingParameters p; friend bool operator==(const PairingResponse&, const PairingResponse&) = default; };
struct PairingConfirm { Key128 value{}; friend bool operator==(const PairingConfirm&, const PairingConfirm&) = default; };
struct PairingRandom { Key128 value{}; friend bool operator==(const PairingRandom&, const PairingRandom&) = default; };
struct PairingFailed { std::uint8_t reason = 0; friend bool operator==(const PairingFailed&, const PairingFailed&) = default; };
struct EncryptionInformation { Key128 ltk{}; friend bool operator==(const EncryptionInformation&, const EncryptionInformation&) = default; };
struct CentralIdentification {
  std::uint16_t ediv = 0;
  std::array<std::uint8_t, 8> rand{};  // wire order
  friend bool operator==(const CentralIdentification&, const CentralIdentification&) = default;
};
struct IdentityInformation { Key128 irk{}; friend bool operator==(const IdentityInformation&, const IdentityInformation&) = default; };
struct IdentityAddressInformation {
  std::uint8_t addr_type = 0;
  std::array<std::uint8_t, 6> addr{};  // wire order
  friend bool operator==(const IdentityAddressInformation&, const IdentityAddressInformation&) = default;
};
struct SigningInformation { Key128 csrk{}; friend bool operator==(const SigningInformation&, const SigningInformation&) = default; };
struct SecurityRequest { std::uint8_t auth_req = 0; friend bool operator==(const SecurityRequest&, const SecurityRequest&) = default; };
struct PairingPublicKey {
  Coord x{}, y{};  // wire order
  friend bool operator==(const PairingPublicKey&, const PairingPublicKey&) = default;
};
struct PairingDhKeyCheck { Key128 value{}; friend bool operator==(const PairingDhKeyCheck&, const PairingDhKeyCheck&) = default; };
struct KeypressNotification { std::uint8_t type = 0; friend bool operator==(const KeypressNotification&, const KeypressNotification&) = default; };

using Pdu = std::variant<PairingRequest, PairingResponse, PairingConfirm, PairingRandom, PairingFailed,
                         EncryptionInformation, CentralIdentification, IdentityInformation,
                         IdentityAddressInformation, SigningInformation, SecurityRequest, PairingPublicKey,
                         PairingDhKeyCheck, KeypressNotification>;

// Total PDU length (opcode included) for a known opcode, 0 for an unknown one.
std::size_t pdu_length(std::uint8_t opcode) noexcept;
Opcode opcode_of(const Pdu& pdu) noexcept;

// Parses one PDU. Errors: pdu_empty, pdu_unknown_opcode (-> reason 0x07), pdu_wrong_length
// (-> reason 0x0A). Field values are not judged here (the engine does that).
Result<Pdu> parse_pdu(ByteView in);
Bytes encode_pdu(const Pdu& pdu);

// The Pairing Failed reason a parse error maps to.
Reason reason_for_parse_error(std::error_code ec) noexcept;

}  // namespace blecrypt::smp
