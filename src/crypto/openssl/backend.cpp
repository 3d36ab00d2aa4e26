// OpenSSL 3 backend of the crypto seam. Algorithms are fetched once per process; every object
// owns contexts keyed once and re-initialised with only the IV/nonce per message.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/opensslv.h>
#include <openssl/param_build.h>

#include <cstring>
#include <memory>

#include "../checks.hpp"
#include "blecrypt/crypto.hpp"

namespace blecrypt::crypto {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { F(p); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, Deleter<EVP_MAC_CTX, EVP_MAC_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using EcPoint = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

// Algorithms fetched once (the implicit fetch in EVP_aes_128_ccm() etc. costs ~0.5 us per call).
struct Algorithms {
  EVP_CIPHER* ecb[3];
  EVP_CIPHER* cbc[3];
  EVP_CIPHER* ccm[3];
  EVP_MAC* cmac;
  EVP_MD* md5;
  EVP_MD* sha256;
  EC_GROUP* p256;

  Algorithms() {
    const char* bits[3] = {"128", "192", "256"};
    for (int i = 0; i < 3; ++i) {
      ecb[i] = EVP_CIPHER_fetch(nullptr, (std::string("AES-") + bits[i] + "-ECB").c_str(), nullptr);
      cbc[i] = EVP_CIPHER_fetch(nullptr, (std::string("AES-") + bits[i] + "-CBC").c_str(), nullptr);
      ccm[i] = EVP_CIPHER_fetch(nullptr, (std::string("AES-") + bits[i] + "-CCM").c_str(), nullptr);
    }
    cmac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
    md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
    sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  }
  static const Algorithms& get() {
    static const Algorithms instance;
    return instance;
  }
  static int index(std::size_t key_size) { return key_size == 16 ? 0 : key_size == 24 ? 1 : 2; }
};

const char* cbc_name(std::size_t key_size) {
  return key_size == 16 ? "AES-128-CBC" : key_size == 24 ? "AES-192-CBC" : "AES-256-CBC";
}

// A cipher context keyed once for one direction; padding off.
Result<CipherCtx> keyed_cipher(const EVP_CIPHER* cipher, ByteView key, int enc) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || cipher == nullptr ||
      EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, enc, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1)
    return Errc::backend_failure;
  return ctx;
}

const Backend& backend_ref();

// ---- AES block ----------------------------------------------------------------------------

class OsslAesBlock final : public AesBlock {
 public:
  OsslAesBlock(CipherCtx enc, CipherCtx dec) : enc_(std::move(enc)), dec_(std::move(dec)) {}
  Block encrypt(const Block& in) override { return run(enc_.get(), in); }
  Block decrypt(const Block& in) override { return run(dec_.get(), in); }

 private:
  static Block run(EVP_CIPHER_CTX* ctx, const Block& in) {
    Block out{};
    int len = 0;
    EVP_CipherUpdate(ctx, out.data(), &len, in.data(), 16);
    return out;
  }
  CipherCtx enc_, dec_;
};

// ---- AES-CBC ------------------------------------------------------------------------------

class OsslAesCbc final : public AesCbc {
 public:
  OsslAesCbc(CipherCtx enc, CipherCtx dec) : enc_(std::move(enc)), dec_(std::move(dec)) {}
  using AesCbc::decrypt;
  using AesCbc::encrypt;
  Result<void> encrypt(ByteView iv, ByteView in, MutableByteView out) override { return run(enc_.get(), iv, in, out); }
  Result<void> decrypt(ByteView iv, ByteView in, MutableByteView out) override { return run(dec_.get(), iv, in, out); }

 private:
  static Result<void> run(EVP_CIPHER_CTX* ctx, ByteView iv, ByteView in, MutableByteView out) {
    BLECRYPT_TRY_VOID(detail::check_cbc(iv, in.size(), out.size()));
    if (in.empty()) return ok();
    int len = 0;
    if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv.data(), -1) != 1 ||
        EVP_CipherUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(in.size())) != 1)
      return Errc::backend_failure;
    return ok();
  }
  CipherCtx enc_, dec_;
};

// ---- AES-CCM ------------------------------------------------------------------------------

// OpenSSL fixes nonce and tag length before the key, so a context is re-keyed only when a call
// uses different lengths from the previous one (protocols use one shape per session).
class OsslCcmDirection {
 public:
  OsslCcmDirection(const EVP_CIPHER* cipher, ByteView key, int enc)
      : cipher_(cipher), key_(key), enc_(enc), ctx_(EVP_CIPHER_CTX_new()) {}

  Result<EVP_CIPHER_CTX*> prepare(std::size_t nonce_size, std::size_t tag_size, const std::uint8_t* tag) {
    if (!ctx_) return Errc::backend_failure;
    if (nonce_size != nonce_size_ || tag_size != tag_size_) {
      if (EVP_CipherInit_ex(ctx_.get(), cipher_, nullptr, nullptr, nullptr, enc_) != 1 ||
          EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(nonce_size), nullptr) != 1 ||
          EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag_size), nullptr) != 1 ||
          EVP_CipherInit_ex(ctx_.get(), nullptr, nullptr, key_.data(), nullptr, enc_) != 1)
        return Errc::backend_failure;
      nonce_size_ = nonce_size;
      tag_size_ = tag_size;
    }
    if (tag != nullptr &&
        EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag_size),
                            const_cast<std::uint8_t*>(tag)) != 1)
      return Errc::backend_failure;
    return ctx_.get();
  }

 private:
  const EVP_CIPHER* cipher_;
  SecretBytes key_;
  int enc_;
  CipherCtx ctx_;
  std::size_t nonce_size_ = 0, tag_size_ = 0;
};

class OsslAesCcm final : public AesCcm {
 public:
  OsslAesCcm(const EVP_CIPHER* cipher, ByteView key) : seal_(cipher, key, 1), open_(cipher, key, 0) {}
  using AesCcm::open;
  using AesCcm::seal;

  Result<void> seal(ByteView nonce, ByteView aad, ByteView plaintext, std::size_t tag_size,
                    MutableByteView out) override {
    BLECRYPT_TRY_VOID(detail::check_ccm_seal(nonce, plaintext.size(), tag_size, out.size()));
    auto ctx = seal_.prepare(nonce.size(), tag_size, nullptr);
    if (!ctx) return ctx.error();
    int len = 0;
    // OpenSSL 3.0.19 treats a null input as "finish" and fails: an empty message needs a pointer.
    static const std::uint8_t kEmpty = 0;
    const std::uint8_t* in = plaintext.empty() ? &kEmpty : plaintext.data();
    if (EVP_EncryptInit_ex(*ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
        EVP_EncryptUpdate(*ctx, nullptr, &len, nullptr, static_cast<int>(plaintext.size())) != 1 ||
        (!aad.empty() && EVP_EncryptUpdate(*ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
        EVP_EncryptUpdate(*ctx, out.data(), &len, in, static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(*ctx, out.data() + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(*ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(tag_size), out.data() + plaintext.size()) != 1)
      return Errc::backend_failure;
    return ok();
  }

  Result<void> open(ByteView nonce, ByteView aad, ByteView sealed, std::size_t tag_size,
                    MutableByteView out) override {
    const auto checked = detail::check_ccm_open(nonce, sealed.size(), tag_size, out.size());
    if (!checked) return checked.error();
    const std::size_t n = *checked;
    auto ctx = open_.prepare(nonce.size(), tag_size, sealed.data() + n);
    if (!ctx) return ctx.error();
    int len = 0;
    if (EVP_DecryptInit_ex(*ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
        EVP_DecryptUpdate(*ctx, nullptr, &len, nullptr, static_cast<int>(n)) != 1 ||
        (!aad.empty() && EVP_DecryptUpdate(*ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1))
      return Errc::backend_failure;
    // OpenSSL needs a non-null output pointer even for an empty message.
    std::uint8_t dummy = 0;
    if (EVP_DecryptUpdate(*ctx, n ? out.data() : &dummy, &len, sealed.data(), static_cast<int>(n)) <= 0) {
      secure_wipe(out.data(), n);
      return Errc::authentication_failed;
    }
    return ok();
  }

 private:
  OsslCcmDirection seal_, open_;
};

// ---- AES-CMAC -----------------------------------------------------------------------------

class OsslAesCmac final : public AesCmac {
 public:
  explicit OsslAesCmac(MacCtx ctx) : ctx_(std::move(ctx)) {}
  Block mac(ByteView message) override {
    Block out{};
    std::size_t len = 0;
    // Restart with the key already set: no key schedule per call.
    EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr);
    EVP_MAC_update(ctx_.get(), message.data(), message.size());
    EVP_MAC_final(ctx_.get(), out.data(), &len, out.size());
    return out;
  }

 private:
  MacCtx ctx_;
};

// ---- digests ------------------------------------------------------------------------------

template <typename Base, typename Digest>
class OsslDigest final : public Base {
 public:
  explicit OsslDigest(const EVP_MD* md) : md_(md), ctx_(EVP_MD_CTX_new()) {}
  Digest digest(ByteView message) override {
    Digest out{};
    unsigned int len = 0;
    EVP_DigestInit_ex2(ctx_.get(), md_, nullptr);
    EVP_DigestUpdate(ctx_.get(), message.data(), message.size());
    EVP_DigestFinal_ex(ctx_.get(), out.data(), &len);
    return out;
  }

 private:
  const EVP_MD* md_;
  MdCtx ctx_;
};

// ---- P-256 --------------------------------------------------------------------------------
//
// ECDH works on the decoded point and the scalar directly (EC_POINT_mul, the same call
// OpenSSL's own ECDH makes); an EVP_PKEY, whose construction costs more than a point decode, is
// built only when a key signs or verifies, and then kept.

using BnCtx = std::unique_ptr<BN_CTX, Deleter<BN_CTX, BN_CTX_free>>;

// EVP_PKEY for a P-256 key from an uncompressed point (and optionally the private scalar).
Result<Pkey> make_pkey(const std::uint8_t point65[65], const BIGNUM* priv) {
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point65, 65) != 1 ||
      (priv != nullptr && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1))
    return Errc::backend_failure;
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Errc::backend_failure;
  return Pkey(raw);
}

void to_uncompressed(const P256Raw& raw, std::uint8_t out[65]) {
  out[0] = 0x04;
  std::memcpy(out + 1, raw.data(), 64);
}

class OsslP256PublicKey final : public P256PublicKey {
 public:
  OsslP256PublicKey(EcPoint point, const P256Raw& raw) : point_(std::move(point)), raw_(raw) {}
  const Backend& backend() const noexcept override { return backend_ref(); }
  const P256Raw& raw() const noexcept override { return raw_; }
  const EC_POINT* point() const { return point_.get(); }

  bool verify(ByteView message, const P256Signature& signature) const override {
    if (!pkey_) {
      std::uint8_t point[65];
      to_uncompressed(raw_, point);
      auto made = make_pkey(point, nullptr);
      if (!made) return false;
      pkey_ = std::move(*made);
    }
    EcdsaSig sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
    BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
    if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    std::uint8_t der[80];
    std::uint8_t* p = der;
    int der_len = i2d_ECDSA_SIG(sig.get(), &p);
    if (der_len <= 0) return false;
    MdCtx ctx(EVP_MD_CTX_new());
    return ctx &&
           EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA2-256", nullptr, nullptr, pkey_.get(), nullptr) == 1 &&
           EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len), message.data(), message.size()) == 1;
  }

 private:
  EcPoint point_;
  P256Raw raw_;
  mutable Pkey pkey_;  // built on the first verify
};

class OsslP256KeyPair final : public P256KeyPair {
 public:
  OsslP256KeyPair(Bignum d, const P256Raw& pub) : d_(std::move(d)), pub_(pub) {}
  const Backend& backend() const noexcept override { return backend_ref(); }
  const P256Raw& public_raw() const noexcept override { return pub_; }
  SecretBytes private_scalar() const override {
    SecretBytes out(32);
    BN_bn2binpad(d_.get(), out.data(), 32);
    return out;
  }

  Result<SecretBytes> ecdh(const P256PublicKey& peer) const override {
    if (&peer.backend() != &backend_ref()) return Errc::wrong_backend;
    const auto& theirs = static_cast<const OsslP256PublicKey&>(peer);
    const EC_GROUP* group = Algorithms::get().p256;
    EcPoint shared(EC_POINT_new(group));
    Bignum x(BN_secure_new());
    SecretBytes secret(32);
    // d * Q with the constant-time scalar flag set on d; the peer was validated on import and
    // P-256 has cofactor 1, so the result is never the point at infinity.
    if (!shared || !x || EC_POINT_mul(group, shared.get(), nullptr, theirs.point(), d_.get(), bn_ctx()) != 1 ||
        EC_POINT_get_affine_coordinates(group, shared.get(), x.get(), nullptr, bn_ctx()) != 1 ||
        BN_bn2binpad(x.get(), secret.data(), 32) != 32)
      return Errc::backend_failure;
    return secret;
  }

  Result<P256Signature> sign(ByteView message) const override {
    if (!pkey_) {
      std::uint8_t point[65];
      to_uncompressed(pub_, point);
      auto made = make_pkey(point, d_.get());
      if (!made) return Unexpected{made.error()};
      pkey_ = std::move(*made);
    }
    MdCtx ctx(EVP_MD_CTX_new());
    std::uint8_t der[80];
    std::size_t der_len = sizeof der;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA2-256", nullptr, nullptr, pkey_.get(), nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), der, &der_len, message.data(), message.size()) != 1)
      return Errc::backend_failure;
    const std::uint8_t* p = der;
    EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
    if (!sig) return Errc::backend_failure;
    P256Signature out{};
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + 32, 32) != 32)
      return Errc::backend_failure;
    return out;
  }

 private:
  BN_CTX* bn_ctx() const {
    if (!ctx_) ctx_.reset(BN_CTX_secure_new());
    return ctx_.get();
  }
  Bignum d_;  // secure heap, BN_FLG_CONSTTIME, cleared on free
  P256Raw pub_;
  mutable Pkey pkey_;  // built on the first sign
  mutable BnCtx ctx_;
};

// ---- backend ------------------------------------------------------------------------------

class OpensslBackend final : public Backend {
 public:
  std::string_view name() const noexcept override { return "openssl"; }
  std::string_view library_version() const noexcept override { return OpenSSL_version(OPENSSL_VERSION); }

  Result<std::unique_ptr<AesBlock>> aes_block(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    const auto* cipher = Algorithms::get().ecb[Algorithms::index(key.size())];
    auto enc = keyed_cipher(cipher, key, 1);
    auto dec = keyed_cipher(cipher, key, 0);
    if (!enc || !dec) return Errc::backend_failure;
    return std::unique_ptr<AesBlock>(new OsslAesBlock(std::move(*enc), std::move(*dec)));
  }

  Result<std::unique_ptr<AesCbc>> aes_cbc(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    const auto* cipher = Algorithms::get().cbc[Algorithms::index(key.size())];
    auto enc = keyed_cipher(cipher, key, 1);
    auto dec = keyed_cipher(cipher, key, 0);
    if (!enc || !dec) return Errc::backend_failure;
    return std::unique_ptr<AesCbc>(new OsslAesCbc(std::move(*enc), std::move(*dec)));
  }

  Result<std::unique_ptr<AesCcm>> aes_ccm(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    const auto* cipher = Algorithms::get().ccm[Algorithms::index(key.size())];
    if (cipher == nullptr) return Errc::backend_failure;
    return std::unique_ptr<AesCcm>(new OsslAesCcm(cipher, key));
  }

  Result<std::unique_ptr<AesCmac>> aes_cmac(ByteView key) const override {
    BLECRYPT_TRY_VOID(detail::check_aes_key(key));
    MacCtx ctx(EVP_MAC_CTX_new(Algorithms::get().cmac));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, const_cast<char*>(cbc_name(key.size())), 0),
        OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) return Errc::backend_failure;
    return std::unique_ptr<AesCmac>(new OsslAesCmac(std::move(ctx)));
  }

  std::unique_ptr<Md5> md5() const override {
    return std::make_unique<OsslDigest<Md5, Md5Digest>>(Algorithms::get().md5);
  }
  std::unique_ptr<Sha256> sha256() const override {
    return std::make_unique<OsslDigest<Sha256, Sha256Digest>>(Algorithms::get().sha256);
  }

  Result<std::unique_ptr<P256KeyPair>> p256_generate(Rng& rng) const override {
    return p256_from_private(detail::draw_p256_scalar(rng));
  }

  Result<std::unique_ptr<P256KeyPair>> p256_from_private(ByteView scalar) const override {
    BLECRYPT_TRY_VOID(detail::check_p256_scalar(scalar));
    const EC_GROUP* group = Algorithms::get().p256;
    Bignum d(BN_secure_new());
    EcPoint q(EC_POINT_new(group));
    if (!d || !q || BN_bin2bn(scalar.data(), 32, d.get()) == nullptr) return Errc::backend_failure;
    BN_set_flags(d.get(), BN_FLG_CONSTTIME);
    std::uint8_t point[65];
    if (EC_POINT_mul(group, q.get(), d.get(), nullptr, nullptr, nullptr) != 1 ||
        EC_POINT_point2oct(group, q.get(), POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, nullptr) != 65)
      return Errc::backend_failure;
    P256Raw pub{};
    std::memcpy(pub.data(), point + 1, 64);
    return std::unique_ptr<P256KeyPair>(new OsslP256KeyPair(std::move(d), pub));
  }

  Result<std::unique_ptr<P256PublicKey>> p256_public_key(ByteView raw) const override {
    BLECRYPT_TRY_VOID(detail::check_p256_public_range(raw));
    P256Raw copy{};
    std::memcpy(copy.data(), raw.data(), 64);
    std::uint8_t encoded[65];
    to_uncompressed(copy, encoded);
    // oct2point rejects points off the curve (EC_POINT_set_affine_coordinates checks); the
    // 65-byte uncompressed form cannot encode the point at infinity.
    const EC_GROUP* group = Algorithms::get().p256;
    EcPoint point(EC_POINT_new(group));
    if (!point) return Errc::backend_failure;
    if (EC_POINT_oct2point(group, point.get(), encoded, sizeof encoded, nullptr) != 1 ||
        EC_POINT_is_at_infinity(group, point.get()) || EC_POINT_is_on_curve(group, point.get(), nullptr) != 1)
      return Errc::invalid_public_key;
    return std::unique_ptr<P256PublicKey>(new OsslP256PublicKey(std::move(point), copy));
  }
};

const Backend& backend_ref() { return openssl_backend(); }

}  // namespace

const Backend& openssl_backend() {
  static const OpensslBackend instance;
  return instance;
}

}  // namespace blecrypt::crypto

// The link anchor of this backend library: the core's registry refers to it weakly, and linking
// blecrypt::crypto_openssl forces it in with -Wl,--undefined=blecrypt_crypto_backend_openssl.
extern "C" const blecrypt::crypto::Backend* blecrypt_crypto_backend_openssl();
extern "C" const blecrypt::crypto::Backend* blecrypt_crypto_backend_openssl() {
  return &blecrypt::crypto::openssl_backend();
}
