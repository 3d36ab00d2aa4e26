// Why a pairing fails, as the engine knows it (internal to src/smp). Each fault decides both what
// goes on the wire (the Pairing Failed reason, spec 3.5.5) and what the caller gets back (Errc):
// the one place where the two are tied together.
#pragma once

#include <array>
#include <cstdint>

#include "blecrypt/smp/errors.hpp"
#include "blecrypt/smp/pdu.hpp"

namespace blecrypt::smp {

enum class Fault : std::uint8_t {
  unexpected_pdu,         // PDU not allowed in this state (CVE-2019-19194 class)
  command_not_supported,  // a PDU this role never accepts (Pairing Request at the central, ...)
  pdu_empty,
  pdu_unknown_opcode,
  pdu_wrong_length,
  invalid_parameters,     // a field out of range, key distribution beyond the request, bad identity address
  key_size_out_of_range,  // Maximum Encryption Key Size below 7 in the peer's PDU
  key_size_too_small,     // negotiated size below our minimum
  sc_required,            // Secure Connections only, the peer does not do it
  weaker_than_bond,       // the pairing would replace a bond with a weaker one (spec 7, item 9)
  pairing_not_supported,  // policy: no pairing (requests refused, or re-pairing a bonded peer)
  oob_not_available,      // legacy OOB chosen without a TK
  confirm_value_failed,
  dhkey_check_failed,
  invalid_public_key,     // not on the curve, or our own key reflected (CVE-2018-5383, CVE-2020-26558)
  debug_key_refused,      // the peer uses the debug key and we do not accept it
  ecdh_failed,            // the backend could not compute the DHKey
  crypto_failure,         // the crypto seam failed
  passkey_rejected,       // the user gave no passkey / an invalid one
  comparison_rejected,    // the user said the numbers differ
  just_works_rejected,    // the user declined a Just Works confirmation
  repeated_attempts,      // a new attempt too soon after a failure (spec 2.3.6)
};

struct FaultInfo {
  Reason reason;                 // on the wire
  Errc error;                    // to the caller
  bool rejects_request = false;  // also report PairingRequestRejected (policy refusals)
};

inline constexpr std::array<FaultInfo, 22> kFaults{{
    {Reason::unspecified_reason, Errc::unexpected_pdu},
    {Reason::command_not_supported, Errc::unexpected_pdu},
    {Reason::invalid_parameters, Errc::pdu_empty},
    {Reason::command_not_supported, Errc::pdu_unknown_opcode},
    {Reason::invalid_parameters, Errc::pdu_wrong_length},
    {Reason::invalid_parameters, Errc::invalid_parameters},
    {Reason::encryption_key_size, Errc::invalid_parameters},
    {Reason::encryption_key_size, Errc::pairing_failed},
    {Reason::authentication_requirements, Errc::pairing_failed},
    {Reason::authentication_requirements, Errc::pairing_failed, true},
    {Reason::pairing_not_supported, Errc::pairing_failed, true},
    {Reason::oob_not_available, Errc::pairing_failed},
    {Reason::confirm_value_failed, Errc::pairing_failed},
    {Reason::dhkey_check_failed, Errc::pairing_failed},
    {Reason::dhkey_check_failed, Errc::invalid_parameters},
    {Reason::authentication_requirements, Errc::invalid_parameters},
    {Reason::dhkey_check_failed, Errc::crypto_failure},
    {Reason::unspecified_reason, Errc::crypto_failure},
    {Reason::passkey_entry_failed, Errc::pairing_failed},
    {Reason::numeric_comparison_failed, Errc::pairing_failed},
    {Reason::unspecified_reason, Errc::pairing_failed},
    {Reason::repeated_attempts, Errc::pairing_failed},
}};
static_assert(kFaults.size() == static_cast<std::size_t>(Fault::repeated_attempts) + 1);

constexpr const FaultInfo& info(Fault f) { return kFaults[static_cast<std::size_t>(f)]; }
constexpr std::uint8_t wire_reason(Fault f) { return static_cast<std::uint8_t>(info(f).reason); }

// The fault behind a PDU the codec refused.
inline Fault fault_for_parse_error(std::error_code ec) {
  if (ec == Errc::pdu_unknown_opcode) return Fault::pdu_unknown_opcode;
  if (ec == Errc::pdu_wrong_length) return Fault::pdu_wrong_length;
  return Fault::pdu_empty;
}

}  // namespace blecrypt::smp
