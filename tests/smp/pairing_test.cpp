// Both roles against each other for every association model, on every backend pair
// (OpenSSL central vs mbedTLS peripheral and the other way round included).
#include <gtest/gtest.h>

#include "harness.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

using test::Link;

struct Case {
  const char* name;
  IoCapability ci, pi;
  bool sc_c = true, sc_p = true;
  bool mitm = true;
  Method method;
  bool authenticated;
};

class Pairing : public ::testing::TestWithParam<blecrypt::test::BackendPair> {
 protected:
  EngineConfig cfg(IoCapability io, bool sc, const crypto::Backend* be) {
    EngineConfig c;
    c.io = io;
    c.secure_connections = sc;
    c.backend = be;
    c.initiator_keys = c.responder_keys = key_dist::enc | key_dist::id | key_dist::sign;
    return c;
  }
};

void expect_success(Link& l, const Case& k) {
  ASSERT_TRUE(l.c.result) << k.name << (l.c.failure ? " central failed reason " + std::to_string(l.c.failure->reason) : "");
  ASSERT_TRUE(l.p.result) << k.name << (l.p.failure ? " peripheral failed reason " + std::to_string(l.p.failure->reason) : "");
  const auto& rc = *l.c.result;
  const auto& rp = *l.p.result;
  EXPECT_EQ(rc.method, k.method) << k.name;
  EXPECT_EQ(rp.method, k.method) << k.name;
  EXPECT_EQ(rc.authenticated, k.authenticated);
  EXPECT_EQ(rc.sc, k.sc_c && k.sc_p);
  EXPECT_EQ(rp.sc, rc.sc);
  EXPECT_TRUE(rc.bonded && rp.bonded);
  EXPECT_EQ(rc.key_size, 16);
  if (rc.sc) {
    EXPECT_EQ(rc.ltk.size(), 16u);
    EXPECT_BYTES_EQ(rc.ltk.view(), rp.ltk.view());
    EXPECT_TRUE(rc.local.ltk.empty());  // LESC: no Encryption Information
  } else {
    EXPECT_BYTES_EQ(rc.peer.ltk.view(), rp.local.ltk.view());
    EXPECT_BYTES_EQ(rp.peer.ltk.view(), rc.local.ltk.view());
    EXPECT_EQ(rc.peer.ediv, rp.local.ediv);
    EXPECT_BYTES_EQ(rc.peer.rand, rp.local.rand);
  }
  EXPECT_BYTES_EQ(rc.peer.irk.view(), rp.local.irk.view());
  EXPECT_BYTES_EQ(rp.peer.irk.view(), rc.local.irk.view());
  EXPECT_BYTES_EQ(rc.peer.csrk.view(), rp.local.csrk.view());
  ASSERT_TRUE(rc.peer.identity && rp.peer.identity);
  EXPECT_EQ(rc.peer.identity->to_string(), "C0:00:00:00:00:02/random");
  EXPECT_EQ(rp.peer.identity->to_string(), "C0:00:00:00:00:01/random");
  // Security level changed before pairing complete (blatann order).
  ASSERT_FALSE(l.c.levels.empty());
  EXPECT_EQ(l.c.levels.back(), rc.level);
  if (k.method == Method::numeric_comparison) {
    ASSERT_TRUE(l.c.compared && l.p.compared);
    EXPECT_EQ(*l.c.compared, *l.p.compared);
  }
  EXPECT_FALSE(l.c.engine->pairing_in_progress());
  EXPECT_FALSE(l.c.engine->next_deadline());
}

const Case kCases[] = {
    {"legacy_jw", IoCapability::no_input_no_output, IoCapability::no_input_no_output, false, true, true, Method::just_works, false},
    {"legacy_pk_central_displays", IoCapability::display_only, IoCapability::keyboard_only, false, true, true, Method::passkey, true},
    {"legacy_pk_peripheral_displays", IoCapability::keyboard_only, IoCapability::display_only, false, true, true, Method::passkey, true},
    {"legacy_pk_kd_kd", IoCapability::keyboard_display, IoCapability::keyboard_display, false, true, true, Method::passkey, true},
    {"legacy_dyn_dyn_is_jw", IoCapability::display_yes_no, IoCapability::display_yes_no, true, false, true, Method::just_works, false},
    {"lesc_jw", IoCapability::no_input_no_output, IoCapability::no_input_no_output, true, true, true, Method::just_works, false},
    {"lesc_jw_no_mitm", IoCapability::keyboard_display, IoCapability::keyboard_display, true, true, false, Method::just_works, false},
    {"lesc_nc", IoCapability::display_yes_no, IoCapability::display_yes_no, true, true, true, Method::numeric_comparison, true},
    {"lesc_nc_kd", IoCapability::keyboard_display, IoCapability::display_yes_no, true, true, true, Method::numeric_comparison, true},
    {"lesc_pk_central_displays", IoCapability::display_only, IoCapability::keyboard_only, true, true, true, Method::passkey, true},
    {"lesc_pk_peripheral_displays", IoCapability::keyboard_only, IoCapability::keyboard_display, true, true, true, Method::passkey, true},
};

TEST_P(Pairing, EveryAssociationModelBothRoles) {
  auto [bc, bp] = GetParam();
  for (const auto& k : kCases) {
    SCOPED_TRACE(k.name);
    crypto::DeterministicRng rc(11), rp(22);
    auto c = cfg(k.ci, k.sc_c, bc);
    auto p = cfg(k.pi, k.sc_p, bp);
    c.mitm = p.mitm = k.mitm;
    Link l(c, p, rc, rp);
    l.pair();
    expect_success(l, k);
  }
}

TEST_P(Pairing, PasskeyKeyboardOnBothSides) {
  auto [bc, bp] = GetParam();
  for (bool sc : {false, true}) {
    crypto::DeterministicRng rc(3), rp(4);
    Link l(cfg(IoCapability::keyboard_only, sc, bc), cfg(IoCapability::keyboard_only, sc, bp), rc, rp);
    l.c.typed = 123456;
    l.p.typed = 123456;
    l.pair();
    expect_success(l, {"kb_kb", IoCapability::keyboard_only, IoCapability::keyboard_only, sc, sc, true, Method::passkey, true});
  }
}

TEST_P(Pairing, LegacyOob) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(5), rp(6);
  auto c = cfg(IoCapability::no_input_no_output, false, bc);
  auto p = cfg(IoCapability::no_input_no_output, false, bp);
  Key128 tk{};
  tk[0] = 0x42;
  c.legacy_oob_tk = p.legacy_oob_tk = tk;
  Link l(c, p, rc, rp);
  l.pair();
  expect_success(l, {"legacy_oob", {}, {}, false, false, true, Method::oob, true});
}

TEST_P(Pairing, LegacyOobWrongTkFailsWithConfirmValue) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(5), rp(6);
  auto c = cfg(IoCapability::no_input_no_output, false, bc);
  auto p = cfg(IoCapability::no_input_no_output, false, bp);
  Key128 tk{};
  c.legacy_oob_tk = tk;
  tk[3] = 1;
  p.legacy_oob_tk = tk;
  Link l(c, p, rc, rp);
  l.pair();
  ASSERT_TRUE(l.p.failure);
  EXPECT_EQ(l.p.failure->reason, 0x04);
  EXPECT_FALSE(l.c.result);
}

TEST_P(Pairing, LescOobBothDirectionsAndOneWay) {
  auto [bc, bp] = GetParam();
  for (int mode = 0; mode < 3; ++mode) {  // 0 both have peer data, 1 only central, 2 only peripheral
    crypto::DeterministicRng rc(7), rp(8);
    Link l(cfg(IoCapability::no_input_no_output, true, bc), cfg(IoCapability::no_input_no_output, true, bp), rc, rp);
    auto oc = l.c.engine->local_oob_data();
    auto op = l.p.engine->local_oob_data();
    ASSERT_TRUE(oc && op);
    if (mode != 2) {
      ASSERT_TRUE(l.c.engine->set_peer_oob_data(*op));
    }
    if (mode != 1) {
      ASSERT_TRUE(l.p.engine->set_peer_oob_data(*oc));
    }
    l.pair();
    expect_success(l, {"lesc_oob", {}, {}, true, true, true, Method::oob, true});
  }
}

TEST_P(Pairing, LescOobWrongDataFails) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(7), rp(8);
  Link l(cfg(IoCapability::no_input_no_output, true, bc), cfg(IoCapability::no_input_no_output, true, bp), rc, rp);
  auto op = l.p.engine->local_oob_data();
  ASSERT_TRUE(op);
  op->r[0] ^= 1;
  ASSERT_TRUE(l.c.engine->set_peer_oob_data(*op));
  l.pair();
  ASSERT_TRUE(l.c.failure);
  EXPECT_EQ(l.c.failure->reason, 0x04);
  EXPECT_FALSE(l.p.result);
}

TEST_P(Pairing, WrongPasskeyFailsWithConfirmValueFailed) {
  auto [bc, bp] = GetParam();
  for (bool sc : {false, true}) {
    crypto::DeterministicRng rc(9), rp(10);
    Link l(cfg(IoCapability::keyboard_only, sc, bc), cfg(IoCapability::display_only, sc, bp), rc, rp);
    l.c.typed = 1;  // whatever the peripheral shows, the user types 000001
    l.pair();
    ASSERT_TRUE(l.c.failure || l.p.failure);
    const auto& f = l.c.failure && l.c.failure->local ? *l.c.failure : *l.p.failure;
    EXPECT_EQ(f.reason, 0x04);
    EXPECT_FALSE(l.c.result);
    EXPECT_FALSE(l.p.result);
  }
}

TEST_P(Pairing, RefusedNumericComparisonFails0x0C) {
  auto [bc, bp] = GetParam();
  for (bool refuse_central : {true, false}) {
    crypto::DeterministicRng rc(1), rp(2);
    Link l(cfg(IoCapability::display_yes_no, true, bc), cfg(IoCapability::display_yes_no, true, bp), rc, rp);
    (refuse_central ? l.c : l.p).confirm = false;
    l.pair();
    const auto& refuser = refuse_central ? l.c : l.p;
    ASSERT_TRUE(refuser.failure);
    EXPECT_EQ(refuser.failure->reason, 0x0c);
    EXPECT_TRUE(refuser.failure->local);
    EXPECT_FALSE(l.c.result || l.p.result);
  }
}

TEST_P(Pairing, NoBondingDistributesNothing) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(IoCapability::no_input_no_output, true, bc);
  c.bonding = false;
  Link l(c, cfg(IoCapability::no_input_no_output, true, bp), rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result && l.p.result);
  EXPECT_FALSE(l.c.result->bonded);
  EXPECT_FALSE(l.c.result->peer.identity);
  EXPECT_FALSE(l.c.engine->bond());
}

TEST_P(Pairing, RepairOnTheSameLinkAndReencryptFromTheBond) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(IoCapability::display_yes_no, true, bc), cfg(IoCapability::display_yes_no, true, bp), rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result);
  SecretBytes first = l.c.result->ltk;
  l.c.result.reset();
  l.p.result.reset();
  l.pair();  // equally strong re-pairing is allowed
  ASSERT_TRUE(l.c.result && l.p.result);
  EXPECT_NE(to_hex(first), to_hex(l.c.result->ltk));
  // New link, encrypt with the bond, no pairing.
  l.disconnect();
  l.c.levels.clear();
  ASSERT_TRUE(l.c.engine->encrypt_bonded(l.now));
  l.run();
  ASSERT_EQ(l.c.levels.size(), 1u);
  EXPECT_EQ(l.c.levels[0], SecurityLevel::lesc_mitm);
  EXPECT_TRUE(l.p.engine->encrypted());
}

TEST_P(Pairing, LegacyReencryptUsesDistributedLtkEdivRand) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(IoCapability::no_input_no_output, false, bc), cfg(IoCapability::no_input_no_output, false, bp), rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result);
  l.disconnect();
  ASSERT_TRUE(l.c.engine->encrypt_bonded(l.now));
  l.run();
  EXPECT_TRUE(l.c.engine->encrypted());
  EXPECT_TRUE(l.p.engine->encrypted());
  EXPECT_EQ(l.c.engine->security_level(), SecurityLevel::just_works);
}

TEST_P(Pairing, SecurityRequestMakesTheCentralPair) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(IoCapability::no_input_no_output, true, bc), cfg(IoCapability::no_input_no_output, true, bp), rc, rp);
  ASSERT_TRUE(l.p.engine->security_request(l.now));
  EXPECT_FALSE(l.p.engine->next_deadline());  // no SMP timer for a Security Request
  l.run();
  ASSERT_TRUE(l.c.security_request);
  EXPECT_EQ(*l.c.security_request, auth_req::bonding | auth_req::mitm | auth_req::sc);
  l.pair();
  EXPECT_TRUE(l.c.result && l.p.result);
}

TEST_P(Pairing, ScCentralAgainstLegacyOnlyPeripheral) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(1), rp(2);
  Link l(cfg(IoCapability::no_input_no_output, true, bc), cfg(IoCapability::no_input_no_output, false, bp), rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result);
  EXPECT_FALSE(l.c.result->sc);
}

TEST_P(Pairing, LinkKeyDerivedWhenLinkKeyBitNegotiated) {
  auto [bc, bp] = GetParam();
  crypto::DeterministicRng rc(1), rp(2);
  auto c = cfg(IoCapability::no_input_no_output, true, bc);
  auto p = cfg(IoCapability::no_input_no_output, true, bp);
  c.initiator_keys = c.responder_keys = p.initiator_keys = p.responder_keys = key_dist::id | key_dist::link;
  c.ct2 = p.ct2 = true;
  Link l(c, p, rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result && l.p.result);
  EXPECT_EQ(l.c.result->link_key.size(), 16u);
  EXPECT_BYTES_EQ(l.c.result->link_key.view(), l.p.result->link_key.view());
  Toolbox tb(*bc);
  EXPECT_BYTES_EQ(l.c.result->link_key.view(), reversed(*tb.ltk_to_link_key(reversed(l.c.result->ltk), true)));
}

INSTANTIATE_TEST_SUITE_P(BackendPairs, Pairing, ::testing::ValuesIn(blecrypt::test::backend_pairs()),
                         blecrypt::test::backend_pair_name);

}  // namespace
}  // namespace blecrypt::smp
