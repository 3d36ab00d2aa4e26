// The pairing engine's state and handlers (internal to src/smp). One struct, its functions spread
// over the files of the phase they belong to:
//   engine.cpp              dispatch by opcode, the one end-of-pairing path, application and
//                           link-layer inputs, the public forwarders
//   negotiation.cpp         phase 1: Pairing Request/Response, Table 2.8, passkey UI
//   legacy.cpp              phase 2, LE legacy pairing (c1, s1, STK)
//   secure_connections.cpp  phase 2, LE Secure Connections (f4, f5, f6, g2, LTK)
//   key_distribution.cpp    phase 3 (its own unit, KeyDistribution)
// Handlers are named after the PDU they handle, Bumble-style: on_pairing_confirm dispatches to
// legacy_on_pairing_confirm or sc_on_pairing_confirm.
#pragma once

#include <optional>

#include "blecrypt/fifo.hpp"
#include "blecrypt/smp/association.hpp"
#include "blecrypt/smp/engine.hpp"
#include "key_distribution.hpp"

namespace blecrypt::smp {

enum class Phase {
  idle,
  wait_response,         // central: Pairing Request sent (responder: while checking the request)
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

// How a pairing ends. Everything that ends one goes through Impl::end_pairing().
enum class EndKind : std::uint8_t {
  completed,           // phase 3 done
  local_failure,       // this side sent Pairing Failed (reason = the fault's wire reason)
  peer_failure,        // the peer sent Pairing Failed
  timeout,             // the SMP timer expired: the link is dead for SMP
  encryption_failure,  // the link layer could not encrypt with the pairing key
};

struct PairingEngine::Impl {
  EngineConfig cfg;
  crypto::Rng* rng;
  Toolbox tb;
  Fifo<Bytes> out;
  Fifo<Event> ev;
  Phase phase = Phase::idle;
  std::optional<TimePoint> deadline;
  std::optional<BondInfo> bond;

  // phase 1: negotiation
  PairingParameters preq{}, pres{};
  bool sc = false;
  Association assoc{};
  std::uint8_t key_size = 16;
  std::uint8_t init_keys = 0, resp_keys = 0;

  // user
  bool passkey_known = false;
  std::uint32_t passkey = 0;
  bool user_pending = false;  // waiting for passkey or yes/no
  bool user_accepted = false;

  // phase 2, both variants
  Key128 local_rand{}, peer_rand{}, peer_confirm{};  // wire order
  bool confirm_sent = false, have_peer_confirm = false;

  // phase 2, legacy
  Key128 tk{};  // spec order
  bool tk_ready = false;
  SecretBytes stk;  // STK, wire order, masked to key_size

  // phase 2, Secure Connections
  std::unique_ptr<crypto::P256KeyPair> keypair;
  crypto::P256Raw peer_pub{};
  SecretBytes dhkey;
  int round = 0;                // passkey entry round (0..19)
  Key128 na{}, nb{};            // spec order (final nonces)
  SecretBytes mac_key, ltk_f5;  // f5 outputs, spec order (ltk_f5 unmasked: CTKD input)
  SecretBytes ltk;              // LTK, wire order, masked to key_size
  Key128 local_oob_r{};         // spec order
  bool have_local_oob = false;
  Key128 peer_oob_r{}, peer_oob_c{};  // spec order
  bool have_peer_oob = false;
  Key128 peer_check{};
  bool have_peer_check = false;
  bool used_debug = false;

  // phase 3 and the link
  KeyDistribution keys;
  bool encrypted = false;
  SecurityLevel level = SecurityLevel::open;
  bool reencrypt_pending = false;  // encryption with the bond's key requested / answered
  bool pairing_key_encrypt = false;
  bool security_request_outstanding = false;  // peripheral: Security Request sent, no answer yet

  // repeated attempts (spec 2.3.6)
  std::optional<TimePoint> last_failure;
  int failures = 0;

  Impl(EngineConfig c, crypto::Rng& r);

  // ---- state ----
  const crypto::Backend& be() const { return tb.backend(); }
  bool central() const { return cfg.role == Role::central; }
  bool pairing() const {
    return phase != Phase::idle && phase != Phase::done && phase != Phase::failed && phase != Phase::timed_out;
  }
  Method method() const { return assoc.method; }
  bool local_displays() const { return assoc.displays(cfg.role); }
  bool local_inputs() const { return assoc.inputs(cfg.role); }
  // The key the link is encrypted with at the end of phase 2: STK (legacy) or LTK (LESC).
  const SecretBytes& pairing_key() const { return sc ? ltk : stk; }
  bool too_soon(TimePoint now) const;
  void touch(TimePoint now) { deadline = now + cfg.timeout; }
  void send(const Pdu& p, TimePoint now);
  void emit(Event e) { ev.push_back(std::move(e)); }
  void wipe_session();
  void mask_key(MutableByteView wire_key) const;
  const Address& addr_a() const { return central() ? cfg.local_address : cfg.peer_address; }
  const Address& addr_b() const { return central() ? cfg.peer_address : cfg.local_address; }
  static Bytes addr7(const Address& a);
  // A passkey as a 128-bit value (TK of legacy passkey entry, r of LESC passkey entry), spec order.
  static Key128 passkey_block(std::uint32_t value);
  SecurityLevel level_for(bool is_sc, bool authenticated, std::uint8_t ks) const;

  // ---- ending ----
  // Sends Pairing Failed with the fault's wire reason and ends the pairing; returns the fault's
  // error for the caller of feed()/the API.
  Result<void> fail(Fault f, TimePoint now);
  // Answers a request outside a pairing with Pairing Failed (repeated attempts, SC-only policy).
  Result<void> refuse(Fault f, bool report);
  void end_pairing(EndKind kind, TimePoint now, std::uint8_t reason = 0, std::optional<PairingResult> result = {});

  // ---- PDU dispatch (engine.cpp) ----
  Result<void> feed(ByteView in, TimePoint now);
  Result<void> on_pdu(const Pdu& pdu, TimePoint now);
  Result<void> on_pairing_failed(const PairingFailed& pf, TimePoint now);
  Result<void> on_security_request(const SecurityRequest& sr, TimePoint now);
  Result<void> on_pairing_confirm(const PairingConfirm& p, TimePoint now);
  Result<void> on_pairing_random(const PairingRandom& p, TimePoint now);

  // ---- phase 1 (negotiation.cpp) ----
  std::uint8_t local_auth() const;
  std::uint8_t local_oob_flag(std::optional<bool> will_be_sc = std::nullopt) const;
  Result<void> check_params(const PairingParameters& p, TimePoint now);
  Result<void> negotiate(TimePoint now);
  void start_passkey_ui();
  void set_tk_from_passkey();
  Result<void> pair(TimePoint now);
  Result<void> on_pairing_request(const PairingRequest& req, TimePoint now);
  Result<void> on_pairing_response(const PairingResponse& rsp, TimePoint now);

  // ---- phase 2, legacy (legacy.cpp) ----
  Bytes preq_spec() const;
  Bytes pres_spec() const;
  Result<Key128> legacy_confirm(const Key128& rand_wire);
  Result<void> legacy_send_confirm(TimePoint now);
  Result<void> legacy_make_stk(TimePoint now);
  Result<void> legacy_peripheral_maybe_confirm(TimePoint now);
  Result<void> legacy_on_pairing_confirm(const PairingConfirm& p, TimePoint now);
  Result<void> legacy_on_pairing_random(const PairingRandom& p, TimePoint now);
  Result<void> legacy_on_passkey(TimePoint now);

  // ---- phase 2, Secure Connections (secure_connections.cpp) ----
  Result<void> ensure_keypair();
  PairingPublicKey our_public_pdu() const;
  ByteView pkx_local() const { return ByteView(keypair->public_raw().data(), 32); }
  ByteView pkx_peer() const { return ByteView(peer_pub.data(), 32); }
  ByteView pka() const { return central() ? pkx_local() : pkx_peer(); }
  ByteView pkb() const { return central() ? pkx_peer() : pkx_local(); }
  std::uint8_t passkey_z() const { return static_cast<std::uint8_t>(0x80 | ((passkey >> round) & 1)); }
  Result<Key128> sc_confirm(const Key128& nonce_wire, std::uint8_t z);
  bool sc_check_peer_confirm(const Key128& peer_nonce_wire, std::uint8_t z);
  Result<void> sc_send_confirm(TimePoint now, std::uint8_t z);
  Result<void> sc_on_pairing_public_key(const PairingPublicKey& pk, TimePoint now);
  Result<void> sc_on_pairing_confirm(const PairingConfirm& p, TimePoint now);
  Result<void> sc_on_pairing_random(const PairingRandom& p, TimePoint now);
  Result<void> sc_on_pairing_dhkey_check(const PairingDhKeyCheck& p, TimePoint now);
  Result<void> sc_on_passkey(TimePoint now);
  Result<void> sc_derive(TimePoint now);
  Key128 r_value(bool for_a) const;
  Result<Key128> dhkey_check_value(bool of_a);
  Result<void> sc_send_check(TimePoint now);
  bool sc_verify_peer_check();
  void sc_set_ltk();
  Result<void> sc_peripheral_finish_check(TimePoint now);
  Result<OobData> local_oob_data();
  Result<void> set_peer_oob_data(const OobData& peer);

  // ---- encryption and phase 3 (engine.cpp, key_distribution.cpp) ----
  Result<void> central_start_encryption(TimePoint now);
  std::uint8_t pdu_mask(std::uint8_t m) const;
  void start_key_distribution(TimePoint now);
  void distribute(TimePoint now);
  void maybe_finish(TimePoint now);
  Result<void> on_key_pdu(const Pdu& pdu, TimePoint now);

  // ---- application and link layer (engine.cpp) ----
  void on_deadline(TimePoint now);
  void reset();
  void on_link_down();
  Result<void> security_request(TimePoint now);
  Result<void> passkey_reply(std::optional<std::uint32_t> value, TimePoint now);
  Result<void> confirm_reply(bool accept, TimePoint now);
  Result<void> encrypt_bonded();
  void ltk_request(std::uint16_t ediv, ByteView rand);
  void encryption_changed(TimePoint now);
  void encryption_failed(std::uint8_t status, TimePoint now);
};

}  // namespace blecrypt::smp
