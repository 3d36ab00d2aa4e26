#include "blecrypt/sesame/device.hpp"

#include <algorithm>
#include <cstdlib>

namespace blecrypt::sesame {

namespace {
constexpr int kRangeTolerance = 5;  // degrees around the lock / unlock position counted as "in range"
}

Device::Device(DeviceConfig config, crypto::Rng& rng)
    : cfg_(std::move(config)),
      backend_(cfg_.backend ? cfg_.backend : &crypto::default_backend()),
      rng_(&rng),
      reassembler_(cfg_.reassembly_cap) {
  if (cfg_.secret) secret_ = std::move(*cfg_.secret);
  cfg_.secret.reset();
  status_ = cfg_.status;
  setting_ = cfg_.setting;
  update_rest_flags();
  if (is_bot2()) {
    for (std::size_t i = 0; i < Bot2Script::kScripts; ++i)
      scripts_.push_back(Bot2Script{"script " + std::to_string(i),
                                    {{Bot2Action::forward, 10}, {Bot2Action::stop, 5}, {Bot2Action::reverse, 10}}});
  }
}
Device::~Device() = default;
Device::Device(Device&&) noexcept = default;
Device& Device::operator=(Device&&) noexcept = default;

std::uint32_t Device::unix_time(TimePoint now) const {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return static_cast<std::uint32_t>(cfg_.unix_time_offset + secs + clock_adjust_);
}

Advertisement Device::advertisement() const {
  Advertisement a;
  a.model = cfg_.model;
  a.uuid = cfg_.uuid;
  a.registered = registered();
  a.has_history = !history_.empty();
  a.status = static_cast<std::uint8_t>((a.registered ? 1 : 0) | (a.has_history ? 2 : 0));
  return a;
}

void Device::reset() {
  on_link_down();
  tx_.clear();
  events_.clear();
}

void Device::factory_reset() {
  secret_.wipe();
  history_.clear();
  next_history_id_ = 1;
  clock_adjust_ = 0;
  status_ = cfg_.status;
  setting_ = cfg_.setting;
  update_rest_flags();
  motion_target_.reset();
  next_step_.reset();
  autolock_at_.reset();
  ops_lock_at_.reset();
  ops_seconds_ = 0;
  keys_.clear();
  for (auto& list : credentials_) list.clear();
  modes_ = {};
  reset();
}

void Device::set_battery_raw(std::uint16_t raw) {
  status_.battery_raw = raw;
  update_rest_flags();
}

// ---- session -----------------------------------------------------------------------------

void Device::on_link_up(TimePoint now) {
  on_link_down();
  tx_.clear();
  connected_ = true;
  rng_->fill(random_code_);
  if (cfg_.auth_timeout.count() > 0) auth_deadline_ = now + cfg_.auth_timeout;
  send_plain(encode_publish(item::initial, random_code_));
  emit(events::Subscribed{});
}

void Device::on_link_down() {
  connected_ = false;
  logged_in_ = false;
  cipher_.reset();
  reassembler_.reset();
  auth_deadline_.reset();
  secure_wipe(random_code_.data(), random_code_.size());
}

void Device::end_session(std::error_code why) {
  on_link_down();
  emit(events::SessionEnded{why});
}

void Device::send_plain(ByteView message) {
  (void)segment(message, SegmentKind::plaintext, tx_, cfg_.packet_size, cfg_.reassembly_cap);
}

void Device::send_encrypted(ByteView message) {
  if (!cipher_ || message.empty()) return;
  const std::size_t sealed_size = message.size() + kTagSize;
  if (sealed_size + 1 <= cfg_.packet_size) {  // one packet: seal straight into it
    Bytes pkt(sealed_size + 1);
    pkt[0] = 0x05;
    if (auto r = cipher_->seal(message, MutableByteView(pkt).subspan(1)); !r) {
      end_session(r.error());
      return;
    }
    tx_.push_back(std::move(pkt));
    return;
  }
  auto sealed = cipher_->seal(message);
  if (!sealed) {
    end_session(sealed.error());
    return;
  }
  (void)segment(*sealed, SegmentKind::ciphertext, tx_, cfg_.packet_size, cfg_.reassembly_cap);
}

void Device::respond(std::uint8_t it, ResultCode r, ByteView payload) {
  std::array<std::uint8_t, 64> buf;
  if (payload.size() + 3 > buf.size()) return send_encrypted(encode_response(it, r, payload));
  buf[0] = kOpResponse;
  buf[1] = it;
  buf[2] = static_cast<std::uint8_t>(r);
  std::copy(payload.begin(), payload.end(), buf.begin() + 3);
  send_encrypted(ByteView(buf.data(), payload.size() + 3));
}

Bytes Device::status_payload() const {
  if (is_bot_or_bike(cfg_.model)) {
    Bytes b(MechStatus::kCompactSize);
    status_.write_compact(b.data());
    return b;
  }
  return status_.encode();  // accessories: battery raw at offset 0 (Android reportBatteryData reads bytes 0-1)
}

void Device::publish_status() {
  if (!logged_in_) return;
  send_encrypted(encode_publish(item::mech_status, status_payload()));
}
void Device::publish_setting() {
  if (!logged_in_) return;
  std::array<std::uint8_t, 2 + MechSetting::kSize> buf{kOpPublish, item::mech_setting};
  setting_.write(buf.data() + 2);
  send_encrypted(buf);
}

std::optional<Bytes> Device::poll_transmit() {
  if (tx_.empty()) return std::nullopt;
  return tx_.take();
}

std::optional<Device::Event> Device::poll_event() {
  if (events_.empty()) return std::nullopt;
  return events_.take();
}

std::optional<TimePoint> Device::next_deadline() const {
  std::optional<TimePoint> d;
  for (const auto& t : {auth_deadline_, next_step_, autolock_at_, ops_lock_at_})
    if (t && (!d || *t < *d)) d = t;
  return d;
}

void Device::on_deadline(TimePoint now) {
  if (auth_deadline_ && now >= *auth_deadline_) end_session(Errc::timeout);
  while (next_step_ && now >= *next_step_) step_motion(*next_step_);
  if (autolock_at_ && now >= *autolock_at_) {
    autolock_at_.reset();
    add_history(6, HistoryTag{}, now);
    emit(events::AutoLocked{});
    start_motion(setting_.lock_position, now);
  }
  if (ops_lock_at_ && now >= *ops_lock_at_) {
    ops_lock_at_.reset();
    if (!status_.locked()) {
      add_history(6, HistoryTag{}, now);
      emit(events::AutoLocked{});
      start_motion(setting_.lock_position, now);
    }
  }
}

// ---- input -------------------------------------------------------------------------------

Result<void> Device::feed(ByteView packet, TimePoint now) {
  if (!connected_) return Errc::not_connected;
  auto r = reassembler_.feed_view(packet);
  if (!r) return Unexpected{r.error()};
  if (!r->has_value()) return ok();
  const SegmentedView msg = **r;
  if (!msg.encrypted) return handle_plain(msg.data, now);
  if (!cipher_ || !logged_in_) {
    ++ignored_;  // encrypted requests before login are ignored (spec §9 #5)
    emit(events::Ignored{0});
    return Errc::no_session;
  }
  if (msg.data.size() < kTagSize + 1) return Errc::ciphertext_short;
  std::array<std::uint8_t, 64> small;
  Bytes big;
  MutableByteView out(small.data(), std::min(small.size(), msg.data.size() - kTagSize));
  if (msg.data.size() - kTagSize > small.size()) {
    big.resize(msg.data.size() - kTagSize);
    out = big;
  }
  auto plain = cipher_->open(msg.data, out);
  if (!plain) {
    ++auth_failures_;
    emit(events::AuthFailed{plain.error()});
    return Unexpected{plain.error()};
  }
  auto req = parse_request_view(out);
  if (!req) return Unexpected{req.error()};
  return handle_request(*req, now);
}

Result<void> Device::handle_plain(ByteView message, TimePoint now) {
  auto req = parse_request_view(message);
  if (!req) return Unexpected{req.error()};
  if (req->item == item::registration) return handle_registration(*req, now);
  if (req->item == item::login) return handle_login(*req, now);
  ++ignored_;  // plaintext commands are ignored (spec §9 #5)
  emit(events::Ignored{req->item});
  return logged_in_ ? Result<void>{Errc::plaintext_after_login} : ok();
}

Result<void> Device::handle_registration(const RequestView& req, TimePoint now) {
  auto plain_result = [&](ResultCode r) { send_plain(encode_response(item::registration, r)); };
  if (registered()) {
    plain_result(ResultCode::invalid_action);
    return ok();
  }
  const std::size_t n = req.payload.size();
  if (!(n == 68 || (n == 64 && cfg_.accept_64_byte_registration))) {
    plain_result(ResultCode::invalid_format);
    return Errc::payload_length;
  }
  auto peer = backend_->p256_public_key(ByteView(req.payload).first(64));
  if (!peer) {
    plain_result(ResultCode::invalid_format);
    return Errc::invalid_public_key;
  }
  auto own = backend_->p256_generate(*rng_);
  if (!own) return Unexpected{wrap_foreign(own.error())};
  auto secret = derive_device_secret(**own, **peer);
  if (!secret) return Unexpected{secret.error()};
  SessionKey key;
  BLECRYPT_TRY_VOID(derive_session_key(*backend_, *secret, random_code_, key));
  auto c = SessionCipher::create(*backend_, key.view(), random_code_, cfg_.advance_decrypt_counter_on_failure);
  if (!c) return Unexpected{c.error()};
  secret_ = std::move(*secret);
  if (n == 68) {
    const auto base = static_cast<std::int64_t>(unix_time(now)) - clock_adjust_;
    clock_adjust_ = static_cast<std::int64_t>(load_le32(req.payload.data() + 64)) - base;
  }
  // Response layout by model (spec §5.2; Android CHSesameBot2Device / CHSesameBike2Device /
  // the Touch): locks status 7 || setting 6 || pubS; Bot 2 / Bike 2 compact status 3 || pubS;
  // accessories pubS only.
  Bytes payload;
  if (is_bot_or_bike(cfg_.model)) {
    payload.resize(MechStatus::kCompactSize);
    status_.write_compact(payload.data());
  } else if (!accessory()) {
    payload = status_.encode();
    append(payload, setting_.encode());
  }
  append(payload, (*own)->public_raw());
  send_plain(encode_response(item::registration, ResultCode::success, payload));
  cipher_.emplace(std::move(*c));
  logged_in_ = true;
  auth_deadline_.reset();
  emit(events::ClientRegistered{});
  publish_status();
  if (accessory()) publish_key_slots();
  else if (!is_bot_or_bike(cfg_.model)) publish_setting();  // Bot 2 / Bike 2: no 6-byte setting
  return ok();
}

Result<void> Device::handle_login(const RequestView& req, TimePoint now) {
  auto plain_result = [&](ResultCode r) { send_plain(encode_response(item::login, r)); };
  if (!registered()) {
    plain_result(ResultCode::invalid_action);
    emit(events::LoginRefused{ResultCode::invalid_action});
    return ok();
  }
  if (req.payload.size() != 4) {
    plain_result(ResultCode::invalid_format);
    emit(events::LoginRefused{ResultCode::invalid_format});
    return Errc::payload_length;
  }
  SessionKey key;
  BLECRYPT_TRY_VOID(derive_session_key(*backend_, secret_, random_code_, key));
  const LoginToken expected = login_token(key.view());
  if (!equal(expected, req.payload)) {
    plain_result(ResultCode::invalid_signature);  // spec §9 #5: emulator answers result 4
    emit(events::LoginRefused{ResultCode::invalid_signature});
    return Errc::login_rejected;
  }
  if (!cipher_) {
    auto c = SessionCipher::create(*backend_, key.view(), random_code_, cfg_.advance_decrypt_counter_on_failure);
    if (!c) return Unexpected{c.error()};
    cipher_.emplace(std::move(*c));
  } else if (cfg_.reset_counters_on_login && cipher_->rx_counter() == 0) {
    // Spec §9 #3: real firmware restarts its CCM context on LOGIN (registration then LOGIN).
    // Only while the client has sent no ciphertext yet: a LOGIN replayed later must not rewind
    // the rx counter and let old ciphertext in again.
    cipher_->reset_counters();
  }
  logged_in_ = true;
  auth_deadline_.reset();
  std::uint8_t t[4];
  store_le32(t, unix_time(now));
  respond(item::login, ResultCode::success, t);
  emit(events::ClientLoggedIn{});
  publish_status();
  if (accessory()) publish_key_slots();
  else if (!is_bot_or_bike(cfg_.model)) publish_setting();  // Bot 2 / Bike 2: no 6-byte setting
  return ok();
}

Result<void> Device::handle_request(const RequestView& req, TimePoint now) {
  const ByteView p = req.payload;
  ResultCode rc = ResultCode::success;
  auto done = [&](ResultCode r) { emit(events::RequestHandled{req.item, r}); };
  if (accessory()) {
    if (auto r = handle_accessory_request(req, now)) {
      done(*r);
      return ok();
    }
  }
  switch (req.item) {
    case item::registration:
    case item::login:
      respond(req.item, ResultCode::invalid_action);
      done(ResultCode::invalid_action);
      return ok();
    case item::history: {
      if (p.size() != 1) { rc = ResultCode::invalid_format; break; }
      if (history_.empty()) { rc = ResultCode::not_found; break; }
      // Spec §9 #1: flag 0 pops the oldest record, any other value peeks at it.
      const HistoryRecord rec = history_.front();
      if (p[0] == 0) history_.erase(history_.begin());
      respond(req.item, ResultCode::success, rec.encode());
      done(ResultCode::success);
      return ok();
    }
    case item::history_delete: {
      if (p.size() != 4) { rc = ResultCode::invalid_format; break; }
      const auto id = static_cast<std::int32_t>(load_le32(p.data()));
      auto it = std::find_if(history_.begin(), history_.end(), [&](const HistoryRecord& r) { return r.id == id; });
      if (it == history_.end()) { rc = ResultCode::not_found; break; }
      history_.erase(it);
      break;
    }
    case item::version_tag:
      respond(req.item, ResultCode::success, as_bytes(cfg_.version));
      done(ResultCode::success);
      return ok();
    case item::time: {
      if (p.size() != 4) { rc = ResultCode::invalid_format; break; }
      const auto base = static_cast<std::int64_t>(unix_time(now)) - clock_adjust_;
      clock_adjust_ = static_cast<std::int64_t>(load_le32(p.data())) - base;
      add_history(3, HistoryTag{}, now);
      break;
    }
    case item::autolock: {
      if (p.size() != 2) { rc = ResultCode::invalid_format; break; }
      setting_.auto_lock_seconds = load_le16(p.data());
      if (setting_.auto_lock_seconds == 0) autolock_at_.reset();
      add_history(4, HistoryTag{}, now);
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      publish_setting();
      return ok();
    }
    case item::magnet:
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      publish_status();
      return ok();
    case item::mech_setting: {
      if (p.size() != 4 && p.size() != 6) { rc = ResultCode::invalid_format; break; }
      setting_.lock_position = static_cast<std::int16_t>(load_le16(p.data()));
      setting_.unlock_position = static_cast<std::int16_t>(load_le16(p.data() + 2));
      if (p.size() == 6) setting_.auto_lock_seconds = load_le16(p.data() + 4);
      update_rest_flags();
      add_history(5, HistoryTag{}, now);
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      publish_setting();
      return ok();
    }
    case item::mech_status:
      done(ResultCode::success);
      publish_status();  // no response on Sesame 5 (spec §9 #10); the publish carries the answer
      return ok();
    case item::click: {
      // Bot 2 (Android CHSesameBot2Device.click): press with a history tag; runs the selected
      // script (item 170 + n runs script n, below); the emulated arm goes to the lock position and back.
      if (cfg_.model != model::bot2 && cfg_.model != model::bot3) { rc = ResultCode::not_supported; break; }
      // One byte: the script to run (libsesame3bt ClientCoreImpl::click(script_no) for Bot 2).
      const bool numbered = p.size() == 1 && p[0] != 0;
      if (numbered && p[0] >= scripts_.size()) { rc = ResultCode::invalid_parameter; break; }
      auto tag = numbered ? Result<HistoryTag>(HistoryTag{}) : HistoryTag::parse(p);
      if (!tag && !p.empty()) { rc = ResultCode::invalid_format; break; }
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      last_script_run_ = numbered ? p[0] : current_script_;
      emit(events::Operated{req.item, tag ? *tag : HistoryTag{}});
      add_history(1, tag ? *tag : HistoryTag{}, now);
      start_motion(setting_.lock_position, now);
      return ok();
    }
    case item::script_select: {
      if (!is_bot2()) { rc = ResultCode::not_supported; break; }
      if (p.size() != 1 || p[0] >= scripts_.size()) { rc = ResultCode::invalid_parameter; break; }
      current_script_ = p[0];
      break;
    }
    case item::script_current: {
      if (!is_bot2()) { rc = ResultCode::not_supported; break; }
      if (p.size() > 1 || (p.size() == 1 && p[0] >= scripts_.size())) { rc = ResultCode::invalid_parameter; break; }
      auto enc = scripts_[p.empty() ? current_script_ : p[0]].encode();
      if (!enc) { rc = ResultCode::unknown; break; }
      respond(req.item, ResultCode::success, *enc);
      done(ResultCode::success);
      return ok();
    }
    case item::script_name_list: {
      if (!is_bot2()) { rc = ResultCode::not_supported; break; }
      Bot2ScriptList l;
      l.current = current_script_;
      for (const auto& sc : scripts_) l.names.push_back(sc.name);
      respond(req.item, ResultCode::success, l.encode());
      done(ResultCode::success);
      return ok();
    }
    case item::bot2_edit_script: {
      if (!is_bot2()) { rc = ResultCode::not_supported; break; }
      if (p.empty() || p[0] >= scripts_.size()) { rc = ResultCode::invalid_parameter; break; }
      auto sc = Bot2Script::parse(p.subspan(1));
      if (!sc) { rc = ResultCode::invalid_format; break; }
      scripts_[p[0]] = std::move(*sc);
      break;
    }
    case item::lock:
    case item::unlock:
    case item::toggle: {
      auto tag = HistoryTag::parse(p);
      if (!tag) { rc = ResultCode::invalid_format; break; }
      bool do_lock = req.item == item::lock;
      if (req.item == item::toggle) do_lock = !status_.locked();
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      emit(events::Operated{req.item, *tag});
      add_history(do_lock ? 1 : 2, *tag, now);
      start_motion(do_lock ? setting_.lock_position : setting_.unlock_position, now);
      return ok();
    }
    case item::door_open:
    case item::door_closed: {
      // Open Sensor -> lock (vendor doc 90/91): no payload. Closed starts the "lock after the
      // door closed" timer of item 92; open cancels it.
      if (accessory() || !p.empty()) { rc = accessory() ? ResultCode::not_supported : ResultCode::invalid_format; break; }
      const bool open = req.item == item::door_open;
      if (open) ops_lock_at_.reset();
      else if (ops_seconds_ > 0) ops_lock_at_ = now + std::chrono::seconds(ops_seconds_);
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      emit(events::DoorChanged{open});
      return ok();
    }
    case item::ops_timer: {
      if (p.size() != 2) { rc = ResultCode::invalid_format; break; }
      ops_seconds_ = load_le16(p.data());
      if (ops_seconds_ == 0) ops_lock_at_.reset();
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      if (logged_in_) send_encrypted(encode_publish(item::ops_timer, p));
      return ok();
    }
    case item::reset: {
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      secret_.wipe();
      history_.clear();
      emit(events::Unregistered{});
      end_session(Errc::session_ended);
      return ok();
    }
    default:
      if (req.item >= item::bot2_run_script_0 && req.item < item::bot2_run_script_0 + Bot2Script::kScripts && is_bot2()) {
        auto tag = HistoryTag::parse(p);
        if (!tag && !p.empty()) { rc = ResultCode::invalid_format; break; }
        respond(req.item, ResultCode::success);
        done(ResultCode::success);
        last_script_run_ = static_cast<std::uint8_t>(req.item - item::bot2_run_script_0);
        emit(events::Operated{req.item, tag ? *tag : HistoryTag{}});
        add_history(1, tag ? *tag : HistoryTag{}, now);
        start_motion(setting_.lock_position, now);
        return ok();
      }
      rc = ResultCode::not_supported;
      break;
  }
  respond(req.item, rc);
  done(rc);
  return ok();
}

// ---- mech model --------------------------------------------------------------------------

void Device::update_rest_flags() {
  std::uint8_t f = status_.flags & static_cast<std::uint8_t>(~(MechStatus::in_lock_range | MechStatus::in_unlock_range |
                                                              MechStatus::low_battery));
  if (status_.target == kNoTarget) {
    if (std::abs(status_.position - setting_.lock_position) <= kRangeTolerance) f |= MechStatus::in_lock_range;
    else if (std::abs(status_.position - setting_.unlock_position) <= kRangeTolerance) f |= MechStatus::in_unlock_range;
  }
  if (status_.volts() < 5.0) f |= MechStatus::low_battery;
  status_.flags = f;
}

void Device::start_motion(std::int16_t target, TimePoint now) {
  autolock_at_.reset();
  motion_target_ = target;
  status_.target = target;
  status_.flags = static_cast<std::uint8_t>(status_.flags & ~(MechStatus::stopped | MechStatus::clockwise));
  if (target > status_.position) status_.flags |= MechStatus::clockwise;
  update_rest_flags();
  publish_status();
  next_step_ = now + cfg_.step_interval;
}

void Device::step_motion(TimePoint now) {
  if (!motion_target_) {
    next_step_.reset();
    return;
  }
  const int target = *motion_target_;
  const int pos = status_.position;
  const int step = std::max<int>(1, cfg_.degrees_per_step);
  int next = pos < target ? std::min(pos + step, target) : std::max(pos - step, target);
  status_.position = static_cast<std::int16_t>(next);
  if (next == target) {
    motion_target_.reset();
    next_step_.reset();
    status_.target = kNoTarget;
    status_.flags |= MechStatus::stopped;
    update_rest_flags();
    publish_status();
    emit(events::MotionDone{status_});
    if (status_.unlocked() && setting_.auto_lock_seconds > 0)
      autolock_at_ = now + std::chrono::seconds(setting_.auto_lock_seconds);
    return;
  }
  publish_status();
  next_step_ = now + cfg_.step_interval;
}

void Device::turn_by_hand(std::int16_t position, TimePoint now) {
  motion_target_.reset();
  next_step_.reset();
  status_.position = position;
  status_.target = kNoTarget;
  status_.flags |= MechStatus::stopped;
  update_rest_flags();
  add_history(status_.locked() ? 7 : status_.unlocked() ? 8 : 9, HistoryTag{}, now);
  publish_status();
  if (status_.unlocked() && setting_.auto_lock_seconds > 0)
    autolock_at_ = now + std::chrono::seconds(setting_.auto_lock_seconds);
  else
    autolock_at_.reset();
}

void Device::add_history(std::uint8_t type, const HistoryTag& tag, TimePoint now) {
  HistoryRecord r;
  r.id = next_history_id_++;
  r.type = type;
  r.unix_time = unix_time(now);
  r.status = status_;
  r.tag = tag;
  history_.push_back(std::move(r));
  while (history_.size() > cfg_.history_capacity) history_.erase(history_.begin());
}

// ---- accessory (items 101-130) ---------------------------------------------------------

std::vector<KeySlot> Device::key_slots() const {
  std::vector<KeySlot> out(std::max(cfg_.key_slots, keys_.size()));
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    out[i].status = keys_[i].status;
    out[i].os2 = keys_[i].os2;
    out[i].uuid = keys_[i].uuid;
  }
  return out;
}

void Device::publish_key_slots() {
  if (!logged_in_) return;
  send_encrypted(encode_publish(item::pub_key_sesame, encode_key_slots(key_slots())));
}

void Device::set_key_status(const Uuid& lock, KeySlot::Status st) {
  for (auto& k : keys_)
    if (k.uuid == lock && st != KeySlot::Status::unused) k.status = st;
  publish_key_slots();
}

// A list transfer (vendor doc 109-112): FIRST, then NOTIFY publishes with as many entries as fit
// in list_message_size (each publish spans several segments), then LAST.
void Device::publish_list(CredentialKind kind) {
  if (!logged_in_) return;
  const CredentialItems it = credential_items(kind);
  const std::array<std::uint8_t, 2> first{kOpPublish, it.first};
  send_encrypted(first);
  Bytes chunk;
  for (const Credential& c : credentials(kind)) {
    const Bytes e = encode_credential_entry(c);
    if (!chunk.empty() && chunk.size() + e.size() > cfg_.list_message_size) {
      send_encrypted(encode_publish(it.notify, chunk));
      chunk.clear();
    }
    append(chunk, e);
  }
  if (!chunk.empty()) send_encrypted(encode_publish(it.notify, chunk));
  const std::array<std::uint8_t, 2> last{kOpPublish, it.last};
  send_encrypted(last);
}

std::optional<ResultCode> Device::handle_accessory_request(const RequestView& req, TimePoint) {
  const ByteView p = req.payload;
  auto answer = [&](ResultCode r, ByteView payload = {}) {
    respond(req.item, r, payload);
    return r;
  };
  switch (req.item) {
    case item::autolock: case item::magnet: case item::mech_setting: case item::lock: case item::unlock:
    case item::toggle: case item::click: case item::ops_timer: case item::door_open: case item::door_closed:
      return answer(ResultCode::not_supported);
    case item::add_sesame: {
      auto a = parse_add_sesame(p);
      if (!a) return answer(ResultCode::invalid_format);
      auto it = std::find_if(keys_.begin(), keys_.end(), [&](const HeldKey& k) { return k.uuid == a->uuid; });
      if (it == keys_.end()) {
        if (keys_.size() >= cfg_.key_slots) return answer(ResultCode::storage_fail);
        keys_.push_back(HeldKey{a->uuid, SecretBytes{}, a->os2, KeySlot::Status::disconnected});
        it = keys_.end() - 1;
      }
      it->secret = std::move(a->secret);
      it->os2 = a->os2;
      answer(ResultCode::success);
      publish_key_slots();
      return ResultCode::success;
    }
    case item::remove_sesame: {
      auto u = parse_remove_sesame(p);
      if (!u) return answer(ResultCode::invalid_format);
      auto it = std::find_if(keys_.begin(), keys_.end(), [&](const HeldKey& k) { return k.uuid == *u; });
      if (it == keys_.end()) return answer(ResultCode::not_found);
      keys_.erase(it);
      answer(ResultCode::success);
      publish_key_slots();
      return ResultCode::success;
    }
    default: break;
  }
  const auto kind = credential_kind_of_item(req.item);
  if (!kind || !is_credential_accessory(cfg_.model)) return std::nullopt;
  const CredentialItems it = credential_items(*kind);
  auto& list = credentials_[static_cast<std::size_t>(*kind)];
  auto find = [&](ByteView id) {
    return std::find_if(list.begin(), list.end(), [&](const Credential& c) { return equal(c.id, id); });
  };
  if (req.item == it.change) {
    auto c = parse_credential_change(p);
    if (!c) return answer(ResultCode::invalid_format);
    auto found = find(c->id);
    if (found == list.end()) return answer(ResultCode::not_found);
    found->name = c->name;
    answer(ResultCode::success);
    if (logged_in_) send_encrypted(encode_publish(it.change, encode_credential_entry(*found)));
    return ResultCode::success;
  }
  if (req.item == it.del) {
    if (p.empty() || p.size() > Credential::kMaxIdSize) return answer(ResultCode::invalid_format);
    auto found = find(p);
    if (found == list.end()) return answer(ResultCode::not_found);
    list.erase(found);
    return answer(ResultCode::success);
  }
  if (req.item == it.get) {
    if (!p.empty()) return answer(ResultCode::invalid_format);
    answer(ResultCode::success);
    publish_list(*kind);
    return ResultCode::success;
  }
  if (req.item == it.mode_get) {
    const std::uint8_t m[1] = {modes_[static_cast<std::size_t>(*kind)]};
    return answer(ResultCode::success, m);
  }
  if (req.item == it.mode_set) {
    if (p.size() != 1 || p[0] > 1) return answer(ResultCode::invalid_parameter);
    modes_[static_cast<std::size_t>(*kind)] = p[0];
    answer(ResultCode::success, p);
    if (logged_in_) send_encrypted(encode_publish(it.mode_set, p));
    return ResultCode::success;
  }
  return answer(ResultCode::not_supported);  // notify/first/last are publishes only
}

Result<bool> Device::present_credential(CredentialKind kind, ByteView id, TimePoint) {
  if (!is_credential_accessory(cfg_.model)) return Errc::invalid_argument;
  if (id.empty() || id.size() > Credential::kMaxIdSize) return Errc::credential_length;
  auto& list = credentials_[static_cast<std::size_t>(kind)];
  auto found = std::find_if(list.begin(), list.end(), [&](const Credential& c) { return equal(c.id, id); });
  if (modes_[static_cast<std::size_t>(kind)] == 1) {  // add mode
    if (found != list.end()) return false;
    Credential c;
    c.id.assign(id.begin(), id.end());
    list.push_back(c);
    if (logged_in_) send_encrypted(encode_publish(credential_items(kind).change, encode_credential_entry(c)));
    emit(events::CredentialAdded{kind, std::move(c)});
    return false;
  }
  if (found == list.end()) return false;
  // The history tag names the credential: the UUID form (type 0 card, 1 fingerprint, 2 passcode;
  // spec §7.4) when its name is a 16-byte UUID, with the accessory's battery voltage; else the name
  // (or hex id) as text.
  HistoryTag tag;
  if (auto u = found->name_uuid()) {
    tag = HistoryTag::from_uuid(static_cast<std::uint8_t>(kind), *u);
    tag.voltage = status_.battery_raw;
  } else if (!found->name.empty()) {
    tag = HistoryTag::from_text(std::string(found->name.begin(), found->name.end()));
  } else {
    tag = HistoryTag::from_text(credential_kind_name(kind) + " " + to_hex(found->id));
  }
  for (const HeldKey& k : keys_) emit(events::OperateLock{k.uuid, k.secret, cfg_.credential_action, tag});
  return true;
}

Bytes events::OperateLock::payload() const {
  if (item == item::door_open || item == item::door_closed) return {};
  return tag.encode();
}

Result<void> Device::press_button(TimePoint) {
  if (cfg_.model != model::remote && cfg_.model != model::remote_nano) return Errc::invalid_argument;
  // Spec §7.4 UUID tag types: 10 Remote, 11 Remote nano.
  HistoryTag tag = HistoryTag::from_uuid(cfg_.model == model::remote ? 10 : 11, cfg_.uuid);
  tag.voltage = status_.battery_raw;
  for (const HeldKey& k : keys_) emit(events::OperateLock{k.uuid, k.secret, item::toggle, tag});
  return ok();
}

Result<void> Device::set_door(bool open, TimePoint) {
  if (cfg_.model != model::open_sensor && cfg_.model != model::open_sensor2) return Errc::invalid_argument;
  for (const HeldKey& k : keys_)
    emit(events::OperateLock{k.uuid, k.secret, open ? item::door_open : item::door_closed, HistoryTag{}});
  return ok();
}

ClientConfig operate_lock_config(const events::OperateLock& op, const crypto::Backend* backend) {
  ClientConfig c;
  c.backend = backend;
  c.secret = op.secret;
  c.auto_time_sync = false;
  return c;
}

}  // namespace blecrypt::sesame
