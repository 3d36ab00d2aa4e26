// blatann-style SecurityManager and the bond store.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "blecrypt/smp/errors.hpp"
#include "blecrypt/smp/security_manager.hpp"
#include "blecrypt/smp/toolbox.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("blecrypt_smp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const Address kCentral = *Address::parse("C0:00:00:00:00:01/random");
const Address kPeripheral = *Address::parse("C0:00:00:00:00:02/random");

SecurityManager::Config config(Role role, Address local, Address peer, BondDatabase* store) {
  SecurityManager::Config c;
  c.role = role;
  c.local_address = local;
  c.peer_address = peer;
  c.bond_store = store;
  return c;
}

// Two managers joined by the link-layer model; records callback order.
struct Pair {
  crypto::DeterministicRng rc{1}, rp{2};
  std::unique_ptr<SecurityManager> c, p;
  std::vector<std::string> log;
  SecretBytes pending;
  std::optional<std::uint32_t> shown;
  TimePoint now{};

  Pair(BondDatabase* cs, BondDatabase* ps, SecurityParameters params) {
    c = std::make_unique<SecurityManager>(config(Role::central, kCentral, kPeripheral, cs), rc);
    p = std::make_unique<SecurityManager>(config(Role::peripheral, kPeripheral, kCentral, ps), rp);
    EXPECT_TRUE(c->set_security_params(params));
    EXPECT_TRUE(p->set_security_params(params));
    wire(*c, "C");
    wire(*p, "P");
    link_layer_model();
  }
  void wire(SecurityManager& m, std::string who) {
    m.on_pairing_complete = [this, who](const PairingOutcome& o) {
      log.push_back(who + " complete " + (o.success ? "ok" : "fail " + std::to_string(o.reason)) + " " +
                    std::string(security_level_name(o.security_level)));
    };
    m.on_security_level_changed = [this, who](SecurityLevel l) { log.push_back(who + " level " + std::string(security_level_name(l))); };
    m.on_passkey_display_required = [this, who, &m](std::uint32_t v, bool match) {
      log.push_back(who + (match ? " compare" : " display"));
      if (match) (void)m.match_confirm(true, now);
      else shown = v;
    };
    m.on_passkey_required = [this, who, &m] {
      log.push_back(who + " passkey_required");
      if (shown) (void)m.passkey_reply(*shown, now);
    };
    m.on_pairing_request_rejected = [this, who](std::uint8_t r) { log.push_back(who + " rejected " + std::to_string(r)); };
  }
  // The link-layer encryption model, in this one place (smp::LinkLayerModel replaces it at the
  // engine merge): the central's encryption start becomes an LTK request at the peripheral; equal
  // keys switch encryption on for both, a missing or different key fails it (status 0x06).
  void link_layer_model() {
    c->on_start_encryption = [this](const events::StartEncryption& se) {
      pending = se.ltk;
      p->ltk_request(se.ediv, se.rand, now);
    };
    p->on_ltk_reply = [this](const SecretBytes& ltk) {
      if (ltk.empty() || !equal(ltk, pending)) {
        c->encryption_failed(0x06, now);
      } else {
        c->encryption_changed(now);
        p->encryption_changed(now);
      }
    };
  }
  void run() {
    for (int i = 0; i < 1000; ++i) {
      bool moved = false;
      while (auto b = c->poll_transmit()) {
        moved = true;
        (void)p->feed(*b, now);
      }
      while (auto b = p->poll_transmit()) {
        moved = true;
        (void)c->feed(*b, now);
      }
      if (!moved) return;
    }
  }
  bool has(const std::string& line) const { return std::find(log.begin(), log.end(), line) != log.end(); }
  int index(const std::string& line) const {
    return static_cast<int>(std::find(log.begin(), log.end(), line) - log.begin());
  }
};

SecurityParameters lesc_mitm() {
  SecurityParameters s;
  s.passcode_pairing = true;
  s.io_capabilities = IoCapability::display_yes_no;
  s.bond = true;
  s.lesc_pairing = true;
  return s;
}

TEST(SecurityManager, NumericComparisonLevelBeforeCompleteAndBondStored) {
  auto dc = temp_dir("c1"), dp = temp_dir("p1");
  BondStore sc(dc), sp(dp);
  Pair pr(&sc, &sp, lesc_mitm());
  EXPECT_FALSE(pr.c->is_previously_bonded());
  ASSERT_TRUE(pr.c->pair(pr.now));
  EXPECT_TRUE(pr.c->pairing_in_process());
  pr.run();
  EXPECT_TRUE(pr.has("C compare"));
  EXPECT_TRUE(pr.has("P compare"));
  ASSERT_TRUE(pr.has("C complete ok LESC_MITM")) << ::testing::PrintToString(pr.log);
  EXPECT_LT(pr.index("C level LESC_MITM"), pr.index("C complete ok LESC_MITM"));
  EXPECT_EQ(pr.c->security_level(), SecurityLevel::lesc_mitm);
  EXPECT_TRUE(pr.c->is_previously_bonded());
  EXPECT_FALSE(pr.c->pairing_in_process());
  auto f = sc.path_for(kPeripheral);
  ASSERT_TRUE(fs::exists(f));
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // New managers (a new connection, new process): pair() encrypts from the store, no PDUs.
  Pair again(&sc, &sp, lesc_mitm());
  EXPECT_TRUE(again.c->is_previously_bonded());
  EXPECT_TRUE(again.p->is_previously_bonded());
  ASSERT_TRUE(again.c->pair(again.now));
  EXPECT_FALSE(again.c->poll_transmit());
  EXPECT_TRUE(again.has("C level LESC_MITM")) << ::testing::PrintToString(again.log);
  EXPECT_EQ(again.p->security_level(), SecurityLevel::lesc_mitm);

  // force_repairing pairs again even though bonded.
  ASSERT_TRUE(again.c->pair(again.now, true));
  again.run();
  EXPECT_TRUE(again.has("C complete ok LESC_MITM"));
  fs::remove_all(dc);
  fs::remove_all(dp);
}

TEST(SecurityManager, PasskeyEventsAndDeleteBondingData) {
  auto dc = temp_dir("c2");
  BondStore sc(dc);
  SecurityParameters s = lesc_mitm();
  Pair pr(&sc, nullptr, s);
  s.io_capabilities = IoCapability::display_only;
  ASSERT_TRUE(pr.p->set_security_params(s));
  s.io_capabilities = IoCapability::keyboard_only;
  ASSERT_TRUE(pr.c->set_security_params(s));
  ASSERT_TRUE(pr.c->pair(pr.now));
  pr.run();
  EXPECT_TRUE(pr.has("P display"));
  EXPECT_TRUE(pr.has("C passkey_required"));
  EXPECT_TRUE(pr.has("C complete ok LESC_MITM"));
  // A second bond for another peer; delete removes exactly one.
  BondRecord other;
  other.peer = *Address::parse("11:22:33:44:55:66/public");
  other.info.sc = true;
  other.info.ltk = SecretBytes(Bytes(16, 7));
  ASSERT_TRUE(sc.save(other));
  EXPECT_EQ(sc.load_all().bonds.size(), 2u);
  ASSERT_TRUE(pr.c->delete_bonding_data());
  EXPECT_FALSE(pr.c->is_previously_bonded());
  auto rep = sc.load_all();
  ASSERT_EQ(rep.bonds.size(), 1u);
  EXPECT_EQ(rep.bonds[0].peer, other.peer);
  EXPECT_EQ(pr.c->delete_bonding_data().error(), Errc::not_bonded);
  fs::remove_all(dc);
}

TEST(SecurityManager, PolicyRejectNewPairingRequests) {
  SecurityParameters s = lesc_mitm();
  Pair pr(nullptr, nullptr, s);
  ASSERT_TRUE(pr.p->set_pairing_policy(combine(PairingPolicy::reject_new_pairing_requests)));
  ASSERT_TRUE(pr.c->pair(pr.now));
  pr.run();
  EXPECT_TRUE(pr.has("P rejected 5"));
  EXPECT_TRUE(pr.has("C complete fail 5 OPEN"));
}

TEST(SecurityManager, PolicyRejectNonbondedPeripheralRequests) {
  Pair pr(nullptr, nullptr, lesc_mitm());
  ASSERT_TRUE(pr.c->set_pairing_policy(PairingPolicy::reject_nonbonded_peripheral_requests | PairingPolicy::reject_bonded_peripheral_requests));
  EXPECT_EQ(static_cast<int>(pr.c->pairing_policy()), 6);
  ASSERT_TRUE(pr.p->pair(pr.now));  // peripheral: Security Request
  pr.run();
  EXPECT_TRUE(pr.has("C rejected 5"));
  EXPECT_FALSE(pr.c->pairing_in_process());
}

TEST(SecurityManager, PeripheralSecurityRequestAcceptedByTheApplication) {
  Pair pr(nullptr, nullptr, lesc_mitm());
  bool asked = false;
  pr.c->on_peripheral_security_request = [&](std::uint8_t auth, bool bonded) {
    asked = true;
    EXPECT_TRUE(auth & auth_req::mitm);
    EXPECT_FALSE(bonded);
  };
  ASSERT_TRUE(pr.p->pair(pr.now));
  pr.run();
  ASSERT_TRUE(asked);
  ASSERT_TRUE(pr.c->security_request_reply(SecurityRequestResponse::accept, pr.now));
  pr.run();
  EXPECT_TRUE(pr.has("C complete ok LESC_MITM"));
  EXPECT_EQ(pr.c->security_request_reply(SecurityRequestResponse::accept, pr.now).error(), Errc::wrong_state);
}

TEST(SecurityManager, DebugKeyOnBothSides) {
  Pair pr(nullptr, nullptr, lesc_mitm());
  ASSERT_TRUE(pr.c->use_debug_lesc_key());
  ASSERT_TRUE(pr.c->pair(pr.now));
  pr.run();
  EXPECT_TRUE(pr.has("P complete fail 3 OPEN"));  // the peripheral refuses a debug key
  Pair both(nullptr, nullptr, lesc_mitm());
  ASSERT_TRUE(both.c->use_debug_lesc_key());
  ASSERT_TRUE(both.p->use_debug_lesc_key());
  ASSERT_TRUE(both.c->pair(both.now));
  both.run();
  EXPECT_TRUE(both.has("C complete ok LESC_MITM"));
}

// #8: a bond the store refuses is reported with the outcome, never silently dropped.
TEST(SecurityManager, BondSaveFailureIsReported) {
  auto d = temp_dir("savefail");
  std::ofstream(d / "not-a-directory") << "x";
  BondStore broken(d / "not-a-directory" / "bonds");  // create_directories() must fail
  BondStore fine(d / "p");
  Pair pr(&broken, &fine, lesc_mitm());
  std::vector<PairingOutcome> outcomes;
  pr.c->on_pairing_complete = [&](const PairingOutcome& o) { outcomes.push_back(o); };
  ASSERT_TRUE(pr.c->pair(pr.now));
  pr.run();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].success);  // the link is encrypted all the same
  EXPECT_EQ(outcomes[0].bond_error, Errc::bond_io);
  EXPECT_EQ(pr.c->bond_save_error(), Errc::bond_io);
  EXPECT_FALSE(pr.p->bond_save_error());
  fs::remove_all(d);
}

// #8: a setter during a pairing used to replace the engine and drop the pairing silently.
TEST(SecurityManager, SettersDuringAPairingAreRefusedAndThePairingGoesOn) {
  Pair pr(nullptr, nullptr, lesc_mitm());
  ASSERT_TRUE(pr.c->pair(pr.now));
  ASSERT_TRUE(pr.c->pairing_in_process());
  SecurityParameters weaker;
  EXPECT_EQ(pr.c->set_security_params(weaker).error(), Errc::pairing_in_progress);
  EXPECT_EQ(pr.c->set_pairing_policy(PairingPolicy::reject_new_pairing_requests).error(), Errc::pairing_in_progress);
  EXPECT_EQ(pr.c->use_debug_lesc_key().error(), Errc::pairing_in_progress);
  EXPECT_EQ(pr.c->set_legacy_oob_tk(std::nullopt).error(), Errc::pairing_in_progress);
  EXPECT_NE(pr.c->set_security_params(weaker).error().message().find("in progress"), std::string::npos);
  EXPECT_TRUE(pr.c->security_params().passcode_pairing);  // unchanged
  pr.run();
  EXPECT_TRUE(pr.has("C complete ok LESC_MITM")) << ::testing::PrintToString(pr.log);
  // After the pairing the settings may change again.
  EXPECT_TRUE(pr.c->set_security_params(weaker));
}

// #15 item 10: "the numbers differ" is a normal answer, not an error of the call.
TEST(SecurityManager, MatchConfirmFalseIsNotAnErrorAndFailsThePairingWith0x0C) {
  Pair pr(nullptr, nullptr, lesc_mitm());
  std::vector<Result<void>> answers;
  pr.p->on_passkey_display_required = [&](std::uint32_t, bool match) {
    if (match) answers.push_back(pr.p->match_confirm(false, pr.now));
  };
  ASSERT_TRUE(pr.c->pair(pr.now));
  pr.run();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0]) << answers[0].error().message();
  EXPECT_TRUE(pr.has("C complete fail 12 OPEN")) << ::testing::PrintToString(pr.log);
}

// A security request is answered with encryption only when the bond meets it (the same rule for
// the default answer and an application's accept()).
TEST(SecurityManager, AcceptedSecurityRequestRepairsWhenTheBondIsTooWeak) {
  auto dc = temp_dir("weak_c"), dp = temp_dir("weak_p");
  BondStore sc(dc), sp(dp);
  SecurityParameters jw;
  jw.bond = true;
  jw.lesc_pairing = true;
  {
    Pair pr(&sc, &sp, jw);
    ASSERT_TRUE(pr.c->pair(pr.now));
    pr.run();
    ASSERT_TRUE(pr.has("C complete ok JUST_WORKS")) << ::testing::PrintToString(pr.log);
  }
  Pair again(&sc, &sp, lesc_mitm());  // the peripheral now asks for MITM
  ASSERT_TRUE(again.c->is_previously_bonded());
  again.c->on_peripheral_security_request = [&](std::uint8_t, bool bonded) {
    EXPECT_TRUE(bonded);
    EXPECT_TRUE(again.c->security_request_reply(SecurityRequestResponse::accept, again.now));
  };
  ASSERT_TRUE(again.p->pair(again.now));
  again.run();
  EXPECT_TRUE(again.has("C compare")) << ::testing::PrintToString(again.log);  // paired, not just encrypted
  EXPECT_TRUE(again.has("C complete ok LESC_MITM")) << ::testing::PrintToString(again.log);
  fs::remove_all(dc);
  fs::remove_all(dp);
}

TEST(BondStore, CorruptedAndTruncatedFilesAreSkipped) {
  auto d = temp_dir("store");
  BondStore store(d);
  BondRecord good;
  good.peer = *Address::parse("C0:11:22:33:44:55/random");
  good.method = Method::passkey;
  good.info.sc = false;
  good.info.authenticated = true;
  good.info.key_size = 16;
  good.info.peer.ltk = SecretBytes(Bytes(16, 0xab));
  good.info.peer.ediv = 0x1234;
  good.info.peer.rand = {1, 2, 3, 4, 5, 6, 7, 8};
  good.info.peer.identity = good.peer;
  ASSERT_TRUE(store.save(good));
  const std::string text(text_of(serialize_bond(good)));
  {
    // Private files named for real peers, so each is refused for its content alone.
    auto put = [&](const std::string& name, const std::string& content) {
      std::ofstream(d / name) << content;
      fs::permissions(d / name, fs::perms::owner_read | fs::perms::owner_write);
    };
    put("c01122334456-random.bond", text.substr(0, text.size() / 2));
    put("c01122334457-random.bond", "\x01\x02 not a bond");
    put("c01122334458-random.bond", std::string(text).replace(text.find("peer_ltk = ") + 11, 4, "zzzz"));
  }
  auto rep = store.load_all();
  ASSERT_EQ(rep.bonds.size(), 1u);
  EXPECT_EQ(rep.problems.size(), 3u);
  const auto& b = rep.bonds[0];
  EXPECT_EQ(b.peer, good.peer);
  EXPECT_EQ(b.method, Method::passkey);
  EXPECT_EQ(b.info.peer.ediv, 0x1234);
  EXPECT_BYTES_EQ(b.info.peer.rand, good.info.peer.rand);
  EXPECT_BYTES_EQ(b.info.peer.ltk.view(), good.info.peer.ltk.view());
  EXPECT_TRUE(store.find(good.peer));
  // Round trip is exact and the text is human-readable.
  EXPECT_EQ(text_of(serialize_bond(b)), text);
  EXPECT_NE(text.find("peer = C0:11:22:33:44:55/random"), std::string::npos);
  // No temporary file left behind.
  for (auto& e : fs::directory_iterator(d))
    if (e.path().filename() != ".blecrypt-bonds.lock") {
      EXPECT_EQ(e.path().extension(), ".bond") << e.path();
    }
  fs::remove_all(d);
}

TEST(BondStore, ResolvesAResolvablePrivateAddressThroughTheStoredIrk) {
  auto d = temp_dir("rpa");
  BondStore store(d);
  // A phone with identity address 00:1B:DC:01:02:03 (public) that connects from RPAs.
  BondRecord bond;
  bond.peer = *Address::parse("00:1B:DC:01:02:03/public");
  bond.info.sc = true;
  bond.info.ltk = SecretBytes(Bytes(16, 0x5c));
  const Bytes irk_msb_first = test::hex("ec0234a357c8ad05341010a60a397d9b");  // Core Vol 3 Part H D.7
  bond.info.peer.irk = SecretBytes(Bytes(irk_msb_first.rbegin(), irk_msb_first.rend()));  // wire order
  bond.info.peer.identity = bond.peer;
  ASSERT_TRUE(store.save(bond));
  ASSERT_TRUE(fs::exists(store.path_for(bond.peer)));  // one file, named for the identity

  for (const auto* backend : test::backends()) {
    // D.7: prand 708194 -> hash 0dfbaa, so the RPA is 70:81:94:0D:FB:AA (random).
    auto rpa = *Address::parse("70:81:94:0D:FB:AA/random");
    auto found = store.resolve(rpa, *backend);
    ASSERT_TRUE(found) << backend->name();
    EXPECT_EQ(found->peer, bond.peer);
    // A fresh RPA made from the same IRK resolves too; one with a wrong hash does not.
    const Toolbox toolbox(*backend);
    const Bytes prand{0x4a, 0x10, 0x77};
    auto hash = *toolbox.ah(irk_msb_first, prand);
    Address fresh{1, {prand[0], prand[1], prand[2], hash[0], hash[1], hash[2]}};
    EXPECT_TRUE(store.resolve(fresh, *backend));
    fresh.bytes[5] ^= 1;
    EXPECT_FALSE(store.resolve(fresh, *backend));
    // Not resolvable (static random, top bits 11): only an exact file matches.
    EXPECT_FALSE(store.resolve(*Address::parse("F0:81:94:0D:FB:AA/random"), *backend));
  }
  // The Security Manager of a new connection from an RPA knows the peer as bonded.
  SecurityManager::Config cfg;
  cfg.role = Role::peripheral;
  cfg.local_address = kPeripheral;
  cfg.peer_address = *Address::parse("70:81:94:0D:FB:AA/random");
  cfg.bond_store = &store;
  crypto::DeterministicRng rng(1);
  SecurityManager sm(cfg, rng);
  EXPECT_TRUE(sm.is_previously_bonded());
  ASSERT_TRUE(sm.delete_bonding_data());
  EXPECT_FALSE(fs::exists(store.path_for(bond.peer)));
  fs::remove_all(d);
}

TEST(BondStore, ParseRejectsMissingEndAndBadValues) {
  EXPECT_EQ(parse_bond("").error(), Errc::bond_corrupt);
  EXPECT_EQ(parse_bond("# blecrypt smp bond v1\npeer = C0:00:00:00:00:01/random\n").error(), Errc::bond_corrupt);
  EXPECT_EQ(parse_bond("# blecrypt smp bond v1\npeer = nope\nend\n").error(), Errc::bond_corrupt);
  EXPECT_EQ(parse_bond("# blecrypt smp bond v1\npeer = C0:00:00:00:00:01/random\nmethod = just_works\nsc = 1\nkey_size = 16\nend\n")
                .error(),
            Errc::bond_corrupt);  // LESC bond without LTK
}

}  // namespace
}  // namespace blecrypt::smp
