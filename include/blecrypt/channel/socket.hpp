// The channel's IO edge: Linux sockets for RFCOMM (SOCK_STREAM), LE L2CAP connection-oriented
// channels (SOCK_SEQPACKET, LE PSM), Unix and TCP, without libbluetooth (the few constants and
// address structs are declared in socket.cpp from the kernel's UAPI headers), and a blocking
// helper that runs a channel::Channel over a connected socket.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/fifo.hpp"

namespace blecrypt::channel {

struct Endpoint {
  enum class Kind { rfcomm, l2cap, unix_socket, tcp };
  Kind kind = Kind::tcp;
  std::string host;                       // tcp host, unix path
  std::array<std::uint8_t, 6> address{};  // Bluetooth address as written (AA is the first byte)
  std::uint16_t port = 0;                 // tcp port, RFCOMM channel (1..30), LE PSM (1..255)
  bool le_random = false;                 // l2cap: the peer's LE address is random (else public)
  bool seqpacket = false;                 // l2cap, or a unix socket opened as SOCK_SEQPACKET
  std::string text() const;               // "rfcomm AA:BB:..:FF channel 3", "tcp 127.0.0.1:4433"...
};

// "ADDR:CH", "ADDR:PSM", "HOST:PORT" ([v6]:port too), a path. Numbers are decimal.
Result<Endpoint> parse_rfcomm(std::string_view text);
Result<Endpoint> parse_l2cap(std::string_view text);
Result<Endpoint> parse_tcp(std::string_view text);
Result<Endpoint> parse_unix(std::string_view path, bool seqpacket = false);
Result<std::array<std::uint8_t, 6>> parse_bdaddr(std::string_view text);

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { int f = fd_; fd_ = -1; return f; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Failures carry a message with the errno text (socket edge only).
struct SocketError {
  std::error_code error;
  std::string message;
};
template <typename T>
struct SocketResult {
  std::optional<T> value;
  SocketError failure;
  explicit operator bool() const { return value.has_value(); }
};

SocketResult<Fd> connect_endpoint(const Endpoint& ep, Duration timeout);
SocketResult<Fd> listen_endpoint(const Endpoint& ep);
SocketResult<Fd> accept_connection(const Fd& listener, std::optional<Duration> timeout);
// The send MTU of a connected SEQPACKET socket (BT_SNDMTU for L2CAP); `fallback` otherwise.
std::size_t send_mtu(const Fd& fd, const Endpoint& ep, std::size_t fallback);
// Largest SDU the socket may deliver (BT_RCVMTU), at least 65535 for other SEQPACKET sockets.
std::size_t receive_mtu(const Fd& fd, const Endpoint& ep);

// A channel over a connected socket, blocking. For a SEQPACKET socket pass its send MTU: every
// write is one packet of at most that size, and packets are read whole (the TLS byte stream
// is their concatenation).
class SocketChannel {
 public:
  SocketChannel(Fd fd, Config cfg, bool seqpacket = false, std::size_t receive_mtu = 65535);

  // Runs the handshake; the event tells the cipher and the peer's fingerprint.
  Result<HandshakeComplete> handshake();
  Result<void> send(ByteView data);
  // The next authenticated data; an empty Bytes once the peer closed cleanly. `timeout` nullopt
  // waits as long as the channel's own deadlines allow.
  Result<Bytes> recv(std::optional<Duration> timeout = std::nullopt);
  // Sends close_notify (our half close: the peer may still send; recv() returns b"" once it
  // closes too). The socket stays open until the SocketChannel is destroyed.
  Result<void> close();
  // ncat-style, TLS 1.3 half close in both directions: in_fd -> channel, channel -> out_fd.
  // At in_fd's end of file we send close_notify and keep reading; at the peer's close_notify
  // out_fd is closed (whatever reads it sees end of file) and in_fd is still sent until its end.
  // Returns once both sides have closed; input is read only as fast as the peer takes it. `log`
  // gets the handshake and close lines (stderr in the CLI). Returns the failure, if any.
  Result<void> pump(int in_fd, int out_fd, std::ostream& log);

  // Called when the handshake completes (before any data is delivered); an error message
  // refuses the peer (the CLI records a trust-on-first-use fingerprint here).
  void set_on_connected(std::function<std::string(const HandshakeComplete&)> fn) { on_connected_ = std::move(fn); }
  const std::string& last_message() const { return message_; }
  Channel& engine() { return ch_; }
  int fd() const { return fd_.get(); }

 private:
  void take_transmit();
  Result<void> write_backlog(bool block);
  Result<void> flush();
  Result<void> receive(TimePoint now);
  Result<void> read_once(int timeout_ms);
  Result<void> handle_event(Event& ev, Bytes* data_out, std::ostream* log, int out_fd);
  int poll_timeout_ms(std::optional<TimePoint> extra) const;

  Fd fd_;
  Channel ch_;
  bool seqpacket_;
  std::size_t rx_mtu_;
  bool peer_closed_ = false;
  bool link_down_ = false;
  std::optional<HandshakeComplete> hello_;
  Fifo<Bytes> inbox_;
  Bytes rx_buffer_;
  Fifo<Bytes> backlog_;  // from the engine, not yet taken by the socket
  std::size_t backlog_off_ = 0, backlog_bytes_ = 0;
  TimePoint last_tx_progress_{};
  std::string message_;
  std::function<std::string(const HandshakeComplete&)> on_connected_;
};

}  // namespace blecrypt::channel
