// Decoding BlueZ's D-Bus properties into the transport's types. Everything here reads values a
// peer on the bus chose (bluetoothd, or anything that owns org.bluez), so a value of the wrong
// D-Bus type is treated as absent, never trusted. Fuzzed: fuzz/bluez_properties_fuzzer.cpp.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <optional>
#include <string>

#include "blecrypt/link/bluez/bluez.hpp"

namespace blecrypt::link::bluez {

using Props = std::map<std::string, sdbus::Variant>;

// The property `key` as T; nullopt when missing or of another D-Bus type.
template <typename T>
std::optional<T> prop(const Props& p, const std::string& key) {
  auto it = p.find(key);
  if (it == p.end()) return std::nullopt;
  try {
    return it->second.get<T>();
  } catch (const sdbus::Error&) {
    return std::nullopt;  // wrong type from a broken peer: treated as absent
  }
}

// Updates `d` from (a subset of) org.bluez.Device1 properties and classifies the advertisement.
void fill_device(DeviceInfo& d, const Props& p);

}  // namespace blecrypt::link::bluez
