// Errors of the link layer: the GATT link seam, the session runner and every transport
// (memory link, BlueZ). Messages say what happened and, where the user can act, what to do.
#pragma once

#include <system_error>

namespace blecrypt::link {

enum class Errc {
  not_connected = 1,        // an operation needs a connected link
  disconnected,             // the link went down (a request in flight fails with this)
  value_too_long,           // a write/notification longer than the ATT payload (MTU - 3)
  no_such_characteristic,   // the peer has no characteristic with that UUID
  not_subscribed,           // notifications are not enabled on that characteristic
  write_failed,             // the transport could not deliver a write
  timed_out,                // connect / discovery / an operation took too long
  bluetooth_unavailable,    // no Bluetooth service (bluetoothd / org.bluez not on the bus)
  adapter_not_found,        // no adapter (or none with the requested name)
  adapter_off,              // the adapter is powered off
  device_not_found,         // the device was not seen during discovery
  busy,                     // the transport is busy with another operation (retry later)
  permission_denied,        // the bus refused the call (D-Bus policy / group membership)
};

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace blecrypt::link

template <>
struct std::is_error_code_enum<blecrypt::link::Errc> : std::true_type {};
