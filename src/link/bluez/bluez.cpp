// The BlueZ transport over sdbus-c++ 1.2 (Debian libsdbus-c++-dev). The D-Bus connection runs on
// the caller's EventLoop (getEventLoopPollData + processPendingRequest): no sdbus thread. Every
// call that waits on the radio (Connect, WriteValue, AcquireNotify, StartNotify) is asynchronous;
// only local look-ups (GetManagedObjects, SetDiscoveryFilter) are synchronous.
//
// BlueZ facts used here (BlueZ 5.66 doc/adapter-api.txt, device-api.txt, gatt-api.txt,
// src/gatt-client.c): Connect replies once the LE link is up, GATT objects appear below the device
// and ServicesResolved turns true afterwards; AcquireNotify hands a SOCK_SEQPACKET socket with one
// notification per datagram and the ATT MTU; WriteValue option "type" is "request" or "command";
// GattCharacteristic1.MTU exists since 5.62; a dropped link turns Connected false and removes the
// GATT objects; a restarted bluetoothd leaves and re-takes the org.bluez name.
#include "blecrypt/link/bluez/bluez.hpp"
#include "properties.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <random>

namespace blecrypt::link::bluez {
namespace {

constexpr const char* kService = "org.bluez";
constexpr const char* kAdapterIface = "org.bluez.Adapter1";
constexpr const char* kDeviceIface = "org.bluez.Device1";
constexpr const char* kServiceIface = "org.bluez.GattService1";
constexpr const char* kCharIface = "org.bluez.GattCharacteristic1";
constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";

using Interfaces = std::map<std::string, Props>;
using Managed = std::map<sdbus::ObjectPath, Interfaces>;

std::error_code map_error(const sdbus::Error& e, Errc fallback) {
  const std::string& n = e.getName();
  if (n == "org.freedesktop.DBus.Error.ServiceUnknown" || n == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
      n == "org.freedesktop.DBus.Error.Disconnected" || n == "org.freedesktop.DBus.Error.FileNotFound" ||
      n == "org.freedesktop.DBus.Error.NoServer" || n == "System.Error.ENOENT" || n == "System.Error.ECONNREFUSED")
    return Errc::bluetooth_unavailable;
  if (n == "org.freedesktop.DBus.Error.AccessDenied" || n == "System.Error.EACCES" || n == "System.Error.EPERM")
    return Errc::permission_denied;
  if (n == "org.freedesktop.DBus.Error.NoReply" || n == "org.freedesktop.DBus.Error.Timeout" ||
      n == "System.Error.ETIMEDOUT")
    return Errc::timed_out;
  if (n == "org.bluez.Error.NotReady") return Errc::adapter_off;
  if (n == "org.bluez.Error.InProgress") return Errc::busy;
  if (n == "org.bluez.Error.NotConnected") return Errc::disconnected;
  return fallback;
}

// Errors worth another Connect (bleak retries the same family): the controller aborted, the
// adapter was busy with another connect, the link went away while it came up.
bool transient(const sdbus::Error& e) {
  const std::string& n = e.getName();
  const std::string& m = e.getMessage();
  if (n == "org.bluez.Error.InProgress") return true;
  if (n == "org.bluez.Error.Failed") {
    static constexpr std::array<std::string_view, 6> kinds = {
        "le-connection-abort-by-local", "le-connection-remote-terminated", "le-connection-create-failed",
        "Software caused connection abort", "Operation already in progress", "br-connection-canceled"};
    return std::any_of(kinds.begin(), kinds.end(), [&](std::string_view k) { return m.find(k) != std::string::npos; });
  }
  return n == "org.freedesktop.DBus.Error.NoReply";
}

std::string device_path(const std::string& adapter_path, std::string_view address) {
  std::string p = adapter_path + "/dev_";
  for (char c : address) p.push_back(c == ':' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return p;
}

bool under(const std::string& path, const std::string& parent) {
  return path.size() > parent.size() && path.compare(0, parent.size(), parent) == 0 && path[parent.size()] == '/';
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_flag(const std::vector<std::string>& flags, std::string_view f) {
  return std::find(flags.begin(), flags.end(), f) != flags.end();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
struct BluezLink::State {
  enum class Phase { idle, waiting, discovering, connecting, resolving, up };

  Bluez::Impl* bz = nullptr;
  std::string address;
  std::string path;  // device object
  GattProfile profile;
  std::string service_uuid, write_uuid, notify_uuid;
  LinkOptions options;
  LinkListener* listener = nullptr;

  Phase phase = Phase::idle;
  unsigned generation = 0;  // bumped on every attempt and teardown; stale replies compare it
  unsigned attempt = 0;     // within one connect()
  unsigned attempts_total = 0;
  bool wanted = false;      // connect() called and no disconnect() since
  bool holds_discovery = false;
  std::optional<EventLoop::Id> timer;

  std::string write_path, notify_path;
  std::vector<std::string> write_flags, notify_flags;
  std::string name;  // Device1.Name (else Alias) when the link came up
  std::size_t mtu = kDefaultAttMtu;
  bool subscribed = false;
  int notify_fd = -1;
  std::optional<EventLoop::Id> notify_watch;

  struct PendingWrite {
    Bytes value;
    std::string type;
    unsigned tries = 0;
  };
  std::deque<PendingWrite> writes;
  bool write_in_flight = false;

  std::map<std::string, std::unique_ptr<sdbus::IProxy>> proxies;
  std::vector<sdbus::PendingAsyncCall> calls;

  sdbus::IProxy& proxy(const std::string& object);
  void start();
  void attempt_now();
  void on_device_known();
  void on_connect_reply(const sdbus::Error* e);
  void resolve();
  void fail_attempt(const sdbus::Error* e, std::error_code why);
  void lost(std::error_code why);
  void teardown();
  void cancel_timer();
  void close_notify();
  void pump_writes();
  void start_notify();
  void on_properties(const std::string& object, const std::string& iface, const Props& changed);
  void on_removed(const std::string& object);
  TimePoint now() const;
};

struct Bluez::Impl {
  EventLoop* loop = nullptr;
  std::unique_ptr<sdbus::IConnection> conn;
  std::optional<EventLoop::Id> source;
  AdapterInfo adapter;
  std::unique_ptr<sdbus::IProxy> root, adapter_proxy;
  std::vector<sdbus::Slot> matches;
  bool gone = false;

  // scanning
  std::function<void(const DeviceInfo&)> on_device;
  std::map<std::string, DeviceInfo> devices;
  unsigned discovery_users = 0;

  // links
  std::vector<BluezLink::State*> links;
  std::deque<BluezLink::State*> connect_queue;  // head is connecting; the rest wait
  std::mt19937 rng{std::random_device{}()};

  ~Impl() {
    matches.clear();
    if (source) loop->remove_source(*source);
  }

  Result<Managed> managed() {
    try {
      Managed objects;
      root->callMethod("GetManagedObjects").onInterface(kObjectManager).storeResultsTo(objects);
      return objects;
    } catch (const sdbus::Error& e) {
      return Unexpected{map_error(e, Errc::bluetooth_unavailable)};
    }
  }

  Result<void> acquire_discovery() {
    if (discovery_users++ > 0) return {};
    try {
      adapter_proxy->callMethod("SetDiscoveryFilter").onInterface(kAdapterIface)
          .withArguments(std::map<std::string, sdbus::Variant>{{"Transport", sdbus::Variant(std::string("le"))},
                                                                {"DuplicateData", sdbus::Variant(true)}});
      adapter_proxy->callMethod("StartDiscovery").onInterface(kAdapterIface);
    } catch (const sdbus::Error& e) {
      if (e.getName() != "org.bluez.Error.InProgress") {  // someone else's discovery is fine
        --discovery_users;
        return map_error(e, Errc::busy);
      }
    }
    return {};
  }
  void release_discovery() {
    if (discovery_users == 0 || --discovery_users > 0 || gone) return;
    try {
      adapter_proxy->callMethod("StopDiscovery").onInterface(kAdapterIface);
    } catch (const sdbus::Error&) {
    }
  }

  void report(const std::string& path, const Props& p, bool from_cache) {
    auto& d = devices[path];
    d.path = path;
    fill_device(d, p);
    if (on_device && !(from_cache && !d.rssi)) on_device(d);
  }

  void enqueue_connect(BluezLink::State* s) {
    if (std::find(connect_queue.begin(), connect_queue.end(), s) == connect_queue.end()) connect_queue.push_back(s);
    if (connect_queue.front() == s) s->attempt_now();
  }
  void release_connect(BluezLink::State* s) {
    const bool was_head = !connect_queue.empty() && connect_queue.front() == s;
    connect_queue.erase(std::remove(connect_queue.begin(), connect_queue.end(), s), connect_queue.end());
    if (was_head && !connect_queue.empty()) {
      auto* next = connect_queue.front();
      loop->after(Duration::zero(), [this, next] {
        if (!connect_queue.empty() && connect_queue.front() == next) next->attempt_now();
      });
    }
  }

  Duration backoff(const LinkOptions& o, unsigned attempt) {
    Duration d = o.backoff;
    for (unsigned i = 1; i < attempt && d < o.backoff_max; ++i) d *= 2;
    d = std::min(d, o.backoff_max);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    return std::chrono::duration_cast<Duration>(d * jitter(rng));
  }

  void install_signals() {
    matches.push_back(conn->addMatch(
        "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='/org/bluez'",
        [this](sdbus::Message& m) {
          std::string iface;
          Props changed;
          std::vector<std::string> invalidated;
          try {
            m >> iface >> changed >> invalidated;
          } catch (const sdbus::Error&) {
            return;
          }
          const std::string path = m.getPath();
          if (iface == kDeviceIface && under(path, adapter.path) && (on_device || devices.count(path))) {
            if (on_device) report(path, changed, false);
          }
          if (iface == kAdapterIface && path == adapter.path) {
            if (auto p = prop<bool>(changed, "Powered")) adapter.powered = *p;
          }
          auto copy = links;
          for (auto* s : copy)
            if (std::find(links.begin(), links.end(), s) != links.end()) s->on_properties(path, iface, changed);
        }));
    matches.push_back(conn->addMatch(
        "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesAdded',path='/'",
        [this](sdbus::Message& m) {
          sdbus::ObjectPath path;
          Interfaces ifs;
          try {
            m >> path >> ifs;
          } catch (const sdbus::Error&) {
            return;
          }
          auto dev = ifs.find(kDeviceIface);
          if (dev == ifs.end() || !under(path, adapter.path)) return;
          if (on_device) report(path, dev->second, false);
          auto copy = links;
          for (auto* s : copy)
            if (std::find(links.begin(), links.end(), s) != links.end() && s->path == path &&
                s->phase == BluezLink::State::Phase::discovering)
              s->on_device_known();
        }));
    matches.push_back(conn->addMatch(
        "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesRemoved',path='/'",
        [this](sdbus::Message& m) {
          sdbus::ObjectPath path;
          std::vector<std::string> ifs;
          try {
            m >> path >> ifs;
          } catch (const sdbus::Error&) {
            return;
          }
          if (std::find(ifs.begin(), ifs.end(), kDeviceIface) != ifs.end()) devices.erase(path);
          if (path == adapter.path) adapter.powered = false;
          auto copy = links;
          for (auto* s : copy)
            if (std::find(links.begin(), links.end(), s) != links.end()) s->on_removed(path);
        }));
    matches.push_back(conn->addMatch(
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',"
        "arg0='org.bluez'",
        [this](sdbus::Message& m) {
          std::string name, old_owner, new_owner;
          try {
            m >> name >> old_owner >> new_owner;
          } catch (const sdbus::Error&) {
            return;
          }
          if (name != kService || !new_owner.empty()) {
            if (name == kService && !new_owner.empty()) gone = false;
            return;
          }
          gone = true;
          discovery_users = 0;
          auto copy = links;
          for (auto* s : copy)
            if (std::find(links.begin(), links.end(), s) != links.end()) s->lost(Errc::bluetooth_unavailable);
        }));
  }
};

// ---------------------------------------------------------------------------------------------
Result<std::unique_ptr<Bluez>> Bluez::open(EventLoop& loop, std::string_view adapter_name) {
  auto impl = std::make_unique<Impl>();
  impl->loop = &loop;
  try {
    impl->conn = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    return Unexpected{map_error(e, Errc::bluetooth_unavailable)};
  }
  impl->root = sdbus::createProxy(*impl->conn, kService, "/");
  auto objects = impl->managed();
  if (!objects) return Unexpected{objects.error()};

  std::vector<AdapterInfo> adapters;
  for (const auto& [path, ifs] : *objects) {
    auto a = ifs.find(kAdapterIface);
    if (a == ifs.end()) continue;
    AdapterInfo info;
    info.path = path;
    info.name = info.path.substr(info.path.rfind('/') + 1);
    info.address = prop<std::string>(a->second, "Address").value_or("");
    info.powered = prop<bool>(a->second, "Powered").value_or(false);
    adapters.push_back(std::move(info));
  }
  std::sort(adapters.begin(), adapters.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  const AdapterInfo* chosen = nullptr;
  if (!adapter_name.empty()) {
    for (const auto& a : adapters)
      if (a.name == adapter_name) chosen = &a;
    if (!chosen) return Errc::adapter_not_found;
    if (!chosen->powered) return Errc::adapter_off;
  } else {
    if (adapters.empty()) return Errc::adapter_not_found;
    for (const auto& a : adapters)
      if (a.powered && !chosen) chosen = &a;
    if (!chosen) return Errc::adapter_off;
  }
  impl->adapter = *chosen;
  impl->adapter_proxy = sdbus::createProxy(*impl->conn, kService, impl->adapter.path);
  for (const auto& [path, ifs] : *objects) {
    auto d = ifs.find(kDeviceIface);
    if (d != ifs.end() && under(path, impl->adapter.path)) {
      auto& dev = impl->devices[path];
      dev.path = path;
      fill_device(dev, d->second);
    }
  }
  impl->install_signals();

  Impl* raw = impl.get();
  EventLoop::Source src;
  src.prepare = [raw]() {
    EventLoop::Wait w;
    try {
      // No dispatching here (callbacks would run before the caller's done() check): messages
      // already queued by a synchronous call make sd_bus_get_timeout() return 0, so poll()
      // returns at once and dispatch() handles them.
      const auto pd = raw->conn->getEventLoopPollData();
      w.fd = pd.fd;
      w.events = pd.events;
      if (pd.timeout_usec != UINT64_MAX)
        w.deadline = TimePoint(std::chrono::duration_cast<Duration>(std::chrono::microseconds(pd.timeout_usec)));
    } catch (const sdbus::Error&) {
      // the bus connection broke: nothing to wait for
    }
    return w;
  };
  src.dispatch = [raw](short, TimePoint) {
    try {
      while (raw->conn->processPendingRequest()) {
      }
    } catch (const sdbus::Error&) {
    }
  };
  impl->source = loop.add_source(std::move(src));
  return std::unique_ptr<Bluez>(new Bluez(std::move(impl)));
}

Bluez::Bluez(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bluez::~Bluez() {
  stop_scan();
  // Links should go first; any left go inert (their proxies use this connection: drop them now).
  for (auto* s : impl_->links) {
    s->teardown();
    s->proxies.clear();
    s->bz = nullptr;
  }
}
const AdapterInfo& Bluez::adapter() const { return impl_->adapter; }
EventLoop& Bluez::loop() const { return *impl_->loop; }
bool Bluez::available() const { return !impl_->gone; }

Result<void> Bluez::start_scan(std::function<void(const DeviceInfo&)> on_device) {
  if (impl_->gone) return Errc::bluetooth_unavailable;
  const bool first = !impl_->on_device;
  impl_->on_device = std::move(on_device);
  if (!first) return {};
  if (auto r = impl_->acquire_discovery(); !r) {
    impl_->on_device = nullptr;
    return r;
  }
  // Devices bluetoothd already knows only show up through GetManagedObjects + PropertiesChanged.
  if (auto objects = impl_->managed()) {
    for (const auto& [path, ifs] : *objects) {
      auto d = ifs.find(kDeviceIface);
      if (d != ifs.end() && under(path, impl_->adapter.path)) impl_->report(path, d->second, true);
    }
  }
  return {};
}

void Bluez::stop_scan() {
  if (!impl_->on_device) return;
  impl_->on_device = nullptr;
  impl_->release_discovery();
}

std::unique_ptr<BluezLink> Bluez::make_link(std::string_view address, const GattProfile& profile, LinkOptions options) {
  auto s = std::make_unique<BluezLink::State>();
  s->bz = impl_.get();
  s->address = std::string(address);
  for (char& c : s->address) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  s->path = device_path(impl_->adapter.path, s->address);
  s->profile = profile;
  s->service_uuid = lower(std::string(profile.service));
  s->write_uuid = lower(std::string(profile.write_characteristic));
  s->notify_uuid = lower(std::string(profile.notify_characteristic));
  s->options = options;
  if (s->options.attempts == 0) s->options.attempts = 1;
  impl_->links.push_back(s.get());
  return std::unique_ptr<BluezLink>(new BluezLink(std::move(s)));
}

// ---------------------------------------------------------------------------------------------
TimePoint BluezLink::State::now() const { return EventLoop::clock_now(); }

sdbus::IProxy& BluezLink::State::proxy(const std::string& object) {
  auto& p = proxies[object];
  if (!p) p = sdbus::createProxy(*bz->conn, kService, object);
  return *p;
}

void BluezLink::State::cancel_timer() {
  if (timer && bz) bz->loop->cancel(*timer);
  timer.reset();
}

void BluezLink::State::close_notify() {
  if (notify_watch && bz) bz->loop->unwatch(*notify_watch);
  notify_watch.reset();
  if (notify_fd >= 0) ::close(notify_fd);
  notify_fd = -1;
}

// Forgets everything of the current attempt/connection; stale replies see a new generation.
void BluezLink::State::teardown() {
  ++generation;
  cancel_timer();
  close_notify();
  for (auto& c : calls)
    if (c.isPending()) c.cancel();
  calls.clear();
  if (holds_discovery && bz) bz->release_discovery();
  holds_discovery = false;
  if (bz) bz->release_connect(this);
  phase = Phase::idle;
  subscribed = false;
  writes.clear();
  write_in_flight = false;
  write_path.clear();
  notify_path.clear();
  mtu = kDefaultAttMtu;
}

void BluezLink::State::start() {
  if (!bz) return;
  phase = Phase::waiting;
  bz->enqueue_connect(this);
}

void BluezLink::State::attempt_now() {
  if (!bz || phase != Phase::waiting) return;
  ++attempt;
  ++attempts_total;
  ++generation;
  if (bz->gone) return fail_attempt(nullptr, Errc::bluetooth_unavailable);
  if (!bz->adapter.powered) return fail_attempt(nullptr, Errc::adapter_off);
  auto objects = bz->managed();
  if (!objects) return fail_attempt(nullptr, objects.error());
  if (objects->count(sdbus::ObjectPath(path))) return on_device_known();
  // bluetoothd does not know it (never seen, or its temporary entry expired): discover first.
  phase = Phase::discovering;
  if (auto r = bz->acquire_discovery(); !r) return fail_attempt(nullptr, r.error());
  holds_discovery = true;
  const unsigned gen = generation;
  timer = bz->loop->after(options.discovery_timeout, [this, gen] {
    if (gen != generation) return;
    timer.reset();
    fail_attempt(nullptr, Errc::device_not_found);
  });
}

void BluezLink::State::on_device_known() {
  cancel_timer();
  if (holds_discovery) bz->release_discovery();  // BlueZ connects more reliably without discovery
  holds_discovery = false;
  phase = Phase::connecting;
  const unsigned gen = generation;
  timer = bz->loop->after(options.connect_timeout, [this, gen] {
    if (gen != generation) return;
    timer.reset();
    // Cancel the pending Connect in bluetoothd as well.
    try {
      proxy(path).callMethodAsync("Disconnect").onInterface(kDeviceIface).uponReplyInvoke([](const sdbus::Error*) {});
    } catch (const sdbus::Error&) {
    }
    fail_attempt(nullptr, Errc::timed_out);
  });
  try {
    calls.push_back(proxy(path).callMethodAsync("Connect").onInterface(kDeviceIface)
                        .withTimeout(options.connect_timeout + std::chrono::seconds(1))
                        .uponReplyInvoke([this, gen](const sdbus::Error* e) {
                          if (gen != generation) return;
                          on_connect_reply(e);
                        }));
  } catch (const sdbus::Error& e) {
    fail_attempt(&e, map_error(e, Errc::device_not_found));
  }
}

void BluezLink::State::on_connect_reply(const sdbus::Error* e) {
  if (e) return fail_attempt(e, map_error(*e, Errc::disconnected));
  phase = Phase::resolving;
  // ServicesResolved may already be true (connected before, or fast): check, else wait for it.
  try {
    sdbus::Variant v;
    proxy(path).callMethod("Get").onInterface(kProperties).withArguments(std::string(kDeviceIface), std::string("ServicesResolved")).storeResultsTo(v);
    if (v.get<bool>()) resolve();
  } catch (const sdbus::Error&) {
  }
}

void BluezLink::State::resolve() {
  if (phase != Phase::resolving) return;
  auto objects = bz->managed();
  if (!objects) return fail_attempt(nullptr, objects.error());
  if (auto dev = objects->find(sdbus::ObjectPath(path)); dev != objects->end())
    if (auto d = dev->second.find(kDeviceIface); d != dev->second.end())
      name = prop<std::string>(d->second, "Name").value_or(prop<std::string>(d->second, "Alias").value_or(""));
  std::string service_path;
  for (const auto& [p, ifs] : *objects) {
    auto s = ifs.find(kServiceIface);
    if (s != ifs.end() && under(p, path) && lower(prop<std::string>(s->second, "UUID").value_or("")) == service_uuid)
      service_path = p;
  }
  std::optional<std::uint16_t> char_mtu;
  if (!service_path.empty()) {
    for (const auto& [p, ifs] : *objects) {
      auto c = ifs.find(kCharIface);
      if (c == ifs.end() || !under(p, service_path)) continue;
      const std::string uuid = lower(prop<std::string>(c->second, "UUID").value_or(""));
      auto flags = prop<std::vector<std::string>>(c->second, "Flags").value_or(std::vector<std::string>{});
      if (uuid == write_uuid) {
        write_path = p;
        write_flags = flags;
      }
      if (uuid == notify_uuid) {
        notify_path = p;
        notify_flags = flags;
      }
      if (auto m = prop<std::uint16_t>(c->second, "MTU"); m && (uuid == write_uuid || uuid == notify_uuid)) char_mtu = *m;
    }
  }
  if (write_path.empty() || notify_path.empty()) {
    // Not a transient failure: this device does not speak the protocol. Drop the link.
    const std::error_code why = Errc::no_such_characteristic;
    try {
      proxy(path).callMethodAsync("Disconnect").onInterface(kDeviceIface).uponReplyInvoke([](const sdbus::Error*) {});
    } catch (const sdbus::Error&) {
    }
    wanted = false;
    teardown();
    if (listener) listener->on_disconnected(why, now());
    return;
  }
  if (char_mtu && *char_mtu >= kDefaultAttMtu) mtu = std::min<std::size_t>(*char_mtu, kMaxAttMtu);
  cancel_timer();
  phase = Phase::up;
  attempt = 0;
  bz->release_connect(this);
  if (listener) listener->on_connected(now());
}

void BluezLink::State::fail_attempt(const sdbus::Error* e, std::error_code why) {
  const bool retry = wanted && attempt < options.attempts && bz && !bz->gone &&
                     ((e && transient(*e)) || why == Errc::busy || why == Errc::timed_out);
  teardown();
  if (!bz) return;
  if (retry) {
    phase = Phase::waiting;
    const unsigned gen = generation;
    timer = bz->loop->after(bz->backoff(options, attempt), [this, gen] {
      if (gen != generation) return;
      timer.reset();
      bz->enqueue_connect(this);
    });
    return;
  }
  wanted = false;
  attempt = 0;
  if (listener) listener->on_disconnected(why, now());
}

void BluezLink::State::lost(std::error_code why) {
  if (phase == Phase::idle) return;
  if (phase != Phase::up) {  // a link lost while connecting: the attempt failed
    fail_attempt(nullptr, why);
    return;
  }
  teardown();
  if (listener) listener->on_disconnected(why, now());
  if (wanted && options.reconnect && bz && !bz->gone) {
    phase = Phase::waiting;
    attempt = 0;
    const unsigned gen = generation;
    timer = bz->loop->after(bz->backoff(options, 1), [this, gen] {
      if (gen != generation) return;
      timer.reset();
      bz->enqueue_connect(this);
    });
  } else if (!options.reconnect) {
    wanted = false;
  }
}

void BluezLink::State::on_properties(const std::string& object, const std::string& iface, const Props& changed) {
  if (object == path && iface == kDeviceIface) {
    if (auto c = prop<bool>(changed, "Connected"); c && !*c && (phase == Phase::up || phase == Phase::resolving))
      lost(Errc::disconnected);
    else if (auto r = prop<bool>(changed, "ServicesResolved"); r && *r && phase == Phase::resolving)
      resolve();
    return;
  }
  if (phase == Phase::up && subscribed && notify_fd < 0 && object == notify_path && iface == kCharIface) {
    if (auto v = prop<std::vector<std::uint8_t>>(changed, "Value"); v && listener)
      listener->on_notification(profile.notify_characteristic, *v, now());
  }
}

void BluezLink::State::on_removed(const std::string& object) {
  if (phase == Phase::idle || phase == Phase::waiting || phase == Phase::discovering) return;
  if (object == path || (!notify_path.empty() && object == notify_path) || object == bz->adapter.path)
    lost(object == bz->adapter.path ? std::error_code(Errc::adapter_not_found) : std::error_code(Errc::disconnected));
}

void BluezLink::State::start_notify() {
  const unsigned gen = generation;
  try {
    calls.push_back(proxy(notify_path).callMethodAsync("StartNotify").onInterface(kCharIface)
                        .uponReplyInvoke([this, gen](const sdbus::Error* e) {
                          if (gen != generation) return;
                          if (e) {
                            if (listener) listener->on_transport_error(map_error(*e, Errc::not_subscribed), now());
                            return;
                          }
                          subscribed = true;
                          if (listener) listener->on_subscribed(profile.notify_characteristic, now());
                        }));
  } catch (const sdbus::Error& e) {
    if (listener) listener->on_transport_error(map_error(e, Errc::not_subscribed), now());
  }
}

void BluezLink::State::pump_writes() {
  if (write_in_flight || writes.empty() || phase != Phase::up) return;
  write_in_flight = true;
  const unsigned gen = generation;
  auto& w = writes.front();
  try {
    calls.push_back(proxy(write_path).callMethodAsync("WriteValue").onInterface(kCharIface)
                        .withArguments(w.value, std::map<std::string, sdbus::Variant>{{"type", sdbus::Variant(w.type)}})
                        .uponReplyInvoke([this, gen](const sdbus::Error* e) {
                          if (gen != generation) return;
                          write_in_flight = false;
                          if (e && e->getName() == "org.bluez.Error.InProgress" && writes.front().tries < 50) {
                            ++writes.front().tries;  // the previous ATT request is still out: retry shortly
                            timer = bz->loop->after(std::chrono::milliseconds(10), [this, gen] {
                              if (gen != generation) return;
                              timer.reset();
                              pump_writes();
                            });
                            return;
                          }
                          writes.pop_front();
                          if (e && listener) listener->on_transport_error(map_error(*e, Errc::write_failed), now());
                          pump_writes();
                        }));
  } catch (const sdbus::Error& e) {
    write_in_flight = false;
    writes.pop_front();
    if (listener) listener->on_transport_error(map_error(e, Errc::write_failed), now());
  }
}

// ---------------------------------------------------------------------------------------------
BluezLink::BluezLink(std::unique_ptr<State> state) : s_(std::move(state)) {}
BluezLink::~BluezLink() {
  s_->listener = nullptr;
  if (s_->bz) {
    if (s_->phase == State::Phase::up) {
      try {  // fire and forget: bluetoothd drops the link even if we are gone by then
        s_->proxy(s_->path).callMethod("Disconnect").onInterface(kDeviceIface).dontExpectReply();
      } catch (const sdbus::Error&) {
      }
    }
    s_->teardown();
    auto& links = s_->bz->links;
    links.erase(std::remove(links.begin(), links.end(), s_.get()), links.end());
  }
}

void BluezLink::connect() {
  if (s_->phase != State::Phase::idle) return;
  s_->wanted = true;
  s_->attempt = 0;
  s_->start();
}

void BluezLink::disconnect() {
  const bool was_active = s_->phase != State::Phase::idle;
  const bool was_up = s_->phase == State::Phase::up || s_->phase == State::Phase::resolving ||
                      s_->phase == State::Phase::connecting;
  s_->wanted = false;
  if (s_->bz && was_up) {
    try {
      s_->proxy(s_->path).callMethodAsync("Disconnect").onInterface(kDeviceIface).uponReplyInvoke([](const sdbus::Error*) {});
    } catch (const sdbus::Error&) {
    }
  }
  s_->teardown();
  s_->attempt = 0;
  if (was_active && s_->listener) s_->listener->on_disconnected(Errc::disconnected, s_->now());
}

bool BluezLink::connecting() const {
  return s_->phase != State::Phase::idle && s_->phase != State::Phase::up;
}
unsigned BluezLink::attempts() const { return s_->attempts_total; }
bool BluezLink::notify_acquired() const { return s_->notify_fd >= 0; }
const std::string& BluezLink::device_name() const { return s_->name; }
void BluezLink::set_listener(LinkListener* listener) { s_->listener = listener; }
std::size_t BluezLink::att_mtu() const { return s_->mtu; }
bool BluezLink::connected() const { return s_->phase == State::Phase::up; }
std::string BluezLink::describe() const {
  return s_->address + (s_->bz ? " via " + s_->bz->adapter.name : std::string());
}

Result<void> BluezLink::subscribe(std::string_view characteristic) {
  auto& s = *s_;
  if (s.phase != State::Phase::up || !s.bz) return Errc::not_connected;
  if (lower(std::string(characteristic)) != s.notify_uuid) return Errc::no_such_characteristic;
  if (s.subscribed) {
    if (s.listener) s.listener->on_subscribed(s.profile.notify_characteristic, s.now());
    return {};
  }
  if (!(s.options.acquire_notify && has_flag(s.notify_flags, "notify"))) {
    s.start_notify();
    return {};
  }
  const unsigned gen = s.generation;
  State* st = s_.get();
  try {
    s.calls.push_back(s.proxy(s.notify_path).callMethodAsync("AcquireNotify").onInterface(kCharIface)
                          .withArguments(std::map<std::string, sdbus::Variant>{})
                          .uponReplyInvoke([st, gen](const sdbus::Error* e, sdbus::UnixFd fd, std::uint16_t mtu) {
                            if (gen != st->generation) return;
                            if (e) {  // not offered (NotSupported), or someone else holds it: StartNotify
                              st->start_notify();
                              return;
                            }
                            st->notify_fd = fd.release();
                            if (mtu >= kDefaultAttMtu) st->mtu = std::min<std::size_t>(mtu, kMaxAttMtu);
                            st->notify_watch = st->bz->loop->watch(st->notify_fd, POLLIN, [st](short revents) {
                              std::array<std::uint8_t, kMaxAttMtu + 8> buf{};
                              for (;;) {
                                const ssize_t n = ::recv(st->notify_fd, buf.data(), buf.size(), MSG_DONTWAIT);
                                if (n > 0) {
                                  const unsigned g = st->generation;
                                  if (st->listener)
                                    st->listener->on_notification(st->profile.notify_characteristic,
                                                                  ByteView(buf.data(), static_cast<std::size_t>(n)), st->now());
                                  if (g != st->generation || st->notify_fd < 0) return;  // the listener tore down
                                  continue;
                                }
                                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
                                    !(revents & (POLLHUP | POLLERR)))
                                  return;
                                // bluetoothd closed it: the link or the notify session ended.
                                // Connected=false (or InterfacesRemoved) follows and reports the loss.
                                st->close_notify();
                                return;
                              }
                            });
                            st->subscribed = true;
                            if (st->listener) st->listener->on_subscribed(st->profile.notify_characteristic, st->now());
                          }));
  } catch (const sdbus::Error& e) {
    return map_error(e, Errc::not_subscribed);
  }
  return {};
}

Result<void> BluezLink::write(std::string_view characteristic, ByteView value, WriteType type) {
  auto& s = *s_;
  if (s.phase != State::Phase::up || !s.bz) return Errc::not_connected;
  if (lower(std::string(characteristic)) != s.write_uuid) return Errc::no_such_characteristic;
  if (value.size() > att_payload(s.mtu)) return Errc::value_too_long;
  // The profile's preference, unless the characteristic lacks it (Flags).
  const bool can_command = has_flag(s.write_flags, "write-without-response");
  const bool can_request = has_flag(s.write_flags, "write");
  bool command = type == WriteType::without_response;
  if (command && !can_command && can_request) command = false;
  if (!command && !can_request && can_command) command = true;
  s.writes.push_back(State::PendingWrite{Bytes(value.begin(), value.end()), command ? "command" : "request", 0});
  s.pump_writes();
  return {};
}

}  // namespace blecrypt::link::bluez
