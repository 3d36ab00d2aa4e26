#include "blecrypt/sesame/credentials.hpp"

#include <algorithm>

#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/share_uri.hpp"

namespace blecrypt::sesame {

std::string credential_kind_name(CredentialKind k) {
  switch (k) {
    case CredentialKind::card: return "card";
    case CredentialKind::fingerprint: return "fingerprint";
    case CredentialKind::passcode: return "passcode";
  }
  return "credential";
}

CredentialItems credential_items(CredentialKind k) {
  const auto base = static_cast<std::uint8_t>(item::card_change + 8 * static_cast<unsigned>(k));
  return {base,
          static_cast<std::uint8_t>(base + 1),
          static_cast<std::uint8_t>(base + 2),
          static_cast<std::uint8_t>(base + 3),
          static_cast<std::uint8_t>(base + 4),
          static_cast<std::uint8_t>(base + 5),
          static_cast<std::uint8_t>(base + 6),
          static_cast<std::uint8_t>(base + 7)};
}

std::optional<CredentialKind> credential_kind_of_item(std::uint8_t it) {
  if (it < item::card_change || it > item::passcode_mode_set) return std::nullopt;
  return static_cast<CredentialKind>((it - item::card_change) / 8);
}

std::optional<Uuid> Credential::name_uuid() const {
  if (name.size() != 16) return std::nullopt;
  Uuid u{};
  std::copy(name.begin(), name.end(), u.begin());
  return u;
}

std::string Credential::describe() const {
  std::string s = "id " + to_hex(id);
  if (auto u = name_uuid()) return s + " name " + uuid_to_string(*u);
  if (!name.empty()) s += " name \"" + escape_control(std::string(name.begin(), name.end())) + "\"";
  return s;
}

namespace {
// id_len || id || name_len || name starting at b[0]; returns the bytes used.
Result<std::size_t> parse_id_name(ByteView b, Credential& c) {
  if (b.empty()) return Errc::credential_length;
  const std::size_t id_len = b[0];
  if (id_len == 0 || id_len > Credential::kMaxIdSize || 1 + id_len + 1 > b.size()) return Errc::credential_length;
  const std::size_t name_len = b[1 + id_len];
  if (name_len > Credential::kMaxNameSize || 2 + id_len + name_len > b.size()) return Errc::credential_length;
  c.id.assign(b.begin() + 1, b.begin() + 1 + static_cast<std::ptrdiff_t>(id_len));
  c.name.assign(b.begin() + 2 + static_cast<std::ptrdiff_t>(id_len),
                b.begin() + 2 + static_cast<std::ptrdiff_t>(id_len + name_len));
  return 2 + id_len + name_len;
}

void append_id_name(Bytes& out, const Credential& c) {
  const std::size_t id_len = std::min(c.id.size(), Credential::kMaxIdSize);
  const std::size_t name_len = std::min(c.name.size(), Credential::kMaxNameSize);
  out.push_back(static_cast<std::uint8_t>(id_len));
  out.insert(out.end(), c.id.begin(), c.id.begin() + static_cast<std::ptrdiff_t>(id_len));
  out.push_back(static_cast<std::uint8_t>(name_len));
  out.insert(out.end(), c.name.begin(), c.name.begin() + static_cast<std::ptrdiff_t>(name_len));
}

std::optional<Uuid> uuid_from_base64_name(ByteView name22) {
  for (std::uint8_t ch : name22)
    if (ch == 0 || ch > 0x7E) return std::nullopt;
  const std::string text(name22.begin(), name22.end());
  auto raw = base64_decode(text);
  if (!raw || raw->size() != 16) return std::nullopt;
  Uuid u{};
  std::copy(raw->begin(), raw->end(), u.begin());
  return u;
}
}  // namespace

Result<std::vector<Credential>> parse_credential_list(ByteView b) {
  if (b.empty()) return Errc::message_short;
  std::vector<Credential> out;
  std::size_t off = 0;
  while (off < b.size()) {
    Credential c;
    c.type = b[off];
    auto used = parse_id_name(b.subspan(off + 1), c);
    if (!used) return Unexpected{used.error()};
    off += 1 + *used;
    out.push_back(std::move(c));
  }
  return out;
}

Bytes encode_credential_entry(const Credential& c) {
  Bytes out{c.type};
  append_id_name(out, c);
  return out;
}

Result<Credential> parse_credential_change(ByteView b) {
  Credential c;
  auto used = parse_id_name(b, c);
  if (!used) return Unexpected{used.error()};
  if (*used != b.size()) return Errc::credential_length;  // trailing bytes: not this layout
  return c;
}

Bytes encode_credential_change(const Credential& c) {
  Bytes out;
  append_id_name(out, c);
  return out;
}

std::string key_slot_status_name(KeySlot::Status s) {
  static constexpr const char* names[] = {"unused",    "disconnected", "scanning", "connecting", "connected",
                                          "logged in", "locked",       "unlocked", "moved"};
  const auto i = static_cast<std::size_t>(s);
  if (i < std::size(names)) return names[i];
  return "status " + std::to_string(i);
}

std::string uuid_base64_name(const Uuid& uuid) {
  std::string s = base64_encode(uuid);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;  // 22 characters
}

void KeySlot::write(std::uint8_t* out) const {
  std::fill(out, out + kSize, std::uint8_t{0});
  if (empty()) return;
  if (os2) {
    const std::string name = uuid_base64_name(uuid);
    std::copy_n(name.begin(), std::min<std::size_t>(22, name.size()), out);
  } else {
    std::copy(uuid.begin(), uuid.end(), out);
  }
  out[22] = static_cast<std::uint8_t>(status);
}

Result<std::vector<KeySlot>> parse_key_slots(ByteView b) {
  if (b.empty() || b.size() % KeySlot::kSize != 0 || b.size() / KeySlot::kSize > KeySlot::kMaxSlots)
    return Errc::key_slot_length;
  std::vector<KeySlot> out;
  for (std::size_t off = 0; off < b.size(); off += KeySlot::kSize) {
    const ByteView e = b.subspan(off, KeySlot::kSize);
    KeySlot s;
    s.status = static_cast<KeySlot::Status>(e[22]);
    if (!s.empty()) {
      if (e[21] == 0) {
        std::copy_n(e.begin(), 16, s.uuid.begin());
      } else {
        auto u = uuid_from_base64_name(e.first(22));
        if (!u) return Errc::key_slot_garbled;
        s.os2 = true;
        s.uuid = *u;
      }
    }
    out.push_back(s);
  }
  return out;
}

Bytes encode_key_slots(const std::vector<KeySlot>& slots) {
  Bytes out(slots.size() * KeySlot::kSize);
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i].write(out.data() + i * KeySlot::kSize);
  return out;
}

Result<AddSesame> parse_add_sesame(ByteView b) {
  AddSesame a;
  if (b.size() == AddSesame::kOs3Size) {
    std::copy_n(b.begin(), 16, a.uuid.begin());
    a.secret = SecretBytes(b.subspan(16, 16));
    return a;
  }
  if (b.size() == AddSesame::kOs2Size) {
    auto u = uuid_from_base64_name(b.first(22));
    if (!u) return Errc::key_slot_garbled;
    a.os2 = true;
    a.uuid = *u;
    crypto::P256Raw pk{};
    std::copy_n(b.begin() + 22, pk.size(), pk.begin());
    a.public_key = pk;
    a.secret = SecretBytes(b.subspan(86, 16));
    return a;
  }
  return Errc::add_sesame_length;
}

Bytes encode_add_sesame(const AddSesame& a) {
  Bytes out;
  if (a.os2) {
    const std::string name = uuid_base64_name(a.uuid);
    out.assign(name.begin(), name.end());
    const crypto::P256Raw pk = a.public_key.value_or(crypto::P256Raw{});
    out.insert(out.end(), pk.begin(), pk.end());
  } else {
    out.assign(a.uuid.begin(), a.uuid.end());
  }
  const ByteView s = a.secret.view();
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

Result<Uuid> parse_remove_sesame(ByteView b) {
  if (b.size() == 16) {
    Uuid u{};
    std::copy(b.begin(), b.end(), u.begin());
    return u;
  }
  if (b.size() == 22) {
    auto u = uuid_from_base64_name(b);
    if (!u) return Errc::key_slot_garbled;
    return *u;
  }
  return Errc::add_sesame_length;
}

}  // namespace blecrypt::sesame
