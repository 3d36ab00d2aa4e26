// The accessory side of the SESAME OS3 protocol (items 101-130): the lock keys a Touch / Touch Pro /
// Face / Remote / Open Sensor holds (ADD_SESAME 101, PUB_KEY_SESAME 102, REMOVE_SESAME 103) and the
// credentials of the Touch / Face family: cards (107-114), fingerprints (115-122), passcodes
// (123-130). Layouts: the vendor Bluetooth document (CANDY-HOUSE/Sesame_BluetoothAPI_document,
// SesameOS3/101..130) and, where the document and the shipping app differ, the Android SDK
// (CANDY-HOUSE/SesameSDK_Android_with_DemoApp: CHSesameBiometricDeviceImpl.handlePubKeySesame,
// CHCardEventHandler, CHSesameTouchCard). See docs/sesame.md, "Accessories".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/errors.hpp"

namespace blecrypt::sesame {

enum class CredentialKind : std::uint8_t { card = 0, fingerprint = 1, passcode = 2 };
std::string credential_kind_name(CredentialKind k);  // "card", "fingerprint", "passcode"

// The eight item codes of one credential kind (the three kinds are laid out alike, +8 apart).
struct CredentialItems {
  std::uint8_t change, del, get, notify, last, first, mode_get, mode_set;
};
CredentialItems credential_items(CredentialKind k);
// Which kind (and which of its items) an item code belongs to; nullopt outside 107-130.
std::optional<CredentialKind> credential_kind_of_item(std::uint8_t item);

// One card / fingerprint / passcode as the accessory lists it. `id` is the credential's identity
// on the accessory (card UID, fingerprint slot, passcode id); `name` is what the app stored, the
// current apps store a 16-byte UUID there ("new scheme: the device receives a 16-byte UUID as name").
struct Credential {
  std::uint8_t type = 0;  // card type / finger type / passcode type as the accessory reports it
  Bytes id;
  Bytes name;
  static constexpr std::size_t kMaxIdSize = 32;
  static constexpr std::size_t kMaxNameSize = 32;
  std::optional<Uuid> name_uuid() const;  // the name when it is 16 bytes
  std::string describe() const;            // "id 04a1b2c3 name 0011...-... " (hex id, UUID or escaped text)
  friend bool operator==(const Credential&, const Credential&) = default;
};

// Notify / change publish entry: type u8 || id_len u8 || id || name_len u8 || name. A notify
// publish (110/118/126) carries one or more entries back to back (Android CHCardEventHandler).
// Errors: credential_length (truncated, zero-length id, id/name above the maximum), message_short (empty).
Result<std::vector<Credential>> parse_credential_list(ByteView b);
Bytes encode_credential_entry(const Credential& c);
// Change request (107/115/123 from the app): id_len u8 || id || name_len u8 || name (vendor doc).
Result<Credential> parse_credential_change(ByteView b);
Bytes encode_credential_change(const Credential& c);

// One of the key slots an accessory publishes with item 102: 23 bytes = name 22 || status 1.
// Status 0 = empty slot. Name: an OS3 lock's 16-byte UUID followed by zeros (byte 21 == 0), or the
// 22 characters of an OS2 lock's base64 UUID (Android handlePubKeySesame).
struct KeySlot {
  enum class Status : std::uint8_t {
    unused = 0, disconnected = 1, scanning = 2, connecting = 3, connected = 4, logged_in = 5, locked = 6,
    unlocked = 7, moved = 8,
  };
  Status status = Status::unused;
  bool os2 = false;
  Uuid uuid{};
  static constexpr std::size_t kSize = 23;
  static constexpr std::size_t kMaxSlots = 32;
  bool empty() const { return status == Status::unused; }
  void write(std::uint8_t* out) const;  // kSize bytes
  friend bool operator==(const KeySlot&, const KeySlot&) = default;
};
std::string key_slot_status_name(KeySlot::Status s);
// Errors: key_slot_length (not a multiple of 23, empty, more than kMaxSlots), key_slot_garbled.
Result<std::vector<KeySlot>> parse_key_slots(ByteView b);
Bytes encode_key_slots(const std::vector<KeySlot>& slots);

// ADD_SESAME (101) payload: OS3 lock: uuid 16 || secret 16; OS2 lock: base64 uuid (22 ASCII
// characters) || public key 64 || secret 16 (Android CHDeviceConnectCapableImpl).
struct AddSesame {
  Uuid uuid{};
  SecretBytes secret;
  bool os2 = false;
  std::optional<crypto::P256Raw> public_key;  // OS2
  static constexpr std::size_t kOs3Size = 32, kOs2Size = 102;
};
Result<AddSesame> parse_add_sesame(ByteView b);  // Errors: add_sesame_length, key_slot_garbled
Bytes encode_add_sesame(const AddSesame& a);
// REMOVE_SESAME (103): OS3 uuid 16 bytes, or the OS2 form (22 base64 characters). Errors: add_sesame_length, key_slot_garbled.
Result<Uuid> parse_remove_sesame(ByteView b);

// The 22-character base64 form of a UUID (no padding) that OS2 locks use as their name.
std::string uuid_base64_name(const Uuid& uuid);

}  // namespace blecrypt::sesame
