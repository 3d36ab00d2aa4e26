// BLUETTI device engine (the emulator side of the handshake) and the emulated power stations.
#include "blecrypt/bluetti/device.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace blecrypt::bluetti {

// ---- device engine ------------------------------------------------------------------------

const char* device_state_name(DeviceState s) noexcept {
  switch (s) {
    case DeviceState::idle: return "idle";
    case DeviceState::challenge_sent: return "challenge sent";
    case DeviceState::wait_client_key: return "waiting for CLIENT_PUBKEY";
    case DeviceState::established: return "established";
    case DeviceState::failed: return "failed";
  }
  return "?";
}

Result<DeviceConfig> DeviceConfig::make(const crypto::Backend& backend, ByteView scalar) {
  DeviceConfig c;
  c.backend = &backend;
  auto key = backend.p256_from_private(scalar.empty() ? ByteView(kTestDeviceSigningKey) : scalar);
  if (!key) return Errc::invalid_key;
  c.signing_key = std::move(*key);
  auto l1 = backend.p256_public_key(kPublicKeyL1);
  if (!l1) return Errc::invalid_key;
  c.client_verify_key = std::move(*l1);
  return c;
}

Device::Device(DeviceConfig cfg, PowerStation station, crypto::Rng& rng)
    : cfg_(std::move(cfg)), station_(std::move(station)), rng_(&rng) {
  if (cfg_.backend == nullptr) cfg_.backend = &crypto::default_backend();
  md5_ = cfg_.backend->md5();
  if (!cfg_.signing_key) {
    if (auto k = cfg_.backend->p256_from_private(kTestDeviceSigningKey)) cfg_.signing_key = std::move(*k);
  }
  if (!cfg_.client_verify_key) {
    if (auto k = cfg_.backend->p256_public_key(kPublicKeyL1)) cfg_.client_verify_key = std::move(*k);
  }
}

Device::~Device() { wipe(); }
Device::Device(Device&&) noexcept = default;
Device& Device::operator=(Device&&) noexcept = default;

const crypto::P256Raw& Device::verify_key() const noexcept {
  static const crypto::P256Raw none{};
  return cfg_.signing_key ? cfg_.signing_key->public_raw() : none;
}

void Device::wipe() {
  reasm_.set_late_handshake_probe(nullptr);
  challenge_frame_.clear();
  hs_keys_.reset();
  hs_.reset();
  accepted_frame_.clear();
  device_record_.clear();
  ephemeral_.reset();
  session_.reset();
  reasm_.clear();
  reasm_.set_header_size(kHandshakeHeader);
}

bool Device::holds_no_secrets() const noexcept {
  return !hs_keys_ && !hs_ && !session_ && !ephemeral_ && challenge_frame_.empty() && reasm_.buffered() == 0;
}

void Device::reset() {
  wipe();
  tx_.clear();
  events_.clear();
  deadline_.reset();
  failure_ = {};
  state_ = DeviceState::idle;
}

Result<void> Device::fail(std::error_code e) {
  wipe();
  deadline_.reset();
  failure_ = e;
  state_ = DeviceState::failed;
  events_.push_back(events::Failed{e});
  return e;
}

void Device::on_link_up(TimePoint now) {
  // Events not yet polled stay; everything of an earlier connection is wiped.
  wipe();
  tx_.clear();
  deadline_.reset();
  failure_ = {};
  state_ = DeviceState::idle;
  station_.tick(now);
  Bytes c(4);
  rng_->fill(c);
  hs_keys_ = derive_handshake_keys(*md5_, c);
  auto hs = HandshakeCipher::create(*cfg_.backend, *hs_keys_);
  if (!hs) {
    (void)fail(hs.error());
    return;
  }
  hs_ = std::move(*hs);
  challenge_frame_ = encode_frame(FrameType::challenge, c);
  tx_.push_back(challenge_frame_);
  state_ = DeviceState::challenge_sent;
  repeats_left_ = cfg_.challenge_repeats;
  deadline_ = now + cfg_.challenge_interval;
  events_.push_back(events::ChallengeSent{});
}

void Device::on_link_down() {
  wipe();
  tx_.clear();
  deadline_.reset();
  failure_ = {};
  state_ = DeviceState::idle;
}

std::optional<Bytes> Device::poll_transmit() {
  if (tx_.empty()) return std::nullopt;
  return tx_.take();
}

std::optional<Device::Event> Device::poll_event() {
  if (events_.empty()) return std::nullopt;
  return events_.take();
}

std::optional<TimePoint> Device::next_deadline() const { return deadline_; }

void Device::on_deadline(TimePoint now) {
  if (!deadline_ || *deadline_ > now) return;
  if (state_ == DeviceState::challenge_sent && repeats_left_ > 0) {
    --repeats_left_;
    tx_.push_back(challenge_frame_);  // the same challenge, as real units do
    deadline_ = now + cfg_.challenge_interval;
    return;
  }
  (void)fail(make_error_code(Errc::timeout));
}

Result<void> Device::feed(ByteView in, TimePoint now) {
  if (state_ == DeviceState::failed) return Errc::handshake_failed;
  if (state_ == DeviceState::idle) return Errc::unexpected_message;
  // The late-handshake probe points into this object: set here so a moved engine stays sound.
  reasm_.set_late_handshake_probe(state_ == DeviceState::established && hs_ ? &*hs_ : nullptr);
  std::error_code first_error;  // the first of several errors in one write is returned
  while (!in.empty()) {
    auto unit = reasm_.next(in);
    if (!unit) {
      if (state_ != DeviceState::established) return fail(unit.error());
      events_.push_back(events::RequestRejected{unit.error()});
      if (!first_error) first_error = unit.error();
      break;  // the record boundary is lost: drop the rest of this write
    }
    if (!*unit) break;
    auto r = handle_unit(**unit, now);
    if (!r) {
      if (state_ == DeviceState::failed) return r;
      if (!first_error) first_error = r.error();
    }
  }
  return first_error;
}

Result<void> Device::handle_unit(const Reassembler::Unit& u, TimePoint now) {
  switch (state_) {
    case DeviceState::challenge_sent: {
      if (!hs_keys_ || !hs_) return fail(make_error_code(Errc::unexpected_message));
      if (!u.is_frame) return fail(make_error_code(Errc::unexpected_message));
      auto f = parse_frame(u.bytes);
      if (!f) return fail(f.error());
      if (f->type != static_cast<std::uint8_t>(FrameType::challenge_response)) return fail(make_error_code(Errc::frame_unexpected_type));
      if (f->payload.size() != 4) return fail(make_error_code(Errc::frame_bad_payload));
      if (!equal(f->payload, ByteView(hs_keys_->iv).subspan(8, 4))) {
        const std::uint8_t rejected = 0x01;
        tx_.push_back(encode_frame(FrameType::challenge_accepted, ByteView(&rejected, 1)));
        return fail(make_error_code(Errc::challenge_mismatch));
      }
      const std::uint8_t ok = 0x00;
      accepted_frame_ = encode_frame(FrameType::challenge_accepted, ByteView(&ok, 1));
      auto eph = cfg_.backend->p256_generate(*rng_);
      if (!eph || !cfg_.signing_key) return fail(make_error_code(Errc::crypto_failure));
      ephemeral_ = std::move(*eph);
      Bytes payload(ephemeral_->public_raw().begin(), ephemeral_->public_raw().end());
      auto sig = cfg_.signing_key->sign(concat({payload, hs_keys_->iv.view()}));
      if (!sig) return fail(make_error_code(Errc::crypto_failure));
      append(payload, *sig);
      auto record = hs_->seal(encode_frame(FrameType::device_pubkey, payload));
      if (!record) return fail(record.error());
      device_record_ = std::move(*record);
      tx_.push_back(accepted_frame_);  // separate notifications, as real units send them
      tx_.push_back(device_record_);
      state_ = DeviceState::wait_client_key;
      deadline_ = now + cfg_.step_timeout;
      events_.push_back(events::ChallengeVerified{});
      return {};
    }
    case DeviceState::wait_client_key: {
      if (!hs_keys_ || !hs_ || !ephemeral_) return fail(make_error_code(Errc::unexpected_message));
      if (u.is_frame) {
        auto f = parse_frame(u.bytes);
        if (!f) return fail(f.error());
        if (f->type == static_cast<std::uint8_t>(FrameType::challenge_response) && f->payload.size() == 4 &&
            equal(f->payload, ByteView(hs_keys_->iv).subspan(8, 4))) {
          tx_.push_back(accepted_frame_);  // the client missed our answer: send it again
          tx_.push_back(device_record_);
          return {};
        }
        return fail(make_error_code(Errc::frame_unexpected_type));
      }
      auto reject = [&](std::error_code e) {
        const std::uint8_t bad = 0x01;
        if (auto r = hs_->seal(encode_frame(FrameType::pubkey_accepted, ByteView(&bad, 1)))) tx_.push_back(std::move(*r));
        return fail(as_bluetti_error(e));
      };
      auto plain = hs_->open(u.bytes);
      if (!plain) return reject(plain.error());
      auto f = parse_frame(*plain);
      if (!f) return reject(f.error());
      if (f->type != static_cast<std::uint8_t>(FrameType::client_pubkey)) return reject(make_error_code(Errc::frame_unexpected_type));
      if (f->payload.size() != 128) return reject(make_error_code(Errc::frame_bad_payload));
      const ByteView qc = ByteView(f->payload).first(64);
      crypto::P256Signature sig{};
      std::copy(f->payload.begin() + 64, f->payload.end(), sig.begin());
      if (!cfg_.client_verify_key || !cfg_.client_verify_key->verify(concat({qc, hs_keys_->iv.view()}), sig))
        return reject(make_error_code(Errc::client_signature_invalid));
      auto peer = cfg_.backend->p256_public_key(qc);
      if (!peer) return reject(make_error_code(Errc::peer_key_invalid));
      auto shared = ephemeral_->ecdh(**peer);
      if (!shared) return reject(make_error_code(Errc::crypto_failure));
      auto session = SessionCipher::create(*cfg_.backend, *shared);
      if (!session) return reject(make_error_code(Errc::crypto_failure));
      const std::uint8_t ok = 0x00;
      auto accepted = hs_->seal(encode_frame(FrameType::pubkey_accepted, ByteView(&ok, 1)));
      if (!accepted) return reject(make_error_code(Errc::crypto_failure));
      tx_.push_back(std::move(*accepted));
      session_ = std::move(*session);
      // The handshake secrets are done with. The handshake cipher (K_h, derived from the public
      // challenge) stays to recognise a late duplicate CLIENT_PUBKEY record (a client that saw
      // DEVICE_PUBKEY twice re-sends its cached record) instead of misreading it as a session
      // record; reset() wipes it.
      ephemeral_.reset();
      hs_keys_.reset();
      challenge_frame_.clear();
      accepted_frame_.clear();
      device_record_.clear();
      reasm_.set_header_size(kSessionHeader);
      reasm_.set_late_handshake_probe(hs_ ? &*hs_ : nullptr);
      state_ = DeviceState::established;
      deadline_.reset();
      events_.push_back(events::Established{});
      return {};
    }
    case DeviceState::established: {
      if (u.is_frame) {
        events_.push_back(events::RequestRejected{make_error_code(Errc::unexpected_message)});
        return Errc::unexpected_message;
      }
      if (u.late_handshake) return {};  // a duplicate CLIENT_PUBKEY: the session is already up
      if (!session_) return Errc::not_established;
      auto plain = session_->open(u.bytes);
      if (!plain) {
        events_.push_back(events::RequestRejected{plain.error()});
        return plain.error();
      }
      auto req = modbus::parse_request(*plain);
      if (!req) {
        // Like a Modbus slave: a corrupted request (bad CRC) gets no answer; a bad function or
        // count gets an exception.
        events_.push_back(events::RequestRejected{req.error()});
        std::optional<std::uint8_t> code;
        if (req.error() == make_error_code(Errc::modbus_bad_function)) code = modbus::illegal_function;
        if (req.error() == make_error_code(Errc::modbus_bad_count)) code = modbus::illegal_value;
        if (code && plain->size() >= 2) {
          auto answer = session_->seal(modbus::encode_exception((*plain)[1], *code), *rng_);
          if (!answer) return Unexpected{as_bluetti_error(answer.error())};
          tx_.push_back(std::move(*answer));
        }
        return req.error();
      }
      auto resp = station_.handle(*req, now);
      auto record = session_->seal(modbus::encode_response(resp), *rng_);
      if (!record) return Unexpected{as_bluetti_error(record.error())};
      tx_.push_back(std::move(*record));
      events_.push_back(events::RequestServed{std::move(*req)});
      return {};
    }
    default: return Errc::unexpected_message;
  }
}

Result<void> Device::send_plaintext(ByteView plaintext) {
  if (state_ != DeviceState::established || !session_) return Errc::not_established;
  auto record = session_->seal(plaintext, *rng_);
  if (!record) return Unexpected{as_bluetti_error(record.error())};
  tx_.push_back(std::move(*record));
  return {};
}

}  // namespace blecrypt::bluetti
