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

void Device::publish_status() {
  if (!logged_in_) return;
  std::array<std::uint8_t, 2 + MechStatus::kSize> buf{kOpPublish, item::mech_status};
  status_.write(buf.data() + 2);
  send_encrypted(buf);
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
  for (const auto& t : {auth_deadline_, next_step_, autolock_at_})
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
  Bytes payload = status_.encode();
  append(payload, setting_.encode());
  append(payload, (*own)->public_raw());
  send_plain(encode_response(item::registration, ResultCode::success, payload));
  cipher_.emplace(std::move(*c));
  logged_in_ = true;
  auth_deadline_.reset();
  emit(events::ClientRegistered{});
  publish_status();
  publish_setting();
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
  publish_setting();
  return ok();
}

Result<void> Device::handle_request(const RequestView& req, TimePoint now) {
  const ByteView p = req.payload;
  ResultCode rc = ResultCode::success;
  auto done = [&](ResultCode r) { emit(events::RequestHandled{req.item, r}); };
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
    case item::lock:
    case item::unlock:
    case item::toggle: {
      auto tag = HistoryTag::parse(p);
      if (!tag) { rc = ResultCode::invalid_format; break; }
      bool do_lock = req.item == item::lock;
      if (req.item == item::toggle) do_lock = !status_.locked();
      respond(req.item, ResultCode::success);
      done(ResultCode::success);
      add_history(do_lock ? 1 : 2, *tag, now);
      start_motion(do_lock ? setting_.lock_position : setting_.unlock_position, now);
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

}  // namespace blecrypt::sesame
