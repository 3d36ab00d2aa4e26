// Shared helpers of the CLI edge (cli.hpp) that do not belong to one verb: kept out of main.cpp
// so the tests can link them (tests/cli).
#include "cli.hpp"

#include <algorithm>
#include <charconv>

namespace blecrypt::cli {

CLI::Validator decimal(std::uint64_t min, std::uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        if (text.empty() || text.size() > 20 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
          return "'" + text + "' is not a decimal number";
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
          return "'" + text + "' is outside " + std::to_string(min) + ".." + std::to_string(max);
        text = std::to_string(v);  // no leading zeros left for the parser to read as octal
        return {};
      },
      "DECIMAL " + std::to_string(min) + ".." + std::to_string(max));
}

}  // namespace blecrypt::cli
