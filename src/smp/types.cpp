// Names of the SMP vocabulary and the address text form.
#include "blecrypt/smp/types.hpp"

#include <algorithm>
#include <cstdio>

namespace blecrypt::smp {

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::just_works: return "just_works";
    case Method::numeric_comparison: return "numeric_comparison";
    case Method::passkey: return "passkey";
    case Method::oob: return "oob";
  }
  return "?";
}

std::string_view io_capability_name(IoCapability io) noexcept {
  switch (io) {
    case IoCapability::display_only: return "display_only";
    case IoCapability::display_yes_no: return "display_yes_no";
    case IoCapability::keyboard_only: return "keyboard_only";
    case IoCapability::no_input_no_output: return "no_input_no_output";
    case IoCapability::keyboard_display: return "keyboard_display";
  }
  return "?";
}

std::optional<IoCapability> parse_io_capability(std::string_view s) noexcept {
  for (int i = 0; i < kIoCapabilities; ++i) {
    auto io = static_cast<IoCapability>(i);
    if (s == io_capability_name(io) || (s.size() == 1 && s[0] == '0' + i)) return io;
  }
  return std::nullopt;
}

std::string_view security_level_name(SecurityLevel l) noexcept {
  switch (l) {
    case SecurityLevel::no_access: return "NO_ACCESS";
    case SecurityLevel::open: return "OPEN";
    case SecurityLevel::just_works: return "JUST_WORKS";
    case SecurityLevel::mitm: return "MITM";
    case SecurityLevel::lesc_mitm: return "LESC_MITM";
  }
  return "?";
}

std::string Address::to_string() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02X:%02X:%02X:%02X:%02X:%02X/%s", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                bytes[5], type ? "random" : "public");
  return buf;
}

std::optional<Address> Address::parse(std::string_view text) {
  Address a;
  auto slash = text.find('/');
  std::string_view hexpart = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto t = text.substr(slash + 1);
    if (t == "public") a.type = 0;
    else if (t == "random") a.type = 1;
    else return std::nullopt;
  }
  if (hexpart.size() != 17) return std::nullopt;
  auto b = from_hex(hexpart);
  if (!b || b->size() != 6) return std::nullopt;
  std::copy(b->begin(), b->end(), a.bytes.begin());
  return a;
}

}  // namespace blecrypt::smp
