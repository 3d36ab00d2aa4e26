// The gateway's IO edge, device side. One served device = its scheduler (src/gateway), its link
// (an emulator over link::MemoryLink, or a real device over the BlueZ transport), the client engine
// under link::Session, and the mapping of results to MQTT publishes. Shared by the daemon
// (gateway.cpp) and `blecrypt bench gateway` (gateway_bench.cpp). Single-threaded: everything runs
// on the daemon's one link::bluez::EventLoop (D-Bus, the MQTT socket, every deadline).
//
//   ServedDevice (scheduler, availability, commands, discovery bookkeeping)
//   └── EngineDevice<Client> (the link::Session, link up/down/transport errors, ordered events)
//     ├── BluettiDevice: bluetti::Client + bluetti::Requests (request matching, FC06 read-back);
//     │                  model from the config or detected (models::identify: the advertised name,
//     │                  confirmed by the device-type registers); topics, reads and discovery from
//     │                  the model table through gateway::entities()/plan_refresh()/plan_packs();
//     │                  battery packs on the scheduler's pack tier (select, settle deadline, read)
//     └── SesameDevice:  sesame::Client (login with the key file's secret, lock/unlock, status)
//   DeviceLink: EmulatedLink (MemoryLink + emulator, latency/drop knobs) | BluezDeviceLink
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/requests.hpp"
#include "blecrypt/gateway/config.hpp"
#include "blecrypt/gateway/entities.hpp"
#include "blecrypt/gateway/mapping.hpp"
#include "blecrypt/gateway/scheduler.hpp"
#include "blecrypt/gateway/sesame_mapping.hpp"
#include "blecrypt/link/bluez/bluez.hpp"
#include "blecrypt/link/bluez/event_loop.hpp"
#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"

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

// The BlueZ side shared by every real device: opened on first use, opened again after a failure.
class BluezAccess {
 public:
  BluezAccess(link::bluez::EventLoop& loop, std::string adapter) : loop_(&loop), adapter_(std::move(adapter)) {}
  // The open Bluez, or why not (bluetooth_unavailable, adapter_not_found, ...).
  Result<link::bluez::Bluez*> get();
  link::bluez::EventLoop& loop() { return *loop_; }

 private:
  link::bluez::EventLoop* loop_;
  std::string adapter_;
  std::unique_ptr<link::bluez::Bluez> bz_;
};

// A device's link: what the scheduler's Connect / Disconnect act on. The link reports through the
// LinkListener (the Session) set on link().
class DeviceLink {
 public:
  virtual ~DeviceLink() = default;
  virtual link::GattLink& link() = 0;
  virtual void connect(TimePoint now) = 0;
  virtual void disconnect(TimePoint now) = 0;
  // The session wrote something: an in-memory link moves the traffic now (or after its latency).
  virtual void kick(TimePoint /*now*/) {}
  virtual std::optional<TimePoint> next_deadline() const { return std::nullopt; }
  virtual void on_tick(TimePoint /*now*/) {}
  virtual std::string describe() const = 0;
  // The name the device advertises, when the transport knows it (BlueZ: Device1.Name).
  virtual std::string advertised_name() const { return {}; }
};

// Thread CPU time (CLOCK_THREAD_CPUTIME_ID) of the calling thread, in nanoseconds.
std::int64_t thread_cpu_ns();

// An EngineIo that forwards to another and, when metering, adds up the thread CPU time spent in
// it: `blecrypt bench gateway` leaves the emulated peripheral's share out of the gateway's.
class MeteredIo final : public EngineIo {
 public:
  explicit MeteredIo(EngineIo& inner) : inner_(&inner) {}
  void on_link_up(TimePoint now) override { Meter m(*this); inner_->on_link_up(now); }
  void on_link_down() override { Meter m(*this); inner_->on_link_down(); }
  Result<void> feed(ByteView in, TimePoint now) override { Meter m(*this); return inner_->feed(in, now); }
  std::optional<Bytes> poll_transmit() override { Meter m(*this); return inner_->poll_transmit(); }
  std::optional<TimePoint> next_deadline() const override { return inner_->next_deadline(); }
  void on_deadline(TimePoint now) override { Meter m(*this); inner_->on_deadline(now); }
  void set_metering(bool on) noexcept { metering_ = on; }
  std::int64_t cpu_ns() const noexcept { return cpu_ns_; }

 private:
  struct Meter {
    explicit Meter(MeteredIo& io) : io_(&io), t0_(io.metering_ ? thread_cpu_ns() : 0) {}
    ~Meter() { if (io_->metering_) io_->cpu_ns_ += thread_cpu_ns() - t0_; }
    Meter(const Meter&) = delete;
    Meter& operator=(const Meter&) = delete;
    MeteredIo* io_;
    std::int64_t t0_;
  };
  EngineIo* inner_;
  bool metering_ = false;
  std::int64_t cpu_ns_ = 0;
};

// An emulated peripheral (any engine) behind a MemoryLink. Knobs for trying fault handling:
// `latency` delays every exchange, `drop_every` drops the link while every Nth request is in flight.
class EmulatedLink final : public DeviceLink {
 public:
  EmulatedLink(std::unique_ptr<EngineIo> peripheral, const link::GattProfile& profile, std::string description,
               Duration latency, std::uint32_t drop_every);
  link::GattLink& link() override { return mlink_; }
  void connect(TimePoint now) override;
  void disconnect(TimePoint now) override;
  void kick(TimePoint now) override;
  std::optional<TimePoint> next_deadline() const override;
  void on_tick(TimePoint now) override;
  std::string describe() const override { return mlink_.describe(); }
  // Counts one request sent (drop_every counts these).
  void request_sent(TimePoint now);
  EngineIo& peripheral() { return *peripheral_; }
  MeteredIo& metered() { return metered_; }
  link::MemoryLink& memory_link() { return mlink_; }
  std::size_t pdus_carried() const { return mlink_.pdus_carried(); }

 private:
  void pump(TimePoint now);
  std::unique_ptr<EngineIo> peripheral_;
  MeteredIo metered_;
  link::MemoryLink mlink_;
  Duration latency_;
  std::uint32_t drop_every_;
  std::uint64_t sent_ = 0;
  bool pumping_ = false, drop_pending_ = false;
  std::optional<TimePoint> pump_at_;
};

// A real device through the BlueZ transport. A GattLink itself, so the Session attaches once
// even while BlueZ is not there yet (bluetoothd down at start): connect() then fails on the loop
// with bluetooth_unavailable and the scheduler tries again later.
class BluezDeviceLink final : public DeviceLink, public link::GattLink {
 public:
  BluezDeviceLink(BluezAccess& access, std::string address, const link::GattProfile& profile);
  ~BluezDeviceLink() override;
  link::GattLink& link() override { return *this; }
  void connect(TimePoint now) override;
  void disconnect(TimePoint now) override;
  std::string describe() const override;
  std::string advertised_name() const override { return link_ ? link_->device_name() : std::string(); }

  // ---- GattLink ----
  void set_listener(link::LinkListener* l) override;
  Result<void> subscribe(std::string_view characteristic) override;
  Result<void> write(std::string_view characteristic, ByteView value, link::WriteType type) override;
  std::size_t att_mtu() const override;
  bool connected() const override;

 private:
  BluezAccess* access_;
  std::string address_;
  link::GattProfile profile_;
  link::LinkListener* listener_ = nullptr;
  std::unique_ptr<link::bluez::BluezLink> link_;
  std::optional<link::bluez::EventLoop::Id> fail_timer_;
};

struct DeviceCounters {
  std::uint64_t polls = 0, publishes = 0, requests = 0, commands_ok = 0, commands_failed = 0;
  std::uint64_t pack_reads = 0, pack_requests = 0;  // battery-pack tier: reads published, ATT round trips
};

// What every served device shares: the scheduler, availability, commands and their results.
class ServedDevice {
 public:
  ServedDevice(gateway::DeviceEntry entry, Publisher& pub, const gateway::MqttConfig& mqtt);
  virtual ~ServedDevice() = default;
  ServedDevice(const ServedDevice&) = delete;
  ServedDevice& operator=(const ServedDevice&) = delete;

  const gateway::DeviceEntry& entry() const noexcept { return entry_; }
  bool enabled() const noexcept { return disabled_reason_.empty(); }
  const std::string& disabled_reason() const noexcept { return disabled_reason_; }
  virtual std::string name() const;

  void start(TimePoint now);
  // Closes the link, fails queued commands; publishes offline when `announce`.
  void stop(TimePoint now, bool announce);
  // Publishes offline (before the links close at shutdown).
  void announce_offline();
  // Removes this device's discovery configs and retained state (taken out of the config).
  virtual void retract() = 0;
  // The broker (re)connected, or Home Assistant came online: discovery, availability, last state.
  virtual void republish() = 0;
  // Whether `topic` is one of this device's command topics; if so it is handled (result published).
  virtual bool on_message(const std::string& topic, ByteView payload, TimePoint now) = 0;

  std::optional<TimePoint> next_deadline() const;
  void on_tick(TimePoint now);

  const DeviceCounters& counters() const noexcept { return counters_; }
  gateway::DeviceScheduler& scheduler() noexcept { return scheduler_; }
  DeviceLink* device_link() noexcept { return link_.get(); }
  // The clock for work that starts in a link callback (BlueZ on the loop); default: the time of
  // the last call in (a virtual clock for the bench).
  void set_clock(std::function<TimePoint()> clock) { clock_ = std::move(clock); }

 protected:
  // Subclass hooks, called from run_actions.
  virtual void connect(TimePoint now);
  virtual void begin_poll(TimePoint now) = 0;
  virtual void begin_write(const gateway::Command& c, TimePoint now) = 0;
  // The pack tier (only devices that set one get these).
  virtual void begin_pack_select(unsigned /*pack*/, TimePoint now) { scheduler_.pack_select_done(now, false); }
  virtual void begin_pack_read(unsigned /*pack*/, TimePoint now) { scheduler_.pack_read_done(now, false); }
  virtual std::string availability_topic() const = 0;
  virtual bool identified() const = 0;
  // The engine's session deadline (the Session), run by on_tick.
  virtual std::optional<TimePoint> session_deadline() const = 0;
  virtual void session_on_deadline(TimePoint now) = 0;

  void run_actions(TimePoint now);
  void publish_availability();
  void command_result(const gateway::Command& c, const std::string& payload, bool ok);
  // Queues a parsed command (or publishes why not).
  void submit(const std::string& field, std::uint16_t value, const std::string& reply, TimePoint now);
  void refuse(const std::string& field, const std::string& reply, std::error_code e);
  void link_lost(TimePoint now);

  gateway::DeviceEntry entry_;
  Publisher* pub_;
  std::string gateway_availability_;
  std::string discovery_prefix_;
  std::string disabled_reason_;
  gateway::DeviceScheduler scheduler_;
  std::unique_ptr<DeviceLink> link_;
  bool online_ = false;
  bool subscribed_ = false;
  std::optional<gateway::Command> command_;  // the one in flight
  DeviceCounters counters_;
  TimePoint now_{};
  std::function<TimePoint()> clock_;
  TimePoint clock_now() { return clock_ ? (now_ = clock_()) : now_; }
};

// A served device whose engine runs under a link::Session: the session, its deadline, and the
// link events every protocol handles alike (link up/down, transport errors, refused input).
// Engine events go to on_engine_event, one at a time and in order, even when handling one
// causes more.
template <class Client>
class EngineDevice : public ServedDevice {
 public:
  using ServedDevice::ServedDevice;
  ~EngineDevice() override { session_.reset(); }  // detaches from the link first

 protected:
  using Session = link::Session<Client>;
  // Starts the session once client_ and link_ exist.
  void attach(const link::GattProfile& profile) {
    session_ = std::make_unique<Session>(*client_, link_->link(), profile);
    session_->set_event_handler([this](typename Session::Event&& e) { on_session_event(std::move(e)); });
  }
  std::optional<TimePoint> session_deadline() const override { return session_ ? session_->next_deadline() : std::nullopt; }
  void session_on_deadline(TimePoint now) override {
    session_->on_deadline(now);
    if (link_) link_->kick(now);
  }
  void flush(TimePoint now) {
    session_->flush(now);
    link_->kick(now);
  }
  virtual void on_engine_event(const typename Client::Event& e, TimePoint now) = 0;
  // The link went down: forget what was on its way (the scheduler then fails the command).
  virtual void on_link_reset() {}
  virtual const char* link_up_note() const = 0;

  std::unique_ptr<Client> client_;
  std::unique_ptr<Session> session_;  // after client_: destroyed first

 private:
  void on_session_event(typename Session::Event&& e) {
    pending_.push_back(std::move(e));
    if (draining_) return;
    draining_ = true;
    drain(clock_now());
    draining_ = false;
  }
  void drain(TimePoint now) {
    while (!pending_.empty()) {
      typename Session::Event e = std::move(pending_.front());
      pending_.pop_front();
      std::visit(
          [&](auto&& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, link::events::LinkUp>) {
              log(Level::debug, name() + ": notifications on, " + link_up_note());
            } else if constexpr (std::is_same_v<T, link::events::LinkDown>) {
              log(Level::warning, name() + ": link down: " + x.why.message());
              on_link_reset();
              link_lost(now);
            } else if constexpr (std::is_same_v<T, link::events::TransportError>) {
              log(Level::warning, name() + ": transport error: " + x.error.message());
              link_->disconnect(now);
            } else if constexpr (std::is_same_v<T, link::events::InputRefused>) {
              log(Level::debug, name() + ": input refused: " + x.error.message());
            } else {
              on_engine_event(x, now);
            }
          },
          std::move(e));
    }
  }
  std::deque<typename Session::Event> pending_;
  bool draining_ = false;
};

// Makes the device for one configuration entry (disabled with a reason when it cannot run).
// `index` makes emulators of one model differ (serial + index) unless a serial is configured.
std::unique_ptr<ServedDevice> make_device(gateway::DeviceEntry entry, std::size_t index, Publisher& pub,
                                          const gateway::MqttConfig& mqtt, BluezAccess* bluez);

class BluettiDevice final : public EngineDevice<bluetti::Client> {
 public:
  BluettiDevice(gateway::DeviceEntry entry, std::size_t index, Publisher& pub, const gateway::MqttConfig& mqtt, BluezAccess* bluez);
  ~BluettiDevice() override;

  std::string name() const override;
  void retract() override;
  void republish() override;
  bool on_message(const std::string& topic, ByteView payload, TimePoint now) override;
  const std::optional<gateway::DeviceIdentity>& identity() const noexcept { return identity_; }
  // The model table in use (configured or detected; nullptr until then).
  const bluetti::models::Model* model() const noexcept { return model_; }
  const std::vector<gateway::Entity>& entities() const noexcept { return entities_; }
  const gateway::RefreshPlan& refresh_plan() const noexcept { return plan_; }
  const gateway::PackPlan& pack_plan() const noexcept { return packs_; }
  // Whether the last poll read every block (else only the live ones).
  bool last_poll_full() const noexcept { return last_poll_full_; }
  // The emulated unit (nullptr for a real device).
  bluetti::Device* emulator() noexcept { return emulator_; }
  // Hooks for `blecrypt bench gateway`: called when the first register answer of a poll arrives
  // and when its last publish is out.
  void set_refresh_probe(std::function<void(bool done)> probe) { probe_ = std::move(probe); }

 private:
  void begin_poll(TimePoint now) override;
  void begin_write(const gateway::Command& c, TimePoint now) override;
  void begin_pack_select(unsigned pack, TimePoint now) override;
  void begin_pack_read(unsigned pack, TimePoint now) override;
  std::string availability_topic() const override;
  bool identified() const override { return identity_.has_value(); }
  void on_engine_event(const bluetti::Client::Event& e, TimePoint now) override;
  void on_link_reset() override;
  const char* link_up_note() const override { return "handshake"; }

  void on_completion(bluetti::Completion&& c, TimePoint now);
  void on_detection(bluetti::Completion&& c, TimePoint now);
  void use_model(const bluetti::models::Model& m, TimePoint now);
  void finish_pack_read(TimePoint now, bool ok);
  void set_identity(std::uint64_t serial);
  void finish_poll(TimePoint now, bool ok);
  void finish_write(TimePoint now, std::error_code error, const std::string& value);
  void publish_identity();
  void request_sent(TimePoint now);
  void send_pending(TimePoint now, std::size_t before);

  std::unique_ptr<bluetti::Requests> requests_;
  bluetti::Device* emulator_ = nullptr;
  std::string advertised_;  // the advertised name, for detection ("" when unknown)

  const bluetti::models::Model* model_ = nullptr;
  std::vector<gateway::Entity> entities_;
  gateway::RefreshPlan plan_;
  unsigned polls_since_full_ = 0;
  bool full_due_ = true, last_poll_full_ = false;
  std::optional<gateway::DeviceIdentity> identity_;
  std::optional<bluetti::RequestId> detect_id_;
  bool detect_v1_ = false;  // the IoT V1 type registers are being read
  bool in_event_ = false;   // inside on_engine_event: it sends what was queued
  bluetti::RegisterValues detect_regs_;
  enum class Op { none, poll, write, pack_select, pack_read } op_ = Op::none;
  gateway::PackPlan packs_;
  unsigned pack_asked_ = 0;
  std::vector<std::string> last_pack_;  // per pack (index pack - 1): the last pack_details payload
  std::set<bluetti::RequestId> op_ids_;
  bool op_failed_ = false;
  bluetti::RegisterValues regs_;
  std::optional<bluetti::RequestId> write_id_;
  std::vector<std::string> state_topics_;  // per entity, built once the identity is known
  std::vector<std::string> last_state_;    // per entity ("" = nothing published yet)
  std::function<void(bool)> probe_;
};

// A SESAME lock. Its key file holds the lock's share key (the ssm:// URI of the app's QR code: the
// UUID, model and 16-byte secret); the gateway logs in with it, publishes the lock state, battery
// and the last history event, and runs LOCK / UNLOCK from sesame/<UUID>/set.
class SesameDevice final : public EngineDevice<sesame::Client> {
 public:
  SesameDevice(gateway::DeviceEntry entry, std::size_t index, Publisher& pub, const gateway::MqttConfig& mqtt, BluezAccess* bluez);
  ~SesameDevice() override;

  std::string name() const override;
  void retract() override;
  void republish() override;
  bool on_message(const std::string& topic, ByteView payload, TimePoint now) override;
  const gateway::sesame_topics::Lock& lock() const noexcept { return lock_; }
  sesame::Device* emulator() noexcept { return emulator_; }

 private:
  void begin_poll(TimePoint now) override;
  void begin_write(const gateway::Command& c, TimePoint now) override;
  std::string availability_topic() const override { return gateway::sesame_topics::availability_topic(lock_); }
  bool identified() const override { return !lock_.uuid.empty(); }
  void on_engine_event(const sesame::Client::Event& e, TimePoint now) override { on_lock_event(e, now); }
  void on_link_reset() override;
  const char* link_up_note() const override { return "waiting for the lock's INITIAL"; }

  void on_lock_event(const sesame::Client::Event& e, TimePoint now);
  void finish_write(TimePoint now, std::error_code error);
  void publish_retained(const std::string& topic, std::string payload);
  void publish_status(const sesame::MechStatus& s);

  sesame::Device* emulator_ = nullptr;
  gateway::sesame_topics::Lock lock_;
  std::optional<gateway::sesame_topics::Command> last_command_;
  std::optional<std::uint8_t> write_item_;  // lock / unlock in flight
  bool polling_ = false;
  bool history_read_ = false;
  std::map<std::string, std::string> retained_;  // topic -> last payload, published again on reconnect
  bool discovery_sent_ = false;
};

}  // namespace blecrypt::cli::gw
