// BLUETTI session-record decrypt path: a client with an established session (fixed key) fed
// arbitrary bytes; SessionCipher::open directly; the decrypted ADU through the Modbus parser.
#include <cstdlib>

#include "blecrypt/bluetti/modbus.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::bluetti;
  static const Bytes key(32, 0x5a);
  static auto cipher = SessionCipher::create(crypto::default_backend(), key);
  static auto cipher_mbed = SessionCipher::create(crypto::mbedtls_backend(), key);
  const ByteView in(data, size);
  auto a = cipher->open(in);
  auto b = cipher_mbed->open(in);
  if (static_cast<bool>(a) != static_cast<bool>(b)) std::abort();  // backends agree
  if (a) {
    if (*a != *b) std::abort();
    if (a->size() != load_be16(data)) std::abort();
    (void)modbus::parse_response(*a);
    (void)modbus::parse_request(*a);
    // Re-sealing with the same seed gives the same record up to the padding bytes.
    crypto::ScriptedRng seed({Bytes(data + 2, data + 6)});
    auto again = cipher->seal(*a, seed);
    if (!again || again->size() != size) std::abort();
  }
  return 0;
}
