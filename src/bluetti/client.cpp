// BLUETTI client engine: challenge -> response -> accepted -> device key verified -> own key
// signed with L1 -> accepted -> session key (spec section 4).
#include "blecrypt/bluetti/client.hpp"

#include <algorithm>

namespace blecrypt::bluetti {

const char* client_state_name(ClientState s) noexcept {
  switch (s) {
    case ClientState::idle: return "idle";
    case ClientState::wait_challenge: return "waiting for CHALLENGE";
    case ClientState::wait_challenge_accepted: return "waiting for CHALLENGE_ACCEPTED";
    case ClientState::wait_device_key: return "waiting for DEVICE_PUBKEY";
    case ClientState::wait_pubkey_accepted: return "waiting for PUBKEY_ACCEPTED";
    case ClientState::established: return "established";
    case ClientState::failed: return "failed";
  }
  return "?";
}

Result<ClientConfig> ClientConfig::make(const crypto::Backend& backend, ByteView raw) {
  ClientConfig c;
  c.backend = &backend;
  auto key = backend.p256_public_key(raw.empty() ? ByteView(kPublicKeyK2) : raw);
  if (!key) return Errc::invalid_key;
  c.device_verify_key = std::move(*key);
  auto l1 = backend.p256_from_private(kPrivateKeyL1);
  if (!l1) return Errc::invalid_key;
  c.client_signing_key = std::move(*l1);
  return c;
}

Client::Client(ClientConfig cfg, crypto::Rng& rng) : cfg_(std::move(cfg)), rng_(&rng) {
  if (cfg_.backend == nullptr) cfg_.backend = &crypto::default_backend();
  md5_ = cfg_.backend->md5();
  // Keys missing from the config are imported here (once per session object, kept across reset).
  if (!cfg_.device_verify_key) {
    if (auto k = cfg_.backend->p256_public_key(kPublicKeyK2)) cfg_.device_verify_key = std::move(*k);
  }
  if (!cfg_.client_signing_key) {
    if (auto k = cfg_.backend->p256_from_private(kPrivateKeyL1)) cfg_.client_signing_key = std::move(*k);
  }
}

Client::~Client() { wipe(); }
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::wipe() {
  reasm_.set_late_handshake_probe(nullptr);
  challenge_.clear();
  challenge_response_.clear();
  hs_keys_.reset();
  hs_.reset();
  device_key_raw_.clear();
  secure_wipe(client_record_.data(), client_record_.size());
  client_record_.clear();
  session_.reset();
  reasm_.clear();
  reasm_.set_header_size(kHandshakeHeader);
}

bool Client::holds_no_secrets() const noexcept {
  return !hs_keys_ && !hs_ && !session_ && challenge_.empty() && client_record_.empty() && reasm_.buffered() == 0;
}

void Client::reset() {
  wipe();
  tx_.clear();
  events_.clear();
  pending_.clear();
  step_deadline_.reset();
  failure_ = {};
  state_ = ClientState::idle;
}

void Client::on_link_up(TimePoint now) {
  // A fresh handshake every time; events not yet polled (requests failed by on_link_down) stay.
  wipe();
  tx_.clear();
  pending_.clear();
  failure_ = {};
  state_ = ClientState::wait_challenge;
  step_deadline_ = now + cfg_.step_timeout;
}

void Client::on_link_down() {
  while (!pending_.empty())
    events_.push_back(events::RequestFailed{pending_.take().request, make_error_code(Errc::link_down), {}});
  wipe();
  tx_.clear();
  step_deadline_.reset();
  failure_ = {};
  state_ = ClientState::idle;
}

// Fails the oldest outstanding request (there must be one).
void Client::fail_request(std::error_code e, Bytes adu) {
  events_.push_back(events::RequestFailed{pending_.take().request, e, std::move(adu)});
}

Result<void> Client::fail(std::error_code e) {
  wipe();
  tx_.clear();
  step_deadline_.reset();
  failure_ = e;
  state_ = ClientState::failed;
  events_.push_back(events::Failed{e});
  return e;
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
  if (state_ == ClientState::established) {
    if (pending_.empty()) return std::nullopt;
    return pending_.front().deadline;
  }
  return step_deadline_;
}

void Client::on_deadline(TimePoint now) {
  if (state_ == ClientState::established) {
    while (!pending_.empty() && pending_.front().deadline <= now) fail_request(make_error_code(Errc::timeout));
    return;
  }
  if (step_deadline_ && *step_deadline_ <= now) (void)fail(make_error_code(Errc::timeout));
}

Result<void> Client::feed(ByteView in, TimePoint now) {
  if (state_ == ClientState::failed) return Errc::handshake_failed;
  if (state_ == ClientState::idle) on_link_up(now);  // a caller that never said so (the drop-in API)
  // The late-handshake probe points into this object: set it here, so a moved engine never
  // hands the reassembler a pointer into the object it was moved from.
  reasm_.set_late_handshake_probe(state_ == ClientState::established && hs_ ? &*hs_ : nullptr);
  std::error_code first_error;  // the first of several errors in one notification is returned
  while (!in.empty()) {
    auto unit = reasm_.next(in);
    if (!unit) {
      if (state_ != ClientState::established) return fail(unit.error());
      // A garbled header in the session: the record boundary is lost, so drop the rest of this
      // notification too (the next one starts a record again), report, keep the session.
      if (!pending_.empty()) fail_request(unit.error());
      if (!first_error) first_error = unit.error();
      break;
    }
    if (!*unit) break;
    auto r = handle_unit(**unit, now);
    if (!r) {
      if (state_ == ClientState::failed) return r;
      if (!first_error) first_error = r.error();
    }
  }
  return first_error;
}

Result<void> Client::handle_unit(const Reassembler::Unit& u, TimePoint now) {
  if (state_ == ClientState::established) {
    if (u.is_frame) {
      // No session record starts with 2A 2A, so a `**` frame here is one. A CHALLENGE means the
      // unit restarted the link (a reconnect the caller did not reset() for): start over with it.
      auto f = parse_frame(u.bytes);
      if (!f || f->type != static_cast<std::uint8_t>(FrameType::challenge) || f->payload.size() != 4)
        return Errc::unexpected_message;
      while (!pending_.empty()) fail_request(make_error_code(Errc::session_restarted));
      state_ = ClientState::wait_challenge;
      return on_challenge(*f, now);
    }
    if (u.late_handshake) return {};  // a repeated DEVICE_PUBKEY / PUBKEY_ACCEPTED: already done
    return on_session_record(u.bytes, now);
  }
  if (u.is_frame) {
    auto f = parse_frame(u.bytes);
    if (!f) return fail(f.error());
    switch (static_cast<FrameType>(f->type)) {
      case FrameType::challenge: return on_challenge(*f, now);
      case FrameType::challenge_accepted:
        if (f->payload.size() != 1) return fail(make_error_code(Errc::frame_bad_payload));
        if ((state_ == ClientState::wait_device_key || state_ == ClientState::wait_pubkey_accepted) && f->payload[0] == 0)
          return {};  // a duplicate: the unit answers every copy of a repeated CHALLENGE_RESPONSE
        if (state_ != ClientState::wait_challenge_accepted) return fail(make_error_code(Errc::unexpected_message));
        if (f->payload[0] != 0) return fail(make_error_code(Errc::challenge_rejected));
        state_ = ClientState::wait_device_key;
        step_deadline_ = now + cfg_.step_timeout;
        events_.push_back(events::ChallengeAccepted{});
        return {};
      case FrameType::pubkey_accepted:  // ESPHome accepts it in plain as well
        return on_pubkey_accepted(*f);
      default: return fail(make_error_code(Errc::frame_unexpected_type));
    }
  }
  // A handshake record.
  if (!hs_ || (state_ != ClientState::wait_device_key && state_ != ClientState::wait_pubkey_accepted))
    return fail(make_error_code(state_ == ClientState::wait_challenge_accepted ? Errc::unexpected_message : Errc::record_unexpected));
  auto plain = hs_->open(u.bytes);
  if (!plain) return fail(plain.error());
  auto f = parse_frame(*plain);
  if (!f) return fail(f.error());
  if (f->type == static_cast<std::uint8_t>(FrameType::device_pubkey)) return on_device_pubkey(*f, now);
  if (f->type == static_cast<std::uint8_t>(FrameType::pubkey_accepted)) return on_pubkey_accepted(*f);
  return fail(make_error_code(Errc::frame_unexpected_type));
}

Result<void> Client::on_challenge(const Frame& f, TimePoint now) {
  if (f.payload.size() != 4) return fail(make_error_code(Errc::frame_bad_payload));
  if (state_ == ClientState::wait_challenge_accepted && equal(f.payload, challenge_)) {
    tx_.push_back(challenge_response_);  // the unit repeats an unanswered challenge: answer again
    return {};
  }
  if (state_ != ClientState::wait_challenge && state_ != ClientState::wait_challenge_accepted) {
    // A challenge in the middle of the key exchange: the unit restarted. Start over with it.
    if (!challenge_.empty() && equal(f.payload, challenge_)) return {};  // late repeat: ignore
  }
  wipe();
  challenge_ = f.payload;
  hs_keys_ = derive_handshake_keys(*md5_, challenge_);
  auto hs = HandshakeCipher::create(*cfg_.backend, *hs_keys_);
  if (!hs) return fail(hs.error());
  hs_ = std::move(*hs);
  challenge_response_ = encode_frame(FrameType::challenge_response, ByteView(hs_keys_->iv).subspan(8, 4));
  tx_.push_back(challenge_response_);
  state_ = ClientState::wait_challenge_accepted;
  step_deadline_ = now + cfg_.step_timeout;
  events_.push_back(events::ChallengeAnswered{});
  return {};
}

Result<void> Client::on_device_pubkey(const Frame& f, TimePoint now) {
  if (f.payload.size() != 128) return fail(make_error_code(Errc::frame_bad_payload));
  if (!hs_keys_ || !hs_) return fail(make_error_code(Errc::unexpected_message));
  const ByteView qd = ByteView(f.payload).first(64);
  if (state_ == ClientState::wait_pubkey_accepted && equal(qd, device_key_raw_) && !client_record_.empty()) {
    tx_.push_back(client_record_);  // repeated DEVICE_PUBKEY: re-send the cached client record
    return {};
  }
  if (!cfg_.device_verify_key || !cfg_.client_signing_key || !hs_keys_ || !hs_) return fail(make_error_code(Errc::invalid_key));
  Bytes signed_msg = concat({qd, hs_keys_->iv.view()});
  crypto::P256Signature sig{};
  std::copy(f.payload.begin() + 64, f.payload.end(), sig.begin());
  if (!cfg_.device_verify_key->verify(signed_msg, sig)) return fail(make_error_code(Errc::device_signature_invalid));
  auto peer = cfg_.backend->p256_public_key(qd);
  if (!peer) return fail(make_error_code(Errc::peer_key_invalid));
  auto eph = cfg_.backend->p256_generate(*rng_);
  if (!eph) return fail(make_error_code(Errc::crypto_failure));
  auto shared = (*eph)->ecdh(**peer);
  if (!shared) return fail(make_error_code(Errc::crypto_failure));
  auto session = SessionCipher::create(*cfg_.backend, *shared);
  if (!session) return fail(session.error());
  Bytes payload((*eph)->public_raw().begin(), (*eph)->public_raw().end());
  Bytes to_sign = concat({payload, hs_keys_->iv.view()});
  auto my_sig = cfg_.client_signing_key->sign(to_sign);
  if (!my_sig) return fail(make_error_code(Errc::crypto_failure));
  append(payload, *my_sig);
  auto record = hs_->seal(encode_frame(FrameType::client_pubkey, payload));
  if (!record) return fail(record.error());
  session_ = std::move(*session);
  device_key_raw_.assign(qd.begin(), qd.end());
  client_record_ = *record;
  tx_.push_back(std::move(*record));
  state_ = ClientState::wait_pubkey_accepted;
  step_deadline_ = now + cfg_.step_timeout;
  events_.push_back(events::DeviceKeyVerified{});
  return {};
}

Result<void> Client::on_pubkey_accepted(const Frame& f) {
  if (state_ != ClientState::wait_pubkey_accepted) return fail(make_error_code(Errc::unexpected_message));
  if (f.payload.size() != 1) return fail(make_error_code(Errc::frame_bad_payload));
  if (f.payload[0] != 0) return fail(make_error_code(Errc::pubkey_rejected));
  // Session up: the handshake IV, challenge and cached record are no longer needed. The
  // handshake cipher stays (K_h derives from the public challenge, it protects nothing) so that a
  // late handshake record (a repeated DEVICE_PUBKEY or PUBKEY_ACCEPTED) is recognised and skipped
  // instead of desynchronising the session stream; reset() wipes it.
  hs_keys_.reset();
  challenge_.clear();
  challenge_response_.clear();
  secure_wipe(client_record_.data(), client_record_.size());
  client_record_.clear();
  device_key_raw_.clear();
  reasm_.set_header_size(kSessionHeader);
  reasm_.set_late_handshake_probe(hs_ ? &*hs_ : nullptr);
  state_ = ClientState::established;
  step_deadline_.reset();
  events_.push_back(events::Established{});
  return {};
}

Result<void> Client::on_session_record(ByteView record, TimePoint) {
  if (!session_) return Errc::not_established;
  auto plain = session_->open(record);
  if (!plain) {
    if (!pending_.empty()) fail_request(plain.error());
    return plain.error();
  }
  if (!pending_.empty()) {
    auto resp = modbus::parse_response(*plain);
    if (resp && !modbus::check_answers(pending_.front().request, *resp)) {
      // Not the oldest request's answer, but maybe a later one's: a unit that does not answer a
      // request at all (EL30V2 and FC06) must not shift every later answer. Requests older than
      // the one answered are failed as unanswered.
      for (std::size_t k = 1; k < pending_.size(); ++k) {
        if (!modbus::check_answers(pending_.at(k).request, *resp)) continue;
        for (std::size_t i = 0; i < k; ++i) fail_request(make_error_code(Errc::request_unanswered));
        break;
      }
    }
    if (resp && modbus::check_answers(pending_.front().request, *resp)) {
      events_.push_back(events::Response{pending_.take().request, std::move(*resp), std::move(*plain)});
      return {};
    }
    const bool crc_ok = plain->size() >= 4 && modbus::crc16(ByteView(*plain).first(plain->size() - 2)) ==
                                                 load_le16(plain->data() + plain->size() - 2);
    if (!crc_ok) {
      // Integrity rests on the Modbus CRC: a corrupted record fails the outstanding request.
      fail_request(make_error_code(Errc::modbus_bad_crc), std::move(*plain));
      return Errc::modbus_bad_crc;
    }
  }
  events_.push_back(events::Data{std::move(*plain)});
  return {};
}

Result<void> Client::send_request(const modbus::Request& req, TimePoint now) {
  if (state_ != ClientState::established) return Errc::not_established;
  auto adu = modbus::encode_request(req);
  if (!adu) return Unexpected{adu.error()};
  if (!session_) return Errc::not_established;
  auto record = session_->seal(*adu, *rng_);
  if (!record) return Unexpected{as_bluetti_error(record.error())};
  tx_.push_back(std::move(*record));
  pending_.push_back({req, now + cfg_.request_timeout});
  return {};
}

Result<Bytes> Client::seal(ByteView plaintext) {
  if (state_ != ClientState::established || !session_) return Errc::not_established;
  auto record = session_->seal(plaintext, *rng_);
  if (!record) return Unexpected{as_bluetti_error(record.error())};
  return record;
}

}  // namespace blecrypt::bluetti
