// The request layer (bluetti::Requests) over the client engine against the emulator, the engine
// lifecycle (on_link_down, moves), and the engine shape.
#include <gtest/gtest.h>

#include "blecrypt/bluetti/requests.hpp"
#include "pair.hpp"

namespace blecrypt::bluetti {
namespace {

using testing::Pair;

static_assert(Engine<Client> && Engine<Device>);

// Runs the pair until `id` completes; client events go through the request layer.
std::optional<Completion> run(Pair& p, Requests& r, RequestId id, bool silent_device = false) {
  for (int i = 0; i < 200; ++i) {
    const std::size_t sent = p.wire.size();
    if (silent_device) {
      while (auto w = p.client_tap.poll_transmit()) {
        (void)p.device.feed(*w, p.now);
        while (p.device.poll_transmit()) {
        }
      }
    } else {
      p.pump();
    }
    while (auto e = p.client.poll_event()) (void)r.on_event(*e, p.now);
    while (auto c = r.poll_completion())
      if (std::visit([](const auto& x) { return x.id; }, *c) == id) return c;
    silent_device = false;  // only the first request goes unanswered
    p.pump();
    if (p.wire.size() != sent) continue;  // traffic moved (the next request of a job): no time passes
    if (auto d = p.client.next_deadline()) {
      p.now = *d;
      p.client.on_deadline(p.now);
    }
  }
  return std::nullopt;
}

TEST(BluettiRequests, TelemetryDetectsProtocolAndModel) {
  for (const auto& model : PowerStation::models()) {
    SCOPED_TRACE(model);
    Pair p(crypto::default_backend(), crypto::default_backend(), model);
    p.connect();
    Requests r(p.client);
    auto c = run(p, r, r.read_telemetry(p.now));
    ASSERT_TRUE(c.has_value());
    auto* t = std::get_if<requests::TelemetryRead>(&*c);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->protocol, p.device.station().protocol());
    EXPECT_EQ(t->telemetry.device_type, model);
    EXPECT_EQ(t->telemetry.serial_number, p.device.station().serial());
    ASSERT_TRUE(r.protocol().has_value());
    EXPECT_EQ(r.model(), p.device.station().protocol() == Protocol::iot_v2 ? model : "");
  }
}

TEST(BluettiRequests, JobsQueuedBeforeTheSessionRunInOrder) {
  Pair p(crypto::default_backend(), crypto::default_backend(), "AC180");
  Requests r(p.client);
  auto a = r.read_registers(kIotSerialRegister, 4, p.now);
  ASSERT_TRUE(a.has_value());
  auto b = r.set_output(Output::ac, true, p.now);
  EXPECT_EQ(r.jobs(), 2u);
  p.connect();
  while (auto e = p.client.poll_event()) (void)r.on_event(*e, p.now);  // Established starts them
  auto ca = run(p, r, *a);
  ASSERT_TRUE(ca && std::holds_alternative<requests::RegistersRead>(*ca));
  EXPECT_EQ(decode_serial(std::get<requests::RegistersRead>(*ca).values.data()), p.device.station().iot_serial());
  auto cb = run(p, r, b);
  ASSERT_TRUE(cb && std::holds_alternative<requests::RegisterWritten>(*cb));
  EXPECT_EQ(p.device.station().get(2011), 1);
  EXPECT_EQ(r.read_registers(0, 0, p.now).error(), make_error_code(Errc::modbus_bad_count));
}

TEST(BluettiRequests, UnechoedWriteIsConfirmedByReadingBack) {
  Pair p(crypto::default_backend(), crypto::default_backend(), "EL30V2");
  p.connect();
  Requests r(p.client);
  r.set_protocol(Protocol::iot_v2);
  auto c = run(p, r, r.write_register(2011, 1, p.now), /*silent_device=*/true);
  ASSERT_TRUE(c.has_value());
  auto* w = std::get_if<requests::RegisterWritten>(&*c);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->read_back);
  // A write that did not take (read-only register, answer lost): reported, not assumed.
  c = run(p, r, r.write_register(110, 7, p.now), true);
  ASSERT_TRUE(c.has_value());
  auto* f = std::get_if<requests::Failed>(&*c);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->error, make_error_code(Errc::write_not_confirmed));
  // An exception is a failure with its code.
  c = run(p, r, *r.read_registers(5000, 1, p.now));
  ASSERT_TRUE(c && std::holds_alternative<requests::Failed>(*c));
  EXPECT_EQ(std::get<requests::Failed>(*c).exception, modbus::illegal_address);
}

TEST(BluettiLifecycle, LinkDownFailsRequestsWipesKeysAndReconnectsFresh) {
  Pair p(crypto::default_backend(), crypto::default_backend());
  p.connect();
  ASSERT_TRUE(p.client.established());
  while (p.client.poll_event()) {
  }
  ASSERT_TRUE(p.client.send_request(modbus::Request::read(102, 1), p.now));
  Requests r(p.client);
  const auto job = r.read_telemetry(p.now);
  p.pipe.disconnect();
  r.on_link_down();
  EXPECT_EQ(p.client.state(), ClientState::idle);
  EXPECT_TRUE(p.client.holds_no_secrets());
  EXPECT_TRUE(p.device.holds_no_secrets());
  EXPECT_EQ(p.client.pending_requests(), 0u);
  int failed = 0;
  while (auto e = p.client.poll_event())
    if (auto* f = std::get_if<events::RequestFailed>(&*e)) {
      EXPECT_EQ(f->error, make_error_code(Errc::link_down));
      ++failed;
    }
  EXPECT_EQ(failed, 2);  // ours and the request layer's probe
  auto c = r.poll_completion();
  ASSERT_TRUE(c && std::holds_alternative<requests::Failed>(*c));
  EXPECT_EQ(std::get<requests::Failed>(*c).id, job);
  EXPECT_EQ(std::get<requests::Failed>(*c).error, make_error_code(Errc::link_down));
  EXPECT_EQ(p.client.send_request(modbus::Request::read(102, 1), p.now).error(), make_error_code(Errc::not_established));
  // A new link: a new challenge, a new handshake (new keys), traffic works.
  p.wire.clear();
  p.connect();
  ASSERT_TRUE(p.client.established());
  ASSERT_GE(p.wire.size(), 6u);
  EXPECT_TRUE(testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4))).has_value());
}

TEST(BluettiLifecycle, MovedEnginesKeepWorking) {
  Pair p(crypto::default_backend(), crypto::default_backend());
  p.connect();
  ASSERT_TRUE(p.client.established());
  // Move both engines out and back (the late-handshake probe must not point into a moved-from
  // object), then run traffic and a late handshake record through them.
  Client moved_client(std::move(p.client));
  Device moved_device(std::move(p.device));
  p.client = std::move(moved_client);
  p.device = std::move(moved_device);
  ASSERT_TRUE(p.client.established() && p.device.established());
  EXPECT_TRUE(testing::response_of(p.exchange(modbus::Request::read(102, 1))).has_value());
}

TEST(BluettiGatt, ProfileNamesTheBluettiCharacteristics) {
  EXPECT_EQ(kGattProfile.service, "0000ff00-0000-1000-8000-00805f9b34fb");
  EXPECT_EQ(kGattProfile.write_characteristic, "0000ff02-0000-1000-8000-00805f9b34fb");
  EXPECT_EQ(kGattProfile.notify_characteristic, "0000ff01-0000-1000-8000-00805f9b34fb");
  EXPECT_EQ(kGattProfile.write_type, link::WriteType::with_response);
}

TEST(BluettiErrors, ForeignErrorsAreWrappedByOneRule) {
  EXPECT_EQ(as_bluetti_error(make_error_code(Errc::timeout)), make_error_code(Errc::timeout));
  EXPECT_EQ(as_bluetti_error(std::make_error_code(std::errc::invalid_argument)), make_error_code(Errc::crypto_failure));
  EXPECT_FALSE(as_bluetti_error({}));
}

}  // namespace
}  // namespace blecrypt::bluetti
