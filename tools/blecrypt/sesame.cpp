// `blecrypt sesame demo|qr-import|advertisement` and the SESAME part of `blecrypt demo`; the device
// verbs (register, lock, unlock, toggle, status, history) are in sesame_verbs.cpp.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <variant>

#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "cli.hpp"
#include "sesame_verbs.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::sesame;
using namespace std::chrono_literals;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string status_line(const MechStatus& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "angle %4d%s, battery %.2f V (%d %%)%s", s.position,
                s.target != kNoTarget ? (" -> " + std::to_string(s.target)).c_str() : "", s.volts(), s.battery_percent(),
                s.is_critical() ? ", JAMMED" : "");
  return buf;
}

// The client in a link::Session over a link::MemoryLink that hosts the emulated lock: the same
// runner a real GATT transport uses, ATT_MTU 23 (20-byte payloads), under a virtual clock that
// drives both engines' deadlines (motor steps, auto-lock, timeouts).
class DemoRig {
 public:
  DemoRig(std::ostream& out, Client& client, Device& device, TimePoint start)
      : now(start),
        out_(out),
        lock_(device),
        gatt_(lock_, kGattProfile, link::kDefaultAttMtu, "emulated SESAME 5"),
        session_(client, gatt_, kGattProfile) {}

  TimePoint now;
  bool failed = false;

  void connect() {
    gatt_.connect(now);
    settle();
  }
  void disconnect() {
    gatt_.disconnect(now);
    report();
  }
  // After any call on the client: writes what it queued and moves traffic until quiet.
  void settle() {
    session_.flush(now);
    gatt_.pump(now);
    report();
  }
  // Runs virtual time forward, firing the lock's and the client's deadlines in order.
  void run_for(Duration d) {
    const TimePoint until = now + d;
    settle();
    for (int guard = 0; guard < 100000; ++guard) {
      const auto next = earliest(gatt_.next_deadline(), session_.next_deadline());
      if (!next || *next > until) break;
      now = std::max(now, *next);
      gatt_.on_deadline(now);
      session_.on_deadline(now);
      settle();
    }
    now = until;
  }
  std::size_t pdus() const { return gatt_.pdus_carried(); }
  std::size_t bytes() const { return gatt_.bytes_carried(); }

 private:
  void report() {
    while (auto e = session_.poll_event()) {
      std::visit(Overload{
                     [&](const link::events::LinkUp&) { out_ << "  notifications on: session started\n"; },
                     [&](const link::events::LinkDown&) {},
                     [&](const link::events::TransportError& t) {
                       out_ << "  link: " << t.error.message() << "\n";
                       failed = true;
                     },
                     [&](const link::events::InputRefused& r) { out_ << "  client: " << r.error.message() << "\n"; },
                     [&](const Client::Event& ce) { std::visit([&](const auto& x) { print(x); }, ce); },
                 },
                 *e);
    }
    while (lock_.engine().poll_event()) {
    }
  }
  void print(const events::RandomCode&) { out_ << "  random code received (INITIAL, plaintext)\n"; }
  void print(const events::Registered&) {
    out_ << "  registered: ECDH P-256 done, 16-byte device secret established, session encrypted\n";
  }
  void print(const events::LoggedIn& e) { out_ << "  logged in: encrypted LOGIN response, device time " << e.device_time << "\n"; }
  void print(const events::MechStatus& e) {
    out_ << "  status: " << position_name(position_from_status(e.status)) << ", " << status_line(e.status) << "\n";
  }
  void print(const events::MechSetting& e) {
    out_ << "  setting: lock " << e.setting.lock_position << ", unlock " << e.setting.unlock_position << ", auto-lock "
         << e.setting.auto_lock_seconds << " s\n";
  }
  void print(const events::CommandResult& e) {
    out_ << "  " << item_name(e.item) << ": " << result_name(e.result) << "\n";
    if (e.result != ResultCode::success) failed = true;
  }
  void print(const events::History& e) {
    const auto tag = e.record.tag.describe();
    out_ << "  history #" << e.record.id << " " << e.record.type_name() << " at " << e.record.unix_time
         << (tag.empty() ? "" : " by \"" + escape_control(tag) + "\"") << "\n";
  }
  void print(const events::HistoryEmpty&) { out_ << "  history: no more records\n"; }
  void print(const events::HistoryDeleted& e) { out_ << "  history record deleted: " << result_name(e.result) << "\n"; }
  void print(const events::Version& e) { out_ << "  firmware version: " << escape_control(e.text) << "\n"; }
  void print(const events::RequestFailed& e) {
    out_ << "  " << item_name(e.item) << " failed: " << e.error.message() << "\n";
    failed = true;
  }
  void print(const events::Publish& e) { out_ << "  publish " << item_name(e.item) << "\n"; }
  void print(const events::SessionEnded& e) { out_ << "  session ended: " << e.error.message() << "\n"; }

  std::ostream& out_;
  EngineIoRef<Device> lock_;
  link::MemoryLink gatt_;
  link::Session<Client> session_;
};

int run_demo(std::ostream& out) {
  auto& rng = crypto::system_rng();
  const std::int64_t unix = unix_now();
  DeviceConfig dc;
  dc.uuid = Uuid{0x8c, 0xbe, 0x3f, 0x10, 0x6b, 0x4c, 0x4d, 0x1e, 0x9f, 0x7a, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f};
  dc.unix_time_offset = unix;
  Device device(std::move(dc), rng);

  const Bytes adv = device.advertisement_payload();
  auto parsed = parse_advertisement(adv);
  if (!parsed) {
    out << "advertisement parse failed: " << parsed.error().message() << "\n";
    return 1;
  }
  out << "emulated lock advertises " << adv.size() << " bytes: " << model_name(parsed->model) << " "
      << uuid_to_string(parsed->uuid) << ", " << (parsed->registered ? "registered" : "not registered") << "\n";

  // Connection 1: registration.
  ClientConfig cc;
  cc.unix_time_offset = unix;
  Client client(std::move(cc), rng);
  client.on_advertisement(*parsed, TimePoint{});
  DemoRig rig(out, client, device, TimePoint{});
  out << "connection 1: registration\n";
  rig.connect();
  if (!client.ready()) {
    out << "registration FAILED\n";
    return 1;
  }
  const SecretBytes secret = client.device_secret();
  rig.disconnect();

  // Connection 2: login with the stored secret, lock, unlock, version.
  ClientConfig cc2;
  cc2.secret = secret;
  cc2.unix_time_offset = unix;
  Client client2(std::move(cc2), rng);
  DemoRig rig2(out, client2, device, rig.now + 1s);
  out << "connection 2: login with the stored secret\n";
  rig2.connect();
  if (!client2.ready()) {
    out << "login FAILED\n";
    return 1;
  }
  out << "lock (text tag \"blecrypt demo\"):\n";
  if (auto r = client2.lock(HistoryTag::from_text("blecrypt demo"), rig2.now); !r) {
    out << "lock refused: " << r.error().message() << "\n";
    return 1;
  }
  rig2.run_for(2s);
  out << "unlock (UUID tag, Android BLE):\n";
  const Uuid phone{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  if (auto r = client2.unlock(HistoryTag::from_uuid(14, phone), rig2.now); !r) {
    out << "unlock refused: " << r.error().message() << "\n";
    return 1;
  }
  rig2.run_for(2s);
  if (auto r = client2.read_version(rig2.now); !r) {
    out << "version refused: " << r.error().message() << "\n";
    return 1;
  }
  rig2.settle();
  const auto state2 = client2.lock_state();
  out << "lock state: " << state2.describe() << "\n";
  out << "counters: client tx " << client2.tx_counter() << " / device rx " << device.rx_counter() << ", device tx "
      << device.tx_counter() << " / client rx " << client2.rx_counter() << "\n";
  const bool aligned = client2.tx_counter() == device.rx_counter() && device.tx_counter() == client2.rx_counter();
  rig2.disconnect();

  // Connection 3: the advertisement says there is history: drain it (read 1, delete 18).
  device.set_battery_raw(2915);  // the battery drained a little meanwhile (5.83 V)
  auto adv3 = parse_advertisement(device.advertisement_payload());
  if (!adv3) {
    out << "advertisement parse failed: " << adv3.error().message() << "\n";
    return 1;
  }
  ClientConfig cc3;
  cc3.secret = secret;
  cc3.unix_time_offset = unix;
  Client client3(std::move(cc3), rng);
  client3.on_advertisement(*adv3, rig2.now);
  DemoRig rig3(out, client3, device, rig2.now + 1s);
  out << "connection 3: advertisement has-history bit " << adv3->has_history << ", login and drain history\n";
  rig3.connect();
  out << "lock state: " << client3.lock_state().describe() << "\n";
  rig3.disconnect();
  const bool drained = device.history().empty();
  out << "link: " << rig.pdus() + rig2.pdus() + rig3.pdus() << " packets of <= 20 bytes, "
      << rig.bytes() + rig2.bytes() + rig3.bytes() << " bytes; history left on the lock: " << device.history().size()
      << "\n";
  const bool ok = aligned && drained && !rig.failed && !rig2.failed && !rig3.failed &&
                  state2.position == LockState::Position::unlocked;
  out << "sesame demo " << (ok ? "OK" : "FAILED") << "\n";
  return ok ? 0 : 1;
}

bool drivable_os2_model(std::uint16_t m) {
  return m == model::sesame3 || m == model::sesame4 || m == model::bot1 || m == model::bike1;
}

void qr_import(const std::string& uri, bool show_secret, const std::string& key_file, bool force) {
  auto key = parse_share_uri(uri);
  if (!key) throw UserError(key.error().message());
  const bool drivable = key->os2 ? drivable_os2_model(key->model) : is_os3_lock(key->model);
  std::cout << "model:    " << model_name(key->model) << " (" << static_cast<int>(key->model) << ")\n";
  std::cout << "protocol: " << (key->os2 ? "OS2" : "OS3") << (drivable ? "" : " (not a device this tool drives: import only)")
            << "\n";
  if (key->uuid) std::cout << "uuid:     " << uuid_to_string(*key->uuid) << "\n";
  std::cout << "level:    " << key->level_name() << (key->level >= 0 ? " (" + std::to_string(key->level) + ")" : "") << "\n";
  // The name comes from whoever made the QR code: control characters print escaped.
  if (!key->name.empty()) std::cout << "name:     " << escape_control(key->name) << "\n";
  if (key->key_time) std::cout << "created:  " << *key->key_time << " (unix)\n";
  if (key->key_index) std::cout << "index:    " << *key->key_index << "\n";
  if (key->public_key) std::cout << "pubkey:   " << to_hex(*key->public_key) << "\n";
  std::cout << "secret:   " << (show_secret ? to_hex(key->secret.view()) : "16 bytes (use --show-secret to print)") << "\n";
  if (key_file.empty()) return;
  if (!drivable) throw UserError("--key-file: a " + model_name(key->model) + " is not a device the lock verbs drive");
  // The file says its generation on the first line; the URI holds everything a login needs.
  write_key_file(key_file, std::string("generation ") + (key->os2 ? "os2" : "os3") + "\n" + uri + "\n", force);
  std::cout << "key file: " << key_file << " (mode 0600; use it with lock/unlock/toggle/status/history --key-file)\n";
}

const Register demo_step{DemoStep{"sesame", 20, run_demo}};

const Register group{VerbGroup{"sesame", "SESAME 5 (OS3) and SESAME 3/4, bot, bike (OS2): register, lock, unlock, toggle, status, history; demo, share-key import", [](CLI::App& g) {
  g.require_subcommand(1);
  auto* demo = g.add_subcommand("demo", "Client vs emulated SESAME 5 over a 20-byte memory link: register, login, lock, unlock, battery, history");
  demo->callback([] {
    if (run_demo(std::cout) != 0) throw DeviceError("sesame demo failed");
  });
  auto* qr = g.add_subcommand("qr-import", "Decode the app's share-key URI (ssm://UI?t=sk&sk=...)");
  static std::string uri, key_file;
  static bool show_secret = false, force = false;
  qr->add_option("URI", uri, "the share URI from the QR code")->required();
  qr->add_flag("--show-secret", show_secret, "print the 16-byte device secret in hex");
  qr->add_option("--key-file", key_file, "also write a key file (mode 0600: 'generation os2|os3' and the URI) for the lock verbs");
  qr->add_flag("--force", force, "with --key-file: replace an existing file");
  qr->callback([] {
    if (force && key_file.empty()) throw UserError("--force applies to --key-file only");
    qr_import(uri, show_secret, key_file, force);
  });
  auto* ek = g.add_subcommand("emulator-key", "Print an owner share URI for a new emulated device (for --emulator MODEL --qr URI)");
  static std::string ek_model, ek_name = "blecrypt emulator";
  ek->add_option("MODEL", ek_model, "5, 5pro, 5us; OS2: 3, 4, bot, bike")->required();
  ek->add_option("--name", ek_name, "the key's name (default \"blecrypt emulator\")");
  ek->callback([] { std::cout << emulator_share_uri(ek_model, ek_name) << "\n"; });
  auto* adv = g.add_subcommand("advertisement", "Parse a whole AD payload (hex) and tell whether it is a SESAME");
  static std::string hex_ad;
  adv->add_option("HEX", hex_ad, "advertising data in hex")->required();
  adv->callback([] {
    auto bytes = from_hex(hex_ad);
    if (!bytes) throw UserError("advertisement: not valid hex");
    auto a = parse_advertisement(*bytes);
    if (!a) throw UserError(a.error().message());
    std::cout << model_name(a->model) << " " << uuid_to_string(a->uuid) << (a->registered ? " registered" : " unregistered")
              << (a->has_history ? ", has history" : "") << "\n";
  });
  add_sesame_device_verbs(g);
}}};

}  // namespace
}  // namespace blecrypt::cli
