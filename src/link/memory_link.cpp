#include "blecrypt/link/memory_link.hpp"

#include <algorithm>

namespace blecrypt::link {

MemoryLink::MemoryLink(std::size_t att_mtu) : payload_size_(att_mtu > 3 ? att_mtu - 3 : 1) {}

void MemoryLink::enqueue(std::deque<Bytes>& queue, ByteView message) {
  if (message.empty()) {
    queue.emplace_back();
    return;
  }
  for (std::size_t off = 0; off < message.size(); off += payload_size_) {
    const auto n = std::min(payload_size_, message.size() - off);
    auto piece = message.subspan(off, n);
    queue.emplace_back(piece.begin(), piece.end());
  }
}

void MemoryLink::write(ByteView message) { enqueue(to_peripheral_, message); }
void MemoryLink::notify(ByteView message) { enqueue(to_central_, message); }

namespace {
std::optional<Bytes> pop(std::deque<Bytes>& queue, std::size_t& pdus, std::size_t& bytes) {
  if (queue.empty()) return std::nullopt;
  Bytes front = std::move(queue.front());
  queue.pop_front();
  ++pdus;
  bytes += front.size();
  return front;
}
}  // namespace

std::optional<Bytes> MemoryLink::next_for_peripheral() { return pop(to_peripheral_, pdus_carried_, bytes_carried_); }
std::optional<Bytes> MemoryLink::next_for_central() { return pop(to_central_, pdus_carried_, bytes_carried_); }

void MemoryLink::disconnect() {
  to_peripheral_.clear();
  to_central_.clear();
}

}  // namespace blecrypt::link
