// `blecrypt bluetti models|fields|detect|dump`: the model table (bluetti/models.hpp) on the command line.
//
//   blecrypt bluetti models [--json]                   every model: protocol, field counts, verification
//   blecrypt bluetti fields MODEL [--json]             one model's table: fields, blocks, packs
//   blecrypt bluetti detect ADDRESS|--emulator MODEL   which model answers, and which table is used
//   blecrypt bluetti dump ADDRESS|--emulator MODEL --from A --to B [--output FILE]
//
// detect runs the same code for a device (BlueZ, ADDRESS) and for the emulator (--emulator, over
// a link::MemoryLink): handshake, then the device-type registers (IoT V2 at 110, else IoT V1 at
// 10), confirmed against the advertised name (--name, else the Name BlueZ has for the device, or
// the emulator's own "MODEL<serial>").
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/models.hpp"
#include "blecrypt/bluetti/requests.hpp"
#include "cli.hpp"
#include "bluetti_station.hpp"
#include "link_cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::bluetti;
using namespace bluetti_cli;

const char* protocol_word(Protocol p) { return p == Protocol::iot_v2 ? "v2" : "v1"; }

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

const models::Model& model_or_throw(const std::string& name) {
  if (const auto* m = models::find(name)) return *m;
  std::string list;
  for (const auto& m : models::all()) list += (list.empty() ? "" : ", ") + std::string(m.name);
  throw UserError("unknown model '" + name + "' (" + list + ")");
}

std::size_t settable_count(const models::Model& m) {
  std::size_t n = 0;
  for (const auto& f : m.fields) n += f.settable;
  return n;
}

// ---- models ------------------------------------------------------------------------------

void print_models(std::ostream& out, bool json) {
  if (json) {
    out << "[";
    bool first = true;
    for (const auto& m : models::all()) {
      out << (first ? "" : ",") << "\n  {\"model\": " << quote(m.name) << ", \"protocol\": \"" << protocol_word(m.protocol)
          << "\", \"fields\": " << m.fields.size() << ", \"settable\": " << settable_count(m)
          << ", \"pack_fields\": " << m.packs.fields.size() << ", \"max_packs\": " << unsigned(m.packs.max_packs)
          << ", \"blocks\": " << m.blocks.size() << ", \"verified\": " << quote(models::verified_name(m.verified))
          << ", \"sources\": " << quote(m.sources) << "}";
      first = false;
    }
    out << "\n]\n";
    return;
  }
  out << "model        protocol  fields  settable  packs  blocks  verified\n";
  for (const auto& m : models::all()) {
    char line[160];
    std::snprintf(line, sizeof line, "%-12.*s %-9s %6zu  %8zu  %5u  %6zu  %s\n", static_cast<int>(m.name.size()), m.name.data(),
                  m.protocol == Protocol::iot_v2 ? "IoT V2" : "IoT V1", m.fields.size() + m.packs.fields.size(),
                  settable_count(m), unsigned(m.packs.max_packs), m.blocks.size(), models::verified_name(m.verified));
    out << line;
  }
}

// ---- fields ------------------------------------------------------------------------------

std::string field_json(const models::Field& f, bool pack) {
  std::ostringstream o;
  o << "{\"name\": " << quote(f.name) << ", \"mqtt_name\": " << quote(f.mqtt_name) << ", \"address\": " << f.address
    << ", \"type\": " << quote(models::type_name(f.type)) << ", \"words\": " << unsigned(f.words)
    << ", \"scale\": " << number_text(f.scale) << ", \"unit\": " << quote(f.unit)
    << ", \"settable\": " << (f.settable ? "true" : "false");
  if (f.settable && f.type == models::Type::uint16) o << ", \"min\": " << f.min << ", \"max\": " << f.max;
  if (!f.choices.empty()) {
    o << ", \"choices\": {";
    for (std::size_t i = 0; i < f.choices.size(); ++i)
      o << (i ? ", " : "") << quote(f.choices[i].name) << ": " << f.choices[i].value;
    o << "}";
  }
  o << ", \"component\": " << quote(models::component_name(f.component)) << ", \"device_class\": " << quote(f.device_class)
    << ", \"state_class\": " << quote(f.state_class) << ", \"pack\": " << (pack ? "true" : "false") << "}";
  return o.str();
}

std::string field_line(const models::Field& f, bool pack) {
  std::string range;
  if (f.settable) {
    if (!f.choices.empty()) {
      for (const auto& c : f.choices) range += (range.empty() ? "" : "|") + std::string(c.name);
    } else if (f.type == models::Type::uint16) {
      range = number_text(f.min * f.scale) + ".." + number_text(f.max * f.scale);
    } else {
      range = "on|off";
    }
  } else if (!f.choices.empty()) {
    for (const auto& c : f.choices) range += (range.empty() ? "" : ",") + std::to_string(c.value) + "=" + std::string(c.name);
  }
  char line[200];
  std::snprintf(line, sizeof line, "  %-28.*s %5u%-3s %-17s %-7s %-4.*s %-3s %s", static_cast<int>(f.name.size()), f.name.data(),
                unsigned(f.address), f.words > 1 ? ("+" + std::to_string(f.words - 1)).c_str() : "", models::type_name(f.type),
                f.scale == 1.0 ? "" : number_text(f.scale).c_str(), static_cast<int>(f.unit.size()), f.unit.data(),
                f.settable ? "rw" : (pack ? "pk" : "r"), range.c_str());
  std::string s = line;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s + "\n";
}

void print_fields(std::ostream& out, const models::Model& m, bool json) {
  if (json) {
    out << "{\"model\": " << quote(m.name) << ", \"protocol\": \"" << protocol_word(m.protocol)
        << "\", \"verified\": " << quote(models::verified_name(m.verified)) << ", \"sources\": " << quote(m.sources)
        << ",\n \"blocks\": [";
    for (std::size_t i = 0; i < m.blocks.size(); ++i) out << (i ? ", " : "") << "[" << m.blocks[i].address << ", " << m.blocks[i].count << "]";
    out << "],\n \"fields\": [";
    bool first = true;
    for (const auto& f : m.fields) {
      out << (first ? "" : ",") << "\n  " << field_json(f, false);
      first = false;
    }
    for (const auto& f : m.packs.fields) {
      out << (first ? "" : ",") << "\n  " << field_json(f, true);
      first = false;
    }
    out << "],\n \"packs\": {\"max_packs\": " << unsigned(m.packs.max_packs) << ", \"selector\": " << m.packs.selector
        << ", \"settle_ms\": " << m.packs.settle_ms << ", \"blocks\": [";
    for (std::size_t i = 0; i < m.packs.blocks.size(); ++i)
      out << (i ? ", " : "") << "[" << m.packs.blocks[i].address << ", " << m.packs.blocks[i].count << "]";
    out << "]}}\n";
    return;
  }
  out << m.name << " (" << (m.protocol == Protocol::iot_v2 ? "IoT V2" : "IoT V1") << ", " << models::verified_name(m.verified)
      << "; sources: " << m.sources << ")\n";
  out << "poll blocks:";
  for (const auto& b : m.blocks) out << " " << b.address << "x" << b.count;
  out << "\nfields (name, register, type, scale, unit, r = read-only / rw = settable, range or choices):\n";
  for (const auto& f : m.fields) out << field_line(f, false);
  if (m.packs.max_packs) {
    out << "battery packs: up to " << unsigned(m.packs.max_packs);
    if (m.packs.selector) out << ", select with register " << m.packs.selector << " (wait " << m.packs.settle_ms / 1000 << " s)";
    else out << ", no selector (the unit's current pack)";
    out << ", blocks:";
    for (const auto& b : m.packs.blocks) out << " " << b.address << "x" << b.count;
    out << "\n";
    for (const auto& f : m.packs.fields) out << field_line(f, true);
  }
}

// ---- detect ------------------------------------------------------------------------------

struct DetectOptions : StationOptions {
  std::string name;  // advertised name (--name)
  bool json = false;
};

// The device-type registers (IoT V2 at 110, else IoT V1 at 10) of the connected unit; an
// exception answer just leaves them out.
RegisterValues read_type_registers(Station& unit) {
  RegisterValues regs;
  (void)unit.try_read(models::kV2TypeRegister, models::kV2TypeWords, regs);
  if (!models::find(models::reported_type(regs))) (void)unit.try_read(models::kV1TypeRegister, models::kV1TypeWords, regs);
  return regs;
}

void run_detect(std::ostream& out, const DetectOptions& o) {
  const auto licence = load_licence(o.licence);
  Station unit(o, nullptr);
  unit.connect(licence);
  const std::string advertised = o.name.empty() ? unit.advertised_name() : o.name;
  const RegisterValues regs = read_type_registers(unit);
  unit.disconnect();

  auto id = models::identify(advertised, regs);
  const models::Model* hint = models::from_advertised_name(advertised);
  if (o.json) {
    out << "{\"advertised_name\": " << quote(advertised) << ", \"advertised_model\": " << (hint ? quote(hint->name) : "null")
        << ", \"reported\": " << quote(id ? id->reported : models::reported_type(regs));
    if (id)
      out << ", \"model\": " << quote(id->model->name) << ", \"protocol\": \"" << protocol_word(id->protocol)
          << "\", \"serial_number\": " << id->serial << ", \"confirmed\": " << (id->confirmed ? "true" : "false")
          << ", \"fields\": " << id->model->fields.size() << "}\n";
    else
      out << ", \"model\": null}\n";
  } else {
    out << "advertised name: " << (advertised.empty() ? "(none; give --name)" : advertised)
        << (hint ? " -> " + std::string(hint->name) : std::string(advertised.empty() ? "" : " -> no model of the table")) << "\n";
    if (id) {
      out << "device-type register " << (id->protocol == Protocol::iot_v2 ? models::kV2TypeRegister : models::kV1TypeRegister)
          << ": \"" << id->reported << "\" (IoT " << (id->protocol == Protocol::iot_v2 ? "V2" : "V1") << "), serial " << id->serial
          << "\n";
      out << "table: " << id->model->name << " (" << id->model->fields.size() << " fields, " << settable_count(*id->model)
          << " settable; " << models::verified_name(id->model->verified) << ")"
          << (id->confirmed ? ", confirmed by the device-type register"
                            : (hint ? ", NOT the advertised model: the register wins" : ", from the device-type register"))
          << "\n";
    }
  }
  if (!id)
    throw DeviceError("the device-type registers name no model of the table (they read \"" + models::reported_type(regs) +
                      "\"); `blecrypt bluetti models` lists the known ones");
}

// ---- dump -------------------------------------------------------------------------------

struct DumpOptions : StationOptions {
  unsigned from = 0, to = 0;
  std::string output;
};

// Every readable register of from..to in reads of kDumpChunk (a chunk that answers an exception
// is read again register by register; unreadable registers are left out), as {"model", "protocol", "registers": {"<address>": value}}: what an owner of an
// unknown model contributes, and what an independent decoder can be checked against.
constexpr unsigned kDumpChunk = 10;

void run_dump(std::ostream& out, const DumpOptions& o) {
  if (o.to < o.from) throw UserError("--to " + std::to_string(o.to) + " is below --from " + std::to_string(o.from));
  const auto licence = load_licence(o.licence);
  Station unit(o, nullptr);
  unit.connect(licence);
  const RegisterValues id_regs = read_type_registers(unit);
  auto id = models::identify(unit.advertised_name(), id_regs);
  RegisterValues regs;
  for (unsigned a = o.from; a <= o.to; a += kDumpChunk) {
    const unsigned n = std::min(kDumpChunk, o.to - a + 1);
    if (unit.try_read(static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(n), regs) || n == 1) continue;
    for (unsigned r = a; r < a + n; ++r) (void)unit.try_read(static_cast<std::uint16_t>(r), 1, regs);  // one by one around the gap
  }
  unit.disconnect();
  std::ostringstream j;
  j << "{\"model\": " << quote(id ? std::string(id->model->name) : models::reported_type(id_regs)) << ", \"protocol\": ";
  if (id) j << "\"" << protocol_word(id->protocol) << "\"";
  else j << "null";
  j << ", \"registers\": {";
  bool first = true;
  for (const auto& [a, v] : regs) {
    j << (first ? "" : ", ") << "\"" << a << "\": " << v;
    first = false;
  }
  j << "}}\n";
  if (o.output.empty()) {
    out << j.str();
    return;
  }
  std::ofstream f(o.output, std::ios::binary | std::ios::trunc);
  if (!f || !(f << j.str()) || !f.flush()) throw UserError("cannot write " + o.output);
  std::cerr << regs.size() << " registers of " << (o.to - o.from + 1) << " written to " << o.output << "\n";
}

const Register group{VerbGroup{"bluetti", "BLUETTI power stations: encrypted link client and emulator", [](CLI::App& g) {
  static bool models_json = false;
  auto* list = g.add_subcommand("models", "List every model of the table: protocol, fields, packs, verification");
  list->add_flag("--json", models_json, "Machine-readable output");
  list->callback([] { print_models(std::cout, models_json); });

  static std::string fields_model;
  static bool fields_json = false;
  auto* fields = g.add_subcommand("fields", "List one model's fields: registers, types, scales, units, settable ranges");
  fields->add_option("model", fields_model, "Model name (see `bluetti models`)")->required();
  fields->add_flag("--json", fields_json, "Machine-readable output");
  fields->callback([] { print_fields(std::cout, model_or_throw(fields_model), fields_json); });

  static DetectOptions detect_opts;
  auto* detect = g.add_subcommand("detect", "Identify a unit: handshake, device-type register, advertised name");
  add_station_options(detect, detect_opts);
  detect->add_option("--name", detect_opts.name, "The advertised name (e.g. AC1802524610159690) to confirm against (default: the name BlueZ knows)");
  detect->add_flag("--json", detect_opts.json, "Machine-readable output");
  detect->callback([] { run_detect(std::cout, detect_opts); });

  static DumpOptions dump_opts;
  auto* dump = g.add_subcommand("dump", "Read every readable register of a range as JSON (for contributing a model's map)");
  add_station_options(dump, dump_opts);
  dump->add_option("--from", dump_opts.from, "First register, 0..65535")->transform(decimal(0, 65535))->required();
  dump->add_option("--to", dump_opts.to, "Last register, 0..65535")->transform(decimal(0, 65535))->required();
  dump->add_option("--output", dump_opts.output, "Write the JSON to FILE instead of standard output");
  dump->callback([] { run_dump(std::cout, dump_opts); });
}}};

}  // namespace
}  // namespace blecrypt::cli
