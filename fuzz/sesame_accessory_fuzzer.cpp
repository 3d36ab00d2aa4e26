// SESAME accessory parsers (items 101-130): credential lists / change requests, key slots,
// ADD_SESAME / REMOVE_SESAME payloads and the compact Bot 2 / Bike 2 mech status. Never crash;
// whatever parses re-encodes to what parses back to the same value.
#include <cstdlib>

#include "blecrypt/sesame/credentials.hpp"
#include "blecrypt/sesame/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  const ByteView in(data, size);
  if (auto list = parse_credential_list(in)) {
    Bytes again;
    for (const auto& c : *list) {
      append(again, encode_credential_entry(c));
      (void)c.describe();
    }
    if (again != Bytes(in.begin(), in.end())) std::abort();
  }
  if (auto c = parse_credential_change(in); c && encode_credential_change(*c) != Bytes(in.begin(), in.end())) std::abort();
  if (auto slots = parse_key_slots(in)) {
    auto back = parse_key_slots(encode_key_slots(*slots));
    if (!back || *back != *slots) std::abort();
  }
  if (auto a = parse_add_sesame(in)) {
    auto back = parse_add_sesame(encode_add_sesame(*a));
    if (!back || back->uuid != a->uuid || !equal(back->secret, a->secret)) std::abort();
  }
  (void)parse_remove_sesame(in);
  if (auto s = MechStatus::parse_any(in); s && size == MechStatus::kCompactSize) {
    std::uint8_t out[MechStatus::kCompactSize];
    s->write_compact(out);
    auto back = MechStatus::parse_any(ByteView(out, sizeof out));
    if (!back || !(*back == *s)) std::abort();
  }
  return 0;
}
