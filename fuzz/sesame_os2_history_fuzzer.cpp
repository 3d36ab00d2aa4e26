// SESAME OS2 application parsers added for history and settings: HistoryRecord2 (item 4 answer),
// BotSetting1 (bot 1 mech setting) and the 22-byte tag parser / encoder. Every parse that succeeds must
// re-encode to something that parses to the same value; nothing may crash on any input.
#include <cstdlib>
#include <string>

#include "blecrypt/sesame/os2.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  using namespace blecrypt::sesame::os2;
  const ByteView in(data, size);
  if (auto r = HistoryRecord2::parse(in)) {
    // encode() always writes the tag; a record read without one comes back with an empty tag.
    auto back = HistoryRecord2::parse(r->encode());
    if (!back || back->id != r->id || back->type != r->type || back->unix_ms != r->unix_ms || back->opaque != r->opaque)
      std::abort();
    if (back->tag.size() > kTag2MaxText + 2 * kTag2MaxText) std::abort();  // U+FFFD may triple a byte
  }
  if (auto b = BotSetting1::parse(in)) {
    if (!(BotSetting1::from(b->raw()) == *b)) std::abort();
  }
  if (auto text = parse_tag2(in)) {
    auto back = parse_tag2(encode_tag2(HistoryTag::from_text(*text)).value());
    if (!back) std::abort();
  }
  auto t = encode_tag2(HistoryTag::from_text(std::string(reinterpret_cast<const char*>(data), size)));
  if (!t || t->size() != kTag2Size || (*t)[0] > kTag2MaxText) std::abort();
  return 0;
}
