// The open BLUETTI licence format (Licence::parse, bluetti_crypt.hpp) on arbitrary text.
// Invariants: no crash; a refusal says why in bounded printable ASCII (the reason quotes the file,
// and reaches terminals, last_error() and Python exceptions); an accepted licence written back as
// one decimal serial per line parses to the same set of serials.
#include <cstdlib>
#include <string>
#include <string_view>

#include "blecrypt/bluetti/bluetti_crypt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt::bluetti;
  if (size > 64 * 1024) return 0;  // the parser is linear; long inputs only slow the search
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto l = Licence::parse(text, &why);
  if (!l) {
    if (why.empty() || why.size() > 1024) std::abort();
    for (char ch : why)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) std::abort();
    return 0;
  }
  std::string again;
  for (auto sn : l->serials()) again += std::to_string(sn) + "\n";
  auto back = Licence::parse(again);
  if (!back || back->serials() != l->serials()) std::abort();
  for (auto sn : l->serials())
    if (!l->allows(sn)) std::abort();
  return 0;
}
