// Modbus RTU codec (FC 3/6/16, exceptions) and telemetry decoding for BLUETTI.
#include "blecrypt/bluetti/modbus.hpp"

namespace blecrypt::bluetti::modbus {

std::uint16_t crc16(ByteView data) noexcept {
  std::uint16_t crc = 0xFFFF;
  for (auto b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? static_cast<std::uint16_t>((crc >> 1) ^ 0xA001) : static_cast<std::uint16_t>(crc >> 1);
  }
  return crc;
}

namespace {

void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

Bytes& add_crc(Bytes& out) {
  const auto c = crc16(out);
  out.push_back(static_cast<std::uint8_t>(c));
  out.push_back(static_cast<std::uint8_t>(c >> 8));
  return out;
}

Result<void> check_crc(ByteView adu) {
  if (adu.size() < 4) return Errc::modbus_truncated;
  if (crc16(adu.first(adu.size() - 2)) != load_le16(&adu[adu.size() - 2])) return Errc::modbus_bad_crc;
  return {};
}

}  // namespace

Result<Bytes> encode_request(const Request& r) {
  Bytes out{r.unit, r.function};
  put16(out, r.address);
  switch (r.function) {
    case read_holding:
      if (r.count == 0 || r.count > kMaxRead) return Errc::modbus_bad_count;
      put16(out, r.count);
      break;
    case write_single:
      if (r.values.size() != 1) return Errc::modbus_bad_count;
      put16(out, r.values[0]);
      break;
    case write_multiple:
      if (r.count == 0 || r.count > kMaxWrite || r.values.size() != r.count) return Errc::modbus_bad_count;
      put16(out, r.count);
      out.push_back(static_cast<std::uint8_t>(2 * r.count));
      for (auto v : r.values) put16(out, v);
      break;
    default: return Errc::modbus_bad_function;
  }
  return add_crc(out);
}

Result<Request> parse_request(ByteView a) {
  if (a.size() < 4) return Errc::modbus_truncated;
  // Check the CRC over what the function code says the ADU is, so trailing bytes are an error.
  Request r;
  r.unit = a[0];
  r.function = a[1];
  switch (r.function) {
    case read_holding:
    case write_single:
      if (a.size() < 8) return Errc::modbus_truncated;
      if (a.size() != 8) return Errc::modbus_length_mismatch;
      break;
    case write_multiple:
      if (a.size() < 9) return Errc::modbus_truncated;
      if (a.size() != 9u + a[6]) return Errc::modbus_length_mismatch;
      break;
    default:
      BLECRYPT_TRY_VOID(check_crc(a));
      return Errc::modbus_bad_function;
  }
  BLECRYPT_TRY_VOID(check_crc(a));
  if (r.unit != kModbusUnit) return Errc::modbus_bad_unit;
  r.address = load_be16(&a[2]);
  if (r.function == write_single) {
    r.count = 1;
    r.values = {load_be16(&a[4])};
    return r;
  }
  r.count = load_be16(&a[4]);
  if (r.function == read_holding) {
    if (r.count == 0 || r.count > kMaxRead) return Errc::modbus_bad_count;
    return r;
  }
  if (r.count == 0 || r.count > kMaxWrite) return Errc::modbus_bad_count;
  if (a[6] != 2 * r.count) return Errc::modbus_length_mismatch;
  for (std::size_t i = 0; i < r.count; ++i) r.values.push_back(load_be16(&a[7 + 2 * i]));
  return r;
}

Bytes encode_exception(std::uint8_t function, std::uint8_t code) {
  Bytes out{kModbusUnit, static_cast<std::uint8_t>(function | 0x80), code};
  return add_crc(out);
}

Bytes encode_response(const Response& r) {
  if (r.exception) return encode_exception(r.function, *r.exception);
  Bytes out{r.unit, r.function};
  switch (r.function) {
    case read_holding:
      out.push_back(static_cast<std::uint8_t>(2 * r.values.size()));
      for (auto v : r.values) put16(out, v);
      break;
    case write_single:
      put16(out, r.address);
      put16(out, r.values.empty() ? 0 : r.values[0]);
      break;
    default:
      put16(out, r.address);
      put16(out, r.count);
      break;
  }
  return add_crc(out);
}

Result<Response> parse_response(ByteView a) {
  if (a.size() < 5) return Errc::modbus_truncated;
  Response r;
  r.unit = a[0];
  const std::uint8_t fc = a[1];
  if (fc & 0x80) {
    if (a.size() != 5) return Errc::modbus_length_mismatch;
    BLECRYPT_TRY_VOID(check_crc(a));
    r.function = fc & 0x7F;
    r.exception = a[2];
  } else {
    r.function = fc;
    switch (fc) {
      case read_holding: {
        const std::size_t bc = a[2];
        if (a.size() < 5 + bc) return Errc::modbus_truncated;
        if (a.size() != 5 + bc) return Errc::modbus_length_mismatch;
        BLECRYPT_TRY_VOID(check_crc(a));
        if (bc % 2 != 0 || bc == 0 || bc > 2 * kMaxRead) return Errc::modbus_length_mismatch;
        r.count = static_cast<std::uint16_t>(bc / 2);
        for (std::size_t i = 0; i < r.count; ++i) r.values.push_back(load_be16(&a[3 + 2 * i]));
        break;
      }
      case write_single:
      case write_multiple:
        if (a.size() < 8) return Errc::modbus_truncated;
        if (a.size() != 8) return Errc::modbus_length_mismatch;
        BLECRYPT_TRY_VOID(check_crc(a));
        r.address = load_be16(&a[2]);
        if (fc == write_single) {
          r.count = 1;
          r.values = {load_be16(&a[4])};
        } else {
          r.count = load_be16(&a[4]);
        }
        break;
      default:
        BLECRYPT_TRY_VOID(check_crc(a));
        return Errc::modbus_bad_function;
    }
  }
  if (r.unit != kModbusUnit) return Errc::modbus_bad_unit;
  return r;
}

Result<void> check_answers(const Request& req, const Response& resp) {
  if (resp.function != req.function) return Errc::modbus_unexpected_response;
  if (resp.exception) return {};
  switch (req.function) {
    case read_holding:
      if (resp.count != req.count) return Errc::modbus_unexpected_response;
      break;
    case write_single:
      if (resp.address != req.address || resp.values != req.values) return Errc::modbus_unexpected_response;
      break;
    default:
      if (resp.address != req.address || resp.count != req.count) return Errc::modbus_unexpected_response;
  }
  return {};
}

}  // namespace blecrypt::bluetti::modbus

namespace blecrypt::bluetti {

const Layout& layout(Protocol p) {
  static const Layout v2{Protocol::iot_v2, 110, 116, 102, 144, 146, 142, 140, 2011, 2012, 2011, 2012};
  static const Layout v1{Protocol::iot_v1, 10, 17, 43, 36, 37, 38, 39, 3007, 3008, 48, 49};
  return p == Protocol::iot_v2 ? v2 : v1;
}

std::vector<modbus::Request> telemetry_requests(Protocol p) {
  if (p == Protocol::iot_v2)
    return {modbus::Request::read(102, 18), modbus::Request::read(140, 7), modbus::Request::read(2011, 2)};
  return {modbus::Request::read(10, 40)};
}

void collect(const modbus::Request& req, const modbus::Response& resp, RegisterValues& out) {
  if (req.function != modbus::read_holding || resp.exception) return;
  for (std::size_t i = 0; i < resp.values.size(); ++i) out[static_cast<std::uint16_t>(req.address + i)] = resp.values[i];
}

std::uint64_t decode_serial(const std::uint16_t* w) {
  return static_cast<std::uint64_t>(w[0]) | (static_cast<std::uint64_t>(w[1]) << 16) |
         (static_cast<std::uint64_t>(w[2]) << 32) | (static_cast<std::uint64_t>(w[3]) << 48);
}

void encode_serial(std::uint64_t sn, std::uint16_t* w) {
  for (int i = 0; i < 4; ++i) w[i] = static_cast<std::uint16_t>(sn >> (16 * i));
}

std::string decode_model(Protocol p, const std::uint16_t* w, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    const char hi = static_cast<char>(w[i] >> 8), lo = static_cast<char>(w[i] & 0xFF);
    if (p == Protocol::iot_v2) { s += lo; s += hi; } else { s += hi; s += lo; }
  }
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  std::string clean;
  for (char c : s) clean += (c >= 0x20 && c < 0x7F) ? c : '?';
  return clean;
}

void encode_model(Protocol p, const std::string& model, std::uint16_t* w, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = static_cast<std::uint8_t>(2 * i < model.size() ? model[2 * i] : 0);
    const auto b = static_cast<std::uint8_t>(2 * i + 1 < model.size() ? model[2 * i + 1] : 0);
    w[i] = p == Protocol::iot_v2 ? static_cast<std::uint16_t>((b << 8) | a) : static_cast<std::uint16_t>((a << 8) | b);
  }
}

bool copy_registers(const RegisterValues& regs, std::uint16_t address, std::size_t n, std::uint16_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    auto it = regs.find(static_cast<std::uint16_t>(address + i));
    if (it == regs.end()) return false;
    out[i] = it->second;
  }
  return true;
}

Result<Telemetry> decode_telemetry(Protocol p, const RegisterValues& regs) {
  const auto& l = layout(p);
  Telemetry t;
  std::uint16_t model[6], sn[4], v[7];
  if (!copy_registers(regs, l.model, 6, model) || !copy_registers(regs, l.serial, 4, sn)) return Errc::modbus_length_mismatch;
  t.device_type = decode_model(p, model, 6);
  t.serial_number = decode_serial(sn);
  if (!copy_registers(regs, l.soc, 1, v)) return Errc::modbus_length_mismatch;
  t.total_battery_percent = v[0];
  const std::uint16_t singles[] = {l.dc_in, l.ac_in, l.ac_out, l.dc_out, l.ac_switch_state, l.dc_switch_state};
  for (std::size_t i = 0; i < 6; ++i)
    if (!copy_registers(regs, singles[i], 1, &v[i])) return Errc::modbus_length_mismatch;
  t.dc_input_power = v[0];
  t.ac_input_power = v[1];
  t.ac_output_power = v[2];
  t.dc_output_power = v[3];
  t.ac_output_on = v[4] != 0;
  t.dc_output_on = v[5] != 0;
  return t;
}

modbus::Request switch_request(Protocol p, Output o, bool on) {
  const auto& l = layout(p);
  return modbus::Request::write(o == Output::ac ? l.ac_switch_write : l.dc_switch_write, on ? 1 : 0);
}

}  // namespace blecrypt::bluetti
