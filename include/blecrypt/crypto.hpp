// The crypto seam: the only place blecrypt touches a crypto library.
//
// Every protocol engine asks a `crypto::Backend` for keyed objects once per session and direction
// and reuses them for every message (no algorithm lookup or key schedule per call). Two backends
// exist, OpenSSL 3 and mbedTLS 2.28, each a library of its own (blecrypt::crypto_openssl,
// blecrypt::crypto_mbedtls): a program links one or both, and the registry below lists the
// linked ones. The configure-time option BLECRYPT_DEFAULT_BACKEND picks which one
// `default_backend()` returns when both are linked.
//
// Objects are not thread-safe: one per session and direction.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"

namespace blecrypt::crypto {

enum class Errc {
  invalid_key_size = 1,    // AES key not 16/24/32 bytes, P-256 scalar not 32 bytes
  invalid_iv_size,         // CBC IV not 16 bytes
  invalid_nonce_size,      // CCM nonce outside 7..13 bytes
  invalid_tag_size,        // CCM tag not one of 4,6,8,10,12,14,16
  invalid_length,          // CBC data not a multiple of 16, CCM message too long for the nonce
  output_too_small,        // caller's output span is shorter than the result
  authentication_failed,   // CCM tag mismatch
  invalid_public_key,      // P-256 point not 64 bytes, coordinate >= p, not on the curve
  invalid_private_key,     // P-256 scalar zero or >= n
  wrong_backend,           // objects from two different backends mixed in one call
  backend_failure,         // the crypto library reported an internal error
};

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

using Block = std::array<std::uint8_t, 16>;
using Md5Digest = std::array<std::uint8_t, 16>;
using Sha256Digest = std::array<std::uint8_t, 32>;
inline constexpr std::size_t kP256RawSize = 64;      // X || Y, big endian, no 0x04 prefix
inline constexpr std::size_t kP256ScalarSize = 32;   // big endian
using P256Raw = std::array<std::uint8_t, kP256RawSize>;
using P256Signature = std::array<std::uint8_t, 64>;  // r || s, big endian, each 32 bytes

// ---- randomness ---------------------------------------------------------------------------

// Injected into every engine, so tests can be deterministic.
class Rng {
 public:
  virtual ~Rng() = default;
  virtual void fill(MutableByteView out) = 0;
  Bytes bytes(std::size_t n) {
    Bytes b(n);
    fill(b);
    return b;
  }
};

// The operating system's CSPRNG (getrandom(2)). Thread-safe; one shared instance.
Rng& system_rng();

// Reproducible stream for tests and benchmarks (xoshiro256**; NOT for keys in production).
class DeterministicRng final : public Rng {
 public:
  explicit DeterministicRng(std::uint64_t seed = 1);
  void fill(MutableByteView out) override;

 private:
  std::uint64_t s_[4];
};

// Hands out pre-recorded bytes in order (transcript replay), then falls back to `fallback` or,
// without one, zeros.
class ScriptedRng final : public Rng {
 public:
  explicit ScriptedRng(std::vector<Bytes> script, Rng* fallback = nullptr)
      : script_(std::move(script)), fallback_(fallback) {}
  void push(Bytes chunk) { script_.push_back(std::move(chunk)); }
  void fill(MutableByteView out) override;

 private:
  std::vector<Bytes> script_;
  std::size_t next_ = 0;
  std::size_t offset_ = 0;
  Rng* fallback_;
};

// ---- symmetric ----------------------------------------------------------------------------

// Raw AES block cipher (ECB of one block); SMP's e(), c1, s1, ah are built on it.
class AesBlock {
 public:
  virtual ~AesBlock() = default;
  virtual Block encrypt(const Block& in) = 0;
  virtual Block decrypt(const Block& in) = 0;
};

// AES-CBC without padding: the caller pads to 16 bytes.
class AesCbc {
 public:
  virtual ~AesCbc() = default;
  // in.size() % 16 == 0, out.size() >= in.size(), iv.size() == 16. out may alias in.
  virtual Result<void> encrypt(ByteView iv, ByteView in, MutableByteView out) = 0;
  virtual Result<void> decrypt(ByteView iv, ByteView in, MutableByteView out) = 0;
  Result<Bytes> encrypt(ByteView iv, ByteView in);
  Result<Bytes> decrypt(ByteView iv, ByteView in);
};

// AES-CCM (RFC 3610 / SP 800-38C): nonce 7..13 bytes, any AAD, tag 4..16 (even).
class AesCcm {
 public:
  virtual ~AesCcm() = default;
  // out = ciphertext || tag; out.size() >= plaintext.size() + tag_size.
  virtual Result<void> seal(ByteView nonce, ByteView aad, ByteView plaintext, std::size_t tag_size,
                            MutableByteView out) = 0;
  // sealed = ciphertext || tag; out.size() >= sealed.size() - tag_size. Nothing is written to out
  // unless the tag verifies (authentication_failed otherwise).
  virtual Result<void> open(ByteView nonce, ByteView aad, ByteView sealed, std::size_t tag_size,
                            MutableByteView out) = 0;
  Result<Bytes> seal(ByteView nonce, ByteView aad, ByteView plaintext, std::size_t tag_size);
  Result<Bytes> open(ByteView nonce, ByteView aad, ByteView sealed, std::size_t tag_size);
};

// AES-CMAC (RFC 4493), keyed once.
class AesCmac {
 public:
  virtual ~AesCmac() = default;
  virtual Block mac(ByteView message) = 0;
};

class Md5 {
 public:
  virtual ~Md5() = default;
  virtual Md5Digest digest(ByteView message) = 0;
};

class Sha256 {
 public:
  virtual ~Sha256() = default;
  virtual Sha256Digest digest(ByteView message) = 0;
};

// ---- P-256 --------------------------------------------------------------------------------

class Backend;

// A validated peer public key (coordinates < p, on the curve; the point at infinity has no
// 64-byte encoding and so can never be imported).
class P256PublicKey {
 public:
  virtual ~P256PublicKey() = default;
  virtual const Backend& backend() const noexcept = 0;
  virtual const P256Raw& raw() const noexcept = 0;
  // ECDSA-P256 with SHA-256 over `message`, signature as raw r || s.
  virtual bool verify(ByteView message, const P256Signature& signature) const = 0;
};

class P256KeyPair {
 public:
  virtual ~P256KeyPair() = default;
  virtual const Backend& backend() const noexcept = 0;
  virtual const P256Raw& public_raw() const noexcept = 0;
  // The private scalar (32 bytes, big endian): for bond files and tests, never logged.
  virtual SecretBytes private_scalar() const = 0;
  // ECDH: the X coordinate of d * peer (32 bytes). peer must come from the same backend.
  virtual Result<SecretBytes> ecdh(const P256PublicKey& peer) const = 0;
  // ECDSA-P256-SHA256 over `message` with a fresh random nonce from the backend's CSPRNG.
  virtual Result<P256Signature> sign(ByteView message) const = 0;
};

// ---- backend ------------------------------------------------------------------------------

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const noexcept = 0;  // "openssl" or "mbedtls"
  virtual std::string_view library_version() const noexcept = 0;

  virtual Result<std::unique_ptr<AesBlock>> aes_block(ByteView key) const = 0;
  virtual Result<std::unique_ptr<AesCbc>> aes_cbc(ByteView key) const = 0;
  virtual Result<std::unique_ptr<AesCcm>> aes_ccm(ByteView key) const = 0;
  virtual Result<std::unique_ptr<AesCmac>> aes_cmac(ByteView key) const = 0;
  virtual std::unique_ptr<Md5> md5() const = 0;
  virtual std::unique_ptr<Sha256> sha256() const = 0;

  // Private scalar drawn from rng (rejection-sampled into [1, n-1]).
  virtual Result<std::unique_ptr<P256KeyPair>> p256_generate(Rng& rng) const = 0;
  virtual Result<std::unique_ptr<P256KeyPair>> p256_from_private(ByteView scalar) const = 0;
  virtual Result<std::unique_ptr<P256PublicKey>> p256_public_key(ByteView raw) const = 0;
};

// Each is defined by its backend library (calling one requires linking that library).
const Backend& openssl_backend();
const Backend& mbedtls_backend();
// The configured backend (-DBLECRYPT_DEFAULT_BACKEND=openssl|mbedtls) when it is linked, else the
// linked one. With no backend linked it prints what to link and aborts.
const Backend& default_backend();
// The linked backends (OpenSSL first), for tests and benchmarks that run on each.
std::span<const Backend* const> all_backends();
// nullptr when the name is unknown or that backend is not linked.
const Backend* backend_by_name(std::string_view name);

// One-shot helpers on the default backend (allocate per call: for tools, not hot paths).
Md5Digest md5(ByteView message);
Sha256Digest sha256(ByteView message);

// Known-answer self-test of every primitive on `backend` (FIPS-197, RFC 4493, RFC 3610,
// RFC 1321, FIPS 180, RFC 5903 ECDH, sign/verify round trip). Empty string when all pass,
// otherwise the name of the first failing check.
std::string self_test(const Backend& backend);

}  // namespace blecrypt::crypto

template <>
struct std::is_error_code_enum<blecrypt::crypto::Errc> : std::true_type {};
