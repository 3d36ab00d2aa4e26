// org.bluez.Device1 properties as any peer on the bus could send them (right names with wrong
// D-Bus types, byte arrays where strings belong, dictionaries of mixed value types) decoded by
// link::bluez::fill_device. Never crashes or throws; a value it accepts is the value sent.
//
// Input: records of [key selector][type selector][length][bytes...].
#include <cstdlib>
#include <string>
#include <vector>

#include "link/bluez/properties.hpp"

namespace {

using namespace blecrypt::link::bluez;

constexpr const char* kKeys[] = {"Address", "Name", "RSSI", "Connected", "UUIDs", "ManufacturerData", "ServiceData", "Alias"};

std::string text(const std::vector<std::uint8_t>& b) { return std::string(b.begin(), b.end()); }

// A variant of the type `type` built from `b`; nullopt when sd-bus refuses the value (invalid UTF-8).
std::optional<sdbus::Variant> make(std::uint8_t type, const std::vector<std::uint8_t>& b) {
  try {
    switch (type % 9) {
      case 0: return sdbus::Variant(text(b));
      case 1: return sdbus::Variant(static_cast<std::int16_t>(b.empty() ? 0 : b[0] << 8 | (b.size() > 1 ? b[1] : 0)));
      case 2: return sdbus::Variant(static_cast<std::uint16_t>(b.size()));
      case 3: return sdbus::Variant(!b.empty() && b[0] != 0);
      case 4: return sdbus::Variant(std::vector<std::string>{text(b), "0000ff00-0000-1000-8000-00805f9b34fb"});
      case 5: return sdbus::Variant(b);
      case 6: {
        std::map<std::uint16_t, sdbus::Variant> m;
        if (!b.empty()) m[static_cast<std::uint16_t>(b[0] | (b.size() > 1 ? b[1] << 8 : 0))] = sdbus::Variant(b);
        m[0x055a] = sdbus::Variant(text(b));  // wrong value type inside the dictionary
        return sdbus::Variant(m);
      }
      case 7: {
        std::map<std::string, sdbus::Variant> m;
        m["0000fd81-0000-1000-8000-00805f9b34fb"] = sdbus::Variant(b);
        m["bad"] = sdbus::Variant(static_cast<std::int16_t>(1));
        return sdbus::Variant(m);
      }
      default: return sdbus::Variant(static_cast<std::int32_t>(b.size()));
    }
  } catch (const sdbus::Error&) {
    return std::nullopt;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Props props;
  std::size_t off = 0;
  while (off + 3 <= size) {
    const char* key = kKeys[data[off] % std::size(kKeys)];
    const std::uint8_t type = data[off + 1];
    const std::size_t n = std::min<std::size_t>(data[off + 2], size - off - 3);
    std::vector<std::uint8_t> bytes(data + off + 3, data + off + 3 + n);
    off += 3 + n;
    if (auto v = make(type, bytes)) props.insert_or_assign(key, std::move(*v));
  }
  DeviceInfo d;
  fill_device(d, props);
  if (auto a = prop<std::string>(props, "Address"); a && d.address != *a) std::abort();
  if (auto r = prop<std::int16_t>(props, "RSSI"); r != d.rssi && r) std::abort();
  return 0;
}
