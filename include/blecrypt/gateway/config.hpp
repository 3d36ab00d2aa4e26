// The gateway's configuration (YAML): model, parser and validation. Every mistake is reported
// with its line and key path ("devices[1].poll_interval"), all of them at once, so
// `blecrypt gateway --check-config FILE` lists everything to fix in one run.
//
//   mqtt: {host: 127.0.0.1, port: 1883, username: u, password_file: /etc/blecrypt/mqtt.pass,
//          client_id: blecrypt-gateway, tls: {ca: /etc/ssl/ca.pem, cert: c.pem, key: c.key}}
//   adapter: hci0
//   devices:
//     - {address: "C4:DE:E2:11:22:33", protocol: bluetti, poll_interval: 5, device_key: "<128 hex>"}
//     - {address: "D0:11:22:33:44:55", protocol: sesame, key_file: /etc/blecrypt/lock.key}
//     - {emulator: AC180, poll_interval: 2}       # an emulated device (no radio), for trying it out
//     - {emulator: 5, protocol: sesame}           # an emulated SESAME 5 lock
//     - {emulator: AC300, pack_interval: 30, pack_settle_ms: 500}   # battery packs: one every 30 s
//
// Secrets are never read here: files are named, and read by read_private_file() when needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blecrypt/gateway/errors.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::gateway {

struct TlsConfig {
  std::string ca;    // CA certificate file (PEM)
  std::string cert;  // client certificate (PEM), optional
  std::string key;   // client key (PEM), required with cert; must be private
};

struct MqttConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string username;
  std::string password_file;  // must be private; first line is the password
  std::string client_id = "blecrypt-gateway";
  std::optional<TlsConfig> tls;
  std::uint16_t keepalive_s = 30;
  std::string discovery_prefix = "homeassistant";
  std::string gateway_topic = "blecrypt/gateway";  // <gateway_topic>/availability: online/offline (last will)
};

enum class DeviceProtocol { bluetti, sesame };
const char* protocol_name(DeviceProtocol p) noexcept;

struct DeviceEntry {
  int line = 0;                     // where the entry starts (for messages)
  DeviceProtocol protocol = DeviceProtocol::bluetti;
  std::string address;              // "C4:DE:E2:11:22:33" (upper case), empty for emulators
  std::string emulator;             // "AC180", ... : an emulated device over a memory link
  std::uint64_t emulator_serial = 0;  // 0 = the emulator's default (+ index, so several differ)
  // Emulator knobs for trying the gateway's fault handling without a radio:
  Duration emulator_latency{};      // each exchange on the emulated link takes this long
  std::uint32_t emulator_drop_every = 0;  // drop the link while the Nth, 2Nth... request is in flight
  std::string model;                // optional: the model table to use (detected from the advertised name and
                                    // the device-type registers otherwise; docs/bluetti-models.md)
  std::string device_key_hex;       // BLUETTI: 128 hex digits of the device verification key (default K2)
  std::string key_file;             // SESAME: the lock's key file; BLUETTI: a file holding device_key (must be private)
  Duration poll_interval = std::chrono::seconds(5);
  bool persistent = true;           // false: connect per poll
  Duration command_wait = std::chrono::seconds(30);  // how long a command waits for a down device
  std::size_t queue_limit = 8;      // commands waiting per device
  // BLUETTI battery packs: one pack read every pack_interval (default: the full-refresh period,
  // kFullRefreshEvery polls; zero: no pack data), after the pack-select settle time
  // (default: the model table's, 10 s on IoT V1 paging units).
  std::optional<Duration> pack_interval;
  std::optional<Duration> pack_settle;
  std::string disabled_reason;      // set by check_files(): the device does not run

  std::string describe() const;     // "devices[2] (C4:DE:E2:11:22:33)" for logs
};

struct Config {
  MqttConfig mqtt;
  std::string adapter;  // empty: the first powered adapter
  std::vector<DeviceEntry> devices;
};

struct ConfigIssue {
  int line = 0;         // 1-based; 0 when unknown
  std::string key;      // "devices[1].poll_interval"
  std::string message;  // what is wrong and what is expected
};
std::string format_issue(const ConfigIssue& i, std::string_view file);

struct ParsedConfig {
  Config config;
  std::vector<ConfigIssue> issues;  // empty = valid
  bool ok() const noexcept { return issues.empty(); }
};

inline constexpr std::size_t kMaxConfigBytes = 1 << 20;
inline constexpr std::size_t kMaxDevices = 64;

// Parses and validates YAML text. Never throws; every mistake is an issue.
ParsedConfig parse_config(std::string_view yaml);

// Reads a whole file with the project's rules: regular file, no symlink (O_NOFOLLOW), size cap
// checked with fstat and again while reading. `must_be_private` refuses group/other-readable files.
Result<SecretBytes> read_private_file(const std::string& path, std::size_t max_bytes, bool must_be_private);

// Checks the files a configuration names. MQTT files (password, TLS key) are fatal issues; a
// device's key file that is missing or not private disables that device (disabled_reason).
void check_files(Config& config, std::vector<ConfigIssue>& fatal);

// The MQTT password: first line of password_file, trailing newline removed.
Result<SecretBytes> read_password(const MqttConfig& mqtt);

}  // namespace blecrypt::gateway
