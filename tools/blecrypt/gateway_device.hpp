// The gateway's IO edge, device side: one served BLUETTI device = its scheduler (src/gateway),
// its link (an emulator over link::MemoryLink today; the BlueZ GattLink once merged), the client
// engine under link::Session, and the mapping of results to MQTT publishes. Shared by the daemon
// (gateway.cpp) and `blecrypt bench gateway` (gateway_bench.cpp). Single-threaded: everything is
// called from the daemon's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/gateway/config.hpp"
#include "blecrypt/gateway/fields.hpp"
#include "blecrypt/gateway/mapping.hpp"
#include "blecrypt/gateway/scheduler.hpp"
#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"

namespace blecrypt::cli::gw {

enum class Level { debug, info, warning, error };
void log(Level level, const std::string& message);
void set_log_level(Level level);

// Where a device's messages go (mosquitto in the daemon, a counter in the bench).
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual void publish(const std::string& topic, const std::string& payload, bool retain) = 0;
  virtual void subscribe(const std::string& filter) = 0;
  virtual void unsubscribe(const std::string& filter) = 0;
};

// GATT profile of BLUETTI units (docs/specs/bluetti.md section 1).
// TRANSITIONAL: bluetti::kGattProfile replaces it once the bluetti branch is merged.
inline constexpr link::GattProfile kBluettiProfile{"BLUETTI", "0000ff00-0000-1000-8000-00805f9b34fb",
                                                   "0000ff02-0000-1000-8000-00805f9b34fb",
                                                   "0000ff01-0000-1000-8000-00805f9b34fb", link::WriteType::with_response};

// TRANSITIONAL adapters giving main's bluetti::ClientSession / DeviceSession the engine shape
// (include/blecrypt/engine.hpp); the bluetti branch makes bluetti::Client / Device engines and
// these go away.
class BluettiClientEngine {
 public:
  using Event = std::variant<bluetti::ClientEvent>;
  BluettiClientEngine(bluetti::ClientConfig cfg, crypto::Rng& rng) : s_(std::make_unique<bluetti::ClientSession>(std::move(cfg), rng)) {}
  void on_link_up(TimePoint now) { s_->start(now); }
  void on_link_down() { s_->reset(); }
  Result<void> feed(ByteView in, TimePoint now) { return s_->feed(in, now); }
  std::optional<Bytes> poll_transmit() { return s_->poll_transmit(); }
  std::optional<Event> poll_event() {
    if (auto e = s_->poll_event()) return Event{std::move(*e)};
    return std::nullopt;
  }
  std::optional<TimePoint> next_deadline() const { return s_->next_deadline(); }
  void on_deadline(TimePoint now) { s_->on_deadline(now); }
  void reset() { s_->reset(); }
  bluetti::ClientSession& session() { return *s_; }

 private:
  std::unique_ptr<bluetti::ClientSession> s_;
};
static_assert(Engine<BluettiClientEngine>);

class BluettiDeviceIo final : public EngineIo {
 public:
  explicit BluettiDeviceIo(bluetti::DeviceSession& d) : d_(&d) {}
  void on_link_up(TimePoint now) override { d_->start(now); }
  void on_link_down() override { d_->reset(); }
  Result<void> feed(ByteView in, TimePoint now) override { return d_->feed(in, now); }
  std::optional<Bytes> poll_transmit() override { return d_->poll_transmit(); }
  std::optional<TimePoint> next_deadline() const override { return d_->next_deadline(); }
  void on_deadline(TimePoint now) override { d_->on_deadline(now); }

 private:
  bluetti::DeviceSession* d_;
};

struct DeviceCounters {
  std::uint64_t polls = 0, publishes = 0, requests = 0, commands_ok = 0, commands_failed = 0;
};

class ServedDevice {
 public:
  // `index` makes emulators of one model differ (serial + index) unless a serial is configured.
  ServedDevice(gateway::DeviceEntry entry, std::size_t index, Publisher& pub, const gateway::MqttConfig& mqtt);
  ~ServedDevice();
  ServedDevice(const ServedDevice&) = delete;
  ServedDevice& operator=(const ServedDevice&) = delete;

  const gateway::DeviceEntry& entry() const noexcept { return entry_; }
  bool enabled() const noexcept { return disabled_reason_.empty(); }
  const std::string& disabled_reason() const noexcept { return disabled_reason_; }
  const std::optional<gateway::DeviceIdentity>& identity() const noexcept { return identity_; }
  std::string name() const;

  void start(TimePoint now);
  // Closes the link, fails queued commands; publishes offline when `announce`.
  void stop(TimePoint now, bool announce);
  // Removes this device's discovery configs and retained state (taken out of the config).
  void retract();

  // An MQTT command for this device (topic already matched to its identity).
  void on_command(const gateway::CommandTarget& target, const std::string& topic, ByteView payload, TimePoint now);
  // The broker (re)connected, or Home Assistant came online: publish discovery, availability and
  // the last state again.
  void republish();

  std::optional<TimePoint> next_deadline() const;
  void on_tick(TimePoint now);

  const DeviceCounters& counters() const noexcept { return counters_; }
  link::MemoryLink* memory_link() noexcept { return mlink_.get(); }
  bluetti::DeviceSession* emulator() noexcept { return emulator_.get(); }
  gateway::DeviceScheduler& scheduler() noexcept { return scheduler_; }

 private:
  using Session = link::Session<BluettiClientEngine>;
  void run_actions(TimePoint now);
  void on_session_event(Session::Event&& e, TimePoint now);
  void on_client_event(bluetti::ClientEvent&& e, TimePoint now);
  void next_read(TimePoint now);
  void finish_poll(TimePoint now, bool ok);
  void publish_identity();
  void publish_availability();
  void drop_link(TimePoint now);
  void pump(TimePoint now);

  gateway::DeviceEntry entry_;
  Publisher* pub_;
  std::string gateway_availability_;
  std::string discovery_prefix_;
  std::string disabled_reason_;
  gateway::DeviceScheduler scheduler_;
  const gateway::FieldTable* table_ = nullptr;
  std::optional<gateway::DeviceIdentity> identity_;
  bool subscribed_ = false;
  bool online_ = false;

  // link + engines
  std::unique_ptr<bluetti::DeviceSession> emulator_;
  std::unique_ptr<BluettiDeviceIo> emulator_io_;
  std::unique_ptr<link::MemoryLink> mlink_;
  std::unique_ptr<BluettiClientEngine> client_;
  std::unique_ptr<Session> session_;
  TimePoint now_{};
  bool pumping_ = false;
  std::optional<TimePoint> pump_at_;  // emulator latency: traffic moves then
  bool drop_at_pump_ = false;         // emulator fault: the link drops instead
  std::uint64_t sent_ = 0;
  void sent(TimePoint now);

  // operation in flight
  enum class Op { none, poll, write } op_ = Op::none;
  std::vector<bluetti::modbus::Request> reads_;
  std::size_t read_index_ = 0;
  bluetti::RegisterValues regs_;
  std::optional<gateway::Command> command_;
  std::map<std::string, std::string> last_state_;
  std::vector<std::string> state_topics_;  // per table row, built once the identity is known
  DeviceCounters counters_;
};

}  // namespace blecrypt::cli::gw
