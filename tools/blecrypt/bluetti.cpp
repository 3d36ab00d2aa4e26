// `blecrypt bluetti demo|read|write|logger|advert` and the BLUETTI part of `blecrypt demo`.
//
// Every verb that talks to a power station runs bluetti::Client with the request layer
// (bluetti::Requests) on top, driven by link::Session over the GATT link open_link() gives:
// BlueZ for a device ADDRESS, or a link::MemoryLink hosting the emulator (bluetti::Device) for
// --emulator MODEL. The code after open_link() is the same for both.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/requests.hpp"
#include "blecrypt/link/session.hpp"
#include "cli.hpp"
#include "bluetti_station.hpp"
#include "link_cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::bluetti;
using namespace bluetti_cli;

const char* protocol_text(Protocol p) { return p == Protocol::iot_v2 ? "IoT V2" : "IoT V1"; }
const char* on_off(bool b) { return b ? "true" : "false"; }

void print_telemetry(std::ostream& out, const Telemetry& t) {
  out << "  device_type " << printable(t.device_type) << ", serial_number " << t.serial_number << ", total_battery_percent "
      << t.total_battery_percent << " %\n"
      << "  dc_input_power " << t.dc_input_power << " W, ac_input_power " << t.ac_input_power << " W\n"
      << "  ac_output_power " << t.ac_output_power << " W (ac_output_on " << on_off(t.ac_output_on)
      << "), dc_output_power " << t.dc_output_power << " W (dc_output_on " << on_off(t.dc_output_on) << ")\n";
}

// The telemetry fields under bluetti_mqtt's names, as the members of one JSON object (no braces).
std::string telemetry_members(const Telemetry& t) {
  std::ostringstream o;
  o << "\"device_type\":" << json_ascii_string(t.device_type) << ",\"serial_number\":" << t.serial_number
    << ",\"total_battery_percent\":" << t.total_battery_percent << ",\"ac_output_power\":" << t.ac_output_power
    << ",\"dc_output_power\":" << t.dc_output_power << ",\"ac_input_power\":" << t.ac_input_power
    << ",\"dc_input_power\":" << t.dc_input_power << ",\"ac_output_on\":" << on_off(t.ac_output_on)
    << ",\"dc_output_on\":" << on_off(t.dc_output_on);
  return o.str();
}

struct Options : StationOptions {
  bool json = false;
  std::uint16_t reg = 0, count = 1, value = 0;  // --register, --count, --value
  std::string ac, dc;                           // --ac, --dc
  unsigned interval = 10;                       // logger --interval
  unsigned polls = 0;                           // logger --polls (0: until stopped)
  std::string output, format = "csv";           // logger --output, --format
  CLI::Option *reg_opt = nullptr, *count_opt = nullptr, *value_opt = nullptr, *ac_opt = nullptr, *dc_opt = nullptr;
  static bool given(const CLI::Option* opt) { return opt != nullptr && opt->count() > 0; }
};


std::string emulated_description(Station& s) {
  auto* emu = s.emulator();
  if (!emu) return s.describe();
  auto& st = emu->engine().station();
  return "emulated " + st.model() + " (" + protocol_text(st.protocol()) + ", serial " + std::to_string(st.serial()) +
         ", IoT serial " + std::to_string(st.iot_serial()) + ") over a " +
         std::to_string(link::att_payload(s.link().link().att_mtu())) + "-byte ATT link";
}

// ---- demo -----------------------------------------------------------------------------------

int run_demo(std::ostream& out, const Options& o) {
  Station s(o, &out);
  out << "BLUETTI client (" << s.backend().name() << ") -> " << emulated_description(s) << "\n";
  s.connect(LicenceCheck{});
  out << "telemetry:\n";
  print_telemetry(out, s.telemetry());
  out << "switching the AC and DC outputs on:\n";
  (void)s.wait(s.requests().set_output(Output::ac, true, s.now()), "switching the AC output on");
  (void)s.wait(s.requests().set_output(Output::dc, true, s.now()), "switching the DC output on");
  print_telemetry(out, s.telemetry());
  return kExitOk;
}

int demo_all(std::ostream& out) {
  try {
    Options o;
    o.link.emulator = "AC180";
    return run_demo(out, o);
  } catch (const std::exception& e) {
    out << "bluetti demo FAILED: " << e.what() << "\n";
    return kExitFailure;
  }
}

const Register demo_step{DemoStep{"bluetti", 10, demo_all}};

// ---- read / write -----------------------------------------------------------------------------

void run_read(const Options& o) {
  if (Options::given(o.count_opt) && !Options::given(o.reg_opt)) throw UserError("--count needs --register (telemetry reads take no count)");
  if (Options::given(o.reg_opt) && std::uint32_t(o.reg) + o.count > 0x10000)
    throw UserError("--register " + std::to_string(o.reg) + " --count " + std::to_string(o.count) + " runs past register 65535");
  const auto licence = load_licence(o.licence);
  Station s(o, nullptr);
  s.connect(licence);
  if (!Options::given(o.reg_opt)) {
    const auto t = s.telemetry();
    if (o.json)
      std::cout << "{" << telemetry_members(t) << ",\"iot_serial\":" << s.iot_serial() << "}\n";
    else
      print_telemetry(std::cout, t);
  } else {
    const auto values = s.read_registers(o.reg, o.count);
    if (o.json) {
      std::cout << "{\"register\":" << o.reg << ",\"count\":" << values.size() << ",\"values\":[";
      for (std::size_t i = 0; i < values.size(); ++i) std::cout << (i ? "," : "") << values[i];
      std::cout << "],\"iot_serial\":" << s.iot_serial() << "}\n";
    } else {
      for (std::size_t i = 0; i < values.size(); ++i)
        std::cout << (o.reg + i) << " = " << values[i] << " (0x" << std::hex << std::setw(4) << std::setfill('0') << values[i]
                  << std::dec << std::setfill(' ') << ")\n";
    }
  }
  s.disconnect();
}

// Reads the telemetry until `ok(t)` holds: a unit may take a moment to report an output it just
// switched. Up to 4 reads, 1 s apart; the last telemetry either way.
template <typename Ok>
std::pair<Telemetry, bool> read_back(Station& s, Ok ok) {
  Telemetry t = s.telemetry();
  for (int i = 0; i < 3 && !ok(t); ++i) {
    s.idle(std::chrono::seconds(1));
    t = s.telemetry();
  }
  return {t, ok(t)};
}

void run_write(const Options& o) {
  const bool reg = Options::given(o.reg_opt), val = Options::given(o.value_opt);
  const bool outputs = Options::given(o.ac_opt) || Options::given(o.dc_opt);
  if (reg != val) throw UserError("--register and --value go together");
  if (reg && outputs) throw UserError("give either --ac/--dc or --register/--value, not both");
  if (!reg && !outputs) throw UserError("write needs --ac on|off, --dc on|off, or --register A --value V");
  const auto licence = load_licence(o.licence);
  Station s(o, nullptr);
  s.connect(licence);
  std::ostringstream said;
  if (outputs) {
    const bool ac = Options::given(o.ac_opt), dc = Options::given(o.dc_opt);
    const bool ac_on = o.ac == "on", dc_on = o.dc == "on";
    if (ac) (void)s.wait(s.requests().set_output(Output::ac, ac_on, s.now()), "switching the AC output " + o.ac);
    if (dc) (void)s.wait(s.requests().set_output(Output::dc, dc_on, s.now()), "switching the DC output " + o.dc);
    auto [t, confirmed] = read_back(s, [&](const Telemetry& x) {
      return (!ac || x.ac_output_on == ac_on) && (!dc || x.dc_output_on == dc_on);
    });
    if (!confirmed) {
      std::string why;
      if (ac && t.ac_output_on != ac_on) why += std::string("ac_output_on reads back ") + on_off(t.ac_output_on);
      if (dc && t.dc_output_on != dc_on) why += std::string(why.empty() ? "" : ", ") + "dc_output_on reads back " + on_off(t.dc_output_on);
      throw DeviceError("the unit accepted the switch but did not confirm it: " + why);
    }
    if (o.json) {
      std::cout << "{" << telemetry_members(t) << ",\"iot_serial\":" << s.iot_serial() << ",\"confirmed\":true}\n";
    } else {
      if (ac) std::cout << "ac_output_on " << on_off(ac_on) << " (confirmed by reading back)\n";
      if (dc) std::cout << "dc_output_on " << on_off(dc_on) << " (confirmed by reading back)\n";
      print_telemetry(std::cout, t);
    }
  } else {
    auto w = std::get<requests::RegisterWritten>(
        s.wait(s.requests().write_register(o.reg, o.value, s.now()), "writing register " + std::to_string(o.reg)));
    const auto back = s.read_registers(o.reg, 1);
    if (back.size() != 1 || back[0] != o.value)
      throw DeviceError("register " + std::to_string(o.reg) + " reads back " + (back.empty() ? std::string("nothing") : std::to_string(back[0])) +
                        " after writing " + std::to_string(o.value));
    if (o.json)
      std::cout << "{\"register\":" << w.address << ",\"value\":" << back[0] << ",\"iot_serial\":" << s.iot_serial()
                << ",\"confirmed\":true}\n";
    else
      std::cout << "wrote " << o.value << " to register " << w.address << " (confirmed by reading it back)\n";
  }
  s.disconnect();
}

// ---- logger ---------------------------------------------------------------------------------

std::string utc_now() {
  const auto t = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return "?";
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  return std::string(buf) + frac;
}

std::string csv_field(std::string_view s) {
  std::string out = "\"";
  for (char c : printable(s)) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

constexpr const char* kCsvHeader =
    "time,device,device_type,serial_number,total_battery_percent,ac_output_power,dc_output_power,ac_input_power,"
    "dc_input_power,ac_output_on,dc_output_on\n";

// Where the rows go: stdout, or FILE appended to (created 0644; a symbolic link or anything but a
// regular file is refused). A CSV header is written when the file is new or empty.
class RowSink {
 public:
  RowSink(const std::string& path, bool csv) {
    if (path.empty() || path == "-") {
      if (csv) write(kCsvHeader);
      return;
    }
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      const int err = errno;
      throw UserError("--output '" + path + "': " + (err == ELOOP ? std::string("is a symbolic link (give the file itself)") : std::strerror(err)));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw UserError("--output '" + path + "' is not a regular file");
    }
    if (csv && st.st_size == 0) write(kCsvHeader);
  }
  ~RowSink() {
    if (fd_ >= 0) ::close(fd_);
  }
  RowSink(const RowSink&) = delete;
  RowSink& operator=(const RowSink&) = delete;

  void write(const std::string& row) {
    if (fd_ < 0) {
      std::cout << row << std::flush;
      if (!std::cout) throw DeviceError("writing the rows to stdout failed");
      return;
    }
    std::size_t off = 0;
    while (off < row.size()) {
      const ssize_t n = ::write(fd_, row.data() + off, row.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw DeviceError(std::string("writing the log file failed: ") + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_ = -1;
};

std::string log_row(bool csv, const std::string& device, const Telemetry& t) {
  std::ostringstream o;
  if (csv) {
    o << utc_now() << "," << csv_field(device) << "," << csv_field(t.device_type) << "," << t.serial_number << ","
      << t.total_battery_percent << "," << t.ac_output_power << "," << t.dc_output_power << "," << t.ac_input_power << ","
      << t.dc_input_power << "," << on_off(t.ac_output_on) << "," << on_off(t.dc_output_on) << "\n";
  } else {
    o << "{\"time\":" << json_ascii_string(utc_now()) << ",\"device\":" << json_ascii_string(device) << "," << telemetry_members(t) << "}\n";
  }
  return o.str();
}

// One persistent connection, one row per poll. A failed poll or connect is logged on stderr with
// its reason; after a link loss (or three failed polls in a row) the logger reconnects with
// exponential backoff and jitter (1 s doubling to 60 s), always with a fresh handshake. SIGINT or
// SIGTERM: disconnect and exit 0.
int run_logger(const Options& o) {
  const bool csv = o.format == "csv";
  const auto licence = load_licence(o.licence);
  RowSink sink(o.output, csv);
  Station s(o, nullptr);
  s.link().catch_stop_signals();
  const std::string device = o.link.emulator.empty() ? o.link.address : "emulated " + o.link.emulator;
  const Duration interval = std::chrono::seconds(o.interval);
  const Duration backoff_min = std::chrono::seconds(1), backoff_max = std::chrono::seconds(60);
  Duration backoff = backoff_min;
  std::mt19937 jitter(std::random_device{}());
  unsigned rows = 0, failures_in_a_row = 0, sessions = 0;
  bool attempted = false, up = false;
  auto log = [](const std::string& line) { std::cerr << "blecrypt bluetti logger: " << line << std::endl; };
  try {
    while (!s.link().stop_requested()) {
      if (!s.ready()) {
        if (std::exchange(up, false)) log("link lost: " + s.loss_reason());
        if (attempted) {  // after a failed connect or a lost link: drop what is left, back off
          s.disconnect();
          std::uniform_real_distribution<double> spread(0.75, 1.25);
          const auto d = std::chrono::duration_cast<Duration>(backoff * spread(jitter));
          log("reconnecting in " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms");
          s.idle(d, false);
          backoff = std::min(backoff * 2, backoff_max);
          if (s.link().stop_requested()) break;
        }
        attempted = true;
        try {
          s.connect(licence);
        } catch (const NotLicensed&) {
          throw;
        } catch (const DeviceError& e) {
          log(std::string("connect failed: ") + e.what());
          continue;
        } catch (const BluetoothUnavailable& e) {
          log(std::string("connect failed: ") + e.what());
          continue;
        }
        ++sessions;
        up = true;
        failures_in_a_row = 0;
        backoff = backoff_min;
        log("connected to " + s.describe() + " (session " + std::to_string(sessions) + ", fresh handshake, IoT serial " +
            std::to_string(s.iot_serial()) + ")");
      }
      const auto poll_start = std::chrono::steady_clock::now();
      std::optional<Telemetry> t;
      try {
        t = s.telemetry();
      } catch (const DeviceError& e) {
        ++failures_in_a_row;
        log(std::string("poll failed: ") + e.what());
        if (s.ready() && s.requests().jobs() > 0) {
          log("the poll is still pending: reconnecting");  // (rather than queueing behind it)
          up = false;
          s.disconnect();
        } else if (s.ready() && failures_in_a_row >= 3) {
          log("3 failed polls in a row: reconnecting");
          up = false;
          s.disconnect();
        }
      }
      if (t) {
        sink.write(log_row(csv, device, *t));
        failures_in_a_row = 0;
        ++rows;
        if (o.polls && rows >= o.polls) break;
      }
      if (!s.ready()) continue;  // link lost: reconnect (with backoff) instead of waiting
      const Duration spent = std::chrono::steady_clock::now() - poll_start;
      if (spent < interval) s.idle(interval - spent);
    }
  } catch (const Stopped&) {
  }
  s.disconnect();
  log("stopped after " + std::to_string(rows) + " row(s)");
  return kExitOk;
}

// ---- options --------------------------------------------------------------------------------


const Register group{VerbGroup{
    "bluetti", "BLUETTI power stations: encrypted link client and emulator", [](CLI::App& g) {
      g.require_subcommand(1);

      auto demo_o = std::make_shared<Options>();
      demo_o->link.emulator = "AC180";
      auto* demo = g.add_subcommand("demo", "Client against the emulator: handshake, telemetry, output switching");
      demo->add_option("--emulator", demo_o->link.emulator, "Emulated model: AC180, EL30V2 (IoT V2) or EB3A (IoT V1)")->default_val("AC180");
      demo->add_option("--device-key", demo_o->device_key_hex, "Device verification key, 128 hex digits X||Y (default: the emulator's test key)");
      demo->add_option("--backend", demo_o->backend, "Crypto backend: openssl or mbedtls");
      demo->add_option("--mtu", demo_o->link.mtu, "ATT MTU of the link, 23..517 (payload = MTU - 3)")->transform(decimal(23, 517));
      demo->callback([demo_o] { run_demo(std::cout, *demo_o); });

      auto ro = std::make_shared<Options>();
      auto* read = g.add_subcommand("read", "Read telemetry (ADDRESS or --emulator MODEL), or --register A [--count N] raw holding registers");
      add_station_options(read, *ro);
      read->add_flag("--json", ro->json, "Print one JSON object (bluetti_mqtt's field names)");
      ro->reg_opt = read->add_option("--register", ro->reg, "First register address, 0..65535")->transform(decimal(0, 65535));
      ro->count_opt = read->add_option("--count", ro->count, "Number of registers, 1..125 (with --register)")->transform(decimal(1, modbus::kMaxRead));
      read->callback([ro] { run_read(*ro); });

      auto wo = std::make_shared<Options>();
      auto* write = g.add_subcommand("write", "Switch outputs (--ac on|off, --dc on|off) or write --register A --value V; confirmed by reading back");
      add_station_options(write, *wo);
      write->add_flag("--json", wo->json, "Print one JSON object");
      wo->ac_opt = write->add_option("--ac", wo->ac, "AC output: on or off")->check(CLI::IsMember({"on", "off"}));
      wo->dc_opt = write->add_option("--dc", wo->dc, "DC output: on or off")->check(CLI::IsMember({"on", "off"}));
      wo->reg_opt = write->add_option("--register", wo->reg, "Register address, 0..65535")->transform(decimal(0, 65535));
      wo->value_opt = write->add_option("--value", wo->value, "Value to write, 0..65535")->transform(decimal(0, 65535));
      write->callback([wo] { run_write(*wo); });

      auto lo = std::make_shared<Options>();
      auto* logger = g.add_subcommand("logger", "Poll telemetry over one persistent connection, one CSV/JSON-lines row per poll, until Ctrl-C");
      add_station_options(logger, *lo);
      logger->add_option("--interval", lo->interval, "Seconds between polls, 1..86400 (default 10)")->transform(decimal(1, 86400));
      logger->add_option("--output", lo->output, "Append the rows to FILE (default: stdout)");
      logger->add_option("--format", lo->format, "Row format: csv (default) or jsonl")->check(CLI::IsMember({"csv", "jsonl"}));
      logger->add_option("--polls", lo->polls, "Stop after N rows, 1..4294967295 (default: until SIGINT/SIGTERM)")
          ->transform(decimal(1, 4294967295ULL));
      logger->callback([lo] { (void)run_logger(*lo); });

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
