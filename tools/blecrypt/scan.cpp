// `blecrypt scan`: LE discovery through BlueZ, one line per device, each advertisement classified
// (BLUETTI plaintext/encrypted + model, SESAME model/registered, other) by link::classify.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "cli.hpp"
#include "link_cli.hpp"
#ifdef BLECRYPT_HAVE_BLUEZ
#include "blecrypt/link/bluez/bluez.hpp"
#endif

namespace blecrypt::cli {
namespace {

struct ScanOptions {
  std::string adapter;
  unsigned timeout = 5;
  bool json = false;
};

#ifdef BLECRYPT_HAVE_BLUEZ
std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

std::string text_line(const link::bluez::DeviceInfo& d) {
  std::ostringstream o;
  o << d.address << "  " << (d.rssi ? std::to_string(*d.rssi) + " dBm" : std::string("   ? dBm")) << "  "
    << link::protocol_name(d.info.protocol);
  if (!d.info.model.empty()) o << " " << d.info.model;
  if (d.info.encrypted) o << (*d.info.encrypted ? " encrypted" : " plaintext");
  if (d.info.registered) o << (*d.info.registered ? " registered" : " unregistered");
  if (d.info.has_history && *d.info.has_history) o << " history";
  o << "  " << (d.name.empty() ? "(no name)" : printable(d.name));
  return o.str();
}

std::string json_line(const link::bluez::DeviceInfo& d) {
  std::ostringstream o;
  o << "{\"address\":" << json_ascii_string(d.address) << ",\"name\":" << json_ascii_string(d.name)
    << ",\"rssi\":" << (d.rssi ? std::to_string(*d.rssi) : "null")
    << ",\"protocol\":" << json_ascii_string(link::protocol_name(d.info.protocol))
    << ",\"model\":" << json_ascii_string(d.info.model);
  if (d.info.encrypted) o << ",\"encrypted\":" << (*d.info.encrypted ? "true" : "false");
  if (d.info.registered) o << ",\"registered\":" << (*d.info.registered ? "true" : "false");
  if (d.info.has_history) o << ",\"has_history\":" << (*d.info.has_history ? "true" : "false");
  o << ",\"manufacturer_data\":{";
  bool first = true;
  for (const auto& [company, data] : d.manufacturer_data) {
    o << (first ? "" : ",") << "\"" << company << "\":\"" << hex(data) << "\"";
    first = false;
  }
  o << "},\"service_data\":{";
  first = true;
  for (const auto& [uuid, data] : d.service_data) {
    o << (first ? "" : ",") << json_ascii_string(uuid) << ":\"" << hex(data) << "\"";
    first = false;
  }
  o << "}}";
  return o.str();
}
#endif

void run_scan(const ScanOptions& opts) {
#ifdef BLECRYPT_HAVE_BLUEZ
  link::bluez::EventLoop loop;
  auto bz = link::bluez::Bluez::open(loop, opts.adapter);
  if (!bz) throw_link_error(bz.error(), "scan");
  std::map<std::string, link::bluez::DeviceInfo> seen;  // by address, the latest report
  if (auto r = (*bz)->start_scan([&](const link::bluez::DeviceInfo& d) { seen[d.address] = d; }); !r)
    throw_link_error(r.error(), "scan");
  bool gone = false;
  loop.run_until([&] { return gone = !(*bz)->available(); }, loop.now() + std::chrono::seconds(opts.timeout));
  (*bz)->stop_scan();
  if (gone) throw BluetoothUnavailable("scan: " + std::error_code(link::Errc::bluetooth_unavailable).message());
  std::vector<const link::bluez::DeviceInfo*> order;
  for (const auto& [address, d] : seen) order.push_back(&d);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->rssi.value_or(-200) > b->rssi.value_or(-200); });
  for (auto* d : order) std::cout << (opts.json ? json_line(*d) : text_line(*d)) << "\n";
  if (!opts.json) std::cerr << "blecrypt scan: " << order.size() << " device(s) via " << (*bz)->adapter().name << "\n";
#else
  (void)opts;
  throw BluetoothUnavailable("this blecrypt was built without the BlueZ transport (BLECRYPT_WITH_BLUEZ=OFF or no sdbus-c++)");
#endif
}

const Register group{VerbGroup{
    "scan", "Scan for BLE devices through BlueZ and classify them (BLUETTI, SESAME, other)", [](CLI::App& g) {
      auto opts = std::make_shared<ScanOptions>();
      g.add_option("--adapter", opts->adapter, "Bluetooth adapter (hci0, hci1, ...; default: the first powered one)");
      g.add_option("--timeout", opts->timeout, "Seconds to scan (default 5)")->transform(decimal(1, 3600));
      g.add_flag("--json", opts->json, "One JSON object per line");
      g.callback([opts] { run_scan(*opts); });
    }}};

}  // namespace
}  // namespace blecrypt::cli
