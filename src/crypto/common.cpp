// Backend-independent parts of the crypto seam: errors, RNGs, convenience wrappers, the backend
// registry, and the known-answer self-test.
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "blecrypt/crypto.hpp"
#include "checks.hpp"

// Anchors defined by the backend libraries; weak, so a backend that is not linked is null here.
extern "C" {
[[gnu::weak]] const blecrypt::crypto::Backend* blecrypt_crypto_backend_openssl();
[[gnu::weak]] const blecrypt::crypto::Backend* blecrypt_crypto_backend_mbedtls();
}

namespace blecrypt::crypto {

namespace {

class CryptoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.crypto"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::invalid_key_size: return "crypto: key has the wrong size (AES 16/24/32, P-256 32 bytes)";
      case Errc::invalid_iv_size: return "crypto: CBC IV must be 16 bytes";
      case Errc::invalid_nonce_size: return "crypto: CCM nonce must be 7..13 bytes";
      case Errc::invalid_tag_size: return "crypto: CCM tag must be 4, 6, 8, 10, 12, 14 or 16 bytes";
      case Errc::invalid_length: return "crypto: data length not allowed (CBC needs a multiple of 16)";
      case Errc::output_too_small: return "crypto: output buffer too small";
      case Errc::authentication_failed: return "crypto: authentication tag mismatch";
      case Errc::invalid_public_key: return "crypto: P-256 public key invalid (not 64 bytes, coordinate >= p, or not on the curve)";
      case Errc::invalid_private_key: return "crypto: P-256 private key invalid (zero or >= n)";
      case Errc::wrong_backend: return "crypto: keys from different backends mixed in one operation";
      case Errc::backend_failure: return "crypto: the crypto library reported an internal error";
    }
    return "crypto: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const CryptoCategory instance;
  return instance;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

// ---- RNGs ---------------------------------------------------------------------------------

namespace {
class SystemRng final : public Rng {
 public:
  void fill(MutableByteView out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::abort();  // no entropy source: continuing would produce predictable keys
      }
      done += static_cast<std::size_t>(n);
    }
  }
};

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng& system_rng() {
  static SystemRng instance;
  return instance;
}

DeterministicRng::DeterministicRng(std::uint64_t seed) {
  for (auto& word : s_) word = splitmix64(seed);
}

void DeterministicRng::fill(MutableByteView out) {
  for (std::size_t i = 0; i < out.size(); i += 8) {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    for (std::size_t j = 0; j < 8 && i + j < out.size(); ++j)
      out[i + j] = static_cast<std::uint8_t>(result >> (8 * j));
  }
}

void ScriptedRng::fill(MutableByteView out) {
  std::size_t done = 0;
  while (done < out.size() && next_ < script_.size()) {
    const Bytes& chunk = script_[next_];
    std::size_t n = std::min(out.size() - done, chunk.size() - offset_);
    std::copy_n(chunk.begin() + static_cast<std::ptrdiff_t>(offset_), n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
    offset_ += n;
    if (offset_ == chunk.size()) {
      ++next_;
      offset_ = 0;
    }
  }
  if (done < out.size()) {
    if (fallback_ != nullptr) {
      fallback_->fill(out.subspan(done));
    } else {
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(done), out.end(), 0);
    }
  }
}

// ---- convenience wrappers -----------------------------------------------------------------

Result<Bytes> AesCbc::encrypt(ByteView iv, ByteView in) {
  Bytes out(in.size());
  BLECRYPT_TRY_VOID(encrypt(iv, in, out));
  return out;
}

Result<Bytes> AesCbc::decrypt(ByteView iv, ByteView in) {
  Bytes out(in.size());
  BLECRYPT_TRY_VOID(decrypt(iv, in, out));
  return out;
}

Result<Bytes> AesCcm::seal(ByteView nonce, ByteView aad, ByteView plaintext, std::size_t tag_size) {
  Bytes out(plaintext.size() + tag_size);
  BLECRYPT_TRY_VOID(seal(nonce, aad, plaintext, tag_size, out));
  return out;
}

Result<Bytes> AesCcm::open(ByteView nonce, ByteView aad, ByteView sealed, std::size_t tag_size) {
  if (sealed.size() < tag_size) return Errc::invalid_length;
  Bytes out(sealed.size() - tag_size);
  BLECRYPT_TRY_VOID(open(nonce, aad, sealed, tag_size, out));
  return out;
}

// ---- parameter checks shared by the backends ----------------------------------------------

namespace detail {

namespace {
// P-256 field prime p and group order n, big endian.
constexpr std::uint8_t kP[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::uint8_t kN[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

// a < b for 32-byte big-endian numbers, in constant time.
bool less_than_32(const std::uint8_t* a, const std::uint8_t* b) {
  unsigned lt = 0, gt = 0;
  for (int i = 0; i < 32; ++i) {
    unsigned x = a[i], y = b[i];
    unsigned is_lt = ((x - y) >> 8) & 1u;  // x < y
    unsigned is_gt = ((y - x) >> 8) & 1u;  // x > y
    lt |= is_lt & ~gt & 1u;
    gt |= is_gt & ~lt & 1u;
  }
  return lt == 1;
}
}  // namespace

Result<void> check_aes_key(ByteView key) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) return Errc::invalid_key_size;
  return ok();
}

Result<void> check_ccm_params(ByteView nonce, std::size_t tag_size, std::size_t length) {
  if (nonce.size() < 7 || nonce.size() > 13) return Errc::invalid_nonce_size;
  if (tag_size < 4 || tag_size > 16 || (tag_size % 2) != 0) return Errc::invalid_tag_size;
  // The length field has 15 - nonce bytes; beyond 2^32 we refuse anyway.
  const std::size_t length_bytes = 15 - nonce.size();
  if (length_bytes < 8 && (static_cast<unsigned long long>(length) >> (8 * length_bytes)) != 0)
    return Errc::invalid_length;
  return ok();
}

Result<void> check_ccm_seal(ByteView nonce, std::size_t plaintext_size, std::size_t tag_size, std::size_t out_size) {
  BLECRYPT_TRY_VOID(check_ccm_params(nonce, tag_size, plaintext_size));
  if (out_size < plaintext_size + tag_size) return Errc::output_too_small;
  return ok();
}

Result<std::size_t> check_ccm_open(ByteView nonce, std::size_t sealed_size, std::size_t tag_size, std::size_t out_size) {
  if (sealed_size < tag_size) return Errc::invalid_length;
  const std::size_t n = sealed_size - tag_size;
  BLECRYPT_TRY_VOID(check_ccm_params(nonce, tag_size, n));
  if (out_size < n) return Errc::output_too_small;
  return n;
}

Result<void> check_cbc(ByteView iv, std::size_t in_size, std::size_t out_size) {
  if (iv.size() != 16) return Errc::invalid_iv_size;
  if (in_size % 16 != 0) return Errc::invalid_length;
  if (out_size < in_size) return Errc::output_too_small;
  return ok();
}

Result<void> check_p256_public_range(ByteView raw) {
  if (raw.size() != kP256RawSize) return Errc::invalid_public_key;
  if (!less_than_32(raw.data(), kP) || !less_than_32(raw.data() + 32, kP))
    return Errc::invalid_public_key;
  return ok();
}

Result<void> check_p256_scalar(ByteView scalar) {
  if (scalar.size() != kP256ScalarSize) return Errc::invalid_key_size;
  std::uint8_t any = 0;
  for (auto b : scalar) any |= b;
  if (any == 0 || !less_than_32(scalar.data(), kN)) return Errc::invalid_private_key;
  return ok();
}

SecretBytes draw_p256_scalar(Rng& rng) {
  SecretBytes scalar(kP256ScalarSize);
  do {
    rng.fill(scalar.mutable_view());
  } while (!check_p256_scalar(scalar.view()));
  return scalar;
}

}  // namespace detail

// ---- registry -----------------------------------------------------------------------------
//
// The backends are separate libraries (blecrypt_crypto_openssl, blecrypt_crypto_mbedtls): a
// program links one or both. Each backend library defines one C-named anchor function; the core
// refers to both anchors weakly, so an anchor that is not linked reads as a null address and
// that backend is simply absent. The CMake targets and the pkg-config files force the anchor of
// every backend the program asks for into the link (`-Wl,--undefined=<anchor>`), so the archive
// member is pulled in even though nothing else names it. No static initialiser is involved:
// the registry is asked at call time, so it is complete whenever a program calls it.
// See docs/architecture.md, "Crypto backends".

namespace {

std::span<const Backend* const> linked_backends() {
  static const auto table = [] {
    struct Table {
      const Backend* entries[2] = {};
      std::size_t size = 0;
    } t;
    if (blecrypt_crypto_backend_openssl != nullptr) t.entries[t.size++] = blecrypt_crypto_backend_openssl();
    if (blecrypt_crypto_backend_mbedtls != nullptr) t.entries[t.size++] = blecrypt_crypto_backend_mbedtls();
    return t;
  }();
  return {table.entries, table.size};
}

#if defined(BLECRYPT_DEFAULT_BACKEND_MBEDTLS)
constexpr std::string_view kPreferredBackend = "mbedtls";
#else
constexpr std::string_view kPreferredBackend = "openssl";
#endif

}  // namespace

std::span<const Backend* const> all_backends() { return linked_backends(); }

const Backend* backend_by_name(std::string_view name) {
  for (const Backend* b : all_backends())
    if (b->name() == name) return b;
  return nullptr;
}

const Backend& default_backend() {
  // The configured one (BLECRYPT_DEFAULT_BACKEND) when it is linked, else the one that is.
  if (const Backend* preferred = backend_by_name(kPreferredBackend)) return *preferred;
  const auto linked = linked_backends();
  if (linked.empty()) {
    std::fputs("blecrypt: no crypto backend is linked into this program: link blecrypt::crypto_openssl "
               "or blecrypt::crypto_mbedtls (pkg-config: blecrypt-openssl or blecrypt-mbedtls)\n",
               stderr);
    std::abort();
  }
  return *linked.front();
}

Md5Digest md5(ByteView message) { return default_backend().md5()->digest(message); }
Sha256Digest sha256(ByteView message) { return default_backend().sha256()->digest(message); }

// ---- self-test ----------------------------------------------------------------------------

namespace {
Bytes hex(std::string_view h) { return *from_hex(h); }

bool same(ByteView a, ByteView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }
}  // namespace

std::string self_test(const Backend& backend) {
  // FIPS-197 Appendix C.1
  {
    auto aes = backend.aes_block(hex("000102030405060708090a0b0c0d0e0f"));
    Block in{};
    auto pt = hex("00112233445566778899aabbccddeeff");
    std::copy(pt.begin(), pt.end(), in.begin());
    if (!aes || !same((*aes)->encrypt(in), hex("69c4e0d86a7b0430d8cdb78070b4c55a"))) return "AES-128 (FIPS-197 C.1)";
    if (!same((*aes)->decrypt((*aes)->encrypt(in)), pt)) return "AES-128 decrypt (FIPS-197 C.1)";
  }
  // SP 800-38A F.2.1, first block
  {
    auto cbc = backend.aes_cbc(hex("2b7e151628aed2a6abf7158809cf4f3c"));
    auto out = cbc ? (*cbc)->encrypt(hex("000102030405060708090a0b0c0d0e0f"), hex("6bc1bee22e409f96e93d7e117393172a")) : Result<Bytes>(Errc::backend_failure);
    if (!out || !same(*out, hex("7649abac8119b246cee98e9b12e9197d"))) return "AES-CBC (SP 800-38A F.2.1)";
  }
  // RFC 4493 example 2
  {
    auto cmac = backend.aes_cmac(hex("2b7e151628aed2a6abf7158809cf4f3c"));
    if (!cmac || !same((*cmac)->mac(hex("6bc1bee22e409f96e93d7e117393172a")), hex("070a16b46b4d4144f79bdd9dd04a287c")))
      return "AES-CMAC (RFC 4493 example 2)";
  }
  // RFC 3610 packet vector #1
  {
    auto ccm = backend.aes_ccm(hex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"));
    const auto nonce = hex("00000003020100a0a1a2a3a4a5");
    const auto aad = hex("0001020304050607");
    const auto sealed = hex("588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0");
    auto out = ccm ? (*ccm)->seal(nonce, aad, hex("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e"), 8) : Result<Bytes>(Errc::backend_failure);
    if (!out || !same(*out, sealed)) return "AES-CCM seal (RFC 3610 #1)";
    auto back = (*ccm)->open(nonce, aad, sealed, 8);
    if (!back || !same(*back, hex("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e"))) return "AES-CCM open (RFC 3610 #1)";
  }
  if (!same(backend.md5()->digest(as_bytes("abc")), hex("900150983cd24fb0d6963f7d28e17f72"))) return "MD5 (RFC 1321)";
  if (!same(backend.sha256()->digest(as_bytes("abc")),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")))
    return "SHA-256 (FIPS 180)";
  // Bluetooth Core Vol 2 Part G 7.1.2, P-256 data set 1
  {
    auto a = backend.p256_from_private(hex("3f49f6d4a3c55f3874c9b3e3d2103f504aff607beb40b7995899b8a6cd3c1abd"));
    auto b_pub = backend.p256_public_key(hex(
        "1ea1f0f01faf1d9609592284f19e4c0047b58afd8615a69f559077b22faaa190"
        "4c55f33e429dad377356703a9ab85160472d1130e28e36765f89aff915b1214a"));
    if (!a || !b_pub) return "P-256 import (Core Vol 2 Part G 7.1.2)";
    auto dh = (*a)->ecdh(**b_pub);
    if (!dh || !same(*dh, hex("ec0234a357c8ad05341010a60a397d9b99796b13b4f866f1868d34f373bfa698")))
      return "P-256 ECDH (Core Vol 2 Part G 7.1.2)";
    auto sig = (*a)->sign(as_bytes("blecrypt self-test"));
    auto a_pub = backend.p256_public_key((*a)->public_raw());
    if (!sig || !a_pub || !(*a_pub)->verify(as_bytes("blecrypt self-test"), *sig)) return "ECDSA P-256 sign/verify";
    if ((*a_pub)->verify(as_bytes("blecrypt self-test!"), *sig)) return "ECDSA P-256 rejects a wrong message";
  }
  return {};
}

}  // namespace blecrypt::crypto
