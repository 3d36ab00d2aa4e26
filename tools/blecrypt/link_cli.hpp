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
  unsigned timeout = 30;   // --timeout SECONDS (connect + the verb's exchange)
  unsigned mtu = 0;        // --mtu (emulator only; 0 = 23)
};

void add_link_options(CLI::App& sub, LinkCli& opts);

// Turns a link::Errc from the BlueZ transport into the CLI's exception (exit code 3 or 1).
[[noreturn]] void throw_link_error(std::error_code e, const std::string& what);

class OpenLink {
 public:
  virtual ~OpenLink() = default;
  virtual link::GattLink& link() = 0;
  virtual TimePoint now() const = 0;
  // Connect (BlueZ: discovery if needed, Connect, ServicesResolved) / bring the emulator's link up.
  virtual void start() = 0;
  virtual void stop() = 0;
  // Runs until done() or the --timeout passes; returns done().
  template <Engine E>
  bool run_until(link::Session<E>& session, const std::function<bool()>& done) {
    return run_until_impl([&](TimePoint now) { return session_deadline(session, now); }, done);
  }
  // Why the last run_until failed, for a DeviceError message: the link error if the link dropped,
  // else "timed out waiting for <what>".
  std::string why_not(const std::string& what) const;
  void note_link_error(std::error_code e) { last_error_ = e; }

 protected:
  template <Engine E>
  static std::optional<TimePoint> session_deadline(link::Session<E>& s, TimePoint now) {
    if (auto d = s.next_deadline(); d && *d <= now) s.on_deadline(now);
    return s.next_deadline();
  }
  virtual bool run_until_impl(const std::function<std::optional<TimePoint>(TimePoint)>& deadlines,
                              const std::function<bool()>& done) = 0;
  std::error_code last_error_;
  unsigned timeout_s_ = 30;
};

using EmulatorFactory = std::function<std::unique_ptr<EngineIo>(const std::string& model)>;
std::unique_ptr<OpenLink> open_link(const LinkCli& opts, const link::GattProfile& profile, const EmulatorFactory& make_emulator);

}  // namespace blecrypt::cli
