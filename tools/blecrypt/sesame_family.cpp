// `blecrypt sesame family-demo`, `blecrypt sesame address UUID` and `blecrypt sesame touch cards|fingerprints|passcodes
// list|add|delete --emulator MODEL`: the SESAME accessories and OS2 (issue 13). They add to the
// `sesame` verb group of sesame.cpp (main.cpp merges groups of the same name). Every exchange runs
// the engines in a link::Session over a link::MemoryLink, the same code a GATT transport uses.
#include <iostream>
#include <optional>
#include <string>
#include <variant>

#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"
#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/credentials.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/os2.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::sesame;
using namespace std::chrono_literals;

constexpr std::int64_t kDemoUnix = 1700000000;

// One client engine over a MemoryLink to one emulated peripheral, under a virtual clock.
template <typename C, typename D>
class Rig {
 public:
  Rig(C& client, D& device, TimePoint& now, std::string what)
      : now_(now), io_(device), gatt_(io_, kGattProfile, link::kDefaultAttMtu, std::move(what)), session_(client, gatt_, kGattProfile) {}
  void connect() {
    gatt_.connect(now_);
    settle();
  }
  void disconnect() {
    gatt_.disconnect(now_);
    settle();
  }
  void settle() {
    session_.flush(now_);
    gatt_.pump(now_);
  }
  void run_for(Duration d) {
    const TimePoint until = now_ + d;
    settle();
    for (int guard = 0; guard < 100000; ++guard) {
      const auto next = earliest(gatt_.next_deadline(), session_.next_deadline());
      if (!next || *next > until) break;
      now_ = std::max(now_, *next);
      gatt_.on_deadline(now_);
      session_.on_deadline(now_);
      settle();
    }
    now_ = until;
  }
  // The session's events, engine events unwrapped (link events dropped).
  std::vector<typename C::Event> events() {
    std::vector<typename C::Event> out;
    while (auto e = session_.poll_event())
      if (auto* ce = std::get_if<typename C::Event>(&*e)) out.push_back(std::move(*ce));
    return out;
  }

 private:
  TimePoint& now_;
  EngineIoRef<D> io_;
  link::MemoryLink gatt_;
  link::Session<C> session_;
};

void check(const Result<void>& r, const char* what) {
  if (!r) throw DeviceError(std::string(what) + ": " + r.error().message());
}

template <typename C, typename D>
void expect_ready(const C& client, const char* what) {
  if (!client.ready()) throw DeviceError(std::string(what) + ": no session");
}

// Runs `rig` until quiet; throws when the device answered item `it` with anything but success.
void expect_success(Rig<Client, Device>& rig, std::uint8_t it) {
  rig.settle();
  for (const auto& e : rig.events())
    if (const auto* r = std::get_if<events::CommandResult>(&e); r && r->item == it && r->result != ResultCode::success)
      throw DeviceError(item_name(it) + ": " + result_name(r->result));
}

Uuid demo_uuid(std::uint8_t b) {
  Uuid u{};
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = static_cast<std::uint8_t>(b + i);
  return u;
}

// An emulated device of `model` whose UUID starts at `uuid_byte`.
DeviceConfig demo_device(std::uint16_t model, std::uint8_t uuid_byte) {
  DeviceConfig c;
  c.model = model;
  c.uuid = demo_uuid(uuid_byte);
  return c;
}

// Carries out an accessory's OperateLock against `lock`: what the accessory's own radio does.
ResultCode carry_out(const events::OperateLock& op, Device& lock, TimePoint& now, crypto::Rng& rng) {
  Client relay(operate_lock_config(op), rng);
  Rig<Client, Device> rig(relay, lock, now, "emulated lock");
  rig.connect();
  if (!relay.ready()) throw DeviceError("accessory could not log in to its lock");
  check(relay.request(op.item, op.payload(), now), item_name(op.item).c_str());
  rig.run_for(3s);
  ResultCode rc = ResultCode::unknown;
  for (const auto& e : rig.events())
    if (const auto* r = std::get_if<events::CommandResult>(&e); r && r->item == op.item) rc = r->result;
  rig.disconnect();
  return rc;
}

void family_demo(std::ostream& out) {
  auto& rng = crypto::system_rng();
  TimePoint now = time_from_seconds(1000);
  DeviceConfig lc = demo_device(model::sesame5, 0x10);
  lc.unix_time_offset = kDemoUnix;
  lc.status = MechStatus{3000, kNoTarget, -90, MechStatus::in_lock_range | MechStatus::stopped};
  Device lock(std::move(lc), rng);
  DeviceConfig tc = demo_device(model::touch, 0x20);
  tc.status.battery_raw = 1500;
  Device touch(std::move(tc), rng);

  out << "SESAME family demo (emulated devices, memory links, virtual clock)\n";
  ClientConfig pc;
  pc.unix_time_offset = kDemoUnix;
  Client phone(pc, rng);
  SecretBytes lock_secret;
  {
    Rig<Client, Device> rig(phone, lock, now, "emulated SESAME 5");
    rig.connect();
    expect_ready<Client, Device>(phone, "register SESAME 5");
    lock_secret = phone.device_secret();
    rig.disconnect();
  }
  out << "1. phone registered a SESAME 5 (" << uuid_to_string(lock.advertisement().uuid) << ")\n";
  const Bytes card = *from_hex("04a224b2c35e80");
  const Uuid card_name = demo_uuid(0xC0);
  {
    Client phone2(pc, rng);
    Rig<Client, Device> rig(phone2, touch, now, "emulated SESAME Touch");
    rig.connect();
    expect_ready<Client, Device>(phone2, "register Touch");
    check(phone2.add_sesame(lock.advertisement().uuid, lock_secret.view(), now), "ADD_SESAME");
    check(phone2.set_credential_mode(CredentialKind::card, 1, now), "CARD_MODE_SET");
    rig.settle();
    if (auto r = touch.present_credential(CredentialKind::card, card, now); !r) check(Unexpected{r.error()}, "card");
    rig.settle();
    check(phone2.rename_credential(CredentialKind::card, card, card_name, now), "CARD_CHANGE");
    rig.settle();
    check(phone2.set_credential_mode(CredentialKind::card, 0, now), "CARD_MODE_SET");
    rig.settle();
    out << "2. phone registered a SESAME Touch, gave it the lock's key (slot 1: "
        << key_slot_status_name(phone2.accessory_state().key_slots.at(0).status) << ") and enrolled card "
        << to_hex(card) << " named " << uuid_to_string(card_name) << "\n";
    rig.disconnect();
  }
  (void)touch.present_credential(CredentialKind::card, card, now);
  std::size_t operated = 0;
  while (auto e = touch.poll_event()) {
    if (auto* op = std::get_if<events::OperateLock>(&*e)) {
      const ResultCode rc = carry_out(*op, lock, now, rng);
      out << "3. card swiped: the Touch connected to the lock and sent " << item_name(op->item) << " -> "
          << result_name(rc) << "; lock is now " << position_name(position_from_status(lock.status())) << "\n";
      ++operated;
    }
  }
  if (operated != 1 || lock.history().empty()) throw DeviceError("the card swipe did not reach the lock");
  const HistoryRecord& rec = lock.history().back();
  out << "4. lock history #" << rec.id << " " << rec.type_name() << " by \"" << escape_control(rec.tag.describe()) << "\"\n";

  // Server role: the lock emulator (what `blecrypt emulate sesame` runs) reports a Remote's press.
  DeviceConfig rc = demo_device(model::remote, 0x30);
  rc.status.battery_raw = 1480;
  Device remote(std::move(rc), rng);
  {
    Client phone3(pc, rng);
    Rig<Client, Device> rig(phone3, remote, now, "emulated Remote");
    rig.connect();
    expect_ready<Client, Device>(phone3, "register Remote");
    check(phone3.add_sesame(lock.advertisement().uuid, lock_secret.view(), now), "ADD_SESAME");
    rig.settle();
    rig.disconnect();
  }
  while (lock.poll_event()) {
  }
  check(remote.press_button(now), "press");
  while (auto e = remote.poll_event())
    if (auto* op = std::get_if<events::OperateLock>(&*e)) (void)carry_out(*op, lock, now, rng);
  while (auto e = lock.poll_event())
    if (auto* op = std::get_if<events::Operated>(&*e))
      out << "5. server role: the lock saw " << item_name(op->item) << " from \"" << escape_control(op->tag.describe()) << "\"\n";

  // OS2: a SESAME 4 and the 99-byte share key its owner's app shows as a QR code.
  os2::DeviceConfig2 oc;
  oc.model = model::sesame4;
  oc.uuid = demo_uuid(0x40);
  Bytes secret(16);
  rng.fill(secret);
  oc.secret = SecretBytes(secret);
  oc.key_index = 1;
  oc.unix_time_offset = kDemoUnix;
  os2::Device2 ss4(std::move(oc), rng);
  const std::string uri = "ssm://UI?t=sk&sk=" + base64_encode(ss4.share_key_bytes()) + "&l=0&n=Old%20door";
  auto key = parse_share_uri(uri);
  if (!key) throw DeviceError("share key: " + key.error().message());
  auto cfg = os2::ClientConfig2::from_share_key(*key);
  if (!cfg) throw DeviceError("share key: " + cfg.error().message());
  os2::Client2 old(std::move(*cfg), rng);
  Rig<os2::Client2, os2::Device2> rig(old, ss4, now, "emulated SESAME 4");
  rig.connect();
  if (!old.ready()) throw DeviceError("OS2 login failed");
  check(old.unlock(HistoryTag::from_text("blecrypt"), now), "OS2 UNLOCK");
  rig.settle();
  out << "6. OS2: logged in to a SESAME 4 with its 99-byte share key (model " << static_cast<int>(key->model) << ", key index "
      << key->key_index.value_or(0) << "), unlocked: " << (old.status() && old.status()->unlocked() ? "yes" : "no") << "\n";
  rig.disconnect();
}

// `blecrypt sesame touch KIND VERB --emulator MODEL`: the emulated accessory starts with three
// credentials of each kind (ids 01, 02, 03).
struct TouchOpts {
  std::string kind, verb, emulator, id_hex, name;
};

void touch_verb(const TouchOpts& o, std::ostream& out) {
  CredentialKind kind = CredentialKind::card;
  if (o.kind == "cards") kind = CredentialKind::card;
  else if (o.kind == "fingerprints") kind = CredentialKind::fingerprint;
  else if (o.kind == "passcodes") kind = CredentialKind::passcode;
  std::uint16_t m = 0;
  if (o.emulator == "touch") m = model::touch;
  else if (o.emulator == "touch-pro") m = model::touch_pro;
  else if (o.emulator == "face") m = model::face;
  else if (o.emulator == "face-pro") m = model::face_pro;
  else throw UserError("--emulator must be touch, touch-pro, face or face-pro");
  std::optional<Bytes> id;
  if (!o.id_hex.empty()) {
    id = from_hex(o.id_hex);
    if (!id || id->empty() || id->size() > Credential::kMaxIdSize) throw UserError("--id must be 1-32 bytes of hex");
  }
  if (o.verb == "list" && (id || !o.name.empty())) throw UserError("list takes no --id or --name");
  if (o.verb != "list" && !id) throw UserError(o.verb + " needs --id HEX");
  if (o.verb == "delete" && !o.name.empty()) throw UserError("delete takes no --name");
  if (o.name.size() > Credential::kMaxNameSize) throw UserError("--name is at most 32 bytes");

  auto& rng = crypto::system_rng();
  TimePoint now = time_from_seconds(1000);
  Device acc(demo_device(m, 0x50), rng);
  ClientConfig cc;
  Client client(cc, rng);
  Rig<Client, Device> rig(client, acc, now, "emulated " + model_name(m));
  rig.connect();
  expect_ready<Client, Device>(client, "register");
  check(client.set_credential_mode(kind, 1, now), "mode");
  rig.settle();
  for (std::uint8_t i = 1; i <= 3; ++i) (void)acc.present_credential(kind, Bytes{i}, now);
  if (o.verb == "add") (void)acc.present_credential(kind, *id, now);  // enrolment: presented in add mode
  rig.settle();
  check(client.set_credential_mode(kind, 0, now), "mode");
  rig.settle();
  rig.events();
  const CredentialItems items = credential_items(kind);
  if (o.verb == "add" && !o.name.empty()) {
    check(client.rename_credential(kind, *id, as_bytes(o.name), now), "rename");
    expect_success(rig, items.change);
  } else if (o.verb == "delete") {
    check(client.delete_credential(kind, *id, now), "delete");
    expect_success(rig, items.del);
  }
  check(client.list_credentials(kind, now), "list");
  expect_success(rig, items.get);
  if (!client.accessory_state().list_complete[static_cast<std::size_t>(kind)]) throw DeviceError("list transfer incomplete");
  const auto& list = client.accessory_state().list(kind);
  out << model_name(m) << " (emulated): " << list.size() << " " << o.kind << "\n";
  for (const auto& c : list) out << "  " << c.describe() << "\n";
  rig.disconnect();
}

// `blecrypt sesame bot2 scripts|select|run|show --emulator bot2|bot3 [N]`: the Bot 2 scripts
// (items 94-96, 170-179, 181) against an emulated Bot 2 that starts with "script 0".."script 9".
struct Bot2Opts {
  std::string verb, emulator;
  int index = -1;
  std::string tag = "blecrypt";
};

void bot2_verb(const Bot2Opts& o, std::ostream& out) {
  std::uint16_t m = 0;
  if (o.emulator == "bot2") m = model::bot2;
  else if (o.emulator == "bot3") m = model::bot3;
  else throw UserError("--emulator must be bot2 or bot3");
  const bool needs_index = o.verb == "select" || o.verb == "run";
  if (needs_index && o.index < 0) throw UserError(o.verb + " needs the script number N (0-9)");
  if (o.verb == "scripts" && o.index >= 0) throw UserError("scripts takes no script number");
  if (o.tag.size() > HistoryTag::kMaxTextBytes) throw UserError("--tag: at most 29 bytes");
  auto& rng = crypto::system_rng();
  TimePoint now = time_from_seconds(1000);
  Device bot(demo_device(m, 0x60), rng);
  Client client(ClientConfig{}, rng);
  Rig<Client, Device> rig(client, bot, now, "emulated " + model_name(m));
  rig.connect();
  expect_ready<Client, Device>(client, "register");
  rig.events();
  const auto n = static_cast<std::uint8_t>(o.index < 0 ? 0 : o.index);
  if (o.verb == "select") {
    check(client.select_script(n, now), "select");
    expect_success(rig, item::script_select);
  } else if (o.verb == "run") {
    check(client.run_script(n, HistoryTag::from_text(o.tag), now), "run");
    expect_success(rig, static_cast<std::uint8_t>(item::bot2_run_script_0 + n));
    out << "ran script " << int{n} << " (" << escape_control(bot.scripts()[n].name) << ")\n";
    rig.disconnect();
    return;
  } else if (o.verb == "show") {
    check(client.read_script(o.index < 0 ? std::nullopt : std::optional<std::uint8_t>(n), now), "show");
    expect_success(rig, item::script_current);
    const auto& sc = client.accessory_state().bot2_script;
    if (!sc) throw DeviceError("no script in the answer");
    static constexpr const char* kActions[] = {"forward", "reverse", "stop", "sleep"};
    out << escape_control(sc->name) << ":";
    for (const auto& a : sc->actions) out << " " << kActions[a.action] << " " << int{a.time};
    out << "\n";
    rig.disconnect();
    return;
  }
  check(client.read_script_names(now), "scripts");
  expect_success(rig, item::script_name_list);
  const auto& l = client.accessory_state().bot2_scripts;
  if (!l) throw DeviceError("no script list in the answer");
  out << model_name(m) << " (emulated): " << l->names.size() << " scripts\n";
  for (std::size_t i = 0; i < l->names.size(); ++i)
    out << (i == l->current ? "* " : "  ") << i << " " << escape_control(l->names[i]) << "\n";
  rig.disconnect();
}

const Register group{VerbGroup{"sesame", "", [](CLI::App& g) {
  auto* demo = g.add_subcommand("family-demo",
                                "Touch + SESAME 5 + Remote + SESAME 4 (OS2), all emulated: card swipe named in the lock's "
                                "history, a Remote press seen by the lock, OS2 login with a 99-byte share key");
  demo->callback([] { family_demo(std::cout); });
  auto* touch = g.add_subcommand("touch", "SESAME Touch / Face credentials (emulator only for now)");
  static TouchOpts o;
  touch->add_option("KIND", o.kind, "cards, fingerprints or passcodes")
      ->required()
      ->check(CLI::IsMember({"cards", "fingerprints", "passcodes"}));
  touch->add_option("VERB", o.verb, "list, add or delete")->required()->check(CLI::IsMember({"list", "add", "delete"}));
  touch->add_option("--emulator", o.emulator, "touch, touch-pro, face or face-pro")->required();
  touch->add_option("--id", o.id_hex, "the credential's id in hex (add, delete)");
  touch->add_option("--name", o.name, "a name for the added credential (at most 32 bytes)");
  touch->callback([] { touch_verb(o, std::cout); });
  auto* b2 = g.add_subcommand("bot2", "SESAME Bot 2 scripts: list, select, run, show (emulator only for now)");
  static Bot2Opts bo;
  b2->add_option("VERB", bo.verb, "scripts, select, run or show")->required()->check(CLI::IsMember({"scripts", "select", "run", "show"}));
  b2->add_option("N", bo.index, "script number 0-9 (select, run; show: default the selected one)")->transform(cli::decimal(0, 9));
  b2->add_option("--emulator", bo.emulator, "bot2 or bot3")->required();
  b2->add_option("--tag", bo.tag, "run: the history tag (default \"blecrypt\")");
  b2->callback([] { bot2_verb(bo, std::cout); });
  auto* addr = g.add_subcommand("address", "The Bluetooth address an OS3 SESAME advertises with, from its UUID (QR code)");
  static std::string uuid_text;
  addr->add_option("UUID", uuid_text, "the device UUID (with or without dashes)")->required();
  addr->callback([] {
    auto u = uuid_from_string(uuid_text);
    if (!u) throw UserError("address: UUID must be 32 hex digits (dashes allowed)");
    auto a = address_from_uuid(crypto::default_backend(), *u);
    if (!a) throw DeviceError(a.error().message());
    std::cout << *a << "\n";
  });
}}};

}  // namespace
}  // namespace blecrypt::cli
