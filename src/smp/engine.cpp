// SMP pairing engine: dispatch by opcode, each handler checks the phase it is allowed in (legacy
// and Secure Connections variants in legacy.cpp / secure_connections.cpp). Everything outside
// the accepted set fails the pairing with Unspecified Reason (CVE-2019-19194 class). Every way a
// pairing ends goes through end_pairing(); every local failure is a Fault (fault.hpp) that says
// both the wire reason and the returned error.
#include <algorithm>

#include "engine_impl.hpp"

namespace blecrypt::smp {

// ---- state helpers ----------------------------------------------------------------------------

PairingEngine::Impl::Impl(EngineConfig c, crypto::Rng& r)
    : cfg(std::move(c)), rng(&r), tb(cfg.backend ? *cfg.backend : crypto::default_backend()), bond(cfg.bond) {}

bool PairingEngine::Impl::too_soon(TimePoint now) const {
  if (cfg.repeated_attempts_interval == Duration::zero() || !last_failure || failures == 0) return false;
  const auto wait = cfg.repeated_attempts_interval * (1 << std::min(failures - 1, 6));
  return now < *last_failure + wait;
}

void PairingEngine::Impl::send(const Pdu& p, TimePoint now) {
  out.push_back(encode_pdu(p));
  if (pairing()) touch(now);
}

void PairingEngine::Impl::wipe_session() {
  stk.wipe();
  ltk.wipe();
  dhkey.wipe();
  mac_key.wipe();
  ltk_f5.wipe();
  secure_wipe(tk.data(), tk.size());
  secure_wipe(local_rand.data(), local_rand.size());
  secure_wipe(peer_rand.data(), peer_rand.size());
  secure_wipe(na.data(), na.size());
  secure_wipe(nb.data(), nb.size());
  tk_ready = confirm_sent = have_peer_confirm = have_peer_check = false;
  user_pending = user_accepted = passkey_known = false;
  round = 0;
  keys.clear();
}

void PairingEngine::Impl::mask_key(MutableByteView wire_key) const {
  for (std::size_t i = key_size; i < wire_key.size(); ++i) wire_key[i] = 0;
}

Bytes PairingEngine::Impl::addr7(const Address& a) {
  Bytes o(7);
  o[0] = a.type;
  std::copy(a.bytes.begin(), a.bytes.end(), o.begin() + 1);
  return o;
}

Key128 PairingEngine::Impl::passkey_block(std::uint32_t value) {
  Key128 b{};
  b[12] = static_cast<std::uint8_t>(value >> 24);
  b[13] = static_cast<std::uint8_t>(value >> 16);
  b[14] = static_cast<std::uint8_t>(value >> 8);
  b[15] = static_cast<std::uint8_t>(value);
  return b;
}

SecurityLevel PairingEngine::Impl::level_for(bool is_sc, bool authenticated, std::uint8_t ks) const {
  if (!authenticated) return SecurityLevel::just_works;
  if (is_sc && ks == 16) return SecurityLevel::lesc_mitm;
  return SecurityLevel::mitm;
}

// ---- the end of a pairing ---------------------------------------------------------------------

Result<void> PairingEngine::Impl::fail(Fault f, TimePoint now) {
  const auto reason = wire_reason(f);
  if (info(f).rejects_request) emit(events::PairingRequestRejected{reason});
  out.push_back(encode_pdu(PairingFailed{reason}));
  end_pairing(EndKind::local_failure, now, reason);
  return info(f).error;
}

Result<void> PairingEngine::Impl::refuse(Fault f, bool report) {
  const auto reason = wire_reason(f);
  out.push_back(encode_pdu(PairingFailed{reason}));
  if (report) emit(events::PairingFailed{reason, true, false});
  return info(f).error;
}

void PairingEngine::Impl::end_pairing(EndKind kind, TimePoint now, std::uint8_t reason,
                                      std::optional<PairingResult> result) {
  const bool was_pairing = pairing();
  deadline.reset();
  switch (kind) {
    case EndKind::completed: phase = Phase::done; break;
    case EndKind::timeout: phase = Phase::timed_out; break;
    default: phase = Phase::failed; break;
  }
  if (kind == EndKind::timeout) out.clear();  // nothing more on this link (spec 3.4)
  wipe_session();
  if (kind == EndKind::completed) {
    failures = 0;
    last_failure.reset();
  } else if (was_pairing && kind != EndKind::timeout) {
    last_failure = now;  // repeated attempts (spec 2.3.6)
    ++failures;
  }
  switch (kind) {
    case EndKind::completed:
      if (result) emit(events::PairingComplete{std::move(*result)});
      break;
    case EndKind::local_failure:
      if (was_pairing) emit(events::PairingFailed{reason, true, false});
      break;
    case EndKind::peer_failure: emit(events::PairingFailed{reason, false, false}); break;
    case EndKind::timeout: emit(events::PairingFailed{0, true, true}); break;
    case EndKind::encryption_failure: break;  // EncryptionFailed was reported already
  }
}

// ---- PDU dispatch -----------------------------------------------------------------------------

Result<void> PairingEngine::Impl::feed(ByteView in, TimePoint now) {
  if (phase == Phase::timed_out) return Errc::timed_out;
  auto pdu = parse_pdu(in);
  if (!pdu) return fail(fault_for_parse_error(pdu.error()), now);
  return on_pdu(*pdu, now);
}

Result<void> PairingEngine::Impl::on_pdu(const Pdu& pdu, TimePoint now) {
  const Opcode op = opcode_of(pdu);
  switch (op) {
    case Opcode::keypress_notification: return ok();  // informational only
    case Opcode::pairing_failed: return on_pairing_failed(std::get<PairingFailed>(pdu), now);
    default: break;
  }
  if (pairing()) touch(now);
  // Start of a procedure.
  switch (op) {
    case Opcode::pairing_request: return on_pairing_request(std::get<PairingRequest>(pdu), now);
    case Opcode::security_request: return on_security_request(std::get<SecurityRequest>(pdu), now);
    default: break;
  }
  if (!pairing()) return Errc::unexpected_pdu;  // ignored outside a pairing
  switch (op) {
    case Opcode::pairing_response: return on_pairing_response(std::get<PairingResponse>(pdu), now);
    case Opcode::pairing_confirm: return on_pairing_confirm(std::get<PairingConfirm>(pdu), now);
    case Opcode::pairing_random: return on_pairing_random(std::get<PairingRandom>(pdu), now);
    case Opcode::pairing_public_key: return sc_on_pairing_public_key(std::get<PairingPublicKey>(pdu), now);
    case Opcode::pairing_dhkey_check: return sc_on_pairing_dhkey_check(std::get<PairingDhKeyCheck>(pdu), now);
    case Opcode::encryption_information:
    case Opcode::central_identification:
    case Opcode::identity_information:
    case Opcode::identity_address_information:
    case Opcode::signing_information: return on_key_pdu(pdu, now);
    default: return fail(Fault::unexpected_pdu, now);
  }
}

Result<void> PairingEngine::Impl::on_pairing_confirm(const PairingConfirm& p, TimePoint now) {
  return sc ? sc_on_pairing_confirm(p, now) : legacy_on_pairing_confirm(p, now);
}

Result<void> PairingEngine::Impl::on_pairing_random(const PairingRandom& p, TimePoint now) {
  return sc ? sc_on_pairing_random(p, now) : legacy_on_pairing_random(p, now);
}

Result<void> PairingEngine::Impl::on_pairing_failed(const PairingFailed& pf, TimePoint now) {
  if (!pairing() && security_request_outstanding) {
    // The central refused our Security Request (spec 2.4.6): a remote failure.
    security_request_outstanding = false;
    emit(events::PairingFailed{pf.reason, false, false});
    return Errc::pairing_failed;
  }
  if (!pairing()) return Errc::unexpected_pdu;
  end_pairing(EndKind::peer_failure, now, pf.reason);
  return Errc::pairing_failed;
}

// Central: the peripheral asks for security (spec 2.4.6). The application decides (pair or
// encrypt with the bond); the engine reports whether the bond is good enough.
Result<void> PairingEngine::Impl::on_security_request(const SecurityRequest& sr, TimePoint now) {
  if (!central()) return fail(Fault::command_not_supported, now);
  if (pairing() || reencrypt_pending) {  // ignored while pairing/encryption is under way (2.4.6)
    emit(events::SecurityRequestReceived{sr.auth_req, false, true});
    return ok();
  }
  if (too_soon(now)) return refuse(Fault::repeated_attempts, false);
  if (cfg.sc_only && !(sr.auth_req & auth_req::sc)) return refuse(Fault::sc_required, true);
  bool satisfies = false;
  if (bond) {
    satisfies = (!(sr.auth_req & auth_req::mitm) || bond->authenticated) && (!(sr.auth_req & auth_req::sc) || bond->sc);
  }
  emit(events::SecurityRequestReceived{sr.auth_req, satisfies});
  return ok();
}

// ---- encryption with the pairing key ------------------------------------------------------------

Result<void> PairingEngine::Impl::central_start_encryption(TimePoint now) {
  events::StartEncryption se;
  se.ltk = pairing_key();
  se.key_size = key_size;
  pairing_key_encrypt = true;
  phase = Phase::wait_encryption;
  touch(now);
  emit(std::move(se));
  return ok();
}

// ---- application and link layer -----------------------------------------------------------------

void PairingEngine::Impl::on_deadline(TimePoint now) {
  if (!deadline || now < *deadline) return;
  deadline.reset();
  if (!pairing()) return;
  end_pairing(EndKind::timeout, now);
}

void PairingEngine::Impl::reset() {
  const bool to = phase == Phase::timed_out;
  wipe_session();
  keypair.reset();
  out.clear();
  ev.clear();
  deadline.reset();
  phase = to ? Phase::timed_out : Phase::idle;
  security_request_outstanding = false;
  encrypted = false;
  level = SecurityLevel::open;
}

void PairingEngine::Impl::on_link_down() {
  wipe_session();
  keypair.reset();
  deadline.reset();
  phase = Phase::idle;  // a new physical link may pair again
  security_request_outstanding = false;
  encrypted = false;
  level = SecurityLevel::open;
  out.clear();
}

Result<void> PairingEngine::Impl::security_request(TimePoint now) {
  if (phase == Phase::timed_out) return Errc::timed_out;
  if (central()) return Errc::wrong_role;
  if (pairing()) return Errc::wrong_state;
  send(SecurityRequest{local_auth()}, now);  // no SMP timer for a Security Request
  security_request_outstanding = true;
  return ok();
}

Result<void> PairingEngine::Impl::passkey_reply(std::optional<std::uint32_t> value, TimePoint now) {
  if (phase == Phase::timed_out) return Errc::timed_out;
  if (!pairing() || method() != Method::passkey || !local_inputs() || passkey_known) return Errc::wrong_state;
  user_pending = false;
  if (!value || *value > 999999) return fail(Fault::passkey_rejected, now);
  passkey = *value;
  passkey_known = true;
  touch(now);
  return sc ? sc_on_passkey(now) : legacy_on_passkey(now);
}

Result<void> PairingEngine::Impl::confirm_reply(bool accept, TimePoint now) {
  if (phase == Phase::timed_out) return Errc::timed_out;
  if (!pairing() || !user_pending || method() == Method::passkey) return Errc::wrong_state;
  user_pending = false;
  if (!accept)
    return fail(method() == Method::numeric_comparison ? Fault::comparison_rejected : Fault::just_works_rejected, now);
  user_accepted = true;
  touch(now);
  if (!central()) return sc_peripheral_finish_check(now);
  if (phase != Phase::sc_wait_user) return ok();
  phase = Phase::sc_wait_dhkey_check;
  return sc_send_check(now);
}

Result<void> PairingEngine::Impl::encrypt_bonded() {
  if (phase == Phase::timed_out) return Errc::timed_out;
  if (!central()) return Errc::wrong_role;
  if (pairing()) return Errc::wrong_state;
  if (!bond) return Errc::not_bonded;
  events::StartEncryption se;
  se.key_size = bond->key_size;
  if (bond->sc) {
    se.ltk = bond->ltk;
  } else {
    if (bond->peer.ltk.empty()) return Errc::not_bonded;
    se.ltk = bond->peer.ltk;
    se.ediv = bond->peer.ediv;
    se.rand = bond->peer.rand;
  }
  if (se.ltk.size() != 16) return Errc::not_bonded;
  reencrypt_pending = true;
  emit(std::move(se));
  return ok();
}

void PairingEngine::Impl::ltk_request(std::uint16_t ediv, ByteView rand) {
  const bool zero = ediv == 0 && rand.size() == 8 && std::all_of(rand.begin(), rand.end(), [](auto b) { return b == 0; });
  events::LtkReply reply;
  if (phase == Phase::wait_encryption && !central()) {
    // The pairing key, only in the state that expects it, only with EDIV = 0 / Rand = 0.
    if (zero && pairing_key().size() == 16) {
      reply.ltk = pairing_key();
      pairing_key_encrypt = true;
    }
  } else if (!pairing() && phase != Phase::timed_out && bond && !central()) {
    if (bond->sc && zero) reply.ltk = bond->ltk;
    else if (!bond->sc && !bond->local.ltk.empty() && ediv == bond->local.ediv && rand.size() == 8 &&
             equal(rand, bond->local.rand))
      reply.ltk = bond->local.ltk;
    if (!reply.ltk.empty()) reencrypt_pending = true;
  }
  const auto key = reply.ltk.view();
  if (!key.empty() && std::all_of(key.begin(), key.end(), [](auto b) { return b == 0; }))
    reply.ltk.wipe();  // never hand out an all-zero key (CVE-2019-19194)
  emit(std::move(reply));
}

void PairingEngine::Impl::encryption_changed(TimePoint now) {
  if (phase == Phase::timed_out) return;
  encrypted = true;
  security_request_outstanding = false;  // the central answered by encrypting
  if (phase == Phase::wait_encryption && pairing_key_encrypt) {
    pairing_key_encrypt = false;
    level = level_for(sc, method() != Method::just_works, key_size);
    emit(events::SecurityLevelChanged{level});
    touch(now);
    start_key_distribution(now);
    return;
  }
  if (reencrypt_pending && bond) {
    reencrypt_pending = false;
    level = level_for(bond->sc, bond->authenticated, bond->key_size);
    emit(events::SecurityLevelChanged{level});
  }
}

void PairingEngine::Impl::encryption_failed(std::uint8_t status, TimePoint now) {
  reencrypt_pending = false;
  emit(events::EncryptionFailed{status});
  if (pairing()) end_pairing(EndKind::encryption_failure, now);
}

// ---- public API: one line each ------------------------------------------------------------------

PairingEngine::PairingEngine(EngineConfig cfg, crypto::Rng& rng) : impl_(std::make_unique<Impl>(std::move(cfg), rng)) {}
PairingEngine::~PairingEngine() = default;
PairingEngine::PairingEngine(PairingEngine&&) noexcept = default;
PairingEngine& PairingEngine::operator=(PairingEngine&&) noexcept = default;

void PairingEngine::on_link_up(TimePoint) {}  // nothing to do: SMP starts with pair() or a peer PDU
void PairingEngine::on_link_down() { impl_->on_link_down(); }
Result<void> PairingEngine::feed(ByteView in, TimePoint now) { return impl_->feed(in, now); }
std::optional<Bytes> PairingEngine::poll_transmit() {
  return impl_->out.empty() ? std::nullopt : std::optional<Bytes>(impl_->out.take());
}
std::optional<Event> PairingEngine::poll_event() {
  return impl_->ev.empty() ? std::nullopt : std::optional<Event>(impl_->ev.take());
}
std::optional<TimePoint> PairingEngine::next_deadline() const { return impl_->deadline; }
void PairingEngine::on_deadline(TimePoint now) { impl_->on_deadline(now); }
void PairingEngine::reset() { impl_->reset(); }

Result<void> PairingEngine::pair(TimePoint now) { return impl_->pair(now); }
Result<void> PairingEngine::security_request(TimePoint now) { return impl_->security_request(now); }
Result<void> PairingEngine::passkey_reply(std::optional<std::uint32_t> passkey, TimePoint now) {
  return impl_->passkey_reply(passkey, now);
}
Result<void> PairingEngine::confirm_reply(bool accept, TimePoint now) { return impl_->confirm_reply(accept, now); }
Result<OobData> PairingEngine::local_oob_data() { return impl_->local_oob_data(); }
Result<void> PairingEngine::set_peer_oob_data(const OobData& peer) { return impl_->set_peer_oob_data(peer); }
void PairingEngine::set_bond(std::optional<BondInfo> bond) { impl_->bond = std::move(bond); }

Result<void> PairingEngine::encrypt_bonded(TimePoint) { return impl_->encrypt_bonded(); }
void PairingEngine::ltk_request(std::uint16_t ediv, ByteView rand, TimePoint) { impl_->ltk_request(ediv, rand); }
void PairingEngine::encryption_changed(TimePoint now) { impl_->encryption_changed(now); }
void PairingEngine::encryption_failed(std::uint8_t status, TimePoint now) { impl_->encryption_failed(status, now); }

Role PairingEngine::role() const noexcept { return impl_->cfg.role; }
bool PairingEngine::pairing_in_progress() const noexcept { return impl_->pairing(); }
bool PairingEngine::timed_out() const noexcept { return impl_->phase == Phase::timed_out; }
bool PairingEngine::encrypted() const noexcept { return impl_->encrypted; }
SecurityLevel PairingEngine::security_level() const noexcept { return impl_->level; }
const std::optional<BondInfo>& PairingEngine::bond() const noexcept { return impl_->bond; }
bool PairingEngine::waiting_for_encryption() const noexcept { return impl_->phase == Phase::wait_encryption; }

}  // namespace blecrypt::smp
