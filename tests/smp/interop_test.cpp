// Cases an independent SMP peer can produce that our own peer never does (review of the engine
// against spec message order and error codes).
#include <gtest/gtest.h>

#include "harness.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

using blecrypt::test::hex;
using test::Link;
using test::drain;
using test::events_of;
using test::failure_in;

class Interop : public ::testing::TestWithParam<const crypto::Backend*> {
 protected:
  EngineConfig cfg(Role r, IoCapability io = IoCapability::no_input_no_output, bool sc = true) {
    EngineConfig c;
    c.role = r;
    c.io = io;
    c.secure_connections = sc;
    c.local_address = *Address::parse(r == Role::central ? "C0:00:00:00:00:01/random" : "C0:00:00:00:00:02/random");
    c.peer_address = *Address::parse(r == Role::central ? "C0:00:00:00:00:02/random" : "C0:00:00:00:00:01/random");
    c.backend = GetParam();
    return c;
  }
};


// Spec 2.4.6: a central may answer a Security Request with Pairing Failed (e.g. Pairing Not
// Supported). The peripheral that asked must report it as a remote failure, not drop it.
TEST_P(Interop, PeripheralReportsPairingFailedAnsweringItsSecurityRequest) {
  crypto::DeterministicRng rng(1);
  PairingEngine p(cfg(Role::peripheral), rng);
  ASSERT_TRUE(p.security_request(TimePoint{}));
  EXPECT_BYTES_EQ(drain(p).at(0), hex("0b0d"));
  EXPECT_FALSE(p.feed(hex("0505"), TimePoint{}));
  EXPECT_TRUE(drain(p).empty());  // never answer a Pairing Failed
  auto f = failure_in(events_of(p));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, 0x05);
  EXPECT_FALSE(f->local);
  EXPECT_FALSE(f->timeout);
  // A stray second Pairing Failed is not reported again.
  EXPECT_FALSE(p.feed(hex("0505"), TimePoint{}));
  EXPECT_FALSE(failure_in(events_of(p)));
  // And the central may still pair afterwards.
  EXPECT_TRUE(p.feed(hex("0103000d100303"), TimePoint{}));
  EXPECT_EQ(drain(p).at(0)[0], 0x02);
}

// Our own peer under SC-only answers a legacy Security Request with 0x03: the peripheral reports it.
TEST_P(Interop, ScOnlyCentralRefusingSecurityRequestIsSeenByThePeripheral) {
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(Role::central);
  c.sc_only = true;
  Link l(c, cfg(Role::peripheral, IoCapability::no_input_no_output, false), rc, rp);
  ASSERT_TRUE(l.p.engine->security_request(l.now));
  l.run();
  ASSERT_TRUE(l.c.failure);
  EXPECT_EQ(l.c.failure->reason, 0x03);
  ASSERT_TRUE(l.p.failure);
  EXPECT_EQ(l.p.failure->reason, 0x03);
  EXPECT_FALSE(l.p.failure->local);
}

// Legacy OOB is chosen when both OOB flags are set. A central that set its flag because it holds
// the peer's LESC OOB data, facing a legacy-only peripheral that holds a TK, has no TK: it must
// fail with OOB Not Available (0x02) instead of using a TK it does not have.
TEST_P(Interop, LegacyOobWithoutTkFailsOobNotAvailable) {
  crypto::DeterministicRng rng(1);
  PairingEngine c(cfg(Role::central), rng);
  OobData d;  // any LESC OOB data of the peer
  d.r[0] = 1;
  ASSERT_TRUE(c.set_peer_oob_data(d));
  ASSERT_TRUE(c.pair(TimePoint{}));
  auto req = drain(c).at(0);
  EXPECT_EQ(req[2], 0x01);  // OOB flag set (LESC data present)
  // Legacy-only peripheral with a TK: OOB flag 1, AuthReq Bond|MITM without SC.
  EXPECT_FALSE(c.feed(hex("02030105100303"), TimePoint{}));
  auto sent = drain(c);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_BYTES_EQ(sent[0], hex("0502"));
  auto f = failure_in(events_of(c));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, 0x02);
}

// The responder knows from the request whether the pairing will be LESC or legacy, so its OOB
// flag says whether it holds OOB data for THAT kind of pairing: LESC peer data does not count for
// legacy (no TK), and a legacy TK does not count for LESC.
TEST_P(Interop, ResponderOobFlagMatchesThePairingKind) {
  {
    crypto::DeterministicRng rng(1);
    PairingEngine p(cfg(Role::peripheral), rng);
    OobData d;
    d.r[0] = 1;
    ASSERT_TRUE(p.set_peer_oob_data(d));
    // Legacy central with a TK (OOB flag 1, no SC bit): our response says "no OOB data".
    EXPECT_TRUE(p.feed(hex("01030105100303"), TimePoint{}));
    auto sent = drain(p);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0][0], 0x02);
    EXPECT_EQ(sent[0][2], 0x00);
    EXPECT_TRUE(p.pairing_in_progress());
  }
  {
    crypto::DeterministicRng rng(1);
    auto c = cfg(Role::peripheral);
    c.legacy_oob_tk = Key128{1};
    PairingEngine p(c, rng);
    // LESC central without OOB data: a legacy TK is no LESC OOB data.
    EXPECT_TRUE(p.feed(hex("0103000d100303"), TimePoint{}));
    auto sent = drain(p);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0][2], 0x00);
    // Legacy central with a TK: legacy OOB, flag set.
    PairingEngine p2(c, rng);
    EXPECT_TRUE(p2.feed(hex("01030105100303"), TimePoint{}));
    auto sent2 = drain(p2);
    ASSERT_EQ(sent2.size(), 1u);
    EXPECT_EQ(sent2[0][2], 0x01);
  }
}

// Every key size 7..16 offered by a peer is accepted above the configured minimum, and every
// key (STK/LTK, distributed LTK) is masked to it.
TEST_P(Interop, EveryKeySizeFrom7To16) {
  for (bool sc : {true, false}) {
    for (std::uint8_t ks = 7; ks <= 16; ++ks) {
      crypto::DeterministicRng rc(ks), rp(ks + 100);
      auto c = cfg(Role::central, IoCapability::no_input_no_output, sc);
      auto p = cfg(Role::peripheral, IoCapability::no_input_no_output, sc);
      c.min_key_size = p.min_key_size = 7;
      p.max_key_size = ks;
      c.initiator_keys = c.responder_keys = p.initiator_keys = p.responder_keys = 7;
      Link l(c, p, rc, rp);
      l.pair();
      ASSERT_TRUE(l.c.result) << int(ks) << " sc=" << sc;
      ASSERT_TRUE(l.p.result);
      EXPECT_EQ(l.c.result->key_size, ks);
      EXPECT_EQ(l.p.result->key_size, ks);
      const SecretBytes& k = sc ? l.c.result->ltk : l.c.result->peer.ltk;
      ASSERT_EQ(k.size(), 16u);
      for (std::size_t i = ks; i < 16; ++i) EXPECT_EQ(k.view()[i], 0) << int(ks);
      if (sc) EXPECT_EQ(to_hex(l.c.result->ltk), to_hex(l.p.result->ltk));
      else EXPECT_EQ(to_hex(l.c.result->peer.ltk), to_hex(l.p.result->local.ltk));
    }
  }
}

// Keypress notifications (an independent peer with the Keypress bit) during passkey entry do not
// disturb the pairing.
TEST_P(Interop, KeypressNotificationsDuringPasskeyEntryAreHarmless) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central, IoCapability::keyboard_only), cfg(Role::peripheral, IoCapability::display_only), rc, rp);
  ASSERT_TRUE(l.c.engine->pair(l.now));
  int injected = 0;
  l.filter = [&](bool from_central, Bytes& pdu) {
    if (from_central && pdu[0] == 0x03 && injected < 3) {
      ++injected;
      for (std::uint8_t t = 0; t <= 4; ++t) EXPECT_TRUE(l.p.engine->feed(Bytes{0x0e, t}, l.now));
    }
    return true;
  };
  l.run();
  ASSERT_TRUE(l.c.result);
  ASSERT_TRUE(l.p.result);
  EXPECT_EQ(l.p.result->method, Method::passkey);
}

// Spec 2.4.6: a Security Request that arrives while a pairing (or encryption) is under way is
// ignored, but it is still reported (the peer line protocol prints every one) - marked ignored.
TEST_P(Interop, SecurityRequestDuringPairingIsReportedAsIgnored) {
  crypto::DeterministicRng rng(1);
  PairingEngine c(cfg(Role::central), rng);
  ASSERT_TRUE(c.pair(TimePoint{}));
  drain(c);
  events_of(c);
  EXPECT_TRUE(c.feed(hex("0b05"), TimePoint{}));
  EXPECT_TRUE(drain(c).empty());
  auto evs = events_of(c);
  ASSERT_EQ(evs.size(), 1u);
  auto* sr = std::get_if<events::SecurityRequestReceived>(&evs[0]);
  ASSERT_TRUE(sr);
  EXPECT_EQ(sr->auth_req, 0x05);
  EXPECT_TRUE(sr->ignored);
  EXPECT_TRUE(c.pairing_in_progress());
  // Outside a pairing it is not ignored.
  PairingEngine c2(cfg(Role::central), rng);
  EXPECT_TRUE(c2.feed(hex("0b0d"), TimePoint{}));
  auto evs2 = events_of(c2);
  ASSERT_EQ(evs2.size(), 1u);
  EXPECT_FALSE(std::get<events::SecurityRequestReceived>(evs2[0]).ignored);
}

// A key pair that cannot be made (bad fixed private key) ends the pairing with Pairing Failed
// instead of leaving the peer waiting for the SMP timeout.
TEST_P(Interop, KeyPairFailureFailsThePairingBothRoles) {
  auto bad = [&](Role r) {
    auto c = cfg(r);
    c.ecc_private_key = Bytes(32, 0);  // zero is no valid P-256 scalar
    return c;
  };
  crypto::DeterministicRng rng(1);
  PairingEngine c(bad(Role::central), rng);
  ASSERT_TRUE(c.pair(TimePoint{}));
  drain(c);
  events_of(c);
  EXPECT_FALSE(c.feed(hex("0203000d100303"), TimePoint{}));
  auto sent = drain(c);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_BYTES_EQ(sent[0], hex("0508"));
  ASSERT_TRUE(failure_in(events_of(c)));
  EXPECT_FALSE(c.pairing_in_progress());

  PairingEngine p(bad(Role::peripheral), rng);
  EXPECT_FALSE(p.feed(hex("0103000d100303"), TimePoint{}));
  auto sent_p = drain(p);
  ASSERT_FALSE(sent_p.empty());
  EXPECT_BYTES_EQ(sent_p.back(), hex("0508"));
  ASSERT_TRUE(failure_in(events_of(p)));
  EXPECT_FALSE(p.pairing_in_progress());
}

INSTANTIATE_TEST_SUITE_P(Backends, Interop, ::testing::ValuesIn(blecrypt::test::backends()),
                         blecrypt::test::backend_name);

}  // namespace
}  // namespace blecrypt::smp
