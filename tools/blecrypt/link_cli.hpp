// The link helper every protocol verb uses to reach a device: ADDRESS over BlueZ, or
// `--emulator MODEL` over a link::MemoryLink hosting the protocol's emulator. Both run the same
// link::Session code.
//
//   LinkCli opts;                                  // in the verb's setup():
//   add_link_options(*sub, opts);                  //   ADDRESS, --emulator, --adapter, --timeout, --mtu
//   ... in the callback:
//   auto link = open_link(opts, bluetti::kGattProfile,
//                         [](const std::string& model) { return make_bluetti_emulator(model); });
//   bluetti::Client client(cfg, rng);
//   link::Session session(client, link->link(), bluetti::kGattProfile);
//   link->start();                                          // connect (BlueZ) / link up (emulator)
//   if (!link->run_until(session, [&] { return client.established(); }))
//     throw DeviceError(link->why_not("handshake"));
//   client.send_request(req, link->now()); session.flush(link->now());
//   link->run_until(session, [&] { return got_answer; });
//
// Time: over BlueZ the loop runs on the monotonic clock; over the emulator on a virtual clock that
// jumps to the next deadline when nothing is in flight (the emulators answer at once), except in
// idle(), which waits in real time (a logger's interval).
//
// Long-running verbs call catch_stop_signals() once: SIGINT and SIGTERM then end run_until() and
// idle() at once (signalfd, no race with the wait) and stop_requested() says so; the verb cleans
// up and exits 0.
//
// Errors opening the link throw the CLI's exception kinds: BluetoothUnavailable (exit 3) for no
// bus / no org.bluez / no adapter / adapter off, UserError for conflicting options.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "blecrypt/engine.hpp"
#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"
#include "cli.hpp"
#ifdef BLECRYPT_HAVE_BLUEZ
#include "blecrypt/link/bluez/bluez.hpp"
#include "blecrypt/link/bluez/drive.hpp"
#endif

namespace blecrypt::cli {

struct LinkCli {
  std::string address;     // positional ADDRESS
  std::string emulator;    // --emulator MODEL
  std::string adapter;     // --adapter hci1
  unsigned timeout = 30;   // --timeout SECONDS (connecting; each run_until without a limit)
  unsigned mtu = 0;        // --mtu (emulator only; 0 = 23)
};

void add_link_options(CLI::App& sub, LinkCli& opts);

// Turns a link::Errc from the BlueZ transport into the CLI's exception (exit code 3 or 1).
[[noreturn]] void throw_link_error(std::error_code e, const std::string& what);
// Whether a link error means "Bluetooth is unavailable" (exit 3) rather than a device failure.
bool is_unavailable(std::error_code e);

class OpenLink {
 public:
  OpenLink() = default;
  OpenLink(const OpenLink&) = delete;
  OpenLink& operator=(const OpenLink&) = delete;
  virtual ~OpenLink();
  virtual link::GattLink& link() = 0;
  virtual TimePoint now() const = 0;
  // Connect (BlueZ: discovery if needed, Connect, ServicesResolved) / bring the emulator's link up.
  // Again after a link loss or stop(): a new connection (the session runs a fresh handshake).
  virtual void start() = 0;
  virtual void stop() = 0;
  // The device's advertised name as the transport knows it (BlueZ: Device1.Name, else Alias, once
  // connected); "" when it has none (the emulator's link).
  virtual std::string advertised_name() const { return {}; }
  // Runs the link (and the session's deadlines) until done() holds, `limit` passes (default: the
  // --timeout) or a stop signal arrives; returns done().
  template <Engine E>
  bool run_until(link::Session<E>& session, const std::function<bool()>& done, std::optional<Duration> limit = std::nullopt) {
    return run_until_impl(deadlines_of(session), done, limit.value_or(std::chrono::seconds(timeout_s_)));
  }
  // Keeps the link serviced for `d` of real time (or until a stop signal): notifications, link
  // loss and the session's deadlines are handled meanwhile. `wake()` ends it early when true.
  template <Engine E>
  void idle(link::Session<E>& session, Duration d, const std::function<bool()>& wake = {}) {
    idle_impl(deadlines_of(session), d, wake ? wake : [] { return false; });
  }
  // Why the last run_until failed, for a DeviceError message: the link error if the link dropped,
  // else "timed out waiting for <what>".
  std::string why_not(const std::string& what) const;
  void note_link_error(std::error_code e) { last_error_ = e; }
  void clear_link_error() { last_error_.clear(); }
  unsigned timeout_seconds() const { return timeout_s_; }

  void catch_stop_signals();
  bool stop_requested();

 protected:
  struct Deadlines {
    std::function<std::optional<TimePoint>()> next;  // the session's next deadline (runs nothing)
    std::function<void(TimePoint)> run_due;          // runs it when due
  };
  template <Engine E>
  static Deadlines deadlines_of(link::Session<E>& s) {
    return Deadlines{[&s] { return s.next_deadline(); },
                     [&s](TimePoint now) {
                       if (auto d = s.next_deadline(); d && *d <= now) s.on_deadline(now);
                     }};
  }
  virtual bool run_until_impl(const Deadlines& deadlines, const std::function<bool()>& done, Duration limit) = 0;
  virtual void idle_impl(const Deadlines& deadlines, Duration d, const std::function<bool()>& wake) = 0;
  // The signalfd of catch_stop_signals(), or -1; on_stop_readable() drains it.
  int stop_fd() const { return stop_fd_; }
  void on_stop_readable();
  bool stopped_ = false;
  std::error_code last_error_;
  unsigned timeout_s_ = 30;

 private:
  int stop_fd_ = -1;
};

using EmulatorFactory = std::function<std::unique_ptr<EngineIo>(const std::string& model)>;
std::unique_ptr<OpenLink> open_link(const LinkCli& opts, const link::GattProfile& profile, const EmulatorFactory& make_emulator);

}  // namespace blecrypt::cli
