// `blecrypt smp peer` (a stdin/stdout loop around smp::PeerProtocol, the line protocol of
// docs/specs/smp-peer-protocol.md) and
// `blecrypt smp demo` (central vs peripheral, both in this process, over a link-layer model).
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

#include "blecrypt/link/pipe.hpp"
#include "blecrypt/smp/link_layer_model.hpp"
#include "blecrypt/smp/bond_store.hpp"
#include "blecrypt/smp/engine.hpp"
#include "blecrypt/smp/peer_protocol.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::smp;

// Command-line values, checked and converted into a PeerConfig by make_config().
struct PeerOptions {
  std::string role;
  std::string io = "no_input_no_output";
  bool no_bond = false, no_mitm = false, no_sc = false;
  std::string init_keys = "3", resp_keys = "3";
  unsigned max_key_size = 16, min_key_size = 16;
  std::optional<std::uint32_t> passkey;
  std::string confirm = "yes";
  bool reject = false, oob_sc = false;
  std::string oob_tk, ecc_private_key, local_address, peer_address, identity_address, irk, bond_file;
  bool debug_key = false, security_request = false, wait_for_pair = false, ignore_security_request = false;
  bool encrypt_on_start = false, sc_only = false;
};

std::string pad6(std::uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "%06u", v);
  return b;
}

Bytes parse_hex_arg(const std::string& what, const std::string& h, std::size_t size) {
  auto b = from_hex(h);
  if (!b || (size && b->size() != size))
    throw UserError(what + ": expected " + std::to_string(size) + " bytes of hex, got '" + escape_line(h) + "'");
  return *b;
}

std::uint8_t parse_mask(const std::string& what, const std::string& s) {
  // One hex digit (bit0 EncKey, bit1 IdKey, bit2 SignKey, bit3 LinkKey); "0x" prefix allowed.
  std::string_view d = s;
  if (d.size() > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) d.remove_prefix(2);
  unsigned v = 0;
  const bool hex = !d.empty() && d.size() <= 2 && std::all_of(d.begin(), d.end(), [](char ch) {
    return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
  });
  if (hex) v = static_cast<unsigned>(std::stoul(std::string(d), nullptr, 16));
  if (!hex || v > 0x0f)
    throw UserError(what + ": key distribution mask must be one hex digit 0..f, got '" + escape_line(s) + "'");
  return static_cast<std::uint8_t>(v);
}

PeerConfig make_config(const PeerOptions& o) {
  PeerConfig c;
  if (o.role == "central") c.role = Role::central;
  else if (o.role == "peripheral") c.role = Role::peripheral;
  else throw UserError("--role must be central or peripheral, got '" + escape_line(o.role) + "'");
  auto io = parse_io_capability(o.io);
  if (!io) throw UserError("--io: unknown IO capability '" + escape_line(o.io) + "'");
  c.io = *io;
  c.bond = !o.no_bond;
  c.mitm = !o.no_mitm;
  c.sc = !o.no_sc;
  c.init_keys = parse_mask("--init-keys", o.init_keys);
  c.resp_keys = parse_mask("--resp-keys", o.resp_keys);
  c.max_key_size = static_cast<std::uint8_t>(o.max_key_size);  // 7..16 by cli::decimal
  c.min_key_size = static_cast<std::uint8_t>(o.min_key_size);
  c.passkey = o.passkey;
  if (o.confirm == "yes") c.confirm = PeerConfig::Confirm::yes;
  else if (o.confirm == "no") c.confirm = PeerConfig::Confirm::no;
  else if (o.confirm == "ask") c.confirm = PeerConfig::Confirm::ask;
  else throw UserError("--confirm must be yes, no or ask, got '" + escape_line(o.confirm) + "'");
  c.reject = o.reject;
  c.oob_sc = o.oob_sc;
  if (!o.oob_tk.empty()) {
    auto tk = parse_hex_arg("--oob-tk", o.oob_tk, 16);
    Key128 k{};
    std::copy(tk.begin(), tk.end(), k.begin());
    c.oob_tk = k;
  }
  c.debug_key = o.debug_key;
  if (!o.ecc_private_key.empty()) {
    c.ecc_private_key = parse_hex_arg("--ecc-private-key", o.ecc_private_key, 32);
    if (!crypto::default_backend().p256_from_private(c.ecc_private_key))
      throw UserError("--ecc-private-key: not a valid P-256 private key (1..n-1, MSB first)");
  }
  auto addr = [](const std::string& flag, const std::string& v) -> std::optional<Address> {
    if (v.empty()) return std::nullopt;
    auto a = Address::parse(v);
    if (!a) throw UserError(flag + ": expected AA:BB:CC:DD:EE:FF/public|random, got '" + escape_line(v) + "'");
    return a;
  };
  c.local_address = addr("--local-address", o.local_address);
  c.peer_address = addr("--peer-address", o.peer_address);
  c.identity_address = addr("--identity-address", o.identity_address);
  if (!o.irk.empty()) c.irk = SecretBytes(parse_hex_arg("--irk", o.irk, 16));
  c.bond_file = o.bond_file;
  c.security_request = o.security_request;
  c.wait_for_pair = o.wait_for_pair;
  c.ignore_security_request = o.ignore_security_request;
  c.encrypt_on_start = o.encrypt_on_start;
  c.sc_only = o.sc_only;
  // Options that would be ignored for this role are refused.
  const bool central = c.role == Role::central;
  if (central && c.security_request) throw UserError("--security-request is for --role peripheral");
  if (!central && (c.wait_for_pair || c.ignore_security_request || c.encrypt_on_start))
    throw UserError("--wait-for-pair, --ignore-security-request and --encrypt-on-start are for --role central");
  if (c.encrypt_on_start && o.bond_file.empty()) throw UserError("--encrypt-on-start needs --bond-file");
  return c;
}

TimePoint steady_now() {
  return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch())};
}

// The IO loop: stdin lines into the protocol, its lines to stdout/stderr, poll() for the deadline.
void drain(PeerProtocol& p) {
  while (auto d = p.poll_diagnostic()) std::cerr << *d << "\n";
  bool any = false;
  while (auto l = p.poll_output()) {
    std::cout << *l << "\n";
    any = true;
  }
  if (any) std::cout.flush();
}

int run_peer(const PeerOptions& o) {
  PeerProtocol p(make_config(o), crypto::system_rng());
  if (auto r = p.start(steady_now()); !r) {
    drain(p);
    throw UserError("cannot create OOB data: " + r.error().message());
  }
  drain(p);
  std::string pending;
  bool eof = false;
  while (!p.finished()) {
    // Whole lines already buffered are handled before waiting again.
    if (auto nl = pending.find('\n'); nl != std::string::npos) {
      p.on_line(std::string_view(pending).substr(0, nl), steady_now());
      pending.erase(0, nl + 1);
      drain(p);
      continue;
    }
    if (eof) {
      if (!pending.empty()) p.on_line(pending, steady_now());
      drain(p);
      break;
    }
    int timeout_ms = -1;
    if (auto d = p.next_deadline()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d - steady_now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(ms, 0, 24LL * 3600 * 1000));
    }
    pollfd pfd{0, POLLIN, 0};
    const int n = ::poll(&pfd, 1, timeout_ms);
    if (n == 0) {
      p.on_deadline(steady_now());
      drain(p);
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[4096];
    const ssize_t got = ::read(0, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) eof = true;
    else pending.append(buf, static_cast<std::size_t>(got));
    // A line longer than any message of the protocol is refused, not buffered without end.
    if (pending.size() > 64 * 1024 && pending.find('\n') == std::string::npos) {
      p.on_line("error-line-too-long", steady_now());
      pending.clear();
      drain(p);
    }
  }
  return 0;
}

// ---- demo ---------------------------------------------------------------------------------------

struct DemoSide {
  std::unique_ptr<PairingEngine> e;
  std::string name;
  std::optional<std::uint32_t> shown;
};

int run_pairing_demo(std::ostream& out, const char* title, IoCapability ci, IoCapability pi, bool sc) {
  crypto::DeterministicRng rc(0xc0ffee), rp(0xbeef);
  EngineConfig c, p;
  c.role = Role::central;
  p.role = Role::peripheral;
  c.io = ci;
  p.io = pi;
  c.secure_connections = p.secure_connections = sc;
  c.local_address = p.peer_address = *Address::parse("C0:00:00:00:00:01/random");
  c.peer_address = p.local_address = *Address::parse("C0:00:00:00:00:02/random");
  PairingEngine central(c, rc), peripheral(p, rp);
  out << title << " (central " << io_capability_name(ci) << ", peripheral " << io_capability_name(pi) << ")\n";
  // SMP PDUs travel whole (L2CAP CID 6): the pipe does not split them; the link-layer model plays
  // the encryption start between the two engines.
  link::Pipe<PairingEngine, PairingEngine> pipe(central, peripheral);
  int pdus = 0, rc_ok = 0, round_pdus = 0;
  auto show = [&](const char* dir) {
    return [&, dir](std::size_t, Bytes& pdu) {
      ++pdus;
      const bool round_pdu = pdu[0] == 0x03 || pdu[0] == 0x04;
      if (!round_pdu || ++round_pdus <= 4)
        out << "  " << dir << opcode_name(pdu[0]) << " (" << pdu.size() << " bytes)\n";
      else if (round_pdus == 5)
        out << "  ... more Pairing Confirm / Pairing Random rounds (one per passkey bit) ...\n";
    };
  };
  pipe.to_peripheral.set_tamper(show("central    -> "));
  pipe.to_central.set_tamper(show("peripheral -> "));
  std::optional<std::uint32_t> displayed;
  bool waiting_passkey[2] = {false, false};
  PairingEngine* eng[2] = {&central, &peripheral};
  LinkLayerModel ll(central, peripheral);
  ll.attach(pipe, [&](Role from, Event ev) {
    const int i = from == Role::central ? 0 : 1;
    const char* who = i == 0 ? "central" : "peripheral";
    const TimePoint now = pipe.now;
    if (std::holds_alternative<events::StartEncryption>(ev)) {
      out << "  link layer: central starts encryption, peripheral gets an LTK request\n";
    } else if (auto* d = std::get_if<events::PasskeyDisplay>(&ev)) {
      if (d->match_request) {
        out << "  " << who << " shows " << pad6(d->passkey) << " and asks the user: same number on both? yes\n";
        (void)eng[i]->confirm_reply(true, now);
      } else {
        out << "  " << who << " displays passkey " << pad6(d->passkey) << "\n";
        displayed = d->passkey;
        if (waiting_passkey[1 - i]) {
          out << "  the user types " << pad6(*displayed) << " on the " << (i == 0 ? "peripheral" : "central") << "\n";
          waiting_passkey[1 - i] = false;
          (void)eng[1 - i]->passkey_reply(*displayed, now);
        }
      }
    } else if (std::holds_alternative<events::PasskeyRequired>(ev)) {
      if (displayed) {
        out << "  the user types " << pad6(*displayed) << " on the " << who << "\n";
        (void)eng[i]->passkey_reply(*displayed, now);
      } else {
        waiting_passkey[i] = true;
      }
    } else if (auto* sl = std::get_if<events::SecurityLevelChanged>(&ev)) {
      out << "  " << who << " security level: " << security_level_name(sl->level) << "\n";
    } else if (auto* pc = std::get_if<events::PairingComplete>(&ev)) {
      const auto& r = pc->result;
      out << "  " << who << " pairing complete: " << (r.sc ? "LE Secure Connections" : "LE legacy") << ", "
          << method_name(r.method) << ", key size " << int(r.key_size) << ", bonded " << (r.bonded ? "yes" : "no")
          << (r.peer.identity ? ", peer identity " + r.peer.identity->to_string() : "") << "\n";
      ++rc_ok;
    } else if (auto* pf = std::get_if<events::PairingFailed>(&ev)) {
      out << "  " << who << " pairing FAILED: " << reason_name(pf->reason) << "\n";
    } else if (std::holds_alternative<events::EncryptionFailed>(ev)) {
      out << "  link layer: encryption failed\n";
    }
  });
  (void)central.pair(pipe.now);
  pipe.pump();
  out << "  " << pdus << " SMP PDUs exchanged\n";
  return rc_ok == 2 ? 0 : 1;
}

int smp_demo(std::ostream& out) {
  int rc = 0;
  rc |= run_pairing_demo(out, "LESC numeric comparison", IoCapability::display_yes_no, IoCapability::display_yes_no, true);
  rc |= run_pairing_demo(out, "LESC passkey entry (20 rounds)", IoCapability::keyboard_only, IoCapability::display_only, true);
  rc |= run_pairing_demo(out, "LE legacy Just Works", IoCapability::no_input_no_output, IoCapability::no_input_no_output, false);
  return rc;
}

const Register demo_step{DemoStep{"smp", 30, smp_demo}};

const Register group{VerbGroup{"smp", "BLE Security Manager: pairing demo and the SMP peer line protocol", [](CLI::App& g) {
  g.require_subcommand(1);
  auto* demo = g.add_subcommand("demo", "Pair a central with a peripheral in this process (LESC NC, LESC passkey, legacy JW)");
  demo->callback([] {
    if (smp_demo(std::cout) != 0) throw UserError("smp demo: a pairing failed");
  });
  static PeerOptions o;
  auto* peer = g.add_subcommand("peer", "SMP peer speaking the line protocol of smp-peer-protocol.md on stdin/stdout");
  peer->add_option("--role", o.role, "central | peripheral")->required();
  peer->add_option("--io", o.io, "display_only display_yes_no keyboard_only no_input_no_output keyboard_display, or 0..4");
  peer->add_flag("--no-bond", o.no_bond, "clear Bonding in AuthReq");
  peer->add_flag("--no-mitm", o.no_mitm, "clear MITM in AuthReq");
  peer->add_flag("--no-sc", o.no_sc, "clear SC in AuthReq (legacy only)");
  peer->add_option("--init-keys", o.init_keys, "initiator key distribution mask (hex)");
  peer->add_option("--resp-keys", o.resp_keys, "responder key distribution mask (hex)");
  peer->add_option("--max-key-size", o.max_key_size, "Maximum Encryption Key Size (7..16)")->transform(decimal(7, 16));
  peer->add_option("--min-key-size", o.min_key_size, "smallest acceptable negotiated key size (7..16)")->transform(decimal(7, 16));
  peer->add_option("--passkey", o.passkey, "passkey shown when displaying, typed when inputting (0..999999)")
      ->transform(decimal(0, 999999));
  peer->add_option("--confirm", o.confirm, "yes | no | ask: answer to numeric comparison / Just Works confirmation");
  peer->add_flag("--reject", o.reject, "answer a Pairing Request with Pairing Not Supported");
  peer->add_flag("--oob-sc", o.oob_sc, "LESC OOB: print oob_local, accept oob_peer");
  peer->add_option("--oob-tk", o.oob_tk, "legacy OOB TK (hex, wire order)");
  peer->add_flag("--debug-key", o.debug_key, "use the SC debug key pair and accept a peer's debug key");
  peer->add_option("--ecc-private-key", o.ecc_private_key, "fixed P-256 private key (hex, MSB first)");
  peer->add_option("--local-address", o.local_address, "AA:BB:CC:DD:EE:FF/public|random");
  peer->add_option("--peer-address", o.peer_address, "AA:BB:CC:DD:EE:FF/public|random");
  peer->add_option("--identity-address", o.identity_address, "identity address distributed with IdKey");
  peer->add_option("--irk", o.irk, "IRK distributed with IdKey (hex, wire order)");
  peer->add_flag("--security-request", o.security_request, "peripheral: send a Security Request at start");
  peer->add_flag("--wait-for-pair", o.wait_for_pair, "central: wait for 'pair' or a Security Request");
  peer->add_flag("--ignore-security-request", o.ignore_security_request, "central: report but do not act on a Security Request");
  peer->add_option("--bond-file", o.bond_file, "bond record to load at start and save after bonding");
  peer->add_flag("--encrypt-on-start", o.encrypt_on_start, "central: encrypt with the bonded key at start");
  peer->add_flag("--sc-only", o.sc_only, "Secure Connections only mode");
  peer->callback([] { run_peer(o); });
}}};

}  // namespace
}  // namespace blecrypt::cli
