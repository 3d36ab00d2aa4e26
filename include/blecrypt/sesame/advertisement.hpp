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

// Product model codes (advertisement bytes 2-3, share-key byte 0). Source: CANDY HOUSE
// SesameSDK_Android_with_DemoApp, CHProductModel.productType() (sesame-sdk/.../CHDeivceProtocols.kt);
// 0-17 also in the vendor Bluetooth document. 18/19 follow the SDK (the vendor doc once named them "F2/F1").
namespace model {
inline constexpr std::uint16_t sesame3 = 0;          // OS2
inline constexpr std::uint16_t wifi_module2 = 1;
inline constexpr std::uint16_t bot1 = 2;             // OS2
inline constexpr std::uint16_t bike1 = 3;            // OS2
inline constexpr std::uint16_t sesame4 = 4;          // OS2
inline constexpr std::uint16_t sesame5 = 5;
inline constexpr std::uint16_t bike2 = 6;
inline constexpr std::uint16_t sesame5_pro = 7;
inline constexpr std::uint16_t open_sensor = 8;
inline constexpr std::uint16_t touch_pro = 9;
inline constexpr std::uint16_t touch = 10;
inline constexpr std::uint16_t ble_connector = 11;
inline constexpr std::uint16_t hub3 = 13;
inline constexpr std::uint16_t remote = 14;
inline constexpr std::uint16_t remote_nano = 15;
inline constexpr std::uint16_t sesame5_us = 16;
inline constexpr std::uint16_t bot2 = 17;
inline constexpr std::uint16_t face_pro = 18;
inline constexpr std::uint16_t face = 19;
inline constexpr std::uint16_t sesame6 = 20;
inline constexpr std::uint16_t sesame6_pro = 21;
inline constexpr std::uint16_t face_pro_ai = 22;
inline constexpr std::uint16_t face_ai = 23;
inline constexpr std::uint16_t open_sensor2 = 24;
inline constexpr std::uint16_t touch2 = 25;
inline constexpr std::uint16_t touch2_pro = 26;
inline constexpr std::uint16_t face2 = 27;
inline constexpr std::uint16_t face2_pro = 28;
inline constexpr std::uint16_t sesame_miwa = 29;
inline constexpr std::uint16_t face2_ai = 30;
inline constexpr std::uint16_t face2_pro_ai = 31;
inline constexpr std::uint16_t sesame6_pro_sliding_door = 32;
inline constexpr std::uint16_t bike3 = 33;
inline constexpr std::uint16_t bot3 = 35;
inline constexpr std::uint16_t hub3_lte = 36;
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
// What a model is (by the SDK's device classes): OS2 locks/bot/bike (0, 2, 3, 4); OS3 locks with a
// thumb-turn motor (5, 7, 16, 20, 21, 29, 32); Bot 2/3 and Bike 2/3 (3-byte mech status, their own
// registration layout); the credential accessories (Touch, Touch Pro, Face family: items 101-130);
// Remote / Remote nano / Open Sensor (accessories that hold lock keys, no credentials).
bool is_os2(std::uint16_t model);
bool is_lock_with_motor(std::uint16_t model);
bool is_bot_or_bike(std::uint16_t model);
bool is_credential_accessory(std::uint16_t model);
bool is_key_accessory(std::uint16_t model);  // holds lock keys (items 101-103): credential accessories, Remote, Open Sensor

// "8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f"; parse accepts with or without dashes.
std::string uuid_to_string(const Uuid& uuid);
Result<Uuid> uuid_from_string(std::string_view text);

}  // namespace blecrypt::sesame
