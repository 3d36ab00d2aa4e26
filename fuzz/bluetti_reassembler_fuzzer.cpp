// BLUETTI reassembler + `**` frame parser + handshake record opener: never crashes, never buffers
// more than one legal record, and every unit it emits is the size its header announces.
#include <cstdlib>

#include "blecrypt/bluetti/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::bluetti;
  if (size < 2) return 0;
  // First byte: chunk size; second: header mode (handshake or session).
  const std::size_t chunk = (data[0] % 64) + 1;
  Reassembler r;
  r.set_header_size((data[1] & 1) ? kSessionHeader : kHandshakeHeader);
  static auto md5 = crypto::default_backend().md5();
  static const Bytes challenge = {0x8f, 0x57, 0xb7, 0x27};
  static auto keys = derive_handshake_keys(*md5, challenge);
  static auto hs = HandshakeCipher::create(crypto::default_backend(), keys);
  // Second bit: the late-handshake probe of an established session.
  if (data[1] & 2) r.set_late_handshake_probe(&*hs);
  ByteView all(data + 2, size - 2);
  for (std::size_t off = 0; off < all.size(); off += chunk) {
    ByteView in = all.subspan(off, std::min(chunk, all.size() - off));
    while (!in.empty()) {
      auto u = r.next(in);
      if (r.buffered() > kMaxRecord) std::abort();
      if (!u || !*u) continue;
      const auto& unit = **u;
      if (unit.bytes.size() > kMaxRecord || unit.bytes.empty()) std::abort();
      if (unit.late_handshake) {
        // Only with the probe, in session mode, a whole handshake record holding a valid frame.
        if (!(data[1] & 2) || r.header_size() != kSessionHeader) std::abort();
        auto plain = hs->open(unit.bytes);
        if (!plain || !parse_frame(*plain)) std::abort();
        continue;
      }
      if (unit.is_frame) {
        auto f = parse_frame(unit.bytes);
        if (f && encode_frame(f->type, f->payload) != unit.bytes) std::abort();  // round trip
      } else if (r.header_size() == kHandshakeHeader) {
        auto plain = hs->open(unit.bytes);
        if (plain) {
          auto again = hs->seal(*plain);
          if (!again || *again != unit.bytes) std::abort();  // zero padding is canonical
          (void)parse_frame(*plain);
        }
      }
    }
  }
  return 0;
}
