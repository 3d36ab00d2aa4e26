// P-256 public-key import on both backends: never crashes, and both backends agree on which
// inputs are valid points; valid points give the same ECDH secret on both.
#include <cstdlib>

#include "blecrypt/crypto.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  const ByteView input(data, size);
  auto a = crypto::openssl_backend().p256_public_key(input);
  auto b = crypto::mbedtls_backend().p256_public_key(input);
  if (static_cast<bool>(a) != static_cast<bool>(b)) std::abort();  // backends disagree on validity
  if (a) {
    static auto key_a = std::move(*crypto::openssl_backend().p256_from_private(Bytes(32, 0x01)));
    static auto key_b = std::move(*crypto::mbedtls_backend().p256_from_private(Bytes(32, 0x01)));
    auto za = key_a->ecdh(**a);
    auto zb = key_b->ecdh(**b);
    if (!za || !zb || !equal(*za, *zb)) std::abort();
  }
  return 0;
}
