// Phase 2, LE Secure Connections (Core Vol 3 Part H 2.3.5.6): public key exchange, authentication
// stage 1 (Just Works / Numeric Comparison, Passkey Entry in 20 rounds, OOB) with f4 and g2,
// authentication stage 2 (MacKey and LTK with f5, DHKey checks Ea/Eb with f6).
#include "engine_impl.hpp"

namespace blecrypt::smp {

Result<void> PairingEngine::Impl::ensure_keypair() {
  if (keypair) return ok();
  Result<std::unique_ptr<crypto::P256KeyPair>> kp = Errc::crypto_failure;
  if (cfg.debug_keys) {
    kp = be().p256_from_private(kDebugPrivateKey);
  } else if (!cfg.ecc_private_key.empty()) {
    kp = be().p256_from_private(cfg.ecc_private_key);
  } else {
    do {
      kp = be().p256_generate(*rng);
    } while (kp && equal((*kp)->public_raw(), kDebugPublicKey));
  }
  if (!kp) return Errc::crypto_failure;
  keypair = std::move(*kp);
  return ok();
}

PairingPublicKey PairingEngine::Impl::our_public_pdu() const {
  PairingPublicKey pk;
  const auto& raw = keypair->public_raw();
  pk.x = reversed_array<32>(ByteView(raw.data(), 32));
  pk.y = reversed_array<32>(ByteView(raw.data() + 32, 32));
  return pk;
}

// Our confirm for the current step: passkey round or JW/NC (responder).
Result<Key128> PairingEngine::Impl::sc_confirm(const Key128& nonce_wire, std::uint8_t z) {
  auto c = tb.f4(pkx_local(), pkx_peer(), reversed_array<16>(nonce_wire), z);
  if (!c) return Unexpected{c.error()};
  return reversed_array<16>(*c);
}

bool PairingEngine::Impl::sc_check_peer_confirm(const Key128& peer_nonce_wire, std::uint8_t z) {
  auto c = tb.f4(pkx_peer(), pkx_local(), reversed_array<16>(peer_nonce_wire), z);
  return c && equal(reversed_array<16>(*c), peer_confirm);
}

Result<void> PairingEngine::Impl::sc_send_confirm(TimePoint now, std::uint8_t z) {
  rng->fill(local_rand);
  auto c = sc_confirm(local_rand, z);
  if (!c) return fail(Fault::crypto_failure, now);
  confirm_sent = true;
  send(PairingConfirm{*c}, now);
  return ok();
}

Result<void> PairingEngine::Impl::sc_on_pairing_public_key(const PairingPublicKey& pk, TimePoint now) {
  if (phase != Phase::sc_wait_public_key) return fail(Fault::unexpected_pdu, now);
  Bytes raw = concat({reversed(pk.x), reversed(pk.y)});
  auto pub = be().p256_public_key(raw);
  if (!pub) return fail(Fault::invalid_public_key, now);  // CVE-2018-5383
  if (!ensure_keypair()) return fail(Fault::crypto_failure, now);
  const bool peer_debug = equal(raw, kDebugPublicKey);
  const bool both_debug = peer_debug && cfg.debug_keys && equal(keypair->public_raw(), kDebugPublicKey);
  if (equal(raw, keypair->public_raw()) && !both_debug) return fail(Fault::invalid_public_key, now);  // CVE-2020-26558
  if (peer_debug && !cfg.debug_keys) return fail(Fault::debug_key_refused, now);
  // A debug-key pairing never replaces a bond made with real keys.
  if (peer_debug && bond && !bond->debug) return fail(Fault::debug_key_refused, now);
  used_debug = peer_debug;
  std::copy(raw.begin(), raw.end(), peer_pub.begin());
  auto dh = keypair->ecdh(**pub);
  if (!dh) return fail(Fault::ecdh_failed, now);
  dhkey = std::move(*dh);
  if (!central()) send(our_public_pdu(), now);
  if (method() == Method::oob && have_peer_oob) {
    auto c = tb.f4(pkx_peer(), pkx_peer(), peer_oob_r, 0);
    if (!c || !equal(*c, peer_oob_c)) return fail(Fault::confirm_value_failed, now);
  }
  switch (method()) {
    case Method::just_works:
    case Method::numeric_comparison:
      if (central()) {
        phase = Phase::sc_wait_confirm;
      } else {
        BLECRYPT_TRY_VOID(sc_send_confirm(now, 0));
        phase = Phase::sc_wait_random;
      }
      break;
    case Method::passkey:
      round = 0;
      phase = Phase::sc_wait_confirm;
      if (central() && passkey_known) BLECRYPT_TRY_VOID(sc_send_confirm(now, passkey_z()));
      break;
    case Method::oob:
      phase = Phase::sc_wait_random;
      if (central()) {
        rng->fill(local_rand);
        send(PairingRandom{local_rand}, now);
      }
      break;
  }
  return ok();
}

Result<void> PairingEngine::Impl::sc_on_pairing_confirm(const PairingConfirm& p, TimePoint now) {
  if (phase != Phase::sc_wait_confirm) return fail(Fault::unexpected_pdu, now);
  if (method() == Method::passkey) {
    if (round >= 20) return fail(Fault::unexpected_pdu, now);                   // never a 21st round
    if (central() && !confirm_sent) return fail(Fault::unexpected_pdu, now);  // the initiator commits first
    peer_confirm = p.value;
    have_peer_confirm = true;
    if (central()) {
      send(PairingRandom{local_rand}, now);
      phase = Phase::sc_wait_random;
      return ok();
    }
    if (passkey_known) {
      BLECRYPT_TRY_VOID(sc_send_confirm(now, passkey_z()));
      phase = Phase::sc_wait_random;
    }
    return ok();
  }
  // Just Works / Numeric Comparison: only the responder sends a confirm (Cb).
  if (!central()) return fail(Fault::unexpected_pdu, now);
  peer_confirm = p.value;
  have_peer_confirm = true;
  rng->fill(local_rand);
  send(PairingRandom{local_rand}, now);
  phase = Phase::sc_wait_random;
  return ok();
}

Result<void> PairingEngine::Impl::sc_on_pairing_random(const PairingRandom& p, TimePoint now) {
  if (phase != Phase::sc_wait_random) return fail(Fault::unexpected_pdu, now);
  if (method() == Method::passkey && !confirm_sent) return fail(Fault::unexpected_pdu, now);
  peer_rand = p.value;
  if (method() == Method::passkey) {
    if (!sc_check_peer_confirm(peer_rand, passkey_z())) return fail(Fault::confirm_value_failed, now);
    if (!central()) send(PairingRandom{local_rand}, now);
    ++round;
    confirm_sent = have_peer_confirm = false;
    if (round < 20) {
      phase = Phase::sc_wait_confirm;
      if (central()) BLECRYPT_TRY_VOID(sc_send_confirm(now, passkey_z()));
      return ok();
    }
    BLECRYPT_TRY_VOID(sc_derive(now));
    phase = Phase::sc_wait_dhkey_check;
    if (central()) return sc_send_check(now);
    return ok();
  }
  if (central()) {
    if (method() != Method::oob && !sc_check_peer_confirm(peer_rand, 0)) return fail(Fault::confirm_value_failed, now);
    BLECRYPT_TRY_VOID(sc_derive(now));
    if (user_pending) {
      phase = Phase::sc_wait_user;
      return ok();
    }
    phase = Phase::sc_wait_dhkey_check;
    return sc_send_check(now);
  }
  if (method() == Method::oob) rng->fill(local_rand);
  send(PairingRandom{local_rand}, now);
  BLECRYPT_TRY_VOID(sc_derive(now));
  phase = Phase::sc_wait_dhkey_check;
  return ok();
}

Result<void> PairingEngine::Impl::sc_on_pairing_dhkey_check(const PairingDhKeyCheck& p, TimePoint now) {
  if (phase != Phase::sc_wait_dhkey_check) return fail(Fault::unexpected_pdu, now);
  peer_check = p.value;
  have_peer_check = true;
  if (central()) {
    if (!sc_verify_peer_check()) return fail(Fault::dhkey_check_failed, now);
    sc_set_ltk();
    return central_start_encryption(now);
  }
  return sc_peripheral_finish_check(now);
}

// The user typed the passkey (Secure Connections passkey entry).
Result<void> PairingEngine::Impl::sc_on_passkey(TimePoint now) {
  if (phase != Phase::sc_wait_confirm) return ok();
  if (central() && !confirm_sent) return sc_send_confirm(now, passkey_z());
  if (!central() && have_peer_confirm) {
    BLECRYPT_TRY_VOID(sc_send_confirm(now, passkey_z()));
    phase = Phase::sc_wait_random;
  }
  return ok();
}

// Both final nonces known: MacKey and LTK (f5), and for numeric comparison the value (g2).
Result<void> PairingEngine::Impl::sc_derive(TimePoint now) {
  na = reversed_array<16>(central() ? local_rand : peer_rand);
  nb = reversed_array<16>(central() ? peer_rand : local_rand);
  auto f5 = tb.f5(dhkey, na, nb, addr7(addr_a()), addr7(addr_b()));
  if (!f5) return fail(Fault::crypto_failure, now);
  mac_key = std::move(f5->mac_key);
  ltk_f5 = std::move(f5->ltk);
  if (method() == Method::numeric_comparison) {
    auto v = tb.g2(pka(), pkb(), na, nb);
    if (!v) return fail(Fault::crypto_failure, now);
    user_pending = true;
    emit(events::PasskeyDisplay{*v % 1000000, true, Method::numeric_comparison});
  } else if (method() == Method::just_works && cfg.confirm_just_works) {
    user_pending = true;
    emit(events::JustWorksConfirm{});
  }
  return ok();
}

// r values for f6: ours and the peer's (spec order).
Key128 PairingEngine::Impl::r_value(bool for_a) const {
  if (method() == Method::passkey) return passkey_block(passkey);
  if (method() != Method::oob) return Key128{};
  const bool local = for_a == central();
  if (local) {
    // Our r counts only when the peer said it received our OOB data.
    const auto& peer_params = central() ? pres : preq;
    return peer_params.oob_data_flag && have_local_oob ? local_oob_r : Key128{};
  }
  return have_peer_oob ? peer_oob_r : Key128{};
}

Result<Key128> PairingEngine::Impl::dhkey_check_value(bool of_a) {
  const auto& params = of_a ? preq : pres;
  const std::uint8_t iocap[3] = {params.auth_req, params.oob_data_flag, params.io_capability};
  const Key128 r = r_value(!of_a);  // Ea uses rb, Eb uses ra
  Result<Key128> e = of_a ? tb.f6(mac_key, na, nb, r, iocap, addr7(addr_a()), addr7(addr_b()))
                          : tb.f6(mac_key, nb, na, r, iocap, addr7(addr_b()), addr7(addr_a()));
  if (!e) return Unexpected{e.error()};
  return reversed_array<16>(*e);
}

Result<void> PairingEngine::Impl::sc_send_check(TimePoint now) {
  auto e = dhkey_check_value(central());
  if (!e) return fail(Fault::crypto_failure, now);
  send(PairingDhKeyCheck{*e}, now);
  return ok();
}

bool PairingEngine::Impl::sc_verify_peer_check() {
  auto e = dhkey_check_value(!central());
  return e && equal(*e, peer_check);
}

// The LTK in wire order, masked to the negotiated key size.
void PairingEngine::Impl::sc_set_ltk() {
  Key128 w = reversed_array<16>(ltk_f5);
  mask_key(w);
  ltk = SecretBytes(w);
  secure_wipe(w.data(), w.size());
}

// Responder: Ea received and the user (if asked) agreed.
Result<void> PairingEngine::Impl::sc_peripheral_finish_check(TimePoint now) {
  if (!have_peer_check || user_pending) return ok();
  const bool needs_yes =
      method() == Method::numeric_comparison || (method() == Method::just_works && cfg.confirm_just_works);
  if (needs_yes && !user_accepted) return ok();
  if (!sc_verify_peer_check()) return fail(Fault::dhkey_check_failed, now);
  BLECRYPT_TRY_VOID(sc_send_check(now));
  sc_set_ltk();
  phase = Phase::wait_encryption;
  return ok();
}

Result<OobData> PairingEngine::Impl::local_oob_data() {
  BLECRYPT_TRY_VOID(ensure_keypair());
  if (!have_local_oob) {
    rng->fill(local_oob_r);
    have_local_oob = true;
  }
  auto c = tb.f4(pkx_local(), pkx_local(), local_oob_r, 0);
  if (!c) return Errc::crypto_failure;
  OobData d;
  d.c = reversed_array<16>(*c);
  d.r = reversed_array<16>(local_oob_r);
  return d;
}

Result<void> PairingEngine::Impl::set_peer_oob_data(const OobData& peer) {
  if (pairing()) return Errc::wrong_state;
  peer_oob_c = reversed_array<16>(peer.c);
  peer_oob_r = reversed_array<16>(peer.r);
  have_peer_oob = true;
  return ok();
}

}  // namespace blecrypt::smp
