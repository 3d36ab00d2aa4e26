// Frames, records, reassembly and advertisement classification for the BLUETTI link.
#include "blecrypt/bluetti/protocol.hpp"

#include <algorithm>
#include <string>

namespace blecrypt::bluetti {

namespace {

class BluettiCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.bluetti"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::frame_truncated: return "bluetti frame: `**` frame truncated (shorter than 6 bytes or than its length byte N + 6)";
      case Errc::frame_bad_magic: return "bluetti frame: does not start with the magic 2A 2A";
      case Errc::frame_length_mismatch: return "bluetti frame: size differs from length byte N + 6";
      case Errc::frame_bad_checksum: return "bluetti frame: 16-bit checksum (type + N + payload) mismatch";
      case Errc::frame_unexpected_type: return "bluetti frame: frame type not expected at this handshake step";
      case Errc::frame_bad_payload: return "bluetti frame: payload length wrong for the frame type";
      case Errc::record_truncated: return "bluetti record: shorter than its header";
      case Errc::record_length_invalid: return "bluetti record: length field L is 0 or disagrees with the record size (header + pad16(L))";
      case Errc::record_too_long: return "bluetti record: length field announces more than the largest legal record (262 bytes)";
      case Errc::record_bad_padding: return "bluetti record: handshake record padding bytes are not zero (wrong key or corrupted)";
      case Errc::record_unexpected: return "bluetti record: encrypted record received before any key exists";
      case Errc::challenge_mismatch: return "bluetti handshake: CHALLENGE_RESPONSE does not match MD5(reversed challenge)[8..11]";
      case Errc::challenge_rejected: return "bluetti handshake: device sent CHALLENGE_ACCEPTED with a non-zero status";
      case Errc::device_signature_invalid: return "bluetti handshake: DEVICE_PUBKEY signature does not verify with the configured device verification key";
      case Errc::client_signature_invalid: return "bluetti handshake: CLIENT_PUBKEY signature does not verify with the L1 public key";
      case Errc::peer_key_invalid: return "bluetti handshake: peer ephemeral key is not a valid P-256 point";
      case Errc::pubkey_rejected: return "bluetti handshake: device sent PUBKEY_ACCEPTED with a non-zero status";
      case Errc::unexpected_message: return "bluetti handshake: message out of order for the current step";
      case Errc::not_established: return "bluetti session: no session key yet (handshake not complete)";
      case Errc::handshake_failed: return "bluetti session: the handshake failed earlier; reset() and reconnect";
      case Errc::timeout: return "bluetti: deadline passed (handshake step or request)";
      case Errc::modbus_truncated: return "bluetti modbus: ADU too short for its function code";
      case Errc::modbus_bad_crc: return "bluetti modbus: CRC-16/MODBUS mismatch (corrupted record or wrong session key)";
      case Errc::modbus_bad_unit: return "bluetti modbus: unit id is not 0x01";
      case Errc::modbus_bad_function: return "bluetti modbus: function code not supported (3, 6, 16)";
      case Errc::modbus_bad_count: return "bluetti modbus: register count out of range (read 1..125, write 1..123)";
      case Errc::modbus_length_mismatch: return "bluetti modbus: byte count or ADU size disagrees with the register count";
      case Errc::modbus_exception: return "bluetti modbus: device answered with an exception response";
      case Errc::modbus_unexpected_response: return "bluetti modbus: response does not answer the outstanding request";
      case Errc::no_request_pending: return "bluetti modbus: response received while no request was outstanding";
      case Errc::invalid_key: return "bluetti config: key unusable (signing scalar 32 bytes in [1, n-1]; verify key 64 bytes X||Y on P-256)";
      case Errc::licence_denied: return "bluetti licence: IoT serial is not listed in the licence file";
      case Errc::licence_unreadable: return "bluetti licence: licence file unreadable or in BLUETTI's closed layout";
      case Errc::crypto_failure: return "bluetti: the crypto backend reported an error";
      case Errc::session_restarted: return "bluetti session: the unit sent a new CHALLENGE (the link restarted); requests of the old session get no answer";
      case Errc::link_down: return "bluetti: the link went down with this request in flight (on_link_down); a new handshake follows on_link_up";
      case Errc::write_not_confirmed: return "bluetti request: write not confirmed (no echo, and reading the register back gives another value)";
      case Errc::licence_too_large: return "bluetti licence: the licence file is larger than 4 MiB";
      case Errc::licence_not_regular: return "bluetti licence: the licence path is not a regular file (directory, device, FIFO or symbolic link)";
      case Errc::model_unknown: return "bluetti models: the model table has no such model";
      case Errc::field_unknown: return "bluetti models: the model has no field of that name";
      case Errc::field_not_settable: return "bluetti models: the field is read-only";
      case Errc::setting_invalid: return "bluetti models: the value is not valid for the field (number, on/off or one of its choices)";
      case Errc::setting_out_of_range: return "bluetti models: the value is outside the field's range";
      case Errc::pack_out_of_range: return "bluetti models: pack number outside 1..max_packs of the model";
      case Errc::request_unanswered: return "bluetti modbus: no answer to this request before the answer to a later one (EL30V2 reportedly does not echo FC06 writes: read the register back)";
    }
    return "bluetti: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const BluettiCategory instance;
  return instance;
}
std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

std::error_code as_bluetti_error(std::error_code e) noexcept {
  if (!e || &e.category() == &category()) return e;
  return make_error_code(Errc::crypto_failure);
}

// ---- constants ----------------------------------------------------------------------------

const std::array<std::uint8_t, 16> kLocalAesKey = {0x45, 0x9F, 0xC5, 0x35, 0x80, 0x89, 0x41, 0xF1,
                                                   0x70, 0x91, 0xE0, 0x99, 0x3E, 0xE3, 0xE9, 0x3D};
const std::array<std::uint8_t, 32> kPrivateKeyL1 = {
    0x4F, 0x19, 0xA1, 0x6E, 0x3E, 0x87, 0xBD, 0xD9, 0xBD, 0x24, 0xD3, 0xE5, 0x49, 0x5B, 0x88, 0x04,
    0x15, 0x11, 0x94, 0x3C, 0xBC, 0x8B, 0x96, 0x9A, 0xDE, 0x96, 0x41, 0xD0, 0xF5, 0x6A, 0xF3, 0x37};
const crypto::P256Raw kPublicKeyL1 = {
    0x3F, 0x29, 0xE1, 0xB8, 0xB2, 0x9D, 0x84, 0x22, 0xBB, 0xB0, 0xE0, 0xF0, 0x90, 0x00, 0xCF, 0x2E,
    0xE2, 0x93, 0x1D, 0xA1, 0x3C, 0xDA, 0xC8, 0x12, 0x9F, 0x8C, 0x09, 0xDE, 0xAC, 0x07, 0xF5, 0x19,
    0xB5, 0xAC, 0x55, 0x09, 0xCA, 0x3F, 0x3F, 0x59, 0xB2, 0x34, 0xB7, 0x77, 0x7A, 0x23, 0x1A, 0xE5,
    0x95, 0xCA, 0x5A, 0xA1, 0x74, 0x5F, 0xD7, 0xA6, 0x2B, 0xC4, 0xD0, 0x20, 0x37, 0x11, 0x7D, 0xD1};
const crypto::P256Raw kPublicKeyK2 = {
    0xA7, 0x3A, 0xBF, 0x5D, 0x22, 0x32, 0xC8, 0xC1, 0xC7, 0x2E, 0x68, 0x30, 0x43, 0x43, 0xC2, 0x72,
    0x49, 0x5E, 0x3A, 0x8F, 0xD6, 0xF3, 0x0E, 0xA9, 0x6D, 0xE2, 0xF4, 0xB3, 0xCE, 0x60, 0xB2, 0x51,
    0xEE, 0x21, 0xAC, 0x66, 0x7C, 0xF8, 0xA7, 0x1E, 0x18, 0xB4, 0x6B, 0x66, 0x4E, 0xAE, 0xFF, 0xE3,
    0xC4, 0x89, 0xF2, 0x4F, 0x69, 0x5B, 0x64, 0x11, 0xDB, 0x7E, 0x22, 0xCC, 0xC8, 0x5A, 0x85, 0x94};
const std::array<std::uint8_t, 32> kTestDeviceSigningKey = {
    0x62, 0x93, 0xd3, 0xb5, 0x54, 0xb2, 0x88, 0x90, 0x94, 0xe8, 0x57, 0x69, 0x4d, 0x97, 0x89, 0xd8,
    0xa3, 0xda, 0x03, 0x3f, 0x55, 0x54, 0xb1, 0xa5, 0xf7, 0xaf, 0x5c, 0x20, 0x48, 0x61, 0xf0, 0x7b};
const crypto::P256Raw kTestDevicePublicKey = {
    0x74, 0x93, 0xf4, 0x93, 0xbe, 0xa3, 0x3d, 0x4c, 0x86, 0x1d, 0x5d, 0xf7, 0xd3, 0x9d, 0x1d, 0x7b,
    0xfa, 0xfc, 0xf8, 0x35, 0xf3, 0x95, 0x07, 0x31, 0xe7, 0x12, 0xb6, 0xf2, 0xd9, 0xa6, 0xe3, 0xfa,
    0x20, 0x12, 0xdc, 0x3a, 0xf6, 0x5d, 0x30, 0xf1, 0x1c, 0xeb, 0x8c, 0x5c, 0x75, 0xa7, 0x55, 0x8c,
    0xe7, 0x17, 0x54, 0x96, 0xd3, 0xaf, 0xd0, 0xd2, 0x4c, 0x5d, 0x60, 0x05, 0xb7, 0x34, 0x8e, 0x43};

// ---- frames -------------------------------------------------------------------------------

std::uint16_t frame_checksum(std::uint8_t type, ByteView payload) noexcept {
  unsigned sum = type + static_cast<unsigned>(payload.size() & 0xFF);
  for (auto b : payload) sum += b;
  return static_cast<std::uint16_t>(sum & 0xFFFF);
}

Bytes encode_frame(std::uint8_t type, ByteView payload) {
  Bytes out;
  out.reserve(payload.size() + kFrameOverhead);
  out.push_back(kMagic);
  out.push_back(kMagic);
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(payload.size()));
  append(out, payload);
  const auto sum = frame_checksum(type, payload);
  out.push_back(static_cast<std::uint8_t>(sum >> 8));
  out.push_back(static_cast<std::uint8_t>(sum));
  return out;
}

Result<Frame> parse_frame(ByteView b) {
  if (b.size() < 2) return Errc::frame_truncated;
  if (!starts_with_magic(b)) return Errc::frame_bad_magic;
  if (b.size() < kFrameOverhead) return Errc::frame_truncated;
  const std::size_t n = b[3];
  if (b.size() < n + kFrameOverhead) return Errc::frame_truncated;
  if (b.size() != n + kFrameOverhead) return Errc::frame_length_mismatch;
  Frame f;
  f.type = b[2];
  f.payload.assign(b.begin() + 4, b.begin() + 4 + static_cast<std::ptrdiff_t>(n));
  if (frame_checksum(f.type, f.payload) != load_be16(&b[4 + n])) return Errc::frame_bad_checksum;
  return f;
}

// ---- handshake ----------------------------------------------------------------------------

HandshakeKeys derive_handshake_keys(crypto::Md5& md5, ByteView c) {
  std::array<std::uint8_t, 4> reversed{c[3], c[2], c[1], c[0]};
  auto digest = md5.digest(reversed);
  HandshakeKeys k{SecretBytes(ByteView(digest)), SecretBytes(16)};
  for (std::size_t i = 0; i < 16; ++i) k.key[i] = static_cast<std::uint8_t>(digest[i] ^ kLocalAesKey[i]);
  secure_wipe(digest.data(), digest.size());
  return k;
}

Result<HandshakeCipher> HandshakeCipher::create(const crypto::Backend& backend, const HandshakeKeys& keys) {
  auto cbc = backend.aes_cbc(keys.key);
  if (!cbc) return Errc::crypto_failure;
  HandshakeCipher h;
  h.cbc_ = std::move(*cbc);
  h.iv_ = keys.iv;
  return h;
}

namespace {

Result<std::size_t> record_plain_length(ByteView record, std::size_t header) {
  if (record.size() < header) return Errc::record_truncated;
  const std::size_t len = load_be16(record.data());
  if (len == 0) return Errc::record_length_invalid;
  if (header + pad16(len) > kMaxRecord) return Errc::record_too_long;
  if (record.size() != header + pad16(len)) return Errc::record_length_invalid;
  return len;
}

}  // namespace

Result<Bytes> HandshakeCipher::seal(ByteView plaintext) const {
  if (plaintext.empty() || kHandshakeHeader + pad16(plaintext.size()) > kMaxRecord) return Errc::record_length_invalid;
  Bytes out(kHandshakeHeader + pad16(plaintext.size()), 0);
  store_be16(out.data(), static_cast<std::uint16_t>(plaintext.size()));
  std::copy(plaintext.begin(), plaintext.end(), out.begin() + kHandshakeHeader);
  MutableByteView body(out.data() + kHandshakeHeader, out.size() - kHandshakeHeader);
  if (!cbc_->encrypt(iv_, body, body)) return Errc::crypto_failure;
  return out;
}

Result<Bytes> HandshakeCipher::open(ByteView record) const {
  auto len = record_plain_length(record, kHandshakeHeader);
  if (!len) return Unexpected{len.error()};
  Bytes plain(record.size() - kHandshakeHeader);
  if (!cbc_->decrypt(iv_, record.subspan(kHandshakeHeader), plain)) return Errc::crypto_failure;
  std::uint8_t pad_or = 0;
  for (std::size_t i = *len; i < plain.size(); ++i) pad_or |= plain[i];
  if (pad_or != 0) return Errc::record_bad_padding;
  plain.resize(*len);
  return plain;
}

Result<SessionCipher> SessionCipher::create(const crypto::Backend& backend, ByteView session_key) {
  auto cbc = backend.aes_cbc(session_key);
  if (!cbc || session_key.size() != 32) return Errc::crypto_failure;
  SessionCipher s;
  s.cbc_ = std::move(*cbc);
  s.md5_ = backend.md5();
  return s;
}

Result<Bytes> SessionCipher::seal(ByteView plaintext, crypto::Rng& rng) const {
  if (plaintext.empty() || kSessionHeader + pad16(plaintext.size()) > kMaxRecord) return Errc::record_length_invalid;
  Bytes out(kSessionHeader + pad16(plaintext.size()), 0);
  store_be16(out.data(), static_cast<std::uint16_t>(plaintext.size()));
  rng.fill(MutableByteView(out.data() + 2, 4));
  const auto iv = md5_->digest(ByteView(out.data() + 2, 4));
  std::copy(plaintext.begin(), plaintext.end(), out.begin() + kSessionHeader);
  MutableByteView body(out.data() + kSessionHeader, out.size() - kSessionHeader);
  if (!cbc_->encrypt(iv, body, body)) return Errc::crypto_failure;
  return out;
}

Result<Bytes> SessionCipher::open(ByteView record) const {
  auto len = record_plain_length(record, kSessionHeader);
  if (!len) return Unexpected{len.error()};
  const auto iv = md5_->digest(record.subspan(2, 4));
  Bytes plain(record.size() - kSessionHeader);
  if (!cbc_->decrypt(iv, record.subspan(kSessionHeader), plain)) return Errc::crypto_failure;
  plain.resize(*len);
  return plain;
}

// ---- reassembler --------------------------------------------------------------------------

void Reassembler::clear() noexcept {
  buf_.clear();
  need_.reset();
  probe_at_.reset();
}

bool Reassembler::is_late_handshake() const {
  if (probe_ == nullptr) return false;
  auto plain = probe_->open(buf_);
  if (!plain) return false;
  auto f = parse_frame(*plain);
  return f && f->type >= static_cast<std::uint8_t>(FrameType::device_pubkey) &&
         f->type <= static_cast<std::uint8_t>(FrameType::pubkey_accepted);
}

// Total size of the unit being collected once enough of its header is buffered.
std::optional<std::size_t> Reassembler::unit_size() const {
  if (buf_.size() < 2) return std::nullopt;
  if (buf_[0] == kMagic && buf_[1] == kMagic) {
    if (buf_.size() < 4) return std::nullopt;
    return buf_[3] + kFrameOverhead;
  }
  return header_ + pad16(load_be16(buf_.data()));
}

Result<std::optional<Reassembler::Unit>> Reassembler::next(ByteView& input) {
  while (!input.empty()) {
    if (!need_) {
      // Collect the header one byte at a time: at most 4 bytes decide the unit size.
      buf_.push_back(input.front());
      input = input.subspan(1);
      need_ = unit_size();
      if (!need_) continue;
      const bool is_frame = buf_[0] == kMagic && buf_[1] == kMagic;
      if (!is_frame) {
        const std::size_t len = load_be16(buf_.data());
        if (len == 0) {
          clear();
          return Errc::record_length_invalid;
        }
        if (*need_ > kMaxRecord) {
          clear();
          return Errc::record_too_long;
        }
      }
      if (!is_frame && probe_ != nullptr && header_ == kSessionHeader) {
        const std::size_t len = load_be16(buf_.data());
        if (len == 7 || len == 134) probe_at_ = kHandshakeHeader + pad16(len);  // PUBKEY_ACCEPTED, *_PUBKEY
      }
      if (buf_.capacity() < *need_) buf_.reserve(kMaxRecord);
    }
    const std::size_t target = probe_at_ ? *probe_at_ : *need_;
    const std::size_t take = std::min(input.size(), target - buf_.size());
    buf_.insert(buf_.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(take));
    input = input.subspan(take);
    if (probe_at_ && buf_.size() == *probe_at_) {
      probe_at_.reset();
      if (is_late_handshake()) {
        Unit u{false, buf_, true};
        buf_.clear();
        need_.reset();
        return std::optional<Unit>(std::move(u));
      }
      continue;
    }
    if (buf_.size() == *need_) {
      Unit u{buf_[0] == kMagic && buf_[1] == kMagic && buf_.size() >= kFrameOverhead, buf_};
      buf_.clear();
      need_.reset();
      return std::optional<Unit>(std::move(u));
    }
  }
  return std::optional<Unit>{};
}

// ---- advertisement ------------------------------------------------------------------------

const char* link_kind_name(LinkKind k) noexcept {
  switch (k) {
    case LinkKind::not_bluetti: return "not BLUETTI";
    case LinkKind::plaintext: return "BLUETTI plaintext (legacy Modbus)";
    case LinkKind::encrypted: return "BLUETTI encrypted (** handshake)";
  }
  return "?";
}

Result<Advertisement> classify_advertisement(ByteView ad) {
  Advertisement a;
  std::size_t i = 0;
  while (i < ad.size()) {
    const std::size_t len = ad[i];
    if (len == 0) break;  // early terminator: the rest is padding
    if (i + 1 + len > ad.size()) return Errc::frame_truncated;
    const std::uint8_t type = ad[i + 1];
    ByteView data = ad.subspan(i + 2, len - 1);
    if ((type == 0x02 || type == 0x03)) {
      for (std::size_t j = 0; j + 1 < data.size(); j += 2)
        if (load_le16(&data[j]) == 0xFF00) a.has_service_ff00 = true;
    } else if (type == 0x08 || type == 0x09) {
      a.name.assign(data.begin(), data.end());
    } else if (type == 0xFF && data.size() >= 2) {
      a.company_id = load_le16(data.data());
      std::string marker(data.begin() + 2, data.end());
      if (marker == "BLUETTI" || marker == "BLUETTF" || marker == "BLUETTE") a.marker = marker;
    }
    i += 1 + len;
  }
  // The official integration enables encryption for BLUETTF whatever the company ID; BLUETTE is
  // named "encrypted" in the reverse-engineered constants (no capture seen).
  if (a.marker == "BLUETTF" || a.marker == "BLUETTE") a.kind = LinkKind::encrypted;
  else if (a.marker == "BLUETTI") a.kind = LinkKind::plaintext;
  return a;
}

}  // namespace blecrypt::bluetti
