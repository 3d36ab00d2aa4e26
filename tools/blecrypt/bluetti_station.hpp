// One BLUETTI connection for the CLI verbs that talk to a unit (bluetti.cpp: read, write,
// logger, demo; bluetti_models.cpp: detect, dump): bluetti::Client with the request layer
// (bluetti::Requests) on top, driven by link::Session over the GATT link open_link() gives (BlueZ
// for a device ADDRESS, or a link::MemoryLink hosting the emulator for --emulator MODEL), with
// the device key, backend and licence options they share.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/requests.hpp"
#include "blecrypt/engine.hpp"
#include "blecrypt/link/session.hpp"
#include "cli.hpp"
#include "link_cli.hpp"

namespace blecrypt::cli::bluetti_cli {

using namespace blecrypt::bluetti;

// The options every verb that talks to one unit takes.
struct StationOptions {
  LinkCli link;                 // ADDRESS | --emulator MODEL, --adapter, --timeout, --mtu
  std::string device_key_hex;   // --device-key
  std::string backend;          // --backend
  std::string licence;          // --licence
};

inline void add_station_options(CLI::App* sub, StationOptions& o) {
  add_link_options(*sub, o.link);
  sub->add_option("--device-key", o.device_key_hex,
                  "Device verification key, 128 hex digits X||Y (default: $BLECRYPT_BLUETTI_DEVICE_KEY, else K2; "
                  "with --emulator the emulator's test key)");
  sub->add_option("--licence", o.licence, "Licence file: the IoT serials this client may talk to (default: ./bluetti_device_licence.csv if it exists)");
  sub->add_option("--backend", o.backend, "Crypto backend: openssl or mbedtls");
}

inline const crypto::Backend& pick_backend(const std::string& name) {
  if (name.empty()) return crypto::default_backend();
  const auto* b = crypto::backend_by_name(name);
  if (!b) throw UserError("unknown backend '" + name + "' (openssl, mbedtls)");
  return *b;
}

// The licence of the official module's status 3 -> 4 step (bluetti_crypt.hpp, docs/bluetti.md):
// --licence PATH, else ./bluetti_device_licence.csv when it exists, else none (any unit).
// Read once before connecting (bounded: Licence::load), so a bad file is a usage error.
struct LicenceCheck {
  std::optional<Licence> licence;
  std::string path;
};

inline LicenceCheck load_licence(const std::string& given_path) {
  LicenceCheck c;
  c.path = given_path.empty() ? kLicenceFileName : given_path;
  if (given_path.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::symlink_status(c.path, ec))) return {};
  }
  std::string why;
  auto l = Licence::load(c.path, &why);
  if (!l) throw UserError(why.empty() ? "licence file '" + c.path + "': " + l.error().message() : why);
  c.licence = std::move(*l);
  return c;
}

// The emulated power station on the memory link (--emulator); its own events are not shown.
using EmulatedStation = OwnedEngineIo<Device>;

// A SIGINT/SIGTERM arrived while waiting (logger only).
struct Stopped {};

// The unit's IoT serial is not in the licence: retrying cannot help (the logger gives up).
struct NotLicensed : DeviceError {
  using DeviceError::DeviceError;
};

// One BLUETTI connection: client + request layer + session runner over the link of open_link().
class Station {
 public:
  Station(const StationOptions& o, std::ostream* progress)
      : o_(o),
        progress_(progress),
        backend_(pick_backend(o.backend)),
        given_key_(given_key(o)),
        link_(open_link(o.link, kGattProfile, [this](const std::string& model) { return make_emulator(model); })),
        client_(client_config(), crypto::system_rng()),
        session_(client_, link_->link(), kGattProfile),
        requests_(client_) {}

  OpenLink& link() { return *link_; }
  link::Session<Client>& session() { return session_; }
  Requests& requests() { return requests_; }
  TimePoint now() const { return link_->now(); }
  const crypto::Backend& backend() const { return backend_; }
  EmulatedStation* emulator() { return emu_; }
  std::uint64_t iot_serial() const { return iot_serial_; }
  // Up: connected and the handshake done, no link loss seen since.
  bool ready() const { return client_.established() && !down_; }
  std::string describe() const { return link_->link().describe(); }
  // Why the link is not ready: the link loss, else the handshake state.
  std::string loss_reason() const {
    if (down_) return down_->message();
    return std::string("handshake state ") + client_state_name(client_.state());
  }

  // Connects, runs the handshake, reads the IoT serial and checks it against the licence.
  void connect(const LicenceCheck& licence) {
    down_.reset();
    transport_error_.clear();
    link_up_ = false;
    handshake_step_ = "waiting for the CHALLENGE";
    link_->clear_link_error();
    link_->start();
    const bool ok = link_->run_until(session_, [&] {
      drain();
      return client_.established() || client_.state() == ClientState::failed || down_ || transport_error_;
    });
    if (!ok || !client_.established()) {
      if (link_->stop_requested()) throw Stopped{};
      const std::string where = link_up_ ? "BLUETTI handshake with " + describe() : "connecting to " + describe();
      if (down_ && !link_up_) throw_link_error(*down_, where);
      if (down_) throw DeviceError(where + ": " + down_->message() + " (" + handshake_step_ + ")");
      if (client_.state() == ClientState::failed)
        throw DeviceError(where + " failed: " + (client_.failure() ? client_.failure().message() : std::string("no reason")));
      if (transport_error_) throw DeviceError(where + ": " + transport_error_.message());
      throw DeviceError(link_->why_not(where) +
                        (link_up_ ? std::string(" (") + client_state_name(client_.state()) + ")" : ""));
    }
    // The IoT serial read of the official integration's status 3.
    auto r = requests_.read_registers(kIotSerialRegister, 4, now());
    if (!r) throw DeviceError(r.error().message());
    auto serial = std::get<requests::RegistersRead>(wait(*r, "reading the IoT serial (registers 11006-11009)"));
    if (serial.values.size() != 4) throw DeviceError("reading the IoT serial: expected 4 registers");
    iot_serial_ = decode_serial(serial.values.data());
    if (progress_) *progress_ << "  IoT serial " << iot_serial_ << "\n";
    if (licence.licence && !licence.licence->allows(iot_serial_))
      throw NotLicensed("IoT serial " + std::to_string(iot_serial_) + " of " + describe() + " is not listed in the licence file '" +
                        licence.path + "' (list the IoT serial read from registers 11006-11009, not the device serial)");
  }

  void disconnect() {
    link_->stop();
    drain();
  }

  // Runs until the job `id` completes; its completion. Throws DeviceError naming `what`, also
  // when the job failed.
  Completion wait(RequestId id, const std::string& what) {
    Completion done = finish(id, what);
    if (const auto* f = std::get_if<requests::Failed>(&done)) {
      std::string why = what + ": " + (down_ ? down_->message() : f->error.message());
      if (f->exception) why += " (Modbus exception code " + std::to_string(*f->exception) + ")";
      throw DeviceError(why);
    }
    return done;
  }

  // FC3 read into `regs`; false (and nothing added) when the unit answers a Modbus exception (a
  // block this unit does not have). Other failures throw DeviceError.
  bool try_read(std::uint16_t address, std::uint16_t count, RegisterValues& regs) {
    auto id = requests_.read_registers(address, count, now());
    if (!id) throw UserError(id.error().message());
    Completion done = finish(*id, "reading registers " + std::to_string(address) + ".." + std::to_string(address + count - 1));
    if (const auto* r = std::get_if<requests::RegistersRead>(&done)) {
      for (std::size_t i = 0; i < r->values.size(); ++i) regs[static_cast<std::uint16_t>(address + i)] = r->values[i];
      return true;
    }
    const auto& f = std::get<requests::Failed>(done);
    if (f.exception && !down_) return false;
    throw DeviceError("reading registers " + std::to_string(address) + ": " + (down_ ? down_->message() : f.error.message()));
  }

  // The name the unit advertises: the emulator's MODEL<serial>, else the Name BlueZ has for it
  // ("" when it has none).
  std::string advertised_name() const {
    if (emu_) return emu_->engine().station().model() + std::to_string(emu_->engine().station().serial());
    return link_->advertised_name();
  }

  Telemetry telemetry() {
    return std::get<requests::TelemetryRead>(wait(requests_.read_telemetry(now()), "reading telemetry")).telemetry;
  }

  std::vector<std::uint16_t> read_registers(std::uint16_t address, std::uint16_t count) {
    auto id = requests_.read_registers(address, count, now());
    if (!id) throw UserError(id.error().message());
    return std::get<requests::RegistersRead>(
               wait(*id, "reading registers " + std::to_string(address) + ".." + std::to_string(address + count - 1)))
        .values;
  }

  // Real time passes with the link serviced; ends early on a stop signal, and on a link loss when
  // `wake_on_loss`.
  void idle(Duration d, bool wake_on_loss = true) {
    link_->idle(session_, d, [&] {
      drain();
      return wake_on_loss && down_.has_value();
    });
  }

 private:
  // Runs until the job `id` completes (whatever the outcome); throws DeviceError naming `what`
  // when it does not (link lost, timeout) and Stopped on a stop signal.
  Completion finish(RequestId id, const std::string& what) {
    std::optional<Completion> done;
    link_->run_until(session_, [&] {
      drain();
      while (auto c = requests_.poll_completion()) {
        const RequestId cid = std::visit([](const auto& x) { return x.id; }, *c);
        if (cid == id) done = std::move(*c);
      }
      return done.has_value() || down_.has_value();
    });
    if (!done) {
      if (link_->stop_requested()) throw Stopped{};
      if (down_) throw DeviceError(what + ": " + down_->message());
      throw DeviceError(link_->why_not(what));
    }
    return std::move(*done);
  }

  std::unique_ptr<EngineIo> make_emulator(const std::string& model) {
    auto station = PowerStation::create(model);
    if (!station) {
      std::string list;
      for (auto& m : PowerStation::models()) list += (list.empty() ? "" : ", ") + m;
      throw UserError("unknown emulator model '" + model + "' (" + list + ")");
    }
    auto cfg = DeviceConfig::make(backend_, {});
    if (!cfg) throw UserError("emulator: " + cfg.error().message());
    auto emu = std::make_unique<EmulatedStation>(Device(std::move(*cfg), std::move(*station), crypto::system_rng()));
    emu_ = emu.get();
    return emu;
  }

  // Device verification key: --device-key; else the emulator's own key (--emulator), else
  // BLECRYPT_BLUETTI_DEVICE_KEY, else K2 (what real units sign with). Checked before the link
  // opens: a malformed key is a usage error whatever the state of Bluetooth.
  static Bytes given_key(const StationOptions& o) {
    Bytes k = parse_key(o);
    if (!k.empty() && !ClientConfig::make(crypto::default_backend(), k))
      throw UserError("the device verification key is not a valid P-256 public key");
    return k;
  }
  static Bytes parse_key(const StationOptions& o) {
    if (!o.device_key_hex.empty()) {
      auto k = from_hex(o.device_key_hex);
      if (!k || k->size() != 64) throw UserError("--device-key must be 128 hex digits (raw X||Y of a P-256 key)");
      return std::move(*k);
    }
    if (!o.link.emulator.empty()) return {};
    if (const char* env = std::getenv(kDeviceKeyEnv); env != nullptr && *env != '\0') {
      auto k = from_hex(env);
      if (!k || k->size() != 64) throw UserError(std::string(kDeviceKeyEnv) + " must be 128 hex digits (raw X||Y of a P-256 key)");
      return std::move(*k);
    }
    return {};
  }

  ClientConfig client_config() const {
    Bytes key = given_key_;
    if (key.empty() && emu_ != nullptr) key.assign(emu_->engine().verify_key().begin(), emu_->engine().verify_key().end());
    auto c = ClientConfig::make(backend_, key);  // empty: K2
    if (!c) throw UserError("the device verification key is not a valid P-256 public key");
    // One Modbus command never outlasts --timeout (the default 5 s is the official integration's).
    c->request_timeout = std::min<Duration>(c->request_timeout, std::chrono::seconds(o_.link.timeout));
    return std::move(*c);
  }

  // Hands every session event on: link state to this object, client events to the request layer.
  void drain() {
    const TimePoint t = now();
    while (auto e = session_.poll_event()) {
      std::visit(Overload{[&](const link::events::LinkUp&) { link_up_ = true; },
                          [&](const link::events::LinkDown& d) {
                            down_ = d.why;
                            link_->note_link_error(d.why);
                            requests_.on_link_down();
                          },
                          [&](const link::events::TransportError& te) { transport_error_ = te.error; },
                          [&](const link::events::InputRefused&) {},  // the client reports it as an event too
                          [&](const Client::Event& ce) {
                            note_step(ce);
                            report(ce);
                            (void)requests_.on_event(ce, t);
                          }},
                 *e);
    }
    session_.flush(t);
  }

  void note_step(const Client::Event& e) {
    if (std::holds_alternative<events::ChallengeAnswered>(e)) handshake_step_ = "after answering the CHALLENGE";
    if (std::holds_alternative<events::ChallengeAccepted>(e)) handshake_step_ = "after CHALLENGE_ACCEPTED";
    if (std::holds_alternative<events::DeviceKeyVerified>(e)) handshake_step_ = "after sending CLIENT_PUBKEY";
  }

  void report(const Client::Event& e) {
    if (!progress_) return;
    std::visit(Overload{[&](const events::ChallengeAnswered&) { *progress_ << "  CHALLENGE answered\n"; },
                        [&](const events::ChallengeAccepted&) { *progress_ << "  CHALLENGE_ACCEPTED\n"; },
                        [&](const events::DeviceKeyVerified&) {
                          *progress_ << "  DEVICE_PUBKEY signature verified, CLIENT_PUBKEY sent\n";
                        },
                        [&](const events::Established&) { *progress_ << "  PUBKEY_ACCEPTED: session up (AES-256-CBC)\n"; },
                        [&](const events::Failed& f) { *progress_ << "  handshake failed: " << f.error.message() << "\n"; },
                        [&](const auto&) {}},
               e);
  }

  const StationOptions& o_;
  std::ostream* progress_;
  const crypto::Backend& backend_;
  Bytes given_key_;                 // --device-key / the environment; empty: the default
  EmulatedStation* emu_ = nullptr;  // set by make_emulator() while link_ is built
  std::unique_ptr<OpenLink> link_;
  Client client_;
  link::Session<Client> session_;
  Requests requests_;
  std::optional<std::error_code> down_;  // the link dropped (or never came up) since connect()
  std::error_code transport_error_;
  bool link_up_ = false;                 // notifications were enabled in this connect()
  std::string handshake_step_;           // how far the handshake got (for a link lost in it)
  std::uint64_t iot_serial_ = 0;
};

}  // namespace blecrypt::cli::bluetti_cli
