#include "blecrypt/sesame/os2.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace blecrypt::sesame::os2 {

namespace {
constexpr std::uint8_t kAad[1] = {0x00};
constexpr std::uint64_t kCounterMask = 0x7FFFFFFFFFull;  // 39 bits; bit 39 = direction
constexpr std::uint64_t kFromClient = 0x8000000000ull;
constexpr std::size_t kLoginRequestSize = 2 + 2 + 64 + 4 + 4;  // op item key_index app_pub app_token auth

std::int16_t i16(const std::uint8_t* p) { return static_cast<std::int16_t>(load_le16(p)); }
void put_i16(std::uint8_t* p, std::int16_t v) { store_le16(p, static_cast<std::uint16_t>(v)); }
}  // namespace

// ---- data --------------------------------------------------------------------------------------

void MechStatus2::write(std::uint8_t* out) const {
  store_le16(out, battery_raw);
  put_i16(out + 2, target);
  put_i16(out + 4, position);
  out[6] = retcode;
  out[7] = flags;
}

Result<MechStatus2> MechStatus2::parse(ByteView b) {
  if (b.size() != kSize) return Errc::payload_length;
  return MechStatus2{load_le16(b.data()), i16(b.data() + 2), i16(b.data() + 4), b[6], b[7]};
}

void MechSetting2::write(std::uint8_t* out) const {
  const std::int16_t v[6] = {lock, unlock, lock_min, lock_max, unlock_min, unlock_max};
  for (int i = 0; i < 6; ++i) put_i16(out + 2 * i, v[i]);
}

Result<MechSetting2> MechSetting2::parse(ByteView b) {
  if (b.size() != kSize) return Errc::payload_length;
  const std::uint8_t* p = b.data();
  return MechSetting2{i16(p), i16(p + 2), i16(p + 4), i16(p + 6), i16(p + 8), i16(p + 10)};
}

Bytes LoginResponse2::encode() const {
  Bytes b(kSize, 0);
  store_le32(b.data(), time);
  b[4] = fw_version;
  b[6] = history_count;
  setting.write(b.data() + 8);
  status.write(b.data() + 20);
  return b;
}

Result<LoginResponse2> LoginResponse2::parse(ByteView b) {
  if (b.size() < kSize) return Errc::payload_length;
  LoginResponse2 r;
  r.time = load_le32(b.data());
  r.fw_version = b[4];
  r.history_count = b[6];
  r.setting = MechSetting2::parse(b.subspan(8, MechSetting2::kSize)).value();
  r.status = MechStatus2::parse(b.subspan(20, MechStatus2::kSize)).value();
  return r;
}

int MechStatus2::battery_percent(std::uint16_t m) const {
  static constexpr double v[] = {6.0, 5.8, 5.7, 5.6, 5.4, 5.2, 5.1, 5.0, 4.8, 4.6};
  static constexpr double p[] = {100, 50, 40, 32, 21, 13, 10, 7, 3, 0};
  const double x = m == model::bot1 ? bot_volts() * 2 : volts();
  if (x >= v[0]) return 100;
  if (x <= v[9]) return 0;
  for (std::size_t i = 0; i + 1 < 10; ++i)
    if (x > v[i + 1]) return static_cast<int>(p[i + 1] + (x - v[i + 1]) / (v[i] - v[i + 1]) * (p[i] - p[i + 1]) + 1e-9);
  return 0;
}

SecretBytes emulator_private_key(ByteView secret) {
  static constexpr char kLabel[] = "blecrypt OS2 emulator key";
  Bytes msg(kLabel, kLabel + sizeof kLabel - 1);
  append(msg, secret);
  crypto::Sha256Digest d = crypto::sha256(msg);
  secure_wipe(msg.data(), msg.size());
  SecretBytes out(ByteView(d.data(), d.size()));
  secure_wipe(d.data(), d.size());
  return out;
}

Result<Bytes> encode_tag2(const HistoryTag& tag) {
  if (tag.kind != HistoryTag::Kind::text) return Errc::not_supported_by_model;
  std::size_t n = std::min(tag.text.size(), kTag2MaxText);
  // cut on a UTF-8 boundary: never leave a continuation byte (10xxxxxx) as the first one dropped
  while (n > 0 && n < tag.text.size() && (static_cast<std::uint8_t>(tag.text[n]) & 0xC0) == 0x80) --n;
  Bytes b(kTag2Size, 0);
  b[0] = static_cast<std::uint8_t>(n);
  std::copy_n(tag.text.begin(), n, b.begin() + 1);
  return b;
}

Result<std::string> parse_tag2(ByteView b) {
  if (b.empty() || b[0] > kTag2MaxText || std::size_t{b[0]} + 1 > b.size()) return Errc::tag_length;
  return sanitize_utf8(std::string_view(reinterpret_cast<const char*>(b.data() + 1), b[0]));
}

void BotSetting1::write(std::uint8_t* out) const {
  const std::uint8_t v[7] = {user_pref_dir, lock_sec, unlock_sec, click_lock_sec, click_hold_sec, click_unlock_sec, button_mode};
  std::copy_n(v, 7, out);
  std::fill_n(out + 7, kSize - 7, std::uint8_t{0});
}

Result<BotSetting1> BotSetting1::parse(ByteView b) {
  if (b.size() != kSize) return Errc::payload_length;
  return BotSetting1{b[0], b[1], b[2], b[3], b[4], b[5], b[6]};
}

BotSetting1 BotSetting1::from(const MechSetting2& raw) {
  std::uint8_t buf[kSize];
  raw.write(buf);
  return parse(ByteView(buf, kSize)).value();
}

MechSetting2 BotSetting1::raw() const {
  std::uint8_t buf[kSize];
  write(buf);
  return MechSetting2::parse(ByteView(buf, kSize)).value();
}

Bytes HistoryRecord2::encode() const {
  Bytes b(kTagOffset, 0);
  store_le32(b.data(), static_cast<std::uint32_t>(id));
  b[4] = type;
  for (int i = 0; i < 8; ++i) b[5 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(unix_ms >> (8 * i));
  std::copy(opaque.begin(), opaque.end(), b.begin() + kFixedSize);
  Bytes t = encode_tag2(HistoryTag::from_text(tag)).value();
  if ((type == 1 || type == 2) && source != HistoryRecord::Source::ble)
    t[0] = static_cast<std::uint8_t>(t[0] + (source == HistoryRecord::Source::wifi_module2 ? 30 : 60));
  append(b, t);
  return b;
}

Result<HistoryRecord2> HistoryRecord2::parse(ByteView b) {
  if (b.size() < kFixedSize) return Errc::history_record_short;
  HistoryRecord2 r;
  r.id = static_cast<std::int32_t>(load_le32(b.data()));
  r.type = b[4];
  for (int i = 7; i >= 0; --i) r.unix_ms = (r.unix_ms << 8) | b[5 + static_cast<std::size_t>(i)];
  const std::size_t op = std::min(b.size() - kFixedSize, r.opaque.size());
  std::copy_n(b.begin() + kFixedSize, op, r.opaque.begin());
  if (b.size() <= kTagOffset) return r;  // no tag
  std::uint8_t len = b[kTagOffset];
  if ((r.type == 1 || r.type == 2) && len >= 30) {
    r.source = len >= 60 ? HistoryRecord::Source::web : HistoryRecord::Source::wifi_module2;
    len = static_cast<std::uint8_t>(len % 30);
  }
  if (len > kTag2MaxText || kTagOffset + 1 + len > b.size()) return Errc::tag_length;
  r.tag = sanitize_utf8(std::string_view(reinterpret_cast<const char*>(b.data() + kTagOffset + 1), len));
  return r;
}

// ---- security ------------------------------------------------------------------------------------

std::array<std::uint8_t, 13> Cipher2::nonce(std::uint64_t counter, bool from_client, const SessionToken& token) {
  std::array<std::uint8_t, 13> n{};
  const std::uint64_t c = (counter & kCounterMask) | (from_client ? kFromClient : 0);
  for (int i = 0; i < 5; ++i) n[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c >> (8 * i));
  std::copy(token.begin(), token.end(), n.begin() + 5);
  return n;
}

Result<Cipher2> Cipher2::create(const crypto::Backend& backend, ByteView key, const SessionToken& token, bool device_side) {
  if (key.size() != 16) return Errc::invalid_argument;
  auto ccm = backend.aes_ccm(key);
  if (!ccm) return Unexpected{wrap_foreign(ccm.error())};
  return Cipher2(std::move(*ccm), token, device_side);
}

Result<Bytes> Cipher2::seal(ByteView plaintext) {
  if (tx_ > kCounterMask) return Errc::counter_exhausted;  // 39-bit counter: never reused
  if (plaintext.empty()) return Errc::message_empty;
  const auto n = nonce(tx_, !device_, token_);
  auto r = ccm_->seal(n, kAad, plaintext, kTagSize);
  if (!r) return Unexpected{wrap_foreign(r.error())};
  ++tx_;
  return r;
}

Result<Bytes> Cipher2::open(ByteView sealed) {
  if (sealed.size() < kTagSize + 1) return Errc::ciphertext_short;
  const auto n = nonce(rx_, device_, token_);
  auto r = ccm_->open(n, kAad, sealed, kTagSize);
  if (!r) return Unexpected{wrap_foreign(r.error())};
  ++rx_;
  return r;
}

Result<std::array<std::uint8_t, 4>> login_auth(const crypto::Backend& b, ByteView secret, std::uint16_t key_index,
                                               const crypto::P256Raw& app_public, const SessionToken& token) {
  if (secret.size() != kSecretSize) return Errc::invalid_argument;
  auto cmac = b.aes_cmac(secret);
  if (!cmac) return Unexpected{wrap_foreign(cmac.error())};
  Bytes msg(2);
  store_le16(msg.data(), key_index);
  msg.insert(msg.end(), app_public.begin(), app_public.end());
  msg.insert(msg.end(), token.begin(), token.end());
  const crypto::Block mac = (*cmac)->mac(msg);
  std::array<std::uint8_t, 4> out{};
  std::copy_n(mac.begin(), 4, out.begin());
  return out;
}

Result<SecretBytes> session_key(const crypto::Backend& b, const crypto::P256KeyPair& own, const crypto::P256PublicKey& peer,
                                const SessionToken& token) {
  auto z16 = derive_device_secret(own, peer);  // ECDH X coordinate, first 16 bytes
  if (!z16) return Unexpected{z16.error()};
  auto cmac = b.aes_cmac(z16->view());
  if (!cmac) return Unexpected{wrap_foreign(cmac.error())};
  crypto::Block k = (*cmac)->mac(token);
  SecretBytes out(ByteView(k.data(), k.size()));
  secure_wipe(k.data(), k.size());
  return out;
}

Result<ClientConfig2> ClientConfig2::from_share_key(const ShareKey& key) {
  if (!key.os2 || !key.public_key || key.secret.size() != kSecretSize) return Errc::uri_key_format;
  ClientConfig2 c;
  c.secret = key.secret;
  c.device_public = *key.public_key;
  c.key_index = key.key_index.value_or(0);
  c.model = key.model;
  return c;
}

// ---- client ----------------------------------------------------------------------------------

Client2::Client2(ClientConfig2 config, crypto::Rng& rng)
    : cfg_(std::move(config)), backend_(cfg_.backend ? cfg_.backend : &crypto::default_backend()), rng_(&rng) {}
Client2::Client2(Client2&&) noexcept = default;
Client2& Client2::operator=(Client2&&) noexcept = default;
Client2::~Client2() = default;

void Client2::reset() {
  draining_ = false;
  last_drained_.reset();
  pending_setting_.reset();
  pending_autolock_.reset();
  setting_.reset();
  status_.reset();
  cipher_.reset();
  reassembler_.reset();
  deadline_.reset();
  pending_.reset();
  pending_deadline_.reset();
  connected_ = logging_in_ = ready_ = ended_ = false;
  tx_.clear();
  events_.clear();
}

void Client2::on_link_up(TimePoint now) {
  reset();
  connected_ = true;
  deadline_ = now + cfg_.initial_timeout;
}

void Client2::on_link_down() {
  if (!connected_) return;
  const bool was_ended = ended_;
  if (pending_) events_.push_back(events2::RequestFailed{*pending_, Errc::disconnected});
  reset();
  if (!was_ended) events_.push_back(events2::SessionEnded{Errc::disconnected});
}

void Client2::end(std::error_code why) {
  if (pending_) events_.push_back(events2::RequestFailed{*pending_, why});
  draining_ = false;
  cipher_.reset();
  pending_.reset();
  pending_deadline_.reset();
  deadline_.reset();
  ready_ = logging_in_ = false;
  ended_ = true;
  events_.push_back(events2::SessionEnded{why});
}

std::optional<Bytes> Client2::poll_transmit() {
  if (tx_.empty()) return std::nullopt;
  return tx_.take();
}
std::optional<Client2::Event> Client2::poll_event() {
  if (events_.empty()) return std::nullopt;
  return events_.take();
}
std::optional<TimePoint> Client2::next_deadline() const { return earliest(deadline_, pending_deadline_); }

void Client2::on_deadline(TimePoint now) {
  if (deadline_ && now >= *deadline_) return end(Errc::timeout);
  if (pending_deadline_ && now >= *pending_deadline_) {
    events_.push_back(events2::RequestFailed{*pending_, Errc::timeout});
    pending_.reset();
    pending_deadline_.reset();
    draining_ = false;
    pending_setting_.reset();
    pending_autolock_.reset();
  }
}

Result<void> Client2::start_login(TimePoint now) {
  auto peer = backend_->p256_public_key(cfg_.device_public);
  if (!peer) return Errc::invalid_public_key;
  auto own = backend_->p256_generate(*rng_);
  if (!own) return Unexpected{wrap_foreign(own.error())};
  Token app_token{};
  rng_->fill(app_token);
  SessionToken st{};
  std::copy(app_token.begin(), app_token.end(), st.begin());
  std::copy(sesame_token_.begin(), sesame_token_.end(), st.begin() + 4);
  auto auth = login_auth(*backend_, cfg_.secret.view(), cfg_.key_index, (*own)->public_raw(), st);
  if (!auth) return Unexpected{auth.error()};
  auto key = session_key(*backend_, **own, **peer, st);
  if (!key) return Unexpected{key.error()};
  auto c = Cipher2::create(*backend_, key->view(), st, false);
  if (!c) return Unexpected{c.error()};
  cipher_.emplace(std::move(*c));
  Bytes msg{op::sync, item::login, 0, 0};
  store_le16(msg.data() + 2, cfg_.key_index);
  const auto& pub = (*own)->public_raw();
  msg.insert(msg.end(), pub.begin(), pub.end());
  msg.insert(msg.end(), app_token.begin(), app_token.end());
  msg.insert(msg.end(), auth->begin(), auth->end());
  BLECRYPT_TRY_VOID(segment(msg, SegmentKind::plaintext, tx_, cfg_.packet_size));
  logging_in_ = true;
  deadline_ = now + cfg_.login_timeout;
  return ok();
}

Result<void> Client2::request(std::uint8_t op_code, std::uint8_t it, ByteView payload, TimePoint now) {
  if (ended_) return Errc::session_ended;
  if (!ready_) return connected_ ? Errc::not_logged_in : Errc::not_connected;
  if (pending_) return Errc::request_pending;  // OS2 apps keep one request in flight
  Bytes msg{op_code, it};
  append(msg, payload);
  auto sealed = cipher_->seal(msg);
  if (!sealed) return Unexpected{sealed.error()};
  BLECRYPT_TRY_VOID(segment(*sealed, SegmentKind::ciphertext, tx_, cfg_.packet_size));
  pending_ = it;
  pending_deadline_ = now + cfg_.request_timeout;
  return ok();
}

Result<void> Client2::tagged(std::uint8_t op_code, std::uint8_t it, ByteView head, const HistoryTag& tag, TimePoint now) {
  auto t = encode_tag2(tag);
  if (!t) return Unexpected{t.error()};
  Bytes payload(head.begin(), head.end());
  append(payload, *t);
  return request(op_code, it, payload, now);
}

Result<void> Client2::lock(const HistoryTag& tag, TimePoint now) {
  if (cfg_.model == model::bike1) return Errc::not_supported_by_model;  // SDK CHSesameBike: unlock only
  return tagged(op::async, item::lock, {}, tag, now);
}
Result<void> Client2::unlock(const HistoryTag& tag, TimePoint now) { return tagged(op::async, item::unlock, {}, tag, now); }
Result<void> Client2::toggle(const HistoryTag& tag, TimePoint now) {
  if (cfg_.model == model::bike1) return Errc::not_supported_by_model;
  return status_ && status_->locked() ? unlock(tag, now) : lock(tag, now);
}
Result<void> Client2::click(const HistoryTag& tag, TimePoint now) {
  if (cfg_.model != model::bot1) return Errc::not_supported_by_model;
  return tagged(op::async, item::click, {}, tag, now);
}

Result<void> Client2::read_history(std::uint8_t flag, TimePoint now) {
  const std::uint8_t f[1] = {flag};
  return request(op::read, item::history, ByteView(f, 1), now);
}

Result<void> Client2::drain_history(TimePoint now) {
  BLECRYPT_TRY_VOID(read_history(0, now));
  draining_ = true;
  last_drained_.reset();
  return ok();
}

Result<void> Client2::read_autolock(TimePoint now) {
  if (cfg_.model == model::bot1 || cfg_.model == model::bike1) return Errc::not_supported_by_model;
  return request(op::read, item::autolock, {}, now);
}

Result<void> Client2::set_autolock(std::uint16_t seconds, const HistoryTag& tag, TimePoint now) {
  if (cfg_.model == model::bot1 || cfg_.model == model::bike1) return Errc::not_supported_by_model;
  std::uint8_t head[2];
  store_le16(head, seconds);
  BLECRYPT_TRY_VOID(tagged(op::update, item::autolock, ByteView(head, 2), tag, now));
  pending_autolock_ = seconds;
  return ok();
}

Result<void> Client2::set_lock_positions(std::int16_t lock_pos, std::int16_t unlock_pos, const HistoryTag& tag, TimePoint now) {
  if (cfg_.model != model::sesame3 && cfg_.model != model::sesame4) return Errc::not_supported_by_model;
  constexpr int kRange = 150;  // SDK CHSesameLockPositionConfiguration
  auto clamp16 = [](int v) { return static_cast<std::int16_t>(std::clamp(v, -32768, 32767)); };
  const MechSetting2 m{lock_pos, unlock_pos, clamp16(lock_pos - kRange), clamp16(lock_pos + kRange),
                       clamp16(unlock_pos - kRange), clamp16(unlock_pos + kRange)};
  std::uint8_t head[MechSetting2::kSize];
  m.write(head);
  BLECRYPT_TRY_VOID(tagged(op::update, item::mech_setting, ByteView(head, sizeof head), tag, now));
  pending_setting_ = m;
  return ok();
}

Result<void> Client2::set_bot_setting(const BotSetting1& b, const HistoryTag& tag, TimePoint now) {
  if (cfg_.model != model::bot1) return Errc::not_supported_by_model;
  std::uint8_t head[BotSetting1::kSize];
  b.write(head);
  BLECRYPT_TRY_VOID(tagged(op::update, item::mech_setting, ByteView(head, sizeof head), tag, now));
  pending_setting_ = b.raw();
  return ok();
}

Result<void> Client2::sync_time(std::uint32_t unix_seconds, TimePoint now) {
  std::uint8_t p[4];
  store_le32(p, unix_seconds);
  return request(op::update, item2::time_phone, ByteView(p, 4), now);
}
Result<void> Client2::read_version(TimePoint now) { return request(op::read, item::version_tag, {}, now); }
Result<void> Client2::read_mech_status(TimePoint now) { return request(op::read, item::mech_status, {}, now); }

Result<void> Client2::feed(ByteView notification, TimePoint now) {
  if (!connected_) return Errc::not_connected;
  if (ended_) return Errc::session_ended;
  auto r = reassembler_.feed(notification);
  if (!r) return Unexpected{r.error()};
  if (!r->has_value()) return ok();
  SegmentedMessage msg = std::move(**r);
  if (!msg.encrypted) return handle(msg.data, false, now);
  if (!cipher_) return Errc::no_session;
  auto plain = cipher_->open(msg.data);
  if (!plain) {
    end(plain.error());  // a fresh connection resynchronises (spec §8)
    return Unexpected{plain.error()};
  }
  return handle(*plain, true, now);
}

Result<void> Client2::handle(ByteView m, bool encrypted, TimePoint now) {
  if (m.size() < 2) return Errc::message_short;
  const std::uint8_t opc = m[0], it = m[1];
  if (opc == kOpPublish) {
    if (!encrypted) {
      if (it != item::initial || connected_ == false || logging_in_ || ready_) return Errc::plaintext_after_login;
      if (m.size() != 6) return Errc::payload_length;
      std::copy_n(m.begin() + 2, 4, sesame_token_.begin());
      deadline_.reset();
      if (auto s = start_login(now); !s) {
        end(s.error());
        return s;
      }
      return ok();
    }
    if (it == item::mech_status) {
      auto s = MechStatus2::parse(m.subspan(2));
      if (!s) return Unexpected{s.error()};
      status_ = *s;
      events_.push_back(events2::Status{*s});
      return ok();
    }
    if (it == item::mech_setting) {  // libsesame3bt handle_publish_mecha_setting
      auto s = MechSetting2::parse(m.subspan(2));
      if (!s) return Unexpected{s.error()};
      setting_ = *s;
      events_.push_back(events2::Setting{*s});
      return ok();
    }
    events_.push_back(events2::Publish{it, Bytes(m.begin() + 2, m.end())});
    return ok();
  }
  if (opc != kOpResponse) return Errc::unknown_op_code;
  if (m.size() < 4) return Errc::message_short;
  const auto result = static_cast<ResultCode>(m[3]);
  if (it == item::login) {
    if (!logging_in_) return ok();
    logging_in_ = false;
    deadline_.reset();
    if (!encrypted || result != ResultCode::success) {
      end(Errc::login_rejected);
      return Errc::login_rejected;
    }
    auto lr = LoginResponse2::parse(m.subspan(4));
    if (!lr) {
      end(lr.error());
      return Unexpected{lr.error()};
    }
    login_ = *lr;
    status_ = lr->status;
    setting_ = lr->setting;
    ready_ = true;
    events_.push_back(events2::LoggedIn{*lr});
    return ok();
  }
  if (!encrypted) return Errc::plaintext_after_login;
  if (!pending_ || *pending_ != it) return ok();  // late or unsolicited: dropped
  pending_.reset();
  pending_deadline_.reset();
  return handle_response(it, result, m.subspan(4), now);
}

Result<void> Client2::handle_response(std::uint8_t it, ResultCode result, ByteView payload, TimePoint now) {
  const bool drain = draining_ && it == item::history;
  if (drain) draining_ = false;
  auto setting = std::exchange(pending_setting_, std::nullopt);
  auto autolock = std::exchange(pending_autolock_, std::nullopt);
  events_.push_back(events2::CommandResult{it, result, Bytes(payload.begin(), payload.end())});
  if (result != ResultCode::success) {
    if (it == item::history && result == ResultCode::not_found) events_.push_back(events2::HistoryEmpty{});
    return ok();
  }
  switch (it) {
    case item::history: {
      auto r = HistoryRecord2::parse(payload);
      if (!r) return Unexpected{r.error()};  // the drain ends here
      const bool repeated = drain && last_drained_ && *last_drained_ == r->id;
      if (repeated) return ok();  // a firmware that does not pop on flag 0: stop, do not loop
      last_drained_ = r->id;
      events_.push_back(events2::History{std::move(*r)});
      if (drain) {
        if (auto again = read_history(0, now)) draining_ = true;
      }
      return ok();
    }
    case item::autolock:
      if (autolock) {
        events_.push_back(events2::Autolock{*autolock});
      } else {
        if (payload.size() < 2) return Errc::payload_length;
        events_.push_back(events2::Autolock{load_le16(payload.data())});
      }
      return ok();
    case item::mech_setting:
      if (setting) {
        setting_ = *setting;
        events_.push_back(events2::Setting{*setting});
      }
      return ok();
    case item::mech_status: {
      auto s = MechStatus2::parse(payload);
      if (!s) return Unexpected{s.error()};
      status_ = *s;
      events_.push_back(events2::Status{*s});
      return ok();
    }
    case item::version_tag: {
      // SDK getVersionTag: String(payload[4..15]); shorter answers give what is there.
      std::string text;
      for (std::size_t i = 4; i < payload.size() && i < 16; ++i) {
        if (payload[i] == 0) break;
        text.push_back(static_cast<char>(payload[i]));
      }
      events_.push_back(events2::Version{sanitize_utf8(text)});
      return ok();
    }
    default:
      return ok();
  }
}

// ---- device emulator ----------------------------------------------------------------------------

Device2::Device2(DeviceConfig2 config, crypto::Rng& rng)
    : cfg_(std::move(config)), backend_(cfg_.backend ? cfg_.backend : &crypto::default_backend()), rng_(&rng) {
  auto k = cfg_.private_key.size() == 32 ? backend_->p256_from_private(cfg_.private_key.view())
                                         : backend_->p256_generate(*rng_);
  if (k) key_ = std::move(*k);
  cfg_.private_key.wipe();
  if (cfg_.model == model::bot1 && cfg_.setting == DeviceConfig2{}.setting) cfg_.setting = BotSetting1{}.raw();
  if (cfg_.model == model::bot1 && cfg_.status == DeviceConfig2{}.status) cfg_.status = MechStatus2{853, 0, 0, 0, 0x04};  // 3.00 V, idle
  status_ = cfg_.status;
}

std::uint64_t Device2::unix_ms(TimePoint now) const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return static_cast<std::uint64_t>(cfg_.unix_time_offset * 1000 + ms);
}

void Device2::add_history(std::uint8_t type, std::string_view tag, TimePoint now) {
  HistoryRecord2 r;
  r.id = next_history_id_++;
  r.type = type;
  r.unix_ms = unix_ms(now);
  r.tag = std::string(tag.substr(0, kTag2MaxText));
  history_.push_back(std::move(r));
  while (history_.size() > cfg_.history_capacity) history_.pop_front();
}

void Device2::respond(std::uint8_t it, std::uint8_t opc, ResultCode rc, ByteView payload) {
  Bytes m{kOpResponse, it, opc, static_cast<std::uint8_t>(rc)};
  append(m, payload);
  send(m, true);
}

void Device2::publish_status() {
  std::uint8_t buf[2 + MechStatus2::kSize] = {kOpPublish, item::mech_status};
  status_.write(buf + 2);
  send(ByteView(buf, sizeof buf), true);
}
Device2::Device2(Device2&&) noexcept = default;
Device2& Device2::operator=(Device2&&) noexcept = default;
Device2::~Device2() = default;

const crypto::P256Raw& Device2::public_key() const {
  static const crypto::P256Raw none{};
  return key_ ? key_->public_raw() : none;
}

Bytes Device2::share_key_bytes() const {
  Bytes b{static_cast<std::uint8_t>(cfg_.model)};
  append(b, cfg_.secret.view());
  const auto& pk = public_key();
  b.insert(b.end(), pk.begin(), pk.end());
  b.resize(b.size() + 2);
  store_le16(b.data() + 81, cfg_.key_index);
  b.insert(b.end(), cfg_.uuid.begin(), cfg_.uuid.end());
  return b;  // 99 bytes
}

void Device2::reset() {
  cipher_.reset();
  reassembler_.reset();
  connected_ = false;
  tx_.clear();
  events_.clear();
}

void Device2::on_link_up(TimePoint) {
  reset();
  connected_ = true;
  rng_->fill(token_);
  send(Bytes{kOpPublish, item::initial, token_[0], token_[1], token_[2], token_[3]}, false);
}

void Device2::on_link_down() {
  cipher_.reset();
  reassembler_.reset();
  connected_ = false;
}

std::optional<Bytes> Device2::poll_transmit() {
  if (tx_.empty()) return std::nullopt;
  return tx_.take();
}
std::optional<Device2::Event> Device2::poll_event() {
  if (events_.empty()) return std::nullopt;
  return events_.take();
}

void Device2::send(ByteView message, bool encrypted) {
  if (!encrypted) {
    (void)segment(message, SegmentKind::plaintext, tx_, cfg_.packet_size);
    return;
  }
  if (!cipher_) return;
  auto sealed = cipher_->seal(message);
  if (sealed) (void)segment(*sealed, SegmentKind::ciphertext, tx_, cfg_.packet_size);
}

Result<void> Device2::feed(ByteView packet, TimePoint now) {
  if (!connected_) return Errc::not_connected;
  auto r = reassembler_.feed(packet);
  if (!r) return Unexpected{r.error()};
  if (!r->has_value()) return ok();
  SegmentedMessage msg = std::move(**r);
  if (!msg.encrypted) return handle_login(msg.data, now);
  if (!cipher_) return Errc::no_session;
  auto plain = cipher_->open(msg.data);
  if (!plain) return Unexpected{plain.error()};
  return handle_request(*plain, now);
}

Result<void> Device2::handle_login(ByteView m, TimePoint now) {
  if (m.size() < 2) return Errc::message_short;
  if (m[1] != item::login) return cipher_ ? Result<void>{Errc::plaintext_after_login} : ok();
  auto refuse = [&](ResultCode rc, Errc e) -> Result<void> {
    ++rejected_;
    send(Bytes{kOpResponse, item::login, op::sync, static_cast<std::uint8_t>(rc)}, false);
    return e;
  };
  if (m.size() != kLoginRequestSize || m[0] != op::sync) return refuse(ResultCode::invalid_format, Errc::payload_length);
  if (!key_ || cfg_.secret.size() != kSecretSize) return refuse(ResultCode::invalid_action, Errc::no_secret);
  const std::uint16_t key_index = load_le16(m.data() + 2);
  crypto::P256Raw app_pub{};
  std::copy_n(m.begin() + 4, 64, app_pub.begin());
  SessionToken st{};
  std::copy_n(m.begin() + 68, 4, st.begin());
  std::copy(token_.begin(), token_.end(), st.begin() + 4);
  auto want = login_auth(*backend_, cfg_.secret.view(), key_index, app_pub, st);
  if (!want) return Unexpected{want.error()};
  if (key_index != cfg_.key_index || !equal(ByteView(want->data(), 4), m.subspan(72, 4)))
    return refuse(ResultCode::invalid_signature, Errc::login_rejected);
  auto peer = backend_->p256_public_key(app_pub);
  if (!peer) return refuse(ResultCode::invalid_format, Errc::invalid_public_key);
  auto key = session_key(*backend_, *key_, **peer, st);
  if (!key) return Unexpected{key.error()};
  auto c = Cipher2::create(*backend_, key->view(), st, true);
  if (!c) return Unexpected{c.error()};
  cipher_.emplace(std::move(*c));
  LoginResponse2 lr;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  lr.time = static_cast<std::uint32_t>(cfg_.unix_time_offset + secs);
  lr.fw_version = 1;
  lr.setting = cfg_.setting;
  lr.status = status_;
  Bytes resp{kOpResponse, item::login, op::sync, 0};
  append(resp, lr.encode());
  send(resp, true);
  events_.push_back(events2::ClientLoggedIn{});
  return ok();
}

Result<void> Device2::handle_request(ByteView m, TimePoint now) {
  if (m.size() < 2) return Errc::message_short;
  const std::uint8_t opc = m[0], it = m[1];
  const ByteView body = m.subspan(2);
  const bool bot = cfg_.model == model::bot1, bike = cfg_.model == model::bike1, lock_model = !bot && !bike;
  auto tag_text = [](ByteView t) -> std::optional<std::string> {
    auto tag = parse_tag2(t);
    if (!tag) return std::nullopt;
    return std::move(*tag);
  };
  auto setting_changed = [&](std::uint8_t which) { events_.push_back(events2::SettingChanged{which}); };
  switch (it) {
    case item::lock:
    case item::unlock:
    case item::click: {
      if ((it == item::lock && bike) || (it == item::click && !bot)) {
        respond(it, opc, ResultCode::not_supported);
        return ok();
      }
      auto text = tag_text(body);
      if (!text) {
        respond(it, opc, ResultCode::invalid_format);
        return ok();
      }
      respond(it, opc, ResultCode::success);
      // The emulated bolt / arm moves at once (the OS3 emulator models motion; OS2 here only needs
      // states). A bot's click pushes and returns: it ends where it started, in the unlock range.
      const bool locked = it == item::lock;
      if (bot) {
        status_.position = 0;  // byte 4: motor idle
      } else {
        status_.position = locked ? cfg_.setting.lock : cfg_.setting.unlock;
      }
      status_.target = bot ? 0 : kNoTarget;
      status_.flags = locked ? 0x02 : 0x04;
      publish_status();
      add_history(it == item::click ? 18 : locked ? 1 : 2, *text, now);
      events_.push_back(events2::Moved{it, HistoryTag::from_text(*text)});
      return ok();
    }
    case item::history: {
      if (opc != op::read || body.size() != 1) {
        respond(it, opc, ResultCode::invalid_format);
        return ok();
      }
      if (history_.empty()) {
        respond(it, opc, ResultCode::not_found);
        return ok();
      }
      const Bytes rec = history_.front().encode();
      if (body[0] == 0 && cfg_.pop_history_on_zero) history_.pop_front();  // as the OS3 emulator (spec §9 #1)
      respond(it, opc, ResultCode::success, rec);
      return ok();
    }
    case item::autolock: {
      if (!lock_model) break;
      if (opc == op::read) {
        std::uint8_t v[2];
        store_le16(v, cfg_.autolock_seconds);
        respond(it, opc, ResultCode::success, ByteView(v, 2));
        return ok();
      }
      if (opc != op::update || body.size() < 2 || !tag_text(body.subspan(2))) {
        respond(it, opc, ResultCode::invalid_format);
        return ok();
      }
      cfg_.autolock_seconds = load_le16(body.data());
      respond(it, opc, ResultCode::success);
      add_history(4, *tag_text(body.subspan(2)), now);
      setting_changed(it);
      return ok();
    }
    case item::mech_setting: {
      if (bike) break;
      if (opc != op::update || body.size() < MechSetting2::kSize || !tag_text(body.subspan(MechSetting2::kSize))) {
        respond(it, opc, ResultCode::invalid_format);
        return ok();
      }
      cfg_.setting = MechSetting2::parse(body.first(MechSetting2::kSize)).value();
      respond(it, opc, ResultCode::success);
      std::uint8_t buf[2 + MechSetting2::kSize] = {kOpPublish, item::mech_setting};
      cfg_.setting.write(buf + 2);
      send(ByteView(buf, sizeof buf), true);
      add_history(5, *tag_text(body.subspan(MechSetting2::kSize)), now);
      setting_changed(it);
      return ok();
    }
    case item2::time_phone: {
      if (opc != op::update || body.size() != 4) {
        respond(it, opc, ResultCode::invalid_format);
        return ok();
      }
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
      cfg_.unix_time_offset = static_cast<std::int64_t>(load_le32(body.data())) - secs;
      respond(it, opc, ResultCode::success);
      add_history(3, "", now);
      setting_changed(it);
      return ok();
    }
    case item::version_tag: {
      Bytes v(4, 0);  // SDK getVersionTag reads payload bytes 4..15
      const std::string_view text = std::string_view(cfg_.version).substr(0, 12);
      v.insert(v.end(), text.begin(), text.end());
      respond(it, opc, ResultCode::success, v);
      return ok();
    }
    case item::mech_status: {
      std::uint8_t buf[MechStatus2::kSize];
      status_.write(buf);
      respond(it, opc, ResultCode::success, ByteView(buf, sizeof buf));
      return ok();
    }
    default:
      break;
  }
  respond(it, opc, ResultCode::not_supported);
  return ok();
}

}  // namespace blecrypt::sesame::os2
