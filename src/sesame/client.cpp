#include "blecrypt/sesame/client.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace blecrypt::sesame {

namespace {
constexpr std::size_t kRegistrationPayload = MechStatus::kSize + MechSetting::kSize + crypto::kP256RawSize;  // 77
constexpr std::size_t kCompactRegistrationPayload = MechStatus::kCompactSize + crypto::kP256RawSize;        // 67 Bot 2 / Bike 2
constexpr std::size_t kAccessoryRegistrationPayload = crypto::kP256RawSize;                                 // 64 Touch, Remote ...
}

std::string_view event_name(const Client::Event& e) {
  static constexpr std::string_view names[] = {"random_code", "registered", "logged_in", "mech_status",
                                               "mech_setting", "command_result", "history", "history_empty",
                                               "history_deleted", "version", "request_failed", "publish",
                                               "session_ended"};
  static_assert(std::size(names) == std::variant_size_v<Client::Event>);
  return names[e.index()];
}

std::string position_name(LockState::Position p) {
  switch (p) {
    case LockState::Position::unknown: return "unknown";
    case LockState::Position::locked: return "locked";
    case LockState::Position::unlocked: return "unlocked";
    case LockState::Position::moving: return "moving";
    case LockState::Position::jammed: return "jammed";
    case LockState::Position::between: return "between (neither locked nor unlocked)";
  }
  return "unknown";
}

LockState::Position position_from_status(const MechStatus& s) {
  if (s.is_critical()) return LockState::Position::jammed;
  if (s.target != kNoTarget || !s.is_stopped()) return LockState::Position::moving;
  if (s.locked()) return LockState::Position::locked;
  if (s.unlocked()) return LockState::Position::unlocked;
  return LockState::Position::between;
}

std::string LockState::describe() const {
  std::string s = position_name(position);
  if (status) {
    char buf[64];
    std::snprintf(buf, sizeof buf, ", battery %d %% (%.2f V)", battery_percent(), battery_volts());
    s += buf;
    if (status->flags & MechStatus::low_battery) s += ", LOW BATTERY";
  }
  if (last_history) {
    s += ", last history #" + std::to_string(last_history->id) + " " + last_history->type_name();
    const auto tag = last_history->tag.describe();
    if (!tag.empty()) s += " \"" + tag + "\"";
  }
  return s;
}

Client::Client(ClientConfig config, crypto::Rng& rng)
    : cfg_(std::move(config)),
      backend_(cfg_.backend ? cfg_.backend : &crypto::default_backend()),
      rng_(&rng),
      reassembler_(cfg_.reassembly_cap) {
  if (cfg_.secret) secret_ = std::move(*cfg_.secret);
  cfg_.secret.reset();  // one copy of the long-term secret is enough
}
Client::~Client() { wipe_session(); }
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

std::uint32_t Client::unix_time(TimePoint now) const {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return static_cast<std::uint32_t>(cfg_.unix_time_offset + secs);
}

std::uint64_t Client::tx_counter() const noexcept { return cipher_ ? cipher_->tx_counter() : 0; }
std::uint64_t Client::rx_counter() const noexcept { return cipher_ ? cipher_->rx_counter() : 0; }

void Client::wipe_session() {
  cipher_.reset();
  ephemeral_.reset();
  random_code_.reset();
  reassembler_.reset();
  auth_deadline_.reset();
  draining_ = false;
  ciphertext_seen_ = false;
  peer_verified_ = false;
  for (auto& l : incoming_) l.clear();  // a list transfer does not survive the connection
}

void Client::reset() {
  wipe_session();
  pending_.clear();
  tx_.clear();
  events_.clear();
  auth_failures_ = 0;
  state_ = State::idle;
}

void Client::on_link_up(TimePoint now) {
  wipe_session();
  pending_.clear();
  tx_.clear();
  auth_failures_ = 0;
  state_ = State::awaiting_initial;
  auth_deadline_ = now + cfg_.initial_timeout;
}

void Client::fail_pending(std::error_code why) {
  for (const auto& p : pending_) emit(events::RequestFailed{p.item, why});
  pending_.clear();
}

void Client::on_link_down() {
  if (state_ == State::idle) return;
  fail_pending(Errc::disconnected);
  tx_.clear();
  const bool was_ended = state_ == State::ended;
  wipe_session();
  state_ = State::idle;
  if (!was_ended) emit(events::SessionEnded{Errc::disconnected});
}

void Client::end_session(std::error_code why) {
  fail_pending(why);
  wipe_session();
  state_ = State::ended;
  emit(events::SessionEnded{why});
}

void Client::on_advertisement(const Advertisement& adv, TimePoint now) {
  const bool had_history = adv_ && adv_->has_history;
  adv_ = adv;
  if (state_ == State::ready && adv.has_history && !had_history && !draining_) (void)drain_history(now);
}

// ---- output ----------------------------------------------------------------------------------

Result<void> Client::send_plain(ByteView message) {
  return segment(message, SegmentKind::plaintext, tx_, cfg_.packet_size, cfg_.reassembly_cap);
}

Result<void> Client::send_encrypted(ByteView message) {
  if (!cipher_) return Errc::no_session;
  ciphertext_seen_ = true;
  if (message.empty()) return Errc::message_empty;
  const std::size_t sealed_size = message.size() + kTagSize;
  if (sealed_size > cfg_.reassembly_cap) return Errc::message_too_large;
  if (sealed_size + 1 <= cfg_.packet_size) {  // one packet: seal straight into it
    Bytes pkt(sealed_size + 1);
    pkt[0] = 0x05;
    BLECRYPT_TRY_VOID(cipher_->seal(message, MutableByteView(pkt).subspan(1)));
    tx_.push_back(std::move(pkt));
    return ok();
  }
  auto sealed = cipher_->seal(message);
  if (!sealed) return Unexpected{sealed.error()};
  return segment(*sealed, SegmentKind::ciphertext, tx_, cfg_.packet_size, cfg_.reassembly_cap);
}

std::optional<Bytes> Client::poll_transmit() {
  if (tx_.empty()) return std::nullopt;
  return tx_.take();
}

std::optional<Client::Event> Client::poll_event() {
  if (events_.empty()) return std::nullopt;
  return events_.take();
}

std::optional<TimePoint> Client::next_deadline() const {
  std::optional<TimePoint> d = auth_deadline_;
  for (const auto& p : pending_)
    if (!d || p.deadline < *d) d = p.deadline;
  return d;
}

void Client::on_deadline(TimePoint now) {
  if (auth_deadline_ && now >= *auth_deadline_) {
    end_session(Errc::timeout);
    return;
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now >= it->deadline) {
      const std::uint8_t it_item = it->item;
      if (it_item == item::history || it_item == item::history_delete) draining_ = false;
      it = pending_.erase(it);
      // Nothing from the lock has verified under this session's key yet (a fresh registration
      // whose random code was corrupted, a lock that silently drops what it cannot open): an
      // unanswered first request means the session is useless. End it with a reason.
      if (!peer_verified_) {
        emit(events::RequestFailed{it_item, Errc::no_answer});
        end_session(Errc::no_answer);
        return;
      }
      emit(events::RequestFailed{it_item, Errc::timeout});
    } else {
      ++it;
    }
  }
}

// ---- procedures ------------------------------------------------------------------------------

Result<void> Client::register_device(TimePoint now) {
  if (!random_code_ || state_ == State::ended || state_ == State::idle) return Errc::not_connected;
  if (state_ == State::registering || state_ == State::logging_in) return Errc::request_pending;
  if (state_ == State::ready) return Errc::already_registered;  // this session is authenticated already
  auto kp = backend_->p256_generate(*rng_);
  if (!kp) return Unexpected{wrap_foreign(kp.error())};
  ephemeral_ = std::move(*kp);
  Bytes msg = concat_head({item::registration}, ephemeral_->public_raw());
  msg.resize(msg.size() + 4);
  store_le32(msg.data() + msg.size() - 4, unix_time(now));
  BLECRYPT_TRY_VOID(send_plain(msg));
  state_ = State::registering;
  auth_deadline_ = now + cfg_.registration_timeout;
  return ok();
}

Result<void> Client::login(TimePoint now) {
  if (!random_code_ || state_ == State::ended || state_ == State::idle) return Errc::not_connected;
  if (state_ == State::registering || state_ == State::logging_in) return Errc::request_pending;
  if (secret_.size() != kSecretSize) return Errc::no_secret;
  // Real locks restart both CCM counters on LOGIN under the same session key (spec §9 #3). Once
  // ciphertext has passed in either direction on this connection, or it registered (the lock
  // then already holds a cipher and may have sealed publishes), a LOGIN would make one side reuse
  // nonces. A fresh connection is the only safe way to log in again.
  if (ciphertext_seen_ || cipher_) return Errc::counter_reuse;
  SessionKey key;
  BLECRYPT_TRY_VOID(derive_session_key(*backend_, secret_, *random_code_, key));
  // The cipher (counters 0) exists before LOGIN goes out: the success response is encrypted.
  auto c = SessionCipher::create(*backend_, key.view(), *random_code_);
  if (!c) return Unexpected{c.error()};
  cipher_.emplace(std::move(*c));
  const LoginToken token = login_token(key.view());
  const std::uint8_t msg[5] = {item::login, token[0], token[1], token[2], token[3]};
  BLECRYPT_TRY_VOID(send_plain(msg));
  state_ = State::logging_in;
  auth_deadline_ = now + cfg_.login_timeout;
  return ok();
}

Result<void> Client::request(std::uint8_t it, ByteView payload, TimePoint now) {
  if (state_ == State::ended) return Errc::session_ended;
  if (state_ != State::ready) return state_ == State::idle ? Errc::not_connected : Errc::not_logged_in;
  if (std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.item == it; }))
    return Errc::request_pending;
  std::array<std::uint8_t, 64> buf;
  if (payload.size() + 1 <= buf.size()) {
    buf[0] = it;
    std::copy(payload.begin(), payload.end(), buf.begin() + 1);
    auto sent = send_encrypted(ByteView(buf.data(), payload.size() + 1));
    secure_wipe(buf.data(), payload.size() + 1);  // ADD_SESAME carries a lock secret
    if (!sent) return sent;
  } else {
    BLECRYPT_TRY_VOID(send_encrypted(encode_request(it, payload)));
  }
  if (it != item::mech_status) pending_.push_back({it, now + cfg_.request_timeout});  // 81 has no response
  return ok();
}

Result<void> Client::lock(const HistoryTag& tag, TimePoint now) { return request(item::lock, tag.encode(), now); }
Result<void> Client::unlock(const HistoryTag& tag, TimePoint now) { return request(item::unlock, tag.encode(), now); }
Result<void> Client::toggle(const HistoryTag& tag, TimePoint now) { return request(item::toggle, tag.encode(), now); }
Result<void> Client::read_history(TimePoint now, std::uint8_t flag) {
  const std::uint8_t p[1] = {flag};
  return request(item::history, p, now);
}
Result<void> Client::delete_history(std::int32_t id, TimePoint now) {
  std::uint8_t p[4];
  store_le32(p, static_cast<std::uint32_t>(id));
  return request(item::history_delete, p, now);
}
Result<void> Client::drain_history(TimePoint now) {
  BLECRYPT_TRY_VOID(read_history(now, 1));
  draining_ = true;
  drain_gone_id_.reset();
  return ok();
}
Result<void> Client::read_version(TimePoint now) { return request(item::version_tag, {}, now); }
Result<void> Client::sync_time(TimePoint now) {
  std::uint8_t p[4];
  store_le32(p, unix_time(now));
  return request(item::time, p, now);
}
Result<void> Client::set_autolock(std::uint16_t seconds, TimePoint now) {
  std::uint8_t p[2];
  store_le16(p, seconds);
  return request(item::autolock, p, now);
}
Result<void> Client::set_mech_setting(std::int16_t lock_position, std::int16_t unlock_position, TimePoint now) {
  std::uint8_t p[4];
  store_le16(p, static_cast<std::uint16_t>(lock_position));
  store_le16(p + 2, static_cast<std::uint16_t>(unlock_position));
  return request(item::mech_setting, p, now);
}
Result<void> Client::magnet(TimePoint now) { return request(item::magnet, {}, now); }
Result<void> Client::door_open(TimePoint now) { return request(item::door_open, {}, now); }
Result<void> Client::door_closed(TimePoint now) { return request(item::door_closed, {}, now); }
Result<void> Client::set_ops_timer(std::uint16_t seconds, TimePoint now) {
  std::uint8_t p[2];
  store_le16(p, seconds);
  return request(item::ops_timer, p, now);
}
Result<void> Client::click(const HistoryTag& tag, TimePoint now) { return request(item::click, tag.encode(), now); }
Result<void> Client::select_script(std::uint8_t n, TimePoint now) {
  if (n >= Bot2Script::kScripts) return Errc::invalid_argument;
  const std::uint8_t b[1] = {n};
  return request(item::script_select, ByteView(b, 1), now);
}
Result<void> Client::read_script(std::optional<std::uint8_t> n, TimePoint now) {
  if (n && *n >= Bot2Script::kScripts) return Errc::invalid_argument;
  const std::uint8_t b[1] = {n.value_or(0)};
  return request(item::script_current, n ? ByteView(b, 1) : ByteView{}, now);
}
Result<void> Client::read_script_names(TimePoint now) { return request(item::script_name_list, {}, now); }
Result<void> Client::edit_script(std::uint8_t n, const Bot2Script& script, TimePoint now) {
  if (n >= Bot2Script::kScripts) return Errc::invalid_argument;
  auto enc = script.encode();
  if (!enc) return Unexpected{enc.error()};
  Bytes p{n};
  append(p, *enc);
  return request(item::bot2_edit_script, p, now);
}
Result<void> Client::run_script(std::uint8_t n, const HistoryTag& tag, TimePoint now) {
  if (n > 9) return Errc::invalid_argument;
  return request(static_cast<std::uint8_t>(item::bot2_run_script_0 + n), tag.encode(), now);
}
Result<void> Client::add_sesame(const Uuid& lock, ByteView secret, TimePoint now) {
  if (secret.size() != kSecretSize) return Errc::invalid_argument;
  AddSesame a;
  a.uuid = lock;
  a.secret = SecretBytes(secret);
  Bytes p = encode_add_sesame(a);
  auto r = request(item::add_sesame, p, now);
  secure_wipe(p.data(), p.size());
  return r;
}
Result<void> Client::remove_sesame(const Uuid& lock, TimePoint now) { return request(item::remove_sesame, lock, now); }
Result<void> Client::list_credentials(CredentialKind k, TimePoint now) {
  return request(credential_items(k).get, {}, now);
}
Result<void> Client::rename_credential(CredentialKind k, ByteView id, ByteView name, TimePoint now) {
  if (id.empty() || id.size() > Credential::kMaxIdSize || name.size() > Credential::kMaxNameSize) return Errc::invalid_argument;
  Credential c;
  c.id.assign(id.begin(), id.end());
  c.name.assign(name.begin(), name.end());
  return request(credential_items(k).change, encode_credential_change(c), now);
}
Result<void> Client::delete_credential(CredentialKind k, ByteView id, TimePoint now) {
  if (id.empty() || id.size() > Credential::kMaxIdSize) return Errc::invalid_argument;
  return request(credential_items(k).del, id, now);
}
Result<void> Client::get_credential_mode(CredentialKind k, TimePoint now) {
  return request(credential_items(k).mode_get, {}, now);
}
Result<void> Client::set_credential_mode(CredentialKind k, std::uint8_t mode, TimePoint now) {
  if (mode > 1) return Errc::invalid_argument;
  const std::uint8_t p[1] = {mode};
  return request(credential_items(k).mode_set, p, now);
}
Result<void> Client::reset_device(TimePoint now) { return request(item::reset, {}, now); }

// ---- input -----------------------------------------------------------------------------------

Result<void> Client::feed(ByteView notification, TimePoint now) {
  if (state_ == State::idle) return Errc::not_connected;
  if (state_ == State::ended) return Errc::session_ended;
  auto r = reassembler_.feed_view(notification);
  if (!r) return Unexpected{r.error()};
  if (!r->has_value()) return ok();
  const SegmentedView msg = **r;
  if (msg.encrypted) {
    if (!cipher_) return Errc::no_session;
    ciphertext_seen_ = true;
    Bytes big;  // only for messages above the scratch size (reassembly_cap > 512)
    MutableByteView out;
    Result<void> plain = Errc::ciphertext_short;  // shorter than tag + 1: a failure like a bad tag
    if (msg.data.size() >= kTagSize + 1) {
      out = MutableByteView(plain_.data(), std::min(plain_.size(), msg.data.size() - kTagSize));
      if (msg.data.size() - kTagSize > plain_.size()) {
        big.resize(msg.data.size() - kTagSize);
        out = big;
      }
      plain = cipher_->open(msg.data, out);
    }
    if (!plain) {
      ++auth_failures_;
      // Nothing from the lock has opened under this key yet: the keys differ (a corrupted random
      // code during registration, a wrong secret). Ending here is the only way to notice it.
      if (!peer_verified_) {
        end_session(Errc::session_key_mismatch);
        return Errc::session_key_mismatch;
      }
      // A failure while we wait for a response (or repeated failures) ends the session: a fresh
      // connection resynchronises everything (spec §8).
      if (!pending_.empty() || state_ == State::logging_in || auth_failures_ >= cfg_.max_auth_failures)
        end_session(plain.error());
      return Unexpected{plain.error()};
    }
    peer_verified_ = true;
    return handle(out, true, now);
  }
  return handle(msg.data, false, now);
}

void Client::set_status(const MechStatus& s) {
  lock_state_.status = s;
  lock_state_.position = position_from_status(s);
}

bool Client::take_pending(std::uint8_t it) {
  auto p = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& x) { return x.item == it; });
  if (p == pending_.end()) return false;
  pending_.erase(p);
  return true;
}

Result<void> Client::handle(ByteView message, bool encrypted, TimePoint now) {
  auto parsed = parse_device_message_view(message);
  if (!parsed) return Unexpected{parsed.error()};
  const DeviceMessageView& m = *parsed;
  if (!encrypted) {
    const bool allowed = (m.op == kOpPublish && m.item == item::initial) ||
                         (m.op == kOpResponse && (m.item == item::registration || m.item == item::login));
    if (!allowed) return state_ == State::ready ? Errc::plaintext_after_login : ok();
  }
  if (m.op == kOpPublish) {
    switch (m.item) {
      case item::initial: {
        if (state_ != State::awaiting_initial) return ok();  // repeated INITIAL while authenticating: ignored
        if (m.payload.size() != 4) return Errc::payload_length;
        RandomCode code{};
        std::copy_n(m.payload.begin(), 4, code.begin());
        random_code_ = code;
        state_ = State::connected;
        auth_deadline_.reset();
        emit(events::RandomCode{code});
        if (cfg_.auto_authenticate) {
          if (secret_.size() == kSecretSize) return login(now);
          if (adv_ && adv_->registered) {
            end_session(Errc::no_secret);
            return Errc::no_secret;
          }
          return register_device(now);
        }
        return ok();
      }
      case item::mech_status: {
        auto s = MechStatus::parse_any(m.payload);  // 7 bytes, or 3 from Bot 2 / Bike 2
        if (!s) return Unexpected{s.error()};
        set_status(*s);
        emit(events::MechStatus{m.item, *s});
        return ok();
      }
      case item::mech_setting: {
        auto s = MechSetting::parse(m.payload);
        if (!s) return Unexpected{s.error()};
        lock_state_.setting = *s;
        emit(events::MechSetting{m.item, *s});
        return ok();
      }
      default: {
        BLECRYPT_TRY_VOID(handle_accessory_publish(m));
        emit(events::Publish{m.item, Bytes(m.payload.begin(), m.payload.end())});
        return ok();
      }
    }
  }
  if (m.item == item::registration) return handle_registration(m, now);
  if (m.item == item::login) return handle_login(m, encrypted, now);
  handle_response(m, now);
  return ok();
}

Result<void> Client::handle_registration(const DeviceMessageView& m, TimePoint now) {
  if (state_ != State::registering) return ok();  // unsolicited: ignored
  auth_deadline_.reset();
  if (m.result == ResultCode::invalid_action) {
    ephemeral_.reset();
    state_ = State::connected;
    emit(events::RequestFailed{item::registration, Errc::already_registered, m.result});
    return Errc::already_registered;
  }
  const std::size_t n = m.payload.size();
  if (m.result != ResultCode::success ||
      (n != kRegistrationPayload && n != kCompactRegistrationPayload && n != kAccessoryRegistrationPayload)) {
    end_session(Errc::registration_failed);
    return Errc::registration_failed;
  }
  // Layout by length (spec §5.2): lock status 7 || setting 6 || pubS; Bot 2 / Bike 2 compact
  // status 3 || pubS; accessories pubS only.
  const ByteView p = m.payload;
  const std::size_t head = n - crypto::kP256RawSize;
  Result<MechStatus> status = n == kAccessoryRegistrationPayload ? Result<MechStatus>{MechStatus{}}
                                                                 : MechStatus::parse_any(p.first(n == kRegistrationPayload ? MechStatus::kSize : MechStatus::kCompactSize));
  Result<MechSetting> setting = n == kRegistrationPayload ? MechSetting::parse(p.subspan(MechStatus::kSize, MechSetting::kSize))
                                                          : Result<MechSetting>{MechSetting{}};
  auto peer = backend_->p256_public_key(p.subspan(head));
  if (!peer) {
    end_session(Errc::invalid_public_key);
    return Errc::invalid_public_key;
  }
  if (!status || !setting) {  // fixed sizes: cannot fail after the length check; kept for safety
    end_session(Errc::registration_failed);
    return Errc::registration_failed;
  }
  auto secret = derive_device_secret(*ephemeral_, **peer);
  ephemeral_.reset();
  if (!secret) {
    end_session(secret.error());
    return Unexpected{secret.error()};
  }
  // Install the cipher now: encrypted publishes may follow right behind this response.
  SessionKey key;
  auto cipher = [&]() -> Result<SessionCipher> {
    BLECRYPT_TRY_VOID(derive_session_key(*backend_, *secret, *random_code_, key));
    return SessionCipher::create(*backend_, key.view(), *random_code_);
  }();
  if (!cipher) {
    end_session(cipher.error());
    return Unexpected{cipher.error()};
  }
  secret_ = std::move(*secret);
  cipher_.emplace(std::move(*cipher));
  ciphertext_seen_ = true;  // the lock holds a cipher now: no LOGIN on this connection
  state_ = State::ready;
  emit(events::Registered{secret_});
  if (n != kAccessoryRegistrationPayload) {
    set_status(*status);
    emit(events::MechStatus{item::registration, *status});
  }
  if (n == kRegistrationPayload) {
    lock_state_.setting = *setting;
    emit(events::MechSetting{item::registration, *setting});
  }
  after_authenticated(now);
  return ok();
}

Result<void> Client::handle_login(const DeviceMessageView& m, bool encrypted, TimePoint now) {
  if (state_ != State::logging_in) return ok();
  auth_deadline_.reset();
  if (!encrypted || m.result != ResultCode::success) {
    end_session(Errc::login_rejected);
    return Errc::login_rejected;
  }
  if (m.payload.size() < 4) {
    end_session(Errc::payload_length);
    return Errc::payload_length;
  }
  const std::uint32_t device_time = load_le32(m.payload.data());
  lock_state_.device_time = device_time;
  state_ = State::ready;
  emit(events::LoggedIn{device_time});
  const auto diff = static_cast<std::int64_t>(device_time) - static_cast<std::int64_t>(unix_time(now));
  if (cfg_.auto_time_sync && std::llabs(diff) > 3) (void)sync_time(now);
  after_authenticated(now);
  return ok();
}

void Client::after_authenticated(TimePoint now) {
  const bool adv_says_history = adv_ && adv_->has_history;
  if ((cfg_.drain_history || adv_says_history) && !draining_) (void)drain_history(now);
}

void Client::handle_response(const DeviceMessageView& m, TimePoint now) {
  if (!take_pending(m.item)) return;  // nobody asked: ignored
  switch (m.item) {
    case item::history: {
      if (m.result == ResultCode::not_found) {
        draining_ = false;
        emit(events::HistoryEmpty{});
        return;
      }
      if (m.result != ResultCode::success) {  // busy, invalid ...: the drain ends (reported below)
        draining_ = false;
        break;
      }
      auto rec = HistoryRecord::parse(m.payload);
      if (!rec) {
        draining_ = false;
        emit(events::RequestFailed{m.item, rec.error(), m.result});
        return;
      }
      lock_state_.last_history = *rec;
      const std::int32_t rec_id = rec->id;
      emit(events::History{std::move(*rec)});
      if (draining_) {
        // A lock that returns the record the drain just deleted (answered "not found" or even
        // "success") cannot delete it: stop instead of looping.
        if (drain_gone_id_ && *drain_gone_id_ == rec_id) {
          draining_ = false;
          return;
        }
        if (delete_history(rec_id, now).has_value()) {
          drain_delete_id_ = rec_id;
          return;
        }
      }
      draining_ = false;
      return;
    }
    case item::history_delete: {
      emit(events::HistoryDeleted{m.result});
      // "Not found" means the record is already gone: a lock where HISTORY(1) pops (spec §9 #1)
      // answers every delete so, and the drain has to go on for "read 1 + delete 18" to work
      // under either semantics.
      if (draining_ && (m.result == ResultCode::success || m.result == ResultCode::not_found)) {
        drain_gone_id_ = drain_delete_id_;
        if (!read_history(now, 1)) draining_ = false;
      } else {
        draining_ = false;
      }
      return;
    }
    case item::card_mode_get:
    case item::fingerprint_mode_get:
    case item::passcode_mode_get:
    case item::card_mode_set:
    case item::fingerprint_mode_set:
    case item::passcode_mode_set:
      if (m.result == ResultCode::success && m.payload.size() == 1)
        accessory_.modes[static_cast<std::size_t>(*credential_kind_of_item(m.item))] = m.payload[0];
      break;
    case item::script_name_list:
    case item::script_current:
      if (m.result == ResultCode::success) {
        if (m.item == item::script_name_list) {
          auto l = Bot2ScriptList::parse(m.payload);
          if (!l) {
            emit(events::RequestFailed{m.item, l.error(), m.result});
            return;
          }
          accessory_.bot2_scripts = std::move(*l);
        } else {
          auto sc = Bot2Script::parse(m.payload);
          if (!sc) {
            emit(events::RequestFailed{m.item, sc.error(), m.result});
            return;
          }
          accessory_.bot2_script = std::move(*sc);
        }
      }
      break;
    case item::version_tag: {
      if (m.result != ResultCode::success) break;  // no version in an error answer
      lock_state_.version.assign(m.payload.begin(), m.payload.end());
      emit(events::Version{lock_state_.version});
      return;
    }
    default: break;
  }
  emit(events::CommandResult{m.item, m.result, Bytes(m.payload.begin(), m.payload.end())});
}

Result<void> Client::handle_accessory_publish(const DeviceMessageView& m) {
  if (m.item == item::pub_key_sesame) {
    auto slots = parse_key_slots(m.payload);
    if (!slots) return Unexpected{slots.error()};
    accessory_.key_slots = std::move(*slots);
    return ok();
  }
  if (m.item == item::ops_timer) {
    if (m.payload.size() != 2) return Errc::payload_length;
    accessory_.ops_timer_seconds = load_le16(m.payload.data());
    return ok();
  }
  const auto kind = credential_kind_of_item(m.item);
  if (!kind) return ok();
  const auto k = static_cast<std::size_t>(*kind);
  const CredentialItems it = credential_items(*kind);
  if (m.item == it.first) {
    incoming_[k].clear();
    accessory_.list_complete[k] = false;
  } else if (m.item == it.notify) {
    auto list = parse_credential_list(m.payload);
    if (!list) return Unexpected{list.error()};
    if (incoming_[k].size() + list->size() > 4096) return Errc::payload_length;  // bounded
    for (auto& c : *list) incoming_[k].push_back(std::move(c));
  } else if (m.item == it.last) {
    accessory_.credentials[k] = std::move(incoming_[k]);
    incoming_[k].clear();
    accessory_.list_complete[k] = true;
  } else if (m.item == it.change) {
    // Android CHCardEventHandler: the change publish is one list entry (type first).
    auto list = parse_credential_list(m.payload);
    if (!list) return Unexpected{list.error()};
    auto& stored = accessory_.credentials[k];
    for (auto& c : *list) {
      auto found = std::find_if(stored.begin(), stored.end(), [&](const Credential& x) { return x.id == c.id; });
      if (found != stored.end()) *found = std::move(c);
      else stored.push_back(std::move(c));
    }
  } else if (m.item == it.mode_set) {
    if (m.payload.size() != 1) return Errc::payload_length;
    accessory_.modes[k] = m.payload[0];
  }
  return ok();
}

}  // namespace blecrypt::sesame
