// SMP cryptographic toolbox (Core Vol 3 Part H 2.2): e, ah, c1, s1, f4, f5, f6, g2, h6, h7 and the
// LTK <-> BR/EDR link key conversions (CTKD).
//
// Every argument and result is in the Core Specification's printed order (most significant octet
// first), exactly like the spec's sample data. SMP PDUs carry values least significant octet
// first; the pairing engine reverses them at the PDU boundary (`reversed()`).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <system_error>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/smp/errors.hpp"
#include "blecrypt/smp/types.hpp"

namespace blecrypt::smp {

// Transitional: the Python binding (python/src/smp.cpp) still says Block. SMP code says Key128
// (types.hpp); remove this alias when the binding has moved.
using Block = Key128;

// Bytes in reverse order (spec order <-> wire order).
Bytes reversed(ByteView in);
template <std::size_t N>
std::array<std::uint8_t, N> reversed_array(ByteView in) {
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N && i < in.size(); ++i) out[i] = in[in.size() - 1 - i];
  return out;
}

// The sample (debug) P-256 key pair of Vol 3 Part H 2.3.5.6.1, spec order.
extern const std::array<std::uint8_t, 32> kDebugPrivateKey;
extern const std::array<std::uint8_t, 64> kDebugPublicKey;  // X || Y

struct F5Keys {
  SecretBytes mac_key;  // 16 bytes, spec order
  SecretBytes ltk;      // 16 bytes, spec order
};

class Toolbox {
 public:
  explicit Toolbox(const crypto::Backend& backend = crypto::default_backend()) : backend_(&backend) {}
  const crypto::Backend& backend() const noexcept { return *backend_; }

  // Security function e: AES-128 of one block.
  Result<Key128> e(ByteView key, ByteView plaintext) const;
  // AES-CMAC (RFC 4493) and its subkeys K1, K2.
  Result<Key128> cmac(ByteView key, ByteView message) const;
  Result<std::array<Key128, 2>> cmac_subkeys(ByteView key) const;
  // Random address hash: 24-bit hash of prand (3 bytes) under the IRK.
  Result<std::array<std::uint8_t, 3>> ah(ByteView irk, ByteView prand) const;
  // Legacy confirm value. preq/pres: 7-octet PDUs in spec order (opcode is the last octet).
  Result<Key128> c1(ByteView k, ByteView r, ByteView preq, ByteView pres, std::uint8_t iat, std::uint8_t rat,
                   ByteView ia, ByteView ra) const;
  // Legacy STK: r1 = Srand, r2 = Mrand.
  Result<Key128> s1(ByteView k, ByteView r1, ByteView r2) const;
  // LESC confirm: U, V 32 bytes, X 16 bytes, Z one octet.
  Result<Key128> f4(ByteView u, ByteView v, ByteView x, std::uint8_t z) const;
  // LESC key generation: W = DHKey, A1/A2 = address type || address (7 bytes).
  Result<F5Keys> f5(ByteView w, ByteView n1, ByteView n2, ByteView a1, ByteView a2) const;
  // The T value of f5 (CMAC_SALT(W)), exposed for the spec vector.
  Result<Key128> f5_t(ByteView w) const;
  // LESC DHKey check: IOcap = AuthReq || OOB flag || IO capability (3 bytes).
  Result<Key128> f6(ByteView w, ByteView n1, ByteView n2, ByteView r, ByteView iocap, ByteView a1,
                   ByteView a2) const;
  // Numeric comparison: the 32-bit value; display value = g2 % 1000000.
  Result<std::uint32_t> g2(ByteView u, ByteView v, ByteView x, ByteView y) const;
  Result<Key128> h6(ByteView w, ByteView key_id) const;
  Result<Key128> h7(ByteView salt, ByteView w) const;
  // Cross-transport key derivation (Vol 3 Part H 2.4.2.4 / 2.4.2.5), CT2 selects h7.
  Result<Key128> ltk_to_link_key(ByteView ltk, bool ct2) const;
  Result<Key128> link_key_to_ltk(ByteView link_key, bool ct2) const;

 private:
  const crypto::Backend* backend_;
};

}  // namespace blecrypt::smp
