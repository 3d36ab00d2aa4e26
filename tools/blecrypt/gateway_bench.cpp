// `blecrypt bench gateway [--json]`: the gateway's costs with emulated devices and a counting
// MQTT sink (no broker): CPU per telemetry refresh, command latency (MQTT message handled ->
// GATT write queued on the link), process RSS with 1 and 20 devices, and Modbus requests /
// ATT PDUs per full refresh next to bluetti_mqtt's poll for the same model.
#include <fstream>
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

gateway::DeviceEntry emulator(const std::string& model, Duration latency = {}) {
  gateway::DeviceEntry e;
  e.emulator = model;
  e.poll_interval = std::chrono::seconds(5);
  e.emulator_latency = latency;
  return e;
}

int bench_gateway(bool json, std::ostream& out) {
  gw::set_log_level(gw::Level::error);
  bench::Report report;
  CountingSink sink;
  const gateway::MqttConfig mqtt;
  TimePoint t = time_from_seconds(1000);
  bool ok = true;
  const double rss0 = rss_kib();

  // ---- CPU per refresh: one AC180, every poll = all reads, decode, all state publishes ----
  gw::BluettiDevice ac180(emulator("AC180"), 0, sink, mqtt, nullptr);
  ac180.start(t);
  ok = ok && ac180.identity().has_value();
  const double rss1 = rss_kib();
  const auto refresh = [&] {
    t += std::chrono::seconds(5);
    ac180.on_tick(t);
  };
  const auto polls0 = ac180.counters().polls;
  report.number("refresh_total_us", bench::median_ns(refresh) / 1000.0);
  ok = ok && ac180.counters().polls > polls0;
  // The gateway's own share of a refresh: state payloads, topics and publishes for every field.
  {
    const auto& table = gateway::field_table(bluetti::Protocol::iot_v2);
    const gateway::DeviceIdentity id{"AC180", 2524610159690ULL};
    std::vector<std::string> topics;
    for (const auto& f : table.fields) topics.push_back(gateway::state_topic(id, f.name));
    std::uint16_t raw = 0;
    report.number("refresh_mapping_us", bench::median_ns([&] {
                    for (std::size_t i = 0; i < table.fields.size(); ++i) sink.publish(topics[i], gateway::format_state(table.fields[i], ++raw), true);
                  }) / 1000.0);
  }
  report.number("refresh_target_us", 50);

  // ---- requests and ATT PDUs per full refresh, next to bluetti_mqtt's polling_commands ----
  for (const char* model : {"AC180", "EB3A"}) {
    gw::BluettiDevice d(emulator(model), 0, sink, mqtt, nullptr);
    d.start(t);
    const auto r0 = d.counters().requests;
    const auto p0 = mem(d).pdus_carried();
    t += std::chrono::seconds(5);
    d.on_tick(t);
    const std::string m(model);
    report.number("requests_per_refresh_" + m, static_cast<double>(d.counters().requests - r0));
    report.number("att_pdus_per_refresh_" + m, static_cast<double>(mem(d).pdus_carried() - p0));
    d.stop(t, false);
  }
  // bluetti_mqtt (github.com/warhammerkid/bluetti_mqtt): AC180.polling_commands = one read of
  // 100..161 (without the output switches); EB3A.polling_commands = 4 reads (10+40, 70+21, 3034, 3060+7).
  report.number("bluetti_mqtt_requests_per_refresh_AC180", 1);
  report.number("bluetti_mqtt_requests_per_refresh_EB3A", 4);

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
    const std::string topic = d.identity() ? gateway::command_topic(*d.identity(), "ac_output_on") : "";
    for (int i = 0; i < 201 && d.identity(); ++i) {
        const std::string payload = i % 2 ? "ON" : "OFF";
      const auto c0 = std::chrono::steady_clock::now();
      d.on_message(topic, as_bytes(payload), t);
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
