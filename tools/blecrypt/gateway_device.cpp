// See gateway_device.hpp.
#include "gateway_device.hpp"

#include <cctype>
#include <ctime>
#include <iostream>

#include "blecrypt/bluetti/protocol.hpp"
#include "blecrypt/gateway/errors.hpp"
#include "blecrypt/link/errors.hpp"
#include "blecrypt/sesame/share_uri.hpp"
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

gateway::SchedulerConfig scheduler_config(const gateway::DeviceEntry& e) {
  gateway::SchedulerConfig c;
  c.poll_interval = e.poll_interval;
  c.command_wait = e.command_wait;
  c.queue_limit = e.queue_limit;
  c.persistent = e.persistent;
  return c;
}

// Topic levels must not carry wildcards or separators: keep [A-Za-z0-9_] of the model name.
std::string topic_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out.empty() ? std::string("BLUETTI") : out;
}

}  // namespace

std::int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void set_log_level(Level level) { g_level = level; }
void log(Level level, const std::string& message) {
  if (static_cast<int>(level) < static_cast<int>(g_level)) return;
  // sd-daemon(3) level prefixes: journald files each line under its priority.
  std::cerr << "<" << (level == Level::error ? 3 : level == Level::warning ? 4 : level == Level::info ? 6 : 7) << ">"
            << level_name(level) << ": " << message << "\n";
}

// ---- BlueZ -------------------------------------------------------------------------------------

Result<link::bluez::Bluez*> BluezAccess::get() {
  if (bz_) return bz_.get();
  auto bz = link::bluez::Bluez::open(*loop_, adapter_);
  if (!bz) return Unexpected{bz.error()};
  bz_ = std::move(*bz);
  log(Level::info, "bluez: using adapter " + bz_->adapter().name + " (" + bz_->adapter().address + ")");
  return bz_.get();
}

BluezDeviceLink::BluezDeviceLink(BluezAccess& access, std::string address, const link::GattProfile& profile)
    : access_(&access), address_(std::move(address)), profile_(profile) {}

BluezDeviceLink::~BluezDeviceLink() {
  if (fail_timer_) access_->loop().cancel(*fail_timer_);
  if (link_) link_->set_listener(nullptr);
}

void BluezDeviceLink::connect(TimePoint /*now*/) {
  if (!link_) {
    auto bz = access_->get();
    if (!bz) {
      // Reported on the loop, like every other connect outcome.
      const std::error_code why = bz.error();
      if (fail_timer_) access_->loop().cancel(*fail_timer_);
      fail_timer_ = access_->loop().after(Duration::zero(), [this, why] {
        fail_timer_.reset();
        if (listener_) listener_->on_disconnected(why, access_->loop().now());
      });
      return;
    }
    link_ = (*bz)->make_link(address_, profile_);
    link_->set_listener(listener_);
  }
  link_->connect();
}

void BluezDeviceLink::disconnect(TimePoint /*now*/) {
  if (link_) link_->disconnect();
}

std::string BluezDeviceLink::describe() const { return link_ ? link_->describe() : "BlueZ " + address_; }
void BluezDeviceLink::set_listener(link::LinkListener* l) {
  listener_ = l;
  if (link_) link_->set_listener(l);
}
Result<void> BluezDeviceLink::subscribe(std::string_view characteristic) {
  if (!link_) return link::Errc::not_connected;
  return link_->subscribe(characteristic);
}
Result<void> BluezDeviceLink::write(std::string_view characteristic, ByteView value, link::WriteType type) {
  if (!link_) return link::Errc::not_connected;
  return link_->write(characteristic, value, type);
}
std::size_t BluezDeviceLink::att_mtu() const { return link_ ? link_->att_mtu() : link::kDefaultAttMtu; }
bool BluezDeviceLink::connected() const { return link_ && link_->connected(); }

// ---- emulated link -------------------------------------------------------------------------------

EmulatedLink::EmulatedLink(std::unique_ptr<EngineIo> peripheral, const link::GattProfile& profile, std::string description,
                           Duration latency, std::uint32_t drop_every)
    : peripheral_(std::move(peripheral)),
      metered_(*peripheral_),
      mlink_(metered_, profile, link::kDefaultAttMtu, std::move(description)),
      latency_(latency),
      drop_every_(drop_every) {}

void EmulatedLink::connect(TimePoint now) {
  pumping_ = true;
  mlink_.connect(now);
  pumping_ = false;
  kick(now);
}

void EmulatedLink::disconnect(TimePoint now) {
  pump_at_.reset();
  drop_pending_ = false;
  if (mlink_.connected()) mlink_.disconnect(now);
}

void EmulatedLink::request_sent(TimePoint now) {
  ++sent_;
  if (drop_every_ && sent_ % drop_every_ == 0) {
    drop_pending_ = true;
    if (!pump_at_) pump_at_ = now + latency_;
  }
}

void EmulatedLink::kick(TimePoint now) {
  if (drop_pending_ || latency_.count() > 0) {
    if (!pump_at_) pump_at_ = now + latency_;
    if (*pump_at_ > now) return;
  }
  pump(now);
}

void EmulatedLink::pump(TimePoint now) {
  if (drop_pending_) {
    log(Level::info, describe() + ": emulator: dropping the link mid-request (drop_every)");
    return disconnect(now);
  }
  // Writes made while the link is already moving traffic are carried by that outer pump.
  if (pumping_) return;
  pump_at_.reset();
  pumping_ = true;
  mlink_.pump(now);
  pumping_ = false;
}

std::optional<TimePoint> EmulatedLink::next_deadline() const {
  auto d = mlink_.connected() ? mlink_.next_deadline() : std::nullopt;
  return earliest(d, pump_at_);
}

void EmulatedLink::on_tick(TimePoint now) {
  if (pump_at_ && *pump_at_ <= now) pump(now);
  if (!mlink_.connected()) return;
  if (auto d = mlink_.next_deadline(); d && *d <= now) {
    pumping_ = true;
    mlink_.on_deadline(now);
    pumping_ = false;
    kick(now);
  }
}

// ---- ServedDevice ----------------------------------------------------------------------------------

ServedDevice::ServedDevice(gateway::DeviceEntry entry, Publisher& pub, const gateway::MqttConfig& mqtt)
    : entry_(std::move(entry)),
      pub_(&pub),
      gateway_availability_(mqtt.gateway_topic + "/availability"),
      discovery_prefix_(mqtt.discovery_prefix),
      disabled_reason_(entry_.disabled_reason),
      scheduler_(scheduler_config(entry_)) {}

std::string ServedDevice::name() const { return entry_.describe(); }

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
  if (link_) link_->disconnect(now);
  run_actions(now);
  online_ = false;
  if (announce) announce_offline();
}

void ServedDevice::announce_offline() {
  if (enabled() && identified()) pub_->publish(availability_topic(), "offline", true);
}

std::optional<TimePoint> ServedDevice::next_deadline() const {
  if (!enabled()) return std::nullopt;
  auto d = scheduler_.next_deadline();
  d = earliest(d, session_deadline());
  if (link_) d = earliest(d, link_->next_deadline());
  return d;
}

void ServedDevice::on_tick(TimePoint now) {
  now_ = now;
  if (!enabled()) return;
  if (link_) link_->on_tick(now);
  if (auto d = session_deadline(); d && *d <= now) session_on_deadline(now);
  if (auto d = scheduler_.next_deadline(); d && *d <= now) scheduler_.on_deadline(now);
  run_actions(now);
}

void ServedDevice::connect(TimePoint now) {
  log(Level::info, name() + ": connecting (" + link_->describe() + ")");
  link_->connect(now);
}

void ServedDevice::run_actions(TimePoint now) {
  while (auto a = scheduler_.poll_action()) {
    std::visit(
        [&](auto&& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, gateway::actions::Connect>) {
            connect(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::Disconnect>) {
            link_->disconnect(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::Poll>) {
            begin_poll(now);
          } else if constexpr (std::is_same_v<T, gateway::actions::Write>) {
            command_ = x.command;
            begin_write(x.command, now);
          } else if constexpr (std::is_same_v<T, gateway::actions::CommandFailed>) {
            log(Level::warning, name() + ": command " + x.command.field + " failed: " + x.error.message());
            command_result(x.command, gateway::result_error(x.command.field, x.error), false);
          } else if constexpr (std::is_same_v<T, gateway::actions::Availability>) {
            online_ = x.online;
            publish_availability();
          } else if constexpr (std::is_same_v<T, gateway::actions::SelectPack>) {
            begin_pack_select(x.pack, now);
          } else if constexpr (std::is_same_v<T, gateway::actions::ReadPack>) {
            begin_pack_read(x.pack, now);
          }
        },
        std::move(*a));
  }
}

void ServedDevice::publish_availability() {
  if (identified()) pub_->publish(availability_topic(), online_ ? "online" : "offline", true);
}

void ServedDevice::command_result(const gateway::Command& c, const std::string& payload, bool ok) {
  ++(ok ? counters_.commands_ok : counters_.commands_failed);
  pub_->publish(c.reply_topic, payload, false);
}

void ServedDevice::refuse(const std::string& field, const std::string& reply, std::error_code e) {
  ++counters_.commands_failed;
  log(Level::warning, name() + ": command " + field + " refused: " + e.message());
  pub_->publish(reply, gateway::result_error(field, e), false);
}

void ServedDevice::submit(const std::string& field, std::uint16_t value, const std::string& reply, TimePoint now) {
  static std::uint64_t next_id = 1;
  gateway::Command c{next_id++, field, value, reply, {}};
  if (auto e = scheduler_.submit(std::move(c), now)) return refuse(field, reply, e);
  run_actions(now);
}

void ServedDevice::link_lost(TimePoint now) {
  command_.reset();  // the scheduler fails it (link_lost); it is never replayed
  scheduler_.on_link_down(now);
  run_actions(now);
}

// ---- BLUETTI -------------------------------------------------------------------------------------

BluettiDevice::BluettiDevice(gateway::DeviceEntry entry, std::size_t index, Publisher& pub, const gateway::MqttConfig& mqtt,
                             BluezAccess* bluez)
    : EngineDevice(std::move(entry), pub, mqtt) {
  if (!disabled_reason_.empty()) return;
  if (!entry_.model.empty()) {
    model_ = bluetti::models::find(entry_.model);  // checked by the config parser
    if (!model_) {
      disabled_reason_ = "unknown model " + entry_.model;
      return;
    }
    use_model(*model_, now_);
  }
  const bool emulated = !entry_.emulator.empty();
  // The device verification key: device_key / key_file; else K2 (real units) or the emulator's test key.
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
  bluetti::ClientConfig ccfg;
  if (!hex.empty() || emulated) {
    Bytes key(bluetti::kTestDevicePublicKey.begin(), bluetti::kTestDevicePublicKey.end());
    if (!hex.empty()) {
      auto raw = from_hex(hex);
      if (!raw || raw->size() != 64) {
        disabled_reason_ = "device_key: expected 128 hex digits";
        return;
      }
      key = *raw;
    }
    auto c = bluetti::ClientConfig::make(crypto::default_backend(), key);
    if (!c) {
      disabled_reason_ = "device_key: " + c.error().message();
      return;
    }
    ccfg = std::move(*c);
  }
  if (emulated) {
    auto station = bluetti::PowerStation::create(entry_.emulator);
    auto dcfg = bluetti::DeviceConfig::make(crypto::default_backend(), {});
    if (!station || !dcfg) {
      disabled_reason_ = "emulator " + entry_.emulator + " unavailable";
      return;
    }
    if (entry_.emulator_serial != 0) station->set_serials(entry_.emulator_serial, entry_.emulator_serial + 1);
    else if (index > 0) station->set_serials(station->serial() + index, station->iot_serial() + index);
    // What a real unit advertises: the model followed by its serial ("AC3001234567890123").
    advertised_ = station->model() + std::to_string(station->serial());
    auto io = std::make_unique<OwnedEngineIo<bluetti::Device>>(bluetti::Device(std::move(*dcfg), std::move(*station), crypto::system_rng()));
    emulator_ = &io->engine();
    link_ = std::make_unique<EmulatedLink>(std::move(io), bluetti::kGattProfile, "emulated " + entry_.emulator,
                                           entry_.emulator_latency, entry_.emulator_drop_every);
  } else {
    if (!bluez) {
      disabled_reason_ = "real devices need the BlueZ transport";
      return;
    }
    link_ = std::make_unique<BluezDeviceLink>(*bluez, entry_.address, bluetti::kGattProfile);
  }
  client_ = std::make_unique<bluetti::Client>(std::move(ccfg), crypto::system_rng());
  requests_ = std::make_unique<bluetti::Requests>(*client_);
  attach(bluetti::kGattProfile);
}

BluettiDevice::~BluettiDevice() = default;

std::string BluettiDevice::name() const {
  if (identity_) return identity_->id();
  return entry_.describe();
}

std::string BluettiDevice::availability_topic() const { return identity_ ? gateway::availability_topic(*identity_) : std::string(); }

void BluettiDevice::request_sent(TimePoint now) {
  if (auto* el = dynamic_cast<EmulatedLink*>(link_.get())) el->request_sent(now);
}

void BluettiDevice::use_model(const bluetti::models::Model& m, TimePoint now) {
  model_ = &m;
  entities_ = gateway::entities(m);
  plan_ = gateway::plan_refresh(m);
  last_state_.assign(entities_.size(), std::string());
  full_due_ = true;
  packs_ = gateway::plan_packs(m);
  last_pack_.assign(packs_.max_packs, std::string());
  gateway::PackTier tier;
  tier.packs = packs_.max_packs;
  tier.select = m.packs.selector != 0;
  tier.settle = entry_.pack_settle.value_or(std::chrono::milliseconds(m.packs.settle_ms));
  // Pack data changes slowly: one pack per full-refresh period unless configured.
  tier.interval = entry_.pack_interval.value_or(entry_.poll_interval * gateway::kFullRefreshEvery);
  scheduler_.set_pack_tier(tier, now);
}

void BluettiDevice::set_identity(std::uint64_t serial) {
  identity_ = gateway::DeviceIdentity{topic_safe(std::string(model_->name)), serial};
  log(Level::info, entry_.describe() + ": serving as " + identity_->id() + " (" + std::to_string(entities_.size()) + " entities, " +
                       std::to_string(plan_.live.size()) + " reads per poll, " + std::to_string(plan_.full.size()) + " per full refresh" +
                       (packs_.max_packs ? ", up to " + std::to_string(packs_.max_packs) + " battery packs" : std::string()) + ")");
  state_topics_.clear();
  for (const auto& e : entities_) state_topics_.push_back(gateway::state_topic(*identity_, e.name));
  publish_identity();
}

void BluettiDevice::on_link_reset() {
  op_ = Op::none;
  op_ids_.clear();
  detect_id_.reset();
  write_id_.reset();
  requests_->on_link_down();
  while (requests_->poll_completion()) {
  }
}

void BluettiDevice::on_engine_event(const bluetti::Client::Event& ce, TimePoint now) {
  const std::size_t before = client_->pending_requests();
  in_event_ = true;
  if (std::holds_alternative<bluetti::events::Established>(ce)) {
    log(Level::info, name() + ": session established");
    if (model_) {
      requests_->set_protocol(model_->protocol);
      full_due_ = true;
      scheduler_.on_link_up(now);
      run_actions(now);
    } else {
      // Detection: the IoT V2 device-type registers, then (exception or no model) the V1 ones.
      detect_v1_ = false;
      detect_regs_.clear();
      if (auto id = requests_->read_registers(bluetti::models::kV2TypeRegister, bluetti::models::kV2TypeWords, now)) detect_id_ = *id;
    }
  } else if (auto* f = std::get_if<bluetti::events::Failed>(&ce)) {
    log(Level::warning, name() + ": handshake failed: " + f->error.message());
    link_->disconnect(now);
  }
  requests_->on_event(ce, now);
  while (auto c = requests_->poll_completion()) on_completion(std::move(*c), now);
  in_event_ = false;
  send_pending(now, before);
}

void BluettiDevice::send_pending(TimePoint now, std::size_t before) {
  requests_->pump(now);
  // The layer keeps one request outstanding: one more is on its way when none was before.
  if (before == 0 && client_->pending_requests() > 0) request_sent(now);
  flush(now);
}

void BluettiDevice::on_detection(bluetti::Completion&& c, TimePoint now) {
  detect_id_.reset();
  if (auto* r = std::get_if<bluetti::requests::RegistersRead>(&c)) {
    for (std::size_t i = 0; i < r->values.size(); ++i) detect_regs_[static_cast<std::uint16_t>(r->address + i)] = r->values[i];
  } else if (auto* f = std::get_if<bluetti::requests::Failed>(&c); f && !f->exception) {
    log(Level::warning, name() + ": model detection failed: " + f->error.message());
    return link_->disconnect(now);
  }
  // The advertised name (the emulator's, or BlueZ's Device1.Name), as `blecrypt bluetti detect` uses it.
  const std::string advertised = advertised_.empty() ? link_->advertised_name() : advertised_;
  auto id = bluetti::models::identify(advertised, detect_regs_);
  if (!id && !detect_v1_) {
    detect_v1_ = true;
    if (auto rid = requests_->read_registers(bluetti::models::kV1TypeRegister, bluetti::models::kV1TypeWords, now)) {
      detect_id_ = *rid;
      return;  // sent by on_engine_event
    }
  }
  if (!id) {
    const auto reported = bluetti::models::reported_type(detect_regs_);
    log(Level::warning, name() + ": unknown model" + (reported.empty() ? std::string() : " \"" + reported + "\"") +
                            ": not in the model table (docs/bluetti-models.md says how to contribute a map)");
    return link_->disconnect(now);
  }
  log(Level::info, name() + ": detected " + std::string(id->model->name) + (id->protocol == bluetti::Protocol::iot_v2 ? " (IoT V2" : " (IoT V1") +
                       (id->confirmed ? ", confirmed by the advertised name \"" + advertised + "\")" : ")"));
  if (id->advertised && !id->confirmed)
    log(Level::warning, name() + ": advertised as " + std::string(id->advertised->name) + " (\"" + advertised + "\") but the device-type register says \"" +
                            id->reported + "\": using the " + std::string(id->model->name) + " table");
  use_model(*id->model, now);
  requests_->set_protocol(id->protocol);
  if (id->serial != 0 && !identity_) set_identity(id->serial);
  scheduler_.on_link_up(now);
  run_actions(now);
}

void BluettiDevice::on_completion(bluetti::Completion&& c, TimePoint now) {
  const bluetti::RequestId id = std::visit([](const auto& x) { return x.id; }, c);
  if (detect_id_ && id == *detect_id_) return on_detection(std::move(c), now);
  if ((op_ == Op::poll || op_ == Op::pack_read) && op_ids_.count(id)) {
    if (probe_ && regs_.empty() && op_ == Op::poll) probe_(false);
    op_ids_.erase(id);
    ++counters_.requests;
    if (op_ == Op::pack_read) ++counters_.pack_requests;
    if (auto* r = std::get_if<bluetti::requests::RegistersRead>(&c)) {
      for (std::size_t i = 0; i < r->values.size(); ++i) regs_[static_cast<std::uint16_t>(r->address + i)] = r->values[i];
    } else if (auto* f = std::get_if<bluetti::requests::Failed>(&c)) {
      if (f->exception) {
        log(Level::warning, name() + ": a register read was refused (exception " + std::to_string(*f->exception) + ")");
      } else {
        log(Level::warning, name() + ": read failed: " + f->error.message());
        op_failed_ = true;
      }
    }
    if (op_ids_.empty()) {
      if (op_ == Op::poll) finish_poll(now, !op_failed_);
      else finish_pack_read(now, !op_failed_);
    }
    return;
  }
  if (op_ == Op::pack_select && write_id_ && id == *write_id_) {
    op_ = Op::none;
    write_id_.reset();
    ++counters_.requests;
    ++counters_.pack_requests;
    const bool ok = std::holds_alternative<bluetti::requests::RegisterWritten>(c);
    if (!ok) log(Level::warning, name() + ": selecting battery pack " + std::to_string(pack_asked_) + " failed: " +
                                     std::get<bluetti::requests::Failed>(c).error.message());
    scheduler_.pack_select_done(now, ok);
    run_actions(now);
    return;
  }
  if (op_ == Op::write && write_id_ && id == *write_id_ && command_) {
    op_ = Op::none;
    write_id_.reset();
    ++counters_.requests;
    const auto* e = gateway::find_entity(entities_, command_->field);
    if (std::holds_alternative<bluetti::requests::RegisterWritten>(c)) {
      finish_write(now, {}, gateway::value_payload(*e->command, command_->value));
    } else {
      const auto& fail = std::get<bluetti::requests::Failed>(c);
      log(Level::debug, name() + ": write failed: " + fail.error.message());
      finish_write(now, fail.exception ? make_error_code(gateway::Errc::device_rejected) : fail.error, "");
    }
  }
}

void BluettiDevice::finish_write(TimePoint now, std::error_code error, const std::string& value) {
  const gateway::Command cmd = *command_;
  command_.reset();
  if (!error) {
    log(Level::info, name() + ": " + cmd.field + " set to " + value);
    command_result(cmd, gateway::result_ok(cmd.field, value), true);
  } else {
    log(Level::warning, name() + ": command " + cmd.field + " failed: " + error.message());
    command_result(cmd, gateway::result_error(cmd.field, error), false);
  }
  full_due_ = true;  // the setting (and what it changed) is published by the next poll
  scheduler_.write_done(now);
  run_actions(now);
}

void BluettiDevice::begin_poll(TimePoint now) {
  op_ = Op::poll;
  op_ids_.clear();
  op_failed_ = false;
  regs_.clear();
  // Every block at connect, after a command, until the identity is known and every
  // kFullRefreshEvery polls; the live blocks (charge, power flows, output states) otherwise.
  last_poll_full_ = full_due_ || !identity_ || ++polls_since_full_ >= gateway::kFullRefreshEvery;
  if (last_poll_full_) {
    full_due_ = false;
    polls_since_full_ = 0;
  }
  const std::size_t before = client_->pending_requests();
  for (const auto& r : last_poll_full_ ? plan_.full : plan_.live)
    if (auto id = requests_->read_registers(r.address, r.count, now)) op_ids_.insert(*id);
  if (!in_event_) send_pending(now, before);  // else on_engine_event sends it
  if (op_ids_.empty() && op_ == Op::poll) finish_poll(now, false);
}

void BluettiDevice::begin_write(const gateway::Command& c, TimePoint now) {
  const auto* e = gateway::find_entity(entities_, c.field);
  auto req = e && e->command ? bluetti::models::encode_write(*e->command, c.value) : Result<bluetti::modbus::Request>(bluetti::Errc::field_not_settable);
  if (!req) return finish_write(now, make_error_code(gateway::Errc::field_read_only), "");
  op_ = Op::write;
  const std::size_t before = client_->pending_requests();
  write_id_ = requests_->write_register(req->address, req->values.front(), now);
  if (!in_event_) send_pending(now, before);
}

void BluettiDevice::begin_pack_select(unsigned pack, TimePoint now) {
  pack_asked_ = pack;
  auto req = bluetti::models::select_pack(*model_, pack);
  if (!req) {
    scheduler_.pack_select_done(now, false);
    return run_actions(now);
  }
  op_ = Op::pack_select;
  log(Level::debug, name() + ": selecting battery pack " + std::to_string(pack));
  const std::size_t before = client_->pending_requests();
  write_id_ = requests_->write_register(req->address, req->values.front(), now);
  if (!in_event_) send_pending(now, before);
}

void BluettiDevice::begin_pack_read(unsigned pack, TimePoint now) {
  op_ = Op::pack_read;
  pack_asked_ = pack;
  op_ids_.clear();
  op_failed_ = false;
  regs_.clear();
  const std::size_t before = client_->pending_requests();
  for (const auto& r : packs_.reads)
    if (auto id = requests_->read_registers(r.address, r.count, now)) op_ids_.insert(*id);
  if (!in_event_) send_pending(now, before);
  if (op_ids_.empty() && op_ == Op::pack_read) finish_pack_read(now, false);
}

void BluettiDevice::finish_pack_read(TimePoint now, bool ok) {
  op_ = Op::none;
  if (ok && identity_) {
    const unsigned shown = gateway::shown_pack(packs_, pack_asked_, regs_);
    const std::string payload = gateway::pack_details_payload(packs_, regs_);
    if (shown == 0 || payload.empty()) {
      log(Level::debug, name() + ": battery pack " + std::to_string(pack_asked_) + ": nothing to publish (the unit shows no pack)");
    } else {
      if (shown != pack_asked_)
        log(Level::debug, name() + ": asked for battery pack " + std::to_string(pack_asked_) + ", the unit shows pack " + std::to_string(shown));
      last_pack_[shown - 1] = payload;
      pub_->publish(gateway::state_topic(*identity_, gateway::pack_details_name(shown)), payload, true);
      ++counters_.publishes;
      ++counters_.pack_reads;
    }
  }
  scheduler_.pack_read_done(now, ok);
  run_actions(now);
}

void BluettiDevice::finish_poll(TimePoint now, bool ok) {
  op_ = Op::none;
  if (ok) {
    ++counters_.polls;
    if (!identity_) {
      std::optional<std::uint64_t> serial;
      for (const auto& f : model_->fields) {
        if (f.role == bluetti::models::Role::serial)
          if (auto r = bluetti::models::decode_field(f, regs_)) serial = std::get<std::uint64_t>(r->value);
        if (f.role == bluetti::models::Role::model_name)
          if (auto r = bluetti::models::decode_field(f, regs_); r && !bluetti::models::find(std::get<std::string>(r->value)))
            log(Level::warning, entry_.describe() + ": the unit reports model \"" + std::get<std::string>(r->value) + "\"; using the " +
                                    std::string(model_->name) + " table as configured");
      }
      if (serial) set_identity(*serial);
      else log(Level::warning, entry_.describe() + ": no serial number in the " + std::string(model_->name) + " reads");
    }
    // Page through the packs the unit reports (its pack-count register), as the CLI and Python do.
    if (model_->packs.selector != 0)
      for (const auto& f : model_->fields)
        if (f.role == bluetti::models::Role::pack_count)
          if (auto it = regs_.find(f.address); it != regs_.end()) scheduler_.set_pack_count(it->second);
    if (identity_) {
      for (std::size_t i = 0; i < entities_.size(); ++i) {
        auto r = bluetti::models::decode_field(*entities_[i].state, regs_);
        if (!r) continue;
        last_state_[i] = gateway::state_payload(*r);
        pub_->publish(state_topics_[i], last_state_[i], true);
        ++counters_.publishes;
      }
    }
  }
  if (probe_) probe_(true);
  scheduler_.poll_done(now, ok);
  run_actions(now);
}

void BluettiDevice::publish_identity() {
  if (!identity_) return;
  const gateway::DiscoveryContext ctx{gateway_availability_, kVersion};
  for (const auto& e : entities_)
    pub_->publish(gateway::discovery_topic(discovery_prefix_, *identity_, e), gateway::discovery_payload(ctx, *identity_, e), true);
  for (unsigned n = 1; n <= packs_.max_packs; ++n)
    for (const auto& e : packs_.entities)
      pub_->publish(gateway::pack_discovery_topic(discovery_prefix_, *identity_, e, n), gateway::pack_discovery_payload(ctx, *identity_, e, n), true);
  if (!subscribed_) {
    pub_->subscribe(gateway::command_filter(*identity_));
    subscribed_ = true;
  }
  publish_availability();
}

void BluettiDevice::retract() {
  if (!identity_) return;
  for (const auto& e : entities_) {
    pub_->publish(gateway::discovery_topic(discovery_prefix_, *identity_, e), "", true);
    pub_->publish(gateway::state_topic(*identity_, e.name), "", true);
  }
  for (unsigned n = 1; n <= packs_.max_packs; ++n) {
    for (const auto& e : packs_.entities) pub_->publish(gateway::pack_discovery_topic(discovery_prefix_, *identity_, e, n), "", true);
    if (!last_pack_[n - 1].empty()) pub_->publish(gateway::state_topic(*identity_, gateway::pack_details_name(n)), "", true);
  }
  pub_->publish(gateway::availability_topic(*identity_), "", true);
  if (subscribed_) pub_->unsubscribe(gateway::command_filter(*identity_));
  subscribed_ = false;
}

void BluettiDevice::republish() {
  if (!identity_) return;
  subscribed_ = false;  // a new session (clean start) has no subscriptions
  publish_identity();
  for (std::size_t i = 0; i < entities_.size() && i < state_topics_.size(); ++i)
    if (!last_state_[i].empty()) pub_->publish(state_topics_[i], last_state_[i], true);
  for (std::size_t n = 0; n < last_pack_.size(); ++n)
    if (!last_pack_[n].empty()) pub_->publish(gateway::state_topic(*identity_, gateway::pack_details_name(unsigned(n + 1))), last_pack_[n], true);
}

bool BluettiDevice::on_message(const std::string& topic, ByteView payload, TimePoint now) {
  now_ = now;
  if (!identity_) return false;
  auto target = gateway::parse_command_topic(topic);
  if (!target || target->device_id != identity_->id()) return false;
  const std::string reply = gateway::result_topic(topic);
  if (!enabled()) {
    refuse(target->field, reply, make_error_code(gateway::Errc::device_disabled));
    return true;
  }
  const auto* e = gateway::find_entity(entities_, target->field);
  if (!e) {
    refuse(target->field, reply, make_error_code(gateway::Errc::unknown_field));
    return true;
  }
  auto v = gateway::parse_command_payload(*e, payload);
  if (!v) {
    refuse(target->field, reply, v.error());
    return true;
  }
  submit(target->field, *v, reply, now);
  return true;
}


// ---- SESAME ----------------------------------------------------------------------------------------

namespace {
// The lock an emulated SESAME gets when no key file is given: a fixed test secret and a UUID that
// differs per index (documented in docs/gateway.md; never a real lock's).
sesame::Uuid emulator_uuid(std::size_t index) {
  sesame::Uuid u{0x5E, 0x5A, 0x3E, 0x00, 0xB1, 0xEC, 0x4A, 0x7E, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  u[15] = static_cast<std::uint8_t>(index + 1);
  return u;
}
std::optional<std::uint16_t> sesame_model(const std::string& name) {
  std::string n;
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c))) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "5" || n == "sesame5") return sesame::model::sesame5;
  if (n == "5pro" || n == "sesame5pro") return sesame::model::sesame5_pro;
  if (n == "5us" || n == "sesame5us") return sesame::model::sesame5_us;
  return std::nullopt;
}
}  // namespace

SesameDevice::SesameDevice(gateway::DeviceEntry entry, std::size_t index, Publisher& pub, const gateway::MqttConfig& mqtt,
                           BluezAccess* bluez)
    : EngineDevice(std::move(entry), pub, mqtt) {
  if (!disabled_reason_.empty()) return;
  const bool emulated = !entry_.emulator.empty();
  std::uint16_t model = sesame::model::sesame5;
  if (emulated) {
    auto m = sesame_model(entry_.emulator);
    if (!m) {
      disabled_reason_ = "unknown SESAME emulator model " + entry_.emulator + " (5, 5pro, 5us)";
      return;
    }
    model = *m;
  }
  SecretBytes secret;
  sesame::Uuid uuid = emulator_uuid(index);
  if (!entry_.key_file.empty()) {
    auto f = gateway::read_private_file(entry_.key_file, 4096, true);
    if (!f) {
      disabled_reason_ = "key_file " + entry_.key_file + ": " + f.error().message();
      return;
    }
    std::string text(reinterpret_cast<const char*>(f->data()), f->size());
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    auto key = sesame::parse_share_uri(text);
    secure_wipe(text.data(), text.size());
    if (!key || key->os2 || !key->uuid || key->secret.size() != 16) {
      disabled_reason_ = "key_file " + entry_.key_file + ": expected the lock's ssm:// share key (an OS3 key with its UUID)";
      return;
    }
    secret = std::move(key->secret);
    uuid = *key->uuid;
    if (!emulated && sesame::is_os3_lock(key->model)) model = key->model;
  } else if (emulated) {
    Bytes s(16);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(0xA0 + i);
    secret = SecretBytes(ByteView(s));
  } else {
    disabled_reason_ = "key_file is required for a SESAME lock";
    return;
  }
  lock_ = gateway::sesame_topics::make_lock(uuid, model);
  if (emulated) {
    sesame::DeviceConfig dc;
    dc.model = model;
    dc.uuid = uuid;
    dc.secret = SecretBytes(secret.view());
    auto io = std::make_unique<OwnedEngineIo<sesame::Device>>(sesame::Device(std::move(dc), crypto::system_rng()));
    emulator_ = &io->engine();
    link_ = std::make_unique<EmulatedLink>(std::move(io), sesame::kGattProfile, "emulated SESAME " + entry_.emulator,
                                           entry_.emulator_latency, entry_.emulator_drop_every);
  } else {
    if (!bluez) {
      disabled_reason_ = "real devices need the BlueZ transport";
      return;
    }
    link_ = std::make_unique<BluezDeviceLink>(*bluez, entry_.address, sesame::kGattProfile);
  }
  sesame::ClientConfig cc;
  cc.secret = std::move(secret);
  cc.unix_time_offset = static_cast<std::int64_t>(std::time(nullptr)) -
                        std::chrono::duration_cast<std::chrono::seconds>(link::bluez::EventLoop::clock_now().time_since_epoch()).count();
  client_ = std::make_unique<sesame::Client>(std::move(cc), crypto::system_rng());
  attach(sesame::kGattProfile);
}

SesameDevice::~SesameDevice() = default;

std::string SesameDevice::name() const { return lock_.uuid.empty() ? entry_.describe() : "SESAME " + lock_.uuid; }

void SesameDevice::on_link_reset() {
  write_item_.reset();
  polling_ = false;
  history_read_ = false;
}

void SesameDevice::on_lock_event(const sesame::Client::Event& e, TimePoint now) {
  namespace ev = sesame::events;
  if (std::holds_alternative<ev::LoggedIn>(e)) {
    log(Level::info, name() + ": logged in");
    if (!discovery_sent_) republish();
    scheduler_.on_link_up(now);
    run_actions(now);
  } else if (auto* m = std::get_if<ev::MechStatus>(&e)) {
    publish_status(m->status);
  } else if (auto* h = std::get_if<ev::History>(&e)) {
    publish_retained(gateway::sesame_topics::history_topic(lock_), gateway::sesame_topics::history_json(h->record));
    if (polling_) {
      polling_ = false;
      scheduler_.poll_done(now, true);
      run_actions(now);
    }
  } else if (std::holds_alternative<ev::HistoryEmpty>(e)) {
    if (polling_) {
      polling_ = false;
      scheduler_.poll_done(now, true);
      run_actions(now);
    }
  } else if (auto* c = std::get_if<ev::CommandResult>(&e)) {
    if (write_item_ && c->item == *write_item_)
      finish_write(now, c->result == sesame::ResultCode::success ? std::error_code{} : make_error_code(gateway::Errc::device_rejected));
  } else if (auto* f = std::get_if<ev::RequestFailed>(&e)) {
    if (write_item_ && f->item == *write_item_) {
      finish_write(now, f->result != sesame::ResultCode::success ? make_error_code(gateway::Errc::device_rejected) : f->error);
    } else if (polling_ && f->item == sesame::item::history) {
      polling_ = false;
      scheduler_.poll_done(now, true);  // the lock is there; the history is optional
      run_actions(now);
    }
  } else if (auto* s = std::get_if<ev::SessionEnded>(&e)) {
    log(Level::warning, name() + ": session ended: " + s->error.message());
    link_->disconnect(now);
  }
  flush(now);
}

void SesameDevice::publish_retained(const std::string& topic, std::string payload) {
  auto& last = retained_[topic];
  if (last == payload) return;
  last = payload;
  pub_->publish(topic, payload, true);
  ++counters_.publishes;
}

void SesameDevice::publish_status(const sesame::MechStatus& s) {
  if (auto st = gateway::sesame_topics::state_name(s, last_command_)) publish_retained(gateway::sesame_topics::state_topic(lock_), std::string(*st));
  publish_retained(gateway::sesame_topics::battery_topic(lock_), std::to_string(s.battery_percent()));
  publish_retained(gateway::sesame_topics::voltage_topic(lock_), gateway::sesame_topics::voltage_text(s));
}

void SesameDevice::begin_poll(TimePoint now) {
  ++counters_.polls;
  if (history_read_) {
    scheduler_.poll_done(now, true);
    return run_actions(now);
  }
  // Once per session: the last history event (the lock publishes its status by itself).
  history_read_ = true;
  if (auto r = client_->read_history(now); !r) {
    scheduler_.poll_done(now, true);
    return run_actions(now);
  }
  polling_ = true;
  ++counters_.requests;
  flush(now);
}

void SesameDevice::begin_write(const gateway::Command& c, TimePoint now) {
  using gateway::sesame_topics::Command;
  const auto cmd = static_cast<Command>(c.value);
  last_command_ = cmd;
  const auto tag = sesame::HistoryTag::from_text("blecrypt gateway");
  Result<void> r = ok();
  if (cmd == Command::lock) {
    write_item_ = sesame::item::lock;
    r = client_->lock(tag, now);
  } else {
    write_item_ = sesame::item::unlock;
    r = client_->unlock(tag, now);
  }
  ++counters_.requests;
  if (!r) return finish_write(now, r.error());
  if (auto* el = dynamic_cast<EmulatedLink*>(link_.get())) el->request_sent(now);
  flush(now);
}

void SesameDevice::finish_write(TimePoint now, std::error_code error) {
  write_item_.reset();
  if (!command_) return;
  const gateway::Command cmd = *command_;
  command_.reset();
  const auto name_of = gateway::sesame_topics::command_name(static_cast<gateway::sesame_topics::Command>(cmd.value));
  if (!error) {
    log(Level::info, name() + ": " + std::string(name_of) + " done");
    command_result(cmd, gateway::result_ok("set", name_of), true);
  } else {
    log(Level::warning, name() + ": " + std::string(name_of) + " failed: " + error.message());
    command_result(cmd, gateway::result_error("set", error), false);
  }
  scheduler_.write_done(now);
  run_actions(now);
}

void SesameDevice::republish() {
  if (lock_.uuid.empty() || !enabled()) return;
  for (const auto& d : gateway::sesame_topics::discovery(discovery_prefix_, gateway_availability_, kVersion, lock_))
    pub_->publish(d.topic, d.payload, true);
  discovery_sent_ = true;
  pub_->subscribe(gateway::sesame_topics::set_topic(lock_));
  subscribed_ = true;
  publish_availability();
  for (const auto& [topic, payload] : retained_) pub_->publish(topic, payload, true);
}

void SesameDevice::retract() {
  if (lock_.uuid.empty()) return;
  for (const auto& d : gateway::sesame_topics::discovery(discovery_prefix_, gateway_availability_, kVersion, lock_)) pub_->publish(d.topic, "", true);
  for (const auto& [topic, payload] : retained_) pub_->publish(topic, "", true);
  pub_->publish(availability_topic(), "", true);
  if (subscribed_) pub_->unsubscribe(gateway::sesame_topics::set_topic(lock_));
  subscribed_ = false;
}

bool SesameDevice::on_message(const std::string& topic, ByteView payload, TimePoint now) {
  now_ = now;
  if (lock_.uuid.empty() || topic != gateway::sesame_topics::set_topic(lock_)) return false;
  const std::string reply = gateway::sesame_topics::result_topic(lock_);
  if (!enabled()) {
    refuse("set", reply, make_error_code(gateway::Errc::device_disabled));
    return true;
  }
  auto c = gateway::sesame_topics::parse_set_payload(lock_.model, payload);
  if (!c) {
    refuse("set", reply, c.error());
    return true;
  }
  submit("set", static_cast<std::uint16_t>(*c), reply, now);
  return true;
}

// ---- factory ---------------------------------------------------------------------------------------

std::unique_ptr<ServedDevice> make_device(gateway::DeviceEntry entry, std::size_t index, Publisher& pub,
                                          const gateway::MqttConfig& mqtt, BluezAccess* bluez) {
  if (entry.protocol == gateway::DeviceProtocol::sesame) return std::make_unique<SesameDevice>(std::move(entry), index, pub, mqtt, bluez);
  return std::make_unique<BluettiDevice>(std::move(entry), index, pub, mqtt, bluez);
}

}  // namespace blecrypt::cli::gw
