// The GATT link seam: what a transport offers to the session runner (link::Session), from the
// central's side of one connection. BlueZ over D-Bus, bleak in Python and the in-memory link all
// implement it; the protocol engines never see it.
//
// A GATT link carries notifications and writes on characteristics. It cannot carry SMP, which
// runs on its own L2CAP channel below GATT: SMP needs an HCI/L2CAP link (a separate seam, later).
//
// Calls into the link queue work and return at once; outcomes come back through the listener,
// on the transport's own loop:
//
//   transport connects                  -> listener.on_connected(now)
//   runner calls subscribe(notify UUID) -> listener.on_subscribed(uuid, now)   (or on_transport_error)
//   peer notifies                       -> listener.on_notification(uuid, value, now)
//   runner calls write(uuid, value, t)  -> nothing on success, on_transport_error(e) on failure
//   link drops / disconnect()           -> listener.on_disconnected(why, now)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "blecrypt/bytes.hpp"
#include "blecrypt/link/errors.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::link {

inline constexpr std::size_t kDefaultAttMtu = 23;  // the minimum ATT MTU: 20-byte payloads
inline constexpr std::size_t kMaxAttMtu = 517;
inline constexpr std::size_t att_payload(std::size_t att_mtu) noexcept { return att_mtu > 3 ? att_mtu - 3 : 1; }

enum class WriteType : std::uint8_t {
  with_response,     // ATT Write Request (BlueZ WriteValue type "request")
  without_response,  // ATT Write Command (BlueZ WriteValue type "command")
};

// The characteristics one protocol uses. UUIDs are lower-case 128-bit strings, as BlueZ and bleak
// print them. Each protocol module defines its profile (bluetti::kGattProfile, ...).
struct GattProfile {
  std::string_view name;                   // for messages: "BLUETTI", "SESAME 5"
  std::string_view service;                // primary service UUID
  std::string_view write_characteristic;   // central -> peripheral
  std::string_view notify_characteristic;  // peripheral -> central
  WriteType write_type;                    // preferred; a transport falls back when the characteristic lacks it
};

// What a transport reports, on its own loop. `now` is the transport's monotonic time.
class LinkListener {
 public:
  virtual ~LinkListener() = default;
  virtual void on_connected(TimePoint now) = 0;
  virtual void on_subscribed(std::string_view characteristic, TimePoint now) = 0;
  virtual void on_notification(std::string_view characteristic, ByteView value, TimePoint now) = 0;
  virtual void on_disconnected(std::error_code why, TimePoint now) = 0;
  // An operation failed (a write, a subscribe); the link may still be up.
  virtual void on_transport_error(std::error_code error, TimePoint now) = 0;
};

class GattLink {
 public:
  virtual ~GattLink() = default;
  // nullptr detaches. The listener must outlive the link or detach first.
  virtual void set_listener(LinkListener* listener) = 0;
  virtual Result<void> subscribe(std::string_view characteristic) = 0;
  // `value` is at most att_payload(att_mtu()) bytes (the runner splits longer messages).
  virtual Result<void> write(std::string_view characteristic, ByteView value, WriteType type) = 0;
  virtual std::size_t att_mtu() const = 0;
  virtual bool connected() const = 0;
  virtual std::string describe() const = 0;  // "C4:DE:E2:11:22:33 via hci0", "emulated AC180 ..."
};

}  // namespace blecrypt::link
