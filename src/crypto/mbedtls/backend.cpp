// mbedTLS 2.28 backend of the crypto seam (the library ESP32 firmware uses). Each object owns its
// keyed mbedTLS context; P-256 objects own their group (mbedTLS caches per-group tables).
#include <mbedtls/aes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ccm.h>
#include <mbedtls/cipher.h>
#include <mbedtls/cmac.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include <cstring>
#include <memory>

#include "../checks.hpp"
#include "blecrypt/crypto.hpp"

namespace blecrypt::crypto {
namespace {

const Backend& backend_ref();

// mbedTLS wants an f_rng for blinding and ECDSA nonces: the OS CSPRNG.
int os_random(void*, unsigned char* out, size_t len) {
  system_rng().fill({out, len});
  return 0;
}

// ---- AES block ----------------------------------------------------------------------------

class MbedAesBlock final : public AesBlock {
 public:
  MbedAesBlock() {
    mbedtls_aes_init(&enc_);
    mbedtls_aes_init(&dec_);
  }
  ~MbedAesBlock() override {
    mbedtls_aes_free(&enc_);
    mbedtls_aes_free(&dec_);
  }
  bool set_key(ByteView key) {
    const auto bits = static_cast<unsigned>(key.size() * 8);
    return mbedtls_aes_setkey_enc(&enc_, key.data(), bits) == 0 && mbedtls_aes_setkey_dec(&dec_, key.data(), bits) == 0;
  }
  Block encrypt(const Block& in) override {
    Block out{};
    mbedtls_aes_crypt_ecb(&enc_, MBEDTLS_AES_ENCRYPT, in.data(), out.data());
    return out;
  }
  Block decrypt(const Block& in) override {
    Block out{};
    mbedtls_aes_crypt_ecb(&dec_, MBEDTLS_AES_DECRYPT, in.data(), out.data());
    return out;
  }

 private:
  mbedtls_aes_context enc_, dec_;
};

// ---- AES-CBC ------------------------------------------------------------------------------

class MbedAesCbc final : public AesCbc {
 public:
  MbedAesCbc() {
    mbedtls_aes_init(&enc_);
    mbedtls_aes_init(&dec_);
  }
  ~MbedAesCbc() override {
    mbedtls_aes_free(&enc_);
    mbedtls_aes_free(&dec_);
  }
  bool set_key(ByteView key) {
    const auto bits = static_cast<unsigned>(key.size() * 8);
    return mbedtls_aes_setkey_enc(&enc_, key.data(), bits) == 0 && mbedtls_aes_setkey_dec(&dec_, key.data(), bits) == 0;
  }
  using AesCbc::decrypt;
  using AesCbc::encrypt;
  Result<void> encrypt(ByteView iv, ByteView in, MutableByteView out) override {
    return run(&enc_, MBEDTLS_AES_ENCRYPT, iv, in, out);
  }
  Result<void> decrypt(ByteView iv, ByteView in, MutableByteView out) override {
    return run(&dec_, MBEDTLS_AES_DECRYPT, iv, in, out);
  }

 private:
  static Result<void> run(mbedtls_aes_context* ctx, int mode, ByteView iv, ByteView in, MutableByteView out) {
    BLECRYPT_TRY_VOID(detail::check_cbc(iv, in.size(), out.size()));
    unsigned char chain[16];  // mbedTLS updates the IV in place
    std::memcpy(chain, iv.data(), 16);
    if (mbedtls_aes_crypt_cbc(ctx, mode, in.size(), chain, in.data(), out.data()) != 0) return Errc::backend_failure;
    return ok();
  }
  mbedtls_aes_context enc_, dec_;
};

// ---- AES-CCM ------------------------------------------------------------------------------

class MbedAesCcm final : public AesCcm {
 public:
  MbedAesCcm() { mbedtls_ccm_init(&ctx_); }
  ~MbedAesCcm() override { mbedtls_ccm_free(&ctx_); }
  bool set_key(ByteView key) {
    return mbedtls_ccm_setkey(&ctx_, MBEDTLS_CIPHER_ID_AES, key.data(), static_cast<unsigned>(key.size() * 8)) == 0;
  }
  using AesCcm::open;
  using AesCcm::seal;

  Result<void> seal(ByteView nonce, ByteView aad, ByteView plaintext, std::size_t tag_size,
                    MutableByteView out) override {
    BLECRYPT_TRY_VOID(detail::check_ccm_seal(nonce, plaintext.size(), tag_size, out.size()));
    if (mbedtls_ccm_encrypt_and_tag(&ctx_, plaintext.size(), nonce.data(), nonce.size(), aad.data(), aad.size(),
                                    plaintext.data(), out.data(), out.data() + plaintext.size(), tag_size) != 0)
      return Errc::backend_failure;
    return ok();
  }

  Result<void> open(ByteView nonce, ByteView aad, ByteView sealed, std::size_t tag_size,
                    MutableByteView out) override {
    const auto checked = detail::check_ccm_open(nonce, sealed.size(), tag_size, out.size());
    if (!checked) return checked.error();
    const std::size_t n = *checked;
    int rc = mbedtls_ccm_auth_decrypt(&ctx_, n, nonce.data(), nonce.size(), aad.data(), aad.size(), sealed.data(),
                                      out.data(), sealed.data() + n, tag_size);
    if (rc == MBEDTLS_ERR_CCM_AUTH_FAILED) return Errc::authentication_failed;  // mbedTLS zeroes out
    if (rc != 0) return Errc::backend_failure;
    return ok();
  }

 private:
  mbedtls_ccm_context ctx_;
};

// ---- AES-CMAC -----------------------------------------------------------------------------

class MbedAesCmac final : public AesCmac {
 public:
  MbedAesCmac() { mbedtls_cipher_init(&ctx_); }
  ~MbedAesCmac() override { mbedtls_cipher_free(&ctx_); }
  bool set_key(ByteView key) {
    const auto type = key.size() == 16 ? MBEDTLS_CIPHER_AES_128_ECB
                      : key.size() == 24 ? MBEDTLS_CIPHER_AES_192_ECB
                                         : MBEDTLS_CIPHER_AES_256_ECB;
    return mbedtls_cipher_setup(&ctx_, mbedtls_cipher_info_from_type(type)) == 0 &&
           mbedtls_cipher_cmac_starts(&ctx_, key.data(), key.size() * 8) == 0;
  }
  Block mac(ByteView message) override {
    Block out{};
    mbedtls_cipher_cmac_reset(&ctx_);
    mbedtls_cipher_cmac_update(&ctx_, message.data(), message.size());
    mbedtls_cipher_cmac_finish(&ctx_, out.data());
    return out;
  }

 private:
  mbedtls_cipher_context_t ctx_;
};

// ---- digests ------------------------------------------------------------------------------

class MbedMd5 final : public Md5 {
 public:
  MbedMd5() { mbedtls_md5_init(&ctx_); }
  ~MbedMd5() override { mbedtls_md5_free(&ctx_); }
  Md5Digest digest(ByteView message) override {
    Md5Digest out{};
    mbedtls_md5_starts_ret(&ctx_);
    mbedtls_md5_update_ret(&ctx_, message.data(), message.size());
    mbedtls_md5_finish_ret(&ctx_, out.data());
    return out;
  }

 private:
  mbedtls_md5_context ctx_;
};

class MbedSha256 final : public Sha256 {
 public:
  MbedSha256() { mbedtls_sha256_init(&ctx_); }
  ~MbedSha256() override { mbedtls_sha256_free(&ctx_); }
  Sha256Digest digest(ByteView message) override {
    Sha256Digest out{};
    mbedtls_sha256_starts_ret(&ctx_, 0);
    mbedtls_sha256_update_ret(&ctx_, message.data(), message.size());
    mbedtls_sha256_finish_ret(&ctx_, out.data());
    return out;
  }

 private:
  mbedtls_sha256_context ctx_;
};

// ---- P-256 --------------------------------------------------------------------------------

struct Group {
  mbedtls_ecp_group grp;
  Group() {
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
  }
  ~Group() { mbedtls_ecp_group_free(&grp); }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
};

struct Mpi {
  mbedtls_mpi v;
  Mpi() { mbedtls_mpi_init(&v); }
  ~Mpi() { mbedtls_mpi_free(&v); }  // mbedtls_mpi_free zeroises the limbs
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;
};

struct Point {
  mbedtls_ecp_point p;
  Point() { mbedtls_ecp_point_init(&p); }
  ~Point() { mbedtls_ecp_point_free(&p); }
  Point(const Point&) = delete;
  Point& operator=(const Point&) = delete;
};

// mbedTLS caches the comb table for d*G inside the group on first use; one group per thread keeps
// that table across key generations (each key pair's own group would rebuild it).
Group& generator_group() {
  thread_local Group group;
  return group;
}

Sha256Digest sha256_of(ByteView message) {
  Sha256Digest out{};
  mbedtls_sha256_ret(message.data(), message.size(), out.data(), 0);
  return out;
}

class MbedP256PublicKey final : public P256PublicKey {
 public:
  explicit MbedP256PublicKey(const P256Raw& raw) : raw_(raw) {}
  bool load() {
    unsigned char buf[65];
    buf[0] = 0x04;
    std::memcpy(buf + 1, raw_.data(), 64);
    // read_binary + check_pubkey: coordinates < p, on the curve, not infinity.
    return mbedtls_ecp_point_read_binary(&group_.grp, &q_.p, buf, sizeof buf) == 0 &&
           mbedtls_ecp_check_pubkey(&group_.grp, &q_.p) == 0;
  }
  const Backend& backend() const noexcept override { return backend_ref(); }
  const P256Raw& raw() const noexcept override { return raw_; }
  const mbedtls_ecp_point& point() const { return q_.p; }

  bool verify(ByteView message, const P256Signature& signature) const override {
    const auto hash = sha256_of(message);
    Mpi r, s;
    if (mbedtls_mpi_read_binary(&r.v, signature.data(), 32) != 0 ||
        mbedtls_mpi_read_binary(&s.v, signature.data() + 32, 32) != 0)
      return false;
    // mbedtls_ecdsa_verify takes a non-const group (it may cache tables).
    return mbedtls_ecdsa_verify(&group_.grp, hash.data(), hash.size(), &q_.p, &r.v, &s.v) == 0;
  }

 private:
  P256Raw raw_;
  mutable Group group_;
  Point q_;
};

class MbedP256KeyPair final : public P256KeyPair {
 public:
  bool load(ByteView scalar) {
    unsigned char buf[65];
    size_t len = 0;
    if (mbedtls_mpi_read_binary(&d_.v, scalar.data(), scalar.size()) != 0 ||
        mbedtls_ecp_check_privkey(&group_.grp, &d_.v) != 0 ||
        mbedtls_ecp_mul(&generator_group().grp, &q_.p, &d_.v, &generator_group().grp.G, os_random, nullptr) != 0 ||
        mbedtls_ecp_point_write_binary(&group_.grp, &q_.p, MBEDTLS_ECP_PF_UNCOMPRESSED, &len, buf, sizeof buf) != 0 ||
        len != 65)
      return false;
    std::memcpy(pub_.data(), buf + 1, 64);
    return true;
  }
  const Backend& backend() const noexcept override { return backend_ref(); }
  const P256Raw& public_raw() const noexcept override { return pub_; }
  SecretBytes private_scalar() const override {
    SecretBytes out(32);
    mbedtls_mpi_write_binary(&d_.v, out.data(), out.size());
    return out;
  }

  Result<SecretBytes> ecdh(const P256PublicKey& peer) const override {
    if (&peer.backend() != &backend_ref()) return Errc::wrong_backend;
    const auto& theirs = static_cast<const MbedP256PublicKey&>(peer);
    Mpi z;
    SecretBytes secret(32);
    if (mbedtls_ecdh_compute_shared(&group_.grp, &z.v, &theirs.point(), &d_.v, os_random, nullptr) != 0 ||
        mbedtls_mpi_write_binary(&z.v, secret.data(), secret.size()) != 0)
      return Errc::backend_failure;
    return secret;
  }

  Result<P256Signature> sign(ByteView message) const override {
    const auto hash = sha256_of(message);
    Mpi r, s;
    P256Signature out{};
    if (mbedtls_ecdsa_sign(&group_.grp, &r.v, &s.v, &d_.v, hash.data(), hash.size(), os_random, nullptr) != 0 ||
        mbedtls_mpi_write_binary(&r.v, out.data(), 32) != 0 || mbedtls_mpi_write_binary(&s.v, out.data() + 32, 32) != 0)
      return Errc::backend_failure;
    return out;
  }

 private:
  mutable Group group_;
  Mpi d_;
  Point q_;
  P256Raw pub_{};
};

// ---- backend ------------------------------------------------------------------------------

template <typename T>
Result<std::unique_ptr<T>> keyed(std::unique_ptr<T> obj, bool ok_flag) {
  if (!ok_flag) return Errc::backend_failure;
  return obj;
}

class MbedtlsBackend final : public Backend {
 public:
  std::string_view name() const noexcept override { return "mbedtls"; }
  std::string_view library_version() const noexcept override { return "mbed TLS " MBEDTLS_VERSION_STRING; }

  Result<std::unique_ptr<AesBlock>> aes_block(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    auto obj = std::make_unique<MbedAesBlock>();
    const bool good = obj->set_key(key);
    return keyed<AesBlock>(std::move(obj), good);
  }
  Result<std::unique_ptr<AesCbc>> aes_cbc(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    auto obj = std::make_unique<MbedAesCbc>();
    const bool good = obj->set_key(key);
    return keyed<AesCbc>(std::move(obj), good);
  }
  Result<std::unique_ptr<AesCcm>> aes_ccm(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    auto obj = std::make_unique<MbedAesCcm>();
    const bool good = obj->set_key(key);
    return keyed<AesCcm>(std::move(obj), good);
  }
  Result<std::unique_ptr<AesCmac>> aes_cmac(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    auto obj = std::make_unique<MbedAesCmac>();
    const bool good = obj->set_key(key);
    return keyed<AesCmac>(std::move(obj), good);
  }
  std::unique_ptr<Md5> md5() const override { return std::make_unique<MbedMd5>(); }
  std::unique_ptr<Sha256> sha256() const override { return std::make_unique<MbedSha256>(); }

  Result<std::unique_ptr<P256KeyPair>> p256_generate(Rng& rng) const override {
    return p256_from_private(detail::draw_p256_scalar(rng));
  }
  Result<std::unique_ptr<P256KeyPair>> p256_from_private(ByteView scalar) const override {
    BLECRYPT_TRY_VOID(detail::check_p256_scalar(scalar));
    auto obj = std::make_unique<MbedP256KeyPair>();
    if (!obj->load(scalar)) return Errc::backend_failure;
    return std::unique_ptr<P256KeyPair>(std::move(obj));
  }
  Result<std::unique_ptr<P256PublicKey>> p256_public_key(ByteView raw) const override {
    BLECRYPT_TRY_VOID(detail::check_p256_public_range(raw));
    P256Raw copy{};
    std::memcpy(copy.data(), raw.data(), 64);
    auto obj = std::make_unique<MbedP256PublicKey>(copy);
    if (!obj->load()) return Errc::invalid_public_key;
    return std::unique_ptr<P256PublicKey>(std::move(obj));
  }
};

const Backend& backend_ref() { return mbedtls_backend(); }

}  // namespace

const Backend& mbedtls_backend() {
  static const MbedtlsBackend instance;
  return instance;
}

}  // namespace blecrypt::crypto

// The link anchor of this backend library: the core's registry refers to it weakly, and linking
// blecrypt::crypto_mbedtls forces it in with -Wl,--undefined=blecrypt_crypto_backend_mbedtls.
extern "C" const blecrypt::crypto::Backend* blecrypt_crypto_backend_mbedtls();
extern "C" const blecrypt::crypto::Backend* blecrypt_crypto_backend_mbedtls() {
  return &blecrypt::crypto::mbedtls_backend();
}
