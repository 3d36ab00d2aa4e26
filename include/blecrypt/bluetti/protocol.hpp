// BLUETTI encrypted link ("**" protocol, 2025 firmware): public constants, the `**` KEX
// frame codec, handshake and session record codecs, the reassembler and advertisement
// classification. Spec: docs/specs/bluetti.md (section numbers below refer to it).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blecrypt/bluetti/errors.hpp"
#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"

namespace blecrypt::bluetti {

// ---- constants (spec section 9) -----------------------------------------------------------

inline constexpr std::uint8_t kMagic = 0x2A;
inline constexpr std::size_t kFrameOverhead = 6;          // 2A 2A type N ... sum_hi sum_lo
inline constexpr std::size_t kHandshakeHeader = 2;        // L
inline constexpr std::size_t kSessionHeader = 6;          // L + seed
inline constexpr std::size_t kMaxRecord = 262;            // 6 + 256: read of 125 / write of 123
inline constexpr std::uint8_t kModbusUnit = 0x01;

enum class FrameType : std::uint8_t {
  challenge = 0x01,
  challenge_response = 0x02,
  challenge_accepted = 0x03,
  device_pubkey = 0x04,
  client_pubkey = 0x05,
  pubkey_accepted = 0x06,
};

extern const std::array<std::uint8_t, 16> kLocalAesKey;        // XOR mask for K_h
extern const std::array<std::uint8_t, 32> kPrivateKeyL1;        // client signing scalar (public)
extern const crypto::P256Raw kPublicKeyL1;                      // derived from L1
extern const crypto::P256Raw kPublicKeyK2;                      // real devices' verification key
// The emulator's documented test signing key (NOT a real device key): scalar =
// SHA-256("blecrypt bluetti emulator test key v1"); its public key is kTestDevicePublicKey.
extern const std::array<std::uint8_t, 32> kTestDeviceSigningKey;
extern const crypto::P256Raw kTestDevicePublicKey;

// ---- `**` KEX frames (section 3) ----------------------------------------------------------

struct Frame {
  std::uint8_t type = 0;
  Bytes payload;
};

// (type + N + payload) mod 65536.
std::uint16_t frame_checksum(std::uint8_t type, ByteView payload) noexcept;
// payload.size() <= 255.
Bytes encode_frame(std::uint8_t type, ByteView payload);
inline Bytes encode_frame(FrameType t, ByteView payload) { return encode_frame(static_cast<std::uint8_t>(t), payload); }
// Exactly one frame: magic, length byte honoured (size must be N + 6), checksum verified.
Result<Frame> parse_frame(ByteView bytes);
inline bool starts_with_magic(ByteView b) { return b.size() >= 2 && b[0] == kMagic && b[1] == kMagic; }

// ---- handshake keys and records (sections 4, 5.1) -----------------------------------------

// IV_h = MD5(c3 c2 c1 c0), K_h = IV_h XOR LOCAL_AES_KEY.
struct HandshakeKeys {
  SecretBytes iv;   // 16
  SecretBytes key;  // 16
};
HandshakeKeys derive_handshake_keys(crypto::Md5& md5, ByteView challenge4);

inline std::size_t pad16(std::size_t n) { return (n + 15) / 16 * 16; }

// AES-128-CBC(K_h, IV_h), restarted for every record, zero padding, 2-byte length header.
class HandshakeCipher {
 public:
  static Result<HandshakeCipher> create(const crypto::Backend& backend, const HandshakeKeys& keys);
  Result<Bytes> seal(ByteView plaintext) const;
  // Exactly one record; the padding must be zero.
  Result<Bytes> open(ByteView record) const;

 private:
  std::unique_ptr<crypto::AesCbc> cbc_;
  SecretBytes iv_;
};

// AES-256-CBC(K_s, MD5(seed)), 4-byte random seed per record, zero padding, 6-byte header.
class SessionCipher {
 public:
  static Result<SessionCipher> create(const crypto::Backend& backend, ByteView session_key);
  Result<Bytes> seal(ByteView plaintext, crypto::Rng& rng) const;
  // Exactly one record. The padding is not checked (no implementation does); integrity rests on
  // the Modbus CRC inside.
  Result<Bytes> open(ByteView record) const;

 private:
  std::unique_ptr<crypto::AesCbc> cbc_;
  std::unique_ptr<crypto::Md5> md5_;
};

// ---- reassembler (section 7) --------------------------------------------------------------

// Cuts a byte stream (notifications or writes split anywhere, several units per chunk) into whole
// units: a `**` frame when a unit starts with 2A 2A, otherwise a length-prefixed record whose
// header size the engine sets (2 during the handshake, 6 once the session key exists). The
// buffer never holds more than kMaxRecord bytes.
class Reassembler {
 public:
  struct Unit {
    bool is_frame = false;
    Bytes bytes;
    bool late_handshake = false;  // a handshake record recognised by the probe (see below)
  };
  void set_header_size(std::size_t n) noexcept { header_ = n; }
  // Once the session is up, a late handshake record (a repeated DEVICE_PUBKEY / CLIENT_PUBKEY or
  // PUBKEY_ACCEPTED) can still arrive. Its 2-byte header read as a 6-byte one would swallow the
  // first bytes of the next record and desynchronise the stream. With a probe set, a record whose
  // L is the size of such a frame (7 or 134) is first tried as a handshake record once
  // 2 + pad16(L) bytes are in: if it decrypts with the probe to a valid `**` frame of type 04, 05
  // or 06 it is returned with `late_handshake` set, otherwise collection goes on to 6 + pad16(L).
  // The probe must outlive its use (the engine clears it before destroying the cipher).
  void set_late_handshake_probe(const HandshakeCipher* probe) noexcept { probe_ = probe; }
  std::size_t header_size() const noexcept { return header_; }
  // Consumes bytes from the front of `input` until one unit is complete (returned) or `input` is
  // empty (nullopt). On error the partial unit is dropped and the consumed bytes are lost.
  Result<std::optional<Unit>> next(ByteView& input);
  std::size_t buffered() const noexcept { return buf_.size(); }
  void clear() noexcept;

 private:
  std::optional<std::size_t> unit_size() const;
  bool is_late_handshake() const;
  std::size_t header_ = kHandshakeHeader;
  Bytes buf_;
  std::optional<std::size_t> need_;
  std::optional<std::size_t> probe_at_;
  const HandshakeCipher* probe_ = nullptr;
};

// ---- advertisement (section 2) ------------------------------------------------------------

enum class LinkKind { not_bluetti, plaintext, encrypted };
struct Advertisement {
  LinkKind kind = LinkKind::not_bluetti;
  std::string marker;  // "BLUETTI", "BLUETTF", "BLUETTE" or ""
  std::string name;    // complete/short local name if present
  bool has_service_ff00 = false;
  std::optional<std::uint16_t> company_id;
};
// Raw advertising data (AD structures). Malformed AD lengths end parsing (typed error).
Result<Advertisement> classify_advertisement(ByteView ad);
const char* link_kind_name(LinkKind k) noexcept;

}  // namespace blecrypt::bluetti
