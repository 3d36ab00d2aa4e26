#include "blecrypt/secret.hpp"

#include <cstring>

namespace blecrypt {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data == nullptr || size == 0) return;
  // A volatile function pointer keeps the compiler from proving the store dead.
  static void* (*const volatile memset_fn)(void*, int, std::size_t) = std::memset;
  memset_fn(data, 0, size);
}

bool equal(ByteView a, ByteView b) noexcept {
  if (a.size() != b.size()) return false;
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

}  // namespace blecrypt
