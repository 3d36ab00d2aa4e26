// Interoperability cases a real unit or an independent peer can produce that the happy path of
// our own emulator does not: duplicated handshake notifications, an FC06 write that is not echoed
// (EL30V2), late handshake records after the session is up.
#include <gtest/gtest.h>

#include "pair.hpp"

namespace blecrypt::bluetti {
namespace {

using testing::Pair;
using test::hex;

class BluettiInterop : public ::testing::TestWithParam<test::BackendPair> {
 protected:
  const crypto::Backend& cbe() const { return *GetParam().first; }
  const crypto::Backend& dbe() const { return *GetParam().second; }
};

std::vector<Bytes> drain_device(Pair& p) {
  std::vector<Bytes> out;
  while (auto t = p.device.poll_transmit()) out.push_back(std::move(*t));
  return out;
}
std::vector<Bytes> drain_client(Pair& p) {
  std::vector<Bytes> out;
  while (auto t = p.client.poll_transmit()) out.push_back(std::move(*t));
  return out;
}

// The unit repeats its challenge before the client's answer reaches it; the client answers both
// copies; the unit answers each CHALLENGE_RESPONSE with CHALLENGE_ACCEPTED + DEVICE_PUBKEY (our
// own emulator does exactly that). The second CHALLENGE_ACCEPTED arrives after DEVICE_PUBKEY.
TEST_P(BluettiInterop, DuplicateChallengeAcceptedIsIgnored) {
  Pair p(cbe(), dbe());
  p.client.on_link_up(p.now);
  p.device.on_link_up(p.now);
  auto challenge = drain_device(p).at(0);
  ASSERT_TRUE(p.client.feed(challenge, p.now));
  ASSERT_TRUE(p.client.feed(challenge, p.now));  // the repeat, answered as well
  auto responses = drain_client(p);
  ASSERT_EQ(responses.size(), 2u);
  ASSERT_TRUE(p.device.feed(responses[0], p.now));
  ASSERT_TRUE(p.device.feed(responses[1], p.now));
  auto notes = drain_device(p);
  ASSERT_EQ(notes.size(), 4u);  // accepted, key, accepted, key
  EXPECT_BYTES_EQ(notes[2], hex("2a2a0301000004"));
  for (const auto& n : notes) {
    auto r = p.client.feed(n, p.now);
    EXPECT_TRUE(r) << r.error().message();
  }
  ASSERT_NE(p.client.state(), ClientState::failed) << p.client.failure().message();
  EXPECT_EQ(p.client.state(), ClientState::wait_pubkey_accepted);
  // Both cached client records go out (the second DEVICE_PUBKEY re-sends it).
  auto writes = drain_client(p);
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_BYTES_EQ(writes[0], writes[1]);
  ASSERT_TRUE(p.device.feed(writes[0], p.now));
  (void)p.device.feed(writes[1], p.now);  // a unit may ignore or re-ack the duplicate
  p.pump();
  ASSERT_TRUE(p.client.established()) << client_state_name(p.client.state());
  // Traffic works afterwards on both sides, even with the duplicate client record in the pipe.
  auto e = testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4)));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(decode_serial(e->response.values.data()), p.device.station().iot_serial());
}

// A unit that sends DEVICE_PUBKEY or PUBKEY_ACCEPTED once more after the session is up (an
// independent client re-sends its cached key record; the unit acknowledges every copy). Those
// records have a 2-byte header: read with the session's 6-byte header they would swallow the
// start of the next record. They are skipped at every split size, and a read of one register
// (whose 7-byte answer has the same L as PUBKEY_ACCEPTED) still works.
TEST_P(BluettiInterop, LateHandshakeRecordsAfterSessionUpAreSkipped) {
  for (std::size_t split : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{17}, std::size_t{18},
                            std::size_t{20}, std::size_t{21}, std::size_t{200}}) {
    SCOPED_TRACE("split " + std::to_string(split));
    Pair p(cbe(), dbe(), "AC180", split);
    p.split = split;
    Bytes device_key, accepted;
    p.tamper = [&](std::size_t, bool to_client, Bytes& msg) {
      if (!to_client || msg.size() < 18 || starts_with_magic(msg)) return;
      if (msg.size() == 146 && device_key.empty()) device_key = msg;
      if (msg.size() == 18 && accepted.empty()) accepted = msg;
    };
    p.connect();
    ASSERT_TRUE(p.client.established());
    ASSERT_EQ(device_key.size(), 146u);
    ASSERT_EQ(accepted.size(), 18u);
    p.tamper = nullptr;
    p.deliver(true, accepted);
    p.deliver(true, device_key);
    p.deliver(true, accepted);
    for (int i = 0; i < 2; ++i) {
      auto one = testing::response_of(p.exchange(modbus::Request::read(102, 1)));  // 7-byte answer: L = 7
      ASSERT_TRUE(one.has_value());
      EXPECT_EQ(one->response.values.size(), 1u);
    }
    auto e = testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4)));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(decode_serial(e->response.values.data()), p.device.station().iot_serial());
    EXPECT_EQ(p.client.receive_buffered(), 0u);
  }
}

// EL30V2 reportedly does not echo an FC06 write. The next request's answer must still be matched
// to that request, not taken as unsolicited data while the unanswered write blocks the queue.
TEST_P(BluettiInterop, UnansweredWriteDoesNotShiftLaterResponses) {
  Pair p(cbe(), dbe(), "EL30V2");
  p.connect();
  ASSERT_TRUE(p.client.established());
  ASSERT_TRUE(p.client.send_request(switch_request(Protocol::iot_v2, Output::ac, true), p.now));
  for (auto& w : drain_client(p)) (void)p.device.feed(w, p.now);
  (void)drain_device(p);  // the unit stays silent (no echo)
  while (p.client.poll_event()) {
  }
  auto e = testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4)));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->request.address, kIotSerialRegister);
  EXPECT_EQ(decode_serial(e->response.values.data()), p.device.station().iot_serial());
  EXPECT_EQ(p.client.pending_requests(), 0u);
}

// The link dropped and the unit challenges again, but the caller never called reset() (the
// official module has no reset; its callers keep one object). A CHALLENGE at a record boundary is
// unambiguous (no session record starts with 2A 2A): a full new handshake starts, with new keys.
TEST_P(BluettiInterop, NewChallengeWhileEstablishedStartsANewHandshake) {
  Pair p(cbe(), dbe());
  p.connect();
  ASSERT_TRUE(p.client.established());
  ASSERT_TRUE(p.client.send_request(modbus::Request::read(102, 1), p.now));
  (void)drain_client(p);  // lost with the link
  while (p.client.poll_event()) {
  }
  p.device.reset();
  p.device.on_link_up(p.now);  // reconnected: a new challenge
  p.pump();
  ASSERT_TRUE(p.client.established()) << client_state_name(p.client.state()) << " " << p.client.failure().message();
  ASSERT_TRUE(p.device.established()) << device_state_name(p.device.state());
  bool old_request_failed = false;
  while (auto e = p.client.poll_event())
    if (std::holds_alternative<events::RequestFailed>(*e)) old_request_failed = true;
  EXPECT_TRUE(old_request_failed);  // the request of the old link is not left pending
  EXPECT_EQ(p.client.pending_requests(), 0u);
  EXPECT_TRUE(testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4))).has_value());
}

// A garbled notification while the session is up (older firmware sends "AT+NAME?\r"; any junk
// a peer might emit): the rest of that notification is dropped so the next notification starts
// at a record boundary again, instead of leaving stray bytes that shift every later record.
TEST_P(BluettiInterop, GarbageNotificationDoesNotDesynchroniseTheSession) {
  for (const std::string& junk : {std::string("AT+NAME?\r"), std::string("AT+ADV?\r"), std::string("\xff\xff\x01", 3)}) {
    SCOPED_TRACE(junk);
    Pair p(cbe(), dbe());
    p.connect();
    ASSERT_TRUE(p.client.established());
    EXPECT_FALSE(p.client.feed(as_bytes(junk), p.now));
    EXPECT_EQ(p.client.receive_buffered(), 0u);
    EXPECT_FALSE(p.device.feed(as_bytes(junk), p.now));
    while (p.device.poll_event()) {
    }
    EXPECT_TRUE(testing::response_of(p.exchange(modbus::Request::read(kIotSerialRegister, 4))).has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BluettiInterop, ::testing::ValuesIn(test::backend_pairs()), test::backend_pair_name);

}  // namespace
}  // namespace blecrypt::bluetti
