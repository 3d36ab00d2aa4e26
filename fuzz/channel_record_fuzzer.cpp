// The bytes the channel parses itself: the TLS record framer, then a PSK engine fed the same
// bytes in the split the first byte chooses: either fresh (handshake input), or, when bit 6 of
// the first byte is set, a server whose handshake with a real client just completed over
// link::Pipe (records after the handshake, the close and key-update paths). Nothing may crash,
// and nothing may be delivered as data: the input never carries a valid binder or AEAD tag.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/record.hpp"
#include "blecrypt/link/pipe.hpp"

using namespace blecrypt;
using namespace blecrypt::channel;

namespace {
Config psk_config(Role role, std::size_t max_transmit) {
  Config cfg;
  cfg.role = role;
  cfg.mode = PskMode{SecretBytes(Bytes(kPskSize, 0x42)), kDefaultPskIdentity};
  cfg.max_transmit = max_transmit;
  cfg.key_update_records = 2;
  return cfg;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split = 1 + data[0] % 64;
  const std::size_t mtu = 23 + data[0] % 100u;
  const bool after_handshake = (data[0] & 0x40) != 0;
  ByteView in(data + 1, size - 1);
  RecordFramer f;
  for (std::size_t off = 0; off < in.size(); off += split) (void)f.feed(in.subspan(off, std::min(split, in.size() - off)));

  Channel ch(psk_config((data[0] & 0x80) ? Role::client : Role::server, mtu));
  Channel peer(psk_config(Role::client, 0));
  if (after_handshake) {
    link::Pipe<Channel, Channel> pipe(peer, ch);
    pipe.connect();
    if (!ch.established()) {
      if (ch.config().role == Role::server) std::abort();  // a server and a client with one PSK must agree
      return 0;                                            // two clients: nothing to fuzz after the handshake
    }
    (void)ch.send(in.first(std::min<std::size_t>(in.size(), 100)));  // records under the key-update limit of 2
    (void)ch.send(in.first(std::min<std::size_t>(in.size(), 100)));
    (void)ch.send(in.first(std::min<std::size_t>(in.size(), 100)));
    while (ch.poll_event()) {
    }
  } else {
    ch.on_link_up(TimePoint{});
  }
  for (std::size_t off = 0; off < in.size(); off += split) {
    if (!ch.feed(in.subspan(off, std::min(split, in.size() - off)), TimePoint{})) break;
  }
  while (auto t = ch.poll_transmit())
    if (t->size() > mtu) std::abort();
  while (auto e = ch.poll_event())
    if (std::holds_alternative<DataReceived>(*e)) std::abort();  // nothing here can authenticate a record
  ch.on_deadline(TimePoint{} + std::chrono::hours(1));
  ch.on_link_down();
  return 0;
}
