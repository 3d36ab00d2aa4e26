// The logic over the BLUETTI model table (models.hpp): lookup, decoding, setting encoding, pack
// paging and detection. The table itself is data in models_table.cpp.
#include "blecrypt/bluetti/models.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace blecrypt::bluetti::models {

const char* type_name(Type t) noexcept {
  switch (t) {
    case Type::uint16: return "uint16";
    case Type::int16: return "int16";
    case Type::uint32: return "uint32";
    case Type::boolean: return "bool";
    case Type::boolean_one: return "bool (1 = on)";
    case Type::enumeration: return "enum";
    case Type::ascii: return "string";
    case Type::ascii_swapped: return "string (swapped)";
    case Type::serial: return "serial";
    case Type::version: return "version";
    case Type::cells: return "cells";
  }
  return "?";
}

const char* component_name(Component c) noexcept {
  switch (c) {
    case Component::sensor: return "sensor";
    case Component::binary_sensor: return "binary_sensor";
    case Component::switch_: return "switch";
    case Component::select: return "select";
    case Component::number: return "number";
  }
  return "?";
}

const char* verified_name(Verified v) noexcept {
  switch (v) {
    case Verified::hardware: return "validated on a unit";
    case Verified::contributor: return "contributed by owners";
    case Verified::unverified: return "unverified";
  }
  return "?";
}

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

const Field* lookup(std::span<const Field> fields, std::string_view name) {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  for (const auto& f : fields)
    if (f.settable && !f.mqtt_name.empty() && f.mqtt_name == name) return &f;
  for (const auto& f : fields)
    if (!f.mqtt_name.empty() && f.mqtt_name == name) return &f;
  return nullptr;
}

// Decimal places that show `scale` exactly (0.1 -> 1, 0.0167 -> 4), at most 6.
int decimals(double scale) {
  for (int d = 0; d <= 6; ++d) {
    const double v = scale * std::pow(10.0, d);
    if (std::fabs(v - std::round(v)) < 1e-9) return d;
  }
  return 6;
}

std::string format_number(double v, double scale) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals(scale), v);
  return buf;
}

// The field's registers (at most kMaxFieldWords) into `out`; false when one is missing.
constexpr std::size_t kMaxFieldWords = 32;
bool words_of(const Field& f, const RegisterValues& regs, std::array<std::uint16_t, kMaxFieldWords>& out) {
  if (f.words == 0 || f.words > kMaxFieldWords || std::uint32_t(f.address) + f.words - 1 > 0xFFFF) return false;
  auto it = regs.find(f.address);
  for (std::size_t i = 0; i < f.words; ++i, ++it) {
    if (it == regs.end() || it->first != f.address + i) return false;
    out[i] = it->second;
  }
  return true;
}

Value scaled(std::int64_t raw, double scale) {
  if (scale == 1.0) return raw;
  return static_cast<double>(raw) * scale;
}

std::string json_escape(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

const Model* find(std::string_view name) noexcept {
  for (const auto& m : all())
    if (iequal(m.name, name)) return &m;
  return nullptr;
}

const Field* field(const Model& m, std::string_view name) noexcept { return lookup(m.fields, name); }
const Field* pack_field(const Model& m, std::string_view name) noexcept { return lookup(m.packs.fields, name); }

// ---- decoding ---------------------------------------------------------------------------

std::optional<Reading> decode_field(const Field& f, const RegisterValues& regs) {
  std::array<std::uint16_t, kMaxFieldWords> w{};
  if (!words_of(f, regs, w)) return std::nullopt;
  const std::size_t n = f.words;
  Reading r;
  r.field = &f;
  r.raw = w[0];
  switch (f.type) {
    case Type::uint16: r.value = scaled(w[0], f.scale); break;
    case Type::int16: r.value = scaled(static_cast<std::int16_t>(w[0]), f.scale); break;
    case Type::uint32: {
      if (n < 2) return std::nullopt;
      r.raw = std::uint32_t(w[0]) | (std::uint32_t(w[1]) << 16);
      r.value = scaled(r.raw, f.scale);
      break;
    }
    case Type::boolean:
      if (w[0] > 1) return std::nullopt;
      r.value = w[0] == 1;
      break;
    case Type::boolean_one: r.value = w[0] == 1; break;
    case Type::enumeration: {
      r.value = std::int64_t(w[0]);
      for (const auto& c : f.choices)
        if (c.value == w[0]) r.choice = c.name;
      break;
    }
    case Type::ascii: r.value = decode_model(Protocol::iot_v1, w.data(), n); break;
    case Type::ascii_swapped: r.value = decode_model(Protocol::iot_v2, w.data(), n); break;
    case Type::serial: {
      if (n < 4) return std::nullopt;
      const std::uint64_t sn = decode_serial(w.data());
      r.raw = static_cast<std::uint32_t>(sn);
      r.value = sn;
      break;
    }
    case Type::version: {
      if (n < 2) return std::nullopt;
      r.raw = std::uint32_t(w[0]) | (std::uint32_t(w[1]) << 16);
      r.value = static_cast<double>(r.raw) / 100.0;
      break;
    }
    case Type::cells: {
      std::vector<double> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(w[i]) * f.scale;
      r.value = std::move(v);
      break;
    }
  }
  return r;
}

std::vector<Reading> decode(const Model& m, const RegisterValues& regs) {
  std::vector<Reading> out;
  for (const auto& f : m.fields)
    if (auto r = decode_field(f, regs)) out.push_back(std::move(*r));
  return out;
}

std::vector<Reading> decode_pack(const Model& m, unsigned pack, const RegisterValues& regs) {
  std::vector<Reading> out;
  for (const auto& f : m.packs.fields)
    if (auto r = decode_field(f, regs)) {
      r->pack = pack;
      out.push_back(std::move(*r));
    }
  return out;
}

std::vector<Reading> decode_block(const Model& m, std::uint16_t address, std::span<const std::uint16_t> values) {
  RegisterValues regs;
  for (std::size_t i = 0; i < values.size() && std::uint32_t(address) + i <= 0xFFFF; ++i)
    regs[static_cast<std::uint16_t>(address + i)] = values[i];
  auto out = decode(m, regs);
  auto packs = decode_pack(m, 1, regs);
  out.insert(out.end(), packs.begin(), packs.end());
  return out;
}

std::string to_text(const Reading& r) {
  const double scale = r.field ? r.field->scale : 1.0;
  return std::visit(
      [&](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<V, std::int64_t> || std::is_same_v<V, std::uint64_t>) {
          if (!r.choice.empty()) return std::string(r.choice);
          return std::to_string(v);
        } else if constexpr (std::is_same_v<V, double>) {
          return format_number(v, r.field && r.field->type == Type::version ? 0.01 : scale);
        } else if constexpr (std::is_same_v<V, std::string>) {
          return v;
        } else {
          std::string s = "[";
          for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + format_number(v[i], scale);
          return s + "]";
        }
      },
      r.value);
}

std::string to_json(const Reading& r) {
  if (std::holds_alternative<std::string>(r.value)) return json_escape(std::get<std::string>(r.value));
  if (!r.choice.empty()) return json_escape(r.choice);
  return to_text(r);
}

// ---- encoding ---------------------------------------------------------------------------

namespace {
// A plain decimal number ("12", "23.5"): no sign, no exponent, no spaces. Fails on anything else.
std::optional<double> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  double v = 0, frac = 0.1;
  bool dot = false, digits = false;
  for (char c : s) {
    if (c == '.') {
      if (dot) return std::nullopt;
      dot = true;
    } else if (c >= '0' && c <= '9') {
      digits = true;
      if (dot) {
        v += (c - '0') * frac;
        frac /= 10;
      } else {
        v = v * 10 + (c - '0');
      }
    } else {
      return std::nullopt;
    }
  }
  if (!digits || s.back() == '.' || s.front() == '.') return std::nullopt;
  return v;
}
}  // namespace

Result<std::uint16_t> parse_setting(const Field& f, std::string_view text) {
  if (!f.settable) return Errc::field_not_settable;
  std::string t(text);
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  switch (f.type) {
    case Type::boolean:
    case Type::boolean_one:
      if (t == "on" || t == "true" || t == "1") return std::uint16_t{1};
      if (t == "off" || t == "false" || t == "0") return std::uint16_t{0};
      return Errc::setting_invalid;
    case Type::enumeration: {
      for (const auto& c : f.choices)
        if (iequal(c.name, text)) return c.value;
      auto n = parse_decimal(text);
      if (!n || *n != std::floor(*n)) return Errc::setting_invalid;
      for (const auto& c : f.choices)
        if (double(c.value) == *n) return c.value;
      return Errc::setting_invalid;
    }
    case Type::uint16: {
      auto n = parse_decimal(text);
      if (!n) return Errc::setting_invalid;
      const double raw = *n / f.scale;
      const double rounded = std::round(raw);
      if (std::fabs(raw - rounded) > 1e-6) return Errc::setting_invalid;  // not a multiple of the step
      if (rounded < f.min || rounded > f.max) return Errc::setting_out_of_range;
      return static_cast<std::uint16_t>(rounded);
    }
    default: return Errc::field_not_settable;
  }
}

Result<modbus::Request> encode_write(const Field& f, std::uint16_t raw) {
  if (!f.settable) return Errc::field_not_settable;
  switch (f.type) {
    case Type::boolean:
    case Type::boolean_one:
      if (raw > 1) return Errc::setting_out_of_range;
      break;
    case Type::enumeration: {
      const bool listed = std::any_of(f.choices.begin(), f.choices.end(), [&](const Choice& c) { return c.value == raw; });
      if (!listed) return Errc::setting_invalid;
      break;
    }
    case Type::uint16:
      if (raw < f.min || raw > f.max) return Errc::setting_out_of_range;
      break;
    default: return Errc::field_not_settable;
  }
  return modbus::Request::write(f.address, raw);
}

Result<modbus::Request> encode_write(const Model& m, std::string_view field_name, std::string_view text) {
  // A settable field of that name or bluetti_mqtt name first ("ac_output_on" names both the
  // V1 state register 48 and the switch 3007: a write means the switch).
  const Field* f = nullptr;
  for (const auto& x : m.fields)
    if (x.settable && (x.name == field_name || x.mqtt_name == field_name)) f = f ? f : &x;
  if (!f) f = field(m, field_name);
  if (!f) return Errc::field_unknown;
  auto raw = parse_setting(*f, text);
  if (!raw) return Unexpected{raw.error()};
  return encode_write(*f, *raw);
}

// ---- packs and polling --------------------------------------------------------------------

Result<modbus::Request> select_pack(const Model& m, unsigned pack) {
  if (m.packs.max_packs == 0 || pack < 1 || pack > m.packs.max_packs) return Errc::pack_out_of_range;
  if (m.packs.selector == 0) return Errc::field_not_settable;
  return modbus::Request::write(m.packs.selector, static_cast<std::uint16_t>(pack));
}

std::vector<modbus::Request> pack_requests(const Model& m) {
  std::vector<modbus::Request> out;
  for (const auto& b : m.packs.blocks) out.push_back(modbus::Request::read(b.address, b.count));
  return out;
}

std::vector<modbus::Request> poll_requests(const Model& m) {
  std::vector<modbus::Request> out;
  for (const auto& b : m.blocks) out.push_back(modbus::Request::read(b.address, b.count));
  return out;
}

// ---- detection ----------------------------------------------------------------------------

const Model* from_advertised_name(std::string_view name) noexcept {
  const Model* best = nullptr;
  for (const auto& m : all()) {
    if (name.size() <= m.name.size() || name.substr(0, m.name.size()) != m.name) continue;
    const auto rest = name.substr(m.name.size());
    if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    if (!best || m.name.size() > best->name.size()) best = &m;
  }
  return best;
}

std::string reported_type(const RegisterValues& regs) {
  std::uint16_t w[6];
  if (copy_registers(regs, kV2TypeRegister, 6, w)) {
    auto s = decode_model(Protocol::iot_v2, w, 6);
    if (find(s)) return s;
    if (!copy_registers(regs, kV1TypeRegister, 6, w)) return s;
  }
  if (copy_registers(regs, kV1TypeRegister, 6, w)) return decode_model(Protocol::iot_v1, w, 6);
  return "";
}

Result<Identity> identify(std::string_view advertised_name, const RegisterValues& regs) {
  Identity id;
  id.advertised = advertised_name.empty() ? nullptr : from_advertised_name(advertised_name);
  std::uint16_t w[6], sn[4];
  if (copy_registers(regs, kV2TypeRegister, 6, w)) {
    id.reported = decode_model(Protocol::iot_v2, w, 6);
    if (const Model* m = find(id.reported); m && m->protocol == Protocol::iot_v2) {
      id.model = m;
      id.protocol = Protocol::iot_v2;
      if (copy_registers(regs, 116, 4, sn)) id.serial = decode_serial(sn);
    }
  }
  if (!id.model && copy_registers(regs, kV1TypeRegister, 6, w)) {
    id.reported = decode_model(Protocol::iot_v1, w, 6);
    if (const Model* m = find(id.reported); m && m->protocol == Protocol::iot_v1) {
      id.model = m;
      id.protocol = Protocol::iot_v1;
      if (copy_registers(regs, 17, 4, sn)) id.serial = decode_serial(sn);
    }
  }
  if (!id.model) return Errc::model_unknown;
  id.confirmed = id.advertised == id.model;
  return id;
}

}  // namespace blecrypt::bluetti::models
