// `blecrypt sesame demo|qr-import|advertisement` and the SESAME part of `blecrypt demo`.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "blecrypt/link/duplex_wire.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "cli.hpp"

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

// Client and emulator joined by a MemoryLink with 20-byte ATT payloads; virtual time.
class DemoRig {
 public:
  DemoRig(std::ostream& out, Client& client, Device& device) : out_(out), client_(client), device_(device) {}

  TimePoint now{};

  void connect() {
    device_.on_connected(now);
    client_.on_connected(now);
    exchange();
  }
  void disconnect() {
    link_.disconnect();
    client_.on_disconnected();
    device_.on_disconnected();
    report();
  }
  // Moves packets until both sides are quiet, printing client events as they come.
  void exchange() {
    for (int i = 0; i < 100000; ++i) {
      while (auto p = device_.poll_transmit()) link_.notify(*p);
      while (auto p = client_.poll_transmit()) link_.write(*p);
      if (link_.idle()) break;
      while (auto pdu = link_.next_for_peripheral())
        if (auto r = device_.feed(*pdu, now); !r) out_ << "  device: " << r.error().message() << "\n";
      while (auto pdu = link_.next_for_central())
        if (auto r = client_.feed(*pdu, now); !r) out_ << "  client: " << r.error().message() << "\n";
    }
    report();
  }
  // Runs virtual time forward (motor steps, auto-lock, timeouts).
  void run_for(Duration d) {
    const TimePoint until = now + d;
    exchange();
    for (;;) {
      auto next = device_.next_deadline();
      if (auto c = client_.next_deadline(); c && (!next || *c < *next)) next = c;
      if (!next || *next > until) break;
      now = std::max(now, *next);
      device_.on_deadline(now);
      client_.on_deadline(now);
      exchange();
    }
    now = until;
  }
  std::size_t pdus() const { return link_.pdus_carried(); }
  std::size_t bytes() const { return link_.bytes_carried(); }
  bool failed = false;

 private:
  void report() {
    while (auto e = client_.poll_event()) {
      switch (e->kind) {
        case ClientEvent::Kind::random_code: out_ << "  random code received (INITIAL, plaintext)\n"; break;
        case ClientEvent::Kind::registered:
          out_ << "  registered: ECDH P-256 done, 16-byte device secret established, session encrypted\n";
          break;
        case ClientEvent::Kind::logged_in: out_ << "  logged in: encrypted LOGIN response, device time " << e->device_time << "\n"; break;
        case ClientEvent::Kind::mech_status:
          out_ << "  status: " << position_name(position_from_status(e->status)) << ", " << status_line(e->status) << "\n";
          break;
        case ClientEvent::Kind::mech_setting:
          out_ << "  setting: lock " << e->setting.lock_position << ", unlock " << e->setting.unlock_position
               << ", auto-lock " << e->setting.auto_lock_seconds << " s\n";
          break;
        case ClientEvent::Kind::command_result:
          out_ << "  " << item_name(e->item) << ": " << result_name(e->result) << "\n";
          if (e->result != ResultCode::success) failed = true;
          break;
        case ClientEvent::Kind::history:
          out_ << "  history #" << e->record->id << " " << e->record->type_name() << " at " << e->record->unix_time
               << (e->record->tag.describe().empty() ? "" : " by \"" + e->record->tag.describe() + "\"") << "\n";
          break;
        case ClientEvent::Kind::history_empty: out_ << "  history: no more records\n"; break;
        case ClientEvent::Kind::history_deleted: out_ << "  history record deleted: " << result_name(e->result) << "\n"; break;
        case ClientEvent::Kind::version: out_ << "  firmware version: " << e->text << "\n"; break;
        case ClientEvent::Kind::request_failed:
          out_ << "  " << item_name(e->item) << " failed: " << e->error.message() << "\n";
          failed = true;
          break;
        case ClientEvent::Kind::publish: out_ << "  publish " << item_name(e->item) << "\n"; break;
        case ClientEvent::Kind::session_ended: out_ << "  session ended: " << e->error.message() << "\n"; break;
      }
    }
    while (auto e = device_.poll_event()) (void)e;
  }

  std::ostream& out_;
  Client& client_;
  Device& device_;
  link::DuplexWire link_;  // ATT_MTU 23: 20-byte payloads
};

int run_demo(std::ostream& out) {
  auto& rng = crypto::system_rng();
  const std::int64_t unix = unix_now();
  DeviceConfig dc;
  dc.uuid = *uuid_from_string("8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f");
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
  DemoRig rig(out, client, device);
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
  DemoRig rig2(out, client2, device);
  rig2.now = rig.now + 1s;
  out << "connection 2: login with the stored secret\n";
  rig2.connect();
  if (!client2.ready()) {
    out << "login FAILED\n";
    return 1;
  }
  out << "lock (text tag \"blecrypt demo\"):\n";
  (void)client2.lock(HistoryTag::from_text("blecrypt demo"), rig2.now);
  rig2.run_for(2s);
  out << "unlock (UUID tag, Android BLE):\n";
  (void)client2.unlock(HistoryTag::from_uuid(14, *uuid_from_string("00112233-4455-6677-8899-aabbccddeeff")), rig2.now);
  rig2.run_for(2s);
  (void)client2.read_version(rig2.now);
  rig2.exchange();
  const auto state2 = client2.lock_state();
  out << "lock state: " << state2.describe() << "\n";
  out << "counters: client tx " << client2.tx_counter() << " / device rx " << device.rx_counter() << ", device tx "
      << device.tx_counter() << " / client rx " << client2.rx_counter() << "\n";
  const bool aligned = client2.tx_counter() == device.rx_counter() && device.tx_counter() == client2.rx_counter();
  rig2.disconnect();

  // Connection 3: the advertisement says there is history: drain it (read 1, delete 18).
  device.set_battery_raw(2915);  // the battery drained a little meanwhile (5.83 V)
  auto adv3 = parse_advertisement(device.advertisement_payload());
  ClientConfig cc3;
  cc3.secret = secret;
  cc3.unix_time_offset = unix;
  Client client3(std::move(cc3), rng);
  client3.on_advertisement(*adv3, rig2.now);
  DemoRig rig3(out, client3, device);
  rig3.now = rig2.now + 1s;
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

void qr_import(const std::string& uri, bool show_secret) {
  auto key = parse_share_uri(uri);
  if (!key) throw UserError(key.error().message());
  std::cout << "model:    " << model_name(key->model) << " (" << static_cast<int>(key->model) << ")\n";
  std::cout << "protocol: " << (key->os2 ? "OS2 (not supported for use: import only)" : "OS3") << "\n";
  if (key->uuid) std::cout << "uuid:     " << uuid_to_string(*key->uuid) << "\n";
  std::cout << "level:    " << key->level_name() << (key->level >= 0 ? " (" + std::to_string(key->level) + ")" : "") << "\n";
  if (!key->name.empty()) std::cout << "name:     " << key->name << "\n";
  if (key->key_time) std::cout << "created:  " << *key->key_time << " (unix)\n";
  if (key->key_index) std::cout << "index:    " << *key->key_index << "\n";
  if (key->public_key) std::cout << "pubkey:   " << to_hex(*key->public_key) << "\n";
  std::cout << "secret:   " << (show_secret ? to_hex(key->secret.view()) : "16 bytes (use --show-secret to print)") << "\n";
  if (key->os2) throw UserError("OS2 devices (SESAME 3/4, bot, bike) speak an older protocol that is not supported");
}

const Register demo_step{DemoStep{"sesame", 20, run_demo}};

const Register group{VerbGroup{"sesame", "SESAME 5 (OS3) locks: emulator demo, share-key import", [](CLI::App& g) {
  g.require_subcommand(1);
  auto* demo = g.add_subcommand("demo", "Client vs emulated SESAME 5 over a 20-byte memory link: register, login, lock, unlock, battery, history");
  demo->callback([] {
    if (run_demo(std::cout) != 0) throw UserError("sesame demo failed");
  });
  auto* qr = g.add_subcommand("qr-import", "Decode the app's share-key URI (ssm://UI?t=sk&sk=...)");
  static std::string uri;
  static bool show_secret = false;
  qr->add_option("URI", uri, "the share URI from the QR code")->required();
  qr->add_flag("--show-secret", show_secret, "print the 16-byte device secret in hex");
  qr->callback([] { qr_import(uri, show_secret); });
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
}}};

}  // namespace
}  // namespace blecrypt::cli
