// Errors of the encrypted channel (TLS 1.3 over a Bluetooth, Unix or TCP byte stream): the
// record framer, the TLS engine, key files and the socket edge share one category. Each message
// says what happened and what the user can do about it.
#pragma once

#include <system_error>

namespace blecrypt::channel {

enum class Errc {
  // record framer (the only bytes the channel parses itself)
  not_tls = 1,              // a record header whose content type or version is not TLS
  record_too_large,         // record length above 2^14 + 256 (RFC 8446 §5.2)
  // engine
  handshake_failed,         // TLS handshake failed for a reason not listed below
  wrong_psk,                // PSK binder did not verify: the two sides hold different keys
  unknown_psk_identity,     // the peer does not know our PSK identity (or has no PSK)
  fingerprint_mismatch,     // the peer's certificate is not the pinned one
  no_peer_certificate,      // identity mode, but the peer sent no certificate
  record_tampered,          // a record failed authentication (bad_record_mac)
  protocol_error,           // the peer violated TLS after the handshake
  peer_alert,               // the peer sent a fatal TLS alert
  handshake_timeout,        // the handshake did not finish in time
  peer_stalled,             // the peer stopped in the middle of a record
  truncated_record,         // the stream closed in the middle of a record
  closed_without_notify,    // the stream closed without a TLS close_notify
  link_down,                // the stream closed before the handshake finished
  not_connected,            // send() before on_link_up() or after the channel ended
  closed,                   // send() after close() or after the peer closed
  invalid_config,           // neither PSK nor identity, or both; PSK not 32 bytes...
  tls_internal,             // OpenSSL could not set up (out of memory, bad key)
  // key material and files
  file_unreadable,          // cannot open/stat/read the file
  file_not_regular,         // not a regular file (or a symlink)
  file_not_private,         // a key file readable or writable by group/others
  file_too_large,           // above the size cap
  file_exists,              // refusing to overwrite an existing key file
  psk_format,               // PSK is not 64 hex digits or a BLECRYPT-PSK1 string
  psk_checksum,             // the BLECRYPT-PSK1 string's check characters do not match
  fingerprint_format,       // a fingerprint that is not 32 bytes of hex
  identity_format,          // identity file without one PEM key and one PEM certificate
  // socket edge
  address_format,           // --rfcomm/--l2cap/--tcp/--unix value not understood
  bluetooth_unavailable,    // the kernel has no AF_BLUETOOTH sockets
  socket_error,             // socket/connect/bind/listen/accept failed (see the message)
  io_timeout,               // a blocking call waited longer than allowed
};

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace blecrypt::channel

template <>
struct std::is_error_code_enum<blecrypt::channel::Errc> : std::true_type {};
