// One test per check of the spec's CVE table (smp.md section 8) and the section 7 rules.
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

EngineConfig base(Role role, IoCapability io = IoCapability::no_input_no_output, bool sc = true) {
  EngineConfig c;
  c.role = role;
  c.io = io;
  c.secure_connections = sc;
  c.local_address = *Address::parse(role == Role::central ? "C0:00:00:00:00:01/random" : "C0:00:00:00:00:02/random");
  c.peer_address = *Address::parse(role == Role::central ? "C0:00:00:00:00:02/random" : "C0:00:00:00:00:01/random");
  return c;
}


Bytes public_key_pdu(ByteView xy_spec) {
  Bytes b{0x0c};
  append(b, reversed(xy_spec.subspan(0, 32)));
  append(b, reversed(xy_spec.subspan(32, 32)));
  return b;
}

// A peripheral that has answered a LESC Pairing Request and waits for the public key.
struct WaitingPeripheral {
  crypto::DeterministicRng rng{1};
  PairingEngine e;
  explicit WaitingPeripheral(EngineConfig c = base(Role::peripheral)) : e(std::move(c), rng) {
    EXPECT_TRUE(e.feed(hex("0103000d100303"), TimePoint{}));
    auto sent = drain(e);
    EXPECT_EQ(sent.size(), 1u);
    events_of(e);
  }
};

class Cve : public ::testing::TestWithParam<const crypto::Backend*> {
 protected:
  EngineConfig cfg(Role r, IoCapability io = IoCapability::no_input_no_output, bool sc = true) {
    auto c = base(r, io, sc);
    c.backend = GetParam();
    return c;
  }
};

// CVE-2018-5383: every invalid-curve vector ends the pairing with DHKey Check Failed, no confirm.
TEST_P(Cve, InvalidCurvePublicKeysFail0x0B) {
  const auto doc = blecrypt::test::load_vectors("smp_test_vectors.json");
  int n = 0;
  for (const auto& v : doc.at("vectors")) {
    if (v.at("function") != "p256_invalid_public_key") continue;
    ++n;
    WaitingPeripheral wp(cfg(Role::peripheral));
    Bytes xy = concat({hex(v.at("inputs").at("public_x").get<std::string>()), hex(v.at("inputs").at("public_y").get<std::string>())});
    EXPECT_FALSE(wp.e.feed(public_key_pdu(xy), TimePoint{}));
    auto sent = drain(wp.e);
    ASSERT_EQ(sent.size(), 1u) << v.at("id");
    EXPECT_BYTES_EQ(sent[0], hex("050b"));
    EXPECT_FALSE(wp.e.pairing_in_progress());
  }
  EXPECT_EQ(n, 5);
}

// CVE-2020-26558 / 26555: our own public key reflected back -> 0x0B, no confirm.
TEST_P(Cve, ReflectedPublicKeyFails0x0B) {
  auto c = cfg(Role::peripheral);
  c.ecc_private_key = hex("55188b3d32f6bb9a900afcfbeed4e72a59cb9ac2f19d7cfb6b4fdd49f47fc5fd");
  WaitingPeripheral wp(c);
  auto kp = GetParam()->p256_from_private(c.ecc_private_key);
  EXPECT_FALSE(wp.e.feed(public_key_pdu((*kp)->public_raw()), TimePoint{}));
  auto sent = drain(wp.e);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_BYTES_EQ(sent[0], hex("050b"));
}

// Debug keys: refused by default (0x03) ...
TEST_P(Cve, PeerDebugKeyRefusedByDefault) {
  WaitingPeripheral wp(cfg(Role::peripheral));
  EXPECT_FALSE(wp.e.feed(public_key_pdu(kDebugPublicKey), TimePoint{}));
  auto sent = drain(wp.e);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_BYTES_EQ(sent[0], hex("0503"));
}

// ... and both sides on the debug key (explicitly enabled) is not a reflection.
TEST_P(Cve, BothSidesInDebugModePair) {
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(Role::central), p = cfg(Role::peripheral);
  c.debug_keys = p.debug_keys = true;
  Link l(c, p, rc, rp);
  l.pair();
  EXPECT_TRUE(l.c.result && l.p.result);
  // One side in debug mode only: the other refuses.
  crypto::DeterministicRng rc2(1), rp2(2);
  auto c2 = cfg(Role::central);
  c2.debug_keys = true;
  Link l2(c2, cfg(Role::peripheral), rc2, rp2);
  l2.pair();
  ASSERT_TRUE(l2.p.failure);
  EXPECT_EQ(l2.p.failure->reason, 0x03);
}

// KNOB (CVE-2019-9506 class): Max Key Size 7 against the default minimum 16 -> 0x06.
TEST_P(Cve, KeySizeDowngradeRefused0x06) {
  crypto::DeterministicRng rng(1);
  PairingEngine p(cfg(Role::peripheral), rng);
  EXPECT_FALSE(p.feed(hex("0103000d070303"), TimePoint{}));
  auto sent = drain(p);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_BYTES_EQ(sent[0], hex("0506"));
  // As central: a response with 7.
  PairingEngine c(cfg(Role::central), rng);
  ASSERT_TRUE(c.pair(TimePoint{}));
  drain(c);
  EXPECT_FALSE(c.feed(hex("0203000d070303"), TimePoint{}));
  EXPECT_BYTES_EQ(drain(c).at(0), hex("0506"));
}

TEST_P(Cve, KeySizeAllowedAboveAConfiguredMinimumAndKeyMasked) {
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(Role::central), p = cfg(Role::peripheral);
  c.min_key_size = p.min_key_size = 7;
  c.max_key_size = 7;
  Link l(c, p, rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result && l.p.result);
  EXPECT_EQ(l.c.result->key_size, 7);
  for (std::size_t i = 7; i < 16; ++i) EXPECT_EQ(l.c.result->ltk[i], 0) << i;
  EXPECT_EQ(l.c.result->level, SecurityLevel::just_works);
}

// CVE-2019-19196 Key Size Overflow: 17 and 255 -> 0x0A, 0 -> 0x06, never a crash.
TEST_P(Cve, KeySizeOverflowRejected) {
  for (auto [ks, reason] : {std::pair{0x11, 0x0a}, std::pair{0xff, 0x0a}, std::pair{0x00, 0x06}, std::pair{0x06, 0x06}}) {
    crypto::DeterministicRng rng(1);
    PairingEngine p(cfg(Role::peripheral), rng);
    Bytes req = hex("0103000d100303");
    req[4] = static_cast<std::uint8_t>(ks);
    EXPECT_FALSE(p.feed(req, TimePoint{}));
    auto sent = drain(p);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0][1], reason) << ks;
  }
}

// CVE-2019-19194 Zero LTK Installation: an LTK request mid-pairing gets a negative reply.
TEST_P(Cve, LtkRequestOutOfOrderGetsNegativeReply) {
  WaitingPeripheral wp(cfg(Role::peripheral));
  wp.e.ltk_request(0, Bytes(8, 0), TimePoint{});
  auto evs = events_of(wp.e);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(std::get<events::LtkReply>(evs[0]).ltk.empty());
  // And with no pairing and no bond at all.
  crypto::DeterministicRng rng(3);
  PairingEngine idle(cfg(Role::peripheral), rng);
  idle.ltk_request(0, Bytes(8, 0), TimePoint{});
  auto evs2 = events_of(idle);
  EXPECT_TRUE(std::get<events::LtkReply>(evs2.at(0)).ltk.empty());
}

// Out-of-order Pairing Random / DHKey Check: Pairing Failed 0x08, no key.
TEST_P(Cve, SkippedStepsFailWithUnspecifiedReason) {
  for (const char* pdu : {"04000102030405060708090a0b0c0d0e0f", "0d000102030405060708090a0b0c0d0e0f",
                          "06000102030405060708090a0b0c0d0e0f"}) {
    WaitingPeripheral wp(cfg(Role::peripheral));
    EXPECT_FALSE(wp.e.feed(hex(pdu), TimePoint{}));
    auto sent = drain(wp.e);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_BYTES_EQ(sent[0], hex("0508"));
    wp.e.ltk_request(0, Bytes(8, 0), TimePoint{});
    auto evs = events_of(wp.e);
    EXPECT_TRUE(std::get<events::LtkReply>(evs.back()).ltk.empty());
  }
}

// The pairing key is handed out only in the waiting-for-encryption state and only for EDIV/Rand 0.
TEST_P(Cve, LtkOnlyForZeroEdivRandWhileWaitingForEncryption) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central), cfg(Role::peripheral), rc, rp);
  ASSERT_TRUE(l.c.engine->pair(l.now));
  // Run until the peripheral waits for encryption, intercepting StartEncryption ourselves.
  l.pipe.between = nullptr;  // no link-layer model, no events handled: PDUs only
  l.pipe.pump();
  ASSERT_TRUE(l.p.engine->waiting_for_encryption());
  events_of(*l.p.engine);
  l.p.engine->ltk_request(0x1234, Bytes(8, 0), l.now);
  auto evs = events_of(*l.p.engine);
  EXPECT_TRUE(std::get<events::LtkReply>(evs.at(0)).ltk.empty());
  l.p.engine->ltk_request(0, Bytes(8, 0), l.now);
  evs = events_of(*l.p.engine);
  EXPECT_EQ(std::get<events::LtkReply>(evs.at(0)).ltk.size(), 16u);
}

// BLURtooth class: a weaker re-pairing is refused (0x03) and the bond stays as it was.
TEST_P(Cve, WeakerRepairingRefusedBondUnchanged) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central, IoCapability::display_yes_no), cfg(Role::peripheral, IoCapability::display_yes_no), rc, rp);
  l.pair();
  ASSERT_TRUE(l.p.result);
  ASSERT_TRUE(l.p.engine->bond() && l.p.engine->bond()->authenticated);
  const std::string ltk_before = to_hex(l.p.engine->bond()->ltk);
  // The "same" central comes back without MITM ability: Just Works would be weaker.
  crypto::DeterministicRng rc2(3);
  auto weak = cfg(Role::central, IoCapability::no_input_no_output);
  PairingEngine attacker(weak, rc2);
  ASSERT_TRUE(attacker.pair(l.now));
  auto req = drain(attacker).at(0);
  events_of(*l.p.engine);
  EXPECT_FALSE(l.p.engine->feed(req, l.now));
  auto sent = drain(*l.p.engine);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_BYTES_EQ(sent[0], hex("0503"));
  auto evs = events_of(*l.p.engine);
  bool rejected = false;
  for (auto& e : evs) rejected |= std::holds_alternative<events::PairingRequestRejected>(e);
  EXPECT_TRUE(rejected);
  EXPECT_EQ(to_hex(l.p.engine->bond()->ltk), ltk_before);
  EXPECT_TRUE(l.p.engine->bond()->authenticated);
}

TEST_P(Cve, RepairingRefusedByPolicyFlag) {
  crypto::DeterministicRng rc(1), rp(2);
  auto p = cfg(Role::peripheral);
  Link l(cfg(Role::central), p, rc, rp);
  l.pair();
  ASSERT_TRUE(l.p.result);
  auto bond = l.p.engine->bond();
  auto p2 = cfg(Role::peripheral);
  p2.reject_bonded_repairing = true;
  p2.bond = bond;
  crypto::DeterministicRng rp2(5);
  PairingEngine strict(p2, rp2);
  EXPECT_FALSE(strict.feed(hex("0103000d100303"), l.now));
  EXPECT_BYTES_EQ(drain(strict).at(0), hex("0505"));
}

// Zephyr #114792: no 21st passkey round.
TEST_P(Cve, TwentyFirstPasskeyConfirmFails) {
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(Role::central, IoCapability::keyboard_only), p = cfg(Role::peripheral, IoCapability::display_only);
  Link l(c, p, rc, rp);
  int confirms = 0;
  Bytes last_confirm;
  bool injected = false;
  l.filter = [&](bool from_central, Bytes& pdu) {
    if (from_central && pdu[0] == 0x03) {
      ++confirms;
      last_confirm = pdu;
    }
    if (from_central && pdu[0] == 0x0d && !injected) {
      injected = true;
      pdu = last_confirm;  // a 21st Pairing Confirm instead of the DHKey check
    }
    return true;
  };
  l.pair();
  EXPECT_EQ(confirms, 20);
  ASSERT_TRUE(injected);
  ASSERT_TRUE(l.p.failure);
  EXPECT_EQ(l.p.failure->reason, 0x08);
  EXPECT_FALSE(l.p.result);
}

// A wrong bit in round k fails with 0x04 at round k.
TEST_P(Cve, WrongPasskeyBitFailsAtThatRound) {
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(Role::central, IoCapability::keyboard_only), p = cfg(Role::peripheral, IoCapability::display_only);
  p.passkey = 0;          // all bits 0
  Link l(c, p, rc, rp);
  l.c.typed = 1u << 5;    // bit 5 differs
  int confirms = 0;
  l.filter = [&](bool from_central, Bytes& pdu) {
    if (from_central && pdu[0] == 0x03) ++confirms;
    return true;
  };
  l.pair();
  ASSERT_TRUE(l.p.failure);
  EXPECT_EQ(l.p.failure->reason, 0x04);
  EXPECT_EQ(confirms, 6);  // rounds 0..5
}

// SM/MAS/PROT/BV-01-C: after the 30 s timeout nothing is sent or accepted.
TEST_P(Cve, TimeoutStopsAllSmpTraffic) {
  crypto::DeterministicRng rng(1);
  PairingEngine c(cfg(Role::central), rng);
  const TimePoint t0 = time_from_seconds(100);
  ASSERT_TRUE(c.pair(t0));
  drain(c);
  events_of(c);
  ASSERT_TRUE(c.next_deadline());
  EXPECT_EQ(*c.next_deadline(), t0 + std::chrono::seconds(30));
  c.on_deadline(t0 + std::chrono::seconds(29));
  EXPECT_TRUE(c.pairing_in_progress());
  c.on_deadline(t0 + std::chrono::seconds(30));
  auto f = failure_in(events_of(c));
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->timeout);
  EXPECT_TRUE(c.timed_out());
  EXPECT_EQ(c.feed(hex("0203000d100303"), t0 + std::chrono::seconds(31)).error(), Errc::timed_out);
  EXPECT_TRUE(drain(c).empty());  // ignored, not answered with Pairing Failed
  EXPECT_EQ(c.pair(t0 + std::chrono::seconds(32)).error(), Errc::timed_out);
  EXPECT_FALSE(c.next_deadline());
}

TEST_P(Cve, TimerRestartsOnEveryPdu) {
  crypto::DeterministicRng rng(1);
  PairingEngine p(cfg(Role::peripheral), rng);
  const TimePoint t0 = time_from_seconds(5);
  ASSERT_TRUE(p.feed(hex("0103000d100303"), t0));
  EXPECT_EQ(*p.next_deadline(), t0 + std::chrono::seconds(30));
  crypto::DeterministicRng r2(2);
  auto kp = GetParam()->p256_generate(r2);
  ASSERT_TRUE(p.feed(public_key_pdu((*kp)->public_raw()), t0 + std::chrono::seconds(20)));
  EXPECT_EQ(*p.next_deadline(), t0 + std::chrono::seconds(50));
}

// Method Confusion: numeric comparison and passkey display are distinct, labelled events.
TEST_P(Cve, NumericComparisonAndPasskeyEventsAreDistinct) {
  crypto::DeterministicRng rc(1), rp(2);
  Link nc(cfg(Role::central, IoCapability::display_yes_no), cfg(Role::peripheral, IoCapability::display_yes_no), rc, rp);
  nc.pair();
  bool saw_nc = false;
  for (auto& e : nc.c.events)
    if (auto* d = std::get_if<events::PasskeyDisplay>(&e)) {
      EXPECT_TRUE(d->match_request);
      EXPECT_EQ(d->method, Method::numeric_comparison);
      saw_nc = true;
    }
  EXPECT_TRUE(saw_nc);
  crypto::DeterministicRng rc2(1), rp2(2);
  Link pk(cfg(Role::central, IoCapability::keyboard_only), cfg(Role::peripheral, IoCapability::display_only), rc2, rp2);
  pk.pair();
  bool saw_pk = false, saw_request = false;
  for (auto& e : pk.p.events)
    if (auto* d = std::get_if<events::PasskeyDisplay>(&e)) {
      EXPECT_FALSE(d->match_request);
      EXPECT_EQ(d->method, Method::passkey);
      saw_pk = true;
    }
  for (auto& e : pk.c.events) saw_request |= std::holds_alternative<events::PasskeyRequired>(e);
  EXPECT_TRUE(saw_pk && saw_request);
}

// crackle: Secure Connections Only refuses legacy (0x03) in both roles and for Security Request.
TEST_P(Cve, ScOnlyRefusesLegacy) {
  crypto::DeterministicRng rc(1), rp(2);
  auto p = cfg(Role::peripheral);
  p.sc_only = true;
  Link l(cfg(Role::central, IoCapability::no_input_no_output, false), p, rc, rp);
  l.pair();
  ASSERT_TRUE(l.p.failure);
  EXPECT_EQ(l.p.failure->reason, 0x03);
  auto c = cfg(Role::central);
  c.sc_only = true;
  crypto::DeterministicRng rc2(1), rp2(2);
  Link l2(c, cfg(Role::peripheral, IoCapability::no_input_no_output, false), rc2, rp2);
  l2.pair();
  ASSERT_TRUE(l2.c.failure);
  EXPECT_EQ(l2.c.failure->reason, 0x03);
  crypto::DeterministicRng rc3(1);
  PairingEngine central(c, rc3);
  EXPECT_FALSE(central.feed(hex("0b05"), TimePoint{}));
  EXPECT_BYTES_EQ(drain(central).at(0), hex("0503"));
  // Normal mode pairs legacy with sc=0.
  crypto::DeterministicRng rc4(1), rp4(2);
  Link l4(cfg(Role::central), cfg(Role::peripheral, IoCapability::no_input_no_output, false), rc4, rp4);
  l4.pair();
  ASSERT_TRUE(l4.c.result);
  EXPECT_FALSE(l4.c.result->sc);
}

TEST_P(Cve, MalformedPdusGetTheSpecReasons) {
  crypto::DeterministicRng rng(1);
  PairingEngine p(cfg(Role::peripheral), rng);
  EXPECT_EQ(p.feed(hex("0103000d1003"), TimePoint{}).error(), Errc::pdu_wrong_length);
  EXPECT_BYTES_EQ(drain(p).at(0), hex("050a"));
  EXPECT_EQ(p.feed(hex("2000"), TimePoint{}).error(), Errc::pdu_unknown_opcode);
  EXPECT_BYTES_EQ(drain(p).at(0), hex("0507"));
  EXPECT_FALSE(p.feed(hex("0105000d100303"), TimePoint{}));  // IO capability 5 is reserved
  EXPECT_BYTES_EQ(drain(p).at(0), hex("050a"));
}

TEST_P(Cve, IdentityAddressMustBePublicOrStaticRandom) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central), cfg(Role::peripheral), rc, rp);
  l.filter = [](bool from_central, Bytes& pdu) {
    if (!from_central && pdu[0] == 0x09) {
      pdu[1] = 1;
      pdu[7] = 0x40;  // resolvable private address, not an identity
    }
    return true;
  };
  l.pair();
  ASSERT_TRUE(l.c.failure);
  EXPECT_EQ(l.c.failure->reason, 0x0a);
  EXPECT_FALSE(l.c.result);
}

TEST_P(Cve, UnannouncedKeyPduFails) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central), cfg(Role::peripheral), rc, rp);
  l.filter = [](bool from_central, Bytes& pdu) {
    if (!from_central && pdu[0] == 0x08) pdu = hex("0a000102030405060708090a0b0c0d0e0f");  // CSRK not announced
    return true;
  };
  l.pair();
  ASSERT_TRUE(l.c.failure);
  EXPECT_EQ(l.c.failure->reason, 0x08);
}

TEST_P(Cve, PdusOutsideAPairingAreIgnored) {
  crypto::DeterministicRng rng(1);
  PairingEngine c(cfg(Role::central), rng);
  EXPECT_FALSE(c.feed(hex("04000102030405060708090a0b0c0d0e0f"), TimePoint{}));
  EXPECT_TRUE(drain(c).empty());
  EXPECT_FALSE(c.pairing_in_progress());
}

TEST_P(Cve, ReencryptionFailureIsReported) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central), cfg(Role::peripheral), rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result);
  l.disconnect();
  l.p.engine->set_bond(std::nullopt);  // the peripheral lost its keys
  ASSERT_TRUE(l.c.engine->encrypt_bonded(l.now));
  l.run();
  ASSERT_TRUE(l.c.encryption_failed);
  EXPECT_EQ(*l.c.encryption_failed, 0x06);
  EXPECT_FALSE(l.c.engine->encrypted());
  EXPECT_EQ(l.c.engine->security_level(), SecurityLevel::open);
}

// A debug-key pairing never overwrites a bond made with real keys (0x03, bond kept).
TEST_P(Cve, DebugKeyPairingDoesNotReplaceARealBond) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(Role::central), cfg(Role::peripheral), rc, rp);
  l.pair();
  ASSERT_TRUE(l.p.result);
  ASSERT_TRUE(l.p.engine->bond());
  EXPECT_FALSE(l.p.engine->bond()->debug);
  const std::string before = to_hex(l.p.engine->bond()->ltk);
  // Later the peripheral allows debug mode, but when the peer comes back with the debug key the
  // real bond stays.
  auto attacker_cfg = cfg(Role::central);
  attacker_cfg.debug_keys = true;
  crypto::DeterministicRng ra(9);
  auto p2 = cfg(Role::peripheral);
  p2.debug_keys = true;
  p2.bond = l.p.engine->bond();
  crypto::DeterministicRng rp2(10);
  Link l2(attacker_cfg, p2, ra, rp2);
  l2.pair();
  ASSERT_TRUE(l2.p.failure);
  EXPECT_EQ(l2.p.failure->reason, 0x03);
  EXPECT_EQ(to_hex(l2.p.engine->bond()->ltk), before);
  // Both in debug mode without a prior bond: allowed, and the bond is marked as debug.
  crypto::DeterministicRng rc3(1), rp3(2);
  auto c3 = cfg(Role::central);
  c3.debug_keys = true;
  auto p3 = cfg(Role::peripheral);
  p3.debug_keys = true;
  Link l3(c3, p3, rc3, rp3);
  l3.pair();
  ASSERT_TRUE(l3.p.result);
  EXPECT_TRUE(l3.p.engine->bond()->debug);
}

// Spec 2.3.6: repeated attempts after a failure are answered with 0x09 until the interval passed.
TEST_P(Cve, RepeatedAttemptsBackOff) {
  crypto::DeterministicRng rng(1);
  auto p = cfg(Role::peripheral);
  p.repeated_attempts_interval = std::chrono::seconds(2);
  PairingEngine e(p, rng);
  const TimePoint t0 = time_from_seconds(10);
  ASSERT_TRUE(e.feed(hex("0103000d100303"), t0));
  drain(e);
  EXPECT_FALSE(e.feed(hex("04000102030405060708090a0b0c0d0e0f"), t0));  // out of order: fails
  EXPECT_BYTES_EQ(drain(e).at(0), hex("0508"));
  EXPECT_FALSE(e.feed(hex("0103000d100303"), t0 + std::chrono::seconds(1)));
  EXPECT_BYTES_EQ(drain(e).at(0), hex("0509"));
  EXPECT_TRUE(e.feed(hex("0103000d100303"), t0 + std::chrono::seconds(3)));
  EXPECT_EQ(drain(e).at(0)[0], 0x02);
  // A second failure doubles the wait.
  EXPECT_FALSE(e.feed(hex("0d000102030405060708090a0b0c0d0e0f"), t0 + std::chrono::seconds(3)));
  drain(e);
  EXPECT_FALSE(e.feed(hex("0103000d100303"), t0 + std::chrono::seconds(6)));
  EXPECT_BYTES_EQ(drain(e).at(0), hex("0509"));
  EXPECT_TRUE(e.feed(hex("0103000d100303"), t0 + std::chrono::seconds(8)));
}

INSTANTIATE_TEST_SUITE_P(Backends, Cve, ::testing::ValuesIn(blecrypt::test::backends()), blecrypt::test::backend_name);

}  // namespace
}  // namespace blecrypt::smp
