// Independent peers: our client against `openssl s_server`, our server against `openssl
// s_client`, TLS 1.3, PSK and certificate modes, over Unix and TCP sockets on loopback. Each test
// starts its own openssl process and kills it at the end; every wait is bounded.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <future>
#include <thread>

#include "blecrypt/channel/socket.hpp"
#include "helpers.hpp"

namespace blecrypt::channel::test {
namespace {

struct ChannelInterop : ::testing::Test {
  std::filesystem::path dir = temp_dir();
  ~ChannelInterop() override { std::filesystem::remove_all(dir); }
  std::string psk_hex(std::uint8_t fill = 0x42) { return to_hex(test_psk(fill)); }
  std::string identity_file(const Identity& id, const char* name) {
    const auto p = dir / name;
    const SecretBytes pem = identity_to_pem(id);
    write_file(p, std::string_view(reinterpret_cast<const char*>(pem.data()), pem.size()));
    return p.string();
  }
};

enum class Net { unix_socket, tcp };

struct Where {
  Endpoint ep;
  std::vector<std::string> server_args, client_args;
};

Where where(Net net, const std::filesystem::path& dir) {
  Where w;
  if (net == Net::unix_socket) {
    const std::string path = (dir / "sock").string();
    w.ep = *parse_unix(path);
    w.server_args = {"-unix", path};
    w.client_args = {"-unix", path};
  } else {
    const std::string hostport = "127.0.0.1:" + std::to_string(free_port());
    w.ep = *parse_tcp(hostport);
    w.server_args = {"-accept", hostport};
    w.client_args = {"-connect", hostport};
  }
  return w;
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Fd connect_retry(const Endpoint& ep) {
  for (int i = 0; i < 100; ++i) {
    auto c = connect_endpoint(ep, 2s);
    if (c) return std::move(*c.value);
    if (i == 99) ADD_FAILURE() << c.failure.message;
    std::this_thread::sleep_for(50ms);
  }
  return Fd();
}

std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }

// Our client against `openssl s_server`: handshake, data both ways, s_server's close.
void client_against_s_server(Net net, const std::filesystem::path& dir, std::vector<std::string> server_mode, Config cfg,
                             std::error_code expect_error = {}) {
  const Where w = where(net, dir);
  Child server(cat(cat({"openssl", "s_server", "-tls1_3", "-naccept", "1"}, server_mode), w.server_args));
  if (net == Net::tcp) {
    ASSERT_TRUE(server.wait_for("ACCEPT")) << server.output();
  } else {  // s_server -unix prints nothing when ready: wait for the socket file
    for (int i = 0; i < 200 && !std::filesystem::exists(w.ep.host); ++i) std::this_thread::sleep_for(25ms);
  }
  Fd fd = connect_retry(w.ep);
  ASSERT_TRUE(fd) << server.wait_for("\x01", 100ms) << server.output();
  SocketChannel ch(std::move(fd), std::move(cfg));
  auto h = ch.handshake();
  if (expect_error) {
    ASSERT_FALSE(h) << "handshake succeeded against a peer it should refuse";
    EXPECT_EQ(h.error(), expect_error) << ch.last_message();
    return;
  }
  ASSERT_TRUE(h) << ch.last_message() << "\n--- s_server:\n" << server.output();
  EXPECT_EQ(h->version, "TLSv1.3");
  ASSERT_TRUE(ch.send(as_bytes("hello from blecrypt\n")));
  EXPECT_TRUE(server.wait_for("hello from blecrypt")) << server.output();
  server.write("hello from s_server\n");
  std::string got;
  while (got.find('\n') == std::string::npos) {
    auto r = ch.recv(10s);
    ASSERT_TRUE(r) << ch.last_message();
    ASSERT_FALSE(r->empty());
    got += str(*r);
  }
  EXPECT_EQ(got, "hello from s_server\n");
  ASSERT_TRUE(ch.close());
  auto end = ch.recv(10s);  // s_server answers our close_notify with its own
  ASSERT_TRUE(end) << ch.last_message();
  EXPECT_TRUE(end->empty());
}

TEST_F(ChannelInterop, ClientAgainstSServerPskUnix) {
  client_against_s_server(Net::unix_socket, dir, {"-psk", psk_hex(), "-psk_identity", "blecrypt", "-nocert"}, psk_config(Role::client));
}
TEST_F(ChannelInterop, ClientAgainstSServerPskTcp) {
  client_against_s_server(Net::tcp, dir, {"-psk", psk_hex(), "-psk_identity", "blecrypt", "-nocert"}, psk_config(Role::client));
}
TEST_F(ChannelInterop, ClientAgainstSServerWrongPsk) {
  client_against_s_server(Net::unix_socket, dir, {"-psk", psk_hex(0x11), "-psk_identity", "blecrypt", "-nocert"},
                          psk_config(Role::client), make_error_code(Errc::wrong_psk));
}
TEST_F(ChannelInterop, ClientAgainstSServerOtherPskIdentity) {
  client_against_s_server(Net::unix_socket, dir, {"-psk", psk_hex(), "-psk_identity", "someone-else", "-nocert"},
                          psk_config(Role::client), make_error_code(Errc::unknown_psk_identity));
}
TEST_F(ChannelInterop, ClientAgainstSServerCertificatePinned) {
  const std::string f = identity_file(identity_b(), "server.pem");
  client_against_s_server(Net::unix_socket, dir, {"-cert", f, "-key", f, "-verify", "1"},
                          identity_config(Role::client, identity_a(), identity_b().fingerprint));
}
TEST_F(ChannelInterop, ClientAgainstSServerCertificateTcp) {
  const std::string f = identity_file(identity_b(), "server.pem");
  client_against_s_server(Net::tcp, dir, {"-cert", f, "-key", f, "-verify", "1"},
                          identity_config(Role::client, identity_a(), identity_b().fingerprint));
}
TEST_F(ChannelInterop, ClientAgainstSServerWrongFingerprint) {
  const std::string f = identity_file(identity_b(), "server.pem");
  client_against_s_server(Net::unix_socket, dir, {"-cert", f, "-key", f},
                          identity_config(Role::client, identity_a(), identity_a().fingerprint),
                          make_error_code(Errc::fingerprint_mismatch));
}
TEST_F(ChannelInterop, PskClientAgainstACertificateOnlySServerRefusesIt) {
  const std::string f = identity_file(identity_b(), "server.pem");
  client_against_s_server(Net::unix_socket, dir, {"-cert", f, "-key", f}, psk_config(Role::client),
                          make_error_code(Errc::unknown_psk_identity));
}

// Our server against `openssl s_client`.
void server_against_s_client(Net net, const std::filesystem::path& dir, std::vector<std::string> client_mode, Config cfg,
                             std::error_code expect_error = {}) {
  const Where w = where(net, dir);
  auto l = listen_endpoint(w.ep);
  ASSERT_TRUE(l) << l.failure.message;
  Child client(cat(cat({"openssl", "s_client", "-tls1_3", "-quiet"}, client_mode), w.client_args));
  auto a = accept_connection(*l.value, 10s);
  ASSERT_TRUE(a) << a.failure.message << client.output();
  SocketChannel ch(std::move(*a.value), std::move(cfg));
  auto h = ch.handshake();
  if (expect_error) {
    ASSERT_FALSE(h) << "handshake succeeded against a peer it should refuse";
    EXPECT_EQ(h.error(), expect_error) << ch.last_message();
    return;
  }
  ASSERT_TRUE(h) << ch.last_message() << "\n--- s_client:\n" << client.output();
  client.write("hello from s_client\n");
  std::string got;
  while (got.find('\n') == std::string::npos) {
    auto r = ch.recv(10s);
    ASSERT_TRUE(r) << ch.last_message();
    ASSERT_FALSE(r->empty());
    got += str(*r);
  }
  EXPECT_EQ(got, "hello from s_client\n");
  ASSERT_TRUE(ch.send(as_bytes("hello from blecrypt\n")));
  EXPECT_TRUE(client.wait_for("hello from blecrypt")) << client.output();
  if (h->psk) EXPECT_TRUE(h->peer_fingerprint.empty());
  else EXPECT_EQ(h->peer_fingerprint.size(), 32u);
}

TEST_F(ChannelInterop, ServerAgainstSClientPskUnix) {
  server_against_s_client(Net::unix_socket, dir, {"-psk", psk_hex(), "-psk_identity", "blecrypt"}, psk_config(Role::server));
}
TEST_F(ChannelInterop, ServerAgainstSClientPskTcp) {
  server_against_s_client(Net::tcp, dir, {"-psk", psk_hex(), "-psk_identity", "blecrypt"}, psk_config(Role::server));
}
TEST_F(ChannelInterop, ServerAgainstSClientWrongPsk) {
  server_against_s_client(Net::unix_socket, dir, {"-psk", psk_hex(0x99), "-psk_identity", "blecrypt"}, psk_config(Role::server),
                          make_error_code(Errc::wrong_psk));
}
TEST_F(ChannelInterop, ServerAgainstSClientCertificatePinned) {
  const std::string f = identity_file(identity_a(), "client.pem");
  server_against_s_client(Net::unix_socket, dir, {"-cert", f, "-key", f},
                          identity_config(Role::server, identity_b(), identity_a().fingerprint));
}
TEST_F(ChannelInterop, ServerAgainstSClientCertificateTcp) {
  const std::string f = identity_file(identity_a(), "client.pem");
  server_against_s_client(Net::tcp, dir, {"-cert", f, "-key", f},
                          identity_config(Role::server, identity_b(), identity_a().fingerprint));
}
TEST_F(ChannelInterop, ServerAgainstSClientWrongFingerprint) {
  const std::string f = identity_file(identity_a(), "client.pem");
  server_against_s_client(Net::unix_socket, dir, {"-cert", f, "-key", f},
                          identity_config(Role::server, identity_b(), identity_b().fingerprint),
                          make_error_code(Errc::fingerprint_mismatch));
}
TEST_F(ChannelInterop, ServerAgainstSClientWithoutCertificate) {
  server_against_s_client(Net::unix_socket, dir, {}, identity_config(Role::server, identity_b(), identity_a().fingerprint),
                          make_error_code(Errc::no_peer_certificate));
}

}  // namespace
}  // namespace blecrypt::channel::test

namespace blecrypt::channel::test {
namespace {

// A relay between our client (socketpair) and `openssl s_server` (unix socket) that can spoil
// the server's next chunk after the handshake: flip its last byte (the record's tag), or pass
// only part of it and then close both ends.
class SpoilingRelay {
 public:
  enum class Spoil { none, flip_tag, cut_and_close };
  SpoilingRelay(Fd to_client, Fd to_server) : c_(std::move(to_client)), s_(std::move(to_server)) {
    thread_ = std::thread([this] { run(); });
  }
  ~SpoilingRelay() {
    stop_ = true;
    thread_.join();
  }
  std::atomic<Spoil> spoil{Spoil::none};

 private:
  void run() {
    std::uint8_t buf[65536];
    while (!stop_) {
      pollfd p[2] = {{c_.get(), POLLIN, 0}, {s_.get(), POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      if (p[0].revents & (POLLIN | POLLHUP)) {
        const ssize_t n = ::read(c_.get(), buf, sizeof buf);
        if (n <= 0) return;
        (void)!::write(s_.get(), buf, static_cast<std::size_t>(n));
      }
      if (p[1].revents & (POLLIN | POLLHUP)) {
        const ssize_t n = ::read(s_.get(), buf, sizeof buf);
        if (n <= 0) return;
        std::size_t len = static_cast<std::size_t>(n);
        const Spoil how = spoil.exchange(Spoil::none);
        if (how == Spoil::flip_tag) buf[len - 1] ^= 0x80;
        if (how == Spoil::cut_and_close) {
          (void)!::write(c_.get(), buf, len / 2);
          ::shutdown(c_.get(), SHUT_RDWR);
          return;
        }
        (void)!::write(c_.get(), buf, len);
      }
    }
  }
  Fd c_, s_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void spoiled_by_relay(const std::filesystem::path& dir, SpoilingRelay::Spoil how, Errc expect) {
  const std::string path = (dir / "sock").string();
  Child server({"openssl", "s_server", "-tls1_3", "-naccept", "1", "-psk", to_hex(test_psk()), "-psk_identity", "blecrypt",
                "-nocert", "-unix", path});
  for (int i = 0; i < 200 && !std::filesystem::exists(path); ++i) std::this_thread::sleep_for(25ms);
  Fd upstream = connect_retry(*parse_unix(path));
  ASSERT_TRUE(upstream);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  SpoilingRelay relay(Fd{sv[1]}, std::move(upstream));
  SocketChannel ch(Fd{sv[0]}, psk_config(Role::client));
  auto h = ch.handshake();
  ASSERT_TRUE(h) << ch.last_message();
  ASSERT_TRUE(ch.send(as_bytes("ready\n")));
  ASSERT_TRUE(server.wait_for("ready"));
  std::this_thread::sleep_for(200ms);  // s_server's session tickets have passed the relay
  relay.spoil = how;
  server.write("this line is spoiled on the way\n");
  auto r = ch.recv(10s);
  ASSERT_FALSE(r) << "delivered: " << str(*r);
  EXPECT_EQ(r.error(), make_error_code(expect)) << ch.last_message();
}

TEST_F(ChannelInterop, RecordTamperedOnTheWayFromOpensslIsRefused) {
  spoiled_by_relay(dir, SpoilingRelay::Spoil::flip_tag, Errc::record_tampered);
}
TEST_F(ChannelInterop, StreamCutMidRecordFromOpensslIsATruncation) {
  spoiled_by_relay(dir, SpoilingRelay::Spoil::cut_and_close, Errc::truncated_record);
}

}  // namespace
}  // namespace blecrypt::channel::test
