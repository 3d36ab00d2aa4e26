#include "blecrypt/link/memory_link.hpp"

#include <utility>

namespace blecrypt::link {

MemoryLink::MemoryLink(EngineIo& peripheral, const GattProfile& profile, std::size_t att_mtu, std::string description)
    : peripheral_(&peripheral),
      profile_(profile),
      att_mtu_(att_mtu),
      description_(std::move(description)),
      to_peripheral_(att_payload(att_mtu)),
      to_central_(att_payload(att_mtu)) {}

Result<void> MemoryLink::subscribe(std::string_view characteristic) {
  if (!connected_) return Errc::not_connected;
  if (characteristic != profile_.notify_characteristic) return Errc::no_such_characteristic;
  subscribe_pending_ = true;
  return ok();
}

Result<void> MemoryLink::write(std::string_view characteristic, ByteView value, WriteType /*type*/) {
  if (!connected_) return Errc::not_connected;
  if (characteristic != profile_.write_characteristic) return Errc::no_such_characteristic;
  if (value.size() > att_payload(att_mtu_)) return Errc::value_too_long;
  to_peripheral_.send_pdu(Bytes(value.begin(), value.end()));
  return ok();
}

void MemoryLink::connect(TimePoint now) {
  if (connected_) return;
  connected_ = true;
  if (listener_) listener_->on_connected(now);
  pump(now);
}

void MemoryLink::disconnect(TimePoint now, std::error_code why) {
  if (!connected_) return;
  connected_ = subscribed_ = subscribe_pending_ = false;
  to_peripheral_.clear();
  to_central_.clear();
  peripheral_->on_link_down();
  while (peripheral_->poll_transmit()) {
  }
  if (listener_) listener_->on_disconnected(why ? why : make_error_code(Errc::disconnected), now);
}

void MemoryLink::collect_notifications() {
  if (!subscribed_) {
    while (peripheral_->poll_transmit()) {
    }
    return;
  }
  if (!coalesce_) {
    while (auto m = peripheral_->poll_transmit()) to_central_.send(*m);
    return;
  }
  Bytes joined;
  while (auto m = peripheral_->poll_transmit()) append(joined, *m);
  to_central_.send(joined);
}

void MemoryLink::pump(TimePoint now) {
  for (bool moved = true; moved && connected_;) {
    moved = false;
    if (std::exchange(subscribe_pending_, false)) {
      moved = true;
      if (!subscribed_) {
        subscribed_ = true;
        peripheral_->on_link_up(now);
      }
      if (listener_) listener_->on_subscribed(profile_.notify_characteristic, now);
    }
    while (auto pdu = to_peripheral_.receive()) {
      moved = true;
      (void)peripheral_->feed(*pdu, now);  // the emulator reports what it refused as its own events
    }
    collect_notifications();
    while (connected_) {
      auto pdu = to_central_.receive();
      if (!pdu) break;
      moved = true;
      if (listener_) listener_->on_notification(profile_.notify_characteristic, *pdu, now);
    }
  }
}

void MemoryLink::on_deadline(TimePoint now) {
  peripheral_->on_deadline(now);
  pump(now);
}

}  // namespace blecrypt::link
