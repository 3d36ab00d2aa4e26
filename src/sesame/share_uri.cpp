#include "blecrypt/sesame/share_uri.hpp"

#include <algorithm>
#include <cctype>

namespace blecrypt::sesame {

namespace {
constexpr std::string_view kPrefix = "ssm://UI?";
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t kOs3Size = 1 + 16 + 4 + 2 + 16;  // 39
constexpr std::size_t kOs2Size = 99;

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Model codes per key layout (spec §3, §5.2): OS2 keys belong to models 0-4; OS3 keys to the
// later models 5-36 (12 and 34 are unassigned; the list is CHProductModel of the Android SDK,
// see model:: in advertisement.hpp).
bool os2_model(std::uint8_t m) { return m <= 4; }
bool os3_model(std::uint8_t m) { return m >= 5 && m <= 36 && m != 12 && m != 34; }
}  // namespace

// Keeps valid UTF-8 as it is and replaces each byte of an invalid sequence (stray continuation
// bytes, truncated or overlong sequences, surrogates, code points above U+10FFFF) by U+FFFD.
std::string sanitize_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* b = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = b[i];
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if (c < 0x80) len = 1, cp = c;
    else if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    bool valid = len > 0 && i + len <= n;
    for (std::size_t k = 1; valid && k < len; ++k) {
      if ((b[i + k] & 0xC0) != 0x80) valid = false;
      else cp = (cp << 6) | (b[i + k] & 0x3F);
    }
    if (valid && len > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) valid = false;
    if (!valid) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    out.append(in.substr(i, len));
    i += len;
  }
  return out;
}

std::string escape_control(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    // C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8.
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      const auto c1 = static_cast<unsigned char>(text[++i]);
      out += "\\u00";
      out.push_back(hex[c1 >> 4]);
      out.push_back(hex[c1 & 15]);
    } else if (c < 0x20 || c == 0x7F || c == '\\') {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return out;
}

std::string base64_encode(ByteView data) {
  std::string out;
  for (std::size_t i = 0; i < data.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < data.size()) v |= data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < data.size() ? kAlphabet[v & 63] : '=');
  }
  return out;
}

std::string ShareKey::level_name() const {
  switch (level) {
    case 0: return "owner";
    case 1: return "manager";
    case 2: return "guest";
    default: return "unknown";
  }
}

Result<ShareKey> parse_share_uri(std::string_view uri) {
  if (uri.substr(0, kPrefix.size()) != kPrefix) return Errc::uri_scheme;
  std::string_view query = uri.substr(kPrefix.size());
  std::optional<std::string> t, sk, l, n;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto value = percent_decode(raw, key == "n");
    if (!value) return Errc::uri_parameter;
    if (key == "t") t = *value;
    else if (key == "sk") sk = *value;
    else if (key == "l") l = *value;
    else if (key == "n") n = *value;
  }
  if (!t || *t != "sk" || !sk || sk->empty()) return Errc::uri_parameter;
  ShareKey key;
  if (l) {
    if (l->size() != 1 || (*l)[0] < '0' || (*l)[0] > '9') return Errc::uri_parameter;
    key.level = (*l)[0] - '0';
  }
  if (n) key.name = sanitize_utf8(*n);
  auto raw = base64_decode(*sk);
  if (!raw) return Errc::uri_base64;
  const Bytes& b = *raw;
  const bool layout_ok = (b.size() == kOs3Size && os3_model(b[0])) || (b.size() == kOs2Size && os2_model(b[0]));
  if ((b.size() == kOs3Size || b.size() == kOs2Size) && !layout_ok) {
    secure_wipe(raw->data(), raw->size());
    return Errc::uri_model;
  }
  if (b.size() == kOs3Size) {
    key.model = b[0];
    key.secret = SecretBytes(ByteView(b).subspan(1, 16));
    key.key_time = load_le32(b.data() + 17);
    key.key_index = load_le16(b.data() + 21);
    Uuid u{};
    std::copy_n(b.begin() + 23, 16, u.begin());
    key.uuid = u;
  } else if (b.size() == kOs2Size) {
    key.os2 = true;
    key.model = b[0];
    key.secret = SecretBytes(ByteView(b).subspan(1, 16));
    crypto::P256Raw pk{};
    std::copy_n(b.begin() + 17, 64, pk.begin());
    key.public_key = pk;
    // Bytes 81-82 key index, 83-98 device UUID (app ScanQRcodeFG.kt of SesameSDK_Android_with_DemoApp).
    key.key_index = load_le16(b.data() + 81);
    Uuid u{};
    std::copy_n(b.begin() + 83, 16, u.begin());
    key.uuid = u;
  } else {
    secure_wipe(raw->data(), raw->size());
    return Errc::uri_key_format;
  }
  secure_wipe(raw->data(), raw->size());
  return key;
}

std::string build_share_uri(std::uint8_t model, ByteView secret, const Uuid& uuid, int level, std::string_view name,
                            std::uint32_t key_time, std::uint16_t key_index) {
  Bytes b(23, 0);
  b[0] = model;
  const auto sec = secret.first(std::min<std::size_t>(16, secret.size()));
  std::copy(sec.begin(), sec.end(), b.begin() + 1);
  store_le32(b.data() + 17, key_time);
  store_le16(b.data() + 21, key_index);
  append(b, uuid);
  std::string uri = share_uri_from_key_bytes(b, level, name);
  secure_wipe(b.data(), b.size());
  return uri;
}

std::string share_uri_from_key_bytes(ByteView b, int level, std::string_view name) {
  std::string uri = std::string(kPrefix) + "t=sk&sk=";
  for (char c : base64_encode(b)) {
    if (c == '+') uri += "%2B";
    else if (c == '/') uri += "%2F";
    else if (c == '=') uri += "%3D";
    else uri.push_back(c);
  }
  uri += "&l=" + std::to_string(level) + "&n=";
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      uri.push_back(static_cast<char>(c));
    } else {
      uri.push_back('%');
      uri.push_back(hex[c >> 4]);
      uri.push_back(hex[c & 15]);
    }
  }
  return uri;
}

}  // namespace blecrypt::sesame
