// MemoryLink: a GATT link whose peer is an engine in the same process (the emulators), so every
// verb runs end to end without a radio, through the same link::Session code as a real transport.
// It carries GATT traffic the way a real link does: the central writes ATT payloads of at most
// MTU - 3 bytes; the peripheral's messages arrive as notifications of at most MTU - 3 bytes; the
// peripheral starts when the central enables notifications.
//
// The memory link has no clock: its owner calls pump(now) to move traffic and runs the
// peripheral's deadlines (next_deadline / on_deadline). link::Pipe does that with a virtual clock.
#pragma once

#include <optional>
#include <string>

#include "blecrypt/engine.hpp"
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/link/wire.hpp"

namespace blecrypt::link {

class MemoryLink final : public GattLink {
 public:
  MemoryLink(EngineIo& peripheral, const GattProfile& profile, std::size_t att_mtu = kDefaultAttMtu,
             std::string description = "memory link");

  // ---- GattLink (central side) ----
  void set_listener(LinkListener* listener) override { listener_ = listener; }
  Result<void> subscribe(std::string_view characteristic) override;
  Result<void> write(std::string_view characteristic, ByteView value, WriteType type) override;
  std::size_t att_mtu() const override { return att_mtu_; }
  bool connected() const override { return connected_; }
  std::string describe() const override { return description_; }

  // ---- driving it ----
  void connect(TimePoint now);
  // Drops everything in flight and tells both ends (`why` defaults to Errc::disconnected).
  void disconnect(TimePoint now, std::error_code why = {});
  // Moves PDUs both ways until nothing is in flight.
  void pump(TimePoint now);
  std::optional<TimePoint> next_deadline() const { return peripheral_->next_deadline(); }
  void on_deadline(TimePoint now);

  // Join all the peripheral's pending messages into one notification stream before splitting
  // (a unit that packs several records into one notification).
  void set_coalesce(bool on) noexcept { coalesce_ = on; }
  Wire& to_peripheral() noexcept { return to_peripheral_; }
  Wire& to_central() noexcept { return to_central_; }
  std::size_t pdus_carried() const noexcept { return to_peripheral_.pdus_carried() + to_central_.pdus_carried(); }
  std::size_t bytes_carried() const noexcept { return to_peripheral_.bytes_carried() + to_central_.bytes_carried(); }

 private:
  void collect_notifications();

  EngineIo* peripheral_;
  GattProfile profile_;
  std::size_t att_mtu_;
  std::string description_;
  LinkListener* listener_ = nullptr;
  bool connected_ = false;
  bool subscribed_ = false;
  bool subscribe_pending_ = false;
  bool coalesce_ = false;
  Wire to_peripheral_, to_central_;
};

}  // namespace blecrypt::link
