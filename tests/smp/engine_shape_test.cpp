// The engine's shape: Table 2.8 cell by cell (the constexpr table and two real engines on every
// cell, legacy and LESC, with who displays and who types), the Engine concept, moves, and the
// link-layer model's outcomes.
#include <gtest/gtest.h>

#include <string_view>

#include "blecrypt/smp/association.hpp"
#include "harness.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

using test::Link;

static_assert(Engine<PairingEngine>);
static_assert(std::is_nothrow_move_constructible_v<PairingEngine>);

// Core Vol 3 Part H 2.3.5.1, Table 2.8, written out from the specification's text (rows: the
// initiator's IO capability, columns: the responder's, both in the order DisplayOnly,
// DisplayYesNo, KeyboardOnly, NoInputNoOutput, KeyboardDisplay).
//   J  Just Works
//   N  Numeric Comparison (LESC only)
//   I  Passkey Entry: the initiator displays, the responder inputs
//   R  Passkey Entry: the responder displays, the initiator inputs
//   B  Passkey Entry: the initiator and the responder input
constexpr std::string_view kLegacy[5] = {"JJIJI", "JJIJI", "RRBJR", "JJJJJ", "RRIJI"};
constexpr std::string_view kLesc[5] = {"JJIJI", "JNIJN", "RRBJR", "JJJJJ", "RNIJN"};

struct Expected {
  Method method;
  bool initiator_displays, initiator_inputs, responder_displays, responder_inputs;
};

Expected decode(char cell) {
  switch (cell) {
    case 'N': return {Method::numeric_comparison, false, false, false, false};
    case 'I': return {Method::passkey, true, false, false, true};
    case 'R': return {Method::passkey, false, true, true, false};
    case 'B': return {Method::passkey, false, true, false, true};
    default: return {Method::just_works, false, false, false, false};
  }
}

std::string cell_name(int i, int r, bool sc) {
  return std::string(io_capability_name(static_cast<IoCapability>(i))) + " -> " +
         std::string(io_capability_name(static_cast<IoCapability>(r))) + (sc ? " (LESC)" : " (legacy)");
}

TEST(Table28, EveryCellOfTheConstexprTable) {
  int cells = 0;
  for (bool sc : {false, true}) {
    for (int i = 0; i < kIoCapabilities; ++i) {
      for (int r = 0; r < kIoCapabilities; ++r) {
        SCOPED_TRACE(cell_name(i, r, sc));
        const Expected x = decode((sc ? kLesc : kLegacy)[i][r]);
        const Association a = association_model(static_cast<IoCapability>(i), static_cast<IoCapability>(r), sc);
        EXPECT_EQ(a.method, x.method);
        EXPECT_EQ(a.displays(Role::central), x.initiator_displays);
        EXPECT_EQ(a.inputs(Role::central), x.initiator_inputs);
        EXPECT_EQ(a.displays(Role::peripheral), x.responder_displays);
        EXPECT_EQ(a.inputs(Role::peripheral), x.responder_inputs);
        ++cells;
      }
    }
  }
  EXPECT_EQ(cells, 50);
}

// The same 50 cells between two engines with MITM asked for: the method both sides report and
// which side shows the passkey / is asked to type it / compares numbers.
TEST(Table28, EveryCellBetweenTwoEngines) {
  for (bool sc : {false, true}) {
    for (int i = 0; i < kIoCapabilities; ++i) {
      for (int r = 0; r < kIoCapabilities; ++r) {
        SCOPED_TRACE(cell_name(i, r, sc));
        const Expected x = decode((sc ? kLesc : kLegacy)[i][r]);
        crypto::DeterministicRng rc(static_cast<std::uint64_t>(10 * i + r + 1)), rp(static_cast<std::uint64_t>(100 + 10 * i + r));
        EngineConfig c, p;
        c.io = static_cast<IoCapability>(i);
        p.io = static_cast<IoCapability>(r);
        c.secure_connections = p.secure_connections = sc;
        c.mitm = p.mitm = true;
        Link l(c, p, rc, rp);
        if (x.initiator_inputs && x.responder_inputs) l.c.typed = l.p.typed = 314159u;  // nobody displays
        l.pair();
        ASSERT_TRUE(l.c.result && l.p.result);
        EXPECT_EQ(l.c.result->method, x.method);
        EXPECT_EQ(l.p.result->method, x.method);
        EXPECT_EQ(l.c.result->sc, sc);
        EXPECT_EQ(l.c.displayed.has_value(), x.initiator_displays);
        EXPECT_EQ(l.c.passkey_requested, x.initiator_inputs);
        EXPECT_EQ(l.p.displayed.has_value(), x.responder_displays);
        EXPECT_EQ(l.p.passkey_requested, x.responder_inputs);
        const bool nc = x.method == Method::numeric_comparison;
        EXPECT_EQ(l.c.compared.has_value(), nc);
        EXPECT_EQ(l.p.compared.has_value(), nc);
        if (nc) {
          EXPECT_EQ(l.c.compared, l.p.compared);
        }
      }
    }
  }
}

// Without MITM on either side the table is not consulted: Just Works.
TEST(Table28, NoMitmMeansJustWorks) {
  crypto::DeterministicRng rc(1), rp(2);
  EngineConfig c, p;
  c.io = p.io = IoCapability::keyboard_display;
  c.mitm = p.mitm = false;
  Link l(c, p, rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result);
  EXPECT_EQ(l.c.result->method, Method::just_works);
  EXPECT_FALSE(l.c.displayed || l.p.displayed || l.c.compared);
}

// A moved engine carries on with the pairing it was in.
TEST(EngineShape, MovedEngineFinishesThePairing) {
  crypto::DeterministicRng rc(1), rp(2);
  EngineConfig c, p;
  c.role = Role::central;
  p.role = Role::peripheral;
  c.local_address = p.peer_address = Address{1, {0xc0, 0, 0, 0, 0, 1}};
  c.peer_address = p.local_address = Address{1, {0xc0, 0, 0, 0, 0, 2}};
  PairingEngine first(c, rc), peripheral(p, rp);
  ASSERT_TRUE(first.pair(TimePoint{}));
  auto request = first.poll_transmit();
  ASSERT_TRUE(request);
  PairingEngine central(std::move(first));
  PairingEngine spare(c, rc);
  spare = std::move(central);  // move assignment too
  ASSERT_TRUE(peripheral.feed(*request, TimePoint{}));

  link::Pipe<PairingEngine, PairingEngine> pipe(spare, peripheral, link::Pipe<PairingEngine, PairingEngine>::kWhole,
                                                TimePoint{});
  LinkLayerModel ll(spare, peripheral);
  int complete = 0;
  ll.attach(pipe, [&](Role, Event ev) { complete += std::holds_alternative<events::PairingComplete>(ev); });
  pipe.connect();
  ASSERT_TRUE(pipe.pump());
  EXPECT_EQ(complete, 2);
  EXPECT_TRUE(spare.encrypted() && peripheral.encrypted());
}

// Different keys on the two sides: the link layer sees a MIC failure, both hosts get 0x3D and
// the link is gone.
TEST(LinkLayerModel, DifferentKeysAreAMicFailure) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(EngineConfig{}, EngineConfig{}, rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result && l.p.result);
  l.disconnect();
  auto bond = l.p.engine->bond();
  ASSERT_TRUE(bond && bond->sc);
  bond->ltk.mutable_view()[0] ^= 1;  // the peripheral remembers another key
  l.p.engine->set_bond(bond);
  const int before = l.ll.ltk_requests();
  ASSERT_TRUE(l.c.engine->encrypt_bonded(l.now));
  l.run();
  EXPECT_EQ(l.ll.ltk_requests(), before + 1);
  EXPECT_FALSE(l.ll.connected());
  ASSERT_TRUE(l.c.encryption_failed && l.p.encryption_failed);
  EXPECT_EQ(*l.c.encryption_failed, LinkLayerModel::kMicFailure);
  EXPECT_EQ(*l.p.encryption_failed, LinkLayerModel::kMicFailure);
  EXPECT_FALSE(l.c.engine->encrypted());
  EXPECT_FALSE(l.p.engine->encrypted());
}

// Equal keys: encryption on both sides, the bond's level on both.
TEST(LinkLayerModel, EqualKeysEncryptBothSides) {
  crypto::DeterministicRng rc(1), rp(2);
  Link l(EngineConfig{}, EngineConfig{}, rc, rp);
  l.pair();
  ASSERT_TRUE(l.c.result);
  l.disconnect();
  EXPECT_FALSE(l.c.engine->encrypted());
  l.c.levels.clear();
  l.p.levels.clear();
  ASSERT_TRUE(l.c.engine->encrypt_bonded(l.now));
  l.run();
  EXPECT_TRUE(l.ll.connected());
  EXPECT_TRUE(l.c.engine->encrypted() && l.p.engine->encrypted());
  ASSERT_EQ(l.c.levels.size(), 1u);
  ASSERT_EQ(l.p.levels.size(), 1u);
  EXPECT_EQ(l.c.levels[0], l.p.levels[0]);
}

}  // namespace
}  // namespace blecrypt::smp
