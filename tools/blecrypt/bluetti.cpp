// `blecrypt bluetti demo|read|write|advert` and the BLUETTI part of `blecrypt demo`.
//
// The client is bluetti::Client with the request layer (bluetti::Requests) on top, driven by
// link::Session over a GATT link: the same code path a real transport uses. With --emulator the
// link is a link::MemoryLink hosting the device emulator (bluetti::Device), on a virtual clock
// that jumps to the next deadline when nothing is in flight.
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/requests.hpp"
#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::bluetti;

template <typename... F>
struct Overload : F... {
  using F::operator()...;
};
template <typename... F>
Overload(F...) -> Overload<F...>;

const char* protocol_text(Protocol p) { return p == Protocol::iot_v2 ? "IoT V2" : "IoT V1"; }

void print_telemetry(std::ostream& out, const Telemetry& t) {
  out << "  device_type " << t.device_type << ", serial_number " << t.serial_number << ", total_battery_percent "
      << t.total_battery_percent << " %\n"
      << "  dc_input_power " << t.dc_input_power << " W, ac_input_power " << t.ac_input_power << " W\n"
      << "  ac_output_power " << t.ac_output_power << " W (ac_output_on " << (t.ac_output_on ? "true" : "false")
      << "), dc_output_power " << t.dc_output_power << " W (dc_output_on " << (t.dc_output_on ? "true" : "false") << ")\n";
}

struct Options {
  std::string emulator = "AC180";
  std::string device_key_hex;
  std::string backend;
  std::size_t mtu = link::kDefaultAttMtu;
  std::uint16_t address = 0;
  std::uint16_t count = 1;
  std::uint16_t value = 0;
  std::string ac, dc;
  // Set by the option parser: which options were given.
  CLI::Option *address_opt = nullptr, *count_opt = nullptr, *value_opt = nullptr;
  CLI::Option *ac_opt = nullptr, *dc_opt = nullptr;
  bool given(const CLI::Option* o) const { return o != nullptr && o->count() > 0; }
};

const crypto::Backend& pick_backend(const std::string& name) {
  if (name.empty()) return crypto::default_backend();
  const auto* b = crypto::backend_by_name(name);
  if (!b) throw UserError("unknown backend '" + name + "' (openssl, mbedtls)");
  return *b;
}

// One BLUETTI connection: client + request layer + session runner over a memory link hosting the
// emulator. Everything after construction is what a real transport's loop does too.
class Connection {
 public:
  Connection(const Options& o, PowerStation station)
      : backend_(pick_backend(o.backend)),
        device_(device_config(backend_), std::move(station), crypto::system_rng()),
        io_(device_),
        link_(io_, kGattProfile, o.mtu, describe(device_.station(), o.mtu)),
        client_(client_config(o, backend_, device_), crypto::system_rng()),
        session_(client_, link_, kGattProfile),
        requests_(client_) {}

  std::string describe() const { return link_.describe(); }
  const crypto::Backend& backend() const { return backend_; }
  std::size_t pdus() const { return link_.pdus_carried(); }

  // Connects and runs the handshake. `out` gets the steps.
  void handshake(std::ostream* out) {
    out_ = out;
    link_.connect(now_);
    run([&] { return client_.established(); });
    out_ = nullptr;
    if (!client_.established())
      throw DeviceError("bluetti handshake failed (" + std::string(client_state_name(client_.state())) + "): " +
                        (client_.failure() ? client_.failure().message() : std::string("no progress")));
  }

  // Runs until the job `id` completes; its completion.
  Completion wait(RequestId id) {
    std::optional<Completion> done;
    run([&] {
      while (auto c = requests_.poll_completion()) {
        const RequestId cid = std::visit([](const auto& x) { return x.id; }, *c);
        if (cid == id) done = std::move(*c);
      }
      return done.has_value();
    });
    if (!done) throw DeviceError("no answer from the device");
    if (const auto* f = std::get_if<requests::Failed>(&*done)) {
      std::string why = f->error.message();
      if (f->exception) why += " (exception code " + std::to_string(*f->exception) + ")";
      throw DeviceError(why);
    }
    return std::move(*done);
  }

  Requests& requests() { return requests_; }
  TimePoint now() const { return now_; }

 private:
  static std::string describe(PowerStation& s, std::size_t mtu) {
    return "emulated " + s.model() + " (" + protocol_text(s.protocol()) + ", serial " + std::to_string(s.serial()) +
           ", IoT serial " + std::to_string(s.iot_serial()) + ") over a " + std::to_string(link::att_payload(mtu)) +
           "-byte ATT link";
  }
  static DeviceConfig device_config(const crypto::Backend& backend) {
    auto c = DeviceConfig::make(backend, {});
    if (!c) throw UserError("emulator: " + c.error().message());
    return std::move(*c);
  }
  static ClientConfig client_config(const Options& o, const crypto::Backend& backend, const Device& device) {
    Bytes key;
    if (!o.device_key_hex.empty()) {
      auto k = from_hex(o.device_key_hex);
      if (!k || k->size() != 64) throw UserError("--device-key must be 128 hex digits (raw X||Y)");
      key = std::move(*k);
    } else {
      key.assign(device.verify_key().begin(), device.verify_key().end());  // the emulator's test key, not K2
    }
    auto c = ClientConfig::make(backend, key);
    if (!c) throw UserError("--device-key is not a valid P-256 public key");
    return std::move(*c);
  }

  void report(const Client::Event& e) {
    if (!out_) return;
    std::visit(Overload{[&](const events::ChallengeAnswered&) { *out_ << "  CHALLENGE answered\n"; },
                        [&](const events::ChallengeAccepted&) { *out_ << "  CHALLENGE_ACCEPTED\n"; },
                        [&](const events::DeviceKeyVerified&) { *out_ << "  DEVICE_PUBKEY signature verified, CLIENT_PUBKEY sent\n"; },
                        [&](const events::Established&) { *out_ << "  PUBKEY_ACCEPTED: session up (AES-256-CBC)\n"; },
                        [&](const events::Failed& f) { *out_ << "  handshake failed: " << f.error.message() << "\n"; },
                        [&](const auto&) {}},
               e);
  }

  // Moves traffic and hands events on until `done()`; time jumps to the next deadline when
  // nothing else moves. Stops when no deadline is left either.
  template <typename Done>
  void run(Done done) {
    for (int guard = 0; guard < 100000; ++guard) {
      const std::size_t carried = link_.pdus_carried();
      session_.flush(now_);
      link_.pump(now_);
      bool any = link_.pdus_carried() != carried;
      while (auto e = session_.poll_event()) {
        any = true;
        if (auto* ce = std::get_if<Client::Event>(&*e)) {
          report(*ce);
          (void)requests_.on_event(*ce, now_);
        }
      }
      while (device_.poll_event()) {  // the emulator's own events are not shown
      }
      if (done()) return;
      if (any) continue;
      auto d = earliest(session_.next_deadline(), link_.next_deadline());
      if (!d) return;
      if (*d > now_) now_ = *d;
      link_.on_deadline(now_);
      session_.on_deadline(now_);
    }
  }

  const crypto::Backend& backend_;
  Device device_;
  EngineIoRef<Device> io_;
  link::MemoryLink link_;
  Client client_;
  link::Session<Client> session_;
  Requests requests_;
  TimePoint now_ = time_from_seconds(1000);
  std::ostream* out_ = nullptr;
};

std::unique_ptr<Connection> connect(const Options& o, std::ostream* out) {
  auto station = PowerStation::create(o.emulator);
  if (!station) {
    std::string list;
    for (auto& m : PowerStation::models()) list += (list.empty() ? "" : ", ") + m;
    throw UserError("unknown emulator model '" + o.emulator + "' (" + list + ")");
  }
  auto c = std::make_unique<Connection>(o, std::move(*station));
  if (out) *out << "BLUETTI client (" << c->backend().name() << ") -> " << c->describe() << "\n";
  c->handshake(out);
  // The IoT serial read of the official integration's status 3.
  auto r = c->requests().read_registers(kIotSerialRegister, 4, c->now());
  if (!r) throw DeviceError(r.error().message());
  auto serial = std::get<requests::RegistersRead>(c->wait(*r));
  if (out && serial.values.size() == 4) *out << "  IoT serial " << decode_serial(serial.values.data()) << "\n";
  return c;
}

Telemetry telemetry(Connection& c) {
  auto done = c.wait(c.requests().read_telemetry(c.now()));
  return std::get<requests::TelemetryRead>(done).telemetry;
}

int run_demo(std::ostream& out, const Options& o) {
  auto c = connect(o, &out);
  out << "telemetry:\n";
  print_telemetry(out, telemetry(*c));
  out << "switching the AC and DC outputs on:\n";
  (void)c->wait(c->requests().set_output(Output::ac, true, c->now()));
  (void)c->wait(c->requests().set_output(Output::dc, true, c->now()));
  print_telemetry(out, telemetry(*c));
  out << "link: " << c->pdus() << " ATT PDUs carried\n";
  return kExitOk;
}

int demo_all(std::ostream& out) {
  try {
    Options o;
    return run_demo(out, o);
  } catch (const std::exception& e) {
    out << "bluetti demo FAILED: " << e.what() << "\n";
    return kExitFailure;
  }
}

const Register demo_step{DemoStep{"bluetti", 10, demo_all}};

void add_common(CLI::App* sub, Options& o) {
  sub->add_option("--emulator", o.emulator, "Emulated model: AC180, EL30V2 (IoT V2) or EB3A (IoT V1)")->default_val("AC180");
  sub->add_option("--device-key", o.device_key_hex, "Device verification key, 128 hex digits X||Y (default: the emulator's test key)");
  sub->add_option("--backend", o.backend, "Crypto backend: openssl or mbedtls");
  sub->add_option("--mtu", o.mtu, "ATT MTU of the link, 23..517 (payload = MTU - 3)")->transform(decimal(23, 517));
}

const Register group{VerbGroup{
    "bluetti", "BLUETTI power stations: encrypted link client and emulator", [](CLI::App& g) {
      g.require_subcommand(1);
      static Options o;
      auto* demo = g.add_subcommand("demo", "Client against the emulator: handshake, telemetry, output switching");
      add_common(demo, o);
      demo->callback([] { run_demo(std::cout, o); });

      auto* read = g.add_subcommand("read", "Read telemetry, or --register A [--count N] raw holding registers");
      add_common(read, o);
      o.address_opt = read->add_option("--register", o.address, "First register address, 0..65535")->transform(decimal(0, 65535));
      o.count_opt = read->add_option("--count", o.count, "Number of registers, 1..125 (with --register)")->transform(decimal(1, modbus::kMaxRead));
      read->callback([] {
        if (o.given(o.count_opt) && !o.given(o.address_opt)) throw UserError("--count needs --register (telemetry reads take no count)");
        if (o.given(o.address_opt) && std::uint32_t(o.address) + o.count > 0x10000)
          throw UserError("--register " + std::to_string(o.address) + " --count " + std::to_string(o.count) + " runs past register 65535");
        auto c = connect(o, nullptr);
        if (!o.given(o.address_opt)) {
          print_telemetry(std::cout, telemetry(*c));
          return;
        }
        auto id = c->requests().read_registers(o.address, o.count, c->now());
        if (!id) throw UserError(id.error().message());
        auto r = std::get<requests::RegistersRead>(c->wait(*id));
        for (std::size_t i = 0; i < r.values.size(); ++i)
          std::cout << (o.address + i) << " = " << r.values[i] << " (0x" << std::hex << std::setw(4) << std::setfill('0')
                    << r.values[i] << std::dec << std::setfill(' ') << ")\n";
      });

      auto* write = g.add_subcommand("write", "Switch outputs (--ac on|off, --dc on|off) or write --register A --value V");
      add_common(write, o);
      o.ac_opt = write->add_option("--ac", o.ac, "AC output: on or off")->check(CLI::IsMember({"on", "off"}));
      o.dc_opt = write->add_option("--dc", o.dc, "DC output: on or off")->check(CLI::IsMember({"on", "off"}));
      auto* wreg = write->add_option("--register", o.address, "Register address, 0..65535")->transform(decimal(0, 65535));
      o.value_opt = write->add_option("--value", o.value, "Value to write, 0..65535")->transform(decimal(0, 65535));
      write->callback([wreg] {
        const bool reg = o.given(wreg), val = o.given(o.value_opt), outputs = o.given(o.ac_opt) || o.given(o.dc_opt);
        if (reg != val) throw UserError("--register and --value go together");
        if (reg && outputs) throw UserError("give either --ac/--dc or --register/--value, not both");
        if (!reg && !outputs) throw UserError("write needs --ac on|off, --dc on|off, or --register A --value V");
        auto c = connect(o, nullptr);
        if (o.given(o.ac_opt)) (void)c->wait(c->requests().set_output(Output::ac, o.ac == "on", c->now()));
        if (o.given(o.dc_opt)) (void)c->wait(c->requests().set_output(Output::dc, o.dc == "on", c->now()));
        if (reg) {
          auto w = std::get<requests::RegisterWritten>(c->wait(c->requests().write_register(o.address, o.value, c->now())));
          std::cout << "wrote " << w.value << " to register " << w.address << (w.read_back ? " (confirmed by reading it back)" : " (echoed)") << "\n";
        }
        print_telemetry(std::cout, telemetry(*c));
      });

      static std::string ad_hex;
      auto* adv = g.add_subcommand("advert", "Classify raw advertising data (hex): plaintext, encrypted or not BLUETTI");
      adv->add_option("data", ad_hex, "Advertising data as hex")->required();
      adv->callback([] {
        auto raw = from_hex(ad_hex);
        if (!raw) throw UserError("advertising data is not hex");
        auto a = classify_advertisement(*raw);
        if (!a) throw UserError("advertising data: " + a.error().message());
        std::cout << link_kind_name(a->kind) << (a->marker.empty() ? "" : " (marker " + a->marker + ")")
                  << (a->name.empty() ? "" : ", name '" + a->name + "'") << "\n";
      });
    }}};

}  // namespace
}  // namespace blecrypt::cli
