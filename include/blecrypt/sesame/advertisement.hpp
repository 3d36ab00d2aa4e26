// SESAME advertisement (spec §3): manufacturer data with company id 0x055A, product model u16 LE,
// status bits (registered, has unread history) and the 16-byte device UUID.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

inline constexpr std::uint16_t kCompanyId = 0x055A;
inline constexpr std::uint16_t kServiceUuid16 = 0xFD81;
inline constexpr std::string_view kWriteCharacteristic = "16860002-a5ae-9856-b6d3-dbb4c676993e";
inline constexpr std::string_view kNotifyCharacteristic = "16860003-a5ae-9856-b6d3-dbb4c676993e";
inline constexpr std::size_t kManufacturerDataSize = 21;  // company 2, model 2, status 1, uuid 16

using Uuid = std::array<std::uint8_t, 16>;  // RFC 4122 byte order

namespace model {
inline constexpr std::uint16_t sesame5 = 5;
inline constexpr std::uint16_t sesame5_pro = 7;
inline constexpr std::uint16_t sesame5_us = 16;
}  // namespace model

struct Advertisement {
  std::uint16_t model = model::sesame5;
  bool registered = false;    // status bit 0
  bool has_history = false;   // status bit 1 (unread history)
  std::uint8_t status = 0;    // the whole status byte (bits 2-7 undocumented, kept)
  Uuid uuid{};
};

// Manufacturer data starting at the company id (the bytes after AD type 0xFF).
Result<Advertisement> parse_manufacturer_data(ByteView data);
// A whole AD payload (Flags, UUIDs, manufacturer data ...): walks the AD structures; Errc::not_sesame
// when there is no manufacturer data with company 0x055A.
Result<Advertisement> parse_advertisement(ByteView ad_payload);

Bytes build_manufacturer_data(const Advertisement& adv);
// Flags 02 01 06, service UUID 03 03 81 FD, manufacturer data 16 FF ... (30 bytes).
Bytes build_advertisement(const Advertisement& adv);

// "SESAME 5", "SESAME 5 Pro", ... or "model N".
std::string model_name(std::uint16_t model);
// True for the OS3 lock models this stack drives (5, 7, 16).
bool is_os3_lock(std::uint16_t model);

// "8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f"; parse accepts with or without dashes.
std::string uuid_to_string(const Uuid& uuid);
Result<Uuid> uuid_from_string(std::string_view text);

}  // namespace blecrypt::sesame
