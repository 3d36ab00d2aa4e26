// Errors of the BLUETTI module: one Errc for frames, records, the handshake, Modbus, the request
// layer and the licence. Every public function of the module returns errors of this category
// only: an error from another layer (the crypto seam) is wrapped by one rule, as_bluetti_error().
#pragma once

#include <system_error>

namespace blecrypt::bluetti {

enum class Errc {
  frame_truncated = 1,       // `**` frame shorter than 6 bytes or than its length byte says
  frame_bad_magic,           // a KEX frame that does not start with 2A 2A
  frame_length_mismatch,     // size != N + 6
  frame_bad_checksum,        // 16-bit sum mismatch
  frame_unexpected_type,     // a valid frame of a type not allowed here
  frame_bad_payload,         // payload of the wrong size for its type
  record_truncated,          // record shorter than its header
  record_length_invalid,     // L = 0, or size != header + pad16(L)
  record_too_long,           // header announces more than the largest legal record (262 bytes)
  record_bad_padding,        // handshake record padding not zero
  record_unexpected,         // an encrypted record while no key is set up
  challenge_mismatch,        // CHALLENGE_RESPONSE does not match the challenge
  challenge_rejected,        // CHALLENGE_ACCEPTED with a non-zero status
  device_signature_invalid,  // DEVICE_PUBKEY signature does not verify with the device key
  client_signature_invalid,  // CLIENT_PUBKEY signature does not verify with L1
  peer_key_invalid,          // ephemeral public key is not a valid P-256 point
  pubkey_rejected,           // PUBKEY_ACCEPTED with a non-zero status
  unexpected_message,        // a message out of order for the current handshake step
  not_established,           // session traffic before the session key exists
  handshake_failed,          // the engine is in the failed state (reset() to retry)
  timeout,                   // a handshake step or a request passed its deadline
  modbus_truncated,          // Modbus ADU too short for its function code
  modbus_bad_crc,            // CRC-16/MODBUS mismatch
  modbus_bad_unit,           // unit id not 0x01 / not the one asked
  modbus_bad_function,       // unsupported function code
  modbus_bad_count,          // register count outside 1..125 (read) / 1..123 (write)
  modbus_length_mismatch,    // byte count or size disagrees with the count
  modbus_exception,          // the device answered with an exception response
  modbus_unexpected_response,// response does not answer the outstanding request
  no_request_pending,        // a response arrived while nothing was asked
  invalid_key,               // a configured key (signing scalar, verify key) is not usable
  licence_denied,            // IoT serial not listed in the licence file
  licence_unreadable,        // licence file missing (explicit path) or in BLUETTI's closed layout
  crypto_failure,            // the crypto seam reported an error
  request_unanswered,        // a later request was answered first: this one got no answer
  session_restarted,         // the unit sent a new CHALLENGE: requests of the old session dropped
  link_down,                 // on_link_down(): the link went away with this request in flight
  write_not_confirmed,       // a write got no echo and reading the register back gave another value
  licence_too_large,         // the licence file is larger than kMaxLicenceBytes
  licence_not_regular,       // the licence path is a directory, device, FIFO or symbolic link
  model_unknown,             // the model table has no such model / the device-type register names none
  field_unknown,             // the model has no field of that name
  field_not_settable,        // the field is read-only (or the model has no pack selector)
  setting_invalid,           // the value is not a number / on|off / one of the field's choices
  setting_out_of_range,      // the value lies outside the field's range (refused before any write)
  pack_out_of_range,         // pack number outside 1..max_packs of the model
};

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

// The one rule for foreign errors: an error of this category passes unchanged; any other
// (crypto seam, system) becomes Errc::crypto_failure, so callers can switch on Errc alone.
std::error_code as_bluetti_error(std::error_code e) noexcept;

}  // namespace blecrypt::bluetti

template <>
struct std::is_error_code_enum<blecrypt::bluetti::Errc> : std::true_type {};
