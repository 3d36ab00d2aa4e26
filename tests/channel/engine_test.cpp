// The sans-IO channel engine: two engines against each other in memory (PSK and identity
// modes), and every way a peer can go wrong: wrong key, wrong fingerprint, tampered, truncated
// and stalled records, a stream that is not TLS, closes with and without close_notify.
#include <gtest/gtest.h>

#include "blecrypt/channel/record.hpp"
#include "helpers.hpp"

namespace blecrypt::channel::test {
namespace {

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(ChannelEngine, PskHandshakeAndDataBothWays) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.up();
  ASSERT_EQ(p.cs.hellos.size(), 1u) << (p.cs.failures.empty() ? "" : p.cs.failures[0].message);
  ASSERT_EQ(p.ss.hellos.size(), 1u);
  EXPECT_EQ(p.cs.hellos[0].version, "TLSv1.3");
  EXPECT_TRUE(p.cs.hellos[0].psk);
  EXPECT_TRUE(p.cs.hellos[0].peer_fingerprint.empty());
  EXPECT_TRUE(p.client.established());
  ASSERT_TRUE(p.client.send(text("hello server")));
  ASSERT_TRUE(p.server.send(text("hello client")));
  p.pump();
  EXPECT_EQ(p.ss.data, text("hello server"));
  EXPECT_EQ(p.cs.data, text("hello client"));
  EXPECT_FALSE(p.client.next_deadline().has_value());
}

TEST(ChannelEngine, DataQueuedBeforeTheHandshakeIsSentAfterIt) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.server.on_link_up(p.now);
  p.client.on_link_up(p.now);
  ASSERT_TRUE(p.client.send(text("early")));
  p.client.close();
  p.pump();
  EXPECT_EQ(p.ss.data, text("early"));
  EXPECT_EQ(p.ss.closed, 1);
  EXPECT_EQ(p.client.state(), State::closing);
}

TEST(ChannelEngine, OneByteAtATimeAndLargeTransfers) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.split = 1;
  p.up();
  ASSERT_TRUE(p.client.established());
  Bytes big(100000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7);
  p.split = 997;
  ASSERT_TRUE(p.client.send(big));
  p.pump();
  EXPECT_EQ(p.ss.data, big);
}

TEST(ChannelEngine, MaxTransmitBoundsEveryChunk) {
  for (std::size_t mtu : {23u, 64u, 247u, 512u}) {
    Config c = psk_config(Role::client), s = psk_config(Role::server);
    c.max_transmit = s.max_transmit = mtu;
    Pair p(std::move(c), std::move(s));
    std::size_t largest = 0;
    auto measure = [&](std::size_t, Bytes& chunk) { largest = std::max(largest, chunk.size()); };
    p.pipe.to_peripheral.set_tamper(measure);  // the pipe carries each poll_transmit() chunk whole
    p.pipe.to_central.set_tamper(measure);
    p.server.on_link_up(p.now);
    p.client.on_link_up(p.now);
    ASSERT_TRUE(p.client.send(Bytes(3000, 0x5a)));
    p.pump();
    EXPECT_EQ(p.ss.data, Bytes(3000, 0x5a)) << "mtu " << mtu;
    EXPECT_GT(largest, 0u);
    EXPECT_LE(largest, mtu);
  }
}

TEST(ChannelEngine, IdentityModeWithPinsOnBothSides) {
  Pair p(identity_config(Role::client, identity_a(), identity_b().fingerprint),
         identity_config(Role::server, identity_b(), identity_a().fingerprint));
  p.up();
  ASSERT_EQ(p.cs.hellos.size(), 1u) << (p.cs.failures.empty() ? "" : p.cs.failures[0].message);
  ASSERT_EQ(p.ss.hellos.size(), 1u) << (p.ss.failures.empty() ? "" : p.ss.failures[0].message);
  EXPECT_FALSE(p.cs.hellos[0].psk);
  EXPECT_EQ(p.cs.hellos[0].peer_fingerprint, identity_b().fingerprint);
  EXPECT_EQ(p.ss.hellos[0].peer_fingerprint, identity_a().fingerprint);
  ASSERT_TRUE(p.server.send(text("pinned")));
  p.pump();
  EXPECT_EQ(p.cs.data, text("pinned"));
}

TEST(ChannelEngine, TrustOnFirstUseReportsTheFingerprint) {
  Pair p(identity_config(Role::client, identity_a(), std::nullopt), identity_config(Role::server, identity_b(), std::nullopt));
  p.up();
  ASSERT_EQ(p.cs.hellos.size(), 1u);
  EXPECT_EQ(p.cs.hellos[0].peer_fingerprint, identity_b().fingerprint);
  EXPECT_EQ(p.ss.hellos[0].peer_fingerprint, identity_a().fingerprint);
}

TEST(ChannelEngine, WrongPskFailsBothSidesAndDeliversNothing) {
  Pair p(psk_config(Role::client, test_psk(1)), psk_config(Role::server, test_psk(2)));
  p.client.on_link_up(p.now);
  p.server.on_link_up(p.now);
  (void)p.client.send(text("secret"));
  p.pump();
  EXPECT_EQ(p.ss.error(), make_error_code(Errc::wrong_psk)) << (p.ss.failures.empty() ? "" : p.ss.failures[0].message);
  EXPECT_EQ(p.cs.error(), make_error_code(Errc::wrong_psk)) << (p.cs.failures.empty() ? "" : p.cs.failures[0].message);
  EXPECT_TRUE(p.ss.data.empty());
  EXPECT_TRUE(p.cs.hellos.empty());
  EXPECT_EQ(p.client.state(), State::failed);
  EXPECT_EQ(p.client.send(text("x")).error(), make_error_code(Errc::not_connected));
}

TEST(ChannelEngine, UnknownPskIdentityIsNamed) {
  Pair p(psk_config(Role::client, test_psk(), "alice"), psk_config(Role::server, test_psk(), "bob"));
  p.up();
  EXPECT_EQ(p.ss.error(), make_error_code(Errc::unknown_psk_identity));
  ASSERT_FALSE(p.ss.failures.empty());
  EXPECT_NE(p.ss.failures[0].message.find("'alice'"), std::string::npos) << p.ss.failures[0].message;
  EXPECT_FALSE(p.cs.failures.empty());
}

TEST(ChannelEngine, ClientRejectsAServerWithTheWrongFingerprint) {
  Pair p(identity_config(Role::client, identity_a(), identity_a().fingerprint),  // pins the wrong one
         identity_config(Role::server, identity_b(), identity_a().fingerprint));
  p.up();
  EXPECT_EQ(p.cs.error(), make_error_code(Errc::fingerprint_mismatch));
  ASSERT_FALSE(p.cs.failures.empty());
  EXPECT_NE(p.cs.failures[0].message.find(format_fingerprint(identity_b().fingerprint)), std::string::npos);
  EXPECT_FALSE(p.ss.failures.empty());
  EXPECT_TRUE(p.ss.hellos.empty());
}

TEST(ChannelEngine, ServerRejectsAClientWithTheWrongFingerprint) {
  Pair p(identity_config(Role::client, identity_a(), identity_b().fingerprint),
         identity_config(Role::server, identity_b(), identity_b().fingerprint));  // expects b, gets a
  p.up();
  (void)p.client.send(text("must not arrive"));
  p.pump();
  EXPECT_EQ(p.ss.error(), make_error_code(Errc::fingerprint_mismatch));
  EXPECT_TRUE(p.ss.data.empty());
  EXPECT_TRUE(p.ss.hellos.empty());
  EXPECT_FALSE(p.cs.failures.empty());  // the TLS 1.3 client learns it from the alert
}

TEST(ChannelEngine, PskClientRefusesACertificateServer) {
  Pair p(psk_config(Role::client), identity_config(Role::server, identity_b(), std::nullopt));
  p.up();
  EXPECT_EQ(p.cs.error(), make_error_code(Errc::unknown_psk_identity)) << (p.cs.failures.empty() ? "" : p.cs.failures[0].message);
  EXPECT_TRUE(p.cs.hellos.empty());
}

TEST(ChannelEngine, IdentityClientWithoutCertificateAgainstPskServerFails) {
  Pair p(identity_config(Role::client, identity_a(), std::nullopt), psk_config(Role::server));
  p.up();
  EXPECT_FALSE(p.ss.failures.empty());
  EXPECT_FALSE(p.cs.failures.empty());
  EXPECT_TRUE(p.cs.hellos.empty());
}

// Runs a PSK pair to established, then hands back the client's next record for the test to spoil.
Bytes established_pair_record(Pair& p, std::string_view payload) {
  p.up();
  EXPECT_TRUE(p.server.established());
  EXPECT_TRUE(p.client.send(text(payload)));
  Bytes rec;
  while (auto out = p.client.poll_transmit()) append(rec, *out);
  return rec;
}

TEST(ChannelEngine, TamperedRecordIsRejectedAndNothingDelivered) {
  for (std::size_t pos : {5u, 6u, 10u, 20u}) {  // body bytes: ciphertext and tag
    Pair p(psk_config(Role::client), psk_config(Role::server));
    Bytes rec = established_pair_record(p, "attack at dawn");
    ASSERT_GT(rec.size(), pos);
    rec[pos] ^= 0x01;
    EXPECT_FALSE(p.server.feed(rec, p.now));
    p.ss.take(p.server);
    EXPECT_EQ(p.ss.error(), make_error_code(Errc::record_tampered)) << pos;
    EXPECT_TRUE(p.ss.data.empty());
    EXPECT_EQ(p.server.state(), State::failed);
  }
}

TEST(ChannelEngine, TamperedHeaderLengthIsRejected) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  Bytes rec = established_pair_record(p, "x");
  rec[4] = static_cast<std::uint8_t>(rec[4] - 1);  // shorter record: the tag no longer verifies
  (void)p.server.feed(rec, p.now);
  p.ss.take(p.server);
  EXPECT_TRUE(p.ss.data.empty());
  EXPECT_FALSE(p.ss.failures.empty());
}

TEST(ChannelEngine, StreamClosedMidRecordIsATruncationError) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  Bytes rec = established_pair_record(p, "half of this never arrives");
  ASSERT_TRUE(p.server.feed(ByteView(rec).first(rec.size() - 3), p.now));
  p.ss.take(p.server);
  EXPECT_TRUE(p.ss.data.empty());
  p.server.on_link_down();
  p.ss.take(p.server);
  EXPECT_EQ(p.ss.error(), make_error_code(Errc::truncated_record));
  EXPECT_TRUE(p.ss.data.empty());
  EXPECT_EQ(p.server.state(), State::idle);
}

TEST(ChannelEngine, StreamClosedWithoutCloseNotify) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.up();
  p.server.on_link_down();
  p.ss.take(p.server);
  EXPECT_EQ(p.ss.error(), make_error_code(Errc::closed_without_notify));
}

TEST(ChannelEngine, CloseNotifyEndsCleanly) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.up();
  ASSERT_TRUE(p.client.send(text("last words")));
  p.client.close();
  p.pump();
  EXPECT_EQ(p.ss.data, text("last words"));
  EXPECT_EQ(p.ss.closed, 1);
  EXPECT_EQ(p.server.state(), State::closed);
  EXPECT_EQ(p.client.send(text("more")).error(), make_error_code(Errc::closed));
  p.server.close();
  p.pump();
  EXPECT_EQ(p.cs.closed, 1);
  p.client.on_link_down();
  p.server.on_link_down();
  p.cs.take(p.client);
  p.ss.take(p.server);
  EXPECT_TRUE(p.cs.failures.empty());
  EXPECT_TRUE(p.ss.failures.empty());
}

// TLS 1.3 half close (RFC 8446 6.1): a close_notify ends only its sender's direction. The side
// that received it goes on sending until it closes too (what `listen < file` with a peer whose
// input is empty relies on).
TEST(ChannelEngine, AfterThePeersCloseNotifyWeMayStillSend) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.up();
  p.client.close();
  p.pump();
  ASSERT_EQ(p.ss.closed, 1);
  ASSERT_EQ(p.server.state(), State::closed);
  Bytes reply(40000);
  for (std::size_t i = 0; i < reply.size(); ++i) reply[i] = static_cast<std::uint8_t>(i * 31);
  ASSERT_TRUE(p.server.send(reply));
  p.pump();
  EXPECT_EQ(p.cs.data, reply);
  EXPECT_EQ(p.cs.closed, 0);
  p.server.close();
  EXPECT_EQ(p.server.send(text("after our own close")).error(), make_error_code(Errc::closed));
  p.pump();
  EXPECT_EQ(p.cs.closed, 1);
  EXPECT_TRUE(p.cs.failures.empty());
  EXPECT_TRUE(p.ss.failures.empty());
}

// After our close_notify only the peer's close_notify is a clean end: a stream cut before it may
// have cut the peer's data short (truncation attack), so it is an error, not ClosedByPeer.
TEST(ChannelEngine, StreamCutAfterOurCloseNotifyIsNotACleanEnd) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.up();
  p.client.close();
  p.pump();
  ASSERT_EQ(p.client.state(), State::closing);
  p.client.on_link_down();
  p.cs.take(p.client);
  EXPECT_EQ(p.cs.closed, 0);
  EXPECT_EQ(p.cs.error(), make_error_code(Errc::closed_without_notify));
}

// RFC 8446 5.5: keys are updated before the AEAD limit; OpenSSL leaves that to the application.
TEST(ChannelEngine, KeyUpdateAfterTheConfiguredNumberOfRecords) {
  Config c = psk_config(Role::client);
  c.key_update_records = 3;
  Pair p(std::move(c), psk_config(Role::server));
  p.up();
  Bytes sent;
  for (int i = 0; i < 10; ++i) {
    const Bytes msg(100, static_cast<std::uint8_t>(i));
    ASSERT_TRUE(p.client.send(msg));
    append(sent, msg);
    p.pump();
  }
  EXPECT_EQ(p.client.key_updates(), 3u);  // before records 4, 7 and 10
  EXPECT_EQ(p.ss.data, sent);             // the peer followed every update
  ASSERT_TRUE(p.server.send(text("still in step")));
  p.pump();
  EXPECT_EQ(p.cs.data, text("still in step"));
  Bytes big(3 * 16384 + 1, 0x33);  // four records in one send: one more update on the way
  ASSERT_TRUE(p.client.send(big));
  p.pump();
  EXPECT_EQ(p.client.key_updates(), 4u);
  EXPECT_EQ(p.ss.data.size(), sent.size() + big.size());
  EXPECT_TRUE(p.cs.failures.empty());
  EXPECT_TRUE(p.ss.failures.empty());
  Config zero = psk_config(Role::client);
  zero.key_update_records = 0;
  EXPECT_FALSE(validate(zero));
}

TEST(ChannelEngine, StalledPeerMidRecordHitsTheDeadline) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  Bytes rec = established_pair_record(p, "stalled");
  ASSERT_TRUE(p.server.feed(ByteView(rec).first(7), p.now));
  auto d = p.server.next_deadline();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, p.now + p.server.config().stall_timeout);
  p.server.on_deadline(*d - 1ms);
  p.ss.take(p.server);
  EXPECT_TRUE(p.ss.failures.empty());
  p.server.on_deadline(*d);
  p.ss.take(p.server);
  EXPECT_EQ(p.ss.error(), make_error_code(Errc::peer_stalled));
  EXPECT_TRUE(p.ss.data.empty());
}

TEST(ChannelEngine, SilentPeerFailsTheHandshakeAtItsDeadline) {
  Channel c(psk_config(Role::client));
  c.on_link_up(TimePoint{});
  ASSERT_TRUE(c.poll_transmit().has_value());  // ClientHello
  auto d = c.next_deadline();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, TimePoint{} + c.config().handshake_timeout);
  c.on_deadline(*d);
  Seen s;
  s.take(c);
  EXPECT_EQ(s.error(), make_error_code(Errc::handshake_timeout));
  EXPECT_FALSE(c.next_deadline().has_value());
}

TEST(ChannelEngine, ABytesStreamThatIsNotTlsIsRefused) {
  Channel s(psk_config(Role::server));
  s.on_link_up(TimePoint{});
  EXPECT_EQ(s.feed(text("GET / HTTP/1.1\r\n"), TimePoint{}).error(), make_error_code(Errc::not_tls));
  Seen seen;
  seen.take(s);
  EXPECT_EQ(seen.error(), make_error_code(Errc::not_tls));
}

TEST(ChannelEngine, ResetWipesTheSessionAndAllowsANewOne) {
  Pair p(psk_config(Role::client), psk_config(Role::server));
  p.up();
  ASSERT_TRUE(p.client.established());
  p.client.reset();
  p.server.reset();
  EXPECT_EQ(p.client.state(), State::idle);
  EXPECT_FALSE(p.client.poll_transmit().has_value());
  EXPECT_EQ(p.client.feed(text("x"), p.now).error(), make_error_code(Errc::not_connected));
  EXPECT_EQ(p.client.send(text("x")).error(), make_error_code(Errc::not_connected));
  p.cs = {};
  p.ss = {};
  p.up();
  EXPECT_EQ(p.cs.hellos.size(), 1u);
  EXPECT_TRUE(p.client.established());
}

TEST(ChannelEngine, InvalidConfigsAreRefused) {
  Config short_key = psk_config(Role::client, SecretBytes(16));
  EXPECT_EQ(validate(short_key).error(), make_error_code(Errc::invalid_config));
  Config bad_identity;
  bad_identity.mode = IdentityMode{SecretBytes(as_bytes("not a key")), "not a cert", std::nullopt};
  EXPECT_FALSE(validate(bad_identity));
  Channel c(std::move(short_key));
  c.on_link_up(TimePoint{});
  Seen s;
  s.take(c);
  EXPECT_EQ(s.error(), make_error_code(Errc::invalid_config));
  Config tiny = psk_config(Role::client);
  tiny.max_transmit = 10;
  EXPECT_FALSE(validate(tiny));
}

TEST(RecordFramer, FollowsRecordsAndRefusesGarbage) {
  RecordFramer f;
  const Bytes two = {0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb, 0x16, 0x03, 0x01, 0x00, 0x01};
  ASSERT_TRUE(f.feed(ByteView(two).first(6)));
  EXPECT_TRUE(f.mid_record());
  ASSERT_TRUE(f.feed(ByteView(two).subspan(6)));
  EXPECT_EQ(f.records(), 1u);
  EXPECT_TRUE(f.mid_record());
  ASSERT_TRUE(f.feed(Bytes{0x00}));
  EXPECT_EQ(f.records(), 2u);
  EXPECT_FALSE(f.mid_record());

  RecordFramer g;
  EXPECT_EQ(g.feed(Bytes{0x18}).error(), make_error_code(Errc::not_tls));
  EXPECT_EQ(g.feed(Bytes{0x17}).error(), make_error_code(Errc::not_tls));  // sticky
  RecordFramer h;
  EXPECT_EQ(h.feed(Bytes{0x17, 0x02}).error(), make_error_code(Errc::not_tls));
  RecordFramer big;
  EXPECT_EQ(big.feed(Bytes{0x17, 0x03, 0x03, 0x41, 0x01}).error(), make_error_code(Errc::record_too_large));
  RecordFramer max;
  EXPECT_TRUE(max.feed(Bytes{0x17, 0x03, 0x03, 0x41, 0x00}));  // exactly 2^14 + 256
}

}  // namespace
}  // namespace blecrypt::channel::test
