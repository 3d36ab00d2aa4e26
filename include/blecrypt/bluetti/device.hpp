// BLUETTI device engine (emulator, sans-IO) and the emulated power stations behind it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/modbus.hpp"
#include "blecrypt/bluetti/models.hpp"
#include "blecrypt/bluetti/protocol.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::bluetti {

// ---- emulated power station ---------------------------------------------------------------

// An emulated power station built from the model table (models.hpp): every register of the
// model's poll blocks and pack blocks is mapped (zeros where the table has no field), every field
// starts at a plausible value, and settable fields are writable. Telemetry evolves with time:
// outputs draw power when switched on, solar input varies, SOC follows the energy balance
// (power in = power out + charge), the SOC range settings stop charging / discharging, and on
// IoT V1 units writing the pack selector pages the pack block (pack SOC, voltage and cell
// voltages that sum to it). Serials never change. Unmapped registers answer exception 0x02,
// writes to read-only registers or outside a setting's range/choices 0x03.
class PowerStation {
 public:
  struct Register {
    std::uint16_t value = 0;
    bool writable = false;
  };
  // Any model of the table (case-insensitive); nullopt for other names.
  static std::optional<PowerStation> create(std::string_view model);
  // Every model of the table.
  static std::vector<std::string> models();

  const std::string& model() const noexcept { return model_; }
  Protocol protocol() const noexcept { return protocol_; }
  const models::Model& table() const noexcept { return *table_; }
  std::uint64_t serial() const noexcept { return serial_; }
  std::uint64_t iot_serial() const noexcept { return iot_serial_; }
  void set_serials(std::uint64_t serial, std::uint64_t iot_serial);
  unsigned packs_installed() const noexcept { return packs_installed_; }
  unsigned selected_pack() const noexcept { return selected_pack_; }

  // Advances the simulation to `now` (the first call sets the epoch).
  void tick(TimePoint now);
  modbus::Response handle(const modbus::Request& req, TimePoint now);

  std::optional<std::uint16_t> get(std::uint16_t address) const;
  void define(std::uint16_t address, std::uint16_t value, bool writable);
  const std::map<std::uint16_t, Register>& registers() const noexcept { return regs_; }

 private:
  void refresh();
  void set_output(bool ac, bool on);
  bool output_on(bool ac) const;
  std::optional<std::uint8_t> check_write(std::uint16_t address, std::uint16_t value) const;
  void set_field(const models::Field& f, std::int64_t raw);
  std::optional<std::uint16_t> role_value(models::Role r) const;
  std::string model_;
  Protocol protocol_ = Protocol::iot_v2;
  const models::Model* table_ = nullptr;
  std::uint64_t serial_ = 0, iot_serial_ = 0;
  std::map<std::uint16_t, Register> regs_;
  std::optional<TimePoint> epoch_, last_;
  double energy_wh_ = 0, capacity_wh_ = 768;
  std::uint16_t base_ac_load_w_ = 120, base_dc_load_w_ = 24, solar_peak_w_ = 200;
  unsigned packs_installed_ = 0, selected_pack_ = 1;
};

// ---- device engine ------------------------------------------------------------------------

struct DeviceConfig {
  const crypto::Backend* backend = nullptr;  // nullptr = crypto::default_backend()
  // Signs DEVICE_PUBKEY. nullptr = the documented test key (kTestDeviceSigningKey).
  std::shared_ptr<const crypto::P256KeyPair> signing_key;
  // Verifies CLIENT_PUBKEY. nullptr = L1's public key.
  std::shared_ptr<const crypto::P256PublicKey> client_verify_key;
  Duration challenge_interval = std::chrono::seconds(2);  // repeat while unanswered
  int challenge_repeats = 5;                              // then give up (timeout)
  Duration step_timeout = std::chrono::seconds(30);

  // Imports the signing scalar (32 bytes big endian; empty = test key) once. Errors: invalid_key.
  static Result<DeviceConfig> make(const crypto::Backend& backend, ByteView signing_scalar);
};

enum class DeviceState { idle, challenge_sent, wait_client_key, established, failed };
const char* device_state_name(DeviceState s) noexcept;

namespace events {
// What the device engine reports (Device::Event). Established and Failed are the client's types.
struct ChallengeSent {};       // CHALLENGE queued (and repeated until answered)
struct ChallengeVerified {};   // CHALLENGE_RESPONSE matched, DEVICE_PUBKEY queued
struct RequestServed {         // a Modbus request answered by the power station
  modbus::Request request;
};
struct RequestRejected {       // a session write that could not be served (bad record, bad CRC, ...)
  std::error_code error;
};
}  // namespace events

class Device {
 public:
  using Event = std::variant<events::ChallengeSent, events::ChallengeVerified, events::Established,
                             events::RequestServed, events::RequestRejected, events::Failed>;

  // `rng` must outlive the engine (kept as a pointer: the engine is movable).
  Device(DeviceConfig cfg, PowerStation station, crypto::Rng& rng);
  ~Device();
  Device(Device&&) noexcept;
  Device& operator=(Device&&) noexcept;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // The client subscribed: send a fresh challenge (and repeat it until answered).
  void on_link_up(TimePoint now);
  // The client went away: keys wiped, back to `idle` (the power station keeps its state).
  void on_link_down();
  // One client write (or any piece of the stream). Errors: any bluetti::Errc (unexpected_message
  // while idle, handshake_failed while failed, frame/record/modbus errors).
  Result<void> feed(ByteView write, TimePoint now);
  // Each element is one notification holding one whole frame or record.
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Wipes the session (keys, queues); the power station's registers stay.
  void reset();

  DeviceState state() const noexcept { return state_; }
  bool established() const noexcept { return state_ == DeviceState::established; }
  std::error_code failure() const noexcept { return failure_; }
  PowerStation& station() noexcept { return station_; }
  const crypto::P256Raw& verify_key() const noexcept;  // public half of the signing key
  // Unsolicited session record (e.g. autonomous frames some units send). Errors: not_established,
  // crypto_failure.
  Result<void> send_plaintext(ByteView plaintext);
  bool holds_no_secrets() const noexcept;

 private:
  Result<void> handle_unit(const Reassembler::Unit& u, TimePoint now);
  Result<void> fail(std::error_code e);
  void wipe();

  DeviceConfig cfg_;
  PowerStation station_;
  crypto::Rng* rng_;
  std::unique_ptr<crypto::Md5> md5_;
  DeviceState state_ = DeviceState::idle;
  std::error_code failure_;
  Reassembler reasm_;
  Fifo<Bytes> tx_;
  Fifo<Event> events_;
  std::optional<TimePoint> deadline_;
  int repeats_left_ = 0;

  Bytes challenge_frame_;
  std::optional<HandshakeKeys> hs_keys_;
  std::optional<HandshakeCipher> hs_;
  Bytes accepted_frame_, device_record_;
  std::unique_ptr<crypto::P256KeyPair> ephemeral_;
  std::optional<SessionCipher> session_;
};

static_assert(Engine<Device>);

}  // namespace blecrypt::bluetti
