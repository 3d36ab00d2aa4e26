// SMP toolbox on top of the crypto seam (AES block and AES-CMAC only).
#include "blecrypt/smp/toolbox.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace blecrypt::smp {

namespace {

constexpr std::uint8_t kF5Salt[16] = {0x6c, 0x88, 0x83, 0x91, 0xaa, 0xf5, 0xa5, 0x38,
                                      0x60, 0x37, 0x0b, 0xdb, 0x5a, 0x60, 0x83, 0xbe};
constexpr std::uint8_t kBtle[4] = {0x62, 0x74, 0x6c, 0x65};

Key128 to_block(ByteView b) {
  Key128 out{};
  std::copy_n(b.begin(), 16, out.begin());
  return out;
}

}  // namespace

Bytes reversed(ByteView in) { return Bytes(in.rbegin(), in.rend()); }

const std::array<std::uint8_t, 32> kDebugPrivateKey = {
    0x3f, 0x49, 0xf6, 0xd4, 0xa3, 0xc5, 0x5f, 0x38, 0x74, 0xc9, 0xb3, 0xe3, 0xd2, 0x10, 0x3f, 0x50,
    0x4a, 0xff, 0x60, 0x7b, 0xeb, 0x40, 0xb7, 0x99, 0x58, 0x99, 0xb8, 0xa6, 0xcd, 0x3c, 0x1a, 0xbd};
const std::array<std::uint8_t, 64> kDebugPublicKey = {
    0x20, 0xb0, 0x03, 0xd2, 0xf2, 0x97, 0xbe, 0x2c, 0x5e, 0x2c, 0x83, 0xa7, 0xe9, 0xf9, 0xa5, 0xb9,
    0xef, 0xf4, 0x91, 0x11, 0xac, 0xf4, 0xfd, 0xdb, 0xcc, 0x03, 0x01, 0x48, 0x0e, 0x35, 0x9d, 0xe6,
    0xdc, 0x80, 0x9c, 0x49, 0x65, 0x2a, 0xeb, 0x6d, 0x63, 0x32, 0x9a, 0xbf, 0x5a, 0x52, 0x15, 0x5c,
    0x76, 0x63, 0x45, 0xc2, 0x8f, 0xed, 0x30, 0x24, 0x74, 0x1c, 0x8e, 0xd0, 0x15, 0x89, 0xd2, 0x8b};

Result<Key128> Toolbox::e(ByteView key, ByteView plaintext) const {
  if (key.size() != 16 || plaintext.size() != 16) return Errc::bad_argument;
  auto aes = backend_->aes_block(key);
  if (!aes) return Errc::crypto_failure;
  return (*aes)->encrypt(to_block(plaintext));
}

Result<Key128> Toolbox::cmac(ByteView key, ByteView message) const {
  if (key.size() != 16) return Errc::bad_argument;
  auto mac = backend_->aes_cmac(key);
  if (!mac) return Errc::crypto_failure;
  return (*mac)->mac(message);
}

Result<std::array<Key128, 2>> Toolbox::cmac_subkeys(ByteView key) const {
  Key128 zero{};
  auto l = e(key, zero);
  if (!l) return Unexpected{l.error()};
  auto dbl = [](const Key128& in) {
    Key128 out{};
    for (int i = 0; i < 16; ++i) {
      out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(in[static_cast<std::size_t>(i)] << 1);
      if (i < 15) out[static_cast<std::size_t>(i)] |= static_cast<std::uint8_t>(in[static_cast<std::size_t>(i) + 1] >> 7);
    }
    if (in[0] & 0x80) out[15] ^= 0x87;
    return out;
  };
  Key128 k1 = dbl(*l);
  return std::array<Key128, 2>{k1, dbl(k1)};
}

Result<std::array<std::uint8_t, 3>> Toolbox::ah(ByteView irk, ByteView prand) const {
  if (prand.size() != 3) return Errc::bad_argument;
  Key128 r{};
  std::copy(prand.begin(), prand.end(), r.begin() + 13);
  auto h = e(irk, r);
  if (!h) return Unexpected{h.error()};
  return std::array<std::uint8_t, 3>{(*h)[13], (*h)[14], (*h)[15]};
}

Result<Key128> Toolbox::c1(ByteView k, ByteView r, ByteView preq, ByteView pres, std::uint8_t iat, std::uint8_t rat,
                          ByteView ia, ByteView ra) const {
  if (r.size() != 16 || preq.size() != 7 || pres.size() != 7 || ia.size() != 6 || ra.size() != 6)
    return Errc::bad_argument;
  // p1 = pres || preq || rat' || iat'; p2 = padding || ia || ra (all MSB first).
  Key128 p1{}, p2{};
  std::copy(pres.begin(), pres.end(), p1.begin());
  std::copy(preq.begin(), preq.end(), p1.begin() + 7);
  p1[14] = rat & 1;
  p1[15] = iat & 1;
  std::copy(ia.begin(), ia.end(), p2.begin() + 4);
  std::copy(ra.begin(), ra.end(), p2.begin() + 10);
  Key128 t{};
  for (std::size_t i = 0; i < 16; ++i) t[i] = r[i] ^ p1[i];
  auto t1 = e(k, t);
  if (!t1) return Unexpected{t1.error()};
  for (std::size_t i = 0; i < 16; ++i) t[i] = (*t1)[i] ^ p2[i];
  auto out = e(k, t);
  secure_wipe(t.data(), t.size());
  return out;
}

Result<Key128> Toolbox::s1(ByteView k, ByteView r1, ByteView r2) const {
  if (r1.size() != 16 || r2.size() != 16) return Errc::bad_argument;
  Key128 rp{};
  std::copy(r1.begin() + 8, r1.end(), rp.begin());
  std::copy(r2.begin() + 8, r2.end(), rp.begin() + 8);
  auto out = e(k, rp);
  secure_wipe(rp.data(), rp.size());
  return out;
}

Result<Key128> Toolbox::f4(ByteView u, ByteView v, ByteView x, std::uint8_t z) const {
  if (u.size() != 32 || v.size() != 32 || x.size() != 16) return Errc::bad_argument;
  std::uint8_t m[65];
  std::copy(u.begin(), u.end(), m);
  std::copy(v.begin(), v.end(), m + 32);
  m[64] = z;
  return cmac(x, ByteView(m, sizeof m));
}

Result<Key128> Toolbox::f5_t(ByteView w) const {
  if (w.size() != 32) return Errc::bad_argument;
  return cmac(ByteView(kF5Salt, 16), w);
}

Result<F5Keys> Toolbox::f5(ByteView w, ByteView n1, ByteView n2, ByteView a1, ByteView a2) const {
  if (n1.size() != 16 || n2.size() != 16 || a1.size() != 7 || a2.size() != 7) return Errc::bad_argument;
  auto t = f5_t(w);
  if (!t) return Unexpected{t.error()};
  std::uint8_t m[53];
  m[0] = 0;
  std::copy(kBtle, kBtle + 4, m + 1);
  std::copy(n1.begin(), n1.end(), m + 5);
  std::copy(n2.begin(), n2.end(), m + 21);
  std::copy(a1.begin(), a1.end(), m + 37);
  std::copy(a2.begin(), a2.end(), m + 44);
  m[51] = 0x01;
  m[52] = 0x00;
  auto mac = backend_->aes_cmac(*t);
  secure_wipe(t->data(), t->size());
  if (!mac) return Errc::crypto_failure;
  Key128 mk = (*mac)->mac(ByteView(m, sizeof m));
  m[0] = 1;
  Key128 ltk = (*mac)->mac(ByteView(m, sizeof m));
  F5Keys out{SecretBytes(mk), SecretBytes(ltk)};
  secure_wipe(mk.data(), 16);
  secure_wipe(ltk.data(), 16);
  return out;
}

Result<Key128> Toolbox::f6(ByteView w, ByteView n1, ByteView n2, ByteView r, ByteView iocap, ByteView a1,
                          ByteView a2) const {
  if (n1.size() != 16 || n2.size() != 16 || r.size() != 16 || iocap.size() != 3 || a1.size() != 7 || a2.size() != 7)
    return Errc::bad_argument;
  Bytes m = concat({n1, n2, r, iocap, a1, a2});
  return cmac(w, m);
}

Result<std::uint32_t> Toolbox::g2(ByteView u, ByteView v, ByteView x, ByteView y) const {
  if (u.size() != 32 || v.size() != 32 || y.size() != 16) return Errc::bad_argument;
  Bytes m = concat({u, v, y});
  auto mac = cmac(x, m);
  if (!mac) return Unexpected{mac.error()};
  return (static_cast<std::uint32_t>((*mac)[12]) << 24) | (static_cast<std::uint32_t>((*mac)[13]) << 16) |
         (static_cast<std::uint32_t>((*mac)[14]) << 8) | (*mac)[15];
}

Result<Key128> Toolbox::h6(ByteView w, ByteView key_id) const {
  if (key_id.size() != 4) return Errc::bad_argument;
  return cmac(w, key_id);
}

Result<Key128> Toolbox::h7(ByteView salt, ByteView w) const { return cmac(salt, w); }

namespace {
Result<Key128> convert(const Toolbox& tb, ByteView key, bool ct2, const char* tmp, const char* final_id) {
  Result<Key128> ilk = Errc::bad_argument;
  if (ct2) {
    Key128 salt{};
    std::memcpy(salt.data() + 12, tmp, 4);
    ilk = tb.h7(salt, key);
  } else {
    ilk = tb.h6(key, as_bytes(std::string_view(tmp, 4)));
  }
  if (!ilk) return Unexpected{ilk.error()};
  auto out = tb.h6(*ilk, as_bytes(std::string_view(final_id, 4)));
  secure_wipe(ilk->data(), ilk->size());
  return out;
}
}  // namespace

Result<Key128> Toolbox::ltk_to_link_key(ByteView ltk, bool ct2) const { return convert(*this, ltk, ct2, "tmp1", "lebr"); }
Result<Key128> Toolbox::link_key_to_ltk(ByteView link_key, bool ct2) const {
  return convert(*this, link_key, ct2, "tmp2", "brle");
}

}  // namespace blecrypt::smp
