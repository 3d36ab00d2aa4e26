// Modbus RTU as carried inside BLUETTI session records (spec section 6): CRC-16/MODBUS, function
// codes 3 (read holding), 6 (write single), 16 (write multiple), exceptions; and the telemetry
// layouts (IoT V1 / V2) decoded into typed values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "blecrypt/bluetti/protocol.hpp"

namespace blecrypt::bluetti::modbus {

// CRC-16/MODBUS: reflected poly 0xA001, init 0xFFFF, no final XOR (sent little endian).
std::uint16_t crc16(ByteView data) noexcept;

enum Function : std::uint8_t { read_holding = 0x03, write_single = 0x06, write_multiple = 0x10 };
enum ExceptionCode : std::uint8_t { illegal_function = 0x01, illegal_address = 0x02, illegal_value = 0x03 };

inline constexpr std::uint16_t kMaxRead = 125;
inline constexpr std::uint16_t kMaxWrite = 123;

struct Request {
  std::uint8_t unit = kModbusUnit;
  std::uint8_t function = read_holding;
  std::uint16_t address = 0;
  std::uint16_t count = 1;              // FC3 / FC16; 1 for FC6
  std::vector<std::uint16_t> values;    // FC6 (one) / FC16 (count)

  static Request read(std::uint16_t address, std::uint16_t count) { return {kModbusUnit, read_holding, address, count, {}}; }
  static Request write(std::uint16_t address, std::uint16_t value) { return {kModbusUnit, write_single, address, 1, {value}}; }
  static Request write_many(std::uint16_t address, std::vector<std::uint16_t> v) {
    auto n = static_cast<std::uint16_t>(v.size());
    return {kModbusUnit, write_multiple, address, n, std::move(v)};
  }
};

struct Response {
  std::uint8_t unit = kModbusUnit;
  std::uint8_t function = read_holding;   // without the 0x80 bit
  std::optional<std::uint8_t> exception;  // set for an exception response
  std::uint16_t address = 0;              // FC6 / FC16 echo
  std::uint16_t count = 0;                // FC3: registers returned; FC16: registers written
  std::vector<std::uint16_t> values;      // FC3 data; FC6 the echoed value
};

// Encoders validate counts (typed error for 0, > 125 reads, > 123 writes, value count mismatch).
Result<Bytes> encode_request(const Request& r);
Result<Request> parse_request(ByteView adu);
Bytes encode_response(const Response& r);
Bytes encode_exception(std::uint8_t function, std::uint8_t code);
Result<Response> parse_response(ByteView adu);
// The response answers `req` (same function, FC3 count, FC6/16 echo); exceptions pass here.
Result<void> check_answers(const Request& req, const Response& resp);

}  // namespace blecrypt::bluetti::modbus

namespace blecrypt::bluetti {

// ---- telemetry (spec section 6) -----------------------------------------------------------

enum class Protocol { iot_v1, iot_v2 };

struct Layout {
  Protocol protocol;
  std::uint16_t model, serial, soc, dc_in, ac_in, ac_out, dc_out;
  std::uint16_t ac_switch_write, dc_switch_write, ac_switch_state, dc_switch_state;
};
const Layout& layout(Protocol p);

// The reads that cover every field of `layout` (few, contiguous).
std::vector<modbus::Request> telemetry_requests(Protocol p);

// Field names are those of bluetti_mqtt (github.com/warhammerkid/bluetti_mqtt), which the
// gateway publishes; powers in W, battery in %.
struct Telemetry {
  std::string device_type;               // model name, e.g. "AC180"
  std::uint64_t serial_number = 0;       // device serial (not the IoT serial of 11006)
  std::uint16_t total_battery_percent = 0;
  std::uint16_t dc_input_power = 0, ac_input_power = 0, ac_output_power = 0, dc_output_power = 0;
  bool ac_output_on = false, dc_output_on = false;
};

using RegisterValues = std::map<std::uint16_t, std::uint16_t>;
// Adds the registers of a FC3 response to `out`.
void collect(const modbus::Request& req, const modbus::Response& resp, RegisterValues& out);
// Copies registers address..address+n-1 into out[0..n); false (out partly written) when one is missing.
bool copy_registers(const RegisterValues& regs, std::uint16_t address, std::size_t n, std::uint16_t* out);
// Missing registers -> modbus_length_mismatch.
Result<Telemetry> decode_telemetry(Protocol p, const RegisterValues& regs);

enum class Output { ac, dc };
modbus::Request switch_request(Protocol p, Output o, bool on);

// 4 words, least significant first.
std::uint64_t decode_serial(const std::uint16_t* words);
void encode_serial(std::uint64_t sn, std::uint16_t* words);
// Model ASCII: V2 swaps the two bytes of each word; V1 is plain. NULs and spaces trimmed.
std::string decode_model(Protocol p, const std::uint16_t* words, std::size_t n);
void encode_model(Protocol p, const std::string& model, std::uint16_t* words, std::size_t n);

inline constexpr std::uint16_t kIotSerialRegister = 11006;  // 4 words, read at status 3

}  // namespace blecrypt::bluetti
