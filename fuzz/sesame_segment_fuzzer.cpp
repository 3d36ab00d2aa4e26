// SESAME segment reassembler: the input is a sequence of packets (1 length byte + packet). Never
// crashes, never returns a message above the cap, and segment() output always reassembles.
#include <cstdlib>

#include "blecrypt/sesame/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  Reassembler r(128);
  std::size_t off = 0;
  while (off < size) {
    const std::size_t n = std::min<std::size_t>(data[off], size - off - 1);
    ++off;
    auto res = r.feed(ByteView(data + off, n));
    if (res && res->has_value() && ((*res)->data.empty() || (*res)->data.size() > 128)) std::abort();
    off += n;
  }
  // Sender round trip with a packet size taken from the input.
  if (size > 1) {
    const std::size_t packet = 2 + data[0] % 250;
    std::vector<Bytes> pkts;
    if (!segment(ByteView(data + 1, size - 1), SegmentKind::plaintext, pkts, packet)) return 0;
    Reassembler back;
    std::optional<SegmentedMessage> got;
    for (const auto& p : pkts) {
      if (p.size() > packet) std::abort();
      auto res = back.feed(p);
      if (!res) std::abort();
      if (res->has_value()) got = std::move(**res);
    }
    if (!got || got->encrypted || got->data != Bytes(data + 1, data + size)) std::abort();
  }
  return 0;
}
