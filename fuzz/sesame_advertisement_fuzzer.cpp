// SESAME advertisement parser: never crashes; anything it accepts rebuilds to the same fields.
#include <cstdlib>

#include "blecrypt/sesame/advertisement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  const ByteView in(data, size);
  auto a = parse_advertisement(in);
  if (a) {
    auto back = parse_advertisement(build_advertisement(*a));
    if (!back || back->model != a->model || back->uuid != a->uuid || back->registered != a->registered ||
        back->has_history != a->has_history)
      std::abort();
  } else if (a.error().category() != category()) {
    std::abort();
  }
  auto m = parse_manufacturer_data(in);
  if (m && build_manufacturer_data(*m) != Bytes(in.begin(), in.begin() + kManufacturerDataSize)) std::abort();
  return 0;
}
