// Key material for the channel: PSKs (hex or the QR-friendly BLECRYPT-PSK1 string), self-signed
// P-256 identities, certificate fingerprints, and bounded, permission-checked key file IO.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"

namespace blecrypt::channel {

inline constexpr std::size_t kKeyFileCap = 64 * 1024;

// ---- PSK ----------------------------------------------------------------------------------
// A fresh 32-byte PSK from OpenSSL's private DRBG.
Result<SecretBytes> generate_psk();
// Parses a PSK: 64 hex digits (either case, surrounding whitespace ignored), or the string
//   BLECRYPT-PSK1:<52 base32 chars of the key>-<4 base32 check chars>
// (RFC 4648 base32 alphabet A-Z 2-7, no padding; check = first 20 bits of SHA-256 of the key).
// Every character is in the QR alphanumeric set, so it encodes compactly as a QR code.
Result<SecretBytes> parse_psk(std::string_view text);
std::string psk_to_hex(ByteView key);
std::string psk_to_qr_string(ByteView key);

// ---- identities ---------------------------------------------------------------------------
struct Identity {
  SecretBytes private_key_pem;
  std::string certificate_pem;
  Bytes fingerprint;  // SHA-256 of the DER certificate
};
// A new P-256 key and a self-signed certificate (CN = common_name, valid 100 years).
Result<Identity> generate_identity(std::string_view common_name);
// An identity file: a PEM private key (P-256) and the matching PEM certificate, in any order.
Result<Identity> parse_identity(ByteView pem);
// The PEM file both halves of an identity are written to (key first, then the certificate).
SecretBytes identity_to_pem(const Identity& id);
// SHA-256 of the DER encoding of the first certificate in `pem`.
Result<Bytes> certificate_fingerprint(std::string_view pem);

// ---- fingerprints -------------------------------------------------------------------------
// 32 bytes of hex; ':' ' ' '-' separators and a leading "sha256 Fingerprint=" / "SHA256:" ignored.
Result<Bytes> parse_fingerprint(std::string_view text);

// ---- files --------------------------------------------------------------------------------
// Reads a key file: regular file, not a symlink (O_NOFOLLOW), no group/other permission bits,
// at most `cap` bytes.
Result<SecretBytes> read_private_file(const std::string& path, std::size_t cap = kKeyFileCap);
// Reads a non-secret file (a recorded fingerprint): regular, not group/other-writable, bounded.
Result<Bytes> read_public_file(const std::string& path, std::size_t cap = kKeyFileCap);
// Creates `path` with mode 0600 (never overwrites; O_EXCL|O_NOFOLLOW) and writes `data`.
Result<void> write_private_file(const std::string& path, ByteView data);

}  // namespace blecrypt::channel
