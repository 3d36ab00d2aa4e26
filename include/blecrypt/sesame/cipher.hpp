// Security layer (spec §5): device secret from ECDH, session key = AES-CMAC(secret, random code),
// login token = session key[0..3], AES-128-CCM with nonce = counter (8 LE) || 00 || random code,
// AAD = 00, 4-byte tag, separate tx/rx counters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

struct SessionCipherProbe;

inline constexpr std::size_t kSecretSize = 16;
inline constexpr std::size_t kTagSize = 4;
inline constexpr std::size_t kNonceSize = 13;

using RandomCode = std::array<std::uint8_t, 4>;
using LoginToken = std::array<std::uint8_t, 4>;
using Nonce = std::array<std::uint8_t, kNonceSize>;

// Every function here returns sesame::Errc only: crypto-seam errors come back as crypto_failure
// (a CCM tag mismatch as authentication_failed).

// Device secret = first 16 bytes of the ECDH X coordinate (no KDF).
Result<SecretBytes> derive_device_secret(const crypto::P256KeyPair& own, const crypto::P256PublicKey& peer);
// session key = AES-CMAC(key = device secret, message = random code), 16 bytes.
Result<SecretBytes> derive_session_key(const crypto::Backend& backend, ByteView device_secret, const RandomCode& code);
// The first 4 bytes of the session key (sent in clear by LOGIN).
LoginToken login_token(ByteView session_key);

// A session key on the stack that wipes itself (the engines' allocation-free path).
struct SessionKey {
  crypto::Block bytes{};
  SessionKey() = default;
  SessionKey(const SessionKey&) = delete;
  SessionKey& operator=(const SessionKey&) = delete;
  ~SessionKey() { secure_wipe(bytes.data(), bytes.size()); }
  ByteView view() const noexcept { return {bytes.data(), bytes.size()}; }
};
Result<void> derive_session_key(const crypto::Backend& backend, ByteView device_secret, const RandomCode& code,
                                SessionKey& out);
Nonce make_nonce(std::uint64_t counter, const RandomCode& code);

// The Bluetooth address an OS3 device advertises with, derived from its UUID (16 bytes, the order
// its hex digits are written): AES-CMAC(key = UUID, message = "candy"), bytes 0-5, byte 5 |= 0xC0
// (a random static address), written byte 5 first: "E4:9F:72:D6:7F:05". Source: vendor Bluetooth
// document SesameOS3/101_add_sesame (how a Touch finds a SESAME 5) and libsesame3bt; not checked
// against hardware. Errors: invalid_argument (not 16 bytes), crypto_failure.
Result<std::string> address_from_uuid(const crypto::Backend& backend, ByteView uuid);

// One connection's CCM context: the same key and nonce construction for both directions, a tx
// counter (after each seal) and an rx counter (next expected peer counter). A tag failure drops the
// message and keeps rx unless `advance_rx_on_failure` (spec §9 #2 knob). A tx value is never reused.
class SessionCipher {
 public:
  static Result<SessionCipher> create(const crypto::Backend& backend, ByteView session_key, const RandomCode& code,
                                      bool advance_rx_on_failure = false);
  SessionCipher(SessionCipher&&) noexcept = default;
  SessionCipher& operator=(SessionCipher&&) noexcept = default;

  // ciphertext || tag with the current tx counter, then tx += 1.
  Result<Bytes> seal(ByteView plaintext);
  // The same into a caller buffer of exactly plaintext.size() + 4 bytes (no allocation).
  Result<void> seal(ByteView plaintext, MutableByteView out);
  // plaintext when the tag verifies with the current rx counter (then rx += 1).
  Result<Bytes> open(ByteView sealed);
  // The same into a caller buffer of exactly sealed.size() - 4 bytes (no allocation).
  Result<void> open(ByteView sealed, MutableByteView out);
  // Counters back to 0 (a new LOGIN on the same key; spec §9 #3).
  void reset_counters() noexcept { tx_ = 0; rx_ = 0; }

  std::uint64_t tx_counter() const noexcept { return tx_; }
  std::uint64_t rx_counter() const noexcept { return rx_; }
  std::uint64_t auth_failures() const noexcept { return failures_; }
  const RandomCode& random_code() const noexcept { return code_; }
 private:
  friend struct SessionCipherProbe;  // the exhaustion test (tests/sesame) moves the tx counter
  SessionCipher(std::unique_ptr<crypto::AesCcm> ccm, const RandomCode& code, bool advance)
      : ccm_(std::move(ccm)), code_(code), advance_(advance) {}
  std::unique_ptr<crypto::AesCcm> ccm_;
  RandomCode code_{};
  std::uint64_t tx_ = 0, rx_ = 0, failures_ = 0;
  bool advance_ = false;
};

}  // namespace blecrypt::sesame
