// Client engine against device engine, across every backend pair (OpenSSL client vs mbedTLS
// device and the reverse), at every split size, with tampering, repeats, resets and deadlines.
#include <gtest/gtest.h>

#include "pair.hpp"

namespace blecrypt::bluetti {
namespace {

using testing::Pair;
using test::hex;

class BluettiEngines : public ::testing::TestWithParam<test::BackendPair> {
 protected:
  const crypto::Backend& cbe() const { return *GetParam().first; }
  const crypto::Backend& dbe() const { return *GetParam().second; }
};

void expect_traffic(Pair& p) {
  ASSERT_TRUE(p.client.established()) << client_state_name(p.client.state()) << " " << p.client.failure().message();
  ASSERT_TRUE(p.device.established()) << device_state_name(p.device.state()) << " " << p.device.failure().message();
  auto t = p.telemetry();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->device_type, p.device.station().model());
  EXPECT_EQ(t->serial_number, p.device.station().serial());
  EXPECT_FALSE(t->ac_output_on);
  EXPECT_EQ(t->ac_output_power, 0);
  auto w = testing::response_of(p.exchange(switch_request(p.device.station().protocol(), Output::ac, true)));
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(w->response.exception.has_value());
  auto t2 = p.telemetry();
  ASSERT_TRUE(t2.has_value());
  EXPECT_TRUE(t2->ac_output_on);
  EXPECT_GT(t2->ac_output_power, 0);
  // The IoT serial read of status 3.
  auto sn = testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4)));
  ASSERT_TRUE(sn.has_value());
  ASSERT_EQ(sn->response.values.size(), 4u);
  EXPECT_EQ(decode_serial(sn->response.values.data()), p.device.station().iot_serial());
}

TEST_P(BluettiEngines, HandshakeAndRegistersAtEverySplitSize) {
  for (std::size_t split = 1; split <= 200; ++split) {
    SCOPED_TRACE("split " + std::to_string(split));
    Pair p(cbe(), dbe(), "AC180", split);
    p.split = split;
    p.connect();
    expect_traffic(p);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_P(BluettiEngines, SeveralFramesPerNotification) {
  for (std::size_t split : {std::size_t{517}, std::size_t{20}, std::size_t{7}, std::size_t{1}}) {
    SCOPED_TRACE("split " + std::to_string(split));
    Pair p(cbe(), dbe(), "EL30V2");
    p.coalesce = true;
    p.split = split;
    p.connect();
    expect_traffic(p);
    // Two session records in one notification: both answers are delivered in order.
    ASSERT_TRUE(p.client.send_request(modbus::Request::read(102, 1), p.now));
    ASSERT_TRUE(p.client.send_request(modbus::Request::read(116, 4), p.now));
    p.pump();
    int responses = 0;
    while (auto e = p.client.poll_event()) responses += std::holds_alternative<events::Response>(*e);
    EXPECT_EQ(responses, 2);
  }
}

TEST_P(BluettiEngines, EveryModelWorks) {
  for (const auto& m : PowerStation::models()) {
    Pair p(cbe(), dbe(), m);
    p.split = 20;
    p.connect();
    expect_traffic(p);
  }
}

// Every single-byte flip of every handshake message ends in a typed failure of the client, and
// never in both sides established.
void flip_all(const crypto::Backend& cbe, const crypto::Backend& dbe, std::uint8_t mask) {
  // Learn the message sizes from one clean run.
  Pair clean(cbe, dbe);
  clean.connect();
  ASSERT_TRUE(clean.client.established());
  ASSERT_EQ(clean.wire.size(), 6u);  // CHALLENGE, RESPONSE, ACCEPTED, DEVICE_PUBKEY, CLIENT_PUBKEY, PUBKEY_ACCEPTED
  const std::size_t sizes[] = {10, 10, 7, 146, 146, 18};
  for (std::size_t m = 0; m < 6; ++m) {
    ASSERT_EQ(clean.wire[m].size(), sizes[m]) << m;
    for (std::size_t i = 0; i < sizes[m]; ++i) {
      SCOPED_TRACE("message " + std::to_string(m) + " byte " + std::to_string(i));
      Pair p(cbe, dbe, "AC180", 7 + i);
      p.split = 20;
      p.tamper = [&](std::size_t idx, bool, Bytes& msg) {
        if (idx == m && i < msg.size()) msg[i] ^= mask;
      };
      p.connect();
      p.run_deadlines();
      ASSERT_EQ(p.client.state(), ClientState::failed);
      EXPECT_EQ(&p.client.failure().category(), &category()) << p.client.failure().message();
      EXPECT_FALSE(p.client.established() && p.device.established());
      EXPECT_TRUE(p.client.holds_no_secrets());
    }
  }
}

TEST_P(BluettiEngines, EveryHandshakeByteFlipFailsCleanly) { flip_all(cbe(), dbe(), 0x01); }

TEST(BluettiEnginesFlips, OtherFlipMasks) {
  flip_all(crypto::openssl_backend(), crypto::mbedtls_backend(), 0x80);
  flip_all(crypto::mbedtls_backend(), crypto::openssl_backend(), 0xFF);
}

TEST_P(BluettiEngines, CorruptedSessionRecordIsRejectedByModbusCrc) {
  Pair p(cbe(), dbe());
  p.connect();
  ASSERT_TRUE(p.client.established());
  // Corrupt each byte position of the ciphertext of a device answer in turn.
  for (std::size_t pos = 6; pos < 38; ++pos) {
    p.tamper = [&](std::size_t, bool to_client, Bytes& msg) {
      if (to_client && pos < msg.size()) msg[pos] ^= 0x04;
    };
    auto e = p.exchange(modbus::Request::read(110, 10));  // 25-byte answer: 38-byte record
    ASSERT_TRUE(e.has_value()) << pos;
    if (pos < 6 + 25) {
      auto f = testing::failure_of(e);
      ASSERT_TRUE(f.has_value()) << pos;
      EXPECT_EQ(f->error, make_error_code(Errc::modbus_bad_crc)) << pos;
    }
  }
  // The seed bytes too: a different IV garbles the first block.
  for (std::size_t pos = 2; pos < 6; ++pos) {
    p.tamper = [&](std::size_t, bool to_client, Bytes& msg) {
      if (to_client) msg[pos] ^= 0x01;
    };
    auto f = testing::failure_of(p.exchange(modbus::Request::read(110, 1)));
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->error, make_error_code(Errc::modbus_bad_crc));
  }
  p.tamper = nullptr;
  EXPECT_TRUE(p.client.established());
  EXPECT_TRUE(testing::response_of(p.exchange(modbus::Request::read(102, 1))).has_value());
}

TEST_P(BluettiEngines, ResetWipesAndReconnects) {
  Pair p(cbe(), dbe());
  p.connect();
  ASSERT_TRUE(p.client.established());
  EXPECT_FALSE(p.client.holds_no_secrets());
  p.client.reset();
  p.device.reset();
  EXPECT_TRUE(p.client.holds_no_secrets());
  EXPECT_TRUE(p.device.holds_no_secrets());
  EXPECT_EQ(p.client.state(), ClientState::idle);
  EXPECT_EQ(p.client.send_request(modbus::Request::read(102, 1), p.now).error(), make_error_code(Errc::not_established));
  // A new connection with a new challenge: the old IV_h must not survive (bluetti-bt-lib PR #98).
  p.wire.clear();
  p.connect();
  expect_traffic(p);
  // Reset in the middle of a handshake, then reconnect.
  p.client.reset();
  p.device.reset();
  p.client.on_link_up(p.now);
  p.device.on_link_up(p.now);
  ASSERT_TRUE(p.device.poll_transmit().has_value());  // the challenge is lost with the link
  p.client.reset();
  p.device.reset();
  p.connect();
  EXPECT_TRUE(p.client.established());
}

TEST_P(BluettiEngines, RepeatedChallengeAndDevicePubkey) {
  Pair p(cbe(), dbe());
  p.client.on_link_up(p.now);
  p.device.on_link_up(p.now);
  auto challenge = *p.device.poll_transmit();
  // The unit repeats its unanswered challenge: the client answers each time, identically.
  ASSERT_TRUE(p.client.feed(challenge, p.now));
  auto r1 = *p.client.poll_transmit();
  ASSERT_TRUE(p.client.feed(challenge, p.now));
  auto r2 = *p.client.poll_transmit();
  EXPECT_BYTES_EQ(r1, r2);
  ASSERT_TRUE(p.device.feed(r1, p.now));
  auto accepted = *p.device.poll_transmit();
  auto device_key = *p.device.poll_transmit();
  EXPECT_BYTES_EQ(accepted, hex("2a2a0301000004"));
  ASSERT_TRUE(p.client.feed(accepted, p.now));
  ASSERT_TRUE(p.client.feed(device_key, p.now));
  auto client_key = *p.client.poll_transmit();
  // DEVICE_PUBKEY again: the cached client record is re-sent byte for byte.
  ASSERT_TRUE(p.client.feed(device_key, p.now));
  auto again = *p.client.poll_transmit();
  EXPECT_BYTES_EQ(client_key, again);
  ASSERT_TRUE(p.device.feed(client_key, p.now));
  p.pump();
  expect_traffic(p);
}

TEST_P(BluettiEngines, DeviceRepeatsChallengeThenGivesUp) {
  Pair p(cbe(), dbe());
  p.device.on_link_up(p.now);
  int challenges = 0;
  Bytes first;
  for (int i = 0; i < 20 && p.device.state() != DeviceState::failed; ++i) {
    while (auto t = p.device.poll_transmit()) {
      if (first.empty()) first = *t;
      EXPECT_BYTES_EQ(*t, first);
      ++challenges;
    }
    p.now = *p.device.next_deadline();
    p.device.on_deadline(p.now);
  }
  EXPECT_EQ(challenges, 6);
  EXPECT_EQ(p.device.failure(), make_error_code(Errc::timeout));
}

TEST_P(BluettiEngines, PlainPubkeyAcceptedAndRejections) {
  // PUBKEY_ACCEPTED in plain (ESPHome accepts it) ends the handshake too.
  {
    Pair p(cbe(), dbe());
    p.tamper = [&](std::size_t idx, bool, Bytes& msg) {
      if (idx == 5) msg = hex("2a2a0601000007");
    };
    p.connect();
    EXPECT_TRUE(p.client.established());
  }
  // Non-zero statuses fail cleanly with their own errors.
  {
    Pair p(cbe(), dbe());
    p.tamper = [&](std::size_t idx, bool, Bytes& msg) {
      if (idx == 2) msg = encode_frame(FrameType::challenge_accepted, hex("01"));
    };
    p.connect();
    EXPECT_EQ(p.client.failure(), make_error_code(Errc::challenge_rejected));
  }
  {
    Pair p(cbe(), dbe());
    p.tamper = [&](std::size_t idx, bool, Bytes& msg) {
      if (idx == 5) msg = encode_frame(FrameType::pubkey_accepted, hex("02"));
    };
    p.connect();
    EXPECT_EQ(p.client.failure(), make_error_code(Errc::pubkey_rejected));
  }
  // A client verifying with K2 (a real unit's key) rejects the emulator's test-key signature.
  {
    crypto::DeterministicRng crng(1), drng(2);
    auto cfg = ClientConfig::make(cbe(), {});
    Client client(std::move(*cfg), crng);
    Device device(testing::device_config(dbe()), *PowerStation::create("EB3A"), drng);
    link::Pipe pipe(client, device);
    pipe.connect();
    EXPECT_EQ(client.failure(), make_error_code(Errc::device_signature_invalid));
    EXPECT_TRUE(client.holds_no_secrets());
  }
  // The device refuses a client that signs with another key than L1.
  {
    Pair p(cbe(), dbe());
    auto cfg = testing::client_config(cbe());
    cfg.client_signing_key = std::move(*cbe().p256_from_private(Bytes(32, 0x05)));
    crypto::DeterministicRng rng(9);
    Client rogue(std::move(cfg), rng);
    link::Pipe pipe(rogue, p.device);
    pipe.connect();
    EXPECT_EQ(p.device.failure(), make_error_code(Errc::client_signature_invalid));
    EXPECT_EQ(rogue.failure(), make_error_code(Errc::pubkey_rejected));
  }
}

TEST_P(BluettiEngines, HandshakeStepDeadlines) {
  Pair p(cbe(), dbe());
  p.client.on_link_up(p.now);
  ASSERT_TRUE(p.client.next_deadline().has_value());
  EXPECT_EQ(*p.client.next_deadline(), p.now + std::chrono::seconds(30));
  p.client.on_deadline(p.now + std::chrono::seconds(29));
  EXPECT_EQ(p.client.state(), ClientState::wait_challenge);
  p.client.on_deadline(p.now + std::chrono::seconds(30));
  EXPECT_EQ(p.client.failure(), make_error_code(Errc::timeout));
  // A request with no answer times out; the session stays up.
  Pair q(cbe(), dbe());
  q.connect();
  while (q.client.poll_event()) {
  }
  ASSERT_TRUE(q.client.send_request(modbus::Request::read(102, 1), q.now));
  (void)q.client.poll_transmit();  // lost on the air
  ASSERT_TRUE(q.client.next_deadline().has_value());
  q.client.on_deadline(*q.client.next_deadline());
  auto f = testing::failure_of(q.client.poll_event());
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->error, make_error_code(Errc::timeout));
  EXPECT_TRUE(q.client.established());
}

TEST_P(BluettiEngines, ExceptionsForUnmappedAndReadOnly) {
  Pair p(cbe(), dbe());
  p.connect();
  auto e = p.exchange(modbus::Request::read(5000, 2));
  ASSERT_TRUE(testing::response_of(e).has_value());
  EXPECT_EQ(testing::response_of(e)->response.exception, modbus::illegal_address);
  e = p.exchange(modbus::Request::write(110, 1));  // model name: read-only
  ASSERT_TRUE(testing::response_of(e).has_value());
  EXPECT_EQ(testing::response_of(e)->response.exception, modbus::illegal_value);
  e = p.exchange(modbus::Request::write_many(2011, {1, 1}));  // both switches via FC16
  ASSERT_TRUE(testing::response_of(e).has_value());
  EXPECT_FALSE(testing::response_of(e)->response.exception.has_value());
  auto t = p.telemetry();
  EXPECT_TRUE(t->ac_output_on && t->dc_output_on);
  EXPECT_GT(t->dc_output_power, 0);
  // Serials never change; SOC moves with time and load.
  const auto soc0 = t->total_battery_percent;
  p.now += std::chrono::hours(1);
  auto t2 = p.telemetry();
  EXPECT_EQ(t2->serial_number, t->serial_number);
  EXPECT_NE(t2->total_battery_percent, soc0);
}

TEST_P(BluettiEngines, ReassemblerBoundsAndErrors) {
  Reassembler r;
  r.set_header_size(kSessionHeader);
  Bytes over = hex("0101");  // L = 257 -> 6 + 272 > 262
  ByteView in(over);
  EXPECT_EQ(r.next(in).error(), make_error_code(Errc::record_too_long));
  EXPECT_EQ(r.buffered(), 0u);
  Bytes zero = hex("0000");
  in = zero;
  EXPECT_EQ(r.next(in).error(), make_error_code(Errc::record_length_invalid));
  // A `**` inside a record is payload, not a frame.
  Bytes rec = hex("000a0102030400000000");
  rec.resize(22, 0x2a);
  Bytes frame = hex("2a2a0301000004");
  Bytes both = concat({rec, frame});
  in = both;
  auto u1 = r.next(in);
  ASSERT_TRUE(u1.has_value() && u1->has_value());
  EXPECT_FALSE((*u1)->is_frame);
  EXPECT_EQ((*u1)->bytes.size(), 22u);
  auto u2 = r.next(in);
  ASSERT_TRUE(u2.has_value() && u2->has_value());
  EXPECT_TRUE((*u2)->is_frame);
  EXPECT_BYTES_EQ((*u2)->bytes, frame);
  // A device flooding garbage never makes the client buffer grow past one record.
  Pair p(cbe(), dbe());
  p.connect();
  Bytes junk(5000, 0x00);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<std::uint8_t>(i * 7);
  (void)p.client.feed(junk, p.now);
  EXPECT_LE(p.client.receive_buffered(), kMaxRecord);
}

INSTANTIATE_TEST_SUITE_P(Pairs, BluettiEngines, ::testing::ValuesIn(test::backend_pairs()), test::backend_pair_name);

}  // namespace
}  // namespace blecrypt::bluetti
