// Errors of the SMP module (toolbox, PDU codec, pairing engine, bond store): one category,
// "blecrypt.smp". Messages name the layer.
//
// Wrap rule for crypto errors: the SMP layer never passes a crypto::Errc through. Whatever the
// crypto seam reports (a backend failure, a key it refuses) becomes Errc::crypto_failure at the
// toolbox boundary; inside a pairing the engine then ends the pairing with Unspecified Reason
// (0x08) on the wire. A peer's public key that is not a point on P-256 is not a crypto failure
// but the peer's fault: Errc::invalid_parameters, DHKey Check Failed (0x0B) on the wire.
#pragma once

#include <system_error>

namespace blecrypt::smp {

enum class Errc {
  bad_argument = 1,        // toolbox input has the wrong size
  pdu_empty,               // PDU of zero bytes
  pdu_unknown_opcode,      // opcode outside 0x01..0x0E (SMP reason 0x07)
  pdu_wrong_length,        // PDU length does not match its opcode (SMP reason 0x0A)
  unexpected_pdu,          // PDU not allowed in the current state (SMP reason 0x08)
  invalid_parameters,      // field value out of range (SMP reason 0x0A)
  pairing_failed,          // the pairing ended with Pairing Failed (reason in the event)
  timed_out,               // the 30 s SMP timer expired: nothing more on this link
  wrong_state,             // API call not allowed now (e.g. passkey when none was asked)
  wrong_role,              // central-only / peripheral-only call on the other role
  crypto_failure,          // the crypto seam reported an error
  bond_io,                 // bond store: file system error
  bond_corrupt,            // bond store: file unreadable or malformed
  not_bonded,              // no bond for this peer
};

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace blecrypt::smp

template <>
struct std::is_error_code_enum<blecrypt::smp::Errc> : std::true_type {};
