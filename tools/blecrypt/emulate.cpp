// `blecrypt emulate bluetti|sesame [--model M] [--adapter NAME]`: an emulator as a real BLE
// peripheral through BlueZ. We export a GATT application (ObjectManager + GattService1 +
// GattCharacteristic1 objects on our bus connection) and an LEAdvertisement1, and register them
// with GattManager1.RegisterApplication / LEAdvertisingManager1.RegisterAdvertisement (BlueZ 5.66
// doc/gatt-api.txt "GATT Manager hierarchy", doc/advertising-api.txt). Centrals' writes reach
// engine.feed; the engine's messages go out as PropertiesChanged(Value) notifications of at most
// MTU - 3 bytes while a central has notifications on; StartNotify is the engine's link up.
//
// The engine is reached through EngineIo only, so protocol renames elsewhere touch the two
// factories below and nothing else.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "blecrypt/engine.hpp"
#include "cli.hpp"
#ifdef BLECRYPT_HAVE_BLUEZ
#include <sdbus-c++/sdbus-c++.h>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/link/bluez/event_loop.hpp"
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#endif

namespace blecrypt::cli {
namespace {

struct EmulateOptions {
  std::string kind;  // bluetti | sesame
  std::string model;
  std::string adapter;
};

#ifdef BLECRYPT_HAVE_BLUEZ
constexpr const char* kCharIface = "org.bluez.GattCharacteristic1";

// What the emulated unit looks like on air and in GATT.
struct Peripheral {
  std::unique_ptr<EngineIo> engine;
  std::string description;  // "BLUETTI AC180"
  std::string name;         // advertised local name
  std::map<std::uint16_t, Bytes> manufacturer_data;
  std::string service, write_char, notify_char;
};

// ---- the two factories (the only protocol-specific code) ----

// The emulator as the GATT server hosts it: its bytes through EngineIo, its events printed.
template <Engine E, typename OnEvent>
class LoggingIo final : public EngineIo {
 public:
  LoggingIo(E engine, OnEvent on_event) : e_(std::move(engine)), on_event_(on_event) {}
  void on_link_up(TimePoint now) override {
    e_.reset();
    e_.on_link_up(now);
  }
  void on_link_down() override { e_.on_link_down(); }
  Result<void> feed(ByteView in, TimePoint now) override { return e_.feed(in, now); }
  std::optional<Bytes> poll_transmit() override {
    while (auto e = e_.poll_event()) on_event_(*e);
    return e_.poll_transmit();
  }
  std::optional<TimePoint> next_deadline() const override { return e_.next_deadline(); }
  void on_deadline(TimePoint now) override { e_.on_deadline(now); }
  const E& engine() const { return e_; }

 private:
  E e_;
  OnEvent on_event_;
};

auto make_bluetti_io(bluetti::PowerStation station, crypto::Rng& rng) {
  auto log = [](const bluetti::Device::Event& e) {
    if (std::holds_alternative<bluetti::events::Established>(e)) std::cerr << "blecrypt emulate: session established\n";
  };
  return std::make_unique<LoggingIo<bluetti::Device, decltype(log)>>(bluetti::Device(bluetti::DeviceConfig{}, std::move(station), rng), log);
}

auto make_sesame_io(sesame::DeviceConfig cfg, crypto::Rng& rng) {
  auto log = [](const sesame::Device::Event& e) {
    if (std::holds_alternative<sesame::events::ClientLoggedIn>(e)) std::cerr << "blecrypt emulate: central logged in\n";
    // Server role (issue 13): one line per operation, naming the sender (Remote, Touch card, app tag).
    if (const auto* op = std::get_if<sesame::events::Operated>(&e))
      std::cerr << "blecrypt emulate: " << sesame::item_name(op->item) << " by \""
                << sesame::escape_control(op->tag.describe()) << "\"\n";
    if (const auto* d = std::get_if<sesame::events::DoorChanged>(&e))
      std::cerr << "blecrypt emulate: door " << (d->open ? "opened" : "closed") << "\n";
  };
  return std::make_unique<LoggingIo<sesame::Device, decltype(log)>>(sesame::Device(std::move(cfg), rng), log);
}

std::string base64(ByteView b) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < b.size(); i += 3) {
    const std::uint32_t n = (b[i] << 16) | ((i + 1 < b.size() ? b[i + 1] : 0) << 8) | (i + 2 < b.size() ? b[i + 2] : 0);
    out += a[(n >> 18) & 63];
    out += a[(n >> 12) & 63];
    out += i + 1 < b.size() ? a[(n >> 6) & 63] : '=';
    out += i + 2 < b.size() ? a[n & 63] : '=';
  }
  return out;
}

Peripheral make_peripheral(const EmulateOptions& o) {
  Peripheral p;
  auto& rng = crypto::system_rng();
  if (o.kind == "bluetti") {
    const std::string model = o.model.empty() ? "AC180" : o.model;
    auto station = bluetti::PowerStation::create(model);
    if (!station) {
      std::string known;
      for (const auto& m : bluetti::PowerStation::models()) known += (known.empty() ? "" : ", ") + m;
      throw UserError("unknown BLUETTI model '" + model + "' (emulated: " + known + ")");
    }
    // docs/bluetti.md section 2: the name is model + serial; manufacturer data "BLUETTF" marks
    // the encrypted link (company 0x4C42, as captured units advertise it).
    p.name = station->model() + std::to_string(station->serial());
    p.description = "BLUETTI " + station->model();
    p.manufacturer_data[0x4C42] = Bytes{'B', 'L', 'U', 'E', 'T', 'T', 'F'};
    p.service = std::string(bluetti::kGattProfile.service);
    p.notify_char = std::string(bluetti::kGattProfile.notify_characteristic);
    p.write_char = std::string(bluetti::kGattProfile.write_characteristic);
    p.engine = make_bluetti_io(std::move(*station), rng);
  } else {
    sesame::DeviceConfig cfg;
    const std::string m = o.model.empty() ? "5" : o.model;
    if (m == "5") cfg.model = sesame::model::sesame5;
    else if (m == "5pro") cfg.model = sesame::model::sesame5_pro;
    else if (m == "5us") cfg.model = sesame::model::sesame5_us;
    else throw UserError("unknown SESAME model '" + m + "' (emulated: 5, 5pro, 5us)");
    rng.fill(cfg.uuid);
    auto io = make_sesame_io(std::move(cfg), rng);
    // Spec section 3: manufacturer data (company 0x055A) and, in the scan response, the first 22
    // characters of base64(UUID) as the name; service UUID 0xFD81.
    const auto adv = io->engine().advertisement();
    const Bytes md = sesame::build_manufacturer_data(adv);
    p.manufacturer_data[sesame::kCompanyId] = Bytes(md.begin() + 2, md.end());
    p.name = base64(adv.uuid).substr(0, 22);
    p.description = sesame::model_name(adv.model);
    p.service = std::string(sesame::kGattProfile.service);
    p.write_char = std::string(sesame::kGattProfile.write_characteristic);
    p.notify_char = std::string(sesame::kGattProfile.notify_characteristic);
    p.engine = std::move(io);
  }
  return p;
}

// ---- the GATT application ----

class Application {
 public:
  Application(sdbus::IConnection& conn, Peripheral& p, link::bluez::EventLoop& loop)
      : p_(p), loop_(loop) {
    root_ = sdbus::createObject(conn, kRoot);
    root_->addObjectManager();
    root_->finishRegistration();

    service_ = sdbus::createObject(conn, std::string(kRoot) + "/service0");
    service_->registerProperty("UUID").onInterface("org.bluez.GattService1").withGetter([this] { return p_.service; });
    service_->registerProperty("Primary").onInterface("org.bluez.GattService1").withGetter([] { return true; });
    service_->finishRegistration();

    const sdbus::ObjectPath service_path(std::string(kRoot) + "/service0");
    notify_ = sdbus::createObject(conn, std::string(kRoot) + "/service0/char0");
    notify_->registerProperty("UUID").onInterface(kCharIface).withGetter([this] { return p_.notify_char; });
    notify_->registerProperty("Service").onInterface(kCharIface).withGetter([service_path] { return service_path; });
    notify_->registerProperty("Flags").onInterface(kCharIface).withGetter([] { return std::vector<std::string>{"notify"}; });
    notify_->registerProperty("Value").onInterface(kCharIface).withGetter([this] { return value_; });
    notify_->registerProperty("Notifying").onInterface(kCharIface).withGetter([this] { return notifying_; });
    notify_->registerMethod("ReadValue").onInterface(kCharIface).implementedAs(
        [this](const std::map<std::string, sdbus::Variant>&) { return value_; });
    notify_->registerMethod("StartNotify").onInterface(kCharIface).implementedAs([this] {
      if (notifying_) return;
      notifying_ = true;
      notify_->emitPropertiesChangedSignal(kCharIface, {"Notifying"});
      std::cerr << "blecrypt emulate: a central subscribed\n";
      p_.engine->on_link_up(loop_.now());
      loop_.after(Duration::zero(), [this] { flush(); });  // after the StartNotify reply
    });
    notify_->registerMethod("StopNotify").onInterface(kCharIface).implementedAs([this] {
      if (!notifying_) return;
      notifying_ = false;
      notify_->emitPropertiesChangedSignal(kCharIface, {"Notifying"});
      std::cerr << "blecrypt emulate: the central unsubscribed\n";
      p_.engine->on_link_down();
      while (p_.engine->poll_transmit()) {
      }
    });
    notify_->finishRegistration();

    write_ = sdbus::createObject(conn, std::string(kRoot) + "/service0/char1");
    write_->registerProperty("UUID").onInterface(kCharIface).withGetter([this] { return p_.write_char; });
    write_->registerProperty("Service").onInterface(kCharIface).withGetter([service_path] { return service_path; });
    write_->registerProperty("Flags").onInterface(kCharIface).withGetter(
        [] { return std::vector<std::string>{"write-without-response", "write"}; });
    write_->registerMethod("ReadValue").onInterface(kCharIface).implementedAs(
        [](const std::map<std::string, sdbus::Variant>&) { return std::vector<std::uint8_t>{}; });
    write_->registerMethod("WriteValue").onInterface(kCharIface).implementedAs(
        [this](const std::vector<std::uint8_t>& value, const std::map<std::string, sdbus::Variant>& options) {
          if (auto it = options.find("mtu"); it != options.end()) {
            try {
              const auto m = it->second.get<std::uint16_t>();
              if (m >= link::kDefaultAttMtu) mtu_ = std::min<std::size_t>(m, link::kMaxAttMtu);
            } catch (const sdbus::Error&) {
            }
          }
          if (!notifying_) return;  // the engine runs while a central listens
          if (auto r = p_.engine->feed(value, loop_.now()); !r)
            std::cerr << "blecrypt emulate: refused a write: " << r.error().message() << "\n";
          loop_.after(Duration::zero(), [this] { flush(); });
        });
    write_->finishRegistration();

    advert_ = sdbus::createObject(conn, std::string(kRoot) + "/advert0");
    const char* adv = "org.bluez.LEAdvertisement1";
    advert_->registerProperty("Type").onInterface(adv).withGetter([] { return std::string("peripheral"); });
    advert_->registerProperty("LocalName").onInterface(adv).withGetter([this] { return p_.name; });
    advert_->registerProperty("ServiceUUIDs").onInterface(adv).withGetter([this] { return std::vector<std::string>{p_.service}; });
    advert_->registerProperty("ManufacturerData").onInterface(adv).withGetter([this] {
      std::map<std::uint16_t, sdbus::Variant> md;
      for (const auto& [company, data] : p_.manufacturer_data) md.emplace(company, sdbus::Variant(data));
      return md;
    });
    advert_->registerMethod("Release").onInterface(adv).implementedAs([] {});
    advert_->finishRegistration();
  }

  // Sends the engine's messages as notifications of at most MTU - 3 bytes, and keeps its deadline.
  void flush() {
    while (auto m = p_.engine->poll_transmit()) {
      if (!notifying_) continue;
      const std::size_t chunk = link::att_payload(mtu_);
      for (std::size_t off = 0; off < m->size(); off += chunk) {
        value_.assign(m->begin() + static_cast<std::ptrdiff_t>(off),
                      m->begin() + static_cast<std::ptrdiff_t>(std::min(m->size(), off + chunk)));
        notify_->emitPropertiesChangedSignal(kCharIface, {"Value"});
      }
    }
    if (deadline_timer_) loop_.cancel(*deadline_timer_);
    deadline_timer_.reset();
    if (auto d = p_.engine->next_deadline()) {
      deadline_timer_ = loop_.at(*d, [this] {
        deadline_timer_.reset();
        p_.engine->on_deadline(loop_.now());
        flush();
      });
    }
  }

  static constexpr const char* kRoot = "/org/blecrypt/emulator";

 private:
  Peripheral& p_;
  link::bluez::EventLoop& loop_;
  std::unique_ptr<sdbus::IObject> root_, service_, notify_, write_, advert_;
  std::vector<std::uint8_t> value_;
  bool notifying_ = false;
  std::size_t mtu_ = link::kDefaultAttMtu;
  std::optional<link::bluez::EventLoop::Id> deadline_timer_;
};

std::string pick_adapter(sdbus::IConnection& conn, const std::string& wanted) {
  auto root = sdbus::createProxy(conn, "org.bluez", "/");
  std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>> objects;
  try {
    root->callMethod("GetManagedObjects").onInterface("org.freedesktop.DBus.ObjectManager").storeResultsTo(objects);
  } catch (const sdbus::Error& e) {
    if (e.getName() == "org.freedesktop.DBus.Error.AccessDenied")
      throw BluetoothUnavailable("emulate: " + std::error_code(link::Errc::permission_denied).message());
    throw BluetoothUnavailable("emulate: " + std::error_code(link::Errc::bluetooth_unavailable).message());
  }
  std::string off;
  for (const auto& [path, ifs] : objects) {
    auto a = ifs.find("org.bluez.Adapter1");
    if (a == ifs.end()) continue;
    const std::string p = path;
    const std::string name = p.substr(p.rfind('/') + 1);
    if (!wanted.empty() && name != wanted) continue;
    bool powered = false;
    try {
      powered = a->second.at("Powered").get<bool>();
    } catch (const std::exception&) {
    }
    if (!powered) {
      off = name;
      continue;
    }
    if (ifs.count("org.bluez.GattManager1") == 0 || ifs.count("org.bluez.LEAdvertisingManager1") == 0)
      throw BluetoothUnavailable("emulate: adapter " + name + " offers no GattManager1/LEAdvertisingManager1 (BlueZ too old or LE disabled)");
    return p;
  }
  if (!off.empty()) throw BluetoothUnavailable("emulate: " + std::error_code(link::Errc::adapter_off).message());
  throw BluetoothUnavailable("emulate: " + std::error_code(link::Errc::adapter_not_found).message());
}

void run_emulate(const EmulateOptions& o) {
  Peripheral p = make_peripheral(o);
  std::unique_ptr<sdbus::IConnection> conn;
  try {
    conn = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error&) {
    throw BluetoothUnavailable("emulate: " + std::error_code(link::Errc::bluetooth_unavailable).message());
  }
  const std::string adapter_path = pick_adapter(*conn, o.adapter);
  link::bluez::EventLoop loop;
  link::bluez::EventLoop::Source src;
  src.prepare = [&] {
    link::bluez::EventLoop::Wait w;
    const auto pd = conn->getEventLoopPollData();
    w.fd = pd.fd;
    w.events = pd.events;
    if (pd.timeout_usec != UINT64_MAX)
      w.deadline = TimePoint(std::chrono::duration_cast<Duration>(std::chrono::microseconds(pd.timeout_usec)));
    return w;
  };
  src.dispatch = [&](short, TimePoint) {
    while (conn->processPendingRequest()) {
    }
  };
  loop.add_source(std::move(src));

  // SIGINT/SIGTERM end the emulation through the loop (signalfd: no handler, no race).
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  bool stop = false;
  if (sfd >= 0) loop.watch(sfd, POLLIN, [&](short) { stop = true; });

  Application app(*conn, p, loop);
  auto adapter = sdbus::createProxy(*conn, "org.bluez", adapter_path);
  // Both registrations call back into our objects (GetManagedObjects, GetAll): asynchronous,
  // with the loop running, or they would deadlock.
  int pending = 2;
  std::string failure;
  auto done = [&](const char* what) {
    return [&, what](const sdbus::Error* e) {
      --pending;
      if (e && failure.empty()) failure = std::string(what) + ": " + e->getName() + ": " + e->getMessage();
    };
  };
  auto c1 = adapter->callMethodAsync("RegisterApplication").onInterface("org.bluez.GattManager1")
                .withArguments(sdbus::ObjectPath(Application::kRoot), std::map<std::string, sdbus::Variant>{})
                .uponReplyInvoke(done("RegisterApplication"));
  auto c2 = adapter->callMethodAsync("RegisterAdvertisement").onInterface("org.bluez.LEAdvertisingManager1")
                .withArguments(sdbus::ObjectPath(std::string(Application::kRoot) + "/advert0"),
                               std::map<std::string, sdbus::Variant>{})
                .uponReplyInvoke(done("RegisterAdvertisement"));
  if (!loop.run_until([&] { return pending == 0 || stop; }, loop.now() + std::chrono::seconds(15)))
    throw DeviceError("emulate: BlueZ did not answer the registrations");
  if (!failure.empty()) throw DeviceError("emulate: " + failure);
  std::cout << "emulating " << p.description << " as '" << p.name << "' on "
            << adapter_path.substr(adapter_path.rfind('/') + 1) << " (Ctrl-C to stop)" << std::endl;
  while (!stop) loop.run_once();
  try {
    adapter->callMethod("UnregisterAdvertisement").onInterface("org.bluez.LEAdvertisingManager1")
        .withArguments(sdbus::ObjectPath(std::string(Application::kRoot) + "/advert0"));
    adapter->callMethod("UnregisterApplication").onInterface("org.bluez.GattManager1")
        .withArguments(sdbus::ObjectPath(Application::kRoot));
  } catch (const sdbus::Error&) {
    // bluetoothd drops both when we leave the bus anyway
  }
  if (sfd >= 0) ::close(sfd);
}
#endif

const Register group{VerbGroup{
    "emulate", "Act as a BLUETTI unit or SESAME lock (emulator) over BlueZ, for a phone or another central",
    [](CLI::App& g) {
      auto opts = std::make_shared<EmulateOptions>();
      g.add_option("kind", opts->kind, "bluetti or sesame")->required()->check(CLI::IsMember({"bluetti", "sesame"}));
      g.add_option("--model", opts->model, "BLUETTI: AC180 (default), EL30V2, EB3A; SESAME: 5 (default), 5pro, 5us");
      g.add_option("--adapter", opts->adapter, "Bluetooth adapter (default: the first powered one)");
      g.callback([opts] {
#ifdef BLECRYPT_HAVE_BLUEZ
        run_emulate(*opts);
#else
        throw BluetoothUnavailable("this blecrypt was built without the BlueZ transport (BLECRYPT_WITH_BLUEZ=OFF or no sdbus-c++)");
#endif
      });
    }}};

}  // namespace
}  // namespace blecrypt::cli
