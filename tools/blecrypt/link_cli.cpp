// The link helper (link_cli.hpp): BlueZ or the in-process emulator behind one interface.
#include "link_cli.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace blecrypt::cli {
namespace {

// The emulator path: a MemoryLink on a virtual clock that jumps to the next deadline when
// nothing else is in flight (the emulators answer instantly; no real waiting needed).
class EmulatedLink final : public OpenLink {
 public:
  EmulatedLink(std::unique_ptr<EngineIo> peripheral, const link::GattProfile& profile, std::size_t mtu,
               std::string description, unsigned timeout_s)
      : peripheral_(std::move(peripheral)), link_(*peripheral_, profile, mtu, std::move(description)) {
    timeout_s_ = timeout_s;
  }
  ~EmulatedLink() override { link_.set_listener(nullptr); }
  link::GattLink& link() override { return link_; }
  TimePoint now() const override { return now_; }
  void start() override {
    link_.connect(now_);
    link_.pump(now_);
  }
  void stop() override { link_.disconnect(now_); }

 protected:
  bool run_until_impl(const Deadlines& deadlines, const std::function<bool()>& done, Duration limit) override {
    const TimePoint end = now_ + limit;
    for (;;) {
      link_.pump(now_);
      if (done()) return true;
      if (auto d = link_.next_deadline(); d && *d <= now_) {
        link_.on_deadline(now_);
        continue;
      }
      if (auto d = deadlines.next(); d && *d <= now_) {
        deadlines.run_due(now_);
        continue;
      }
      const auto next = earliest(deadlines.next(), link_.next_deadline());
      if (!next || *next > end) return done();
      now_ = std::max(now_, *next);
    }
  }

  // Real time passes (the logger's interval), then the virtual clock catches up by as much.
  void idle_impl(const Deadlines& deadlines, Duration d, const std::function<bool()>& wake) override {
    const TimePoint virtual_start = now_;
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + d;
    while (!stopped_ && !wake()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      pollfd p{stop_fd(), POLLIN, 0};
      const int n = ::poll(&p, stop_fd() >= 0 ? 1 : 0, static_cast<int>(std::min<long long>(left, 1000LL * 3600)));
      if (n > 0) on_stop_readable();
    }
    const Duration elapsed = std::chrono::steady_clock::now() - start;
    (void)run_until_impl(deadlines, wake, elapsed);
    now_ = std::max(now_, virtual_start + elapsed);
  }

 private:
  std::unique_ptr<EngineIo> peripheral_;
  link::MemoryLink link_;
  TimePoint now_{};
};

#ifdef BLECRYPT_HAVE_BLUEZ
class BluezOpenLink final : public OpenLink {
 public:
  BluezOpenLink(const LinkCli& opts, const link::GattProfile& profile) {
    timeout_s_ = opts.timeout;
    auto bz = link::bluez::Bluez::open(loop_, opts.adapter);
    if (!bz) throw_link_error(bz.error(), "opening Bluetooth");
    bz_ = std::move(*bz);
    link::bluez::LinkOptions lo;
    const Duration budget = std::chrono::seconds(opts.timeout);
    lo.connect_timeout = std::min<Duration>(lo.connect_timeout, budget);
    lo.discovery_timeout = std::min<Duration>(lo.discovery_timeout, budget);
    link_ = bz_->make_link(opts.address, profile, lo);
  }
  ~BluezOpenLink() override {
    if (stop_watch_) loop_.unwatch(*stop_watch_);
  }
  link::GattLink& link() override { return *link_; }
  TimePoint now() const override { return loop_.now(); }
  void start() override { link_->connect(); }
  std::string advertised_name() const override { return link_->device_name(); }
  void stop() override {
    link_->disconnect();
    // Let the Disconnect call leave before the process exits.
    loop_.run_until([] { return false; }, loop_.now() + std::chrono::milliseconds(50));
  }

 protected:
  bool run_until_impl(const Deadlines& deadlines, const std::function<bool()>& done, Duration limit) override {
    watch_stop();
    link::bluez::EventLoop::Source src;
    // prepare() only says when to wake up; dispatch() runs what is due (run_until checks done()
    // between rounds, so nothing may happen in prepare()).
    src.prepare = [&] {
      link::bluez::EventLoop::Wait w;
      w.deadline = deadlines.next();
      return w;
    };
    src.dispatch = [&](short, TimePoint now) { deadlines.run_due(now); };
    const auto id = loop_.add_source(std::move(src));
    const bool ok = loop_.run_until([&] { return stopped_ || done(); }, loop_.now() + limit);
    loop_.remove_source(id);
    return ok && done();
  }

  void idle_impl(const Deadlines& deadlines, Duration d, const std::function<bool()>& wake) override {
    (void)run_until_impl(deadlines, wake, d);
  }

 private:
  void watch_stop() {
    if (stop_watch_ || stop_fd() < 0) return;
    stop_watch_ = loop_.watch(stop_fd(), POLLIN, [this](short) { on_stop_readable(); });
  }

  link::bluez::EventLoop loop_;
  std::unique_ptr<link::bluez::Bluez> bz_;
  std::unique_ptr<link::bluez::BluezLink> link_;
  std::optional<link::bluez::EventLoop::Id> stop_watch_;
};
#endif

}  // namespace

void add_link_options(CLI::App& sub, LinkCli& opts) {
  sub.add_option("address", opts.address, "Device address (AA:BB:CC:DD:EE:FF), reached through BlueZ");
  sub.add_option("--emulator", opts.emulator, "Talk to the built-in emulator of MODEL instead of a device");
  sub.add_option("--adapter", opts.adapter, "Bluetooth adapter (hci0, hci1, ...; default: the first powered one)");
  sub.add_option("--timeout", opts.timeout, "Seconds for connecting and for each exchange (default 30)")
      ->transform(decimal(1, 3600));
  sub.add_option("--mtu", opts.mtu, "ATT MTU of the emulated link (23..517, --emulator only)")
      ->transform(decimal(23, 517));
}

bool is_unavailable(std::error_code e) {
  using link::Errc;
  return e == Errc::bluetooth_unavailable || e == Errc::adapter_not_found || e == Errc::adapter_off ||
         e == Errc::permission_denied;
}

[[noreturn]] void throw_link_error(std::error_code e, const std::string& what) {
  const std::string msg = what + ": " + e.message();
  if (is_unavailable(e)) throw BluetoothUnavailable(msg);
  throw DeviceError(msg);
}

OpenLink::~OpenLink() {
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

std::string OpenLink::why_not(const std::string& what) const {
  if (last_error_) return what + ": " + last_error_.message();
  return what + ": timed out after " + std::to_string(timeout_s_) + " s";
}

void OpenLink::catch_stop_signals() {
  if (stop_fd_ >= 0) return;
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  // Blocked for the rest of the process: they arrive only through the signalfd.
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return;
  stop_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

void OpenLink::on_stop_readable() {
  signalfd_siginfo info{};
  while (::read(stop_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) stopped_ = true;
}

bool OpenLink::stop_requested() {
  if (!stopped_ && stop_fd_ >= 0) on_stop_readable();
  return stopped_;
}

std::unique_ptr<OpenLink> open_link(const LinkCli& opts, const link::GattProfile& profile, const EmulatorFactory& make_emulator) {
  if (!opts.emulator.empty() && !opts.address.empty())
    throw UserError("give either a device ADDRESS or --emulator MODEL, not both");
  if (opts.emulator.empty() && opts.address.empty()) throw UserError("a device ADDRESS (or --emulator MODEL) is required");
  if (!opts.emulator.empty()) {
    if (!opts.adapter.empty()) throw UserError("--adapter applies to a device ADDRESS, not to --emulator");
    if (!make_emulator) throw UserError(std::string(profile.name) + " has no emulator");
    auto peripheral = make_emulator(opts.emulator);
    if (!peripheral) throw UserError("unknown emulator model '" + opts.emulator + "'");
    return std::make_unique<EmulatedLink>(std::move(peripheral), profile, opts.mtu ? opts.mtu : link::kDefaultAttMtu,
                                          "emulated " + opts.emulator, opts.timeout);
  }
  if (opts.mtu) throw UserError("--mtu applies to --emulator only (BlueZ negotiates the MTU with the device)");
  if (opts.address.size() != 17) throw UserError("'" + opts.address + "' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)");
  for (std::size_t i = 0; i < 17; ++i) {
    const char c = opts.address[i];
    const bool ok = i % 3 == 2 ? c == ':' : std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) throw UserError("'" + opts.address + "' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)");
  }
#ifdef BLECRYPT_HAVE_BLUEZ
  return std::make_unique<BluezOpenLink>(opts, profile);
#else
  throw BluetoothUnavailable("this blecrypt was built without the BlueZ transport (BLECRYPT_WITH_BLUEZ=OFF or no sdbus-c++)");
#endif
}

}  // namespace blecrypt::cli
