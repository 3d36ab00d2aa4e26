// `blecrypt smp peer` (the SMP peer line protocol of shared/specs/smp-peer-protocol.md) and
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

#include "blecrypt/link/duplex_wire.hpp"
#include "blecrypt/smp/bond_store.hpp"
#include "blecrypt/smp/engine.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::smp;

struct PeerOptions {
  std::string role;
  std::string io = "no_input_no_output";
  bool no_bond = false, no_mitm = false, no_sc = false;
  std::string init_keys = "3", resp_keys = "3";
  int max_key_size = 16, min_key_size = 16;
  long passkey = -1;
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
std::string hex2(unsigned v) {
  char b[8];
  std::snprintf(b, sizeof b, "%02x", v & 0xff);
  return b;
}
std::string hex4(unsigned v) {
  char b[8];
  std::snprintf(b, sizeof b, "%04x", v & 0xffff);
  return b;
}

Bytes parse_hex_arg(const std::string& what, const std::string& h, std::size_t size) {
  auto b = from_hex(h);
  if (!b || (size && b->size() != size))
    throw UserError(what + ": expected " + std::to_string(size) + " bytes of hex, got '" + h + "'");
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
  if (!hex || v > 0x0f) throw UserError(what + ": key distribution mask must be one hex digit 0..f, got '" + s + "'");
  return static_cast<std::uint8_t>(v);
}

// "1 to 6 decimal digits" (smp-peer-protocol.md section 1); nullopt for anything else.
std::optional<std::uint32_t> parse_passkey(const std::string& v) {
  if (v.empty() || v.size() > 6) return std::nullopt;
  std::uint32_t n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  return n;
}

std::string keys_fields(const DistributedKeys& k, const std::string& prefix, bool with_ltk) {
  std::string s;
  if (with_ltk && !k.ltk.empty())
    s += " " + prefix + "ltk=" + to_hex(k.ltk) + " " + prefix + "ediv=" + hex4(k.ediv) + " " + prefix + "rand=" + to_hex(k.rand);
  return s;
}

std::string result_line(bool sc, Method method, bool authenticated, bool bonded, std::uint8_t key_size, const SecretBytes& ltk,
                        const DistributedKeys& local, const DistributedKeys& peer) {
  std::string s = "result ok sc=" + std::string(sc ? "1" : "0") + " method=" + std::string(method_name(method)) +
                  " authenticated=" + (authenticated ? "1" : "0") + " bonded=" + (bonded ? "1" : "0");
  if (sc && !ltk.empty()) s += " ltk=" + to_hex(ltk);
  if (!sc) {
    s += keys_fields(local, "local_", true);
    s += keys_fields(peer, "peer_", true);
  }
  if (!peer.irk.empty()) s += " peer_irk=" + to_hex(peer.irk);
  if (peer.identity) s += " peer_identity=" + peer.identity->to_string();
  if (!peer.csrk.empty()) s += " peer_csrk=" + to_hex(peer.csrk);
  s += " key_size=" + std::to_string(key_size);
  return s;
}

class Peer {
 public:
  explicit Peer(const PeerOptions& o) : opt_(o) {
    EngineConfig c;
    if (o.role == "central") c.role = Role::central;
    else if (o.role == "peripheral") c.role = Role::peripheral;
    else throw UserError("--role must be central or peripheral, got '" + o.role + "'");
    auto io = parse_io_capability(o.io);
    if (!io) throw UserError("--io: unknown IO capability '" + o.io + "'");
    c.io = *io;
    c.bonding = !o.no_bond;
    c.mitm = !o.no_mitm;
    c.secure_connections = !o.no_sc;
    c.initiator_keys = parse_mask("--init-keys", o.init_keys);
    c.responder_keys = parse_mask("--resp-keys", o.resp_keys);
    if (o.max_key_size < 7 || o.max_key_size > 16) throw UserError("--max-key-size must be 7..16");
    if (o.min_key_size < 7 || o.min_key_size > 16) throw UserError("--min-key-size must be 7..16");
    c.max_key_size = static_cast<std::uint8_t>(o.max_key_size);
    c.min_key_size = static_cast<std::uint8_t>(o.min_key_size);
    if (o.passkey > 999999 || o.passkey < -1) throw UserError("--passkey must be 0..999999 (1 to 6 decimal digits)");
    if (o.passkey >= 0) c.passkey = static_cast<std::uint32_t>(o.passkey);
    if (o.confirm != "yes" && o.confirm != "no" && o.confirm != "ask") throw UserError("--confirm must be yes, no or ask");
    c.confirm_just_works = o.confirm != "yes";
    c.reject_pairing_requests = o.reject;
    if (!o.oob_tk.empty()) {
      auto tk = parse_hex_arg("--oob-tk", o.oob_tk, 16);
      Key128 k{};
      std::copy(tk.begin(), tk.end(), k.begin());
      c.legacy_oob_tk = k;
    }
    c.debug_keys = o.debug_key;
    if (!o.ecc_private_key.empty()) {
      c.ecc_private_key = parse_hex_arg("--ecc-private-key", o.ecc_private_key, 32);
      if (!crypto::default_backend().p256_from_private(c.ecc_private_key))
        throw UserError("--ecc-private-key: not a valid P-256 private key (1..n-1, MSB first)");
    }
    const bool central = c.role == Role::central;
    auto addr = [](const std::string& flag, const std::string& v, const char* def) {
      auto a = Address::parse(v.empty() ? def : v);
      if (!a) throw UserError(flag + ": expected AA:BB:CC:DD:EE:FF/public|random, got '" + v + "'");
      return *a;
    };
    c.local_address = addr("--local-address", o.local_address, central ? "C0:00:00:00:00:01/random" : "C0:00:00:00:00:02/random");
    c.peer_address = addr("--peer-address", o.peer_address, central ? "C0:00:00:00:00:02/random" : "C0:00:00:00:00:01/random");
    if (!o.identity_address.empty()) c.identity_address = addr("--identity-address", o.identity_address, "");
    if (!o.irk.empty()) c.irk = SecretBytes(parse_hex_arg("--irk", o.irk, 16));
    c.sc_only = o.sc_only;
    if (!o.bond_file.empty() && std::filesystem::exists(o.bond_file)) {
      auto r = read_bond_file(o.bond_file);
      if (!r) std::cerr << "smp peer: bond file " << o.bond_file << " skipped: " << r.error().message() << "\n";
      else {
        bond_ = std::move(*r);
        c.bond = bond_->info;
      }
    }
    cfg_ = c;
    engine_ = std::make_unique<PairingEngine>(std::move(c), crypto::system_rng());
  }

  int run() {
    const bool central = cfg_.role == Role::central;
    say("ready role=" + opt_.role + " io=" + std::string(io_capability_name(cfg_.io)) + " sc=" + (cfg_.secure_connections ? "1" : "0") +
        " mitm=" + (cfg_.mitm ? "1" : "0") + " bond=" + (cfg_.bonding ? "1" : "0"));
    if (opt_.oob_sc) {
      auto d = engine_->local_oob_data();
      if (!d) throw UserError("cannot create OOB data: " + d.error().message());
      say("oob_local " + to_hex(d->c) + " " + to_hex(d->r));
    }
    if (central) {
      if (opt_.encrypt_on_start) start_bonded_encryption();
      else if (!opt_.wait_for_pair && !opt_.oob_sc) check(engine_->pair(now()), "pair");
    } else if (opt_.security_request) {
      check(engine_->security_request(now()), "security_request");
    }
    flush();
    std::string pending;
    bool eof = false;
    for (;;) {
      // Whole lines already buffered are handled before waiting again.
      if (auto nl = pending.find('\n'); nl != std::string::npos) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!handle(line)) break;
        flush();
        continue;
      }
      if (eof) {
        if (!pending.empty()) {
          handle(pending);
          flush();
        }
        break;
      }
      int timeout_ms = -1;
      if (auto d = engine_->next_deadline()) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d - now()).count();
        timeout_ms = static_cast<int>(std::max<long long>(0, ms));
      }
      pollfd p{0, POLLIN, 0};
      int n = ::poll(&p, 1, timeout_ms);
      if (n == 0) {
        engine_->on_deadline(now());
        flush();
        continue;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      char buf[4096];
      ssize_t got = ::read(0, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) eof = true;
      else pending.append(buf, static_cast<std::size_t>(got));
    }
    return 0;
  }

 private:
  static TimePoint now() {
    return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch())};
  }
  void say(const std::string& s) {
    std::cout << s << "\n";
    std::cout.flush();
  }
  void check(const Result<void>& r, const std::string& what) {
    if (!r) std::cerr << "smp peer: " << what << ": " << r.error().message() << "\n";
  }

  void start_bonded_encryption() {
    auto r = engine_->encrypt_bonded(now());
    if (!r) {
      say("error encrypt_bonded: " + r.error().message());
      return;
    }
    reencrypting_ = true;
  }

  bool handle(const std::string& line) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd.empty()) return true;
    if (cmd == "pdu") {
      std::string h;
      in >> h;
      auto b = from_hex(h);
      if (!b || b->empty()) {
        say("error pdu: expected the PDU as hex, got '" + h + "'");
        return true;
      }
      auto r = engine_->feed(*b, now());
      if (!r) std::cerr << "smp peer: pdu " << h << ": " << r.error().message() << "\n";
    } else if (cmd == "ltk_request") {
      if (cfg_.role == Role::central) {
        say("error ltk_request: only the peripheral answers LTK requests");
        return true;
      }
      std::string e, r;
      in >> e >> r;
      auto eb = from_hex(e);
      auto rb = from_hex(r);
      if (!eb || eb->size() != 2 || !rb || rb->size() != 8) {
        say("error ltk_request: expected EDIV (4 hex) and RAND (16 hex)");
        return true;
      }
      engine_->ltk_request(load_be16(eb->data()), *rb, now());
    } else if (cmd == "encrypted") {
      say("link encrypted");
      engine_->encryption_changed(now());
    } else if (cmd == "encryption_failed") {
      std::string s;
      in >> s;
      auto b = from_hex(s);
      if (!b || b->size() != 1) {
        say("error encryption_failed: expected an HCI status (2 hex digits), got '" + s + "'");
        return true;
      }
      engine_->encryption_failed((*b)[0], now());
    } else if (cmd == "disconnect") {
      // Encryption that was being started never came up (e.g. 3d MIC failure): say so before
      // leaving, like encryption_failed does.
      std::string reason;
      in >> reason;
      auto rb = from_hex(reason);
      if ((engine_->waiting_for_encryption() || reencrypting_) && rb && rb->size() == 1)
        say("result fail reason=encryption status=" + hex2((*rb)[0]));
      engine_->disconnected();
      return false;
    } else if (cmd == "pair") {
      check(engine_->pair(now()), "pair");
    } else if (cmd == "security_request") {
      check(engine_->security_request(now()), "security_request");
    } else if (cmd == "encrypt_bonded") {
      start_bonded_encryption();
    } else if (cmd == "passkey") {
      std::string v;
      in >> v;
      if (v == "reject") {
        check(engine_->passkey_reply(std::nullopt, now()), "passkey");
      } else if (auto n = parse_passkey(v)) {
        check(engine_->passkey_reply(*n, now()), "passkey");
      } else {
        say("error passkey: expected 1 to 6 decimal digits or 'reject', got '" + v + "'");
      }
    } else if (cmd == "confirm") {
      std::string v;
      in >> v;
      if (v != "yes" && v != "no") {
        say("error confirm: expected yes or no, got '" + v + "'");
        return true;
      }
      check(engine_->confirm_reply(v == "yes", now()), "confirm");
    } else if (cmd == "oob_peer") {
      std::string c, r;
      in >> c >> r;
      auto cb = from_hex(c);
      auto rb = from_hex(r);
      if (!cb || cb->size() != 16 || !rb || rb->size() != 16) {
        say("error oob_peer: expected C and R, 16 bytes of hex each");
        return true;
      }
      OobData d;
      std::copy(cb->begin(), cb->end(), d.c.begin());
      std::copy(rb->begin(), rb->end(), d.r.begin());
      check(engine_->set_peer_oob_data(d), "oob_peer");
    } else if (cmd == "quit") {
      return false;
    } else {
      say("error unknown line: " + line);
    }
    return true;
  }

  // PDUs of one step go out before its events (a result line after the last key PDU), except
  // that `pairing_started` announces the procedure before its first PDU.
  void flush() {
    for (;;) {
      std::vector<Bytes> pdus;
      while (auto pdu = engine_->poll_transmit()) pdus.push_back(std::move(*pdu));
      std::vector<Event> evs;
      while (auto ev = engine_->poll_event()) evs.push_back(std::move(*ev));
      if (pdus.empty() && evs.empty()) return;
      for (const auto& ev : evs)
        if (std::holds_alternative<events::PairingStarted>(ev)) on_event(ev);
      for (const auto& pdu : pdus) say("pdu " + to_hex(pdu));
      for (const auto& ev : evs)
        if (!std::holds_alternative<events::PairingStarted>(ev)) on_event(ev);
    }
  }

  void on_event(const Event& ev) {
    if (std::holds_alternative<events::PairingStarted>(ev)) {
      reencrypting_ = false;
      say("pairing_started");
    } else if (auto* se = std::get_if<events::StartEncryption>(&ev)) {
      say("encrypt " + to_hex(se->ltk) + " " + hex4(se->ediv) + " " + to_hex(se->rand));
    } else if (auto* lr = std::get_if<events::LtkReply>(&ev)) {
      if (lr->ltk.empty()) say("ltk none");
      else {
        if (!engine_->pairing_in_progress()) reencrypting_ = true;
        say("ltk " + to_hex(lr->ltk));
      }
    } else if (auto* d = std::get_if<events::PasskeyDisplay>(&ev)) {
      if (d->match_request) {
        say("compare " + pad6(d->passkey));
        if (opt_.confirm != "ask") check(engine_->confirm_reply(opt_.confirm == "yes", now()), "confirm");
      } else {
        say("display " + pad6(d->passkey));
      }
    } else if (std::holds_alternative<events::PasskeyRequired>(ev)) {
      say("passkey_request");
      if (opt_.passkey >= 0) check(engine_->passkey_reply(static_cast<std::uint32_t>(opt_.passkey), now()), "passkey");
    } else if (std::holds_alternative<events::JustWorksConfirm>(ev)) {
      say("confirm_request just_works");
      if (opt_.confirm != "ask") check(engine_->confirm_reply(opt_.confirm == "yes", now()), "confirm");
    } else if (auto* sr = std::get_if<events::SecurityRequestReceived>(&ev)) {
      say("security_request " + hex2(sr->auth_req));
      if (!opt_.ignore_security_request && !sr->ignored) {
        if (sr->bond_satisfies) start_bonded_encryption();
        else check(engine_->pair(now()), "pair");
      }
    } else if (auto* sl = std::get_if<events::SecurityLevelChanged>(&ev)) {
      std::cerr << "smp peer: security level " << security_level_name(sl->level) << "\n";
      if (reencrypting_ && !engine_->pairing_in_progress() && bond_) {
        reencrypting_ = false;
        const auto& b = bond_->info;
        say(result_line(b.sc, bond_->method, b.authenticated, true, b.key_size, b.ltk, b.local, b.peer));
      }
    } else if (auto* pc = std::get_if<events::PairingComplete>(&ev)) {
      const auto& r = pc->result;
      say(result_line(r.sc, r.method, r.authenticated, r.bonded, r.key_size, r.ltk, r.local, r.peer));
      if (r.bonded) {
        BondRecord rec;
        rec.peer = r.peer.identity.value_or(cfg_.peer_address);
        rec.method = r.method;
        rec.info = *engine_->bond();
        bond_ = rec;
        if (!opt_.bond_file.empty()) {
          auto w = write_file_atomic(opt_.bond_file, serialize_bond(rec));
          if (!w) std::cerr << "smp peer: cannot write bond file " << opt_.bond_file << ": " << w.error().message() << "\n";
        }
      }
    } else if (auto* pf = std::get_if<events::PairingFailed>(&ev)) {
      if (pf->timeout) say("result fail reason=00 name=timeout source=local");
      else
        say("result fail reason=" + hex2(pf->reason) + " name=" + std::string(reason_name(pf->reason)) +
            " source=" + (pf->local ? "local" : "remote"));
    } else if (auto* rj = std::get_if<events::PairingRequestRejected>(&ev)) {
      std::cerr << "smp peer: pairing request rejected (reason " << hex2(rj->reason) << ")\n";
    } else if (auto* ef = std::get_if<events::EncryptionFailed>(&ev)) {
      reencrypting_ = false;
      say("result fail reason=encryption status=" + hex2(ef->status));
    }
  }

  PeerOptions opt_;
  EngineConfig cfg_;
  std::unique_ptr<PairingEngine> engine_;
  std::optional<BondRecord> bond_;
  bool reencrypting_ = false;
};

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
  const TimePoint now{};
  (void)central.pair(now);
  SecretBytes pending;
  std::optional<std::uint32_t> displayed;
  bool waiting_passkey[2] = {false, false};
  int pdus = 0, rc_ok = 0, round_pdus = 0;
  PairingEngine* eng[2] = {&central, &peripheral};
  link::DuplexWire link;  // SMP PDUs travel whole (L2CAP CID 6), not split into ATT payloads
  for (int step = 0; step < 500; ++step) {
    bool moved = false;
    for (int i = 0; i < 2; ++i) {
      while (auto pdu = eng[i]->poll_transmit()) {
        ++pdus;
        moved = true;
        const bool round_pdu = (*pdu)[0] == 0x03 || (*pdu)[0] == 0x04;
        if (!round_pdu || ++round_pdus <= 4)
          out << "  " << (i == 0 ? "central    -> " : "peripheral -> ") << opcode_name((*pdu)[0]) << " (" << pdu->size() << " bytes)\n";
        else if (round_pdus == 5)
          out << "  ... more Pairing Confirm / Pairing Random rounds (one per passkey bit) ...\n";
        if (i == 0) link.write_pdu(*pdu);
        else link.notify_pdu(*pdu);
        auto delivered = i == 0 ? link.next_for_peripheral() : link.next_for_central();
        if (delivered) (void)eng[1 - i]->feed(*delivered, now);
      }
      while (auto ev = eng[i]->poll_event()) {
        moved = true;
        const char* who = i == 0 ? "central" : "peripheral";
        if (auto* se = std::get_if<events::StartEncryption>(&*ev)) {
          pending = se->ltk;
          out << "  link layer: central starts encryption, peripheral gets an LTK request\n";
          peripheral.ltk_request(se->ediv, se->rand, now);
        } else if (auto* lr = std::get_if<events::LtkReply>(&*ev)) {
          if (!lr->ltk.empty() && equal(lr->ltk, pending)) {
            out << "  link layer: keys match, link encrypted\n";
            central.encryption_changed(now);
            peripheral.encryption_changed(now);
          } else {
            out << "  link layer: encryption failed\n";
            central.encryption_failed(0x06, now);
          }
        } else if (auto* d = std::get_if<events::PasskeyDisplay>(&*ev)) {
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
        } else if (std::holds_alternative<events::PasskeyRequired>(*ev)) {
          if (displayed) {
            out << "  the user types " << pad6(*displayed) << " on the " << who << "\n";
            (void)eng[i]->passkey_reply(*displayed, now);
          } else {
            waiting_passkey[i] = true;
          }
        } else if (auto* sl = std::get_if<events::SecurityLevelChanged>(&*ev)) {
          out << "  " << who << " security level: " << security_level_name(sl->level) << "\n";
        } else if (auto* pc = std::get_if<events::PairingComplete>(&*ev)) {
          const auto& r = pc->result;
          out << "  " << who << " pairing complete: " << (r.sc ? "LE Secure Connections" : "LE legacy") << ", "
              << method_name(r.method) << ", key size " << int(r.key_size) << ", bonded " << (r.bonded ? "yes" : "no")
              << (r.peer.identity ? ", peer identity " + r.peer.identity->to_string() : "") << "\n";
          ++rc_ok;
        } else if (auto* pf = std::get_if<events::PairingFailed>(&*ev)) {
          out << "  " << who << " pairing FAILED: " << reason_name(pf->reason) << "\n";
        }
      }
    }
    if (!moved) break;
  }
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
  peer->add_option("--max-key-size", o.max_key_size, "Maximum Encryption Key Size");
  peer->add_option("--min-key-size", o.min_key_size, "smallest acceptable negotiated key size (7..16)");
  peer->add_option("--passkey", o.passkey, "passkey shown when displaying, typed when inputting");
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
  peer->callback([] {
    Peer p(o);
    p.run();
  });
}}};

}  // namespace
}  // namespace blecrypt::cli
