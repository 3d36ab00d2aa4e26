// The SMP peer line protocol over a SecurityManager (see peer_protocol.hpp).
#include "blecrypt/smp/peer_protocol.hpp"

#include <cstdio>
#include <sstream>
#include <vector>

namespace blecrypt::smp {

namespace {

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

// "1 to 6 decimal digits" (smp-peer-protocol.md section 1); nullopt for anything else.
std::optional<std::uint32_t> parse_passkey(std::string_view v) {
  if (v.empty() || v.size() > 6) return std::nullopt;
  std::uint32_t n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  return n;
}

// Exactly `size` bytes of hex (any case).
std::optional<Bytes> hex_of_size(const std::string& h, std::size_t size) {
  auto b = from_hex(h);
  if (!b || b->size() != size) return std::nullopt;
  return b;
}

std::string keys_fields(const DistributedKeys& k, const std::string& prefix) {
  std::string s;
  if (!k.ltk.empty())
    s += " " + prefix + "ltk=" + to_hex(k.ltk) + " " + prefix + "ediv=" + hex4(k.ediv) + " " + prefix + "rand=" + to_hex(k.rand);
  return s;
}

std::string result_line(bool sc, Method method, bool authenticated, bool bonded, std::uint8_t key_size, const SecretBytes& ltk,
                        const DistributedKeys& local, const DistributedKeys& peer) {
  std::string s = "result ok sc=" + std::string(sc ? "1" : "0") + " method=" + std::string(method_name(method)) +
                  " authenticated=" + (authenticated ? "1" : "0") + " bonded=" + (bonded ? "1" : "0");
  if (sc && !ltk.empty()) s += " ltk=" + to_hex(ltk);
  if (!sc) {
    s += keys_fields(local, "local_");
    s += keys_fields(peer, "peer_");
  }
  if (!peer.irk.empty()) s += " peer_irk=" + to_hex(peer.irk);
  if (peer.identity) s += " peer_identity=" + peer.identity->to_string();
  if (!peer.csrk.empty()) s += " peer_csrk=" + to_hex(peer.csrk);
  s += " key_size=" + std::to_string(key_size);
  return s;
}

}  // namespace

Address default_address(Role role) {
  Address a;
  a.type = 1;
  a.bytes = {0xC0, 0, 0, 0, 0, static_cast<std::uint8_t>(role == Role::central ? 1 : 2)};
  return a;
}

std::string escape_line(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (u == '\\') {
      s += "\\\\";
    } else if (u >= 0x20 && u < 0x7f) {
      s += ch;
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      s += b;
    }
  }
  return s;
}

PeerProtocol::PeerProtocol(PeerConfig cfg, crypto::Rng& rng) : cfg_(std::move(cfg)) {
  const Role other = cfg_.role == Role::central ? Role::peripheral : Role::central;
  SecurityManager::Config c;
  c.role = cfg_.role;
  c.local_address = cfg_.local_address.value_or(default_address(cfg_.role));
  c.peer_address = cfg_.peer_address.value_or(default_address(other));
  c.backend = cfg_.backend;
  c.min_key_size = cfg_.min_key_size;
  c.sc_only = cfg_.sc_only;
  c.engine.initiator_keys = cfg_.init_keys;
  c.engine.responder_keys = cfg_.resp_keys;
  c.engine.max_key_size = cfg_.max_key_size;
  c.engine.passkey = cfg_.passkey;
  c.engine.confirm_just_works = cfg_.confirm != PeerConfig::Confirm::yes;
  c.engine.ecc_private_key = cfg_.ecc_private_key;
  c.engine.identity_address = cfg_.identity_address;
  c.engine.irk = cfg_.irk;
  if (!cfg_.bond_file.empty()) {
    bond_file_ = std::make_unique<BondFile>(cfg_.bond_file);
    c.bond_store = bond_file_.get();
  }
  sm_ = std::make_unique<SecurityManager>(std::move(c), rng);
  if (auto e = sm_->bond_load_error())
    diag("bond file " + escape_line(cfg_.bond_file.string()) + " skipped: " + e.message());

  SecurityParameters p;
  p.passcode_pairing = cfg_.mitm;
  p.io_capabilities = cfg_.io;
  p.bond = cfg_.bond;
  p.out_of_band = cfg_.oob_tk.has_value() || cfg_.oob_sc;
  p.reject_pairing_requests = cfg_.reject;
  p.lesc_pairing = cfg_.sc;
  // Nothing is in progress yet: the setters cannot be refused here.
  (void)sm_->set_security_params(p);
  if (cfg_.oob_tk) (void)sm_->set_legacy_oob_tk(*cfg_.oob_tk);
  if (cfg_.debug_key) (void)sm_->use_debug_lesc_key();

  // Every engine event is printed in order by flush(); the manager's own answers are deferred to
  // the events' turn by installing the application hooks.
  sm_->on_engine_event = [this](const Event& ev) { events_.push_back(Queued{ev, false}); };
  sm_->on_peripheral_security_request = [this](std::uint8_t, bool) {
    // Called right after on_engine_event for the same SecurityRequestReceived.
    if (!events_.empty()) events_.back().answer_security_request = true;
  };
  sm_->on_just_works_confirm = [] {};  // answered in on_event (--confirm)
}

PeerProtocol::~PeerProtocol() = default;

void PeerProtocol::check(const Result<void>& r, std::string_view what) {
  if (!r) diag(std::string(what) + ": " + r.error().message());
}

Result<void> PeerProtocol::start(TimePoint now) {
  say("ready role=" + std::string(cfg_.role == Role::central ? "central" : "peripheral") + " io=" +
      std::string(io_capability_name(cfg_.io)) + " sc=" + (cfg_.sc ? "1" : "0") + " mitm=" + (cfg_.mitm ? "1" : "0") +
      " bond=" + (cfg_.bond ? "1" : "0"));
  if (cfg_.oob_sc) {
    auto d = sm_->local_oob_data();
    if (!d) return Unexpected{d.error()};
    say("oob_local " + to_hex(d->c) + " " + to_hex(d->r));
  }
  if (cfg_.role == Role::central) {
    if (cfg_.encrypt_on_start) start_bonded_encryption(now);
    else if (!cfg_.wait_for_pair && !cfg_.oob_sc) check(sm_->pair(now, /*force_repairing=*/true), "pair");
  } else if (cfg_.security_request) {
    check(sm_->pair(now), "security_request");
  }
  flush(now);
  return ok();
}

void PeerProtocol::start_bonded_encryption(TimePoint now) {
  auto r = sm_->encrypt_with_bond(now);
  if (!r) {
    say("error encrypt_bonded: " + r.error().message());
    return;
  }
  reencrypting_ = true;
}

std::optional<std::string> PeerProtocol::poll_output() {
  if (out_.empty()) return std::nullopt;
  auto s = std::move(out_.front());
  out_.pop_front();
  return s;
}
std::optional<std::string> PeerProtocol::poll_diagnostic() {
  if (diag_.empty()) return std::nullopt;
  auto s = std::move(diag_.front());
  diag_.pop_front();
  return s;
}
std::optional<TimePoint> PeerProtocol::next_deadline() const { return finished_ ? std::nullopt : sm_->next_deadline(); }
void PeerProtocol::on_deadline(TimePoint now) {
  sm_->on_deadline(now);
  flush(now);
}

void PeerProtocol::on_line(std::string_view raw, TimePoint now) {
  if (finished_) return;
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
  const std::string line(raw);
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  const bool central = cfg_.role == Role::central;
  if (cmd.empty()) return;
  if (cmd == "pdu") {
    std::string h;
    in >> h;
    auto b = from_hex(h);
    if (!b || b->empty()) {
      say("error pdu: expected the PDU as hex, got '" + escape_line(h) + "'");
      return;
    }
    check(sm_->feed(*b, now), "pdu " + h);
  } else if (cmd == "ltk_request") {
    if (central) {
      say("error ltk_request: only the peripheral answers LTK requests");
      return;
    }
    std::string e, r;
    in >> e >> r;
    auto eb = hex_of_size(e, 2);
    auto rb = hex_of_size(r, 8);
    if (!eb || !rb) {
      say("error ltk_request: expected EDIV (4 hex) and RAND (16 hex)");
      return;
    }
    sm_->ltk_request(load_be16(eb->data()), *rb, now);
  } else if (cmd == "encrypted") {
    say("link encrypted");
    sm_->encryption_changed(now);
  } else if (cmd == "encryption_failed") {
    std::string s;
    in >> s;
    auto b = hex_of_size(s, 1);
    if (!b) {
      say("error encryption_failed: expected an HCI status (2 hex digits), got '" + escape_line(s) + "'");
      return;
    }
    sm_->encryption_failed((*b)[0], now);
  } else if (cmd == "disconnect") {
    std::string reason;
    in >> reason;
    auto rb = hex_of_size(reason, 1);
    if (!rb) {
      // Nothing changes: the link is still up as far as this peer knows.
      say("error disconnect: expected an HCI reason (2 hex digits, e.g. 3d), got '" + escape_line(reason) + "'");
      return;
    }
    // Encryption that was being started never came up (e.g. 3d MIC failure): say so before
    // leaving, like encryption_failed does.
    if (sm_->engine().waiting_for_encryption() || reencrypting_) say("result fail reason=encryption status=" + hex2((*rb)[0]));
    sm_->disconnected();
    finished_ = true;
    return;
  } else if (cmd == "pair") {
    if (!central) diag("pair: " + make_error_code(Errc::wrong_role).message());
    else check(sm_->pair(now, /*force_repairing=*/true), "pair");
  } else if (cmd == "security_request") {
    if (central) diag("security_request: " + make_error_code(Errc::wrong_role).message());
    else check(sm_->pair(now), "security_request");
  } else if (cmd == "encrypt_bonded") {
    start_bonded_encryption(now);
  } else if (cmd == "passkey") {
    std::string v;
    in >> v;
    if (v == "reject") {
      check(sm_->passkey_reply(std::nullopt, now), "passkey");
    } else if (auto n = parse_passkey(v)) {
      check(sm_->passkey_reply(*n, now), "passkey");
    } else {
      say("error passkey: expected 1 to 6 decimal digits or 'reject', got '" + escape_line(v) + "'");
      return;
    }
  } else if (cmd == "confirm") {
    std::string v;
    in >> v;
    if (v != "yes" && v != "no") {
      say("error confirm: expected yes or no, got '" + escape_line(v) + "'");
      return;
    }
    check(sm_->match_confirm(v == "yes", now), "confirm");
  } else if (cmd == "oob_peer") {
    std::string c, r;
    in >> c >> r;
    auto cb = hex_of_size(c, 16);
    auto rb = hex_of_size(r, 16);
    if (!cb || !rb) {
      say("error oob_peer: expected C and R, 16 bytes of hex each");
      return;
    }
    OobData d;
    std::copy(cb->begin(), cb->end(), d.c.begin());
    std::copy(rb->begin(), rb->end(), d.r.begin());
    check(sm_->set_peer_oob_data(d), "oob_peer");
  } else if (cmd == "quit") {
    finished_ = true;
    return;
  } else {
    say("error unknown line: " + escape_line(line));
    return;
  }
  flush(now);
}

// PDUs of one step go out before its events (a result line after the last key PDU), except
// that `pairing_started` announces the procedure before its first PDU.
void PeerProtocol::flush(TimePoint now) {
  for (;;) {
    std::vector<Bytes> pdus;
    while (auto pdu = sm_->poll_transmit()) pdus.push_back(std::move(*pdu));
    std::vector<Queued> evs(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
    if (pdus.empty() && evs.empty()) return;
    for (const auto& q : evs)
      if (std::holds_alternative<events::PairingStarted>(q.event)) on_event(q, now);
    for (const auto& pdu : pdus) say("pdu " + to_hex(pdu));
    for (const auto& q : evs)
      if (!std::holds_alternative<events::PairingStarted>(q.event)) on_event(q, now);
  }
}

void PeerProtocol::on_event(const Queued& q, TimePoint now) {
  const Event& ev = q.event;
  const bool answer = cfg_.confirm != PeerConfig::Confirm::ask;
  const bool yes = cfg_.confirm == PeerConfig::Confirm::yes;
  if (std::holds_alternative<events::PairingStarted>(ev)) {
    reencrypting_ = false;
    say("pairing_started");
  } else if (auto* se = std::get_if<events::StartEncryption>(&ev)) {
    say("encrypt " + to_hex(se->ltk) + " " + hex4(se->ediv) + " " + to_hex(se->rand));
  } else if (auto* lr = std::get_if<events::LtkReply>(&ev)) {
    if (lr->ltk.empty()) {
      say("ltk none");
    } else {
      if (!sm_->pairing_in_process()) reencrypting_ = true;
      say("ltk " + to_hex(lr->ltk));
    }
  } else if (auto* d = std::get_if<events::PasskeyDisplay>(&ev)) {
    if (d->match_request) {
      say("compare " + pad6(d->passkey));
      if (answer) check(sm_->match_confirm(yes, now), "confirm");
    } else {
      say("display " + pad6(d->passkey));
    }
  } else if (std::holds_alternative<events::PasskeyRequired>(ev)) {
    say("passkey_request");
    if (cfg_.passkey) check(sm_->passkey_reply(*cfg_.passkey, now), "passkey");
  } else if (std::holds_alternative<events::JustWorksConfirm>(ev)) {
    say("confirm_request just_works");
    if (answer) check(sm_->match_confirm(yes, now), "confirm");
  } else if (auto* sr = std::get_if<events::SecurityRequestReceived>(&ev)) {
    say("security_request " + hex2(sr->auth_req));
    // The manager's policy decided whether this request may be answered (not while pairing or
    // encrypting, not when the pairing policy rejects it); its answer picks encryption with a
    // bond that meets the request, else pairing.
    if (q.answer_security_request && !cfg_.ignore_security_request) {
      auto r = sm_->security_request_reply(SecurityRequestResponse::accept, now);
      check(r, "security_request");
      if (r && !sm_->pairing_in_process()) reencrypting_ = true;
    }
  } else if (auto* sl = std::get_if<events::SecurityLevelChanged>(&ev)) {
    diag("security level " + std::string(security_level_name(sl->level)));
    if (reencrypting_ && !sm_->pairing_in_process() && sm_->bond()) {
      reencrypting_ = false;
      const auto& bond = *sm_->bond();
      const auto& b = bond.info;
      say(result_line(b.sc, bond.method, b.authenticated, true, b.key_size, b.ltk, b.local, b.peer));
    }
  } else if (auto* pc = std::get_if<events::PairingComplete>(&ev)) {
    const auto& r = pc->result;
    say(result_line(r.sc, r.method, r.authenticated, r.bonded, r.key_size, r.ltk, r.local, r.peer));
    if (r.bonded && bond_file_) {
      if (auto e = sm_->bond_save_error())
        diag("cannot write bond file " + escape_line(cfg_.bond_file.string()) + ": " + e.message());
    }
  } else if (auto* pf = std::get_if<events::PairingFailed>(&ev)) {
    if (pf->timeout) {
      say("result fail reason=00 name=timeout source=local");
    } else {
      say("result fail reason=" + hex2(pf->reason) + " name=" + std::string(reason_name(pf->reason)) +
          " source=" + (pf->local ? "local" : "remote"));
    }
  } else if (auto* rj = std::get_if<events::PairingRequestRejected>(&ev)) {
    diag("pairing request rejected (reason " + hex2(rj->reason) + ")");
  } else if (auto* ef = std::get_if<events::EncryptionFailed>(&ev)) {
    reencrypting_ = false;
    say("result fail reason=encryption status=" + hex2(ef->status));
  }
}

}  // namespace blecrypt::smp
