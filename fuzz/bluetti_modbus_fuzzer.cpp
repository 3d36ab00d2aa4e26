// Modbus RTU parser (requests and responses): typed errors only, and whatever parses re-encodes to
// the same bytes.
#include <cstdlib>

#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/modbus.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::bluetti;
  const ByteView in(data, size);
  if (auto req = modbus::parse_request(in)) {
    auto enc = modbus::encode_request(*req);
    if (!enc || *enc != Bytes(in.begin(), in.end())) std::abort();
    static auto station = *PowerStation::create("AC180");
    (void)station.handle(*req, TimePoint{});
  }
  if (auto resp = modbus::parse_response(in)) {
    if (modbus::encode_response(*resp) != Bytes(in.begin(), in.end())) std::abort();
  }
  return 0;
}
