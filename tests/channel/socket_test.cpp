// The socket edge: SEQPACKET framing over socketpair(AF_UNIX, SOCK_SEQPACKET) at LE L2CAP MTUs
// (23..512), address parsing, and the kernel-without-Bluetooth error.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "blecrypt/channel/socket.hpp"
#include "helpers.hpp"

namespace blecrypt::channel::test {

int free_port() {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

namespace {

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 13);
  return b;
}

// Every packet on the wire is at most `mtu` bytes: the receiving SocketChannel reads with an
// MTU-sized buffer and MSG_TRUNC, so a larger packet fails the test.
TEST(ChannelSeqpacket, FramingRespectsSmallMtus) {
  for (std::size_t mtu : {23u, 24u, 27u, 48u, 64u, 100u, 185u, 244u, 247u, 251u, 500u, 512u}) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    Config cc = psk_config(Role::client), sc = psk_config(Role::server);
    cc.max_transmit = sc.max_transmit = mtu;
    cc.handshake_timeout = sc.handshake_timeout = 10s;
    const Bytes up = pattern(5000, 1), down = pattern(3333, 2);
    Bytes got_up;
    std::string server_error;
    std::thread server([&] {
      SocketChannel s(Fd{sv[1]}, std::move(sc), true, mtu);
      auto h = s.handshake();
      if (!h) {
        server_error = s.last_message();
        return;
      }
      while (got_up.size() < up.size()) {
        auto r = s.recv(10s);
        if (!r || r->empty()) {
          server_error = "recv: " + s.last_message();
          return;
        }
        append(got_up, *r);
      }
      (void)s.send(down);
      (void)s.close();
    });
    SocketChannel c(Fd{sv[0]}, std::move(cc), true, mtu);
    auto h = c.handshake();
    ASSERT_TRUE(h) << "mtu " << mtu << ": " << c.last_message();
    ASSERT_TRUE(c.send(up));
    Bytes got_down;
    for (;;) {
      auto r = c.recv(10s);
      ASSERT_TRUE(r) << "mtu " << mtu << ": " << c.last_message();
      if (r->empty()) break;
      append(got_down, *r);
    }
    server.join();
    EXPECT_EQ(server_error, "") << "mtu " << mtu;
    EXPECT_EQ(got_up, up) << "mtu " << mtu;
    EXPECT_EQ(got_down, down) << "mtu " << mtu;
  }
}

TEST(ChannelSeqpacket, OversizedPacketIsAnErrorNotASilentCut) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  Config sc = psk_config(Role::server);
  SocketChannel s(Fd{sv[1]}, std::move(sc), true, 23);
  Bytes hello(200, 0x16);
  hello[1] = 0x03;
  hello[2] = 0x01;
  ASSERT_EQ(::send(sv[0], hello.data(), hello.size(), 0), 200);
  auto h = s.handshake();
  EXPECT_FALSE(h);
  EXPECT_NE(s.last_message().find("MTU"), std::string::npos) << s.last_message();
  ::close(sv[0]);
}

TEST(ChannelSocket, AddressesParseDecimalOnly) {
  auto r = parse_rfcomm("00:1A:7D:DA:71:13:3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->port, 3);
  EXPECT_EQ(r->address[0], 0x00);
  EXPECT_EQ(r->address[5], 0x13);
  EXPECT_FALSE(parse_rfcomm("00:1A:7D:DA:71:13:31"));
  EXPECT_FALSE(parse_rfcomm("00:1A:7D:DA:71:13:0"));
  EXPECT_FALSE(parse_rfcomm("00:1A:7D:DA:71:3"));
  auto l = parse_l2cap("C0:11:22:33:44:55:128");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->port, 128);
  EXPECT_TRUE(l->seqpacket);
  EXPECT_EQ(parse_l2cap("C0:11:22:33:44:55:010")->port, 10);  // decimal, not octal
  EXPECT_FALSE(parse_l2cap("C0:11:22:33:44:55:0x80"));
  EXPECT_FALSE(parse_l2cap("C0:11:22:33:44:55:256"));
  EXPECT_FALSE(parse_l2cap("C0:11:22:33:44:55:-1"));
  auto t = parse_tcp("[::1]:0443");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, 443);
  EXPECT_FALSE(parse_tcp("localhost"));
  EXPECT_FALSE(parse_tcp("localhost:65536"));
  EXPECT_FALSE(parse_tcp(":80"));
  EXPECT_FALSE(parse_unix(std::string(200, 'x')));
}

TEST(ChannelSocket, BluetoothUnavailableIsAClearError) {
  // This test machine's kernel has no AF_BLUETOOTH; on one that has it, the connect fails
  // differently (no adapter / host down), which is just as clean.
  auto ep = parse_l2cap("00:00:00:00:00:01:128");
  ASSERT_TRUE(ep);
  auto r = connect_endpoint(*ep, 1s);
  ASSERT_FALSE(r);
  if (r.failure.error == make_error_code(Errc::bluetooth_unavailable)) {
    EXPECT_NE(r.failure.message.find("AF_BLUETOOTH"), std::string::npos);
  }
  auto rf = listen_endpoint(*parse_rfcomm("00:00:00:00:00:00:5"));
  if (!rf) {
    EXPECT_FALSE(rf.failure.message.empty());
  }
}

TEST(ChannelSocket, TcpLoopbackBetweenTwoSocketChannels) {
  auto ep = parse_tcp("127.0.0.1:" + std::to_string(free_port()));
  ASSERT_TRUE(ep);
  auto l = listen_endpoint(*ep);
  ASSERT_TRUE(l) << l.failure.message;
  std::thread server([&] {
    auto a = accept_connection(*l.value, 10s);
    if (!a) return;
    SocketChannel s(std::move(*a.value), identity_config(Role::server, identity_b(), identity_a().fingerprint));
    auto r = s.recv(10s);
    if (r) (void)s.send(*r);  // echo
    (void)s.close();
  });
  auto c = connect_endpoint(*ep, 5s);
  ASSERT_TRUE(c) << c.failure.message;
  SocketChannel ch(std::move(*c.value), identity_config(Role::client, identity_a(), identity_b().fingerprint));
  auto h = ch.handshake();
  ASSERT_TRUE(h) << ch.last_message();
  EXPECT_EQ(h->peer_fingerprint, identity_b().fingerprint);
  ASSERT_TRUE(ch.send(as_bytes("echo me")));
  auto r = ch.recv(10s);
  ASSERT_TRUE(r) << ch.last_message();
  EXPECT_EQ(*r, Bytes(as_bytes("echo me").begin(), as_bytes("echo me").end()));
  server.join();
}

TEST(ChannelSocket, PeerThatNeverAnswersHitsTheHandshakeTimeout) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Config cc = psk_config(Role::client);
  cc.handshake_timeout = 300ms;
  SocketChannel c(Fd{sv[0]}, std::move(cc));
  auto h = c.handshake();
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error(), make_error_code(Errc::handshake_timeout));
  ::close(sv[1]);
}

}  // namespace
}  // namespace blecrypt::channel::test
