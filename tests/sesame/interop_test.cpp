// The client against a scripted lock that sends what an independent peer (real firmware, other
// emulators) may send but our own emulator never does: error results, pop-on-read history,
// re-login requests after encrypted traffic.
#include <gtest/gtest.h>

#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "helpers.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame {
namespace {

using namespace blecrypt::sesame::testing;

constexpr std::int64_t kUnix = 1700000000;

// A lock written by hand: the spec §10 secret and login random code, its own CCM context (device
// tx = client rx), and helpers to answer with arbitrary messages.
struct ScriptedLock {
  const Bytes secret = test::hex("4a456a3ddd7a2d28af7dd1ea0aa037c2");
  const RandomCode code{0x0c, 0x0f, 0xfe, 0xe0};
  crypto::DeterministicRng rng{7};
  Client client;
  std::optional<SessionCipher> cipher;
  Reassembler from_client;
  TimePoint now{};

  static ClientConfig config(const Bytes& s) {
    ClientConfig c;
    c.secret = SecretBytes(s);
    c.unix_time_offset = kUnix;
    return c;
  }
  ScriptedLock() : client(config(secret), rng) {}

  // INITIAL, LOGIN, encrypted login success: the client is ready with counters 0/1.
  void login() {
    client.on_link_up(now);
    ASSERT_TRUE(client.feed(test::hex("03080e0c0ffee0"), now));
    auto pkts = drain_tx(client);
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_BYTES_EQ(pkts[0], test::hex("03020c41a4ff"));
    auto key = derive_session_key(crypto::default_backend(), secret, code);
    ASSERT_TRUE(key);
    auto c = SessionCipher::create(crypto::default_backend(), *key, code);
    ASSERT_TRUE(c);
    cipher.emplace(std::move(*c));
    Bytes resp = test::hex("070200");
    Bytes t(4);
    store_le32(t.data(), static_cast<std::uint32_t>(kUnix));
    append(resp, t);
    send(resp);
    ASSERT_TRUE(client.ready());
    drain_events(client);
  }
  // Seals `message` with the lock's next counter and feeds every packet to the client.
  void send(ByteView message) {
    auto sealed = cipher->seal(message);
    ASSERT_TRUE(sealed);
    std::vector<Bytes> pkts;
    ASSERT_TRUE(segment(*sealed, SegmentKind::ciphertext, pkts));
    for (const auto& p : pkts) ASSERT_TRUE(client.feed(p, now)) << to_hex(p);
  }
  // The client's queued requests, decrypted.
  std::vector<Bytes> requests() {
    std::vector<Bytes> out;
    for (const auto& p : drain_tx(client)) {
      auto r = from_client.feed(p);
      EXPECT_TRUE(r);
      if (!r || !r->has_value()) continue;
      EXPECT_TRUE((*r)->encrypted);
      auto plain = cipher->open((*r)->data);
      EXPECT_TRUE(plain);
      if (plain) out.push_back(std::move(*plain));
    }
    return out;
  }
  static Bytes record(std::int32_t id) {
    HistoryRecord r;
    r.id = id;
    r.type = 7;
    r.unix_time = static_cast<std::uint32_t>(kUnix);
    r.tag = HistoryTag::from_text("");
    return r.encode();
  }
  static Bytes delete_request(std::int32_t id) {
    Bytes b{item::history_delete, 0, 0, 0, 0};
    store_le32(b.data() + 1, static_cast<std::uint32_t>(id));
    return b;
  }
};

Advertisement adv_with_history(bool has) {
  Advertisement a;
  a.registered = true;
  a.has_history = has;
  return a;
}

// A HISTORY answer with an error other than "not found" (e.g. 7 busy) must end the drain, so the
// next has-history flip of the advertisement starts a new one.
TEST(SesameInterop, HistoryErrorResultEndsTheDrain) {
  ScriptedLock lock;
  lock.login();
  lock.client.on_advertisement(adv_with_history(true), lock.now);
  auto req = lock.requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_BYTES_EQ(req[0], test::hex("0401"));
  lock.send(test::hex("070407"));  // busy
  EXPECT_TRUE(lock.requests().empty());
  lock.client.on_advertisement(adv_with_history(false), lock.now);
  lock.client.on_advertisement(adv_with_history(true), lock.now);
  req = lock.requests();
  ASSERT_EQ(req.size(), 1u) << "the drain is stuck after an error result";
  EXPECT_BYTES_EQ(req[0], test::hex("0401"));
}

// Spec §9 #1: "read with 1 and delete with 18 works under either semantics". A lock where flag 1
// pops the record answers the delete with 5 (not found); the drain must go on to the next record.
TEST(SesameInterop, DrainWorksWhenTheLockPopsOnFlagOne) {
  ScriptedLock lock;
  lock.login();
  ASSERT_TRUE(lock.client.drain_history(lock.now));
  std::vector<std::int32_t> store{11, 12};
  std::vector<std::int32_t> seen;
  bool empty = false;
  for (int round = 0; round < 10; ++round) {
    auto req = lock.requests();
    if (req.empty()) break;
    ASSERT_EQ(req.size(), 1u);
    if (req[0][0] == item::history) {
      if (store.empty()) {
        lock.send(test::hex("070405"));
        continue;
      }
      const std::int32_t id = store.front();
      store.erase(store.begin());  // pop on read
      lock.send(concat_head({0x07, item::history, 0x00}, ScriptedLock::record(id)));
    } else {
      ASSERT_EQ(req[0][0], item::history_delete);
      lock.send(test::hex("071205"));  // already gone
    }
  }
  const auto evs = drain_events(lock.client);
  for (const auto& e : of<events::History>(evs)) seen.push_back(e.record.id);
  empty = has<events::HistoryEmpty>(evs);
  EXPECT_EQ(seen, (std::vector<std::int32_t>{11, 12}));
  EXPECT_TRUE(empty);
}

// ... and a lock that keeps returning a record it cannot (or claims to) delete does not make the
// client loop.
TEST(SesameInterop, DrainStopsWhenADeletedRecordComesBack) {
  for (const char* delete_answer : {"071205", "071200"}) {
    ScriptedLock lock;
    lock.login();
    ASSERT_TRUE(lock.client.drain_history(lock.now));
    int reads = 0;
    for (int round = 0; round < 20; ++round) {
      auto req = lock.requests();
      if (req.empty()) break;
      ASSERT_EQ(req.size(), 1u);
      if (req[0][0] == item::history) {
        ++reads;
        lock.send(concat_head({0x07, item::history, 0x00}, ScriptedLock::record(5)));
      } else {
        EXPECT_BYTES_EQ(req[0], ScriptedLock::delete_request(5));
        lock.send(test::hex(delete_answer));
      }
    }
    EXPECT_LE(reads, 2) << delete_answer;
    EXPECT_TRUE(lock.requests().empty());
  }
}

// A VERSION_TAG answer with an error result carries no version: it must not be reported as one
// (nor wipe a version read before).
TEST(SesameInterop, VersionErrorResultIsNotAVersion) {
  ScriptedLock lock;
  lock.login();
  ASSERT_TRUE(lock.client.read_version(lock.now));
  ASSERT_EQ(lock.requests().size(), 1u);
  lock.send(concat_head({0x07, item::version_tag, 0x00}, as_bytes(std::string_view("5.0.1-abcdef"))));
  EXPECT_EQ(lock.client.lock_state().version, "5.0.1-abcdef");
  drain_events(lock.client);
  ASSERT_TRUE(lock.client.read_version(lock.now));
  ASSERT_EQ(lock.requests().size(), 1u);
  lock.send(test::hex("070502"));  // not supported
  EXPECT_EQ(lock.client.lock_state().version, "5.0.1-abcdef");
  auto ev = drain_events(lock.client);
  EXPECT_FALSE(has<events::Version>(ev));
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) {
    return e.item == item::version_tag && e.result == ResultCode::not_supported;
  }));
}

// A second LOGIN on a connection where the client already sent encrypted requests would restart
// its CCM counters under the same key: tx counter values would repeat. It is refused.
TEST(SesameInterop, LoginAfterEncryptedRequestsNeverReusesATxCounter) {
  ScriptedLock lock;
  lock.login();
  ASSERT_TRUE(lock.client.read_version(lock.now));
  ASSERT_EQ(lock.requests().size(), 1u);
  ASSERT_EQ(lock.client.tx_counter(), 1u);
  auto r = lock.client.login(lock.now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::counter_reuse);
  EXPECT_EQ(lock.client.tx_counter(), 1u);
  EXPECT_TRUE(drain_tx(lock.client).empty());
  EXPECT_TRUE(lock.client.ready());
  // The session goes on with the next counter.
  ASSERT_TRUE(lock.client.sync_time(lock.now));
  auto req = lock.requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0][0], item::time);
  EXPECT_EQ(lock.client.tx_counter(), 2u);
}

// An attacker on the link replays the connection's plaintext LOGIN packet and then a LOCK the
// client sent earlier. Restarting the counters on that LOGIN (spec §9 #3 knob) would make the
// device accept the old ciphertext again; the knob only applies before the client sent any.
TEST(SesameInterop, ReplayedLoginCannotRewindTheDeviceCounters) {
  crypto::DeterministicRng crng(21), drng(22);
  const Bytes secret = test::hex("4a456a3ddd7a2d28af7dd1ea0aa037c2");
  ClientConfig cc;
  cc.secret = SecretBytes(secret);
  cc.unix_time_offset = kUnix;
  DeviceConfig dc;
  dc.secret = SecretBytes(secret);
  dc.unix_time_offset = kUnix;
  Client client(std::move(cc), crng);
  Device device(std::move(dc), drng);
  StrictPipe pipe(client, device);
  const TimePoint now = pipe.now;
  device.on_link_up(now);
  client.on_link_up(now);
  for (auto& pkt : drain_tx(device)) ASSERT_TRUE(client.feed(pkt, now));
  auto login = drain_tx(client);
  ASSERT_EQ(login.size(), 1u);
  for (auto& pkt : login) ASSERT_TRUE(device.feed(pkt, now));
  ASSERT_TRUE(pipe.pump());
  ASSERT_TRUE(client.ready());
  ASSERT_TRUE(client.lock(HistoryTag::from_text("once"), now));
  auto lock_pkts = drain_tx(client);
  for (auto& pkt : lock_pkts) ASSERT_TRUE(device.feed(pkt, now));
  const auto n = device.history().size();
  ASSERT_GE(n, 1u);
  // Replay.
  (void)device.feed(login[0], now);
  Result<void> r;
  for (auto& pkt : lock_pkts) r = device.feed(pkt, now);
  EXPECT_FALSE(r);
  EXPECT_EQ(device.history().size(), n) << "the replayed LOCK was accepted";
  // The genuine client is not disturbed: what the device sent meanwhile decrypts in order and
  // its next request still gets through.
  ASSERT_TRUE(pipe.pump());
  ASSERT_TRUE(client.ready());
  drain_events(client);
  ASSERT_TRUE(client.read_version(now));
  ASSERT_TRUE(pipe.pump());
  auto ev = drain_events(client);
  EXPECT_TRUE(has<events::Version>(ev, [](const auto& e) { return e.text == "blecrypt-emu"; }));
}

// A ciphertext too short to hold a tag is a security-layer failure like a tag mismatch: while a
// response is awaited it ends the session (spec §8), and it counts as a failure otherwise.
TEST(SesameInterop, TooShortCiphertextCountsAsADecryptFailure) {
  ScriptedLock lock;
  lock.login();
  EXPECT_EQ(lock.client.feed(test::hex("0501020304"), lock.now).error(), Errc::ciphertext_short);
  EXPECT_EQ(lock.client.auth_failures(), 1u);
  EXPECT_TRUE(lock.client.ready());
  ASSERT_TRUE(lock.client.read_version(lock.now));
  ASSERT_EQ(lock.requests().size(), 1u);
  EXPECT_EQ(lock.client.feed(test::hex("05aabbcc"), lock.now).error(), Errc::ciphertext_short);
  EXPECT_EQ(lock.client.state(), Client::State::ended);
  EXPECT_FALSE(lock.client.has_cipher());
  auto ev = drain_events(lock.client);
  EXPECT_TRUE(has<events::RequestFailed>(ev, [](const auto& e) {
    return e.item == item::version_tag && e.error == Errc::ciphertext_short;
  }));
}

// Spec §5.2: share URIs whose sk is a server token (since Aug 2026) must be reported as such,
// also when the token is not base64 at all (e.g. dotted JWT-like tokens).
TEST(SesameInterop, ServerTokenShareUriIsReportedAsSuch) {
  for (const char* uri : {"ssm://UI?t=sk&sk=eyJhbGciOiJIUzI1NiJ9.eyJzIjoxfQ.c2ln&l=0&n=Door",
                          "ssm://UI?t=sk&sk=c2VydmVyLXRva2VuLTEyMzQ1Njc4&l=0"}) {
    auto r = parse_share_uri(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_NE(r.error().message().find("server token"), std::string::npos) << uri << ": " << r.error().message();
  }
}

// REGISTRATION on a logged-in session: the lock answers 07 01 09 and the client would leave
// "ready" with its cipher still installed (a stuck session). It is refused up front.
TEST(SesameInterop, RegistrationOnALoggedInSessionIsRefused) {
  ScriptedLock lock;
  lock.login();
  EXPECT_EQ(lock.client.register_device(lock.now).error(), Errc::already_registered);
  EXPECT_TRUE(drain_tx(lock.client).empty());
  EXPECT_TRUE(lock.client.ready());
  ASSERT_TRUE(lock.client.read_version(lock.now));
  EXPECT_EQ(lock.requests().size(), 1u);
}

}  // namespace
}  // namespace blecrypt::sesame
