// TRANSITIONAL (removed once every user drives engines through link::Pipe or link::Session): the
// old two-direction memory link API on top of two Wires.
#pragma once

#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/link/wire.hpp"

namespace blecrypt::link {

struct DuplexWire {
  explicit DuplexWire(std::size_t att_mtu = kDefaultAttMtu) : to_peripheral(att_payload(att_mtu)), to_central(att_payload(att_mtu)) {}
  std::size_t payload_size() const noexcept { return to_peripheral.pdu_size(); }
  void write(ByteView m) { to_peripheral.send(m); }
  void notify(ByteView m) { to_central.send(m); }
  void write_pdu(ByteView p) { to_peripheral.send_pdu(Bytes(p.begin(), p.end())); }
  void notify_pdu(ByteView p) { to_central.send_pdu(Bytes(p.begin(), p.end())); }
  std::optional<Bytes> next_for_peripheral() { return to_peripheral.receive(); }
  std::optional<Bytes> next_for_central() { return to_central.receive(); }
  bool idle() const noexcept { return to_peripheral.idle() && to_central.idle(); }
  void disconnect() { to_peripheral.clear(); to_central.clear(); }
  std::size_t pdus_carried() const noexcept { return to_peripheral.pdus_carried() + to_central.pdus_carried(); }
  std::size_t bytes_carried() const noexcept { return to_peripheral.bytes_carried() + to_central.bytes_carried(); }
  Wire to_peripheral, to_central;
};

}  // namespace blecrypt::link
