// MemoryLink: an in-process stand-in for one BLE connection, so every protocol runs end to end
// without a radio. It carries GATT traffic the way a real link does: the central (client) writes
// to the peripheral (device), the peripheral notifies the central, and each message longer than
// the ATT payload (MTU - 3 bytes) arrives as several payload-sized PDUs.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

#include "blecrypt/bytes.hpp"

namespace blecrypt::link {

inline constexpr std::size_t kDefaultAttMtu = 23;  // the minimum ATT MTU: 20-byte payloads

class MemoryLink {
 public:
  explicit MemoryLink(std::size_t att_mtu = kDefaultAttMtu);

  std::size_t payload_size() const noexcept { return payload_size_; }

  // Central -> peripheral (GATT write without response). Split into payload-sized PDUs.
  void write(ByteView message);
  // Peripheral -> central (GATT notification). Split into payload-sized PDUs.
  void notify(ByteView message);
  // Queue one PDU as it is, however long (for protocols that segment by themselves and for
  // tests of oversized PDUs).
  void write_pdu(ByteView pdu) { to_peripheral_.emplace_back(pdu.begin(), pdu.end()); }
  void notify_pdu(ByteView pdu) { to_central_.emplace_back(pdu.begin(), pdu.end()); }

  // Next PDU waiting for the peripheral / the central, in order.
  std::optional<Bytes> next_for_peripheral();
  std::optional<Bytes> next_for_central();
  bool idle() const noexcept { return to_peripheral_.empty() && to_central_.empty(); }

  // Drops everything in flight (a disconnect).
  void disconnect();

  std::size_t pdus_carried() const noexcept { return pdus_carried_; }
  std::size_t bytes_carried() const noexcept { return bytes_carried_; }

 private:
  void enqueue(std::deque<Bytes>& queue, ByteView message);
  std::size_t payload_size_;
  std::deque<Bytes> to_peripheral_, to_central_;
  std::size_t pdus_carried_ = 0, bytes_carried_ = 0;
};

}  // namespace blecrypt::link
