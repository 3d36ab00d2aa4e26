// The SESAME app's "share key" QR code: ssm://UI?t=sk&sk=<base64>&l=<level>&n=<name> (spec §5.2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

struct ShareKey {
  std::uint8_t model = 0;
  SecretBytes secret;                          // the 16-byte device secret
  bool os2 = false;                            // 99-byte OS2 layout (SESAME 3/4, bot, bike): sesame::os2::Client2
  std::optional<crypto::P256Raw> public_key;   // OS2: device public key
  std::optional<Uuid> uuid;                    // device UUID (OS3 bytes 23-38, OS2 bytes 83-98)
  std::optional<std::uint32_t> key_time;       // OS3: key creation time (u32 LE)
  std::optional<std::uint16_t> key_index;      // OS3 bytes 21-22, OS2 bytes 81-82 (LE; OS2 login sends it)
  int level = -1;                              // l: 0 owner, 1 manager, 2 guest, -1 absent
  std::string name;                            // n, percent-decoded; invalid UTF-8 bytes become U+FFFD.
                                               // May hold control characters: print with escape_control()
  std::string level_name() const;
};

// Errors: uri_scheme, uri_parameter, uri_base64, uri_key_format, uri_model (the model byte is not
// a model of the key's layout: OS3 keys 5-11 and 13-20, OS2 keys 0-4).
Result<ShareKey> parse_share_uri(std::string_view uri);
// Text safe for a terminal: C0 controls, DEL, C1 controls and backslash as \xNN / \u00NN
// (ESC [ 2 J prints as "\x1b[2J"); everything else unchanged.
std::string escape_control(std::string_view text);
// Valid UTF-8 unchanged; each byte of an invalid sequence becomes U+FFFD (names and device text).
std::string sanitize_utf8(std::string_view in);
// Standard or URL-safe base64, padding optional. nullopt on any other character.
std::optional<Bytes> base64_decode(std::string_view text);
std::string base64_encode(ByteView data);
// Builds an OS3 share URI (for tests, demos and emulators).
std::string build_share_uri(std::uint8_t model, ByteView secret, const Uuid& uuid, int level, std::string_view name,
                            std::uint32_t key_time = 0, std::uint16_t key_index = 0);
// A share URI around already-built key bytes (e.g. an OS2 emulator's os2::Device2::share_key_bytes()).
std::string share_uri_from_key_bytes(ByteView key_bytes, int level, std::string_view name);

}  // namespace blecrypt::sesame
