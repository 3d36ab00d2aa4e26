#include "blecrypt/sesame/cipher.hpp"

#include <algorithm>
#include <limits>

namespace blecrypt::sesame {

namespace {
constexpr std::uint8_t kAad[1] = {0x00};
}

Result<SecretBytes> derive_device_secret(const crypto::P256KeyPair& own, const crypto::P256PublicKey& peer) {
  auto z = own.ecdh(peer);
  if (!z) return Unexpected{wrap_foreign(z.error())};
  if (z->size() < kSecretSize) return Errc::crypto_failure;
  return SecretBytes(z->view().first(kSecretSize));
}

Result<void> derive_session_key(const crypto::Backend& backend, ByteView device_secret, const RandomCode& code,
                                SessionKey& out) {
  if (device_secret.size() != kSecretSize) return Errc::invalid_argument;
  auto cmac = backend.aes_cmac(device_secret);
  if (!cmac) return Unexpected{wrap_foreign(cmac.error())};
  out.bytes = (*cmac)->mac(code);
  return ok();
}

Result<SecretBytes> derive_session_key(const crypto::Backend& backend, ByteView device_secret, const RandomCode& code) {
  SessionKey key;
  BLECRYPT_TRY_VOID(derive_session_key(backend, device_secret, code, key));
  return SecretBytes(key.view());
}

LoginToken login_token(ByteView session_key) {
  LoginToken t{};
  std::copy_n(session_key.begin(), std::min<std::size_t>(4, session_key.size()), t.begin());
  return t;
}

Result<std::string> address_from_uuid(const crypto::Backend& backend, ByteView uuid) {
  if (uuid.size() != 16) return Errc::invalid_argument;
  auto cmac = backend.aes_cmac(uuid);
  if (!cmac) return Unexpected{wrap_foreign(cmac.error())};
  static constexpr std::uint8_t kCandy[] = {'c', 'a', 'n', 'd', 'y'};
  crypto::Block m = (*cmac)->mac(kCandy);
  m[5] |= 0xC0;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (int i = 5; i >= 0; --i) {
    out += kHex[m[static_cast<std::size_t>(i)] >> 4];
    out += kHex[m[static_cast<std::size_t>(i)] & 0x0F];
    if (i > 0) out += ':';
  }
  return out;
}

Nonce make_nonce(std::uint64_t counter, const RandomCode& code) {
  Nonce n{};
  for (int i = 0; i < 8; ++i) n[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter >> (8 * i));
  n[8] = 0x00;
  std::copy(code.begin(), code.end(), n.begin() + 9);
  return n;
}

Result<SessionCipher> SessionCipher::create(const crypto::Backend& backend, ByteView session_key,
                                            const RandomCode& code, bool advance_rx_on_failure) {
  if (session_key.size() != 16) return Errc::invalid_argument;
  auto ccm = backend.aes_ccm(session_key);
  if (!ccm) return Unexpected{wrap_foreign(ccm.error())};
  return SessionCipher(std::move(*ccm), code, advance_rx_on_failure);
}

Result<void> SessionCipher::seal(ByteView plaintext, MutableByteView out) {
  if (tx_ == std::numeric_limits<std::uint64_t>::max()) return Errc::counter_exhausted;
  if (plaintext.empty()) return Errc::message_empty;
  if (out.size() != plaintext.size() + kTagSize) return Errc::invalid_argument;
  const Nonce nonce = make_nonce(tx_, code_);
  if (auto r = ccm_->seal(nonce, kAad, plaintext, kTagSize, out); !r) return Unexpected{wrap_foreign(r.error())};
  ++tx_;
  return ok();
}

Result<Bytes> SessionCipher::seal(ByteView plaintext) {
  Bytes out(plaintext.size() + kTagSize);
  BLECRYPT_TRY_VOID(seal(plaintext, out));
  return out;
}

Result<void> SessionCipher::open(ByteView sealed, MutableByteView out) {
  if (sealed.size() < kTagSize + 1) return Errc::ciphertext_short;
  if (out.size() != sealed.size() - kTagSize) return Errc::invalid_argument;
  const Nonce nonce = make_nonce(rx_, code_);
  auto r = ccm_->open(nonce, kAad, sealed, kTagSize, out);
  if (!r) {
    ++failures_;
    if (advance_) ++rx_;
    return Unexpected{wrap_foreign(r.error())};
  }
  ++rx_;
  return ok();
}

Result<Bytes> SessionCipher::open(ByteView sealed) {
  if (sealed.size() < kTagSize + 1) return Errc::ciphertext_short;
  Bytes out(sealed.size() - kTagSize);
  BLECRYPT_TRY_VOID(open(sealed, out));
  return out;
}

}  // namespace blecrypt::sesame
