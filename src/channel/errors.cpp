#include "blecrypt/channel/errors.hpp"

#include <string>

namespace blecrypt::channel {
namespace {

class ChannelCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.channel"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::not_tls: return "channel record: the peer's bytes are not TLS records (is the other end running blecrypt channel / openssl with TLS?)";
      case Errc::record_too_large: return "channel record: record length above 2^14+256 bytes (RFC 8446 5.2): stream garbled";
      case Errc::handshake_failed: return "channel: TLS handshake failed";
      case Errc::wrong_psk: return "channel: wrong PSK: the peer could not verify our key (both sides must load the same PSK file)";
      case Errc::unknown_psk_identity: return "channel: the peer did not accept the PSK identity (check --psk-identity on both sides, and that the peer uses a PSK)";
      case Errc::fingerprint_mismatch: return "channel: the peer's certificate fingerprint is not the pinned one (wrong device, replaced identity, or an attacker)";
      case Errc::no_peer_certificate: return "channel: the peer sent no certificate (does it use --identity?)";
      case Errc::record_tampered: return "channel: a TLS record failed authentication (modified or corrupted in transit); nothing of it was delivered";
      case Errc::protocol_error: return "channel: the peer violated the TLS protocol";
      case Errc::peer_alert: return "channel: the peer ended the connection with a TLS alert";
      case Errc::handshake_timeout: return "channel: the TLS handshake did not complete in time (is the peer running and using TLS 1.3?)";
      case Errc::peer_stalled: return "channel: the peer stopped sending in the middle of a TLS record";
      case Errc::truncated_record: return "channel: the stream closed in the middle of a TLS record; that record was not delivered";
      case Errc::closed_without_notify: return "channel: the stream closed without a TLS close_notify; data after the last record may be missing";
      case Errc::link_down: return "channel: the stream closed before the TLS handshake completed";
      case Errc::not_connected: return "channel: not connected (no link, or the channel already ended)";
      case Errc::closed: return "channel: the channel is closed for sending";
      case Errc::invalid_config: return "channel: invalid configuration";
      case Errc::tls_internal: return "channel: OpenSSL could not set up the TLS session";
      case Errc::file_unreadable: return "channel key file: cannot be opened or read";
      case Errc::file_not_regular: return "channel key file: not a regular file (symlinks, devices and fifos are refused)";
      case Errc::file_not_private: return "channel key file: readable or writable by group/others; run chmod 600 on it";
      case Errc::file_too_large: return "channel key file: larger than the size cap";
      case Errc::file_exists: return "channel key file: already exists; refusing to overwrite it";
      case Errc::psk_format: return "channel PSK: expected 64 hex digits (32 bytes) on one line, or a BLECRYPT-PSK1 string";
      case Errc::psk_checksum: return "channel PSK: the BLECRYPT-PSK1 string's check characters do not match (mistyped or damaged)";
      case Errc::fingerprint_format: return "channel fingerprint: expected a SHA-256 fingerprint, 32 bytes of hex (colons allowed)";
      case Errc::identity_format: return "channel identity: expected one PEM private key (P-256) and its PEM certificate";
      case Errc::address_format: return "channel address: not understood";
      case Errc::bluetooth_unavailable: return "channel: this kernel has no Bluetooth sockets (AF_BLUETOOTH); load the bluetooth modules or use a machine with a Bluetooth adapter";
      case Errc::socket_error: return "channel socket: operation failed";
      case Errc::io_timeout: return "channel socket: timed out";
    }
    return "channel: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const ChannelCategory instance;
  return instance;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace blecrypt::channel
