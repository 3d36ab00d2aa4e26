#include "blecrypt/sesame/segment.hpp"

#include <algorithm>

namespace blecrypt::sesame {

namespace {
template <typename Out>
Result<void> segment_into(ByteView message, SegmentKind kind, Out& out, std::size_t packet_size, std::size_t cap) {
  if (message.empty()) return Errc::message_empty;
  if (packet_size < 2) return Errc::packet_size_invalid;
  if (message.size() > cap) return Errc::message_too_large;
  const std::size_t chunk = packet_size - 1;
  for (std::size_t off = 0; off < message.size(); off += chunk) {
    const std::size_t n = std::min(chunk, message.size() - off);
    const bool first = off == 0;
    const bool last = off + n == message.size();
    Bytes pkt;
    pkt.reserve(n + 1);
    pkt.push_back(static_cast<std::uint8_t>((last ? static_cast<unsigned>(kind) << 1 : 0u) | (first ? 1u : 0u)));
    pkt.insert(pkt.end(), message.begin() + static_cast<std::ptrdiff_t>(off),
               message.begin() + static_cast<std::ptrdiff_t>(off + n));
    out.push_back(std::move(pkt));
  }
  return ok();
}
}  // namespace

Result<void> segment(ByteView message, SegmentKind kind, std::vector<Bytes>& out, std::size_t packet_size,
                     std::size_t cap) {
  return segment_into(message, kind, out, packet_size, cap);
}

Result<void> segment(ByteView message, SegmentKind kind, Fifo<Bytes>& out, std::size_t packet_size, std::size_t cap) {
  return segment_into(message, kind, out, packet_size, cap);
}

Result<std::optional<SegmentedView>> Reassembler::feed_view(ByteView packet) {
  if (complete_) {
    buffer_.clear();
    complete_ = false;
  }
  if (packet.size() < 2) return Errc::packet_too_short;
  const std::uint8_t header = packet[0];
  if (header > 0x05) return Errc::segment_header_invalid;
  const bool start = (header & 0x01) != 0;
  const unsigned kind = header >> 1;
  if (start) {
    if (in_progress_) ++discarded_partials_;
    buffer_.clear();
    in_progress_ = true;
  } else if (!in_progress_) {
    return Errc::segment_without_start;
  }
  const ByteView payload = packet.subspan(1);
  if (buffer_.size() + payload.size() > cap_) {
    buffer_.clear();
    in_progress_ = false;
    return Errc::reassembly_overflow;
  }
  append(buffer_, payload);
  if (kind == 0) return std::optional<SegmentedView>{};
  in_progress_ = false;
  complete_ = true;
  return std::optional<SegmentedView>{SegmentedView{buffer_, kind == 2}};
}

Result<std::optional<SegmentedMessage>> Reassembler::feed(ByteView packet) {
  auto v = feed_view(packet);
  if (!v) return Unexpected{v.error()};
  if (!v->has_value()) return std::optional<SegmentedMessage>{};
  return std::optional<SegmentedMessage>{SegmentedMessage{Bytes((*v)->data.begin(), (*v)->data.end()), (*v)->encrypted}};
}

}  // namespace blecrypt::sesame
