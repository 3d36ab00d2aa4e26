// link::classify over arbitrary scanner reports. Input layout: name length byte, name, then
// repeated [company id u16 LE, length byte, data] manufacturer entries.
#include <cstddef>
#include <cstdint>

#include "blecrypt/link/advertisement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  std::size_t i = 0;
  std::string name;
  if (i < size) {
    const std::size_t n = data[i++];
    const std::size_t take = n < size - i ? n : size - i;
    name.assign(reinterpret_cast<const char*>(data + i), take);
    i += take;
  }
  link::ManufacturerData md;
  while (i + 3 <= size) {
    const std::uint16_t company = static_cast<std::uint16_t>(data[i] | (data[i + 1] << 8));
    const std::size_t n = data[i + 2];
    i += 3;
    const std::size_t take = n < size - i ? n : size - i;
    md[company] = Bytes(data + i, data + i + take);
    i += take;
  }
  const auto info = link::classify(name, md);
  (void)link::protocol_name(info.protocol);
  (void)link::bluetti_model_from_name(name);
  return 0;
}
