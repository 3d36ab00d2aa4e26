// The channel engine: OpenSSL TLS 1.3 over two memory BIOs, driven by feed()/poll_*().
#include "blecrypt/channel/channel.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>

#include "blecrypt/channel/keys.hpp"
#include "blecrypt/channel/record.hpp"
#include "blecrypt/fifo.hpp"

namespace blecrypt::channel {
namespace {

// TLS_AES_128_GCM_SHA256 (RFC 8446 B.4): the PSK's hash is SHA-256, as in openssl s_server/s_client.
constexpr unsigned char kAes128GcmSha256[] = {0x13, 0x01};
// The PSK has a SHA-256 hash, so only SHA-256 suites can use it (RFC 8446 4.2.11).
constexpr const char* kPskSuites = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

bool is_psk(const Config& c) { return std::holds_alternative<PskMode>(c.mode); }

std::string seconds_text(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

std::string openssl_reason(unsigned long e) {
  if (e == 0) return {};
  const char* r = ERR_reason_error_string(e);
  return r != nullptr ? std::string(" (OpenSSL: ") + r + ")" : std::string();
}

Bytes cert_fingerprint(X509* cert) {
  Bytes md(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md.data(), &len) != 1) return {};
  md.resize(len);
  return md;
}

}  // namespace

std::string format_fingerprint(ByteView fp) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < fp.size(); ++i) {
    if (i) out.push_back(':');
    out.push_back(digits[fp[i] >> 4]);
    out.push_back(digits[fp[i] & 15]);
  }
  return out;
}

Result<void> validate(const Config& cfg) {
  if (const auto* psk = std::get_if<PskMode>(&cfg.mode)) {
    if (psk->key.size() != kPskSize) return Errc::invalid_config;
    if (psk->identity.empty() || psk->identity.size() > 128) return Errc::invalid_config;
  } else {
    const auto& id = std::get<IdentityMode>(cfg.mode);
    SecretBytes pem(id.private_key_pem.size() + id.certificate_pem.size());  // one buffer, wiped when it goes
    std::copy(id.private_key_pem.view().begin(), id.private_key_pem.view().end(), pem.data());
    std::copy(id.certificate_pem.begin(), id.certificate_pem.end(), pem.data() + id.private_key_pem.size());
    auto parsed = parse_identity(pem);
    if (!parsed) return Unexpected{parsed.error()};
    if (id.peer_fingerprint && id.peer_fingerprint->size() != 32) return Errc::fingerprint_format;
  }
  if (cfg.max_transmit != 0 && cfg.max_transmit < 23) return Errc::invalid_config;
  if (cfg.handshake_timeout <= Duration::zero() || cfg.stall_timeout <= Duration::zero()) return Errc::invalid_config;
  if (cfg.key_update_records == 0) return Errc::invalid_config;
  return ok();
}

struct Channel::Impl {
  explicit Impl(Config c) : cfg(std::move(c)) {}
  ~Impl() {
    free_session();
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }

  Config cfg;
  State state = State::idle;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  BIO* rbio = nullptr;  // owned by ssl
  BIO* wbio = nullptr;  // owned by ssl
  RecordFramer framer;
  Fifo<Bytes> tx;
  Fifo<Event> events;
  Bytes pending;        // application data queued before the handshake completed
  bool close_requested = false;
  bool sent_close = false;
  std::uint64_t records_under_key = 0;  // records we sent under the current write key
  std::uint64_t key_updates = 0;
  TimePoint handshake_deadline{};
  TimePoint last_rx{};
  // What the callbacks saw, for an error message the user can act on.
  bool psk_callback_called = false;
  std::string psk_identity_offered;
  bool psk_identity_unknown = false;
  bool certificate_in_psk_mode = false;
  bool fingerprint_mismatch = false;
  Bytes seen_fingerprint;
  std::error_code last_error;

  // ---- setup --------------------------------------------------------------------------------
  static Impl* from(SSL* s) { return static_cast<Impl*>(SSL_get_app_data(s)); }

  static int psk_use_session(SSL* s, const EVP_MD* md, const unsigned char** id, std::size_t* idlen, SSL_SESSION** sess) {
    Impl* self = from(s);
    *sess = nullptr;
    const auto& psk = std::get<PskMode>(self->cfg.mode);
    const SSL_CIPHER* cipher = SSL_CIPHER_find(s, kAes128GcmSha256);
    if (cipher == nullptr) return 0;
    if (md != nullptr && SSL_CIPHER_get_handshake_digest(cipher) != md) return 1;  // no PSK for a SHA-384 suite
    SSL_SESSION* session = make_session(s, psk.key);
    if (session == nullptr) return 0;
    *id = reinterpret_cast<const unsigned char*>(psk.identity.data());
    *idlen = psk.identity.size();
    *sess = session;  // OpenSSL takes ownership
    self->psk_callback_called = true;
    return 1;
  }

  static int psk_find_session(SSL* s, const unsigned char* id, std::size_t idlen, SSL_SESSION** sess) {
    Impl* self = from(s);
    *sess = nullptr;
    self->psk_callback_called = true;
    const auto& psk = std::get<PskMode>(self->cfg.mode);
    self->psk_identity_offered.assign(reinterpret_cast<const char*>(id), std::min<std::size_t>(idlen, 128));
    if (!equal(ByteView(id, idlen), as_bytes(psk.identity))) {
      self->psk_identity_unknown = true;
      return 1;  // no session: this identity is not ours
    }
    self->psk_identity_unknown = false;
    *sess = make_session(s, psk.key);
    return *sess != nullptr ? 1 : 0;
  }

  static SSL_SESSION* make_session(SSL* s, const SecretBytes& key) {
    const SSL_CIPHER* cipher = SSL_CIPHER_find(s, kAes128GcmSha256);
    SSL_SESSION* session = SSL_SESSION_new();
    if (session == nullptr || cipher == nullptr || SSL_SESSION_set1_master_key(session, key.data(), key.size()) != 1 ||
        SSL_SESSION_set_cipher(session, cipher) != 1 || SSL_SESSION_set_protocol_version(session, TLS1_3_VERSION) != 1) {
      SSL_SESSION_free(session);
      return nullptr;
    }
    return session;
  }

  // Replaces chain building: the peer's leaf certificate is judged by its fingerprint only.
  static int verify_certificate(X509_STORE_CTX* store, void*) {
    SSL* s = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    Impl* self = s != nullptr ? from(s) : nullptr;
    if (self == nullptr) return 0;
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    if (is_psk(self->cfg)) {  // a server that answers a PSK client with a certificate is not our peer
      self->certificate_in_psk_mode = true;
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
      return 0;
    }
    self->seen_fingerprint = leaf != nullptr ? cert_fingerprint(leaf) : Bytes{};
    const auto& pin = std::get<IdentityMode>(self->cfg.mode).peer_fingerprint;
    if (self->seen_fingerprint.size() != 32 || (pin && !equal(*pin, self->seen_fingerprint))) {
      self->fingerprint_mismatch = true;
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
      return 0;
    }
    return 1;
  }

  Result<void> build_context() {
    if (ctx != nullptr) return ok();
    BLECRYPT_TRY_VOID(validate(cfg));
    SSL_CTX* c = SSL_CTX_new(cfg.role == Role::client ? TLS_client_method() : TLS_server_method());
    if (c == nullptr) return Errc::tls_internal;
    bool good = SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) == 1 && SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) == 1;
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    good = good && SSL_CTX_set_num_tickets(c, 0) == 1;  // no resumption tickets: every connection is a full handshake
    if (const auto* psk = std::get_if<PskMode>(&cfg.mode)) {
      (void)psk;
      good = good && SSL_CTX_set_ciphersuites(c, kPskSuites) == 1;
      if (cfg.role == Role::client) {
        SSL_CTX_set_psk_use_session_callback(c, psk_use_session);
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_cert_verify_callback(c, verify_certificate, nullptr);
      } else {
        SSL_CTX_set_psk_find_session_callback(c, psk_find_session);
      }
    } else {
      const auto& id = std::get<IdentityMode>(cfg.mode);
      BIO* kb = BIO_new_mem_buf(id.private_key_pem.data(), static_cast<int>(id.private_key_pem.size()));
      BIO* cb = BIO_new_mem_buf(id.certificate_pem.data(), static_cast<int>(id.certificate_pem.size()));
      EVP_PKEY* key = kb != nullptr ? PEM_read_bio_PrivateKey(kb, nullptr, nullptr, const_cast<char*>("")) : nullptr;
      X509* cert = cb != nullptr ? PEM_read_bio_X509(cb, nullptr, nullptr, nullptr) : nullptr;
      good = good && key != nullptr && cert != nullptr && SSL_CTX_use_certificate(c, cert) == 1 &&
             SSL_CTX_use_PrivateKey(c, key) == 1 && SSL_CTX_check_private_key(c) == 1;
      EVP_PKEY_free(key);
      X509_free(cert);
      BIO_free(kb);
      BIO_free(cb);
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      SSL_CTX_set_cert_verify_callback(c, verify_certificate, nullptr);
    }
    ERR_clear_error();
    if (!good) {
      SSL_CTX_free(c);
      return Errc::tls_internal;
    }
    ctx = c;
    return ok();
  }

  void free_session() {
    if (ssl != nullptr) SSL_free(ssl);  // frees the BIOs; OpenSSL cleanses the traffic secrets
    ssl = nullptr;
    rbio = wbio = nullptr;
    framer.reset();
    secure_wipe(pending.data(), pending.size());
    pending.clear();
    close_requested = sent_close = false;
    records_under_key = key_updates = 0;
    psk_callback_called = psk_identity_unknown = certificate_in_psk_mode = fingerprint_mismatch = false;
    psk_identity_offered.clear();
    seen_fingerprint.clear();
  }

  // ---- running ------------------------------------------------------------------------------
  void drain() {
    if (wbio == nullptr) return;
    const std::size_t n = BIO_ctrl_pending(wbio);
    if (n == 0) return;
    Bytes all(n);
    const int got = BIO_read(wbio, all.data(), static_cast<int>(n));
    if (got <= 0) return;
    all.resize(static_cast<std::size_t>(got));
    if (cfg.max_transmit == 0 || all.size() <= cfg.max_transmit) {
      tx.push_back(std::move(all));
      return;
    }
    for (std::size_t off = 0; off < all.size(); off += cfg.max_transmit) {
      const std::size_t len = std::min(cfg.max_transmit, all.size() - off);
      tx.push_back(Bytes(all.begin() + static_cast<std::ptrdiff_t>(off), all.begin() + static_cast<std::ptrdiff_t>(off + len)));
    }
  }

  void fail(Errc e, std::string message) {
    drain();  // the alert OpenSSL queued, if any, still goes out
    free_session();
    state = State::failed;
    last_error = make_error_code(e);
    events.push_back(Failed{last_error, std::move(message)});
  }

  // Turns the OpenSSL error queue plus what the callbacks saw into one error and message.
  void fail_from_openssl(int ssl_error) {
    const unsigned long e = ERR_peek_last_error();
    const int reason = e != 0 ? ERR_GET_REASON(e) : 0;
    const bool handshaking = state == State::handshaking;
    const std::string detail = openssl_reason(e);
    ERR_clear_error();
    const bool psk = is_psk(cfg);
    if (fingerprint_mismatch) {
      const auto& pin = std::get<IdentityMode>(cfg.mode).peer_fingerprint;
      return fail(Errc::fingerprint_mismatch, "channel: the peer's certificate fingerprint is " + format_fingerprint(seen_fingerprint) +
                                                  ", but " + (pin ? format_fingerprint(*pin) : std::string("another")) +
                                                  " is pinned: wrong device, a replaced identity, or an attacker in the middle");
    }
    if (certificate_in_psk_mode)
      return fail(Errc::unknown_psk_identity, "channel: the server answered with a certificate instead of accepting PSK identity '" +
                                                  std::get<PskMode>(cfg.mode).identity +
                                                  "': it has no PSK or uses another --psk-identity (refused)");
    if (psk && cfg.role == Role::server && psk_identity_unknown)
      return fail(Errc::unknown_psk_identity, "channel: the client offered PSK identity '" + psk_identity_offered + "', expected '" +
                                                  std::get<PskMode>(cfg.mode).identity + "' (set --psk-identity on one side)");
    if (psk && cfg.role == Role::server && handshaking && !psk_callback_called)
      return fail(Errc::unknown_psk_identity, "channel: the client offered no PSK (is it using --psk-file, TLS 1.3?)" + detail);
    // A server that cannot verify our binder answers decrypt_error (RFC 8446 4.2.11); OpenSSL 3.0
    // servers send illegal_parameter.
    if (reason == SSL_R_BINDER_DOES_NOT_VERIFY ||
        (psk && handshaking && cfg.role == Role::client &&
         (reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR || reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER)))
      return fail(Errc::wrong_psk, "channel: wrong PSK: the two sides hold different keys (compare the PSK files; "
                                   "`blecrypt channel keygen` makes one key for both)" + detail);
    if (psk && handshaking && cfg.role == Role::client && reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
      return fail(Errc::unknown_psk_identity, "channel: the server refused the handshake: it does not know PSK identity '" +
                                                  std::get<PskMode>(cfg.mode).identity + "' or has no PSK" + detail);
    if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
      return fail(Errc::no_peer_certificate, "channel: the client sent no certificate; it must use --identity" + detail);
    if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
      return fail(Errc::handshake_failed, "channel: the server requires a client certificate (it runs in identity mode; use --identity)" + detail);
    if (!psk && (reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN))
      return fail(Errc::fingerprint_mismatch, "channel: the peer rejected our certificate: the fingerprint it has pinned for us is "
                                              "not ours (show ours with `blecrypt channel fingerprint --identity F`)" + detail);
    if (reason == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC || reason == SSL_R_SSLV3_ALERT_BAD_RECORD_MAC)
      return fail(Errc::record_tampered, "channel: a TLS record failed authentication (modified or corrupted in transit); "
                                         "nothing of it was delivered and the channel is closed" + detail);
    if (handshaking)
      return fail(Errc::handshake_failed, "channel: TLS 1.3 handshake failed" + (detail.empty() ? " (SSL error " + std::to_string(ssl_error) + ")" : detail));
    if (reason > SSL_AD_REASON_OFFSET) return fail(Errc::peer_alert, "channel: the peer sent a fatal TLS alert" + detail);
    return fail(Errc::protocol_error, "channel: TLS protocol error" + (detail.empty() ? " (SSL error " + std::to_string(ssl_error) + ")" : detail));
  }

  // One SSL_write_ex per record (at most 2^14 bytes), so that records are counted exactly and a
  // KeyUpdate goes out before the write key has protected key_update_records of them.
  void write_plain(ByteView data) {
    std::size_t off = 0;
    while (off < data.size() && ssl != nullptr) {
      ERR_clear_error();
      if (records_under_key >= cfg.key_update_records) {
        if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {  // sent ahead of the next record
          fail_from_openssl(SSL_get_error(ssl, 0));
          return;
        }
        records_under_key = 0;
        ++key_updates;
      }
      std::size_t written = 0;
      const std::size_t len = std::min<std::size_t>(data.size() - off, SSL3_RT_MAX_PLAIN_LENGTH);
      if (SSL_write_ex(ssl, data.data() + off, len, &written) != 1) {
        fail_from_openssl(SSL_get_error(ssl, 0));
        return;
      }
      ++records_under_key;
      off += written;
    }
    drain();
  }

  void send_close_notify() {
    if (ssl == nullptr || sent_close) return;
    ERR_clear_error();
    (void)SSL_shutdown(ssl);  // queues close_notify; 0 = the peer's not seen yet
    ERR_clear_error();
    sent_close = true;
    drain();
  }

  void on_established() {
    state = State::established;
    HandshakeComplete hc;
    hc.version = SSL_get_version(ssl);
    hc.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    if (is_psk(cfg)) {
      if (SSL_session_reused(ssl) != 1)  // must have been authenticated by the PSK, nothing else
        return fail(Errc::unknown_psk_identity, "channel: the handshake completed without the PSK (refused)");
      hc.psk = true;
    } else {
      X509* peer = SSL_get0_peer_certificate(ssl);
      if (peer == nullptr) return fail(Errc::no_peer_certificate, "channel: the peer presented no certificate");
      hc.peer_fingerprint = cert_fingerprint(peer);
    }
    events.push_back(std::move(hc));
    if (!pending.empty()) {
      Bytes p = std::move(pending);
      pending.clear();
      write_plain(p);
      secure_wipe(p.data(), p.size());
    }
    if (close_requested && ssl != nullptr) {
      send_close_notify();
      state = State::closing;
    }
  }

  void drive() {
    if (state == State::handshaking) {
      ERR_clear_error();
      const int r = SSL_do_handshake(ssl);
      if (r != 1) {
        const int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          drain();
          return;
        }
        return fail_from_openssl(e);
      }
      on_established();
    }
    std::uint8_t buf[16384];
    while (ssl != nullptr && (state == State::established || state == State::closing)) {
      std::size_t n = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl, buf, sizeof buf, &n) == 1) {
        events.push_back(DataReceived{Bytes(buf, buf + n)});
        continue;
      }
      const int e = SSL_get_error(ssl, 0);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
      if (e == SSL_ERROR_ZERO_RETURN) {
        state = State::closed;
        events.push_back(ClosedByPeer{});
        break;
      }
      secure_wipe(buf, sizeof buf);
      return fail_from_openssl(e);
    }
    secure_wipe(buf, sizeof buf);
    drain();
  }
};

Channel::Channel(Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Channel::~Channel() = default;
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&&) noexcept = default;

State Channel::state() const noexcept { return impl_->state; }
std::uint64_t Channel::key_updates() const noexcept { return impl_->key_updates; }
const Config& Channel::config() const noexcept { return impl_->cfg; }

void Channel::on_link_up(TimePoint now) {
  auto& m = *impl_;
  if (m.state != State::idle) reset();
  m.handshake_deadline = now + m.cfg.handshake_timeout;
  m.last_rx = now;
  if (auto r = m.build_context(); !r) return m.fail(static_cast<Errc>(r.error().value() == static_cast<int>(Errc::tls_internal) ? Errc::tls_internal : Errc::invalid_config),
                                                    "channel: cannot start: " + r.error().message());
  m.ssl = SSL_new(m.ctx);
  m.rbio = BIO_new(BIO_s_mem());
  m.wbio = BIO_new(BIO_s_mem());
  if (m.ssl == nullptr || m.rbio == nullptr || m.wbio == nullptr) {
    BIO_free(m.rbio);
    BIO_free(m.wbio);
    m.rbio = m.wbio = nullptr;
    return m.fail(Errc::tls_internal, "channel: OpenSSL could not allocate a session");
  }
  BIO_set_mem_eof_return(m.rbio, -1);  // an empty input is "want more", not end of stream
  SSL_set_bio(m.ssl, m.rbio, m.wbio);
  SSL_set_app_data(m.ssl, &m);
  if (m.cfg.role == Role::client) SSL_set_connect_state(m.ssl);
  else SSL_set_accept_state(m.ssl);
  m.state = State::handshaking;
  if (m.cfg.role == Role::client) m.drive();
}

void Channel::on_link_down() {
  auto& m = *impl_;
  const bool mid = m.framer.mid_record();
  const std::string mid_text = mid ? " (" + std::to_string(m.framer.body_size() - m.framer.body_left()) + " of " +
                                         std::to_string(m.framer.body_size()) + " bytes of the last record arrived)"
                                   : std::string();
  switch (m.state) {
    case State::handshaking:
      m.fail(Errc::link_down, "channel: the stream closed before the TLS handshake completed (the peer refused or "
                              "does not speak TLS 1.3 with this mode)");
      break;
    case State::established:
      if (mid) m.fail(Errc::truncated_record, "channel: the stream closed in the middle of a TLS record" + mid_text + "; it was not delivered");
      else m.fail(Errc::closed_without_notify, "channel: the stream closed without a TLS close_notify: the peer stopped or "
                                               "the connection was cut, data after the last record may be missing");
      break;
    case State::closing:  // we sent close_notify, the peer's never came: its data may be cut short
      if (mid) m.fail(Errc::truncated_record, "channel: the stream closed in the middle of a TLS record" + mid_text + "; it was not delivered");
      else m.fail(Errc::closed_without_notify, "channel: the stream closed after our close_notify without the peer's: the peer "
                                               "stopped or the connection was cut, data it still had to send may be missing");
      break;
    default:
      break;
  }
  m.free_session();
  m.tx.clear();
  m.state = State::idle;
}

Result<void> Channel::feed(ByteView in, TimePoint now) {
  auto& m = *impl_;
  if (m.state != State::handshaking && m.state != State::established && m.state != State::closing) {
    if (m.state == State::closed && in.empty()) return ok();
    return Errc::not_connected;
  }
  if (in.empty()) return ok();
  m.last_rx = now;
  if (auto r = m.framer.feed(in); !r) {
    const auto e = static_cast<Errc>(r.error().value());
    m.fail(e, r.error().message() + (m.framer.records() == 0 ? "" : " (after " + std::to_string(m.framer.records()) + " good records)"));
    return r;
  }
  if (BIO_write(m.rbio, in.data(), static_cast<int>(in.size())) != static_cast<int>(in.size())) {
    m.fail(Errc::tls_internal, "channel: OpenSSL memory BIO write failed");
    return Errc::tls_internal;
  }
  m.drive();
  if (m.state == State::failed) return m.last_error;
  return ok();
}

std::optional<Bytes> Channel::poll_transmit() {
  if (impl_->tx.empty()) return std::nullopt;
  return impl_->tx.take();
}

std::optional<Event> Channel::poll_event() {
  if (impl_->events.empty()) return std::nullopt;
  return impl_->events.take();
}

std::optional<TimePoint> Channel::next_deadline() const {
  const auto& m = *impl_;
  std::optional<TimePoint> d;
  if (m.state == State::handshaking) d = m.handshake_deadline;
  if ((m.state == State::handshaking || m.state == State::established || m.state == State::closing) && m.framer.mid_record()) {
    const TimePoint stall = m.last_rx + m.cfg.stall_timeout;
    if (!d || stall < *d) d = stall;
  }
  return d;
}

void Channel::on_deadline(TimePoint now) {
  auto& m = *impl_;
  if (m.state == State::handshaking && now >= m.handshake_deadline)
    return m.fail(Errc::handshake_timeout, "channel: no TLS handshake within " + seconds_text(m.cfg.handshake_timeout) +
                                               " (is the peer running, using TLS 1.3 and the same mode?)");
  if ((m.state == State::handshaking || m.state == State::established || m.state == State::closing) && m.framer.mid_record() &&
      now >= m.last_rx + m.cfg.stall_timeout)
    return m.fail(Errc::peer_stalled, "channel: the peer stopped in the middle of a TLS record for " + seconds_text(m.cfg.stall_timeout) +
                                          " (" + std::to_string(m.framer.body_left()) + " bytes missing); nothing of it was delivered");
}

void Channel::reset() {
  auto& m = *impl_;
  m.free_session();
  m.tx.clear();
  m.events.clear();
  m.state = State::idle;
  m.last_error = {};
}

Result<void> Channel::send(ByteView plaintext) {
  auto& m = *impl_;
  switch (m.state) {
    case State::handshaking:
      if (m.close_requested) return Errc::closed;
      append(m.pending, plaintext);
      return ok();
    case State::established:
      if (plaintext.empty()) return ok();
      m.write_plain(plaintext);
      if (m.state == State::failed) return m.last_error;
      return ok();
    case State::closed:  // the peer closed its side; ours stays open until close() (half close)
      if (m.sent_close || m.ssl == nullptr) return Errc::closed;
      if (plaintext.empty()) return ok();
      m.write_plain(plaintext);
      if (m.state == State::failed) return m.last_error;
      return ok();
    case State::closing:
      return Errc::closed;
    default:
      return Errc::not_connected;
  }
}

void Channel::close() {
  auto& m = *impl_;
  switch (m.state) {
    case State::handshaking: m.close_requested = true; break;
    case State::established:
      m.send_close_notify();
      m.state = State::closing;
      break;
    case State::closed: m.send_close_notify(); break;
    default: break;
  }
}

}  // namespace blecrypt::channel
