// See gateway_device.hpp.
#include "gateway_device.hpp"

#include <cctype>
#include <iostream>

#include "blecrypt/bluetti/protocol.hpp"
#include "blecrypt/gateway/errors.hpp"
#include "blecrypt/version.hpp"

namespace blecrypt::cli::gw {

namespace {
Level g_level = Level::info;
const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "?";
}

// Topic levels must not carry wildcards or separators: keep [A-Za-z0-9_] of the model name.
std::string topic_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out.empty() ? std::string("BLUETTI") : out;
}

gateway::SchedulerConfig scheduler_config(const gateway::DeviceEntry& e) {
  gateway::SchedulerConfig c;
  c.poll_interval = e.poll_interval;
  c.command_wait = e.command_wait;
  c.queue_limit = e.queue_limit;
  c.persistent = e.persistent;
  return c;
}
}  // namespace

void set_log_level(Level level) { g_level = level; }
void log(Level level, const std::string& message) {
  if (static_cast<int>(level) < static_cast<int>(g_level)) return;
  std::cerr << "<" << (level == Level::error ? 3 : level == Level::warning ? 4 : level == Level::info ? 6 : 7) << ">"
            << level_name(level) << ": " << message << "\n";
}

ServedDevice::ServedDevice(gateway::DeviceEntry entry, std::size_t index, Publisher& pub, const gateway::MqttConfig& mqtt)
    : entry_(std::move(entry)),
      pub_(&pub),
      gateway_availability_(mqtt.gateway_topic + "/availability"),
      discovery_prefix_(mqtt.discovery_prefix),
      disabled_reason_(entry_.disabled_reason),
      scheduler_(scheduler_config(entry_)) {
  if (!disabled_reason_.empty()) return;
  if (entry_.protocol != gateway::DeviceProtocol::bluetti) {
    disabled_reason_ = "SESAME locks are not served by this gateway build yet";
    return;
  }
  if (entry_.emulator.empty()) {
    disabled_reason_ = "real devices need the BlueZ transport, which this build does not have yet (use emulator: MODEL to try the gateway)";
    return;
  }
  // The device verification key: device_key / key_file, else the emulator's test key.
  Bytes key(bluetti::kTestDevicePublicKey.begin(), bluetti::kTestDevicePublicKey.end());
  std::string hex = entry_.device_key_hex;
  if (!entry_.key_file.empty()) {
    auto f = gateway::read_private_file(entry_.key_file, 1024, true);
    if (!f) {
      disabled_reason_ = "key_file " + entry_.key_file + ": " + f.error().message();
      return;
    }
    for (std::size_t i = 0; i < f->size(); ++i)
      if (!std::isspace((*f)[i])) hex += static_cast<char>((*f)[i]);
    if (hex.size() != 128) {
      disabled_reason_ = "key_file " + entry_.key_file + ": expected 128 hex digits";
      return;
    }
  }
  if (!hex.empty()) {
    auto raw = from_hex(hex);
    if (!raw || raw->size() != 64) {
      disabled_reason_ = "device_key: expected 128 hex digits";
      return;
    }
    key = *raw;
  }
  auto ccfg = bluetti::ClientConfig::make(crypto::default_backend(), key);
  if (!ccfg) {
    disabled_reason_ = "device_key: " + ccfg.error().message();
    return;
  }
  auto station = bluetti::PowerStation::create(entry_.emulator);
  auto dcfg = bluetti::DeviceConfig::make(crypto::default_backend(), {});
  if (!station || !dcfg) {
    disabled_reason_ = "emulator " + entry_.emulator + " unavailable";
    return;
  }
  if (entry_.emulator_serial != 0) station->set_serials(entry_.emulator_serial, entry_.emulator_serial + 1);
  else if (index > 0) station->set_serials(station->serial() + index, station->iot_serial() + index);
  table_ = &gateway::field_table(station->protocol());
  emulator_ = std::make_unique<bluetti::DeviceSession>(std::move(*dcfg), std::move(*station), crypto::system_rng());
  emulator_io_ = std::make_unique<BluettiDeviceIo>(*emulator_);
  mlink_ = std::make_unique<link::MemoryLink>(*emulator_io_, kBluettiProfile, link::kDefaultAttMtu, "emulated " + entry_.emulator);
  client_ = std::make_unique<BluettiClientEngine>(std::move(*ccfg), crypto::system_rng());
  session_ = std::make_unique<Session>(*client_, *mlink_, kBluettiProfile);
  session_->set_event_handler([this](Session::Event&& e) { on_session_event(std::move(e), now_); });
}

ServedDevice::~ServedDevice() {
  session_.reset();  // detaches from the link first
}

std::string ServedDevice::name() const {
  if (identity_) return identity_->id();
  return entry_.describe();
}

void ServedDevice::start(TimePoint now) {
  now_ = now;
  if (!enabled()) {
    log(Level::warning, entry_.describe() + ": disabled: " + disabled_reason_);
    return;
  }
  scheduler_.start(now);
  run_actions(now);
}

void ServedDevice::stop(TimePoint now, bool announce) {
  now_ = now;
  if (!enabled()) return;
  scheduler_.stop();
  drop_link(now);
  run_actions(now);
  if (announce && identity_) pub_->publish(gateway::availability_topic(*identity_), "offline", true);
  online_ = false;
  if (subscribed_ && identity_) pub_->unsubscribe(gateway::command_filter(*identity_));
  subscribed_ = false;
}

void ServedDevice::retract() {
  if (!identity_ || !table_) return;
  for (const auto& f : table_->fields) {
    pub_->publish(gateway::discovery_topic(discovery_prefix_, *identity_, f), "", true);
    pub_->publish(gateway::state_topic(*identity_, f.name), "", true);
  }
  pub_->publish(gateway::availability_topic(*identity_), "", true);
}

void ServedDevice::drop_link(TimePoint now) {
  pump_at_.reset();
  drop_at_pump_ = false;
  if (mlink_ && mlink_->connected()) mlink_->disconnect(now);
}

void ServedDevice::sent(TimePoint now) {
  ++counters_.requests;
  ++sent_;
  if (entry_.emulator_drop_every && sent_ % entry_.emulator_drop_every == 0) {
    drop_at_pump_ = true;
    if (!pump_at_) pump_at_ = now + entry_.emulator_latency;
  }
}

void ServedDevice::pump(TimePoint now) {
  if (!mlink_) return;
  if (drop_at_pump_ || entry_.emulator_latency.count() > 0) {
    if (!pump_at_) pump_at_ = now + entry_.emulator_latency;
    if (*pump_at_ > now) return;
  }
  if (drop_at_pump_) {
    log(Level::info, name() + ": emulator: dropping the link mid-request (drop_every)");
    return drop_link(now);
  }
  // Writes made while the link is already moving traffic are carried by that outer pump.
  if (pumping_) return;
  pump_at_.reset();
  pumping_ = true;
  mlink_->pump(now);
  pumping_ = false;
}

std::optional<TimePoint> ServedDevice::next_deadline() const {
  if (!enabled()) return std::nullopt;
  auto d = scheduler_.next_deadline();
  if (session_) d = earliest(d, session_->next_deadline());
  if (mlink_) d = earliest(d, mlink_->next_deadline());
  return earliest(d, pump_at_);
}

void ServedDevice::on_tick(TimePoint now) {
  now_ = now;
  if (!enabled()) return;
  if (pump_at_ && *pump_at_ <= now) pump(now);
  if (mlink_) {
    if (auto d = mlink_->next_deadline(); d && *d <= now) {
      pumping_ = true;
      mlink_->on_deadline(now);
      pumping_ = false;
      pump(now);
    }
  }
  if (session_) {
    if (auto d = session_->next_deadline(); d && *d <= now) {
      session_->on_deadline(now);
      pump(now);
    }
  }
  if (auto d = scheduler_.next_deadline(); d && *d <= now) scheduler_.on_deadline(now);
  run_actions(now);
}

void ServedDevice::run_actions(TimePoint now) {
  while (auto a = scheduler_.poll_action()) {
    std::visit(
        [&](auto&& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, gateway::actions::Connect>) {
            log(Level::info, name() + ": connecting (" + mlink_->describe() + ")");
            pumping_ = true;
            mlink_->connect(now);
            pumping_ = false;
            pump(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::Disconnect>) {
            drop_link(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::Poll>) {
            op_ = Op::poll;
            reads_ = gateway::refresh_reads(*table_, !identity_);
            read_index_ = 0;
            regs_.clear();
            next_read(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::Write>) {
            op_ = Op::write;
            command_ = x.command;
            const auto* f = table_->find(x.command.field);
            auto r = client_->session().send_request(bluetti::modbus::Request::write(f->write_address, x.command.value), now);
            if (!r) {
              pub_->publish(command_->reply_topic, gateway::result_error(command_->field, r.error()), false);
              ++counters_.commands_failed;
              command_.reset();
              op_ = Op::none;
              scheduler_.write_done(now);
              return;
            }
            sent(now);
            session_->flush(now);
            pump(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::CommandFailed>) {
            ++counters_.commands_failed;
            log(Level::warning, name() + ": command " + x.command.field + " failed: " + x.error.message());
            pub_->publish(x.command.reply_topic, gateway::result_error(x.command.field, x.error), false);
          } else if constexpr (std::is_same_v<T, gateway::actions::Availability>) {
            online_ = x.online;
            publish_availability();
          }
        },
        std::move(*a));
  }
}

void ServedDevice::next_read(TimePoint now) {
  if (read_index_ >= reads_.size()) return finish_poll(now, true);
  auto r = client_->session().send_request(reads_[read_index_], now);
  if (!r) return finish_poll(now, false);
  sent(now);
  session_->flush(now);
  pump(now);
}

void ServedDevice::finish_poll(TimePoint now, bool ok) {
  op_ = Op::none;
  if (ok) {
    ++counters_.polls;
    if (!identity_) {
      std::uint16_t model[6], sn[4];
      bool have = true;
      for (std::uint16_t i = 0; i < table_->identity.model_words && i < 6; ++i) {
        auto it = regs_.find(static_cast<std::uint16_t>(table_->identity.model_address + i));
        if (it == regs_.end()) have = false;
        else model[i] = it->second;
      }
      for (std::uint16_t i = 0; i < 4; ++i) {
        auto it = regs_.find(static_cast<std::uint16_t>(table_->identity.serial_address + i));
        if (it == regs_.end()) have = false;
        else sn[i] = it->second;
      }
      if (have) {
        identity_ = gateway::DeviceIdentity{topic_safe(bluetti::decode_model(table_->protocol, model, table_->identity.model_words)),
                                            bluetti::decode_serial(sn)};
        log(Level::info, entry_.describe() + ": serving as " + identity_->id());
        state_topics_.clear();
        for (const auto& f : table_->fields) state_topics_.push_back(gateway::state_topic(*identity_, f.name));
        publish_identity();
      }
    }
    if (identity_) {
      for (std::size_t i = 0; i < table_->fields.size(); ++i) {
        const auto& f = table_->fields[i];
        auto it = regs_.find(f.address);
        if (it == regs_.end()) continue;
        std::string value = gateway::format_state(f, it->second);
        pub_->publish(state_topics_[i], value, true);
        ++counters_.publishes;
        last_state_[std::string(f.name)] = std::move(value);
      }
    }
  }
  scheduler_.poll_done(now, ok);
  run_actions(now);
}

void ServedDevice::publish_identity() {
  if (!identity_) return;
  const gateway::DiscoveryContext ctx{gateway_availability_, kVersion};
  for (const auto& f : table_->fields) pub_->publish(gateway::discovery_topic(discovery_prefix_, *identity_, f), gateway::discovery_payload(ctx, *identity_, f), true);
  if (!subscribed_) {
    pub_->subscribe(gateway::command_filter(*identity_));
    subscribed_ = true;
  }
  publish_availability();
}

void ServedDevice::publish_availability() {
  if (identity_) pub_->publish(gateway::availability_topic(*identity_), online_ ? "online" : "offline", true);
}

void ServedDevice::republish() {
  if (!identity_) return;
  subscribed_ = false;  // a new session (clean start) has no subscriptions
  publish_identity();
  for (const auto& [field, value] : last_state_) pub_->publish(gateway::state_topic(*identity_, field), value, true);
}

void ServedDevice::on_command(const gateway::CommandTarget& target, const std::string& topic, ByteView payload, TimePoint now) {
  now_ = now;
  const std::string reply = gateway::result_topic(topic);
  auto fail = [&](std::error_code e) {
    ++counters_.commands_failed;
    log(Level::warning, name() + ": command " + target.field + " refused: " + e.message());
    pub_->publish(reply, gateway::result_error(target.field, e), false);
  };
  if (!enabled()) return fail(gateway::make_error_code(gateway::Errc::device_disabled));
  const auto* f = table_->find(target.field);
  if (!f) return fail(gateway::make_error_code(gateway::Errc::unknown_field));
  auto v = gateway::parse_command_payload(*f, payload);
  if (!v) return fail(v.error());
  static std::uint64_t next_id = 1;
  gateway::Command c{next_id++, target.field, *v, reply, {}};
  if (auto e = scheduler_.submit(std::move(c), now)) return fail(e);
  run_actions(now);
}

void ServedDevice::on_session_event(Session::Event&& e, TimePoint now) {
  std::visit(
      [&](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, link::events::LinkUp>) {
          log(Level::debug, name() + ": notifications on, handshake");
        } else if constexpr (std::is_same_v<T, link::events::LinkDown>) {
          log(Level::warning, name() + ": link down: " + x.why.message());
          op_ = Op::none;
          if (command_) command_.reset();  // the scheduler fails it (link_lost)
          scheduler_.on_link_down(now);
          run_actions(now);
        } else if constexpr (std::is_same_v<T, link::events::TransportError>) {
          log(Level::warning, name() + ": transport error: " + x.error.message());
          drop_link(now);
        } else if constexpr (std::is_same_v<T, link::events::InputRefused>) {
          log(Level::debug, name() + ": input refused: " + x.error.message());
        } else {
          on_client_event(std::move(std::get<0>(x)), now);
        }
      },
      std::move(e));
}

void ServedDevice::on_client_event(bluetti::ClientEvent&& e, TimePoint now) {
  using K = bluetti::ClientEvent::Kind;
  switch (e.kind) {
    case K::established:
      log(Level::info, name() + ": session established");
      scheduler_.on_link_up(now);
      run_actions(now);
      break;
    case K::failed:
      log(Level::warning, name() + ": handshake failed: " + e.error.message());
      drop_link(now);
      break;
    case K::response:
      if (op_ == Op::poll && e.request && e.response) {
        if (e.response->exception) {
          log(Level::warning, name() + ": read of register " + std::to_string(e.request->address) + " refused (exception " +
                                  std::to_string(*e.response->exception) + ")");
        } else {
          bluetti::collect(*e.request, *e.response, regs_);
        }
        ++read_index_;
        next_read(now);
      } else if (op_ == Op::write && command_) {
        op_ = Op::none;
        const bool ok = e.response && !e.response->exception;
        if (ok) {
          ++counters_.commands_ok;
          const auto* f = table_->find(command_->field);
          pub_->publish(command_->reply_topic, gateway::result_ok(command_->field, gateway::format_state(*f, command_->value)), false);
          log(Level::info, name() + ": " + command_->field + " set to " + gateway::format_state(*f, command_->value));
        } else {
          ++counters_.commands_failed;
          pub_->publish(command_->reply_topic, gateway::result_error(command_->field, gateway::make_error_code(gateway::Errc::device_rejected)), false);
        }
        command_.reset();
        scheduler_.write_done(now);
        run_actions(now);
      }
      break;
    case K::request_failed:
      log(Level::warning, name() + ": request failed: " + e.error.message());
      if (op_ == Op::poll) {
        finish_poll(now, false);
      } else if (op_ == Op::write && command_) {
        op_ = Op::none;
        ++counters_.commands_failed;
        pub_->publish(command_->reply_topic, gateway::result_error(command_->field, e.error), false);
        command_.reset();
        scheduler_.write_done(now);
        run_actions(now);
      }
      break;
    default: break;
  }
}

}  // namespace blecrypt::cli::gw
