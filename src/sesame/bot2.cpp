#include "blecrypt/sesame/bot2.hpp"

#include <algorithm>

namespace blecrypt::sesame {

Result<Bytes> Bot2Script::encode() const {
  if (name.empty() || name.size() > kNameField || actions.size() > kMaxActions) return Errc::invalid_argument;
  Bytes b(1 + kNameField + 1, 0);
  b[0] = static_cast<std::uint8_t>(name.size());
  std::copy(name.begin(), name.end(), b.begin() + 1);
  b[1 + kNameField] = static_cast<std::uint8_t>(actions.size());
  for (const auto& a : actions) {
    if (a.action > Bot2Action::sleep) return Errc::invalid_argument;
    b.push_back(a.action);
    b.push_back(a.time);
  }
  return b;
}

Result<Bot2Script> Bot2Script::parse(ByteView b) {
  if (b.size() < 1 + kNameField + 1) return Errc::script_format;
  const std::size_t n = b[0];
  if (n == 0 || n > kNameField) return Errc::script_format;
  const std::size_t count = b[1 + kNameField];
  if (count > kMaxActions || b.size() != 1 + kNameField + 1 + 2 * count) return Errc::script_format;
  Bot2Script s;
  s.name.assign(reinterpret_cast<const char*>(b.data() + 1), n);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t a = b[2 + kNameField + 2 * i], t = b[3 + kNameField + 2 * i];
    if (a > Bot2Action::sleep) return Errc::script_format;
    s.actions.push_back(Bot2Action{a, t});
  }
  return s;
}

Bytes Bot2ScriptList::encode() const {
  Bytes b{current, static_cast<std::uint8_t>(names.size())};
  for (const auto& name : names) {
    const std::size_t n = std::min(name.size(), Bot2Script::kNameField);
    b.push_back(static_cast<std::uint8_t>(n));
    const std::size_t at = b.size();
    b.resize(at + Bot2Script::kNameField, 0);
    std::copy_n(name.begin(), n, b.begin() + static_cast<std::ptrdiff_t>(at));
  }
  return b;
}

Result<Bot2ScriptList> Bot2ScriptList::parse(ByteView b) {
  if (b.size() < 2) return Errc::script_format;
  Bot2ScriptList l;
  l.current = b[0];
  const std::size_t count = b[1];
  if (l.current >= count || b.size() != 2 + count * (1 + Bot2Script::kNameField)) return Errc::script_format;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t* e = b.data() + 2 + i * (1 + Bot2Script::kNameField);
    if (e[0] > Bot2Script::kNameField) return Errc::script_format;
    l.names.emplace_back(reinterpret_cast<const char*>(e + 1), e[0]);
  }
  return l;
}

}  // namespace blecrypt::sesame
