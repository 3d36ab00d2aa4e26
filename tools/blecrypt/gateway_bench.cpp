// `blecrypt bench gateway [--json]`: the gateway's costs with emulated devices and a counting
// MQTT sink (no broker): thread CPU time per telemetry refresh (without the emulated unit's
// share), command latency (MQTT message handled -> GATT write queued on the link), process RSS
// with 1 and 20 devices, ATT round trips per refresh next to bluetti_mqtt's poll for the same
// model, and the battery-pack tier (round trips per pack, next to bluetti_mqtt's pack poll).
#include <fstream>
#include <optional>
#include <iostream>

#include "gateway_device.hpp"
#include "harness.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

class CountingSink final : public gw::Publisher {
 public:
  void publish(const std::string& topic, const std::string& payload, bool) override {
    ++count;
    bytes += topic.size() + payload.size();
  }
  void subscribe(const std::string&) override {}
  void unsubscribe(const std::string&) override {}
  std::uint64_t count = 0, bytes = 0;
};

double rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  return 0;
}

link::MemoryLink& mem(gw::ServedDevice& d) { return static_cast<gw::EmulatedLink*>(d.device_link())->memory_link(); }

gateway::DeviceEntry emulator(const std::string& model, Duration latency = {}, std::optional<Duration> pack_interval = {}) {
  gateway::DeviceEntry e;
  e.emulator = model;
  e.poll_interval = std::chrono::seconds(5);
  e.emulator_latency = latency;
  e.pack_interval = pack_interval;
  return e;
}

// bluetti_mqtt's pack poll per pack (device_handler.py `_pack_poll`, 0.15.0): a write of pack_num
// (3006) when the model's pack_num_max > 1, then its pack_logging_commands, (91,119) on every
// model with pack data; the IoT V2 models have none there (0 = no pack data in bluetti_mqtt).
struct TheirPacks {
  const char* model;
  int per_pack;
};
constexpr TheirPacks kBluettiMqttPacks[] = {{"AC300", 2}, {"AC500", 2}, {"AC200M", 2}, {"EP500", 1}, {"EP600", 0}, {"AC60", 0}};

// bluetti_mqtt's poll per model: the Modbus reads (one ATT round trip each) of its device class's
// `polling_commands` (github.com/warhammerkid/bluetti_mqtt, bluetti_mqtt/core/devices/<model>.py).
// Release 0.15.0 (ffe9b96): AC200M, AC300, AC500, EP500, EP500P = (10,40) (70,21) (3001,61);
// EB3A = (10,40) (70,21) (3034,1) (3060,7); AC60 = (100,62); EP600 = (100,62) (2022,2).
// Open pull requests: AC180 #105 (8f4b3c2) = (100,62); AC200L #106 = as AC300; AC70 #79 = 11 reads.
struct TheirPoll {
  const char* model;
  int reads;
};
constexpr TheirPoll kBluettiMqtt[] = {
    {"AC300", 3}, {"AC200M", 3}, {"AC500", 3}, {"EP500", 3}, {"EP500P", 3}, {"EB3A", 4},
    {"AC60", 1},  {"EP600", 2},  {"AC180", 1}, {"AC200L", 3}, {"AC70", 11},
};

std::int64_t median(std::vector<std::int64_t> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

int bench_gateway(bool json, std::ostream& out) {
  gw::set_log_level(gw::Level::error);
  bench::Report report;
  CountingSink sink;
  const gateway::MqttConfig mqtt;
  TimePoint t = time_from_seconds(1000);
  bool ok = true;
  const double rss0 = rss_kib();

  // ---- CPU per telemetry refresh: the gateway's thread CPU time (CLOCK_THREAD_CPUTIME_ID) from
  // the poll's start to its last publish, minus the emulated unit's share (MeteredIo): the client
  // engine (decrypt, CRC, Modbus), the request layer, table decoding, payloads, topics, publishes.
  double rss1 = 0;
  // AC300-nopacks: the same unit with the pack tier off (pack_interval 0), to show the pack
  // tier costs the live refresh nothing.
  for (const std::string run : {"AC180", "AC300", "AC300-nopacks"}) {
    const std::string model = run.substr(0, run.find('-'));
    const bool no_packs = run != model;
    gw::BluettiDevice d(emulator(model, {}, no_packs ? std::optional<Duration>(Duration::zero()) : std::nullopt), 0, sink, mqtt, nullptr);
    auto& link = *static_cast<gw::EmulatedLink*>(d.device_link());
    d.start(t);
    ok = ok && d.identity().has_value();
    if (rss1 == 0) rss1 = rss_kib();
    std::vector<std::int64_t> live, full;
    std::int64_t cpu0 = 0, emu0 = 0;
    d.set_refresh_probe([&](bool done) {
      if (!done) return;
      const std::int64_t cpu = gw::thread_cpu_ns() - cpu0, emu = link.metered().cpu_ns() - emu0;
      (d.last_poll_full() ? full : live).push_back(cpu - emu);
    });
    link.metered().set_metering(true);
    for (int i = 0; i < 240; ++i) {
      t += std::chrono::seconds(5);
      emu0 = link.metered().cpu_ns();
      cpu0 = gw::thread_cpu_ns();
      d.on_tick(t);
    }
    link.metered().set_metering(false);
    d.set_refresh_probe({});
    const std::string m(run);
    ok = ok && !live.empty() && !full.empty();
    if (model == "AC300") {
      ok = ok && (no_packs ? d.counters().pack_reads == 0 : d.counters().pack_reads > 0);
      report.number("pack_reads_during_refresh_runs_" + m, static_cast<double>(d.counters().pack_reads));
    }
    report.number("cpu_per_refresh_us_" + m, static_cast<double>(median(live)) / 1000.0);
    report.number("cpu_per_full_refresh_us_" + m, static_cast<double>(median(full)) / 1000.0);
    report.number("entities_" + m, static_cast<double>(d.entities().size()));
    d.stop(t, false);
  }
  report.number("cpu_per_refresh_target_us", 50);

  // ---- ATT round trips per refresh (one Modbus request and its answer each), next to
  // bluetti_mqtt's poll of the same model ----
  for (const auto& their : kBluettiMqtt) {
    gw::BluettiDevice d(emulator(their.model), 0, sink, mqtt, nullptr);
    d.start(t);  // connect, detect, first (full) refresh
    ok = ok && d.identity().has_value();
    const auto r0 = d.counters().requests - d.counters().pack_requests;
    const auto p0 = mem(d).pdus_carried();
    t += std::chrono::seconds(5);
    d.on_tick(t);  // a live refresh
    ok = ok && !d.last_poll_full();
    const std::string m(their.model);
    const auto live = d.counters().requests - d.counters().pack_requests - r0;
    report.number("round_trips_per_refresh_" + m, static_cast<double>(live));
    report.number("round_trips_per_full_refresh_" + m, static_cast<double>(d.refresh_plan().full.size()));
    report.number("att_pdus_per_refresh_" + m, static_cast<double>(mem(d).pdus_carried() - p0));
    report.number("bluetti_mqtt_round_trips_" + m, their.reads);
    report.number("entities_" + m, static_cast<double>(d.entities().size()));
    d.stop(t, false);
  }

  // ---- battery packs: ATT round trips per pack read (select + reads), a whole cycle of the
  // model's packs on a virtual clock (pack_interval 10 s, the table's 10 s settle) ----
  for (const auto& their : kBluettiMqttPacks) {
    gw::BluettiDevice d(emulator(their.model, {}, std::chrono::seconds(10)), 0, sink, mqtt, nullptr);
    d.start(t);
    ok = ok && d.identity().has_value();
    const unsigned packs = d.pack_plan().max_packs;
    const TimePoint begin = t;
    for (int i = 0; i < 1000 && d.counters().pack_reads < packs; ++i) {
      t += std::chrono::milliseconds(500);
      d.on_tick(t);
    }
    ok = ok && packs > 0 && d.counters().pack_reads >= packs;
    const std::string m(their.model);
    const double reads = static_cast<double>(std::max<std::uint64_t>(d.counters().pack_reads, 1));
    report.number("pack_round_trips_per_pack_" + m, static_cast<double>(d.counters().pack_requests) / reads);
    report.number("bluetti_mqtt_pack_round_trips_per_pack_" + m, their.per_pack);
    report.number("packs_" + m, packs);
    report.number("pack_cycle_s_" + m, std::chrono::duration<double>(t - begin).count());
    d.stop(t, false);
  }

  // ---- command latency: MQTT message handled -> the GATT write is on the link ----
  {
    gw::BluettiDevice d(emulator("AC180", std::chrono::milliseconds(1)), 1, sink, mqtt, nullptr);
    d.start(t);
    for (int i = 0; i < 200 && !d.identity(); ++i) {
      t += std::chrono::milliseconds(1);
      d.on_tick(t);
    }
    ok = ok && d.identity().has_value();
    std::vector<double> ns;
    std::vector<std::int64_t> cpu;
    const std::string topic = d.identity() ? gateway::command_topic(*d.identity(), "ac_output_on") : "";
    for (int i = 0; i < 201 && d.identity(); ++i) {
      const std::string payload = i % 2 ? "ON" : "OFF";
      const auto c0 = std::chrono::steady_clock::now();
      const auto u0 = gw::thread_cpu_ns();
      d.on_message(topic, as_bytes(payload), t);
      cpu.push_back(gw::thread_cpu_ns() - u0);
      const auto c1 = std::chrono::steady_clock::now();
      ok = ok && !mem(d).to_peripheral().idle();  // the write is on the link, not yet carried
      ns.push_back(std::chrono::duration<double, std::nano>(c1 - c0).count());
      for (int k = 0; k < 50 && (d.scheduler().state() != gateway::DeviceScheduler::State::idle || d.scheduler().queued()); ++k) {
        t += std::chrono::milliseconds(1);
        d.on_tick(t);
      }
    }
    std::sort(ns.begin(), ns.end());
    report.number("command_latency_us", ns.empty() ? 0 : ns[ns.size() / 2] / 1000.0);
    report.number("command_cpu_us", static_cast<double>(median(cpu)) / 1000.0);
    report.number("command_latency_target_us", 5000);
    ok = ok && d.counters().commands_ok > 0;
    d.stop(t, false);
  }

  // ---- memory: process RSS with 1 and with 20 emulated devices ----
  {
    std::vector<std::unique_ptr<gw::BluettiDevice>> many;
    for (std::size_t i = 0; i < 20; ++i) {
      many.push_back(std::make_unique<gw::BluettiDevice>(emulator(i % 2 ? "EB3A" : "AC180"), i + 10, sink, mqtt, nullptr));
      many.back()->start(t);
    }
    t += std::chrono::seconds(5);
    for (auto& d : many) d->on_tick(t);
    report.number("rss_start_kib", rss0);
    report.number("rss_1_device_kib", rss1);
    report.number("rss_20_devices_kib", rss_kib());
    report.number("rss_target_kib", 16 * 1024);
    for (auto& d : many) ok = ok && d->identity().has_value();
  }
  report.number("publishes", static_cast<double>(sink.count));
  report.print(json, out);
  if (!ok) {
    std::cerr << "gateway bench: a device did not refresh or a command did not reach the link\n";
    return 1;
  }
  return 0;
}

const Register scenario{BenchScenario{"gateway", "MQTT gateway: CPU per refresh, command latency, RSS with 1/20 devices, requests per refresh", bench_gateway}};

}  // namespace
}  // namespace blecrypt::cli
