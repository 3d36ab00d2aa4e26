// Which protocol a BLE advertisement belongs to, from what a scanner reports per device: the name,
// the manufacturer data (company id -> bytes, BlueZ `ManufacturerData` a{qv}, bleak
// `AdvertisementData.manufacturer_data`) and the service data (UUID -> bytes). Shared by the BlueZ
// scanner (`blecrypt scan`) and, through the bindings, by Python scanners.
//
//   BLUETTI: manufacturer data whose bytes after the company id are "BLUETTI" (plaintext Modbus)
//            or "BLUETTF"/"BLUETTE" (encrypted link), docs/bluetti.md section 2; the model is the
//            name without its serial ("AC1802235000123456" -> "AC180").
//   SESAME:  manufacturer data with company 0x055A (docs/sesame.md, spec section 3): model,
//            registered bit, has-history bit.
//   other:   anything else. classify() never fails: garbled data classifies as `other`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "blecrypt/bytes.hpp"

namespace blecrypt::link {

enum class Protocol : std::uint8_t { other, bluetti, sesame };

using ManufacturerData = std::map<std::uint16_t, Bytes>;  // company id -> data after the id
using ServiceData = std::map<std::string, Bytes>;         // service UUID -> data

struct AdvertisementInfo {
  Protocol protocol = Protocol::other;
  std::string model;                // "AC180", "SESAME 5", "" when unknown
  std::optional<bool> encrypted;    // BLUETTI: the link is encrypted (BLUETTF/BLUETTE)
  std::optional<bool> registered;   // SESAME: the lock has an owner
  std::optional<bool> has_history;  // SESAME: unread history entries
};

AdvertisementInfo classify(std::string_view name, const ManufacturerData& manufacturer_data,
                           const ServiceData& service_data = {});

// "bluetti", "sesame", "other" (the JSON spelling of `blecrypt scan --json`).
const char* protocol_name(Protocol p) noexcept;

// The BLUETTI model in an advertised name: the longest known model prefix, else the name without
// a trailing serial of 8+ digits; "" when nothing model-like remains.
std::string bluetti_model_from_name(std::string_view name);

}  // namespace blecrypt::link
