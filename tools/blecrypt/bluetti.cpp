// `blecrypt bluetti demo|read|write|advert` and the BLUETTI part of `blecrypt demo`.
//
// The client side is the drop-in BluettiCrypt, driven the way the official module's callers drive
// it; the other end is a Transport. Today the only transport is the built-in emulator behind a
// MemoryLink (20-byte ATT payloads); the BlueZ transport (a later issue) implements the same
// three calls: subscribe, write to FF02, and the next FF01 notification.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/link/duplex_wire.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::bluetti;

// The transport seam for BLUETTI: one GATT connection to FF01/FF02.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string describe() const = 0;
  virtual void subscribe() = 0;                        // enable FF01 notifications
  virtual void write(ByteView data) = 0;               // write to FF02
  virtual std::optional<Bytes> next_notification() = 0;  // nullopt: nothing more right now
  virtual std::size_t pdus() const = 0;
};

TimePoint steady_now() { return TimePoint{std::chrono::steady_clock::now().time_since_epoch()}; }

class EmulatorTransport final : public Transport {
 public:
  EmulatorTransport(PowerStation station, const crypto::Backend& backend, std::size_t mtu)
      : link_(mtu), device_(must_config(backend), std::move(station), crypto::system_rng()) {}
  std::string describe() const override {
    auto& s = const_cast<DeviceSession&>(device_).station();
    return "emulated " + s.model() + " (" + (s.protocol() == Protocol::iot_v2 ? "IoT V2" : "IoT V1") +
           ", serial " + std::to_string(s.serial()) + ", IoT serial " + std::to_string(s.iot_serial()) + ") over a " +
           std::to_string(link_.payload_size()) + "-byte ATT link";
  }
  void subscribe() override {
    device_.start(steady_now());
    flush();
  }
  void write(ByteView data) override {
    link_.write(data);
    while (auto pdu = link_.next_for_peripheral()) (void)device_.feed(*pdu, steady_now());
    flush();
  }
  std::optional<Bytes> next_notification() override { return link_.next_for_central(); }
  std::size_t pdus() const override { return link_.pdus_carried(); }
  DeviceSession& device() { return device_; }

 private:
  static DeviceConfig must_config(const crypto::Backend& backend) {
    auto c = DeviceConfig::make(backend, {});
    if (!c) throw UserError("emulator: " + c.error().message());
    return std::move(*c);
  }
  void flush() {
    while (auto t = device_.poll_transmit()) link_.notify(*t);
  }
  link::DuplexWire link_;
  DeviceSession device_;
};

const char* status_text(int s) {
  switch (s) {
    case 0: return "challenge stage";
    case 1: return "device key arriving / checked";
    case 2: return "device key verified, signed client key sent";
    case 3: return "session up (AES-256-CBC), checking the IoT serial";
    case 4: return "complete";
    default: return "?";
  }
}

// Client side: BluettiCrypt driven as the official callers do.
class Session {
 public:
  Session(Transport& t, BluettiCrypt::Options opt) : t_(t), crypt_(std::move(opt)) {}

  void handshake(std::ostream* out) {
    t_.subscribe();
    int last = -1;
    bool serial_sent = false;
    for (int guard = 0; guard < 1000; ++guard) {
      auto n = t_.next_notification();
      if (!n) break;
      int status = -1;
      std::string reply = crypt_.ble_crypt_link_handler(std::string(n->begin(), n->end()), &status);
      if (out && status != last) *out << "  status " << status << "  " << status_text(status) << "\n";
      last = status;
      if (!reply.empty()) t_.write(as_bytes(reply));
      if (status == 3 && !serial_sent) {
        serial_sent = true;
        auto adu = modbus::encode_request(modbus::Request::read(kIotSerialRegister, 4));
        t_.write(as_bytes(crypt_.encrypt_data(std::string(adu->begin(), adu->end()))));
      }
      if (status == 4) break;
    }
    if (crypt_.status() != 4) throw UserError("bluetti handshake stopped at status " + std::to_string(crypt_.status()) + ": " + crypt_.last_error());
    if (out) *out << "  IoT serial " << *crypt_.iot_serial() << " accepted\n";
  }

  modbus::Response request(const modbus::Request& req) {
    auto adu = modbus::encode_request(req);
    if (!adu) throw UserError("request: " + adu.error().message());
    const std::string rec = crypt_.encrypt_data(std::string(adu->begin(), adu->end()));
    if (rec.empty()) throw UserError("encrypt_data: " + crypt_.last_error());
    t_.write(as_bytes(rec));
    std::string plain;
    while (auto n = t_.next_notification()) {
      plain += crypt_.decrypt_data(std::string(n->begin(), n->end()));
      auto resp = modbus::parse_response(as_bytes(plain));
      if (resp) {
        if (resp->exception) throw UserError("device answered Modbus exception " + std::to_string(*resp->exception) + " for register " + std::to_string(req.address));
        return *resp;
      }
      if (resp.error() != make_error_code(bluetti::Errc::modbus_truncated)) throw UserError(resp.error().message());
    }
    throw UserError("no answer from the device");
  }

  Telemetry telemetry(Protocol p) {
    RegisterValues regs;
    for (const auto& req : telemetry_requests(p)) collect(req, request(req), regs);
    auto t = decode_telemetry(p, regs);
    if (!t) throw UserError(t.error().message());
    return *t;
  }

 private:
  Transport& t_;
  BluettiCrypt crypt_;
};

void print_telemetry(std::ostream& out, const Telemetry& t) {
  out << "  model " << t.model << ", serial " << t.serial << ", SOC " << t.soc_percent << " %\n"
      << "  input: DC " << t.dc_input_w << " W, AC " << t.ac_input_w << " W;  output: AC " << t.ac_output_w
      << " W (" << (t.ac_output_on ? "on" : "off") << "), DC " << t.dc_output_w << " W (" << (t.dc_output_on ? "on" : "off") << ")\n";
}

struct Options {
  std::string emulator = "AC180";
  std::string device_key_hex;
  std::string licence;
  std::string backend;
  std::size_t mtu = link::kDefaultAttMtu;
  int address = -1;
  int count = 1;
  int value = -1;
  std::string ac, dc;
};

const crypto::Backend& pick_backend(const std::string& name) {
  if (name.empty()) return crypto::default_backend();
  const auto* b = crypto::backend_by_name(name);
  if (!b) throw UserError("unknown backend '" + name + "' (openssl, mbedtls)");
  return *b;
}

struct Connected {
  std::unique_ptr<EmulatorTransport> transport;
  std::unique_ptr<Session> session;
  Protocol protocol;
};

Connected connect(const Options& o, std::ostream* out) {
  auto station = PowerStation::create(o.emulator);
  if (!station) {
    std::string list;
    for (auto& m : PowerStation::models()) list += (list.empty() ? "" : ", ") + m;
    throw UserError("unknown emulator model '" + o.emulator + "' (" + list + ")");
  }
  const auto& backend = pick_backend(o.backend);
  Connected c;
  c.protocol = station->protocol();
  c.transport = std::make_unique<EmulatorTransport>(std::move(*station), backend, o.mtu);
  BluettiCrypt::Options opt;
  opt.backend = &backend;
  opt.licence_path = o.licence;
  if (!o.device_key_hex.empty()) {
    auto k = from_hex(o.device_key_hex);
    if (!k || k->size() != 64) throw UserError("--device-key must be 128 hex digits (raw X||Y)");
    opt.device_verify_key.assign(k->begin(), k->end());
  } else if (std::getenv(kDeviceKeyEnv) == nullptr) {
    // The emulator signs with the documented test key, not K2.
    opt.device_verify_key.assign(c.transport->device().verify_key().begin(), c.transport->device().verify_key().end());
  }
  if (out) *out << "BLUETTI client (drop-in BluettiCrypt, " << backend.name() << ") -> " << c.transport->describe() << "\n";
  c.session = std::make_unique<Session>(*c.transport, std::move(opt));
  c.session->handshake(out);
  return c;
}

int run_demo(std::ostream& out, const Options& o) {
  auto c = connect(o, &out);
  out << "telemetry:\n";
  print_telemetry(out, c.session->telemetry(c.protocol));
  out << "switching the AC and DC outputs on:\n";
  c.session->request(switch_request(c.protocol, Output::ac, true));
  c.session->request(switch_request(c.protocol, Output::dc, true));
  print_telemetry(out, c.session->telemetry(c.protocol));
  out << "link: " << c.transport->pdus() << " ATT PDUs carried\n";
  return 0;
}

int demo_all(std::ostream& out) {
  try {
    Options o;
    return run_demo(out, o);
  } catch (const UserError& e) {
    out << "bluetti demo FAILED: " << e.what() << "\n";
    return 1;
  }
}

const Register demo_step{DemoStep{"bluetti", 10, demo_all}};

void add_common(CLI::App* sub, Options& o) {
  sub->add_option("--emulator", o.emulator, "Emulated model: AC180, EL30V2 (IoT V2) or EB3A (IoT V1)")->default_val("AC180");
  sub->add_option("--device-key", o.device_key_hex, "Device verification key, 128 hex digits X||Y (default: the emulator's test key)");
  sub->add_option("--licence", o.licence, "Licence file (open format, see docs/bluetti.md)");
  sub->add_option("--backend", o.backend, "Crypto backend: openssl or mbedtls");
  sub->add_option("--mtu", o.mtu, "ATT MTU of the link (payload = MTU - 3)")->check(CLI::Range(23, 517));
}

const Register group{VerbGroup{
    "bluetti", "BLUETTI power stations: encrypted link client and emulator", [](CLI::App& g) {
      g.require_subcommand(1);
      static Options o;
      auto* demo = g.add_subcommand("demo", "Client against the emulator: statuses 0..4, telemetry, output switching");
      add_common(demo, o);
      demo->callback([] { run_demo(std::cout, o); });

      auto* read = g.add_subcommand("read", "Read telemetry, or --register A [--count N] raw holding registers");
      add_common(read, o);
      read->add_option("--register", o.address, "First register address")->check(CLI::Range(0, 65535));
      read->add_option("--count", o.count, "Number of registers (1..125)")->check(CLI::Range(1, 125));
      read->callback([] {
        auto c = connect(o, nullptr);
        if (o.address < 0) {
          print_telemetry(std::cout, c.session->telemetry(c.protocol));
          return;
        }
        auto r = c.session->request(modbus::Request::read(static_cast<std::uint16_t>(o.address), static_cast<std::uint16_t>(o.count)));
        for (std::size_t i = 0; i < r.values.size(); ++i)
          std::cout << (o.address + static_cast<int>(i)) << " = " << r.values[i] << " (0x" << std::hex << std::setw(4)
                    << std::setfill('0') << r.values[i] << std::dec << std::setfill(' ') << ")\n";
      });

      auto* write = g.add_subcommand("write", "Switch outputs (--ac on|off, --dc on|off) or write --register A --value V");
      add_common(write, o);
      write->add_option("--ac", o.ac, "AC output")->check(CLI::IsMember({"on", "off"}));
      write->add_option("--dc", o.dc, "DC output")->check(CLI::IsMember({"on", "off"}));
      write->add_option("--register", o.address, "Register address")->check(CLI::Range(0, 65535));
      write->add_option("--value", o.value, "Value to write (0..65535)")->check(CLI::Range(0, 65535));
      write->callback([] {
        if (o.ac.empty() && o.dc.empty() && (o.address < 0 || o.value < 0))
          throw UserError("write needs --ac on|off, --dc on|off, or --register A --value V");
        auto c = connect(o, nullptr);
        if (!o.ac.empty()) c.session->request(switch_request(c.protocol, Output::ac, o.ac == "on"));
        if (!o.dc.empty()) c.session->request(switch_request(c.protocol, Output::dc, o.dc == "on"));
        if (o.address >= 0 && o.value >= 0) {
          auto r = c.session->request(modbus::Request::write(static_cast<std::uint16_t>(o.address), static_cast<std::uint16_t>(o.value)));
          std::cout << "wrote " << o.value << " to register " << o.address << " (echo " << (r.values.empty() ? 0 : r.values[0]) << ")\n";
        }
        print_telemetry(std::cout, c.session->telemetry(c.protocol));
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
