#include "blecrypt/sesame/os2.hpp"

#include <algorithm>
#include <limits>

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
  return c;
}

// ---- client ----------------------------------------------------------------------------------

Client2::Client2(ClientConfig2 config, crypto::Rng& rng)
    : cfg_(std::move(config)), backend_(cfg_.backend ? cfg_.backend : &crypto::default_backend()), rng_(&rng) {}
Client2::Client2(Client2&&) noexcept = default;
Client2& Client2::operator=(Client2&&) noexcept = default;
Client2::~Client2() = default;

void Client2::reset() {
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

Result<void> Client2::lock(const HistoryTag& tag, TimePoint now) { return request(op::async, item::lock, tag.encode(), now); }
Result<void> Client2::unlock(const HistoryTag& tag, TimePoint now) {
  return request(op::async, item::unlock, tag.encode(), now);
}

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
    ready_ = true;
    events_.push_back(events2::LoggedIn{*lr});
    return ok();
  }
  if (!encrypted) return Errc::plaintext_after_login;
  if (pending_ && *pending_ == it) {
    pending_.reset();
    pending_deadline_.reset();
    events_.push_back(events2::CommandResult{it, result});
  }
  return ok();
}

// ---- device emulator ----------------------------------------------------------------------------

Device2::Device2(DeviceConfig2 config, crypto::Rng& rng)
    : cfg_(std::move(config)), backend_(cfg_.backend ? cfg_.backend : &crypto::default_backend()), rng_(&rng) {
  auto k = cfg_.private_key.size() == 32 ? backend_->p256_from_private(cfg_.private_key.view())
                                         : backend_->p256_generate(*rng_);
  if (k) key_ = std::move(*k);
  cfg_.private_key.wipe();
  status_ = cfg_.status;
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

Result<void> Device2::handle_request(ByteView m, TimePoint) {
  if (m.size() < 2) return Errc::message_short;
  const std::uint8_t opc = m[0], it = m[1];
  ResultCode rc = ResultCode::not_supported;
  std::optional<HistoryTag> moved;
  if (it == item::lock || it == item::unlock) {
    auto tag = HistoryTag::parse(m.subspan(2));
    if (!tag) {
      rc = ResultCode::invalid_format;
    } else {
      rc = ResultCode::success;
      moved = std::move(*tag);
    }
  }
  send(Bytes{kOpResponse, it, opc, static_cast<std::uint8_t>(rc)}, true);
  if (moved) {
    // The emulated bolt moves at once (the OS3 emulator models motion; OS2 here only needs states).
    const bool lock = it == item::lock;
    status_.position = lock ? cfg_.setting.lock : cfg_.setting.unlock;
    status_.target = kNoTarget;
    status_.flags = lock ? 0x02 : 0x04;
    std::uint8_t buf[2 + MechStatus2::kSize] = {kOpPublish, item::mech_status};
    status_.write(buf + 2);
    send(ByteView(buf, sizeof buf), true);
    events_.push_back(events2::Moved{it, std::move(*moved)});
  }
  return ok();
}

}  // namespace blecrypt::sesame::os2
