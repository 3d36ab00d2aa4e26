// `blecrypt bench channel`: the TLS 1.3 channel over a Unix socketpair at 20, 244 and 512-byte
// writes (throughput and process CPU per MiB), next to `openssl speed -evp` for the negotiated
// AEAD at the same sizes, and handshake times: engine to engine, our client against `openssl
// s_server`, our server against `openssl s_client` -- all measured in this one run.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/socket.hpp"
#include "blecrypt/link/pipe.hpp"
#include "cli.hpp"
#include "harness.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::channel;
using Clock = std::chrono::steady_clock;

const SecretBytes& bench_psk() {
  static const SecretBytes k(Bytes(kPskSize, 0x5c));
  return k;
}
Config psk_cfg(Role role) {
  Config c;
  c.role = role;
  c.mode = PskMode{bench_psk(), kDefaultPskIdentity};
  return c;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Throughput {
  double mib_per_s = 0, cpu_ms_per_mib = 0;
  std::string cipher;
  bool ok = false;
};

// One sender thread writes `total` bytes in `write_size` sends; the receiver reads them all.
Throughput measure_throughput(std::size_t write_size, std::size_t total) {
  Throughput t;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return t;
  SocketChannel server(Fd{sv[1]}, psk_cfg(Role::server));
  SocketChannel client(Fd{sv[0]}, psk_cfg(Role::client));
  std::thread hs([&] { (void)server.handshake(); });
  auto h = client.handshake();
  hs.join();
  if (!h) return t;
  t.cipher = h->cipher;
  const Bytes chunk(write_size, 0xa5);
  std::size_t received = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  std::thread rx([&] {
    while (received < total) {
      auto r = server.recv(std::chrono::seconds(30));
      if (!r || r->empty()) return;
      received += r->size();
    }
  });
  for (std::size_t sent = 0; sent < total; sent += write_size)
    if (!client.send(chunk)) break;
  rx.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const double mib = static_cast<double>(received) / (1024.0 * 1024.0);
  t.ok = received >= total;
  t.mib_per_s = mib / secs;
  t.cpu_ms_per_mib = cpu * 1000.0 / mib;
  return t;
}

// `openssl speed -evp CIPHER -bytes N -seconds 1`: MiB/s of the raw AEAD at that size.
double openssl_speed(const std::string& evp, std::size_t bytes) {
  const std::string cmd = "openssl speed -evp " + evp + " -seconds 1 -bytes " + std::to_string(bytes) + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  char line[512];
  std::string last;
  while (std::fgets(line, sizeof line, p) != nullptr)
    if (line[0] != '\n') last = line;
  ::pclose(p);
  // Last line: "<name>  <kB/s>k" (1000s of bytes per second).
  const auto k = last.rfind('k');
  const auto sp = last.find_last_of(" \t", k);
  if (k == std::string::npos || sp == std::string::npos) return 0;
  return std::atof(last.substr(sp + 1, k - sp - 1).c_str()) * 1000.0 / (1024.0 * 1024.0);
}

std::string evp_name(const std::string& tls_cipher) {
  if (tls_cipher == "TLS_AES_128_GCM_SHA256") return "aes-128-gcm";
  if (tls_cipher == "TLS_AES_256_GCM_SHA384") return "aes-256-gcm";
  if (tls_cipher == "TLS_CHACHA20_POLY1305_SHA256") return "chacha20-poly1305";
  return "aes-128-gcm";
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Engine to engine in memory (link::Pipe): the handshake's CPU cost without any IO.
double engine_handshake_us() {
  std::vector<double> us;
  for (int i = 0; i < 30; ++i) {
    const auto t0 = Clock::now();
    Channel c(psk_cfg(Role::client)), s(psk_cfg(Role::server));
    link::Pipe<Channel, Channel> pipe(c, s);
    pipe.connect();
    if (!c.established() || !s.established()) return 0;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return median(us);
}

int free_tcp_port() {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

pid_t spawn(std::vector<std::string> args, int stdin_fd) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(stdin_fd, 0);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Our client against `openssl s_server` (PSK, TCP loopback): connect + handshake, median.
double vs_s_server_us() {
  const int port = free_tcp_port();
  int in[2];
  if (port == 0 || ::pipe(in) != 0) return 0;
  const std::string hp = "127.0.0.1:" + std::to_string(port);
  const pid_t pid = spawn({"openssl", "s_server", "-tls1_3", "-psk", to_hex(bench_psk()), "-psk_identity", "blecrypt", "-nocert",
                           "-accept", hp, "-quiet"}, in[0]);
  ::close(in[0]);
  std::vector<double> us;
  auto ep = *parse_tcp(hp);
  for (int i = 0; i < 200 && us.size() < 20; ++i) {
    const auto t0 = Clock::now();
    auto fd = connect_endpoint(ep, std::chrono::seconds(2));
    if (!fd) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    SocketChannel ch(std::move(*fd.value), psk_cfg(Role::client));
    if (!ch.handshake()) break;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    (void)ch.close();
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(in[1]);
  return median(us);
}

// Our server against `openssl s_client` (PSK, TCP loopback): accept -> handshake complete.
double vs_s_client_us() {
  const int port = free_tcp_port();
  const std::string hp = "127.0.0.1:" + std::to_string(port);
  auto l = listen_endpoint(*parse_tcp(hp));
  if (!l) return 0;
  std::vector<double> us;
  for (int i = 0; i < 10; ++i) {
    const int null = ::open("/dev/null", O_RDONLY);
    const pid_t pid = spawn({"openssl", "s_client", "-tls1_3", "-connect", hp, "-psk", to_hex(bench_psk()), "-psk_identity",
                             "blecrypt", "-brief"}, null);
    ::close(null);
    auto a = accept_connection(*l.value, std::chrono::seconds(10));
    if (a) {
      const auto t0 = Clock::now();
      SocketChannel ch(std::move(*a.value), psk_cfg(Role::server));
      if (ch.handshake()) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      (void)ch.recv(std::chrono::seconds(5));
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  return median(us);
}

int bench_channel(bool json, std::ostream& out) {
  ::signal(SIGPIPE, SIG_IGN);
  bench::Report r;
  std::string cipher;
  bool ok = true;
  for (std::size_t w : {20u, 244u, 512u}) {
    const std::size_t total = w == 20 ? (2u << 20) : (8u << 20);
    auto t = measure_throughput(w, total);
    ok = ok && t.ok;
    cipher = t.cipher;
    const std::string s = std::to_string(w);
    r.number("channel_mib_per_s_" + s + "B", t.mib_per_s);
    r.number("channel_cpu_ms_per_mib_" + s + "B", t.cpu_ms_per_mib);
    r.number("openssl_speed_mib_per_s_" + s + "B", openssl_speed(evp_name(t.cipher), w));
  }
  r.text("cipher", cipher);
  r.text("openssl_speed_evp", evp_name(cipher));
  r.number("handshake_us_engine_to_engine", engine_handshake_us());
  r.number("handshake_us_client_vs_openssl_s_server", vs_s_server_us());
  r.number("handshake_us_server_vs_openssl_s_client", vs_s_client_us());
  r.print(json, out);
  return ok ? 0 : 1;
}

const Register scenario{BenchScenario{"channel",
                                      "TLS 1.3 channel: throughput and CPU/MiB at 20/244/512-byte writes vs openssl speed; "
                                      "handshake vs openssl s_server/s_client",
                                      bench_channel}};

}  // namespace
}  // namespace blecrypt::cli
