// The bytes the channel parses itself: the TLS record framer, then (for input that frames) a
// server engine in PSK mode fed the same bytes in the split the first byte chooses. Nothing
// may crash, and nothing may be delivered as data (the input never carries a valid binder).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/record.hpp"

using namespace blecrypt;
using namespace blecrypt::channel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split = 1 + data[0] % 64;
  ByteView in(data + 1, size - 1);
  RecordFramer f;
  bool framed = true;
  for (std::size_t off = 0; off < in.size(); off += split)
    if (!f.feed(in.subspan(off, std::min(split, in.size() - off)))) framed = false;

  Config cfg;
  cfg.role = (data[0] & 0x80) ? Role::client : Role::server;
  cfg.mode = PskMode{SecretBytes(Bytes(kPskSize, 0x42)), kDefaultPskIdentity};
  cfg.max_transmit = 23 + data[0] % 100;
  Channel ch(std::move(cfg));
  ch.on_link_up(TimePoint{});
  for (std::size_t off = 0; off < in.size(); off += split) {
    if (!ch.feed(in.subspan(off, std::min(split, in.size() - off)), TimePoint{})) break;
  }
  while (auto t = ch.poll_transmit())
    if (t->size() > 23 + data[0] % 100u) std::abort();
  while (auto e = ch.poll_event())
    if (std::holds_alternative<DataReceived>(*e)) std::abort();  // no PSK-authenticated peer here
  ch.on_deadline(TimePoint{} + std::chrono::hours(1));
  ch.on_link_down();
  (void)framed;
  return 0;
}
