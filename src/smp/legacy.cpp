// Phase 2, LE legacy pairing (Core Vol 3 Part H 2.3.5.5): Mconfirm/Sconfirm with c1, Mrand/Srand,
// the STK with s1. The initiator commits first; the responder answers each PDU.
#include "engine_impl.hpp"

namespace blecrypt::smp {

// 7-byte PDUs in spec order for c1.
Bytes PairingEngine::Impl::preq_spec() const { return reversed(encode_pdu(PairingRequest{preq})); }
Bytes PairingEngine::Impl::pres_spec() const { return reversed(encode_pdu(PairingResponse{pres})); }

Result<Key128> PairingEngine::Impl::legacy_confirm(const Key128& rand_wire) {
  auto c = tb.c1(tk, reversed_array<16>(rand_wire), preq_spec(), pres_spec(), addr_a().type, addr_b().type,
                 addr_a().bytes, addr_b().bytes);
  if (!c) return Unexpected{c.error()};
  return reversed_array<16>(*c);
}

Result<void> PairingEngine::Impl::legacy_send_confirm(TimePoint now) {
  rng->fill(local_rand);
  auto c = legacy_confirm(local_rand);
  if (!c) return fail(Fault::crypto_failure, now);
  confirm_sent = true;
  send(PairingConfirm{*c}, now);
  return ok();
}

// STK = s1(TK, Srand, Mrand), masked to the negotiated key size.
Result<void> PairingEngine::Impl::legacy_make_stk(TimePoint now) {
  const Key128& mrand = central() ? local_rand : peer_rand;
  const Key128& srand = central() ? peer_rand : local_rand;
  auto s = tb.s1(tk, reversed_array<16>(srand), reversed_array<16>(mrand));
  if (!s) return fail(Fault::crypto_failure, now);
  Key128 w = reversed_array<16>(*s);
  mask_key(w);
  stk = SecretBytes(w);
  secure_wipe(w.data(), w.size());
  secure_wipe(s->data(), s->size());
  return ok();
}

// Responder: the peer's Mconfirm arrived (or the TK became known after it did).
Result<void> PairingEngine::Impl::legacy_peripheral_maybe_confirm(TimePoint now) {
  if (!have_peer_confirm || !tk_ready || confirm_sent) return ok();
  BLECRYPT_TRY_VOID(legacy_send_confirm(now));
  phase = Phase::legacy_wait_random;
  return ok();
}

Result<void> PairingEngine::Impl::legacy_on_pairing_confirm(const PairingConfirm& p, TimePoint now) {
  if (phase != Phase::legacy_wait_confirm || have_peer_confirm) return fail(Fault::unexpected_pdu, now);
  if (central() && !confirm_sent) return fail(Fault::unexpected_pdu, now);  // the initiator commits first
  peer_confirm = p.value;
  have_peer_confirm = true;
  if (central()) {
    send(PairingRandom{local_rand}, now);
    phase = Phase::legacy_wait_random;
    return ok();
  }
  return legacy_peripheral_maybe_confirm(now);
}

Result<void> PairingEngine::Impl::legacy_on_pairing_random(const PairingRandom& p, TimePoint now) {
  if (phase != Phase::legacy_wait_random) return fail(Fault::unexpected_pdu, now);
  if (!central() && !confirm_sent) return fail(Fault::unexpected_pdu, now);
  peer_rand = p.value;
  auto c = legacy_confirm(peer_rand);
  if (!c) return fail(Fault::crypto_failure, now);
  if (!equal(*c, peer_confirm)) return fail(Fault::confirm_value_failed, now);
  BLECRYPT_TRY_VOID(legacy_make_stk(now));
  if (central()) return central_start_encryption(now);
  send(PairingRandom{local_rand}, now);
  phase = Phase::wait_encryption;
  return ok();
}

// The user typed the passkey: TK is known now.
Result<void> PairingEngine::Impl::legacy_on_passkey(TimePoint now) {
  set_tk_from_passkey();
  if (central()) {
    if (phase == Phase::legacy_wait_confirm && !confirm_sent) return legacy_send_confirm(now);
    return ok();
  }
  return legacy_peripheral_maybe_confirm(now);
}

}  // namespace blecrypt::smp
