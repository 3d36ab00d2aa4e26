// See entities.hpp: the gateway's view of the BLUETTI model table.
#include "blecrypt/gateway/entities.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <utility>

#include "blecrypt/bluetti/errors.hpp"
#include "blecrypt/gateway/errors.hpp"

namespace blecrypt::gateway {

models::Component Entity::component() const noexcept { return describing().component; }

namespace {
std::string_view topic_name(const models::Field& f) { return f.mqtt_name.empty() ? f.name : f.mqtt_name; }
}  // namespace

std::vector<Entity> entities(const models::Model& m) {
  std::vector<Entity> out;
  out.reserve(m.fields.size());
  for (const auto& f : m.fields) {
    if (f.type == models::Type::cells) continue;
    const std::string_view name = topic_name(f);
    auto it = std::find_if(out.begin(), out.end(), [&](const Entity& e) { return e.name == name; });
    if (it == out.end()) {
      out.push_back(Entity{name, &f, f.settable ? &f : nullptr});
    } else if (f.settable && !it->command) {
      it->command = &f;
    }
  }
  return out;
}

const Entity* find_entity(std::span<const Entity> es, std::string_view name) noexcept {
  for (const auto& e : es)
    if (e.name == name) return &e;
  return nullptr;
}

// ---- refresh plan -------------------------------------------------------------------------------

bool is_live(const models::Field& f) noexcept {
  using models::Role;
  switch (f.role) {
    case Role::soc:
    case Role::dc_input_power:
    case Role::ac_input_power:
    case Role::ac_output_power:
    case Role::dc_output_power:
    case Role::ac_state:
    case Role::dc_state: return true;
    default: return false;
  }
}

RefreshPlan plan_refresh(const models::Model& m) {
  RefreshPlan p;
  // The first field of each live role (the AC300 also reads its AC output power at 73: the
  // block of 38 is enough to refresh it).
  std::vector<const models::Field*> live_fields;
  std::vector<models::Role> seen;
  for (const auto& f : m.fields)
    if (is_live(f) && std::find(seen.begin(), seen.end(), f.role) == seen.end()) {
      seen.push_back(f.role);
      live_fields.push_back(&f);
    }
  for (const auto& b : m.blocks) {
    const std::uint32_t b_end = std::uint32_t(b.address) + b.count;
    std::uint32_t lo = b_end, hi = b.address;
    bool live = false;
    for (const auto& f : m.fields) {
      const std::uint32_t f_end = std::uint32_t(f.address) + f.words;
      if (f.address < b.address || f_end > b_end) continue;
      lo = std::min<std::uint32_t>(lo, f.address);
      hi = std::max(hi, f_end);
      live = live || std::find(live_fields.begin(), live_fields.end(), &f) != live_fields.end();
    }
    if (lo >= hi) continue;
    const auto r = bluetti::modbus::Request::read(static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi - lo));
    p.full.push_back(r);
    if (live) p.live.push_back(r);
  }
  if (p.live.empty()) p.live = p.full;
  return p;
}

// ---- battery packs ------------------------------------------------------------------------------

PackPlan plan_packs(const models::Model& m) {
  using models::Role;
  PackPlan p;
  if (m.packs.max_packs == 0) return p;
  for (const auto& f : m.packs.fields) {
    const models::Field** slot = nullptr;
    switch (f.role) {
      case Role::pack_soc: slot = &p.percent; break;
      case Role::pack_voltage: slot = &p.voltage; break;
      case Role::pack_cells: slot = &p.cells; break;
      case Role::pack_selected: slot = &p.selected; break;
      default:
        if (f.mqtt_name == "pack_status" && f.type == models::Type::enumeration) slot = &p.status;
        break;
    }
    if (slot && !*slot) *slot = &f;
  }
  if (!p.status && !p.percent && !p.voltage && !p.cells) return PackPlan{};
  p.max_packs = m.packs.max_packs;
  // The pack number only matters where the unit pages (it names the page a read shows).
  if (m.packs.selector == 0) p.selected = nullptr;
  const models::Field* used[] = {p.selected, p.status, p.percent, p.voltage, p.cells};
  for (const auto& b : m.packs.blocks) {
    const std::uint32_t b_end = std::uint32_t(b.address) + b.count;
    std::uint32_t lo = b_end, hi = b.address;
    for (const auto* f : used) {
      if (!f) continue;
      const std::uint32_t f_end = std::uint32_t(f->address) + f->words;
      if (f->address < b.address || f_end > b_end) continue;
      lo = std::min<std::uint32_t>(lo, f->address);
      hi = std::max(hi, f_end);
    }
    if (lo < hi) p.reads.push_back(bluetti::modbus::Request::read(static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi - lo)));
  }
  // bluetti_mqtt's order (battery_pack_fields: status, voltage, percent).
  if (p.status) p.entities.push_back({"status", "pack_status", "Status", p.status});
  if (p.voltage) p.entities.push_back({"voltage", "pack_voltage", "Voltage", p.voltage});
  if (p.percent) p.entities.push_back({"percent", "pack_percent", "Percent", p.percent});
  return p;
}

std::string pack_details_name(unsigned pack) { return "pack_details" + std::to_string(pack); }

unsigned shown_pack(const PackPlan& p, unsigned asked, const bluetti::RegisterValues& regs) {
  unsigned n = asked;
  if (p.selected)
    if (auto it = regs.find(p.selected->address); it != regs.end()) n = it->second;
  return n >= 1 && n <= p.max_packs ? n : 0;
}

// ---- payloads -----------------------------------------------------------------------------------

namespace {

// k when scale == 10^-k (k = 0..6), else -1.
int decimal_places(double scale) {
  double p = 1;
  for (int k = 0; k <= 6; ++k, p *= 10)
    if (std::fabs(scale * p - 1.0) < 1e-9) return k;
  return -1;
}

// raw / 10^k as Python prints Decimal(raw) / 10**k: exact, no trailing zeros ("230", "0.5", "-1.25").
std::string exact_decimal(std::int64_t raw, int k) {
  const bool negative = raw < 0;
  std::string digits = std::to_string(negative ? -static_cast<std::uint64_t>(raw) : static_cast<std::uint64_t>(raw));
  if (k > 0) {
    if (digits.size() <= static_cast<std::size_t>(k)) digits.insert(0, static_cast<std::size_t>(k) + 1 - digits.size(), '0');
    digits.insert(digits.size() - static_cast<std::size_t>(k), ".");
    while (digits.back() == '0') digits.pop_back();
    if (digits.back() == '.') digits.pop_back();
  }
  if (negative && digits != "0") digits.insert(0, "-");
  return digits;
}

// What Python's json.dumps prints for float(Decimal(raw) / 10**k): "53.8", "52.0", "3.35".
std::string python_float(std::int64_t raw, int k) {
  std::string s = exact_decimal(raw, k);
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

// A number of a pack field as bluetti_mqtt's JSON carries it: an int for unscaled fields
// (UintField), a float for scaled ones (DecimalField -> float()).
std::optional<std::string> json_number(const models::Field& f, std::uint16_t raw) {
  const std::int64_t v = f.type == models::Type::int16 ? std::int64_t(static_cast<std::int16_t>(raw)) : std::int64_t(raw);
  const int k = decimal_places(f.scale);
  if (k < 0) return std::nullopt;
  return k == 0 ? std::to_string(v) : python_float(v, k);
}

}  // namespace

std::string pack_details_payload(const PackPlan& p, const bluetti::RegisterValues& regs) {
  std::string out;
  auto add = [&](std::string_view key, const std::string& value) {
    out += out.empty() ? "{\"" : ",\"";
    out += key;
    out += "\":";
    out += value;
  };
  if (p.status)
    if (auto r = models::decode_field(*p.status, regs); r && !r->choice.empty()) add("status", "\"" + std::string(r->choice) + "\"");
  for (const auto& [key, f] : {std::pair<std::string_view, const models::Field*>{"percent", p.percent}, {"voltage", p.voltage}}) {
    if (!f) continue;
    auto it = regs.find(f->address);
    if (it == regs.end()) continue;
    if (auto n = json_number(*f, it->second)) add(key, *n);
  }
  if (p.cells && decimal_places(p.cells->scale) >= 0) {
    // Floats in bluetti_mqtt (DecimalArrayField -> float()), all cells or none.
    const int k = decimal_places(p.cells->scale);
    std::string list = "[";
    bool complete = true;
    for (std::uint16_t i = 0; i < p.cells->words && complete; ++i) {
      auto it = regs.find(static_cast<std::uint16_t>(p.cells->address + i));
      if (it == regs.end()) complete = false;
      else list += (i ? "," : "") + python_float(std::int64_t(it->second), k);
    }
    if (complete) add("voltages", list + "]");
  }
  if (!out.empty()) out += "}";
  return out;
}

std::string state_payload(const models::Reading& r) {
  using models::Type;
  if (!r.field) return models::to_text(r);
  const auto& f = *r.field;
  switch (f.type) {
    case Type::boolean:
    case Type::boolean_one: return std::get<bool>(r.value) ? "ON" : "OFF";
    case Type::enumeration: return r.choice.empty() ? std::to_string(r.raw) : std::string(r.choice);
    case Type::uint16:
    case Type::int16:
    case Type::uint32: {
      const std::int64_t raw = f.type == Type::int16 ? std::int64_t(static_cast<std::int16_t>(r.raw)) : std::int64_t(r.raw);
      if (const int k = decimal_places(f.scale); k >= 0) return exact_decimal(raw, k);
      return models::to_text(r);
    }
    case Type::version: return exact_decimal(std::int64_t(r.raw), 2);
    case Type::serial: return std::to_string(std::get<std::uint64_t>(r.value));
    case Type::ascii:
    case Type::ascii_swapped:
    case Type::cells: break;
  }
  return models::to_text(r);
}

std::string value_payload(const models::Field& f, std::uint16_t raw) {
  const bluetti::RegisterValues regs{{f.address, raw}};
  if (f.words == 1)
    if (auto r = models::decode_field(f, regs)) return state_payload(*r);
  return std::to_string(raw);
}

std::string label(std::string_view name) {
  static constexpr std::array<std::string_view, 14> kUpper{"ac", "dc", "soc", "ups", "led", "eco", "pv", "bms", "bcu", "bmu", "dsp", "arm", "sn", "wifi"};
  std::string out;
  std::size_t i = 0;
  while (i <= name.size()) {
    const auto j = std::min(name.find('_', i), name.size());
    const std::string_view w = name.substr(i, j - i);
    if (!w.empty()) {
      if (!out.empty()) out += ' ';
      const bool upper = std::find(kUpper.begin(), kUpper.end(), w) != kUpper.end();
      for (std::size_t k = 0; k < w.size(); ++k)
        out += (upper || k == 0) ? static_cast<char>(std::toupper(static_cast<unsigned char>(w[k]))) : w[k];
    }
    i = j + 1;
  }
  return out;
}

std::string display_name(const Entity& e) {
  for (const auto* f : {e.command, e.state})
    if (f && !f->ha_name.empty()) return std::string(f->ha_name);
  return label(e.name);
}

Result<std::uint16_t> parse_command_payload(const Entity& e, ByteView payload) {
  if (!e.command) return Errc::field_read_only;
  if (payload.empty() || payload.size() > kMaxCommandPayload) return Errc::payload_invalid;
  for (auto b : payload)
    if (b < 0x21 || b > 0x7E) return Errc::payload_invalid;
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  auto raw = models::parse_setting(*e.command, text);
  if (raw) return *raw;
  if (raw.error() == make_error_code(bluetti::Errc::setting_out_of_range)) return Errc::value_out_of_range;
  if (raw.error() == make_error_code(bluetti::Errc::field_not_settable)) return Errc::field_read_only;
  return Errc::payload_invalid;
}

}  // namespace blecrypt::gateway
