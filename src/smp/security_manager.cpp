// SecurityManager: policy and bond persistence around one PairingEngine.
#include "blecrypt/smp/security_manager.hpp"

namespace blecrypt::smp {

struct SecurityManager::Impl {
  Config cfg;
  crypto::Rng& rng;
  SecurityParameters params;
  PairingPolicy policy = PairingPolicy::allow_all;
  bool debug = false;
  std::optional<Key128> oob_tk;
  std::optional<OobData> peer_oob;
  std::optional<BondRecord> bond;
  std::unique_ptr<PairingEngine> engine;
  std::optional<std::uint8_t> pending_security_request;
  bool pending_bond_satisfies = false;
  std::error_code load_error, save_error;

  Impl(Config c, crypto::Rng& r) : cfg(std::move(c)), rng(r) {
    if (cfg.bond_store) {
      auto found = cfg.bond_store->lookup(cfg.peer_address, cfg.backend ? *cfg.backend : crypto::default_backend());
      if (found) bond = std::move(*found);
      else load_error = found.error();
    }
  }
};

SecurityManager::SecurityManager(Config cfg, crypto::Rng& rng) : impl_(std::make_unique<Impl>(std::move(cfg), rng)) { rebuild(); }
SecurityManager::~SecurityManager() = default;

void SecurityManager::rebuild() {
  auto& s = *impl_;
  EngineConfig c = s.cfg.engine;
  c.role = s.cfg.role;
  c.io = s.params.io_capabilities;
  c.bonding = s.params.bond;
  c.mitm = s.params.passcode_pairing;
  c.secure_connections = s.params.lesc_pairing || s.cfg.sc_only;
  c.sc_only = s.cfg.sc_only;
  c.min_key_size = s.cfg.min_key_size;
  c.debug_keys = s.debug;
  c.local_address = s.cfg.local_address;
  c.peer_address = s.cfg.peer_address;
  c.backend = s.cfg.backend;
  if (s.params.out_of_band) c.legacy_oob_tk = s.oob_tk;
  const bool bonded = s.bond.has_value();
  c.reject_pairing_requests = s.params.reject_pairing_requests ||
                              (!bonded && has(s.policy, PairingPolicy::reject_new_pairing_requests));
  c.reject_bonded_repairing = has(s.policy, PairingPolicy::reject_bonded_device_repairing_requests);
  if (bonded) c.bond = s.bond->info;
  s.engine = std::make_unique<PairingEngine>(std::move(c), s.rng);
  if (s.peer_oob && s.params.out_of_band) (void)s.engine->set_peer_oob_data(*s.peer_oob);
}

namespace {
// A new engine would silently drop the pairing under way: the setters refuse instead.
Result<void> idle(const PairingEngine& e) {
  if (e.pairing_in_progress()) return Errc::pairing_in_progress;
  return ok();
}
}  // namespace

Result<void> SecurityManager::set_security_params(const SecurityParameters& params) {
  BLECRYPT_TRY_VOID(idle(*impl_->engine));
  impl_->params = params;
  rebuild();
  return ok();
}
const SecurityParameters& SecurityManager::security_params() const noexcept { return impl_->params; }
Result<void> SecurityManager::set_pairing_policy(PairingPolicy policy) {
  BLECRYPT_TRY_VOID(idle(*impl_->engine));
  impl_->policy = policy;
  rebuild();
  return ok();
}
PairingPolicy SecurityManager::pairing_policy() const noexcept { return impl_->policy; }
Result<void> SecurityManager::use_debug_lesc_key() {
  BLECRYPT_TRY_VOID(idle(*impl_->engine));
  impl_->debug = true;
  rebuild();
  return ok();
}
Result<void> SecurityManager::set_legacy_oob_tk(std::optional<Key128> tk) {
  BLECRYPT_TRY_VOID(idle(*impl_->engine));
  impl_->oob_tk = tk;
  rebuild();
  return ok();
}
Result<OobData> SecurityManager::local_oob_data() { return impl_->engine->local_oob_data(); }
Result<void> SecurityManager::set_peer_oob_data(const OobData& peer) {
  impl_->peer_oob = peer;
  return impl_->engine->set_peer_oob_data(peer);
}

Result<void> SecurityManager::pair(TimePoint now, bool force_repairing) {
  auto& s = *impl_;
  Result<void> r;
  if (s.cfg.role == Role::peripheral) r = s.engine->security_request(now);
  else if (s.bond && !force_repairing) r = s.engine->encrypt_bonded(now);
  else r = s.engine->pair(now);
  dispatch(now);
  return r;
}

Result<void> SecurityManager::encrypt_with_bond(TimePoint now) {
  auto& s = *impl_;
  if (s.cfg.role != Role::central) return Errc::wrong_role;
  if (!s.bond) return Errc::not_bonded;
  auto r = s.engine->encrypt_bonded(now);
  dispatch(now);
  return r;
}

Result<void> SecurityManager::delete_bonding_data() {
  auto& s = *impl_;
  if (!s.bond) return Errc::not_bonded;
  if (s.cfg.bond_store) BLECRYPT_TRY_VOID(s.cfg.bond_store->remove(s.bond->peer));
  s.bond.reset();
  s.engine->set_bond(std::nullopt);
  return ok();
}

bool SecurityManager::is_previously_bonded() const noexcept { return impl_->bond.has_value(); }
const std::optional<BondRecord>& SecurityManager::bond() const noexcept { return impl_->bond; }
std::error_code SecurityManager::bond_load_error() const noexcept { return impl_->load_error; }
std::error_code SecurityManager::bond_save_error() const noexcept { return impl_->save_error; }
bool SecurityManager::pairing_in_process() const noexcept { return impl_->engine->pairing_in_progress(); }
SecurityLevel SecurityManager::security_level() const noexcept { return impl_->engine->security_level(); }

namespace {
// A user's "no" (numbers differ, passkey refused) ends the pairing on purpose: that is the answer
// taking effect, reported through on_pairing_complete, not an error of the call.
Result<void> refusal_is_ok(Result<void> r, bool refused) {
  if (refused && r.error() == Errc::pairing_failed) return ok();
  return r;
}
}  // namespace

Result<void> SecurityManager::passkey_reply(std::optional<std::uint32_t> passkey, TimePoint now) {
  auto r = refusal_is_ok(impl_->engine->passkey_reply(passkey, now), !passkey.has_value());
  dispatch(now);
  return r;
}
Result<void> SecurityManager::match_confirm(bool match, TimePoint now) {
  auto r = refusal_is_ok(impl_->engine->confirm_reply(match, now), !match);
  dispatch(now);
  return r;
}

Result<void> SecurityManager::security_request_reply(SecurityRequestResponse response, TimePoint now) {
  auto& s = *impl_;
  if (!s.pending_security_request) return Errc::wrong_state;
  s.pending_security_request.reset();
  Result<void> r;
  switch (response) {
    case SecurityRequestResponse::reject:
      if (on_pairing_request_rejected) on_pairing_request_rejected(static_cast<std::uint8_t>(Reason::pairing_not_supported));
      r = ok();
      break;
    case SecurityRequestResponse::accept:
      // Encrypt when the bond meets the requested level, else pair (the same rule as the default).
      r = s.pending_bond_satisfies ? s.engine->encrypt_bonded(now) : s.engine->pair(now);
      break;
    case SecurityRequestResponse::force_repair: r = s.engine->pair(now); break;
  }
  dispatch(now);
  return r;
}

Result<void> SecurityManager::feed(ByteView pdu, TimePoint now) {
  auto r = impl_->engine->feed(pdu, now);
  dispatch(now);
  return r;
}
std::optional<Bytes> SecurityManager::poll_transmit() { return impl_->engine->poll_transmit(); }
std::optional<TimePoint> SecurityManager::next_deadline() const { return impl_->engine->next_deadline(); }
void SecurityManager::on_deadline(TimePoint now) {
  impl_->engine->on_deadline(now);
  dispatch(now);
}
void SecurityManager::ltk_request(std::uint16_t ediv, ByteView rand, TimePoint now) {
  impl_->engine->ltk_request(ediv, rand, now);
  dispatch(now);
}
void SecurityManager::encryption_changed(TimePoint now) {
  impl_->engine->encryption_changed(now);
  dispatch(now);
}
void SecurityManager::encryption_failed(std::uint8_t status, TimePoint now) {
  impl_->engine->encryption_failed(status, now);
  dispatch(now);
}
void SecurityManager::disconnected() { impl_->engine->on_link_down(); }
PairingEngine& SecurityManager::engine() noexcept { return *impl_->engine; }

void SecurityManager::dispatch(TimePoint now) {
  auto& s = *impl_;
  while (auto ev = s.engine->poll_event()) {
    if (on_engine_event) on_engine_event(*ev);
    if (auto* se = std::get_if<events::StartEncryption>(&*ev)) {
      if (on_start_encryption) on_start_encryption(*se);
    } else if (auto* lr = std::get_if<events::LtkReply>(&*ev)) {
      if (on_ltk_reply) on_ltk_reply(lr->ltk);
    } else if (auto* d = std::get_if<events::PasskeyDisplay>(&*ev)) {
      if (on_passkey_display_required) on_passkey_display_required(d->passkey, d->match_request);
    } else if (std::holds_alternative<events::PasskeyRequired>(*ev)) {
      if (on_passkey_required) on_passkey_required();
    } else if (std::holds_alternative<events::JustWorksConfirm>(*ev)) {
      if (on_just_works_confirm) on_just_works_confirm();
      else (void)s.engine->confirm_reply(true, now);
    } else if (auto* sr = std::get_if<events::SecurityRequestReceived>(&*ev)) {
      if (sr->ignored) continue;  // pairing or encryption already under way (spec 2.4.6)
      const bool bonded = s.bond.has_value();
      if ((bonded && has(s.policy, PairingPolicy::reject_bonded_peripheral_requests)) ||
          (!bonded && has(s.policy, PairingPolicy::reject_nonbonded_peripheral_requests))) {
        if (on_pairing_request_rejected) on_pairing_request_rejected(static_cast<std::uint8_t>(Reason::pairing_not_supported));
        continue;
      }
      s.pending_security_request = sr->auth_req;
      s.pending_bond_satisfies = sr->bond_satisfies && bonded;
      if (on_peripheral_security_request) {
        on_peripheral_security_request(sr->auth_req, bonded);
      } else {
        // Default answer (blatann accepts): encrypt when the bond satisfies the request, else pair.
        s.pending_security_request.reset();
        if (sr->bond_satisfies) (void)s.engine->encrypt_bonded(now);
        else (void)s.engine->pair(now);
      }
    } else if (auto* sl = std::get_if<events::SecurityLevelChanged>(&*ev)) {
      if (on_security_level_changed) on_security_level_changed(sl->level);
    } else if (auto* pc = std::get_if<events::PairingComplete>(&*ev)) {
      const auto& r = pc->result;
      PairingOutcome outcome{true, 0, false, r.level, {}};
      s.save_error.clear();
      if (r.bonded && s.engine->bond()) {
        BondRecord rec;
        // One file per peer identity; a later connection from a resolvable private address
        // finds it through the IRK (BondStore::resolve).
        rec.peer = r.peer.identity.value_or(s.cfg.peer_address);
        rec.method = r.method;
        rec.info = *s.engine->bond();
        if (s.cfg.bond_store) {
          // Reported, never dropped: the application must know the bond will not survive.
          if (auto saved = s.cfg.bond_store->save(rec); !saved) s.save_error = outcome.bond_error = saved.error();
        }
        s.bond = std::move(rec);
      }
      if (on_pairing_complete) on_pairing_complete(outcome);
    } else if (auto* pf = std::get_if<events::PairingFailed>(&*ev)) {
      if (on_pairing_complete) on_pairing_complete(PairingOutcome{false, pf->reason, pf->timeout, s.engine->security_level(), {}});
    } else if (auto* rj = std::get_if<events::PairingRequestRejected>(&*ev)) {
      if (on_pairing_request_rejected) on_pairing_request_rejected(rj->reason);
    } else if (std::holds_alternative<events::EncryptionFailed>(*ev)) {
      if (on_pairing_complete) on_pairing_complete(PairingOutcome{false, 0, false, s.engine->security_level(), {}});
    }
  }
}

}  // namespace blecrypt::smp
