// smp::Address::parse, the hex parser and the IO capability parser the edges use, and the
// escaping of echoed peer-protocol input.
// Invariants: no crash; what parses prints back to a text that parses to the same value;
// escape_line() output is printable ASCII only.
#include <cstdlib>
#include <string>

#include "blecrypt/bytes.hpp"
#include "blecrypt/smp/engine.hpp"
#include "blecrypt/smp/peer_protocol.hpp"

using namespace blecrypt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto a = smp::Address::parse(text)) {
    const auto printed = a->to_string();
    auto back = smp::Address::parse(printed);
    if (!back || !(*back == *a) || back->to_string() != printed) std::abort();
  }
  if (auto b = from_hex(text)) {
    auto back = from_hex(to_hex(*b));
    if (!back || *back != *b) std::abort();
  }
  if (auto io = smp::parse_io_capability(text)) {
    if (smp::parse_io_capability(smp::io_capability_name(*io)) != io) std::abort();
  }
  for (char ch : smp::escape_line(text))
    if (ch < 0x20 || ch > 0x7e) std::abort();
  return 0;
}
