// Modbus RTU codec (FC 3/6/16, exceptions, validation), telemetry decoding and the emulator's
// register map.
#include <gtest/gtest.h>

#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/modbus.hpp"
#include "support/vectors.hpp"

namespace blecrypt::bluetti {
namespace {

using test::hex;

Bytes with_crc(Bytes b) {
  const auto c = modbus::crc16(b);
  b.push_back(static_cast<std::uint8_t>(c));
  b.push_back(static_cast<std::uint8_t>(c >> 8));
  return b;
}

TEST(BluettiModbus, RequestsRoundTrip) {
  for (const auto& r : {modbus::Request::read(11006, 4), modbus::Request::write(2011, 1),
                        modbus::Request::write_many(2011, {1, 0}), modbus::Request::read(0, 125)}) {
    auto enc = modbus::encode_request(r);
    ASSERT_TRUE(enc.has_value());
    auto back = modbus::parse_request(*enc);
    ASSERT_TRUE(back.has_value()) << back.error().message();
    EXPECT_EQ(back->function, r.function);
    EXPECT_EQ(back->address, r.address);
    EXPECT_EQ(back->count, r.count);
    EXPECT_EQ(back->values, r.values);
  }
  EXPECT_BYTES_EQ(*modbus::encode_request(modbus::Request::write(2011, 1)), with_crc(hex("010607db0001")));
  EXPECT_BYTES_EQ(*modbus::encode_request(modbus::Request::write_many(2011, {1, 0})), with_crc(hex("011007db0002040001" "0000")));
}

TEST(BluettiModbus, RequestValidation) {
  EXPECT_EQ(modbus::encode_request(modbus::Request::read(0, 0)).error(), make_error_code(Errc::modbus_bad_count));
  EXPECT_EQ(modbus::encode_request(modbus::Request::read(0, 126)).error(), make_error_code(Errc::modbus_bad_count));
  EXPECT_EQ(modbus::encode_request(modbus::Request::write_many(0, std::vector<std::uint16_t>(124, 0))).error(),
            make_error_code(Errc::modbus_bad_count));
  modbus::Request odd{kModbusUnit, 0x04, 0, 1, {}};
  EXPECT_EQ(modbus::encode_request(odd).error(), make_error_code(Errc::modbus_bad_function));
  Bytes ok = *modbus::encode_request(modbus::Request::read(0x74, 4));
  Bytes bad = ok;
  bad[7] ^= 1;
  EXPECT_EQ(modbus::parse_request(bad).error(), make_error_code(Errc::modbus_bad_crc));
  EXPECT_EQ(modbus::parse_request(ByteView(ok).first(5)).error(), make_error_code(Errc::modbus_truncated));
  Bytes longer = ok;
  longer.push_back(0);
  EXPECT_EQ(modbus::parse_request(longer).error(), make_error_code(Errc::modbus_length_mismatch));
  EXPECT_EQ(modbus::parse_request(with_crc(hex("020300740004"))).error(), make_error_code(Errc::modbus_bad_unit));
  EXPECT_EQ(modbus::parse_request(with_crc(hex("010300740000"))).error(), make_error_code(Errc::modbus_bad_count));
  EXPECT_EQ(modbus::parse_request(with_crc(hex("010400740001"))).error(), make_error_code(Errc::modbus_bad_function));
  EXPECT_EQ(modbus::parse_request(with_crc(hex("011000000002030001"))).error(), make_error_code(Errc::modbus_length_mismatch));
}

TEST(BluettiModbus, ResponsesAndExceptions) {
  auto r = modbus::parse_response(with_crc(hex("0103040001000a")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->values, (std::vector<std::uint16_t>{1, 10}));
  EXPECT_TRUE(modbus::check_answers(modbus::Request::read(5, 2), *r).has_value());
  EXPECT_FALSE(modbus::check_answers(modbus::Request::read(5, 3), *r).has_value());
  auto ex = modbus::parse_response(modbus::encode_exception(0x03, modbus::illegal_address));
  ASSERT_TRUE(ex.has_value());
  EXPECT_EQ(ex->exception, modbus::illegal_address);
  EXPECT_EQ(modbus::encode_exception(0x03, 0x02).size(), 5u);
  auto echo = modbus::parse_response(with_crc(hex("010607db0001")));
  ASSERT_TRUE(echo.has_value());
  EXPECT_TRUE(modbus::check_answers(modbus::Request::write(2011, 1), *echo).has_value());
  EXPECT_FALSE(modbus::check_answers(modbus::Request::write(2011, 0), *echo).has_value());
  EXPECT_EQ(modbus::parse_response(with_crc(hex("01030400010a"))).error(), make_error_code(Errc::modbus_truncated));
  EXPECT_EQ(modbus::parse_response(with_crc(hex("010302000100"))).error(), make_error_code(Errc::modbus_length_mismatch));
  EXPECT_EQ(modbus::parse_response(hex("0103040001")).error(), make_error_code(Errc::modbus_truncated));
}

TEST(BluettiTelemetry, ModelAndSerialEncodings) {
  std::uint16_t w[6];
  encode_model(Protocol::iot_v2, "AC180", w, 6);
  EXPECT_EQ(w[0], 0x4341);  // "AC" with the bytes swapped
  EXPECT_EQ(decode_model(Protocol::iot_v2, w, 6), "AC180");
  encode_model(Protocol::iot_v1, "EB3A", w, 6);
  EXPECT_EQ(w[0], 0x4542);  // plain
  EXPECT_EQ(decode_model(Protocol::iot_v1, w, 6), "EB3A");
  std::uint16_t sn[4];
  encode_serial(2441001365385ULL, sn);
  EXPECT_EQ(decode_serial(sn), 2441001365385ULL);
  EXPECT_EQ(sn[0], static_cast<std::uint16_t>(2441001365385ULL & 0xFFFF));  // least significant word first
}

TEST(BluettiTelemetry, EmulatorRegisterMapsFollowTheLayouts) {
  for (const auto& name : PowerStation::models()) {
    auto s = PowerStation::create(name);
    ASSERT_TRUE(s.has_value());
    RegisterValues regs;
    for (const auto& req : telemetry_requests(s->protocol())) {
      auto resp = s->handle(req, TimePoint{});
      ASSERT_FALSE(resp.exception.has_value()) << name << " " << req.address;
      collect(req, resp, regs);
    }
    auto t = decode_telemetry(s->protocol(), regs);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->device_type, name);
    EXPECT_EQ(t->serial_number, s->serial());
    EXPECT_GT(t->total_battery_percent, 0);
    auto iot = s->handle(modbus::Request::read(kIotSerialRegister, 4), TimePoint{});
    EXPECT_EQ(decode_serial(iot.values.data()), s->iot_serial());
    EXPECT_NE(s->iot_serial(), s->serial());
    // Switching on raises the output power; off drops it to zero.
    auto on = s->handle(switch_request(s->protocol(), Output::dc, true), TimePoint{});
    EXPECT_EQ(on.values, (std::vector<std::uint16_t>{1}));
    EXPECT_GT(*s->get(layout(s->protocol()).dc_out), 0);
    (void)s->handle(switch_request(s->protocol(), Output::dc, false), TimePoint{});
    EXPECT_EQ(*s->get(layout(s->protocol()).dc_out), 0);
  }
  EXPECT_FALSE(PowerStation::create("AC9000").has_value());
  EXPECT_TRUE(PowerStation::create("ac180").has_value());
  RegisterValues empty;
  EXPECT_FALSE(decode_telemetry(Protocol::iot_v2, empty).has_value());
}

}  // namespace
}  // namespace blecrypt::bluetti
