// channel::Channel: an authenticated, encrypted channel (TLS 1.3, OpenSSL) over any byte stream
// (RFCOMM, LE L2CAP CoC, Unix, TCP), as a sans-IO engine: bytes from the peer go in with feed(),
// bytes for the peer come out of poll_transmit(), application events out of poll_event(), and
// time only enters through `now` and on_deadline(). OpenSSL runs over two memory BIOs; nothing
// here owns a socket, a thread or a clock (include/blecrypt/channel/socket.hpp is the IO edge).
//
// Two modes, both TLS 1.3 only (docs/channel.md says what each protects against):
//   * PSK: 32 random bytes provisioned out of band, TLS 1.3 external PSK with (EC)DHE
//     (psk_dhe_ke: forward secrecy), identity "blecrypt" by default, so
//     `openssl s_server -tls1_3 -psk HEX -psk_identity blecrypt -nocert` is a valid peer.
//   * identity: self-signed P-256 certificates on both sides (mutual authentication), the peer's
//     pinned by the SHA-256 fingerprint of its DER certificate (as `openssl x509 -fingerprint
//     -sha256` prints it). Without a pin every peer is accepted and the caller records the
//     fingerprint it got (trust on first use).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <variant>

#include "blecrypt/bytes.hpp"
#include "blecrypt/channel/errors.hpp"
#include "blecrypt/engine.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::channel {

enum class Role { client, server };

inline constexpr std::size_t kPskSize = 32;
inline constexpr const char* kDefaultPskIdentity = "blecrypt";

struct PskMode {
  SecretBytes key;                            // 32 bytes
  std::string identity = kDefaultPskIdentity;  // 1..128 bytes, sent in clear in the ClientHello
};

struct IdentityMode {
  SecretBytes private_key_pem;                // our P-256 private key (PEM)
  std::string certificate_pem;                // our self-signed certificate (PEM)
  std::optional<Bytes> peer_fingerprint;      // 32 bytes; nullopt = accept any peer (TOFU)
};

struct Config {
  Role role = Role::client;
  std::variant<PskMode, IdentityMode> mode;
  Duration handshake_timeout = std::chrono::seconds(15);
  // A peer that stops in the middle of a TLS record for this long fails the channel.
  Duration stall_timeout = std::chrono::seconds(30);
  // 0: poll_transmit() returns whatever is ready; else every chunk is at most this many bytes
  // (the send MTU of a SOCK_SEQPACKET link such as an LE L2CAP channel: 23..65535).
  std::size_t max_transmit = 0;
  // We send a TLS 1.3 KeyUpdate after this many records under one key. RFC 8446 5.5 says to update
  // keys before 2^24.5 full records under one AES-GCM key; OpenSSL does not do it by itself
  // (openssl/openssl#23566), so the channel does, well below that limit.
  std::uint64_t key_update_records = std::uint64_t{1} << 23;
};

// Checks a Config without starting anything (the PSK size, the identity's key and certificate).
Result<void> validate(const Config& cfg);

// ---- events --------------------------------------------------------------------------------
struct HandshakeComplete {
  std::string version;      // "TLSv1.3"
  std::string cipher;       // e.g. "TLS_AES_128_GCM_SHA256"
  bool psk = false;         // authenticated by the PSK (else by the pinned/recorded certificate)
  Bytes peer_fingerprint;   // identity mode: SHA-256 of the peer's DER certificate
};
struct DataReceived {
  Bytes data;               // authenticated plaintext, in order
};
struct ClosedByPeer {};     // the peer sent close_notify: everything it sent has arrived (we may still send)
struct Failed {
  std::error_code error;
  std::string message;      // what happened and what to check; never contains key material
};
using Event = std::variant<HandshakeComplete, DataReceived, ClosedByPeer, Failed>;

// closing: we sent close_notify, the peer may still send. closed: the peer sent close_notify;
// until we close() too we may still send (TLS 1.3 half close, RFC 8446 6.1).
enum class State { idle, handshaking, established, closing, closed, failed };

class Channel {
 public:
  using Event = channel::Event;

  explicit Channel(Config cfg);
  ~Channel();
  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // The byte stream is connected: starts a handshake (the client queues its ClientHello).
  void on_link_up(TimePoint now);
  // The stream closed: a handshake in progress fails, an open channel reports whether the close
  // was clean (the peer's close_notify arrived; else closed_without_notify or truncated_record,
  // also after our own close()); session keys are wiped and the channel goes back to idle.
  void on_link_down();
  // Bytes from the peer, any split. An error return means the channel failed (a Failed event is
  // queued too); nothing unauthenticated is ever delivered.
  Result<void> feed(ByteView in, TimePoint now);
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // Wipes the session (every TLS secret) and goes back to idle; the configured PSK/identity stay
  // for the next on_link_up() and are wiped when the Channel is destroyed.
  void reset();

  // Queues application data (sent once the handshake completes). Allowed until we close(), also
  // after the peer's close_notify (half close).
  Result<void> send(ByteView plaintext);
  // Sends close_notify once everything queued is out (half close: the peer may still send).
  void close();

  State state() const noexcept;
  bool established() const noexcept { return state() == State::established; }
  // KeyUpdates we sent in this session (see Config::key_update_records).
  std::uint64_t key_updates() const noexcept;
  const Config& config() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

static_assert(Engine<Channel>);

// "AB:CD:...": SHA-256 fingerprints as `openssl x509 -noout -fingerprint -sha256` prints them.
std::string format_fingerprint(ByteView fingerprint);

}  // namespace blecrypt::channel
