#include "properties.hpp"

namespace blecrypt::link::bluez {
namespace {

// Entries of an a{?v} dictionary whose value is a byte array; other value types are dropped.
template <typename Key>
std::map<Key, Bytes> byte_arrays(const std::map<Key, sdbus::Variant>& in) {
  std::map<Key, Bytes> out;
  for (const auto& [key, value] : in) {
    try {
      out[key] = value.template get<std::vector<std::uint8_t>>();
    } catch (const sdbus::Error&) {
    }
  }
  return out;
}

}  // namespace

void fill_device(DeviceInfo& d, const Props& p) {
  if (auto v = prop<std::string>(p, "Address")) d.address = *v;
  if (auto v = prop<std::string>(p, "Name")) d.name = *v;
  if (auto v = prop<std::int16_t>(p, "RSSI")) d.rssi = *v;
  if (auto v = prop<bool>(p, "Connected")) d.connected = *v;
  if (auto v = prop<std::vector<std::string>>(p, "UUIDs")) d.uuids = *v;
  if (auto v = prop<std::map<std::uint16_t, sdbus::Variant>>(p, "ManufacturerData")) d.manufacturer_data = byte_arrays(*v);
  if (auto v = prop<std::map<std::string, sdbus::Variant>>(p, "ServiceData")) d.service_data = byte_arrays(*v);
  d.info = classify(d.name, d.manufacturer_data, d.service_data);
}

}  // namespace blecrypt::link::bluez
