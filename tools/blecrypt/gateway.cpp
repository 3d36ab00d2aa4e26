// `blecrypt gateway --config FILE` / `--check-config FILE`: the MQTT gateway daemon's IO edge.
//
// One thread, one poll() loop: link::bluez::EventLoop, carrying the D-Bus connection of the BlueZ
// transport, the MQTT socket (libmosquitto driven by mosquitto_loop_read/write/misc), a signalfd
// (SIGTERM/SIGINT: clean shutdown publishing offline; SIGHUP: reload the configuration) and every
// device's deadlines (scheduler, engine, emulated link). Everything protocol- or MQTT-shaped that
// can be decided without IO lives in src/gateway.
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <optional>
#include <vector>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <set>

#include "blecrypt/gateway/config.hpp"
#include "blecrypt/version.hpp"
#include "cli.hpp"
#include "gateway_device.hpp"

namespace blecrypt::cli {
namespace {

using gw::Level;
using gw::log;

TimePoint mono_now() { return link::bluez::EventLoop::clock_now(); }

using link::bluez::EventLoop;

// ---- MQTT ----------------------------------------------------------------------------------
class Mqtt final : public gw::Publisher {
 public:
  using MessageHandler = std::function<void(const std::string& topic, ByteView payload, bool retained)>;
  Mqtt(const gateway::MqttConfig& cfg, MessageHandler on_message, std::function<void()> on_connected)
      : cfg_(cfg), on_message_(std::move(on_message)), on_connected_(std::move(on_connected)) {
    m_ = mosquitto_new(cfg.client_id.c_str(), true, this);
    if (!m_) throw UserError("mqtt: cannot create the client");
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    // libmosquitto's in-flight window (20 QoS 1 messages) stays: the broker refuses a client that
    // exceeds its receive maximum (mosquitto 2.0.11 drops it as "out of memory"). Messages past the
    // window wait for PUBACKs; unacked_ counts them so the shutdown flush waits for the acks.
    const std::string avail = cfg.gateway_topic + "/availability";
    mosquitto_will_set(m_, avail.c_str(), 7, "offline", 1, true);
    if (!cfg.username.empty()) {
      std::string password;
      if (!cfg.password_file.empty()) {
        auto p = gateway::read_password(cfg);
        if (!p) throw UserError("mqtt.password_file " + cfg.password_file + ": " + p.error().message());
        password.assign(reinterpret_cast<const char*>(p->data()), p->size());
      }
      const int rc = mosquitto_username_pw_set(m_, cfg.username.c_str(), cfg.password_file.empty() ? nullptr : password.c_str());
      secure_wipe(password.data(), password.size());
      if (rc != MOSQ_ERR_SUCCESS) throw UserError(std::string("mqtt: ") + mosquitto_strerror(rc));
    }
    if (cfg.tls) {
      const auto& t = *cfg.tls;
      const int rc = mosquitto_tls_set(m_, t.ca.c_str(), nullptr, t.cert.empty() ? nullptr : t.cert.c_str(),
                                       t.key.empty() ? nullptr : t.key.c_str(), nullptr);
      if (rc != MOSQ_ERR_SUCCESS) throw UserError(std::string("mqtt.tls: ") + mosquitto_strerror(rc));
    }
    mosquitto_connect_callback_set(m_, [](mosquitto*, void* self, int rc) { static_cast<Mqtt*>(self)->connected(rc); });
    mosquitto_disconnect_callback_set(m_, [](mosquitto*, void* self, int rc) { static_cast<Mqtt*>(self)->disconnected(rc); });
    mosquitto_publish_callback_set(m_, [](mosquitto*, void* self, int) {
      auto* me = static_cast<Mqtt*>(self);
      if (me->unacked_ > 0) --me->unacked_;
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      static_cast<Mqtt*>(self)->on_message_(msg->topic, ByteView(static_cast<const std::uint8_t*>(msg->payload), static_cast<std::size_t>(msg->payloadlen)), msg->retain);
    });
  }
  ~Mqtt() override { mosquitto_destroy(m_); }
  Mqtt(const Mqtt&) = delete;
  Mqtt& operator=(const Mqtt&) = delete;

  void start(TimePoint now) { attempt(now); }
  bool up() const noexcept { return up_; }

  int fd() const { return mosquitto_socket(m_); }
  short events() const { return static_cast<short>(POLLIN | (mosquitto_want_write(m_) ? POLLOUT : 0)); }
  void ready(short revents) {
    if (revents & (POLLIN | POLLHUP | POLLERR)) check(mosquitto_loop_read(m_, 1));
    if (revents & POLLOUT) check(mosquitto_loop_write(m_, 1));
  }
  // mosquitto_loop_misc (keepalive) wants a call about every second while a socket is open.
  std::optional<TimePoint> next_deadline() const { return earliest(retry_at_, fd() >= 0 ? std::optional<TimePoint>(mono_now() + std::chrono::seconds(1)) : std::nullopt); }
  void on_tick(TimePoint now) {
    if (retry_at_ && *retry_at_ <= now) {
      retry_at_.reset();
      attempt(now);
    }
    if (fd() >= 0) check(mosquitto_loop_misc(m_));
  }

  // ---- Publisher ----
  void publish(const std::string& topic, const std::string& payload, bool retain) override {
    ++published_;
    if (!up_) return;  // everything retained is published again on connect
    if (const int rc = mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1, retain); rc == MOSQ_ERR_SUCCESS)
      ++unacked_;
    else
      log(Level::warning, "mqtt: publishing on " + topic + " failed: " + mosquitto_strerror(rc));
  }
  void subscribe(const std::string& filter) override {
    subscriptions_.insert(filter);
    if (up_) mosquitto_subscribe(m_, nullptr, filter.c_str(), 1);
  }
  void unsubscribe(const std::string& filter) override {
    subscriptions_.erase(filter);
    if (up_) mosquitto_unsubscribe(m_, nullptr, filter.c_str());
  }

  // Publishes, flushes what is queued (bounded), then disconnects cleanly.
  void shutdown(const std::function<void()>& last_words) {
    stopping_ = true;
    retry_at_.reset();
    if (!up_) {
      log(Level::warning, "mqtt: not connected at shutdown: the broker publishes the last will (offline)");
      return;
    }
    last_words();
    publish(cfg_.gateway_topic + "/availability", "offline", true);
    const auto until = mono_now() + std::chrono::seconds(2);
    while ((mosquitto_want_write(m_) || unacked_ > 0) && mono_now() < until) {
      pollfd p{fd(), static_cast<short>(POLLIN | POLLOUT), 0};
      if (::poll(&p, 1, 100) > 0) {
        if (p.revents & POLLIN) mosquitto_loop_read(m_, 1);
        if (p.revents & POLLOUT) mosquitto_loop_write(m_, 1);
      }
    }
    if (mosquitto_want_write(m_) || unacked_ > 0) log(Level::warning, "mqtt: shutdown: not everything was acknowledged within 2 s");
    mosquitto_disconnect(m_);
    mosquitto_loop_write(m_, 1);
    up_ = false;
  }

 private:
  void attempt(TimePoint now) {
    const int rc = first_ ? mosquitto_connect_async(m_, cfg_.host.c_str(), cfg_.port, cfg_.keepalive_s) : mosquitto_reconnect_async(m_);
    if (rc == MOSQ_ERR_SUCCESS) {
      first_ = false;
      return;
    }
    const std::string why = rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno)) : mosquitto_strerror(rc);
    log(Level::warning, "mqtt: cannot connect to " + cfg_.host + ":" + std::to_string(cfg_.port) + ": " + why + "; retrying in " +
                            std::to_string(backoff_.count()) + " s");
    retry_at_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, std::chrono::seconds(30));
  }
  void check(int rc) {
    if (rc == MOSQ_ERR_SUCCESS || up_ == false) {
      if (rc != MOSQ_ERR_SUCCESS && !retry_at_ && connecting_failed(rc)) schedule_retry();
      return;
    }
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_PROTOCOL) disconnected(rc);
  }
  static bool connecting_failed(int rc) { return rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_PROTOCOL; }
  void schedule_retry() {
    log(Level::warning, "mqtt: connection to " + cfg_.host + ":" + std::to_string(cfg_.port) + " failed; retrying in " +
                            std::to_string(backoff_.count()) + " s");
    retry_at_ = mono_now() + backoff_;
    backoff_ = std::min(backoff_ * 2, std::chrono::seconds(30));
  }
  void connected(int rc) {
    if (rc != 0) {
      log(Level::error, std::string("mqtt: the broker refused the connection: ") + mosquitto_connack_string(rc));
      up_ = false;
      schedule_retry();
      return;
    }
    up_ = true;
    unacked_ = 0;  // a clean session: what was in flight on the old connection is gone
    backoff_ = std::chrono::seconds(1);
    log(Level::info, "mqtt: connected to " + cfg_.host + ":" + std::to_string(cfg_.port));
    publish(cfg_.gateway_topic + "/availability", "online", true);
    mosquitto_subscribe(m_, nullptr, (cfg_.discovery_prefix + "/status").c_str(), 1);
    for (const auto& s : subscriptions_) mosquitto_subscribe(m_, nullptr, s.c_str(), 1);
    on_connected_();
  }
  void disconnected(int rc) {
    const bool was = std::exchange(up_, false);
    if (was && !stopping_) log(Level::warning, std::string("mqtt: disconnected: ") + mosquitto_strerror(rc));
    if (!retry_at_ && !stopping_) schedule_retry();
  }

  gateway::MqttConfig cfg_;
  MessageHandler on_message_;
  std::function<void()> on_connected_;
  mosquitto* m_ = nullptr;
  bool up_ = false, first_ = true, stopping_ = false;
  std::optional<TimePoint> retry_at_;
  std::chrono::seconds backoff_{1};
  std::set<std::string> subscriptions_;
  std::uint64_t published_ = 0;
  std::size_t unacked_ = 0;  // QoS 1 messages published and not yet acknowledged
};

// ---- configuration -------------------------------------------------------------------------
struct Loaded {
  gateway::Config config;
  std::vector<gateway::ConfigIssue> issues;
};

Loaded load(const std::string& path) {
  Loaded out;
  auto text = gateway::read_private_file(path, gateway::kMaxConfigBytes, false);
  if (!text) {
    out.issues.push_back({0, "", text.error().message()});
    return out;
  }
  auto parsed = gateway::parse_config(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
  out.config = std::move(parsed.config);
  out.issues = std::move(parsed.issues);
  if (out.issues.empty()) gateway::check_files(out.config, out.issues);
  return out;
}

// A device's identity across reloads: its address, or the emulator model and serial.
std::string entry_key(const gateway::DeviceEntry& d, std::size_t index) {
  if (!d.emulator.empty()) return "emulator:" + d.emulator + "#" + std::to_string(d.emulator_serial ? d.emulator_serial : index);
  return d.address;
}
bool same_entry(const gateway::DeviceEntry& a, const gateway::DeviceEntry& b) {
  return a.protocol == b.protocol && a.address == b.address && a.emulator == b.emulator && a.emulator_serial == b.emulator_serial &&
         a.model == b.model && a.device_key_hex == b.device_key_hex && a.key_file == b.key_file && a.poll_interval == b.poll_interval &&
         a.persistent == b.persistent && a.command_wait == b.command_wait && a.queue_limit == b.queue_limit &&
         a.disabled_reason == b.disabled_reason;
}
bool same_mqtt(const gateway::MqttConfig& a, const gateway::MqttConfig& b) {
  auto tls = [](const std::optional<gateway::TlsConfig>& t) { return t ? t->ca + "\n" + t->cert + "\n" + t->key : std::string("-"); };
  return a.host == b.host && a.port == b.port && a.username == b.username && a.password_file == b.password_file &&
         a.client_id == b.client_id && tls(a.tls) == tls(b.tls) && a.keepalive_s == b.keepalive_s &&
         a.discovery_prefix == b.discovery_prefix && a.gateway_topic == b.gateway_topic;
}

// ---- the daemon ----------------------------------------------------------------------------
class Daemon {
 public:
  explicit Daemon(std::string path) : path_(std::move(path)) {}

  int run() {
    Loaded l = load(path_);
    if (!l.issues.empty()) {
      for (const auto& i : l.issues) std::cerr << gateway::format_issue(i, path_) << "\n";
      throw UserError(path_ + ": " + std::to_string(l.issues.size()) + " mistake(s); nothing started");
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    sigfd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd_ < 0) throw UserError("signalfd failed");
    ::signal(SIGPIPE, SIG_IGN);

    mosquitto_lib_init();
    config_ = std::move(l.config);
    make_mqtt();
    bluez_ = std::make_unique<gw::BluezAccess>(loop_, config_.adapter);
    loop_.watch(sigfd_, POLLIN, [this](short) { on_signal(); });
    loop_.add_source({[this] { return EventLoop::Wait{mqtt_->fd(), mqtt_->events(), mqtt_->next_deadline()}; },
                      [this](short r, TimePoint t) {
                        if (r) mqtt_->ready(r);
                        mqtt_->on_tick(t);
                      }});
    loop_.add_source({[this] {
                        std::optional<TimePoint> d;
                        for (auto& [_, dev] : devices_) d = earliest(d, dev->next_deadline());
                        return EventLoop::Wait{-1, 0, d};
                      },
                      [this](short, TimePoint t) {
                        for (auto& [_, dev] : devices_) dev->on_tick(t);
                      }});
    const TimePoint now = mono_now();
    start_devices(now);
    mqtt_->start(now);
    log(Level::info, "gateway " + std::string(kVersion) + " running with " + std::to_string(devices_.size()) + " device(s)");

    while (!stop_) loop_.run_once();
    const TimePoint t = mono_now();
    log(Level::info, "stopping: closing links, publishing offline");
    // Offline first (flushed to the broker), then the links close.
    mqtt_->shutdown([&] {
      for (auto& [_, dev] : devices_) dev->announce_offline();
    });
    bool real = false;
    for (auto& [_, dev] : devices_) {
      dev->stop(t, false);
      real = real || dev->entry().emulator.empty();
    }
    // Let the links' Device1.Disconnect calls leave before the process exits.
    if (real) loop_.run_until([] { return false; }, mono_now() + std::chrono::milliseconds(200));
    devices_.clear();
    mqtt_.reset();
    mosquitto_lib_cleanup();
    ::close(sigfd_);
    log(Level::info, "stopped");
    return kExitOk;
  }

 private:
  void make_mqtt() {
    mqtt_ = std::make_unique<Mqtt>(
        config_.mqtt, [this](const std::string& topic, ByteView payload, bool retained) { on_message(topic, payload, retained); },
        [this] {
          for (auto& [_, dev] : devices_) dev->republish();
        });
  }

  void start_devices(TimePoint now) {
    std::map<std::string, std::size_t> per_model;  // the Nth emulator of a model gets serial + N
    for (std::size_t i = 0; i < config_.devices.size(); ++i) {
      const auto key = entry_key(config_.devices[i], i);
      const std::size_t nth = config_.devices[i].emulator.empty() ? 0 : per_model[config_.devices[i].emulator]++;
      if (devices_.count(key)) continue;
      auto dev = gw::make_device(config_.devices[i], nth, *mqtt_, config_.mqtt, bluez_.get());
      dev->set_clock([] { return mono_now(); });
      dev->start(now);
      devices_.emplace(key, std::move(dev));
    }
  }

  void on_message(const std::string& topic, ByteView payload, bool retained) {
    const TimePoint now = mono_now();
    if (topic == config_.mqtt.discovery_prefix + "/status") {
      if (std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()) == "online") {
        log(Level::info, "Home Assistant is online: publishing discovery again");
        for (auto& [_, dev] : devices_) dev->republish();
      }
      return;
    }
    if (retained) {
      // A retained command would run again at every reconnect: commands are never replayed.
      log(Level::warning, "mqtt: ignoring a retained command on " + topic + " (publish commands without retain)");
      return;
    }
    for (auto& [_, dev] : devices_)
      if (dev->on_message(topic, payload, now)) return;
    log(Level::debug, "mqtt: no device takes " + topic);
  }

  void on_signal() {
    signalfd_siginfo si{};
    while (::read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGHUP) reload();
      else stop_ = true;
    }
  }

  void reload() {
    log(Level::info, "SIGHUP: reloading " + path_);
    Loaded l = load(path_);
    if (!l.issues.empty()) {
      for (const auto& i : l.issues) log(Level::error, gateway::format_issue(i, path_));
      log(Level::error, "reload refused: keeping the running configuration");
      return;
    }
    const TimePoint now = mono_now();
    std::map<std::string, const gateway::DeviceEntry*> wanted;
    for (std::size_t i = 0; i < l.config.devices.size(); ++i) wanted[entry_key(l.config.devices[i], i)] = &l.config.devices[i];
    for (auto it = devices_.begin(); it != devices_.end();) {
      auto w = wanted.find(it->first);
      if (w == wanted.end() || !same_entry(*w->second, it->second->entry())) {
        log(Level::info, it->second->name() + (w == wanted.end() ? ": removed from the configuration" : ": configuration changed, restarting"));
        it->second->stop(now, true);
        if (w == wanted.end()) it->second->retract();
        it = devices_.erase(it);
      } else {
        ++it;
      }
    }
    const bool mqtt_changed = !same_mqtt(config_.mqtt, l.config.mqtt);
    config_ = std::move(l.config);
    if (mqtt_changed) {
      log(Level::info, "mqtt settings changed: reconnecting");
      mqtt_->shutdown([] {});
      for (auto& [_, dev] : devices_) dev->stop(now, false);
      devices_.clear();
      make_mqtt();
      mqtt_->start(now);
    }
    start_devices(now);
  }

  std::string path_;
  gateway::Config config_;
  EventLoop loop_;
  std::unique_ptr<Mqtt> mqtt_;
  std::unique_ptr<gw::BluezAccess> bluez_;
  std::map<std::string, std::unique_ptr<gw::ServedDevice>> devices_;
  int sigfd_ = -1;
  bool stop_ = false;
};

int check_config(const std::string& path) {
  Loaded l = load(path);
  for (const auto& i : l.issues) std::cerr << gateway::format_issue(i, path) << "\n";
  if (!l.issues.empty()) {
    std::cerr << path << ": " << l.issues.size() << " mistake(s)\n";
    return kExitUsage;
  }
  std::cout << path << ": OK, " << l.config.devices.size() << " device(s)\n";
  for (const auto& d : l.config.devices)
    std::cout << "  " << d.describe() << (d.disabled_reason.empty() ? "" : "  DISABLED: " + d.disabled_reason) << "\n";
  return kExitOk;
}

const Register gateway_verb{VerbGroup{
    "gateway", "MQTT gateway for Home Assistant (bluetti_mqtt-compatible topics); see docs/gateway.md",
    [](CLI::App& g) {
      static std::string config, check, level = "info";
      auto* c = g.add_option("--config", config, "Configuration file (YAML)");
      auto* k = g.add_option("--check-config", check, "Validate a configuration file (every mistake with its line) and exit");
      c->excludes(k);
      g.add_option("--log-level", level, "debug, info, warning or error")->check(CLI::IsMember({"debug", "info", "warning", "error"}));
      g.callback([&g] {
        gw::set_log_level(level == "debug" ? Level::debug : level == "warning" ? Level::warning : level == "error" ? Level::error : Level::info);
        if (!check.empty()) {
          const int rc = check_config(check);
          if (rc != kExitOk) throw UserError("the configuration has mistakes");
          return;
        }
        if (config.empty()) throw UserError("gateway: give --config FILE (or --check-config FILE)\n" + g.help());
        Daemon d(config);
        d.run();
      });
    }}};

}  // namespace
}  // namespace blecrypt::cli
