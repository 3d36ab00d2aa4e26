// SMP pairing engine: explicit phases plus a per-phase set of accepted PDUs. Everything outside
// the accepted set fails the pairing with Unspecified Reason (CVE-2019-19194 class).
#include "blecrypt/smp/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace blecrypt::smp {

// ---- names and addresses --------------------------------------------------------------------

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::just_works: return "just_works";
    case Method::numeric_comparison: return "numeric_comparison";
    case Method::passkey: return "passkey";
    case Method::oob: return "oob";
  }
  return "?";
}

std::string_view io_capability_name(IoCapability io) noexcept {
  switch (io) {
    case IoCapability::display_only: return "display_only";
    case IoCapability::display_yes_no: return "display_yes_no";
    case IoCapability::keyboard_only: return "keyboard_only";
    case IoCapability::no_input_no_output: return "no_input_no_output";
    case IoCapability::keyboard_display: return "keyboard_display";
  }
  return "?";
}

std::optional<IoCapability> parse_io_capability(std::string_view s) noexcept {
  for (int i = 0; i <= 4; ++i) {
    auto io = static_cast<IoCapability>(i);
    if (s == io_capability_name(io) || (s.size() == 1 && s[0] == '0' + i)) return io;
  }
  return std::nullopt;
}

std::string_view security_level_name(SecurityLevel l) noexcept {
  switch (l) {
    case SecurityLevel::no_access: return "NO_ACCESS";
    case SecurityLevel::open: return "OPEN";
    case SecurityLevel::just_works: return "JUST_WORKS";
    case SecurityLevel::mitm: return "MITM";
    case SecurityLevel::lesc_mitm: return "LESC_MITM";
  }
  return "?";
}

std::string Address::to_string() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02X:%02X:%02X:%02X:%02X:%02X/%s", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                bytes[5], type ? "random" : "public");
  return buf;
}

std::optional<Address> Address::parse(std::string_view text) {
  Address a;
  auto slash = text.find('/');
  std::string_view hexpart = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto t = text.substr(slash + 1);
    if (t == "public") a.type = 0;
    else if (t == "random") a.type = 1;
    else return std::nullopt;
  }
  if (hexpart.size() != 17) return std::nullopt;
  auto b = from_hex(hexpart);
  if (!b || b->size() != 6) return std::nullopt;
  std::copy(b->begin(), b->end(), a.bytes.begin());
  return a;
}

// ---- engine -----------------------------------------------------------------------------------

namespace {

enum class Phase {
  idle,
  wait_response,         // central: Pairing Request sent
  legacy_wait_confirm,   // waiting for the peer's confirm (or our TK from the user)
  legacy_wait_random,
  sc_wait_public_key,
  sc_wait_confirm,
  sc_wait_random,
  sc_wait_user,          // central: numeric comparison / JW confirm answer before sending Ea
  sc_wait_dhkey_check,
  wait_encryption,       // pairing key ready: central asked the LL, peripheral waits for LTK request
  key_distribution,
  done,
  failed,
  timed_out,
};

using Block16 = std::array<std::uint8_t, 16>;

Block16 to16(ByteView b) {
  Block16 o{};
  std::copy_n(b.begin(), std::min<std::size_t>(16, b.size()), o.begin());
  return o;
}
Block16 rev16(ByteView b) { return reversed_array<16>(b); }

// (method, initiator displays, responder displays) for passkey; Table 2.8.
struct MethodChoice {
  Method method;
  bool initiator_displays = false;
  bool responder_displays = false;
};

MethodChoice io_method(std::uint8_t init_io, std::uint8_t resp_io, bool sc) {
  using M = Method;
  const MethodChoice jw{M::just_works};
  const MethodChoice nc{M::numeric_comparison};
  const MethodChoice pk_i{M::passkey, true, false};   // initiator displays, responder inputs
  const MethodChoice pk_r{M::passkey, false, true};   // responder displays, initiator inputs
  const MethodChoice pk_none{M::passkey, false, false};  // both input
  if (init_io == 3 || resp_io == 3) return jw;
  switch (init_io) {
    case 0:  // DisplayOnly
      return (resp_io == 2 || resp_io == 4) ? pk_i : jw;
    case 1:  // DisplayYesNo
      if (resp_io == 1) return sc ? nc : jw;
      if (resp_io == 2) return pk_i;
      if (resp_io == 4) return sc ? nc : pk_i;
      return jw;
    case 2:  // KeyboardOnly
      if (resp_io == 2) return pk_none;
      return pk_r;
    case 4:  // KeyboardDisplay
      if (resp_io == 0) return pk_r;
      if (resp_io == 1) return sc ? nc : pk_r;
      if (resp_io == 2) return pk_i;
      return sc ? nc : pk_i;
    default: return jw;
  }
}

}  // namespace

struct PairingEngine::Impl {
  EngineConfig cfg;
  crypto::Rng& rng;
  Toolbox tb;
  std::deque<Bytes> out;
  std::deque<Event> ev;
  Phase phase = Phase::idle;
  std::optional<TimePoint> deadline;
  std::optional<BondInfo> bond;

  // negotiation
  PairingParameters preq{}, pres{};
  bool sc = false;
  Method method = Method::just_works;
  bool local_displays = false, local_inputs = false;
  std::uint8_t key_size = 16;
  std::uint8_t init_keys = 0, resp_keys = 0;

  // user
  bool passkey_known = false;
  std::uint32_t passkey = 0;
  bool user_pending = false;    // waiting for passkey or yes/no
  bool user_accepted = false;

  // legacy
  Block16 tk{};  // spec order
  bool tk_ready = false;
  Block16 local_rand{}, peer_rand{}, peer_confirm{};  // wire order
  bool confirm_sent = false, have_peer_confirm = false;
  SecretBytes stk;  // wire order, masked

  // LESC
  std::unique_ptr<crypto::P256KeyPair> keypair;
  crypto::P256Raw peer_pub{};
  SecretBytes dhkey;
  int round = 0;
  Block16 na{}, nb{};  // spec order (final nonces)
  SecretBytes mac_key, ltk;  // spec order; ltk masked copy in wire order below
  Block16 local_oob_r{};  // spec order
  bool have_local_oob = false;
  Block16 peer_oob_r{}, peer_oob_c{};  // spec order
  bool have_peer_oob = false;
  Block16 peer_check{};
  bool have_peer_check = false;

  // phase 3
  std::vector<Opcode> expect;  // PDUs still to receive, in order
  DistributedKeys local_keys, peer_keys;
  bool encrypted = false;
  SecurityLevel level = SecurityLevel::open;
  bool reencrypt_pending = false;  // encryption with the bond's key requested / answered
  bool pairing_key_encrypt = false;
  bool used_debug = false;
  bool security_request_outstanding = false;  // peripheral: Security Request sent, no answer yet

  // repeated attempts
  std::optional<TimePoint> last_failure;
  int failures = 0;
  bool too_soon(TimePoint now) const {
    if (cfg.repeated_attempts_interval == Duration::zero() || !last_failure || failures == 0) return false;
    const auto wait = cfg.repeated_attempts_interval * (1 << std::min(failures - 1, 6));
    return now < *last_failure + wait;
  }
  void note_failure(TimePoint now) {
    last_failure = now;
    ++failures;
  }

  Impl(EngineConfig c, crypto::Rng& r)
      : cfg(std::move(c)), rng(r), tb(cfg.backend ? *cfg.backend : crypto::default_backend()), bond(cfg.bond) {}

  const crypto::Backend& be() const { return tb.backend(); }
  bool central() const { return cfg.role == Role::central; }
  bool pairing() const {
    return phase != Phase::idle && phase != Phase::done && phase != Phase::failed && phase != Phase::timed_out;
  }

  void touch(TimePoint now) { deadline = now + cfg.timeout; }
  void send(const Pdu& p, TimePoint now) {
    out.push_back(encode_pdu(p));
    if (pairing()) touch(now);
  }
  void emit(Event e) { ev.push_back(std::move(e)); }

  void wipe_session() {
    stk.wipe();
    dhkey.wipe();
    mac_key.wipe();
    ltk.wipe();
    secure_wipe(tk.data(), tk.size());
    secure_wipe(local_rand.data(), 16);
    secure_wipe(peer_rand.data(), 16);
    secure_wipe(na.data(), 16);
    secure_wipe(nb.data(), 16);
    tk_ready = confirm_sent = have_peer_confirm = have_peer_check = false;
    user_pending = user_accepted = passkey_known = false;
    round = 0;
    expect.clear();
  }

  Result<void> fail(Reason reason, TimePoint now, std::error_code why = Errc::pairing_failed) {
    const bool was_pairing = pairing();
    Bytes pdu = encode_pdu(PairingFailed{static_cast<std::uint8_t>(reason)});
    out.push_back(std::move(pdu));
    phase = Phase::failed;
    deadline.reset();
    wipe_session();
    if (was_pairing) note_failure(now);
    if (was_pairing) emit(events::PairingFailed{static_cast<std::uint8_t>(reason), true, false});
    return Unexpected{why};
  }

  std::uint8_t local_auth() const {
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
  std::uint8_t local_oob_flag(std::optional<bool> will_be_sc = std::nullopt) const {
    const bool lesc_data = cfg.secure_connections && have_peer_oob;
    const bool legacy_data = cfg.legacy_oob_tk.has_value();
    if (will_be_sc) return (*will_be_sc ? lesc_data : legacy_data) ? 1 : 0;
    return (lesc_data || legacy_data) ? 1 : 0;
  }

  // 7-byte PDUs in spec order for c1.
  Bytes preq_spec() const { return reversed(encode_pdu(PairingRequest{preq})); }
  Bytes pres_spec() const { return reversed(encode_pdu(PairingResponse{pres})); }
  const Address& addr_a() const { return central() ? cfg.local_address : cfg.peer_address; }
  const Address& addr_b() const { return central() ? cfg.peer_address : cfg.local_address; }
  static Bytes addr7(const Address& a) {
    Bytes o(7);
    o[0] = a.type;
    std::copy(a.bytes.begin(), a.bytes.end(), o.begin() + 1);
    return o;
  }

  void mask_key(MutableByteView wire_key) const {
    for (std::size_t i = key_size; i < wire_key.size(); ++i) wire_key[i] = 0;
  }

  // ---- negotiation ----------------------------------------------------------------------------

  Result<void> check_params(const PairingParameters& p, TimePoint now) {
    if (p.io_capability > 4) return fail(Reason::invalid_parameters, now, Errc::invalid_parameters);
    if (p.oob_data_flag > 1) return fail(Reason::invalid_parameters, now, Errc::invalid_parameters);
    if (p.max_key_size > 16) return fail(Reason::invalid_parameters, now, Errc::invalid_parameters);
    if (p.max_key_size < 7) return fail(Reason::encryption_key_size, now, Errc::invalid_parameters);
    return ok();
  }

  // After both parameter sets are known: key size, method, policy checks.
  Result<void> negotiate(TimePoint now) {
    sc = (preq.auth_req & auth_req::sc) && (pres.auth_req & auth_req::sc);
    if (cfg.sc_only && !sc) return fail(Reason::authentication_requirements, now);
    key_size = std::min(preq.max_key_size, pres.max_key_size);
    const std::uint8_t min_size = cfg.sc_only ? 16 : std::max<std::uint8_t>(7, cfg.min_key_size);
    if (key_size < min_size) return fail(Reason::encryption_key_size, now);
    init_keys = pres.initiator_key_distribution;
    resp_keys = pres.responder_key_distribution;

    const bool mitm_any = (preq.auth_req & auth_req::mitm) || (pres.auth_req & auth_req::mitm);
    MethodChoice mc{Method::just_works};
    if (sc && (preq.oob_data_flag || pres.oob_data_flag)) mc = {Method::oob};
    else if (!sc && preq.oob_data_flag && pres.oob_data_flag) mc = {Method::oob};
    else if (mitm_any) mc = io_method(preq.io_capability, pres.io_capability, sc);
    method = mc.method;
    // Legacy OOB needs a TK: our flag may have been set for LESC OOB data only (initiator).
    if (method == Method::oob && !sc && !cfg.legacy_oob_tk) return fail(Reason::oob_not_available, now);
    local_displays = central() ? mc.initiator_displays : mc.responder_displays;
    local_inputs = method == Method::passkey && !local_displays;
    const bool authenticated = method != Method::just_works;

    if (bond) {
      if (cfg.reject_bonded_repairing) {
        emit(events::PairingRequestRejected{static_cast<std::uint8_t>(Reason::pairing_not_supported)});
        return fail(Reason::pairing_not_supported, now);
      }
      // Refuse only a strictly weaker result (spec section 7 item 9).
      if (key_size < bond->key_size || (bond->sc && !sc) || (bond->authenticated && !authenticated)) {
        emit(events::PairingRequestRejected{static_cast<std::uint8_t>(Reason::authentication_requirements)});
        return fail(Reason::authentication_requirements, now);
      }
    }
    if (method == Method::oob && !sc) {
      tk = rev16(*cfg.legacy_oob_tk);
      tk_ready = true;
    } else if (method == Method::just_works) {
      tk = Block16{};
      tk_ready = true;
    }
    return ok();
  }

  // Passkey entry: show a number or ask the user.
  void start_passkey_ui() {
    if (method != Method::passkey) return;
    if (local_displays) {
      if (cfg.passkey) {
        passkey = *cfg.passkey % 1000000;
      } else {
        std::uint8_t b[4];
        rng.fill(b);
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
  void set_tk_from_passkey() {
    tk = Block16{};
    tk[12] = static_cast<std::uint8_t>(passkey >> 24);
    tk[13] = static_cast<std::uint8_t>(passkey >> 16);
    tk[14] = static_cast<std::uint8_t>(passkey >> 8);
    tk[15] = static_cast<std::uint8_t>(passkey);
    tk_ready = true;
  }

  Result<void> ensure_keypair() {
    if (keypair) return ok();
    Result<std::unique_ptr<crypto::P256KeyPair>> kp = Errc::crypto_failure;
    if (cfg.debug_keys) kp = be().p256_from_private(kDebugPrivateKey);
    else if (!cfg.ecc_private_key.empty()) kp = be().p256_from_private(cfg.ecc_private_key);
    else {
      do {
        kp = be().p256_generate(rng);
      } while (kp && equal((*kp)->public_raw(), kDebugPublicKey));
    }
    if (!kp) return Errc::crypto_failure;
    keypair = std::move(*kp);
    return ok();
  }

  PairingPublicKey our_public_pdu() const {
    PairingPublicKey pk;
    const auto& raw = keypair->public_raw();
    pk.x = reversed_array<32>(ByteView(raw.data(), 32));
    pk.y = reversed_array<32>(ByteView(raw.data() + 32, 32));
    return pk;
  }

  // ---- legacy ---------------------------------------------------------------------------------

  Result<Block16> legacy_confirm(const Block16& rand_wire) {
    auto c = tb.c1(tk, rev16(rand_wire), preq_spec(), pres_spec(), addr_a().type, addr_b().type, addr_a().bytes,
                   addr_b().bytes);
    if (!c) return Unexpected{c.error()};
    return rev16(*c);
  }

  Result<void> legacy_send_confirm(TimePoint now) {
    rng.fill(local_rand);
    auto c = legacy_confirm(local_rand);
    if (!c) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    confirm_sent = true;
    send(PairingConfirm{*c}, now);
    return ok();
  }

  Result<void> legacy_stk(TimePoint now) {
    const Block16& mrand = central() ? local_rand : peer_rand;
    const Block16& srand = central() ? peer_rand : local_rand;
    auto s = tb.s1(tk, rev16(srand), rev16(mrand));
    if (!s) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    Block16 w = rev16(*s);
    mask_key(w);
    stk = SecretBytes(w);
    secure_wipe(w.data(), 16);
    secure_wipe(s->data(), 16);
    return ok();
  }

  // Peripheral: the peer's Mconfirm arrived (or the TK became known after it did).
  Result<void> legacy_peripheral_maybe_confirm(TimePoint now) {
    if (!have_peer_confirm || !tk_ready || confirm_sent) return ok();
    BLECRYPT_TRY_VOID(legacy_send_confirm(now));
    phase = Phase::legacy_wait_random;
    return ok();
  }

  // ---- LESC -----------------------------------------------------------------------------------

  ByteView pkx_local() const { return ByteView(keypair->public_raw().data(), 32); }
  ByteView pkx_peer() const { return ByteView(peer_pub.data(), 32); }
  ByteView pka() const { return central() ? pkx_local() : pkx_peer(); }
  ByteView pkb() const { return central() ? pkx_peer() : pkx_local(); }

  std::uint8_t passkey_z() const { return static_cast<std::uint8_t>(0x80 | ((passkey >> round) & 1)); }

  // Our confirm for the current step: passkey round or JW/NC (responder).
  Result<Block16> sc_confirm(const Block16& nonce_wire, std::uint8_t z) {
    auto c = tb.f4(pkx_local(), pkx_peer(), rev16(nonce_wire), z);
    if (!c) return Unexpected{c.error()};
    return rev16(*c);
  }
  bool sc_check_peer_confirm(const Block16& peer_nonce_wire, std::uint8_t z) {
    auto c = tb.f4(pkx_peer(), pkx_local(), rev16(peer_nonce_wire), z);
    return c && equal(rev16(*c), peer_confirm);
  }

  Result<void> sc_send_confirm(TimePoint now, std::uint8_t z) {
    rng.fill(local_rand);
    auto c = sc_confirm(local_rand, z);
    if (!c) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    confirm_sent = true;
    send(PairingConfirm{*c}, now);
    return ok();
  }

  Result<void> on_public_key(const PairingPublicKey& pk, TimePoint now) {
    Bytes raw = concat({reversed(pk.x), reversed(pk.y)});
    auto pub = be().p256_public_key(raw);
    if (!pub) return fail(Reason::dhkey_check_failed, now, Errc::invalid_parameters);  // CVE-2018-5383
    if (!ensure_keypair()) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    const bool peer_debug = equal(raw, kDebugPublicKey);
    const bool both_debug = peer_debug && cfg.debug_keys && equal(keypair->public_raw(), kDebugPublicKey);
    if (equal(raw, keypair->public_raw()) && !both_debug)  // reflection, CVE-2020-26558
      return fail(Reason::dhkey_check_failed, now, Errc::invalid_parameters);
    if (peer_debug && !cfg.debug_keys) return fail(Reason::authentication_requirements, now, Errc::invalid_parameters);
    // A debug-key pairing never replaces a bond made with real keys.
    if (peer_debug && bond && !bond->debug) return fail(Reason::authentication_requirements, now, Errc::invalid_parameters);
    used_debug = peer_debug;
    std::copy(raw.begin(), raw.end(), peer_pub.begin());
    auto dh = keypair->ecdh(**pub);
    if (!dh) return fail(Reason::dhkey_check_failed, now, Errc::crypto_failure);
    dhkey = std::move(*dh);
    if (!central()) send(our_public_pdu(), now);
    if (method == Method::oob && have_peer_oob) {
      auto c = tb.f4(pkx_peer(), pkx_peer(), peer_oob_r, 0);
      if (!c || !equal(*c, peer_oob_c)) return fail(Reason::confirm_value_failed, now);
    }
    switch (method) {
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
          rng.fill(local_rand);
          send(PairingRandom{local_rand}, now);
        }
        break;
    }
    return ok();
  }

  // Both final nonces known: MacKey and LTK (f5), and for numeric comparison the value (g2).
  Result<void> sc_derive(TimePoint now) {
    na = central() ? rev16(local_rand) : rev16(peer_rand);
    nb = central() ? rev16(peer_rand) : rev16(local_rand);
    auto keys = tb.f5(dhkey, na, nb, addr7(addr_a()), addr7(addr_b()));
    if (!keys) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    mac_key = std::move(keys->mac_key);
    ltk = std::move(keys->ltk);
    if (method == Method::numeric_comparison) {
      auto v = tb.g2(pka(), pkb(), na, nb);
      if (!v) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
      user_pending = true;
      emit(events::PasskeyDisplay{*v % 1000000, true, Method::numeric_comparison});
    } else if (method == Method::just_works && cfg.confirm_just_works) {
      user_pending = true;
      emit(events::JustWorksConfirm{});
    }
    return ok();
  }

  // r values for f6: ours and the peer's (spec order).
  Block16 r_value(bool for_a) const {
    if (method == Method::passkey) {
      Block16 r{};
      r[12] = static_cast<std::uint8_t>(passkey >> 24);
      r[13] = static_cast<std::uint8_t>(passkey >> 16);
      r[14] = static_cast<std::uint8_t>(passkey >> 8);
      r[15] = static_cast<std::uint8_t>(passkey);
      return r;
    }
    if (method != Method::oob) return Block16{};
    const bool local = for_a == central();
    if (local) {
      // Our r counts only when the peer said it received our OOB data.
      const auto& peer_params = central() ? pres : preq;
      return peer_params.oob_data_flag && have_local_oob ? local_oob_r : Block16{};
    }
    return have_peer_oob ? peer_oob_r : Block16{};
  }

  Result<Block16> dhkey_check_value(bool of_a) {
    const auto& params = of_a ? preq : pres;
    const std::uint8_t iocap[3] = {params.auth_req, params.oob_data_flag, params.io_capability};
    const Block16 r = r_value(!of_a);  // Ea uses rb, Eb uses ra
    Result<Block> e = of_a ? tb.f6(mac_key, na, nb, r, iocap, addr7(addr_a()), addr7(addr_b()))
                           : tb.f6(mac_key, nb, na, r, iocap, addr7(addr_b()), addr7(addr_a()));
    if (!e) return Unexpected{e.error()};
    return rev16(*e);
  }

  Result<void> sc_send_check(TimePoint now) {
    auto e = dhkey_check_value(central());
    if (!e) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    send(PairingDhKeyCheck{*e}, now);
    return ok();
  }

  bool sc_verify_peer_check() {
    auto e = dhkey_check_value(!central());
    return e && equal(*e, peer_check);
  }

  void set_ltk_wire() {
    Block16 w = rev16(ltk);
    mask_key(w);
    stk = SecretBytes(w);
    secure_wipe(w.data(), 16);
  }

  // Peripheral: Ea received and the user (if asked) agreed.
  Result<void> sc_peripheral_finish_check(TimePoint now) {
    if (!have_peer_check || user_pending) return ok();
    if (!user_accepted && (method == Method::numeric_comparison || (method == Method::just_works && cfg.confirm_just_works)))
      return ok();
    if (!sc_verify_peer_check()) return fail(Reason::dhkey_check_failed, now);
    BLECRYPT_TRY_VOID(sc_send_check(now));
    set_ltk_wire();
    phase = Phase::wait_encryption;
    return ok();
  }

  Result<void> central_start_encryption(TimePoint now) {
    events::StartEncryption se;
    se.ltk = stk;
    se.key_size = key_size;
    pairing_key_encrypt = true;
    phase = Phase::wait_encryption;
    touch(now);
    emit(std::move(se));
    return ok();
  }

  // ---- phase 3 --------------------------------------------------------------------------------

  std::uint8_t pdu_mask(std::uint8_t m) const {
    if (sc) m &= static_cast<std::uint8_t>(~(key_dist::enc | key_dist::link));
    return m & (key_dist::enc | key_dist::id | key_dist::sign);
  }

  void start_key_distribution(TimePoint now) {
    phase = Phase::key_distribution;
    expect.clear();
    const std::uint8_t recv = pdu_mask(central() ? resp_keys : init_keys);
    if (recv & key_dist::enc) expect.insert(expect.end(), {Opcode::encryption_information, Opcode::central_identification});
    if (recv & key_dist::id) expect.insert(expect.end(), {Opcode::identity_information, Opcode::identity_address_information});
    if (recv & key_dist::sign) expect.push_back(Opcode::signing_information);
    if (!central()) distribute(now);  // the responder distributes first
    maybe_finish(now);
  }

  void distribute(TimePoint now) {
    const std::uint8_t send_mask = pdu_mask(central() ? init_keys : resp_keys);
    if (send_mask & key_dist::enc) {
      Block16 l{};
      rng.fill(l);
      mask_key(l);
      std::uint8_t e[2];
      rng.fill(e);
      local_keys.ltk = SecretBytes(l);
      local_keys.ediv = load_le16(e);
      rng.fill(local_keys.rand);
      send(EncryptionInformation{l}, now);
      send(CentralIdentification{local_keys.ediv, local_keys.rand}, now);
      secure_wipe(l.data(), 16);
    }
    if (send_mask & key_dist::id) {
      if (cfg.irk.size() == 16) local_keys.irk = cfg.irk;
      else {
        local_keys.irk = SecretBytes(16);
        rng.fill(local_keys.irk.mutable_view());
      }
      local_keys.identity = cfg.identity_address.value_or(cfg.local_address);
      IdentityAddressInformation ia;
      ia.addr_type = local_keys.identity->type;
      ia.addr = reversed_array<6>(local_keys.identity->bytes);
      send(IdentityInformation{to16(local_keys.irk)}, now);
      send(ia, now);
    }
    if (send_mask & key_dist::sign) {
      if (cfg.csrk.size() == 16) local_keys.csrk = cfg.csrk;
      else {
        local_keys.csrk = SecretBytes(16);
        rng.fill(local_keys.csrk.mutable_view());
      }
      send(SigningInformation{to16(local_keys.csrk)}, now);
    }
  }

  void maybe_finish(TimePoint now) {
    if (!expect.empty()) return;
    if (central()) distribute(now);
    PairingResult r;
    r.sc = sc;
    r.method = method;
    r.authenticated = method != Method::just_works;
    r.bonded = (preq.auth_req & auth_req::bonding) && (pres.auth_req & auth_req::bonding);
    r.key_size = key_size;
    if (sc) r.ltk = stk;
    r.local = local_keys;
    r.peer = peer_keys;
    if (sc && ((init_keys | resp_keys) & key_dist::link)) {
      auto lk = tb.ltk_to_link_key(ltk, (preq.auth_req & auth_req::ct2) && (pres.auth_req & auth_req::ct2));
      if (lk) r.link_key = SecretBytes(rev16(*lk));
    }
    r.level = level;
    if (r.bonded) {
      BondInfo b;
      b.sc = sc;
      b.authenticated = r.authenticated;
      b.key_size = key_size;
      b.debug = sc && used_debug;
      b.ltk = r.ltk;
      b.local = local_keys;
      b.peer = peer_keys;
      bond = std::move(b);
    }
    phase = Phase::done;
    deadline.reset();
    failures = 0;
    last_failure.reset();
    wipe_session();
    local_keys = {};
    peer_keys = {};
    emit(events::PairingComplete{std::move(r)});
  }

  Result<void> on_key_pdu(const Pdu& pdu, TimePoint now) {
    if (expect.empty() || opcode_of(pdu) != expect.front()) return fail(Reason::unspecified_reason, now, Errc::unexpected_pdu);
    if (auto* p = std::get_if<EncryptionInformation>(&pdu)) {
      peer_keys.ltk = SecretBytes(p->ltk);
    } else if (auto* p2 = std::get_if<CentralIdentification>(&pdu)) {
      peer_keys.ediv = p2->ediv;
      peer_keys.rand = p2->rand;
    } else if (auto* p3 = std::get_if<IdentityInformation>(&pdu)) {
      peer_keys.irk = SecretBytes(p3->irk);
    } else if (auto* p4 = std::get_if<IdentityAddressInformation>(&pdu)) {
      Address a;
      a.type = p4->addr_type;
      a.bytes = reversed_array<6>(p4->addr);
      // Identity address: public, or static random (two top bits set).
      if (a.type > 1 || (a.type == 1 && (a.bytes[0] & 0xc0) != 0xc0))
        return fail(Reason::invalid_parameters, now, Errc::invalid_parameters);
      peer_keys.identity = a;
    } else if (auto* p5 = std::get_if<SigningInformation>(&pdu)) {
      peer_keys.csrk = SecretBytes(p5->csrk);
    }
    expect.erase(expect.begin());
    touch(now);
    maybe_finish(now);
    return ok();
  }

  SecurityLevel level_for(bool is_sc, bool authenticated, std::uint8_t ks) const {
    if (!authenticated) return SecurityLevel::just_works;
    if (is_sc && ks == 16) return SecurityLevel::lesc_mitm;
    return SecurityLevel::mitm;
  }

  // ---- PDU dispatch ---------------------------------------------------------------------------

  Result<void> start_as_responder(const PairingRequest& req, TimePoint now) {
    security_request_outstanding = false;
    wipe_session();
    touch(now);
    phase = Phase::wait_response;  // transient, so fail() knows a pairing is in progress
    emit(events::PairingStarted{});
    BLECRYPT_TRY_VOID(check_params(req.p, now));
    if (cfg.reject_pairing_requests) {
      emit(events::PairingRequestRejected{static_cast<std::uint8_t>(Reason::pairing_not_supported)});
      return fail(Reason::pairing_not_supported, now);
    }
    if (cfg.sc_only && !(req.p.auth_req & auth_req::sc)) return fail(Reason::authentication_requirements, now);
    preq = req.p;
    pres.io_capability = static_cast<std::uint8_t>(cfg.io);
    pres.oob_data_flag = local_oob_flag(cfg.secure_connections && (preq.auth_req & auth_req::sc));
    pres.auth_req = local_auth();
    pres.max_key_size = cfg.max_key_size;
    const bool bonding = (preq.auth_req & auth_req::bonding) && cfg.bonding;
    pres.initiator_key_distribution = bonding ? (preq.initiator_key_distribution & cfg.initiator_keys) : 0;
    pres.responder_key_distribution = bonding ? (preq.responder_key_distribution & cfg.responder_keys) : 0;
    BLECRYPT_TRY_VOID(negotiate(now));
    if (sc && !ensure_keypair()) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
    send(PairingResponse{pres}, now);
    if (sc) {
      phase = Phase::sc_wait_public_key;
    } else {
      phase = Phase::legacy_wait_confirm;
    }
    start_passkey_ui();
    return ok();
  }

  Result<void> on_response(const PairingResponse& rsp, TimePoint now) {
    BLECRYPT_TRY_VOID(check_params(rsp.p, now));
    if ((rsp.p.initiator_key_distribution & ~preq.initiator_key_distribution) ||
        (rsp.p.responder_key_distribution & ~preq.responder_key_distribution))
      return fail(Reason::invalid_parameters, now, Errc::invalid_parameters);
    pres = rsp.p;
    BLECRYPT_TRY_VOID(negotiate(now));
    if (sc) {
      if (!ensure_keypair()) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
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

  Result<void> on_pdu(const Pdu& pdu, TimePoint now) {
    const Opcode op = opcode_of(pdu);
    if (op == Opcode::keypress_notification) return ok();  // informational only
    if (op == Opcode::pairing_failed) {
      if (!pairing() && security_request_outstanding) {
        // The central refused our Security Request (spec 2.4.6): a remote failure.
        security_request_outstanding = false;
        emit(events::PairingFailed{std::get<PairingFailed>(pdu).reason, false, false});
        return Errc::pairing_failed;
      }
      if (!pairing()) return Errc::unexpected_pdu;
      phase = Phase::failed;
      deadline.reset();
      wipe_session();
      note_failure(now);
      emit(events::PairingFailed{std::get<PairingFailed>(pdu).reason, false, false});
      return Errc::pairing_failed;
    }
    if (pairing()) touch(now);

    // Start of a procedure.
    if (op == Opcode::pairing_request) {
      if (central()) return fail(Reason::command_not_supported, now, Errc::unexpected_pdu);
      if (pairing()) return fail(Reason::unspecified_reason, now, Errc::unexpected_pdu);
      if (too_soon(now)) {
        out.push_back(encode_pdu(PairingFailed{static_cast<std::uint8_t>(Reason::repeated_attempts)}));
        return Errc::pairing_failed;
      }
      return start_as_responder(std::get<PairingRequest>(pdu), now);
    }
    if (op == Opcode::security_request) {
      if (!central()) return fail(Reason::command_not_supported, now, Errc::unexpected_pdu);
      if (pairing() || reencrypt_pending) {  // ignored while pairing/encryption is under way (2.4.6)
        events::SecurityRequestReceived sr;
        sr.auth_req = std::get<SecurityRequest>(pdu).auth_req;
        sr.ignored = true;
        emit(sr);
        return ok();
      }
      if (too_soon(now)) {
        out.push_back(encode_pdu(PairingFailed{static_cast<std::uint8_t>(Reason::repeated_attempts)}));
        return Errc::pairing_failed;
      }
      const auto a = std::get<SecurityRequest>(pdu).auth_req;
      if (cfg.sc_only && !(a & auth_req::sc)) {
        out.push_back(encode_pdu(PairingFailed{static_cast<std::uint8_t>(Reason::authentication_requirements)}));
        emit(events::PairingFailed{static_cast<std::uint8_t>(Reason::authentication_requirements), true, false});
        return Errc::pairing_failed;
      }
      bool satisfies = false;
      if (bond) {
        satisfies = (!(a & auth_req::mitm) || bond->authenticated) && (!(a & auth_req::sc) || bond->sc);
      }
      emit(events::SecurityRequestReceived{a, satisfies});
      return ok();
    }
    if (!pairing()) return Errc::unexpected_pdu;  // ignored outside a pairing

    switch (phase) {
      case Phase::wait_response:
        if (op != Opcode::pairing_response || !central()) break;
        return on_response(std::get<PairingResponse>(pdu), now);

      case Phase::legacy_wait_confirm:
        if (op != Opcode::pairing_confirm || have_peer_confirm) break;
        if (central() && !confirm_sent) break;  // the initiator commits first
        peer_confirm = std::get<PairingConfirm>(pdu).value;
        have_peer_confirm = true;
        if (central()) {
          send(PairingRandom{local_rand}, now);
          phase = Phase::legacy_wait_random;
          return ok();
        }
        return legacy_peripheral_maybe_confirm(now);

      case Phase::legacy_wait_random: {
        if (op != Opcode::pairing_random) break;
        if (!central() && !confirm_sent) break;
        peer_rand = std::get<PairingRandom>(pdu).value;
        auto c = legacy_confirm(peer_rand);
        if (!c) return fail(Reason::unspecified_reason, now, Errc::crypto_failure);
        if (!equal(*c, peer_confirm)) return fail(Reason::confirm_value_failed, now);
        BLECRYPT_TRY_VOID(legacy_stk(now));
        if (central()) return central_start_encryption(now);
        send(PairingRandom{local_rand}, now);
        phase = Phase::wait_encryption;
        return ok();
      }

      case Phase::sc_wait_public_key:
        if (op != Opcode::pairing_public_key) break;
        return on_public_key(std::get<PairingPublicKey>(pdu), now);

      case Phase::sc_wait_confirm:
        if (op != Opcode::pairing_confirm) break;
        if (method == Method::passkey) {
          if (round >= 20) break;  // never a 21st round
          if (central() && !confirm_sent) break;
          peer_confirm = std::get<PairingConfirm>(pdu).value;
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
        if (!central()) break;
        peer_confirm = std::get<PairingConfirm>(pdu).value;
        have_peer_confirm = true;
        rng.fill(local_rand);
        send(PairingRandom{local_rand}, now);
        phase = Phase::sc_wait_random;
        return ok();

      case Phase::sc_wait_random: {
        if (op != Opcode::pairing_random) break;
        if (method == Method::passkey && !confirm_sent) break;
        peer_rand = std::get<PairingRandom>(pdu).value;
        if (method == Method::passkey) {
          if (!sc_check_peer_confirm(peer_rand, passkey_z())) return fail(Reason::confirm_value_failed, now);
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
          if (method != Method::oob && !sc_check_peer_confirm(peer_rand, 0)) return fail(Reason::confirm_value_failed, now);
          BLECRYPT_TRY_VOID(sc_derive(now));
          if (user_pending) {
            phase = Phase::sc_wait_user;
            return ok();
          }
          phase = Phase::sc_wait_dhkey_check;
          return sc_send_check(now);
        }
        if (method == Method::oob) rng.fill(local_rand);
        send(PairingRandom{local_rand}, now);
        BLECRYPT_TRY_VOID(sc_derive(now));
        phase = Phase::sc_wait_dhkey_check;
        return ok();
      }

      case Phase::sc_wait_dhkey_check:
        if (op != Opcode::pairing_dhkey_check) break;
        peer_check = std::get<PairingDhKeyCheck>(pdu).value;
        have_peer_check = true;
        if (central()) {
          if (!sc_verify_peer_check()) return fail(Reason::dhkey_check_failed, now);
          set_ltk_wire();
          return central_start_encryption(now);
        }
        return sc_peripheral_finish_check(now);

      case Phase::key_distribution:
        if (op >= Opcode::encryption_information && op <= Opcode::signing_information) return on_key_pdu(pdu, now);
        break;

      default: break;
    }
    return fail(Reason::unspecified_reason, now, Errc::unexpected_pdu);
  }
};

// ---- public API -------------------------------------------------------------------------------

PairingEngine::PairingEngine(EngineConfig cfg, crypto::Rng& rng) : impl_(std::make_unique<Impl>(std::move(cfg), rng)) {}
PairingEngine::~PairingEngine() = default;

Result<void> PairingEngine::feed(ByteView in, TimePoint now) {
  auto& s = *impl_;
  if (s.phase == Phase::timed_out) return Errc::timed_out;
  auto pdu = parse_pdu(in);
  if (!pdu) {
    (void)s.fail(reason_for_parse_error(pdu.error()), now);
    return Unexpected{pdu.error()};
  }
  return s.on_pdu(*pdu, now);
}

std::optional<Bytes> PairingEngine::poll_transmit() {
  auto& s = *impl_;
  if (s.out.empty()) return std::nullopt;
  Bytes b = std::move(s.out.front());
  s.out.pop_front();
  return b;
}

std::optional<Event> PairingEngine::poll_event() {
  auto& s = *impl_;
  if (s.ev.empty()) return std::nullopt;
  Event e = std::move(s.ev.front());
  s.ev.pop_front();
  return e;
}

std::optional<TimePoint> PairingEngine::next_deadline() const { return impl_->deadline; }

void PairingEngine::on_deadline(TimePoint now) {
  auto& s = *impl_;
  if (!s.deadline || now < *s.deadline) return;
  s.deadline.reset();
  if (!s.pairing()) return;
  s.phase = Phase::timed_out;
  s.out.clear();
  s.wipe_session();
  s.emit(events::PairingFailed{0, true, true});
}

void PairingEngine::reset() {
  auto& s = *impl_;
  const bool to = s.phase == Phase::timed_out;
  s.wipe_session();
  s.keypair.reset();
  s.out.clear();
  s.ev.clear();
  s.deadline.reset();
  s.phase = to ? Phase::timed_out : Phase::idle;
  s.security_request_outstanding = false;
  s.encrypted = false;
  s.level = SecurityLevel::open;
}

Result<void> PairingEngine::pair(TimePoint now) {
  auto& s = *impl_;
  if (s.phase == Phase::timed_out) return Errc::timed_out;
  if (!s.central()) return Errc::wrong_role;
  if (s.pairing()) return Errc::wrong_state;
  s.wipe_session();
  s.preq.io_capability = static_cast<std::uint8_t>(s.cfg.io);
  s.preq.oob_data_flag = s.local_oob_flag();
  s.preq.auth_req = s.local_auth();
  s.preq.max_key_size = s.cfg.max_key_size;
  s.preq.initiator_key_distribution = s.cfg.bonding ? s.cfg.initiator_keys : 0;
  s.preq.responder_key_distribution = s.cfg.bonding ? s.cfg.responder_keys : 0;
  s.phase = Phase::wait_response;
  s.emit(events::PairingStarted{});
  s.send(PairingRequest{s.preq}, now);
  return ok();
}

Result<void> PairingEngine::security_request(TimePoint now) {
  auto& s = *impl_;
  if (s.phase == Phase::timed_out) return Errc::timed_out;
  if (s.central()) return Errc::wrong_role;
  if (s.pairing()) return Errc::wrong_state;
  s.send(SecurityRequest{s.local_auth()}, now);  // no SMP timer for a Security Request
  s.security_request_outstanding = true;
  return ok();
}

Result<void> PairingEngine::passkey_reply(std::optional<std::uint32_t> passkey, TimePoint now) {
  auto& s = *impl_;
  if (s.phase == Phase::timed_out) return Errc::timed_out;
  if (!s.pairing() || s.method != Method::passkey || !s.local_inputs || s.passkey_known) return Errc::wrong_state;
  s.user_pending = false;
  if (!passkey || *passkey > 999999) return s.fail(Reason::passkey_entry_failed, now);
  s.passkey = *passkey;
  s.passkey_known = true;
  s.touch(now);
  if (!s.sc) {
    s.set_tk_from_passkey();
    if (s.central()) {
      if (s.phase == Phase::legacy_wait_confirm && !s.confirm_sent) return s.legacy_send_confirm(now);
      return ok();
    }
    return s.legacy_peripheral_maybe_confirm(now);
  }
  if (s.phase == Phase::sc_wait_confirm) {
    if (s.central() && !s.confirm_sent) return s.sc_send_confirm(now, s.passkey_z());
    if (!s.central() && s.have_peer_confirm) {
      BLECRYPT_TRY_VOID(s.sc_send_confirm(now, s.passkey_z()));
      s.phase = Phase::sc_wait_random;
    }
  }
  return ok();
}

Result<void> PairingEngine::confirm_reply(bool accept, TimePoint now) {
  auto& s = *impl_;
  if (s.phase == Phase::timed_out) return Errc::timed_out;
  if (!s.pairing() || !s.user_pending || s.method == Method::passkey) return Errc::wrong_state;
  s.user_pending = false;
  if (!accept) {
    return s.fail(s.method == Method::numeric_comparison ? Reason::numeric_comparison_failed : Reason::unspecified_reason,
                  now);
  }
  s.user_accepted = true;
  s.touch(now);
  if (s.central()) {
    if (s.phase == Phase::sc_wait_user) {
      s.phase = Phase::sc_wait_dhkey_check;
      return s.sc_send_check(now);
    }
    return ok();
  }
  return s.sc_peripheral_finish_check(now);
}

Result<OobData> PairingEngine::local_oob_data() {
  auto& s = *impl_;
  BLECRYPT_TRY_VOID(s.ensure_keypair());
  if (!s.have_local_oob) {
    s.rng.fill(s.local_oob_r);
    s.have_local_oob = true;
  }
  auto c = s.tb.f4(s.pkx_local(), s.pkx_local(), s.local_oob_r, 0);
  if (!c) return Errc::crypto_failure;
  OobData d;
  d.c = rev16(*c);
  d.r = rev16(s.local_oob_r);
  return d;
}

Result<void> PairingEngine::set_peer_oob_data(const OobData& peer) {
  auto& s = *impl_;
  if (s.pairing()) return Errc::wrong_state;
  s.peer_oob_c = rev16(peer.c);
  s.peer_oob_r = rev16(peer.r);
  s.have_peer_oob = true;
  return ok();
}

void PairingEngine::set_bond(std::optional<BondInfo> bond) { impl_->bond = std::move(bond); }

Result<void> PairingEngine::encrypt_bonded(TimePoint now) {
  auto& s = *impl_;
  (void)now;
  if (s.phase == Phase::timed_out) return Errc::timed_out;
  if (!s.central()) return Errc::wrong_role;
  if (s.pairing()) return Errc::wrong_state;
  if (!s.bond) return Errc::not_bonded;
  events::StartEncryption se;
  se.key_size = s.bond->key_size;
  if (s.bond->sc) {
    se.ltk = s.bond->ltk;
  } else {
    if (s.bond->peer.ltk.empty()) return Errc::not_bonded;
    se.ltk = s.bond->peer.ltk;
    se.ediv = s.bond->peer.ediv;
    se.rand = s.bond->peer.rand;
  }
  if (se.ltk.size() != 16) return Errc::not_bonded;
  s.reencrypt_pending = true;
  s.emit(std::move(se));
  return ok();
}

void PairingEngine::ltk_request(std::uint16_t ediv, ByteView rand, TimePoint now) {
  auto& s = *impl_;
  (void)now;
  const bool zero = ediv == 0 && rand.size() == 8 && std::all_of(rand.begin(), rand.end(), [](auto b) { return b == 0; });
  events::LtkReply reply;
  if (s.phase == Phase::wait_encryption && !s.central()) {
    // The pairing key, only in the state that expects it, only with EDIV = 0 / Rand = 0.
    if (zero && s.stk.size() == 16) {
      reply.ltk = s.stk;
      s.pairing_key_encrypt = true;
    }
  } else if (!s.pairing() && s.phase != Phase::timed_out && s.bond && !s.central()) {
    if (s.bond->sc && zero) reply.ltk = s.bond->ltk;
    else if (!s.bond->sc && !s.bond->local.ltk.empty() && ediv == s.bond->local.ediv && rand.size() == 8 &&
             equal(rand, s.bond->local.rand))
      reply.ltk = s.bond->local.ltk;
    if (!reply.ltk.empty()) s.reencrypt_pending = true;
  }
  if (!reply.ltk.empty() && std::all_of(reply.ltk.view().begin(), reply.ltk.view().end(), [](auto b) { return b == 0; }))
    reply.ltk.wipe();  // never hand out an all-zero key (CVE-2019-19194)
  s.emit(std::move(reply));
}

void PairingEngine::encryption_changed(TimePoint now) {
  auto& s = *impl_;
  if (s.phase == Phase::timed_out) return;
  s.encrypted = true;
  s.security_request_outstanding = false;  // the central answered by encrypting
  if (s.phase == Phase::wait_encryption && s.pairing_key_encrypt) {
    s.pairing_key_encrypt = false;
    s.level = s.level_for(s.sc, s.method != Method::just_works, s.key_size);
    s.emit(events::SecurityLevelChanged{s.level});
    s.touch(now);
    s.start_key_distribution(now);
    return;
  }
  if (s.reencrypt_pending && s.bond) {
    s.reencrypt_pending = false;
    s.level = s.level_for(s.bond->sc, s.bond->authenticated, s.bond->key_size);
    s.emit(events::SecurityLevelChanged{s.level});
  }
}

void PairingEngine::encryption_failed(std::uint8_t status, TimePoint now) {
  auto& s = *impl_;
  (void)now;
  s.reencrypt_pending = false;
  s.emit(events::EncryptionFailed{status});
  if (s.pairing()) {
    s.note_failure(now);
    s.phase = Phase::failed;
    s.deadline.reset();
    s.wipe_session();
  }
}

void PairingEngine::disconnected() {
  auto& s = *impl_;
  s.wipe_session();
  s.keypair.reset();
  s.deadline.reset();
  s.phase = Phase::idle;  // a new physical link may pair again
  s.security_request_outstanding = false;
  s.encrypted = false;
  s.level = SecurityLevel::open;
  s.out.clear();
}

Role PairingEngine::role() const noexcept { return impl_->cfg.role; }
bool PairingEngine::pairing_in_progress() const noexcept { return impl_->pairing(); }
bool PairingEngine::timed_out() const noexcept { return impl_->phase == Phase::timed_out; }
bool PairingEngine::encrypted() const noexcept { return impl_->encrypted; }
SecurityLevel PairingEngine::security_level() const noexcept { return impl_->level; }
const std::optional<BondInfo>& PairingEngine::bond() const noexcept { return impl_->bond; }
bool PairingEngine::waiting_for_encryption() const noexcept { return impl_->phase == Phase::wait_encryption; }

}  // namespace blecrypt::smp
