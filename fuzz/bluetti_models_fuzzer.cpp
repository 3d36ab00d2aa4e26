// The table-driven decoder and setting parser (bluetti/models.hpp): any register image, any
// model, any setting text -> typed values or typed errors, never a crash; every decoded value
// prints; every accepted setting encodes to a write inside the field's range.
//
// Input: byte 0 picks the model, bytes 1-2 the first register (big endian), then big-endian
// register values (at most 125, one FC3 answer). The same bytes, as text, are tried as a setting
// of every settable field, and as an advertised name for detection. The register image also goes
// through decode_telemetry (both protocols).
#include <cstdlib>
#include <string_view>

#include "blecrypt/bluetti/modbus.hpp"
#include "blecrypt/bluetti/models.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt::bluetti;
  if (size < 3) return 0;
  const auto all = models::all();
  const models::Model& m = all[data[0] % all.size()];
  const auto address = static_cast<std::uint16_t>((data[1] << 8) | data[2]);
  std::vector<std::uint16_t> values;
  for (std::size_t i = 3; i + 1 < size && values.size() < blecrypt::bluetti::modbus::kMaxRead; i += 2)
    values.push_back(static_cast<std::uint16_t>((data[i] << 8) | data[i + 1]));
  for (const auto& r : models::decode_block(m, address, values)) {
    if (r.field == nullptr) std::abort();
    (void)models::to_text(r);
    (void)models::to_json(r);
  }
  RegisterValues regs;
  for (std::size_t i = 0; i < values.size() && std::uint32_t(address) + i <= 0xFFFF; ++i)
    regs[static_cast<std::uint16_t>(address + i)] = values[i];
  const std::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);
  (void)models::identify(text, regs);
  (void)models::reported_type(regs);
  // The fixed nine-field telemetry decoder (bluetti/modbus.hpp) reads the same register image.
  for (auto p : {Protocol::iot_v1, Protocol::iot_v2})
    if (auto t = decode_telemetry(p, regs))
      for (char c : t->device_type)
        if (c < 0x20 || c >= 0x7f) std::abort();
  for (const auto& f : m.fields) {
    if (!f.settable) continue;
    if (auto raw = models::parse_setting(f, text)) {
      auto w = models::encode_write(f, *raw);
      if (!w || w->address != f.address || w->values.size() != 1) std::abort();
      if (f.type == models::Type::uint16 && (*raw < f.min || *raw > f.max)) std::abort();
    }
  }
  return 0;
}
