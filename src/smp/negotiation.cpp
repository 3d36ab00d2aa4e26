// Phase 1: Pairing Feature Exchange (Core Vol 3 Part H 2.3): Pairing Request/Response, key size,
// association model (Table 2.8, association.hpp), policy checks, the passkey UI.
#include <algorithm>

#include "engine_impl.hpp"

namespace blecrypt::smp {

std::uint8_t PairingEngine::Impl::local_auth() const {
  std::uint8_t a = 0;
  if (cfg.bonding) a |= auth_req::bonding;
  if (cfg.mitm) a |= auth_req::mitm;
  if (cfg.secure_connections) a |= auth_req::sc;
  if (cfg.keypress) a |= auth_req::keypress;
  if (cfg.ct2) a |= auth_req::ct2;
  return a;
}

// OOB data present. The initiator does not know yet whether the pairing will be LESC or legacy;
// the responder does (from the request), so it counts only data for that kind of pairing.
std::uint8_t PairingEngine::Impl::local_oob_flag(std::optional<bool> will_be_sc) const {
  const bool lesc_data = cfg.secure_connections && have_peer_oob;
  const bool legacy_data = cfg.legacy_oob_tk.has_value();
  if (will_be_sc) return (*will_be_sc ? lesc_data : legacy_data) ? 1 : 0;
  return (lesc_data || legacy_data) ? 1 : 0;
}

Result<void> PairingEngine::Impl::check_params(const PairingParameters& p, TimePoint now) {
  if (p.io_capability >= kIoCapabilities || p.oob_data_flag > 1 || p.max_key_size > 16)
    return fail(Fault::invalid_parameters, now);
  if (p.max_key_size < 7) return fail(Fault::key_size_out_of_range, now);
  return ok();
}

// After both parameter sets are known: key size, method, policy checks.
Result<void> PairingEngine::Impl::negotiate(TimePoint now) {
  sc = (preq.auth_req & auth_req::sc) && (pres.auth_req & auth_req::sc);
  if (cfg.sc_only && !sc) return fail(Fault::sc_required, now);
  key_size = std::min(preq.max_key_size, pres.max_key_size);
  const std::uint8_t min_size = cfg.sc_only ? 16 : std::max<std::uint8_t>(7, cfg.min_key_size);
  if (key_size < min_size) return fail(Fault::key_size_too_small, now);
  init_keys = pres.initiator_key_distribution;
  resp_keys = pres.responder_key_distribution;

  // Tables 2.6 (legacy) / 2.7 (LESC): OOB first, then MITM decides between Table 2.8 and Just Works.
  const bool mitm_any = (preq.auth_req & auth_req::mitm) || (pres.auth_req & auth_req::mitm);
  if (sc && (preq.oob_data_flag || pres.oob_data_flag)) assoc = {Method::oob};
  else if (!sc && preq.oob_data_flag && pres.oob_data_flag) assoc = {Method::oob};
  else if (mitm_any)
    assoc = association_model(static_cast<IoCapability>(preq.io_capability),
                              static_cast<IoCapability>(pres.io_capability), sc);
  else assoc = {Method::just_works};
  // Legacy OOB needs a TK: our flag may have been set for LESC OOB data only (initiator).
  if (method() == Method::oob && !sc && !cfg.legacy_oob_tk) return fail(Fault::oob_not_available, now);
  const bool authenticated = method() != Method::just_works;

  if (bond) {
    if (cfg.reject_bonded_repairing) return fail(Fault::pairing_not_supported, now);
    // Refuse only a strictly weaker result (spec section 7 item 9).
    if (key_size < bond->key_size || (bond->sc && !sc) || (bond->authenticated && !authenticated))
      return fail(Fault::weaker_than_bond, now);
  }
  if (method() == Method::oob && !sc) {
    tk = reversed_array<16>(*cfg.legacy_oob_tk);
    tk_ready = true;
  } else if (method() == Method::just_works) {
    tk = Key128{};
    tk_ready = true;
  }
  return ok();
}

// Passkey entry: show a number or ask the user.
void PairingEngine::Impl::start_passkey_ui() {
  if (method() != Method::passkey) return;
  if (local_displays()) {
    if (cfg.passkey) {
      passkey = *cfg.passkey % 1000000;
    } else {
      std::uint8_t b[4];
      rng->fill(b);
      passkey = load_le32(b) % 1000000;
    }
    passkey_known = true;
    emit(events::PasskeyDisplay{passkey, false, Method::passkey});
  } else {
    user_pending = true;
    emit(events::PasskeyRequired{});
  }
  if (passkey_known && !sc) set_tk_from_passkey();
}

void PairingEngine::Impl::set_tk_from_passkey() {
  tk = passkey_block(passkey);
  tk_ready = true;
}

Result<void> PairingEngine::Impl::pair(TimePoint now) {
  if (phase == Phase::timed_out) return Errc::timed_out;
  if (!central()) return Errc::wrong_role;
  if (pairing()) return Errc::wrong_state;
  wipe_session();
  preq.io_capability = static_cast<std::uint8_t>(cfg.io);
  preq.oob_data_flag = local_oob_flag();
  preq.auth_req = local_auth();
  preq.max_key_size = cfg.max_key_size;
  preq.initiator_key_distribution = cfg.bonding ? cfg.initiator_keys : 0;
  preq.responder_key_distribution = cfg.bonding ? cfg.responder_keys : 0;
  phase = Phase::wait_response;
  emit(events::PairingStarted{});
  send(PairingRequest{preq}, now);
  return ok();
}

// Responder: a Pairing Request starts a pairing.
Result<void> PairingEngine::Impl::on_pairing_request(const PairingRequest& req, TimePoint now) {
  if (central()) return fail(Fault::command_not_supported, now);
  if (pairing()) return fail(Fault::unexpected_pdu, now);
  if (too_soon(now)) return refuse(Fault::repeated_attempts, false);
  security_request_outstanding = false;
  wipe_session();
  touch(now);
  phase = Phase::wait_response;  // transient, so fail() knows a pairing is in progress
  emit(events::PairingStarted{});
  BLECRYPT_TRY_VOID(check_params(req.p, now));
  if (cfg.reject_pairing_requests) return fail(Fault::pairing_not_supported, now);
  if (cfg.sc_only && !(req.p.auth_req & auth_req::sc)) return fail(Fault::sc_required, now);
  preq = req.p;
  pres.io_capability = static_cast<std::uint8_t>(cfg.io);
  pres.oob_data_flag = local_oob_flag(cfg.secure_connections && (preq.auth_req & auth_req::sc));
  pres.auth_req = local_auth();
  pres.max_key_size = cfg.max_key_size;
  const bool bonding = (preq.auth_req & auth_req::bonding) && cfg.bonding;
  pres.initiator_key_distribution = bonding ? (preq.initiator_key_distribution & cfg.initiator_keys) : 0;
  pres.responder_key_distribution = bonding ? (preq.responder_key_distribution & cfg.responder_keys) : 0;
  BLECRYPT_TRY_VOID(negotiate(now));
  if (sc && !ensure_keypair()) return fail(Fault::crypto_failure, now);
  send(PairingResponse{pres}, now);
  phase = sc ? Phase::sc_wait_public_key : Phase::legacy_wait_confirm;
  start_passkey_ui();
  return ok();
}

// Initiator: the responder's answer.
Result<void> PairingEngine::Impl::on_pairing_response(const PairingResponse& rsp, TimePoint now) {
  if (phase != Phase::wait_response || !central()) return fail(Fault::unexpected_pdu, now);
  BLECRYPT_TRY_VOID(check_params(rsp.p, now));
  if ((rsp.p.initiator_key_distribution & ~preq.initiator_key_distribution) ||
      (rsp.p.responder_key_distribution & ~preq.responder_key_distribution))
    return fail(Fault::invalid_parameters, now);
  pres = rsp.p;
  BLECRYPT_TRY_VOID(negotiate(now));
  if (sc) {
    if (!ensure_keypair()) return fail(Fault::crypto_failure, now);
    send(our_public_pdu(), now);
    phase = Phase::sc_wait_public_key;
    start_passkey_ui();
    return ok();
  }
  phase = Phase::legacy_wait_confirm;
  start_passkey_ui();
  if (tk_ready) return legacy_send_confirm(now);
  return ok();
}

}  // namespace blecrypt::smp
