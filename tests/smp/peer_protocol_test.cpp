// smp::PeerProtocol: the peer line protocol as a library (lines in, lines out, deadlines).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "blecrypt/smp/peer_protocol.hpp"
#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::smp {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> drain(PeerProtocol& p) {
  std::vector<std::string> out;
  while (auto l = p.poll_output()) out.push_back(*l);
  return out;
}
std::vector<std::string> drain_diag(PeerProtocol& p) {
  std::vector<std::string> out;
  while (auto l = p.poll_diagnostic()) out.push_back(*l);
  return out;
}
bool has_prefix(const std::vector<std::string>& v, std::string_view prefix) {
  for (const auto& l : v)
    if (l.rfind(prefix, 0) == 0) return true;
  return false;
}

// The relay of docs/specs/smp-peer-protocol.md section 4 in memory: PDUs forwarded, the central's
// encryption start modelled as an LTK request to the peripheral (the one link-layer model here;
// smp::LinkLayerModel replaces it at the engine merge).
struct Relay {
  Relay(PeerProtocol& central, PeerProtocol& peripheral) : c(central), p(peripheral) {}
  PeerProtocol& c;
  PeerProtocol& p;
  TimePoint now{};
  std::vector<std::string> transcript;
  std::string pending_key;
  std::optional<std::string> displayed[2];
  bool passkey_requested[2] = {false, false};

  void link_layer(bool from_central, const std::vector<std::string>& parts) {
    if (from_central && parts[0] == "encrypt") {
      pending_key = parts[1];
      p.on_line("ltk_request " + parts[2] + " " + parts[3], now);
    } else if (!from_central && parts[0] == "ltk") {
      if (parts[1] == "none") {
        c.on_line("encryption_failed 06", now);
      } else if (parts[1] == pending_key) {
        c.on_line("encrypted", now);
        p.on_line("encrypted", now);
      } else {
        c.on_line("disconnect 3d", now);
        p.on_line("disconnect 3d", now);
      }
    }
  }
  void run() {
    for (int i = 0; i < 2000; ++i) {
      bool moved = false;
      for (int side = 0; side < 2; ++side) {
        PeerProtocol& from = side == 0 ? c : p;
        PeerProtocol& to = side == 0 ? p : c;
        for (const auto& line : drain(from)) {
          moved = true;
          transcript.push_back(std::string(side == 0 ? "C>> " : "P>> ") + line);
          std::vector<std::string> parts;
          std::istringstream in(line);
          for (std::string w; in >> w;) parts.push_back(w);
          if (parts[0] == "pdu") to.on_line(line, now);
          else if (parts[0] == "display") {
            displayed[side] = parts[1];
            if (passkey_requested[1 - side]) to.on_line("passkey " + parts[1], now);
          } else if (parts[0] == "passkey_request") {
            passkey_requested[side] = true;
            if (displayed[1 - side]) from.on_line("passkey " + *displayed[1 - side], now);
          } else link_layer(side == 0, parts);
        }
      }
      if (!moved) return;
    }
  }
  std::vector<std::string> results(char side) const {
    std::vector<std::string> r;
    for (const auto& l : transcript)
      if (l[0] == side && l.find(">> result ") != std::string::npos) r.push_back(l.substr(4));
    return r;
  }
};

PeerConfig role(Role r) {
  PeerConfig c;
  c.role = r;
  return c;
}

TEST(PeerProtocol, TwoPeersPairLescNumericComparisonThroughLines) {
  crypto::DeterministicRng rc(1), rp(2);
  auto cc = role(Role::central), pc = role(Role::peripheral);
  cc.io = pc.io = IoCapability::display_yes_no;
  PeerProtocol c(cc, rc), p(pc, rp);
  ASSERT_TRUE(c.start({}));
  ASSERT_TRUE(p.start({}));
  Relay relay(c, p);
  relay.run();
  auto rcv = relay.results('C'), rpv = relay.results('P');
  ASSERT_EQ(rcv.size(), 1u) << ::testing::PrintToString(relay.transcript);
  ASSERT_EQ(rpv.size(), 1u);
  EXPECT_EQ(rcv[0].rfind("result ok sc=1 method=numeric_comparison authenticated=1 bonded=1 ltk=", 0), 0u) << rcv[0];
  EXPECT_EQ(relay.transcript[0], "C>> ready role=central io=display_yes_no sc=1 mitm=1 bond=1");
  EXPECT_EQ(relay.transcript[1], "C>> pairing_started");
}

TEST(PeerProtocol, LegacyPasskeyWithFixedPasskeys) {
  crypto::DeterministicRng rc(3), rp(4);
  auto cc = role(Role::central), pc = role(Role::peripheral);
  cc.sc = pc.sc = false;
  cc.io = pc.io = IoCapability::keyboard_only;
  cc.passkey = pc.passkey = 42;
  PeerProtocol c(cc, rc), p(pc, rp);
  ASSERT_TRUE(c.start({}));
  ASSERT_TRUE(p.start({}));
  Relay relay(c, p);
  relay.run();
  ASSERT_EQ(relay.results('C').size(), 1u) << ::testing::PrintToString(relay.transcript);
  EXPECT_EQ(relay.results('C')[0].rfind("result ok sc=0 method=passkey authenticated=1", 0), 0u);
}

// #15 item 9: `disconnect` without a reason, or with a non-hex one, is an error and changes nothing.
TEST(PeerProtocol, DisconnectNeedsAnHciReason) {
  crypto::DeterministicRng rng(5);
  PeerProtocol p(role(Role::peripheral), rng);
  ASSERT_TRUE(p.start({}));
  drain(p);
  for (const char* bad : {"disconnect", "disconnect zz", "disconnect 3", "disconnect 3d3d"}) {
    p.on_line(bad, {});
    auto out = drain(p);
    ASSERT_EQ(out.size(), 1u) << bad;
    EXPECT_EQ(out[0].rfind("error disconnect: expected an HCI reason", 0), 0u) << out[0];
    EXPECT_FALSE(p.finished()) << bad;
  }
  // Still alive: it answers a Pairing Request.
  p.on_line("pdu 0103000d100303", {});
  EXPECT_TRUE(has_prefix(drain(p), "pdu 02"));
  p.on_line("disconnect 13", {});
  EXPECT_TRUE(p.finished());
  EXPECT_FALSE(p.next_deadline());
}

// #15 item 8: echoed input is escaped, so the output stream stays printable ASCII.
TEST(PeerProtocol, EchoedInputIsEscapedToPrintableAscii) {
  crypto::DeterministicRng rng(6);
  PeerProtocol p(role(Role::peripheral), rng);
  ASSERT_TRUE(p.start({}));
  drain(p);
  p.on_line("bogus \x01\x1b[2J\xc3\xa9\\ end", {});
  p.on_line(std::string("pdu \xff\xfe", 6), {});
  p.on_line(std::string("confirm \x7f", 9), {});
  p.on_line(std::string("passkey 1\x01" "2", 11), {});
  auto out = drain(p);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], "error unknown line: bogus \\x01\\x1b[2J\\xc3\\xa9\\\\ end");
  EXPECT_EQ(out[1], "error pdu: expected the PDU as hex, got '\\xff\\xfe'");
  EXPECT_EQ(out[3], "error passkey: expected 1 to 6 decimal digits or 'reject', got '1\\x012'");
  for (const auto& l : out)
    for (char ch : l) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << l;
  EXPECT_EQ(escape_line("a\tb"), "a\\x09b");
}

TEST(PeerProtocol, SmpTimeoutIsADeadline) {
  crypto::DeterministicRng rng(7);
  PeerProtocol c(role(Role::central), rng);
  ASSERT_TRUE(c.start({}));
  auto out = drain(c);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2], "pdu 0103000d100303");
  auto d = c.next_deadline();
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, TimePoint{} + kSmpTimeout);
  c.on_deadline(*d);
  EXPECT_EQ(drain(c), std::vector<std::string>{"result fail reason=00 name=timeout source=local"});
}

// The security-request and bond policy are the SecurityManager's: a bonded central encrypts for
// a request its bond satisfies, and the bond file is written by the manager's bond saving.
TEST(PeerProtocol, BondFileThenSecurityRequestEncryptsWithTheBond) {
  const auto d = fs::temp_directory_path() / ("blecrypt_peer_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  auto cc = role(Role::central), pc = role(Role::peripheral);
  cc.bond_file = d / "c.bond";
  pc.bond_file = d / "p.bond";
  {
    crypto::DeterministicRng rc(8), rp(9);
    PeerProtocol c(cc, rc), p(pc, rp);
    ASSERT_TRUE(c.start({}));
    ASSERT_TRUE(p.start({}));
    Relay relay(c, p);
    relay.run();
    ASSERT_EQ(relay.results('C').size(), 1u) << ::testing::PrintToString(relay.transcript);
    ASSERT_TRUE(fs::exists(cc.bond_file));
  }
  cc.wait_for_pair = true;
  pc.security_request = true;
  pc.mitm = false;
  crypto::DeterministicRng rc(10), rp(11);
  PeerProtocol c(cc, rc), p(pc, rp);
  ASSERT_TRUE(c.start({}));
  ASSERT_TRUE(p.start({}));
  Relay relay(c, p);
  relay.run();
  auto rcv = relay.results('C');
  ASSERT_EQ(rcv.size(), 1u) << ::testing::PrintToString(relay.transcript);
  EXPECT_EQ(rcv[0].rfind("result ok sc=1 method=just_works authenticated=0 bonded=1", 0), 0u) << rcv[0];
  for (const auto& l : relay.transcript) EXPECT_EQ(l.find("C>> pdu 01"), std::string::npos) << l;  // no Pairing Request
  fs::remove_all(d);
}

TEST(PeerProtocol, BondSaveFailureIsADiagnostic) {
  const auto d = fs::temp_directory_path() / ("blecrypt_peer_nosave_" + std::to_string(::getpid()));
  fs::remove_all(d);
  auto cc = role(Role::central), pc = role(Role::peripheral);
  cc.bond_file = d / "missing-dir" / "c.bond";
  crypto::DeterministicRng rc(12), rp(13);
  PeerProtocol c(cc, rc), p(pc, rp);
  ASSERT_TRUE(c.start({}));
  ASSERT_TRUE(p.start({}));
  Relay relay(c, p);
  relay.run();
  ASSERT_EQ(relay.results('C').size(), 1u);
  EXPECT_TRUE(has_prefix(drain_diag(c), "smp peer: cannot write bond file"));
}

TEST(PeerProtocol, AnUnsafeBondFileIsSkippedWithAReason) {
  crypto::DeterministicRng rng(14);
  auto cc = role(Role::central);
  cc.bond_file = "/dev/zero";
  PeerProtocol c(cc, rng);
  auto diag = drain_diag(c);
  ASSERT_EQ(diag.size(), 1u);
  EXPECT_NE(diag[0].find("not a regular file"), std::string::npos) << diag[0];
  EXPECT_FALSE(c.manager().is_previously_bonded());
}

TEST(PeerProtocol, DefaultAddressesDifferPerRole) {
  EXPECT_EQ(default_address(Role::central).to_string(), "C0:00:00:00:00:01/random");
  EXPECT_EQ(default_address(Role::peripheral).to_string(), "C0:00:00:00:00:02/random");
}

}  // namespace
}  // namespace blecrypt::smp
