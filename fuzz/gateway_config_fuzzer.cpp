// The gateway's YAML configuration parser (src/gateway/config.cpp): any text gives a config or issues.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "blecrypt/gateway/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  auto p = blecrypt::gateway::parse_config(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const auto& i : p.issues) (void)blecrypt::gateway::format_issue(i, "fuzz");
  return 0;
}
