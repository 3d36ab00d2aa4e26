// SESAME share-URI parser: never crashes; errors are sesame errors; an accepted key has a model of
// its layout and a name that is valid UTF-8 (invalid bytes became U+FFFD); escape_control leaves
// no control byte in what it returns.
#include <cstdlib>
#include <string>
#include <string_view>

#include "blecrypt/sesame/share_uri.hpp"

namespace {

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt::sesame;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The input as a whole URI, and as the tail of a valid one (reaches the name and level parsing).
  for (const std::string& uri : {std::string(text), "ssm://UI?t=sk&sk=BQABAgMEBQYHCAkKCwwNDg8A8VNlAQCMvj8Qa0xNHp96KjtMXW5%2F&n=" + std::string(text)}) {
    auto key = parse_share_uri(uri);
    if (!key) {
      if (key.error().category() != category()) std::abort();
      continue;
    }
    if (key->secret.size() != 16) std::abort();
    // Model codes of docs/sesame.md: OS2 0..4; OS3 5..36 except the unassigned 12 and 34.
    if (key->os2 ? key->model > 4 : (key->model < 5 || key->model > 36 || key->model == 12 || key->model == 34)) std::abort();
    if (!valid_utf8(key->name)) std::abort();
    for (char c : escape_control(key->name))
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) std::abort();
  }
  return 0;
}
