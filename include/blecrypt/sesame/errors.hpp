// Errors of the SESAME 5 (OS3) stack: one category for every layer (advertisement, segment,
// security, application, engines, share URI). Each message names the layer and the field.
// Foreign errors are wrapped: whatever the crypto seam reports (crypto::Errc) comes out of this
// module as Errc::crypto_failure (a tag mismatch as Errc::authentication_failed), so callers
// of sesame functions only ever see sesame::Errc.
#pragma once

#include <system_error>

namespace blecrypt::sesame {

enum class Errc {
  // advertisement
  not_sesame = 1,           // no manufacturer data with company id 0x055A
  ad_malformed,             // an AD structure's length runs past the payload
  manufacturer_data_short,  // manufacturer data shorter than 21 bytes
  // segment layer
  packet_too_short,         // packet shorter than 2 bytes (header + at least one byte)
  segment_header_invalid,   // header byte > 0x05
  segment_without_start,    // continuation or end packet with no message started
  reassembly_overflow,      // reassembled message longer than the cap (default 512 bytes)
  message_empty,            // asked to send an empty message
  message_too_large,        // asked to send a message longer than the cap
  packet_size_invalid,      // packet size below 2
  // security layer
  no_session,               // ciphertext received or requested before a session key exists
  authentication_failed,    // CCM tag did not verify (message dropped)
  counter_exhausted,        // tx counter would wrap: a counter value is never reused
  ciphertext_short,         // ciphertext shorter than the 4-byte tag plus one byte
  plaintext_after_login,    // plaintext message where only ciphertext is allowed
  counter_reuse,            // LOGIN refused: ciphertext already passed on this connection (or it registered)
  // application layer
  message_short,            // application message shorter than its fixed header
  unknown_op_code,          // response/publish op code not 07 or 08
  payload_length,           // item payload has the wrong length
  tag_length,               // history tag length byte runs past the payload
  history_record_short,     // history record shorter than 16 bytes
  // engines
  request_pending,          // a request for this item is already in flight
  not_connected,            // no connection / INITIAL random code not yet received
  not_logged_in,            // command before login completed
  no_secret,                // login without a device secret
  already_registered,       // device answered registration with INVALID_ACTION (9)
  login_rejected,           // device answered login with an error result
  registration_failed,      // registration response malformed or error result
  invalid_public_key,       // peer public key not a valid P-256 point
  timeout,                  // a deadline passed (INITIAL, login, request)
  session_ended,            // the session was ended (disconnect required)
  disconnected,             // the link went down (session keys wiped)
  invalid_argument,         // caller passed a value outside the allowed range
  // share URI
  uri_scheme,               // does not start with ssm://UI?
  uri_parameter,            // t is not "sk", sk missing, or bad percent-encoding / level
  uri_base64,               // sk is not base64
  uri_key_format,           // sk decodes to a length that is neither OS3 (39) nor OS2 (99)
  // added later (kept at the end: codes stay stable)
  crypto_failure,           // the crypto backend reported an error (key generation, ECDH, CMAC, CCM)
  session_key_mismatch,     // the lock's first encrypted message failed its tag: keys differ
  no_answer,                // the first request of a new session went unanswered
  uri_model,                // sk's model byte is not a model code of this key layout
  // accessories (items 101-130)
  credential_length,        // a credential's id/name length byte runs past the payload, is 0 or too large
  key_slot_length,          // key-slot list (item 102) not a whole number of 23-byte slots, or too many
  key_slot_garbled,         // an OS2 key slot's name is not the base64 of a 16-byte UUID
  add_sesame_length,        // ADD_SESAME payload neither 32 (OS3) nor 102 (OS2) bytes
  // OS2 (SESAME 3/4, bot 1, Bike 1)
  not_supported_by_model,   // the device's model has no such command (LOCK on a Bike 1, CLICK on a SESAME 3, UUID tags on OS2)
  script_format,            // Bot 2 script or script-name list malformed (lengths, counts, action codes)
};
inline constexpr Errc kLastErrc = Errc::script_format;

// Wraps an error from another layer (crypto) into sesame::Errc; sesame errors pass unchanged.
std::error_code wrap_foreign(std::error_code e) noexcept;

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace blecrypt::sesame

template <>
struct std::is_error_code_enum<blecrypt::sesame::Errc> : std::true_type {};
