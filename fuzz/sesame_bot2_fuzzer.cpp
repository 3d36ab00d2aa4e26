// SESAME Bot 2 script parsers (bot2.hpp): a script and the script-name list. What parses must
// encode and parse back to the same value; nothing may crash on any input.
#include <cstdlib>

#include "blecrypt/sesame/bot2.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  const ByteView in(data, size);
  if (auto s = Bot2Script::parse(in)) {
    auto enc = s->encode();
    if (!enc) std::abort();
    auto back = Bot2Script::parse(*enc);
    if (!back || !(*back == *s)) std::abort();
  }
  if (auto l = Bot2ScriptList::parse(in)) {
    auto back = Bot2ScriptList::parse(l->encode());
    if (!back || !(*back == *l)) std::abort();
  }
  return 0;
}
