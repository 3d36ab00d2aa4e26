// The emulated BLUETTI power station (device.hpp), built from the model table (models.hpp).
#include <algorithm>
#include <cmath>
#include <iterator>

#include "blecrypt/bluetti/device.hpp"

namespace blecrypt::bluetti {

using models::Field;
using models::Role;
using models::Type;

namespace {

// Default serials: device serial and IoT (communication board) serial differ, as on real units.
// The first three are the emulator's historical ones (tests and docs quote them).
struct Serials {
  std::string_view model;
  std::uint64_t serial, iot;
};
constexpr Serials kKnownSerials[] = {
    {"AC180", 2524610159690ULL, 2524601159690ULL},
    {"EL30V2", 2527001100042ULL, 2527001000042ULL},
    {"EB3A", 2441001365385ULL, 2441000365385ULL},
};

// Per-pack SOC spread around the unit's SOC (packs of one unit drift apart a little).
constexpr int kPackSocOffset[] = {0, -3, 2, -5, 1, -2};

bool has_role(models::Role r, std::initializer_list<models::Role> any) {
  return std::find(any.begin(), any.end(), r) != any.end();
}

std::uint16_t clamp16(double v) { return static_cast<std::uint16_t>(std::clamp<double>(std::lround(v), 0, 0xFFFF)); }

const Field* field_at(const models::Model& m, std::uint16_t address) {
  for (const auto& f : m.fields)
    if (f.address == address) return &f;
  for (const auto& f : m.packs.fields)
    if (f.address == address) return &f;
  return nullptr;
}

// Cell voltages of pack `pack` (1-based) in centivolts: 3.20 V .. 3.35 V with the SOC, and a
// ±10 mV spread between cells.
std::vector<int> pack_cells_cv(int pack_soc, unsigned pack, std::size_t n) {
  std::vector<int> cv(n);
  for (std::size_t c = 0; c < n; ++c)
    cv[c] = 320 + pack_soc * 15 / 100 + static_cast<int>((c + pack) % 3) - 1;
  return cv;
}

}  // namespace

std::vector<std::string> PowerStation::models() {
  std::vector<std::string> out;
  for (const auto& m : models::all()) out.emplace_back(m.name);
  return out;
}

std::optional<PowerStation> PowerStation::create(std::string_view name) {
  const models::Model* m = models::find(name);
  if (!m) return std::nullopt;
  PowerStation p;
  p.table_ = m;
  p.model_ = std::string(m->name);
  p.protocol_ = m->protocol;
  p.capacity_wh_ = m->capacity_wh;
  p.base_ac_load_w_ = m->ac_load_w;
  p.base_dc_load_w_ = m->dc_load_w;
  p.solar_peak_w_ = m->solar_w;
  const auto& l = layout(p.protocol_);

  // The generation's core (spec section 6), for every model: identity, the legacy telemetry
  // registers and both output switches, so the 9-field telemetry API works on any model.
  std::uint16_t words[6];
  encode_model(p.protocol_, p.model_, words, 6);
  for (std::uint16_t i = 0; i < 6; ++i) p.define(static_cast<std::uint16_t>(l.model + i), words[i], false);
  for (std::uint16_t a : {l.soc, l.dc_in, l.ac_in, l.ac_out, l.dc_out}) p.define(a, 0, false);
  if (p.protocol_ == Protocol::iot_v2) {
    for (std::uint16_t a = 102; a <= 119; ++a) if (!p.get(a)) p.define(a, 0, false);
    for (std::uint16_t a = 140; a <= 146; ++a) if (!p.get(a)) p.define(a, 0, false);
    p.define(l.ac_switch_write, 0, true);
    p.define(l.dc_switch_write, 0, true);
    for (std::uint16_t a : {1213, 1214, 1300, 1314, 1500, 1511}) p.define(a, 0, false);
  } else {
    for (std::uint16_t a = 10; a <= 49; ++a) if (!p.get(a)) p.define(a, 0, false);
    p.define(l.ac_switch_write, 0, true);
    p.define(l.dc_switch_write, 0, true);
  }

  // The table: every field at its sample value (settable ones writable), then every register
  // of the poll and pack blocks (zero where no field is defined).
  auto place = [&](const Field& f) {
    if (f.role == Role::model_name || f.role == Role::serial) return;
    std::vector<std::uint16_t> v(f.words, 0);
    v[0] = f.sample;
    if (f.type == Type::ascii || f.type == Type::ascii_swapped) {
      const std::string text = f.name.find("wifi") != std::string_view::npos ? "BLUETTI-HOME" : "B300";
      encode_model(f.type == Type::ascii ? Protocol::iot_v1 : Protocol::iot_v2, text, v.data(), v.size());
    } else if (f.type == Type::serial) {
      encode_serial(2400000000000ULL + f.address, v.data());
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto a = static_cast<std::uint16_t>(f.address + i);
      auto it = p.regs_.find(a);
      const bool writable = f.settable || (it != p.regs_.end() && it->second.writable);
      p.define(a, v[i], writable);
    }
  };
  for (const auto& f : m->fields) place(f);
  for (const auto& f : m->packs.fields) place(f);
  auto fill = [&](std::span<const models::Block> blocks) {
    for (const auto& b : blocks)
      for (std::uint32_t a = b.address; a < std::uint32_t(b.address) + b.count && a <= 0xFFFF; ++a)
        if (!p.get(static_cast<std::uint16_t>(a))) p.define(static_cast<std::uint16_t>(a), 0, false);
  };
  fill(m->blocks);
  fill(m->packs.blocks);

  std::uint64_t sn = 0, iot = 0;
  for (const auto& k : kKnownSerials)
    if (k.model == m->name) sn = k.serial, iot = k.iot;
  if (sn == 0) {
    const auto index = static_cast<std::uint64_t>(m - models::all().data());
    sn = 2450000000000ULL + index * 1000003ULL;
    iot = sn - 9000000ULL;
  }
  p.set_serials(sn, iot);
  p.packs_installed_ = m->packs.max_packs;
  p.selected_pack_ = 1;
  p.energy_wh_ = p.capacity_wh_ * 0.8;
  p.refresh();
  return p;
}

void PowerStation::define(std::uint16_t address, std::uint16_t value, bool writable) { regs_[address] = {value, writable}; }

std::optional<std::uint16_t> PowerStation::get(std::uint16_t address) const {
  auto it = regs_.find(address);
  if (it == regs_.end()) return std::nullopt;
  return it->second.value;
}

void PowerStation::set_serials(std::uint64_t serial, std::uint64_t iot_serial) {
  serial_ = serial;
  iot_serial_ = iot_serial;
  std::uint16_t w[4];
  encode_serial(serial, w);
  for (std::uint16_t i = 0; i < 4; ++i) define(static_cast<std::uint16_t>(layout(protocol_).serial + i), w[i], false);
  encode_serial(iot_serial, w);
  for (std::uint16_t i = 0; i < 4; ++i) define(static_cast<std::uint16_t>(kIotSerialRegister + i), w[i], false);
}

// An output is on when its state register reads 1 (boolean_one fields: only 1; others: non-zero).
bool PowerStation::output_on(bool ac) const {
  const auto& l = layout(protocol_);
  const std::uint16_t a = ac ? l.ac_switch_state : l.dc_switch_state;
  const std::uint16_t v = get(a).value_or(0);
  if (table_)
    if (const Field* f = field_at(*table_, a); f && f->type == Type::boolean_one) return v == 1;
  return v != 0;
}

// Switches an output: the generation's state/switch registers and every table field that
// shows it (AC2P reads 3 for "off").
void PowerStation::set_output(bool ac, bool on) {
  const auto& l = layout(protocol_);
  auto off_value = [&](std::uint16_t a) -> std::uint16_t {
    const Field* f = table_ ? field_at(*table_, a) : nullptr;
    return f && f->type == Type::boolean_one ? 3 : 0;
  };
  for (std::uint16_t a : {ac ? l.ac_switch_state : l.dc_switch_state, ac ? l.ac_switch_write : l.dc_switch_write})
    if (regs_.count(a)) regs_[a].value = on ? 1 : off_value(a);
  if (!table_) return;
  for (const auto& f : table_->fields) {
    const bool mine = ac ? has_role(f.role, {Role::ac_state, Role::ac_switch}) : has_role(f.role, {Role::dc_state, Role::dc_switch});
    if (mine) regs_[f.address].value = on ? 1 : off_value(f.address);
  }
}

// The exception a write of `value` to `address` earns (nullopt: accepted): a setting outside its
// range or choices is refused like a Modbus slave refuses an illegal value.
std::optional<std::uint8_t> PowerStation::check_write(std::uint16_t address, std::uint16_t value) const {
  if (!table_) return std::nullopt;
  const Field* f = field_at(*table_, address);
  if (!f || !f->settable) return std::nullopt;
  if (f->type == Type::enumeration) {
    const bool listed = std::any_of(f->choices.begin(), f->choices.end(), [&](const models::Choice& c) { return c.value == value; });
    if (!listed) return modbus::illegal_value;
  } else if (f->type == Type::uint16 && (value < f->min || value > f->max)) {
    return modbus::illegal_value;
  }
  return std::nullopt;
}

void PowerStation::set_field(const Field& f, std::int64_t raw) {
  regs_[f.address].value = static_cast<std::uint16_t>(std::clamp<std::int64_t>(raw, 0, 0xFFFF));
}

std::optional<std::uint16_t> PowerStation::role_value(Role r) const {
  if (!table_) return std::nullopt;
  for (const auto& f : table_->fields)
    if (f.role == r) return get(f.address);
  return std::nullopt;
}

// Recomputes the figures from the switch states, the settings and the simulated time.
void PowerStation::refresh() {
  const auto& l = layout(protocol_);
  const double t = (epoch_ && last_) ? std::chrono::duration<double>(*last_ - *epoch_).count() : 0.0;
  const bool ac_on = output_on(true);
  const bool dc_on = output_on(false);
  // Deterministic wobble (no RNG): loads and solar vary over minutes.
  const double wobble = std::sin(t / 7.0);
  auto ac_out = static_cast<std::uint16_t>(ac_on ? base_ac_load_w_ + std::lround(10 * wobble) : 0);
  auto dc_out = static_cast<std::uint16_t>(dc_on ? base_dc_load_w_ + std::lround(2 * std::cos(t / 5.0)) : 0);
  auto dc_in = static_cast<std::uint16_t>(solar_peak_w_ * (0.6 + 0.2 * std::sin(t / 60.0)));
  std::uint16_t ac_in = 0;
  const double soc = std::clamp(energy_wh_ / capacity_wh_ * 100.0, 0.0, 100.0);
  const auto soc_pct = static_cast<std::uint16_t>(std::lround(soc));
  // The SOC range settings: no charging at or above the end, no discharging at or below the start.
  if (auto end = role_value(Role::soc_range_end); end && soc_pct >= *end) dc_in = ac_in = 0;
  if (auto start = role_value(Role::soc_range_start); start && soc_pct <= *start) ac_out = dc_out = 0;
  regs_[l.ac_out].value = ac_out;
  regs_[l.dc_out].value = dc_out;
  regs_[l.dc_in].value = dc_in;
  regs_[l.ac_in].value = ac_in;
  regs_[l.soc].value = soc_pct;
  if (protocol_ == Protocol::iot_v2) {
    regs_[1213].value = static_cast<std::uint16_t>(dc_in ? 362 : 0);                   // 36.2 V
    regs_[1214].value = static_cast<std::uint16_t>(dc_in ? std::lround(dc_in / 3.62) : 0);  // 0.1 A
    regs_[1300].value = 0;
    regs_[1314].value = 0;
    regs_[1500].value = static_cast<std::uint16_t>(ac_on ? 500 : 0);   // 50.0 Hz
    regs_[1511].value = static_cast<std::uint16_t>(ac_on ? 2300 : 0);  // 230.0 V
  }
  if (!table_) return;

  // Packs: the selected pack's SOC, cells and voltage (cells sum to the pack voltage).
  auto pack_soc = [&](unsigned pack) {
    return std::clamp(static_cast<int>(soc_pct) + kPackSocOffset[(pack - 1) % std::size(kPackSocOffset)], 0, 100);
  };
  const unsigned pack = std::max(1u, selected_pack_);
  std::size_t ncells = 16;
  for (const auto& f : table_->packs.fields)
    if (f.role == Role::pack_cells) ncells = f.words;
  const auto cells = pack_cells_cv(pack_soc(pack), pack, ncells);
  int pack_cv = 0;
  for (int c : cells) pack_cv += c;
  const double pack_volts = pack_cv / 100.0;
  const double net_out = double(ac_out) + dc_out - dc_in - ac_in;

  auto apply = [&](const Field& f) {
    const double s = f.scale;
    switch (f.role) {
      case Role::soc: set_field(f, soc_pct); break;
      case Role::dc_input_power: set_field(f, dc_in); break;
      case Role::ac_input_power: set_field(f, ac_in); break;
      case Role::ac_output_power: set_field(f, ac_out); break;
      case Role::dc_output_power: set_field(f, dc_out); break;
      case Role::ac_output_voltage: set_field(f, ac_on ? clamp16(230.0 / s) : 0); break;
      case Role::ac_output_frequency: set_field(f, ac_on ? clamp16(50.0 / s) : 0); break;
      case Role::dc_input_voltage: set_field(f, dc_in ? clamp16(36.2 / s) : 0); break;
      case Role::dc_input_current: set_field(f, dc_in ? clamp16(dc_in / 36.2 / s) : 0); break;
      case Role::battery_voltage: set_field(f, clamp16(pack_volts / s)); break;
      case Role::time_remaining: set_field(f, net_out > 0 ? clamp16(energy_wh_ / net_out / s) : 0); break;
      case Role::pack_count: set_field(f, packs_installed_); break;
      case Role::pack_selected: set_field(f, pack); break;
      case Role::pack_voltage: set_field(f, clamp16(pack_volts / s)); break;
      case Role::pack_soc: set_field(f, pack_soc(pack)); break;
      case Role::pack_cells:
        for (std::size_t i = 0; i < f.words && i < cells.size(); ++i)
          regs_[static_cast<std::uint16_t>(f.address + i)].value = clamp16(cells[i] / 100.0 / s);
        break;
      default: break;
    }
  };
  for (const auto& f : table_->fields) apply(f);
  for (const auto& f : table_->packs.fields) apply(f);
}

void PowerStation::tick(TimePoint now) {
  if (!epoch_) epoch_ = now;
  if (last_ && now > *last_) {
    const auto& l = layout(protocol_);
    const double hours = std::chrono::duration<double>(now - *last_).count() / 3600.0;
    const double net_w = double(get(l.dc_in).value_or(0)) + get(l.ac_in).value_or(0) - get(l.ac_out).value_or(0) -
                         get(l.dc_out).value_or(0);
    energy_wh_ = std::clamp(energy_wh_ + net_w * hours, 0.0, capacity_wh_);
  }
  if (!last_ || now > *last_) last_ = now;
  refresh();
}

modbus::Response PowerStation::handle(const modbus::Request& req, TimePoint now) {
  tick(now);
  modbus::Response r;
  r.function = req.function;
  const auto& l = layout(protocol_);
  switch (req.function) {
    case modbus::read_holding:
      for (std::uint32_t a = req.address; a < std::uint32_t(req.address) + req.count; ++a) {
        auto it = regs_.find(static_cast<std::uint16_t>(a));
        if (a > 0xFFFF || it == regs_.end()) {
          r.exception = modbus::illegal_address;
          r.values.clear();
          return r;
        }
        r.values.push_back(it->second.value);
      }
      r.count = req.count;
      return r;
    case modbus::write_single:
    case modbus::write_multiple: {
      for (std::size_t i = 0; i < req.values.size(); ++i) {
        const std::uint32_t a = std::uint32_t(req.address) + static_cast<std::uint32_t>(i);
        auto it = regs_.find(static_cast<std::uint16_t>(a));
        if (a > 0xFFFF || it == regs_.end()) {
          r.exception = modbus::illegal_address;
          return r;
        }
        if (!it->second.writable) {
          r.exception = modbus::illegal_value;
          return r;
        }
        if (auto e = check_write(static_cast<std::uint16_t>(a), req.values[i])) {
          r.exception = *e;
          return r;
        }
      }
      for (std::size_t i = 0; i < req.values.size(); ++i) {
        const auto a = static_cast<std::uint16_t>(req.address + i);
        const std::uint16_t v = req.values[i];
        const Field* f = table_ ? field_at(*table_, a) : nullptr;
        const Role role = f ? f->role : Role::none;
        if (a == l.ac_switch_write || role == Role::ac_switch) {
          set_output(true, v != 0);
        } else if (a == l.dc_switch_write || role == Role::dc_switch) {
          set_output(false, v != 0);
        } else {
          if (role == Role::pack_selector) selected_pack_ = v;
          regs_[a].value = v;
        }
      }
      refresh();
      r.address = req.address;
      r.count = req.count;
      r.values = req.function == modbus::write_single ? req.values : std::vector<std::uint16_t>{};
      return r;
    }
    default:
      r.exception = modbus::illegal_function;
      return r;
  }
}

}  // namespace blecrypt::bluetti
