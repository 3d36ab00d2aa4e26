// Text the channel parses from files and the command line: PSK strings (hex, BLECRYPT-PSK1),
// fingerprints, Bluetooth/TCP addresses, and identity PEM files.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "blecrypt/channel/keys.hpp"
#include "blecrypt/channel/socket.hpp"

using namespace blecrypt;
using namespace blecrypt::channel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto k = parse_psk(text)) {
    if (k->size() != kPskSize) std::abort();
    auto again = parse_psk(psk_to_qr_string(*k));  // every accepted key round-trips
    if (!again || !equal(*again, *k)) std::abort();
  }
  if (auto fp = parse_fingerprint(text); fp && fp->size() != 32) std::abort();
  (void)parse_rfcomm(text);
  (void)parse_l2cap(text);
  (void)parse_tcp(text);
  (void)parse_bdaddr(text);
  if (size < 8192) (void)parse_identity(ByteView(data, size));
  return 0;
}
