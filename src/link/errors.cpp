#include "blecrypt/link/errors.hpp"

#include <string>

namespace blecrypt::link {
namespace {

class LinkCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.link"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::not_connected: return "link: not connected";
      case Errc::disconnected: return "link: the connection dropped";
      case Errc::value_too_long: return "link: value longer than the ATT payload (MTU - 3)";
      case Errc::no_such_characteristic: return "link: the device has no characteristic with that UUID (wrong device or model?)";
      case Errc::not_subscribed: return "link: notifications are not enabled on that characteristic";
      case Errc::write_failed: return "link: the write did not reach the device";
      case Errc::timed_out: return "link: timed out (is the device in range, powered and not connected to a phone?)";
      case Errc::bluetooth_unavailable: return "link: Bluetooth is unavailable (is bluetoothd running? org.bluez is not on the system bus)";
      case Errc::adapter_not_found: return "link: no Bluetooth adapter found (check `bluetoothctl list`, or pass --adapter)";
      case Errc::adapter_off: return "link: the Bluetooth adapter is powered off (run `bluetoothctl power on`)";
      case Errc::device_not_found: return "link: device not found (is it in range, powered, and not connected to another central?)";
      case Errc::busy: return "link: the adapter is busy with another operation";
      case Errc::permission_denied: return "link: permission denied by the system bus (add the user to the `bluetooth` group or run as root)";
    }
    return "link: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const LinkCategory c;
  return c;
}
std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace blecrypt::link
