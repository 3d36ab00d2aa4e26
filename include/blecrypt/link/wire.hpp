// link::Wire: one direction of an in-memory connection. Messages go in whole and come out as
// PDUs of at most `pdu_size` bytes, in order; a tamper hook may change (or empty) each PDU on the
// way. The memory link and the two-engine pipe are built from two of these.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>

#include "blecrypt/bytes.hpp"
#include "blecrypt/fifo.hpp"

namespace blecrypt::link {

class Wire {
 public:
  // Called once per PDU as it enters the wire (index counts this wire's PDUs from 0). Emptying
  // the PDU drops it.
  using Tamper = std::function<void(std::size_t index, Bytes& pdu)>;

  explicit Wire(std::size_t pdu_size) : pdu_size_(std::max<std::size_t>(pdu_size, 1)) {}

  std::size_t pdu_size() const noexcept { return pdu_size_; }
  void set_pdu_size(std::size_t n) noexcept { pdu_size_ = std::max<std::size_t>(n, 1); }
  void set_tamper(Tamper t) { tamper_ = std::move(t); }

  // Splits `message` into PDUs.
  void send(ByteView message) {
    for (std::size_t off = 0; off < message.size(); off += pdu_size_) {
      auto piece = message.subspan(off, std::min(pdu_size_, message.size() - off));
      enqueue(Bytes(piece.begin(), piece.end()));
    }
  }
  // Queues one PDU as it is, however long (oversized-PDU tests, protocols that segment themselves).
  void send_pdu(Bytes pdu) { enqueue(std::move(pdu)); }

  std::optional<Bytes> receive() {
    if (queue_.empty()) return std::nullopt;
    Bytes pdu = queue_.take();
    bytes_ += pdu.size();
    ++pdus_;
    return pdu;
  }
  bool idle() const noexcept { return queue_.empty(); }
  void clear() noexcept { queue_.clear(); }

  std::size_t pdus_carried() const noexcept { return pdus_; }
  std::size_t bytes_carried() const noexcept { return bytes_; }

 private:
  void enqueue(Bytes pdu) {
    if (tamper_) {
      tamper_(index_++, pdu);
      if (pdu.empty()) return;
    }
    queue_.push_back(std::move(pdu));
  }

  std::size_t pdu_size_;
  Tamper tamper_;
  std::size_t index_ = 0;
  Fifo<Bytes> queue_;
  std::size_t pdus_ = 0, bytes_ = 0;
};

}  // namespace blecrypt::link
