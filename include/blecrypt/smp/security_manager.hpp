// blatann-style Security Manager on top of the pairing engine: security parameters, pairing
// policy, events as callbacks, a persistent bond store. Still sans-IO: PDUs in with feed(),
// out with poll_transmit(); link-layer requests as callbacks; time passed in.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "blecrypt/smp/bond_store.hpp"
#include "blecrypt/smp/engine.hpp"

namespace blecrypt::smp {

// blatann PairingPolicy flags, combined with combine() or |.
enum class PairingPolicy : std::uint8_t {
  allow_all = 0,
  reject_new_pairing_requests = 1,
  reject_nonbonded_peripheral_requests = 2,
  reject_bonded_peripheral_requests = 4,
  reject_bonded_device_repairing_requests = 8,
};
constexpr PairingPolicy operator|(PairingPolicy a, PairingPolicy b) {
  return static_cast<PairingPolicy>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr bool has(PairingPolicy set, PairingPolicy flag) {
  return (static_cast<std::uint8_t>(set) & static_cast<std::uint8_t>(flag)) != 0;
}
template <typename... P>
constexpr PairingPolicy combine(P... flags) {
  return (PairingPolicy::allow_all | ... | flags);
}

// blatann SecurityParameters.
struct SecurityParameters {
  bool passcode_pairing = false;  // MITM protection requested
  IoCapability io_capabilities = IoCapability::keyboard_display;
  bool bond = false;
  bool out_of_band = false;       // legacy OOB (oob_tk) / LESC OOB (peer OOB data set)
  bool reject_pairing_requests = false;
  bool lesc_pairing = false;
};

enum class SecurityRequestResponse { accept, reject, force_repair };

struct PairingOutcome {
  bool success = false;
  std::uint8_t reason = 0;  // SMP reason when failed
  bool timeout = false;
  SecurityLevel security_level = SecurityLevel::open;
  // Set when the pairing bonded but the bond store refused the bond (success stays true: the
  // link is encrypted; the bond will not survive this process). Also in bond_save_error().
  std::error_code bond_error;
};

class SecurityManager {
 public:
  struct Config {
    Role role = Role::central;
    Address local_address;
    Address peer_address;
    BondDatabase* bond_store = nullptr;  // not owned; nullptr = bonds kept in memory only
    const crypto::Backend* backend = nullptr;
    std::uint8_t min_key_size = 16;
    bool sc_only = false;
    // Advanced engine settings (key distribution masks, max key size, fixed passkey, fixed ECC
    // key, identity address and IRK, confirm_just_works, repeated attempts). The fields the
    // manager owns are overwritten: role, io, bonding, mitm, secure_connections, sc_only,
    // min_key_size, debug_keys, legacy_oob_tk, reject_pairing_requests, reject_bonded_repairing,
    // local/peer address, bond, backend.
    EngineConfig engine;
  };

  SecurityManager(Config cfg, crypto::Rng& rng);
  ~SecurityManager();

  // ---- blatann API ----
  // The setters rebuild the engine, so while a pairing is in progress they are refused with
  // Errc::pairing_in_progress and change nothing (the pairing under way is kept).
  Result<void> set_security_params(const SecurityParameters& params);
  const SecurityParameters& security_params() const noexcept;
  Result<void> set_pairing_policy(PairingPolicy policy);
  PairingPolicy pairing_policy() const noexcept;
  Result<void> use_debug_lesc_key();
  Result<void> set_legacy_oob_tk(std::optional<Key128> tk);
  Result<OobData> local_oob_data();
  Result<void> set_peer_oob_data(const OobData& peer);
  // Central: pair (or, when bonded and not forced, encrypt with the bond). Peripheral: send a
  // Security Request.
  Result<void> pair(TimePoint now, bool force_repairing = false);
  // Central: start encryption with the stored bond, never pairing (Errc::not_bonded without one).
  Result<void> encrypt_with_bond(TimePoint now);
  Result<void> delete_bonding_data();
  bool is_previously_bonded() const noexcept;
  const std::optional<BondRecord>& bond() const noexcept;
  // Why the bond found at construction could not be used (corrupt or unsafe file); empty if fine.
  std::error_code bond_load_error() const noexcept;
  // Result of the last bond save after a pairing (empty = saved, or nothing to save).
  std::error_code bond_save_error() const noexcept;
  bool pairing_in_process() const noexcept;
  SecurityLevel security_level() const noexcept;

  // ---- user answers to the events ----
  Result<void> passkey_reply(std::optional<std::uint32_t> passkey, TimePoint now);
  Result<void> match_confirm(bool match, TimePoint now);
  Result<void> security_request_reply(SecurityRequestResponse response, TimePoint now);

  // ---- events (blatann names) ----
  std::function<void(const PairingOutcome&)> on_pairing_complete;
  std::function<void(SecurityLevel)> on_security_level_changed;  // fires before on_pairing_complete
  std::function<void(std::uint32_t passkey, bool match_request)> on_passkey_display_required;
  std::function<void()> on_passkey_required;
  std::function<void(std::uint8_t auth_req, bool is_bonded_device)> on_peripheral_security_request;
  std::function<void(std::uint8_t reason)> on_pairing_request_rejected;
  // LESC Just Works confirmation (EngineConfig::confirm_just_works): answered with
  // match_confirm(). Unset = accepted automatically.
  std::function<void()> on_just_works_confirm;
  // Link-layer requests: central starts encryption; peripheral answers an LTK request.
  std::function<void(const events::StartEncryption&)> on_start_encryption;
  std::function<void(const SecretBytes& ltk)> on_ltk_reply;  // empty = negative reply
  // Everything the engine reports, for tools that want the full detail (PairingComplete keys).
  std::function<void(const Event&)> on_engine_event;

  // ---- sans-IO plumbing ----
  Result<void> feed(ByteView pdu, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  void ltk_request(std::uint16_t ediv, ByteView rand, TimePoint now);
  void encryption_changed(TimePoint now);
  void encryption_failed(std::uint8_t status, TimePoint now);
  void disconnected();

  // The engine inside (replaced by the setters). Code that drives it directly, such as
  // smp::LinkLayerModel joining two managers in memory, then calls process_engine_events() so
  // the events it caused reach the callbacks above.
  PairingEngine& engine() noexcept;
  void process_engine_events(TimePoint now) { dispatch(now); }

 private:
  void rebuild();
  void dispatch(TimePoint now);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blecrypt::smp
