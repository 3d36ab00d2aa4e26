// Phase 3: key distribution (Core Vol 3 Part H 3.6.1).
#include "key_distribution.hpp"

#include "engine_impl.hpp"

#include <algorithm>

#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::smp {

namespace {
Key128 to_key(ByteView b) {
  Key128 o{};
  std::copy_n(b.begin(), std::min<std::size_t>(16, b.size()), o.begin());
  return o;
}
}  // namespace

void KeyDistribution::start(std::uint8_t receive) {
  clear();
  auto expect = [&](Opcode op) { expect_[count_++] = op; };
  if (receive & key_dist::enc) expect(Opcode::encryption_information), expect(Opcode::central_identification);
  if (receive & key_dist::id) expect(Opcode::identity_information), expect(Opcode::identity_address_information);
  if (receive & key_dist::sign) expect(Opcode::signing_information);
}

void KeyDistribution::clear() {
  count_ = next_ = 0;
  local = {};
  peer = {};
}

std::optional<Fault> KeyDistribution::accept(const Pdu& pdu) {
  if (complete() || opcode_of(pdu) != expect_[next_]) return Fault::unexpected_pdu;
  if (auto* ei = std::get_if<EncryptionInformation>(&pdu)) {
    peer.ltk = SecretBytes(ei->ltk);
  } else if (auto* ci = std::get_if<CentralIdentification>(&pdu)) {
    peer.ediv = ci->ediv;
    peer.rand = ci->rand;
  } else if (auto* ii = std::get_if<IdentityInformation>(&pdu)) {
    peer.irk = SecretBytes(ii->irk);
  } else if (auto* ia = std::get_if<IdentityAddressInformation>(&pdu)) {
    Address a;
    a.type = ia->addr_type;
    a.bytes = reversed_array<6>(ia->addr);
    // Identity address: public, or static random (two top bits set).
    if (a.type > 1 || (a.type == 1 && (a.bytes[0] & 0xc0) != 0xc0)) return Fault::invalid_parameters;
    peer.identity = a;
  } else if (auto* si = std::get_if<SigningInformation>(&pdu)) {
    peer.csrk = SecretBytes(si->csrk);
  }
  ++next_;
  return std::nullopt;
}

std::vector<Pdu> KeyDistribution::make_local(std::uint8_t send, const LocalSettings& s, crypto::Rng& rng) {
  std::vector<Pdu> pdus;
  if (send & key_dist::enc) {
    Key128 l{};
    rng.fill(l);
    for (std::size_t i = s.key_size; i < l.size(); ++i) l[i] = 0;
    std::uint8_t e[2];
    rng.fill(e);
    local.ltk = SecretBytes(l);
    local.ediv = load_le16(e);
    rng.fill(local.rand);
    pdus.emplace_back(EncryptionInformation{l});
    pdus.emplace_back(CentralIdentification{local.ediv, local.rand});
    secure_wipe(l.data(), l.size());
  }
  if (send & key_dist::id) {
    if (s.irk && s.irk->size() == 16) {
      local.irk = *s.irk;
    } else {
      local.irk = SecretBytes(16);
      rng.fill(local.irk.mutable_view());
    }
    local.identity = s.identity;
    IdentityAddressInformation ia;
    ia.addr_type = s.identity.type;
    ia.addr = reversed_array<6>(s.identity.bytes);
    pdus.emplace_back(IdentityInformation{to_key(local.irk)});
    pdus.emplace_back(ia);
  }
  if (send & key_dist::sign) {
    if (s.csrk && s.csrk->size() == 16) {
      local.csrk = *s.csrk;
    } else {
      local.csrk = SecretBytes(16);
      rng.fill(local.csrk.mutable_view());
    }
    pdus.emplace_back(SigningInformation{to_key(local.csrk)});
  }
  return pdus;
}

}  // namespace blecrypt::smp

// ---- the engine's side of phase 3 ---------------------------------------------------------------

namespace blecrypt::smp {

// Key PDUs that exist for a negotiated key_dist mask (LESC: no EncKey PDUs, LinkKey never has one).
std::uint8_t PairingEngine::Impl::pdu_mask(std::uint8_t m) const {
  if (sc) m &= static_cast<std::uint8_t>(~(key_dist::enc | key_dist::link));
  return m & (key_dist::enc | key_dist::id | key_dist::sign);
}

void PairingEngine::Impl::start_key_distribution(TimePoint now) {
  phase = Phase::key_distribution;
  keys.start(pdu_mask(central() ? resp_keys : init_keys));
  if (!central()) distribute(now);  // the responder distributes first
  maybe_finish(now);
}

void PairingEngine::Impl::distribute(TimePoint now) {
  KeyDistribution::LocalSettings s;
  s.key_size = key_size;
  s.irk = &cfg.irk;
  s.csrk = &cfg.csrk;
  s.identity = cfg.identity_address.value_or(cfg.local_address);
  for (const Pdu& p : keys.make_local(pdu_mask(central() ? init_keys : resp_keys), s, *rng)) send(p, now);
}

Result<void> PairingEngine::Impl::on_key_pdu(const Pdu& pdu, TimePoint now) {
  if (phase != Phase::key_distribution) return fail(Fault::unexpected_pdu, now);
  if (auto f = keys.accept(pdu)) return fail(*f, now);
  touch(now);
  maybe_finish(now);
  return ok();
}

// Everything the peer owed has arrived: the initiator hands out its keys, the pairing completes.
void PairingEngine::Impl::maybe_finish(TimePoint now) {
  if (!keys.complete()) return;
  if (central()) distribute(now);
  PairingResult r;
  r.sc = sc;
  r.method = method();
  r.authenticated = method() != Method::just_works;
  r.bonded = (preq.auth_req & auth_req::bonding) && (pres.auth_req & auth_req::bonding);
  r.key_size = key_size;
  if (sc) r.ltk = ltk;
  r.local = keys.local;
  r.peer = keys.peer;
  if (sc && ((init_keys | resp_keys) & key_dist::link)) {
    auto lk = tb.ltk_to_link_key(ltk_f5, (preq.auth_req & auth_req::ct2) && (pres.auth_req & auth_req::ct2));
    if (lk) r.link_key = SecretBytes(reversed_array<16>(*lk));
  }
  r.level = level;
  if (r.bonded) {
    BondInfo b;
    b.sc = sc;
    b.authenticated = r.authenticated;
    b.key_size = key_size;
    b.debug = sc && used_debug;
    b.ltk = r.ltk;
    b.local = keys.local;
    b.peer = keys.peer;
    bond = std::move(b);
  }
  end_pairing(EndKind::completed, now, 0, std::move(r));
}

}  // namespace blecrypt::smp
