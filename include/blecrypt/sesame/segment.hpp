// Segment layer (spec §4): one header byte per GATT packet. bit 0 = start, bits 7..1 = kind
// (0 more follows, 1 last + plaintext, 2 last + ciphertext). Headers 0x00..0x05 only.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

inline constexpr std::size_t kDefaultPacketSize = 20;       // ATT_MTU 23 - 3
inline constexpr std::size_t kDefaultReassemblyCap = 512;   // bytes of one reassembled message

enum class SegmentKind : std::uint8_t { more = 0, plaintext = 1, ciphertext = 2 };

// Cuts `message` into packets of at most `packet_size` bytes (header + packet_size-1 payload bytes).
// Appends to `out`. Errors: message_empty, packet_size_invalid, message_too_large (> cap).
Result<void> segment(ByteView message, SegmentKind kind, std::vector<Bytes>& out,
                     std::size_t packet_size = kDefaultPacketSize, std::size_t cap = kDefaultReassemblyCap);
Result<void> segment(ByteView message, SegmentKind kind, Fifo<Bytes>& out,
                     std::size_t packet_size = kDefaultPacketSize, std::size_t cap = kDefaultReassemblyCap);

struct SegmentedMessage {
  Bytes data;
  bool encrypted = false;  // kind 2: ciphertext || tag
};

// A complete message inside the reassembler's buffer: valid until the next feed() / reset().
struct SegmentedView {
  ByteView data;
  bool encrypted = false;
};

// Receiver: packets of any length >= 2 are accepted. A start packet discards any partial message
// (counted in discarded_partials()). Every illegal packet is a typed error and leaves the
// reassembler ready for the next start.
class Reassembler {
 public:
  explicit Reassembler(std::size_t cap = kDefaultReassemblyCap) : cap_(cap) {}
  // A complete message, or nullopt when more packets are needed.
  Result<std::optional<SegmentedMessage>> feed(ByteView packet);
  // The same without copying the message out (the buffer keeps its capacity between messages).
  Result<std::optional<SegmentedView>> feed_view(ByteView packet);
  // Drops any partial message and releases the buffer.
  void reset() noexcept {
    Bytes().swap(buffer_);
    in_progress_ = false;
    complete_ = false;
  }
  bool in_progress() const noexcept { return in_progress_; }
  std::size_t discarded_partials() const noexcept { return discarded_partials_; }

 private:
  std::size_t cap_;
  Bytes buffer_;
  bool in_progress_ = false;
  bool complete_ = false;  // buffer_ holds the last complete message
  std::size_t discarded_partials_ = 0;
};

}  // namespace blecrypt::sesame
