// Sockets for the channel and the blocking SocketChannel. The Bluetooth pieces are declared here
// from the Linux kernel's UAPI (include/net/bluetooth/bluetooth.h, l2cap.h, rfcomm.h), so the
// GPL libbluetooth is not linked: AF_BLUETOOTH = 31, BTPROTO_L2CAP = 0, BTPROTO_RFCOMM = 3,
// SOL_BLUETOOTH = 274, BT_SECURITY = 4 (struct bt_security {u8 level; u8 key_size;}),
// BT_SECURITY_MEDIUM = 2 (encrypted link), BT_SNDMTU = 12, BT_RCVMTU = 13,
// BDADDR_LE_PUBLIC = 1, BDADDR_LE_RANDOM = 2; bdaddr_t holds the address least significant
// byte first (reversed from the written AA:BB:CC:DD:EE:FF).
#include "blecrypt/channel/socket.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>

namespace blecrypt::channel {
namespace {

constexpr int kAfBluetooth = 31;
constexpr int kBtProtoL2cap = 0;
constexpr int kBtProtoRfcomm = 3;
constexpr int kSolBluetooth = 274;
constexpr int kBtSecurity = 4;
constexpr int kBtSndMtu = 12;
constexpr int kBtRcvMtu = 13;
constexpr std::uint8_t kBtSecurityMedium = 2;
constexpr std::uint8_t kBdaddrLePublic = 1;
constexpr std::uint8_t kBdaddrLeRandom = 2;

struct BdAddr {
  std::uint8_t b[6];
};
struct SockaddrRc {
  sa_family_t rc_family;
  BdAddr rc_bdaddr;
  std::uint8_t rc_channel;
};
struct SockaddrL2 {
  sa_family_t l2_family;
  std::uint16_t l2_psm;  // little endian
  BdAddr l2_bdaddr;
  std::uint16_t l2_cid;
  std::uint8_t l2_bdaddr_type;
};
struct BtSecurity {
  std::uint8_t level;
  std::uint8_t key_size;
};

std::string errno_text(int e) { return std::strerror(e); }

SocketError sock_error(Errc e, std::string what) { return {make_error_code(e), std::move(what)}; }

template <typename T>
SocketResult<T> failure(Errc e, std::string what) {
  SocketResult<T> r;
  r.failure = sock_error(e, std::move(what));
  return r;
}

BdAddr to_bdaddr(const std::array<std::uint8_t, 6>& a) {
  BdAddr b{};
  for (int i = 0; i < 6; ++i) b.b[i] = a[static_cast<std::size_t>(5 - i)];
  return b;
}

std::string bdaddr_text(const std::array<std::uint8_t, 6>& a) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02X:%02X:%02X:%02X:%02X:%02X", a[0], a[1], a[2], a[3], a[4], a[5]);
  return buf;
}

template <typename Int>
bool parse_decimal(std::string_view s, Int& out) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;  // decimal only: no sign, no 0x
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  return ec == std::errc() && p == s.data() + s.size();
}

// socket() for Bluetooth, with the kernel-without-Bluetooth case named.
SocketResult<Fd> bt_socket(int type, int proto) {
  const int fd = ::socket(kAfBluetooth, type | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    const int e = errno;
    if (e == EAFNOSUPPORT || e == EPROTONOSUPPORT || e == ESOCKTNOSUPPORT || e == EPERM || e == EACCES)
      return failure<Fd>(Errc::bluetooth_unavailable,
                         "channel: Bluetooth sockets are not available here (socket(AF_BLUETOOTH): " + errno_text(e) +
                             "); this needs a Linux kernel with Bluetooth (modprobe bluetooth; and rfcomm / an LE "
                             "adapter), e.g. a Raspberry Pi or a laptop; --unix and --tcp work everywhere");
    return failure<Fd>(Errc::socket_error, "channel: socket(AF_BLUETOOTH): " + errno_text(e));
  }
  return {Fd(fd), {}};
}

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

int ms_of(Duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 24LL * 3600 * 1000));
}

// Non-blocking connect bounded by `timeout`; the socket is blocking again afterwards.
SocketResult<Fd> connect_fd(Fd fd, const sockaddr* sa, socklen_t len, Duration timeout, const std::string& what) {
  const int flags = ::fcntl(fd.get(), F_GETFL);
  ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
  int r = ::connect(fd.get(), sa, len);
  if (r != 0 && errno == EINPROGRESS) {
    if (!wait_fd(fd.get(), POLLOUT, ms_of(timeout))) return failure<Fd>(Errc::io_timeout, "channel: connect to " + what + " timed out");
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) {
      errno = err;
      r = -1;
    } else {
      r = 0;
    }
  }
  if (r != 0) {
    const int e = errno;
    std::string hint;
    if (e == EHOSTDOWN || e == EHOSTUNREACH) hint = " (device off, out of range, or not advertising/connectable?)";
    if (e == ECONNREFUSED) hint = " (nothing listening there)";
    return failure<Fd>(Errc::socket_error, "channel: connect to " + what + ": " + errno_text(e) + hint);
  }
  ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return {std::move(fd), {}};
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) return Errc::address_format;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

void set_bt_security(int fd) {
  BtSecurity sec{kBtSecurityMedium, 0};
  (void)::setsockopt(fd, kSolBluetooth, kBtSecurity, &sec, sizeof sec);  // best effort: the OS pairs
}

}  // namespace

// ---- endpoints ---------------------------------------------------------------------------------
std::string Endpoint::text() const {
  switch (kind) {
    case Kind::rfcomm: return "rfcomm " + bdaddr_text(address) + " channel " + std::to_string(port);
    case Kind::l2cap: return "l2cap " + bdaddr_text(address) + (le_random ? " (random)" : "") + " psm " + std::to_string(port);
    case Kind::unix_socket: return std::string(seqpacket ? "unix seqpacket " : "unix ") + host;
    case Kind::tcp: return "tcp " + host + ":" + std::to_string(port);
  }
  return "?";
}

Result<std::array<std::uint8_t, 6>> parse_bdaddr(std::string_view text) {
  if (text.size() != 17) return Errc::address_format;
  std::array<std::uint8_t, 6> a{};
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return Errc::address_format;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data() + 3 * i, text.data() + 3 * i + 2, v, 16);
    if (ec != std::errc() || p != text.data() + 3 * i + 2) return Errc::address_format;
    a[i] = static_cast<std::uint8_t>(v);
  }
  return a;
}

namespace {
Result<Endpoint> parse_bt(std::string_view text, Endpoint::Kind kind, unsigned max_port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return Errc::address_format;
  auto addr = parse_bdaddr(text.substr(0, colon));
  unsigned port = 0;
  if (!addr || !parse_decimal(text.substr(colon + 1), port) || port == 0 || port > max_port) return Errc::address_format;
  Endpoint ep;
  ep.kind = kind;
  ep.address = *addr;
  ep.port = static_cast<std::uint16_t>(port);
  ep.seqpacket = kind == Endpoint::Kind::l2cap;
  return ep;
}
}  // namespace

Result<Endpoint> parse_rfcomm(std::string_view text) { return parse_bt(text, Endpoint::Kind::rfcomm, 30); }
// LE PSMs are 0x0001..0x00FF (Core Vol 3 Part A 4.22: SIG-assigned 0x01-0x7F, dynamic 0x80-0xFF).
Result<Endpoint> parse_l2cap(std::string_view text) { return parse_bt(text, Endpoint::Kind::l2cap, 255); }

Result<Endpoint> parse_tcp(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Errc::address_format;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  if (host.empty() || !parse_decimal(text.substr(colon + 1), port) || port > 65535) return Errc::address_format;
  Endpoint ep;
  ep.kind = Endpoint::Kind::tcp;
  ep.host = std::string(host);
  ep.port = static_cast<std::uint16_t>(port);
  return ep;
}

Result<Endpoint> parse_unix(std::string_view path, bool seqpacket) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) return Errc::address_format;
  Endpoint ep;
  ep.kind = Endpoint::Kind::unix_socket;
  ep.host = std::string(path);
  ep.seqpacket = seqpacket;
  return ep;
}

// ---- Fd ----------------------------------------------------------------------------------------
Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}
Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

// ---- connect / listen --------------------------------------------------------------------------
namespace {

struct AddrinfoFree {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using Addrinfo = std::unique_ptr<addrinfo, AddrinfoFree>;

// getaddrinfo for a TCP endpoint; `passive` for a listening socket.
SocketResult<Addrinfo> resolve_tcp(const Endpoint& ep, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(ep.port);
  if (const int g = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res); g != 0)
    return failure<Addrinfo>(Errc::address_format, "channel: cannot resolve '" + ep.host + "': " + ::gai_strerror(g));
  return {Addrinfo(res), {}};
}

SocketResult<Fd> unix_socket(const Endpoint& ep) {
  Fd fd(::socket(AF_UNIX, (ep.seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (!fd) return failure<Fd>(Errc::socket_error, "channel: socket(AF_UNIX): " + errno_text(errno));
  return {std::move(fd), {}};
}

SockaddrRc rfcomm_address(const Endpoint& ep) {
  SockaddrRc sa{};
  sa.rc_family = kAfBluetooth;
  sa.rc_bdaddr = to_bdaddr(ep.address);
  sa.rc_channel = static_cast<std::uint8_t>(ep.port);
  return sa;
}

SockaddrL2 l2cap_address(const Endpoint& ep, std::uint8_t bdaddr_type) {
  SockaddrL2 sa{};
  sa.l2_family = kAfBluetooth;
  sa.l2_psm = htole16(ep.port);
  sa.l2_bdaddr = to_bdaddr(ep.address);
  sa.l2_bdaddr_type = bdaddr_type;
  return sa;
}

// A Bluetooth socket of the endpoint's kind with link security requested.
SocketResult<Fd> bt_socket_for(const Endpoint& ep) {
  auto s = ep.kind == Endpoint::Kind::rfcomm ? bt_socket(SOCK_STREAM, kBtProtoRfcomm) : bt_socket(SOCK_SEQPACKET, kBtProtoL2cap);
  if (s) set_bt_security(s.value->get());
  return s;
}

template <class Sockaddr>
const sockaddr* as_sockaddr(const Sockaddr& sa) {
  return reinterpret_cast<const sockaddr*>(&sa);
}

}  // namespace

SocketResult<Fd> connect_endpoint(const Endpoint& ep, Duration timeout) {
  switch (ep.kind) {
    case Endpoint::Kind::tcp: {
      auto res = resolve_tcp(ep, false);
      if (!res) return {std::nullopt, res.failure};
      SocketResult<Fd> last = failure<Fd>(Errc::socket_error, "channel: no address for " + ep.text());
      for (addrinfo* ai = res.value->get(); ai != nullptr; ai = ai->ai_next) {
        Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
        if (!fd) continue;
        last = connect_fd(std::move(fd), ai->ai_addr, ai->ai_addrlen, timeout, ep.text());
        if (last) {
          int one = 1;
          ::setsockopt(last.value->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          break;
        }
      }
      return last;
    }
    case Endpoint::Kind::unix_socket: {
      auto sa = unix_address(ep.host);
      if (!sa) return failure<Fd>(Errc::address_format, "channel: unix socket path too long or empty");
      auto s = unix_socket(ep);
      if (!s) return s;
      return connect_fd(std::move(*s.value), as_sockaddr(*sa), sizeof(sockaddr_un), timeout, ep.text());
    }
    case Endpoint::Kind::rfcomm: {
      auto s = bt_socket_for(ep);
      if (!s) return s;
      const auto sa = rfcomm_address(ep);
      return connect_fd(std::move(*s.value), as_sockaddr(sa), sizeof sa, timeout, ep.text());
    }
    case Endpoint::Kind::l2cap: {
      auto s = bt_socket_for(ep);
      if (!s) return s;
      SockaddrL2 local{};
      local.l2_family = kAfBluetooth;
      local.l2_bdaddr_type = kBdaddrLePublic;  // bind as LE so the kernel opens an LE connection
      if (::bind(s.value->get(), as_sockaddr(local), sizeof local) != 0)
        return failure<Fd>(Errc::socket_error, "channel: bind(L2CAP LE): " + errno_text(errno));
      const auto sa = l2cap_address(ep, ep.le_random ? kBdaddrLeRandom : kBdaddrLePublic);
      return connect_fd(std::move(*s.value), as_sockaddr(sa), sizeof sa, timeout, ep.text());
    }
  }
  return failure<Fd>(Errc::address_format, "channel: unknown endpoint");
}

SocketResult<Fd> listen_endpoint(const Endpoint& ep) {
  auto finish = [&](SocketResult<Fd> s, const sockaddr* sa, socklen_t len) -> SocketResult<Fd> {
    if (!s) return s;
    if (::bind(s.value->get(), sa, len) != 0) return failure<Fd>(Errc::socket_error, "channel: bind " + ep.text() + ": " + errno_text(errno));
    if (::listen(s.value->get(), 4) != 0) return failure<Fd>(Errc::socket_error, "channel: listen " + ep.text() + ": " + errno_text(errno));
    return s;
  };
  switch (ep.kind) {
    case Endpoint::Kind::tcp: {
      auto res = resolve_tcp(ep, true);
      if (!res) return {std::nullopt, res.failure};
      const addrinfo* ai = res.value->get();
      Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
      if (!fd) return failure<Fd>(Errc::socket_error, "channel: socket: " + errno_text(errno));
      int one = 1;
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      return finish({std::move(fd), {}}, ai->ai_addr, ai->ai_addrlen);
    }
    case Endpoint::Kind::unix_socket: {
      auto sa = unix_address(ep.host);
      if (!sa) return failure<Fd>(Errc::address_format, "channel: unix socket path too long or empty");
      struct stat st {};
      if (::lstat(ep.host.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return failure<Fd>(Errc::socket_error, "channel: " + ep.host + " exists and is not a socket");
        ::unlink(ep.host.c_str());  // a stale socket from an earlier run
      }
      return finish(unix_socket(ep), as_sockaddr(*sa), sizeof(sockaddr_un));
    }
    case Endpoint::Kind::rfcomm: {
      const auto sa = rfcomm_address(ep);
      return finish(bt_socket_for(ep), as_sockaddr(sa), sizeof sa);
    }
    case Endpoint::Kind::l2cap: {
      const auto sa = l2cap_address(ep, kBdaddrLePublic);
      return finish(bt_socket_for(ep), as_sockaddr(sa), sizeof sa);
    }
  }
  return failure<Fd>(Errc::address_format, "channel: unknown endpoint");
}

SocketResult<Fd> accept_connection(const Fd& listener, std::optional<Duration> timeout) {
  if (timeout && !wait_fd(listener.get(), POLLIN, ms_of(*timeout)))
    return failure<Fd>(Errc::io_timeout, "channel: no connection within the accept timeout");
  for (;;) {
    const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return {Fd(fd), {}};
    if (errno == EINTR) continue;
    return failure<Fd>(Errc::socket_error, "channel: accept: " + errno_text(errno));
  }
}

std::size_t send_mtu(const Fd& fd, const Endpoint& ep, std::size_t fallback) {
  if (ep.kind == Endpoint::Kind::l2cap) {
    std::uint16_t mtu = 0;
    socklen_t len = sizeof mtu;
    if (::getsockopt(fd.get(), kSolBluetooth, kBtSndMtu, &mtu, &len) == 0 && mtu >= 23) return mtu;
  }
  return fallback;
}

std::size_t receive_mtu(const Fd& fd, const Endpoint& ep) {
  if (ep.kind == Endpoint::Kind::l2cap) {
    std::uint16_t mtu = 0;
    socklen_t len = sizeof mtu;
    if (::getsockopt(fd.get(), kSolBluetooth, kBtRcvMtu, &mtu, &len) == 0 && mtu >= 23) return mtu;
  }
  return 65535;
}

// ---- SocketChannel -----------------------------------------------------------------------------
namespace {
TimePoint steady_now() { return TimePoint{std::chrono::steady_clock::now().time_since_epoch()}; }

bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
}  // namespace

SocketChannel::SocketChannel(Fd fd, Config cfg, bool seqpacket, std::size_t receive_mtu)
    : fd_(std::move(fd)), ch_(std::move(cfg)), seqpacket_(seqpacket), rx_mtu_(std::max<std::size_t>(receive_mtu, 23)) {}

void SocketChannel::take_transmit() {
  while (auto out = ch_.poll_transmit()) {
    backlog_bytes_ += out->size();
    backlog_.push_back(std::move(*out));
  }
}

Result<void> SocketChannel::write_backlog(bool block) {
  while (!backlog_.empty()) {
    Bytes& out = backlog_.front();
    const ssize_t n = ::send(fd_.get(), out.data() + backlog_off_, out.size() - backlog_off_, MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!block) return ok();
      wait_fd(fd_.get(), POLLOUT, 1000);
      continue;
    }
    if (n < 0) {
      const int e = errno;
      message_ = peer_closed_ ? "channel: the peer closed the connection before it took all our data (send: " + errno_text(e) + ")"
                              : "channel: send: " + errno_text(e);
      backlog_.clear();
      backlog_off_ = backlog_bytes_ = 0;
      if (!link_down_) {
        link_down_ = true;
        ch_.on_link_down();
        while (ch_.poll_event()) {  // the engine's view of the cut; the send error is the one to report
        }
      }
      return Errc::socket_error;
    }
    if (seqpacket_ && static_cast<std::size_t>(n) != out.size()) {
      message_ = "channel: SEQPACKET send was cut short";
      return Errc::socket_error;
    }
    last_tx_progress_ = steady_now();
    backlog_off_ += static_cast<std::size_t>(n);
    if (backlog_off_ == out.size()) {
      backlog_bytes_ -= out.size();
      backlog_off_ = 0;
      backlog_.pop_front();
    }
  }
  return ok();
}

Result<void> SocketChannel::flush() {
  take_transmit();
  return write_backlog(true);
}

int SocketChannel::poll_timeout_ms(std::optional<TimePoint> extra) const {
  auto d = ch_.next_deadline();
  if (extra && (!d || *extra < *d)) d = extra;
  if (!d) return -1;
  const auto left = *d - steady_now();
  if (left <= Duration::zero()) return 0;
  return ms_of(left) + 1;
}

Result<void> SocketChannel::receive(TimePoint now) {
  Bytes& buf = rx_buffer_;
  buf.resize(seqpacket_ ? rx_mtu_ : 16384);
  const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), seqpacket_ ? MSG_TRUNC : 0);  // on TCP MSG_TRUNC would discard
  if (n > 0 && seqpacket_ && static_cast<std::size_t>(n) > buf.size()) {
    message_ = "channel: a SEQPACKET packet larger than the receive MTU arrived and was cut";
    link_down_ = true;
    ch_.on_link_down();
    return Errc::socket_error;
  }
  if (n > 0) {
    (void)ch_.feed(ByteView(buf.data(), static_cast<std::size_t>(n)), now);  // failures arrive as events
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    link_down_ = true;
    ch_.on_link_down();
  }
  return ok();
}

Result<void> SocketChannel::read_once(int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  int r = 0;
  do r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  const TimePoint now = steady_now();
  if (r > 0) BLECRYPT_TRY_VOID(receive(now));
  if (auto d = ch_.next_deadline(); d && now >= *d) ch_.on_deadline(now);
  if (link_down_) return ok();
  return flush();
}

Result<void> SocketChannel::handle_event(Event& ev, Bytes* data_out, std::ostream* log, int out_fd) {
  if (auto* hc = std::get_if<HandshakeComplete>(&ev)) {
    if (log != nullptr) {
      *log << "channel: connected, " << hc->version << " " << hc->cipher;
      if (hc->psk) *log << ", authenticated by the PSK";
      else *log << ", peer fingerprint " << format_fingerprint(hc->peer_fingerprint);
      *log << std::endl;
    }
    if (on_connected_) {
      if (std::string why = on_connected_(*hc); !why.empty()) {
        message_ = std::move(why);
        ch_.reset();
        link_down_ = true;
        return Errc::handshake_failed;
      }
    }
    hello_ = std::move(*hc);
  } else if (auto* d = std::get_if<DataReceived>(&ev)) {
    if (out_fd >= 0) {
      if (!write_all(out_fd, d->data.data(), d->data.size())) {
        message_ = "channel: cannot write received data: " + errno_text(errno);
        return Errc::socket_error;
      }
    } else if (data_out != nullptr) {
      inbox_.push_back(std::move(d->data));
    }
  } else if (std::holds_alternative<ClosedByPeer>(ev)) {
    peer_closed_ = true;
    if (log != nullptr) *log << "channel: closed by the peer" << std::endl;
  } else if (auto* f = std::get_if<Failed>(&ev)) {
    message_ = f->message;
    return f->error;
  }
  return ok();
}

Result<HandshakeComplete> SocketChannel::handshake() {
  if (ch_.state() == State::idle && !link_down_) {
    ch_.on_link_up(steady_now());
    BLECRYPT_TRY_VOID(flush());
  }
  Bytes dummy;
  for (;;) {
    while (auto ev = ch_.poll_event()) {
      auto r = handle_event(*ev, &dummy, nullptr, -1);
      if (!r) return Unexpected{r.error()};
    }
    if (hello_) return *hello_;
    if (link_down_) {
      if (message_.empty()) message_ = "channel: the stream closed during the handshake";
      return Errc::link_down;
    }
    BLECRYPT_TRY_VOID(read_once(poll_timeout_ms(std::nullopt)));
  }
}

Result<void> SocketChannel::send(ByteView data) {
  if (!hello_) {
    auto h = handshake();
    if (!h) return Unexpected{h.error()};
  }
  if (auto r = ch_.send(data); !r) {
    while (auto ev = ch_.poll_event()) (void)handle_event(*ev, nullptr, nullptr, -1);
    if (message_.empty()) message_ = r.error().message();
    return r;
  }
  return flush();
}

Result<Bytes> SocketChannel::recv(std::optional<Duration> timeout) {
  if (!hello_) {
    auto h = handshake();
    if (!h) return Unexpected{h.error()};
  }
  const std::optional<TimePoint> until = timeout ? std::optional<TimePoint>(steady_now() + *timeout) : std::nullopt;
  for (;;) {
    while (auto ev = ch_.poll_event()) {
      Bytes sink;
      if (auto r = handle_event(*ev, &sink, nullptr, -1); !r) return Unexpected{r.error()};
    }
    if (!inbox_.empty()) return inbox_.take();
    if (peer_closed_) return Bytes{};
    if (link_down_) {
      if (message_.empty()) message_ = "channel: the stream closed";
      return Errc::not_connected;
    }
    if (until && steady_now() >= *until) {
      message_ = "channel: no data within the receive timeout";
      return Errc::io_timeout;
    }
    BLECRYPT_TRY_VOID(read_once(poll_timeout_ms(until)));
  }
}

Result<void> SocketChannel::close() {
  ch_.close();
  return flush();
}

Result<void> SocketChannel::pump(int in_fd, int out_fd, std::ostream& log) {
  if (ch_.state() == State::idle && !link_down_) ch_.on_link_up(steady_now());
  bool in_open = in_fd >= 0, out_open = out_fd >= 0, we_closed = false;
  auto close_ours = [&] {  // end of our input: close_notify once everything queued is out
    if (!we_closed) ch_.close();
    we_closed = true;
  };
  if (!in_open) close_ours();
  constexpr std::size_t kBacklogCap = 64 * 1024;  // stop reading input while this much waits for the socket
  std::vector<std::uint8_t> buf(16384);
  std::size_t early_bytes = 0;
  last_tx_progress_ = steady_now();
  for (;;) {
    take_transmit();
    BLECRYPT_TRY_VOID(write_backlog(false));
    while (auto ev = ch_.poll_event()) BLECRYPT_TRY_VOID(handle_event(*ev, nullptr, &log, out_open ? out_fd : -1));
    if (peer_closed_ && out_open) {  // the peer's side ended: whatever reads our output sees end of file
      ::close(out_fd);
      out_open = false;
    }
    if (peer_closed_ && we_closed && backlog_.empty()) return ok();
    if (link_down_) {
      if (!peer_closed_) {
        if (message_.empty()) message_ = "channel: the stream closed";
        return Errc::not_connected;
      }
      // The peer closed cleanly, then dropped the connection: fine unless input was waiting for it.
      pollfd p{in_open ? in_fd : -1, POLLIN, 0};
      if (in_open && ::poll(&p, 1, 0) > 0 && ::read(in_fd, buf.data(), buf.size()) > 0) {
        message_ = "channel: the peer closed the connection; the rest of our input was not sent";
        return Errc::closed;
      }
      return ok();
    }
    const State st = ch_.state();
    // Input read during the handshake waits in the engine (bounded), and goes out right after it.
    const bool can_send = !we_closed && (st == State::established || st == State::closed ||
                                         (st == State::handshaking && early_bytes < kBacklogCap));
    pollfd p[2] = {{fd_.get(), static_cast<short>(POLLIN | (backlog_.empty() ? 0 : POLLOUT)), 0},
                   {in_open && can_send && backlog_bytes_ < kBacklogCap ? in_fd : -1, POLLIN, 0}};
    std::optional<TimePoint> send_stall;
    if (!backlog_.empty()) send_stall = last_tx_progress_ + ch_.config().stall_timeout;
    int r = 0;
    do r = ::poll(p, 2, poll_timeout_ms(send_stall));
    while (r < 0 && errno == EINTR);
    const TimePoint now = steady_now();
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) BLECRYPT_TRY_VOID(receive(now));
    if (!link_down_ && p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(in_fd, buf.data(), buf.size());
      if (n > 0) {
        if (st == State::handshaking) early_bytes += static_cast<std::size_t>(n);
        (void)ch_.send(ByteView(buf.data(), static_cast<std::size_t>(n)));  // a failure arrives as an event
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_open = false;
        close_ours();  // half close: keep reading until the peer ends too
      }
    }
    if (auto d = ch_.next_deadline(); d && now >= *d) ch_.on_deadline(now);
    if (send_stall && !backlog_.empty() && now >= *send_stall && !link_down_) {
      message_ = "channel: the peer took none of our data for " + std::to_string(ms_of(ch_.config().stall_timeout) / 1000) +
                 " s (it stopped reading)";
      return Errc::peer_stalled;
    }
  }
}

}  // namespace blecrypt::channel
