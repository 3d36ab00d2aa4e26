// Shared helpers of the CLI edge (cli.hpp) that do not belong to one verb: kept out of main.cpp
// so the tests can link them (tests/cli).
#include "cli.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

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

std::string json_ascii_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return out;
}

}  // namespace blecrypt::cli
