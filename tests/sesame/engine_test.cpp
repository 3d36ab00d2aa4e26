// Client engine against the device emulator: procedures, tamper, replay, counters, several locks,
// timeouts and the §9 knobs, on every pair of crypto backends.
#include <gtest/gtest.h>

#include <map>

#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/session.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "helpers.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame {
namespace {

using namespace blecrypt::sesame::testing;
using namespace std::chrono_literals;

constexpr std::int64_t kUnix = 1700000000;

struct Pair {
  crypto::DeterministicRng client_rng;
  crypto::DeterministicRng device_rng;
  Client client;
  Device device;
  StrictPipe pipe{client, device};
  TimePoint& now = pipe.now;

  Pair(const crypto::Backend* cb, const crypto::Backend* db, std::uint64_t seed = 1,
       std::function<void(ClientConfig&, DeviceConfig&)> tweak = {})
      : client_rng(seed), device_rng(seed + 1000), client(make_cc(cb, tweak), client_rng),
        device(make_dc(db, tweak), device_rng) {}

  static ClientConfig make_cc(const crypto::Backend* b, const std::function<void(ClientConfig&, DeviceConfig&)>& tweak) {
    ClientConfig c;
    c.backend = b;
    c.unix_time_offset = kUnix;
    DeviceConfig unused;
    if (tweak) tweak(c, unused);
    return c;
  }
  static DeviceConfig make_dc(const crypto::Backend* b, const std::function<void(ClientConfig&, DeviceConfig&)>& tweak) {
    DeviceConfig d;
    d.backend = b;
    d.unix_time_offset = kUnix;
    ClientConfig unused;
    if (tweak) tweak(unused, d);
    return d;
  }

  void connect() { pipe.connect(); }
  void disconnect() { pipe.disconnect(); }
  void pump() { ASSERT_TRUE(pipe.pump()); }
  void advance(Duration d) { pipe.advance(d); }
  std::vector<Client::Event> events() { return drain_events(client); }
};

// Registers a fresh device, returns the secret.
SecretBytes register_pair(Pair& p) {
  p.connect();
  EXPECT_TRUE(p.client.ready());
  EXPECT_TRUE(p.device.registered());
  return p.client.device_secret();
}

class SesameEngine : public ::testing::TestWithParam<test::BackendPair> {
 protected:
  const crypto::Backend* cb() const { return GetParam().first; }
  const crypto::Backend* db() const { return GetParam().second; }
};

TEST_P(SesameEngine, RegistrationEncryptsTheSessionAtOnce) {
  Pair p(cb(), db());
  const SecretBytes secret = register_pair(p);
  ASSERT_EQ(secret.size(), 16u);
  EXPECT_TRUE(equal(secret, p.device.secret()));
  auto ev = p.events();
  EXPECT_TRUE(has<events::Registered>(ev, [](const auto& e) { return e.secret.size() == 16; }));
  ASSERT_TRUE(p.client.read_version(p.now));
  p.pump();
  ev = p.events();
  EXPECT_TRUE(has<events::Version>(ev, [](const auto& e) { return e.text == "blecrypt-emu"; }));
}

// Hardening (#15 item 1): a lock restarts its CCM counters on LOGIN (spec §9 #3). After
// registration the lock already sealed publishes with counters 0 and 1, so a LOGIN on that
// connection would make it seal with those nonces again. The client refuses LOGIN once any
// ciphertext passed in either direction, or once the connection registered.
TEST_P(SesameEngine, LoginIsRefusedOnceCiphertextPassedOrAfterRegistration) {
  Pair p(cb(), db());
  register_pair(p);
  p.events();
  EXPECT_EQ(p.client.tx_counter(), 0u);  // the client sent no ciphertext yet; the lock did
  EXPECT_GT(p.device.tx_counter(), 0u);
  EXPECT_EQ(p.client.login(p.now).error(), Errc::counter_reuse);
  EXPECT_TRUE(drain_tx(p.client).empty());
  EXPECT_TRUE(p.client.ready());  // the session itself goes on
  // A logged-in session: the lock's answers are ciphertext, so no second LOGIN either.
  const SecretBytes secret = p.client.device_secret();
  Pair q(cb(), db(), 3, [&](ClientConfig& c, DeviceConfig& d) {
    c.secret = secret;
    d.secret = secret;
  });
  q.connect();
  ASSERT_TRUE(q.client.ready());
  EXPECT_EQ(q.client.tx_counter(), 0u);
  EXPECT_EQ(q.client.login(q.now).error(), Errc::counter_reuse);
  EXPECT_NE(make_error_code(Errc::counter_reuse).message().find("reconnect"), std::string::npos);
}

TEST_P(SesameEngine, LoginInANewConnectionThenLockUnlockToggleWithMotion) {
  Pair p(cb(), db());
  const SecretBytes secret = register_pair(p);
  p.disconnect();
  EXPECT_FALSE(p.client.has_cipher());  // keys wiped on disconnect
  p.events();
  p.now += 1s;
  p.connect();
  ASSERT_TRUE(p.client.ready());
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::unlocked) << to_hex(p.client.lock_state().status->encode());

  ASSERT_TRUE(p.client.lock(HistoryTag::from_text("front door app"), p.now));
  p.pump();
  auto ev = p.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::lock && e.result == ResultCode::success; }));
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::moving);
  p.advance(2s);
  ev = p.events();
  int moving = 0, at_rest = 0;
  for (const auto& e : of<events::MechStatus>(ev)) {
    if (e.status.target != kNoTarget && !e.status.is_stopped()) ++moving;
    if (e.status.target == kNoTarget && e.status.is_stopped()) ++at_rest;
  }
  EXPECT_GE(moving, 1);
  EXPECT_EQ(at_rest, 1);
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::locked);
  EXPECT_EQ(p.client.lock_state().status->position, -90);

  const Uuid phone = test::to_array<16>(test::hex("00112233445566778899aabbccddeeff"));
  ASSERT_TRUE(p.client.unlock(HistoryTag::from_uuid(14, phone), p.now));
  p.advance(2s);
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::unlocked);
  ASSERT_TRUE(p.client.toggle(HistoryTag::from_text("toggle"), p.now));
  p.advance(2s);
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::locked);
  ASSERT_EQ(p.device.history().size(), 3u);
  EXPECT_EQ(p.device.history()[0].type, 1);
  EXPECT_EQ(p.device.history()[1].type, 2);
  EXPECT_EQ(p.device.history()[1].tag.kind, HistoryTag::Kind::uuid);
  EXPECT_EQ(p.device.history()[2].type, 1);
  EXPECT_EQ(p.client.lock_state().describe().substr(0, 6), "locked");
}

TEST_P(SesameEngine, HistoryDrainWhenAdvertisementSaysSo) {
  Pair p(cb(), db());
  register_pair(p);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(p.client.toggle(HistoryTag::from_text("t" + std::to_string(i)), p.now));
    p.advance(2s);
  }
  p.disconnect();
  p.events();
  const auto adv = parse_advertisement(p.device.advertisement_payload());
  ASSERT_TRUE(adv);
  EXPECT_TRUE(adv->registered);
  EXPECT_TRUE(adv->has_history);
  p.client.on_advertisement(*adv, p.now);
  p.connect();
  auto ev = p.events();
  std::vector<std::string> tags;
  int deleted = 0;
  bool empty = false;
  for (const auto& e : of<events::History>(ev)) tags.push_back(e.record.tag.text);
  for (const auto& e : of<events::HistoryDeleted>(ev))
    if (e.result == ResultCode::success) ++deleted;
  empty = has<events::HistoryEmpty>(ev);
  EXPECT_EQ(tags, (std::vector<std::string>{"t0", "t1", "t2"}));
  EXPECT_EQ(deleted, 3);
  EXPECT_TRUE(empty);
  EXPECT_TRUE(p.device.history().empty());
  EXPECT_FALSE(p.device.advertisement().has_history);
  ASSERT_TRUE(p.client.lock_state().last_history);
  EXPECT_EQ(p.client.lock_state().last_history->tag.text, "t2");
  // Next connection: the advertisement no longer says "history", so no HISTORY request goes out.
  p.disconnect();
  p.events();
  const auto adv2 = parse_advertisement(p.device.advertisement_payload());
  ASSERT_TRUE(adv2);
  EXPECT_FALSE(adv2->has_history);
  p.client.on_advertisement(*adv2, p.now);
  p.connect();
  EXPECT_TRUE(p.client.ready());
  EXPECT_EQ(p.client.tx_counter(), 0u);
  for (const auto& e : p.events()) EXPECT_NE(item_of(e), item::history);
}

TEST_P(SesameEngine, CountersStayAlignedOverThousandsOfMessages) {
  Pair p(cb(), db());
  register_pair(p);
  p.events();
  for (int i = 0; i < 1200; ++i) {
    if (i % 3 == 0) ASSERT_TRUE(p.client.read_version(p.now));
    else if (i % 3 == 1) ASSERT_TRUE(p.client.sync_time(p.now));
    else ASSERT_TRUE(p.client.request(item::mech_status, {}, p.now));
    p.pump();
  }
  EXPECT_EQ(p.client.tx_counter(), 1200u);
  EXPECT_EQ(p.device.rx_counter(), p.client.tx_counter());
  EXPECT_EQ(p.client.rx_counter(), p.device.tx_counter());
  EXPECT_GE(p.device.tx_counter(), 1200u);
  EXPECT_EQ(p.device.auth_failures(), 0u);
  EXPECT_EQ(p.client.auth_failures(), 0u);
  auto ev = p.events();
  EXPECT_EQ(of<events::Version>(ev).size(), 400u);
}

TEST_P(SesameEngine, EveryTamperIsRejectedByTheDevice) {
  // Flip a bit in the tag, in the ciphertext, and change the header: all rejected, nothing executed.
  for (int what = 0; what < 4; ++what) {
    Pair p(cb(), db(), 10 + static_cast<std::uint64_t>(what));
    register_pair(p);
    const auto history_before = p.device.history().size();
    ASSERT_TRUE(p.client.lock(HistoryTag::from_text("x"), p.now));
    auto pkts = drain_tx(p.client);
    ASSERT_EQ(pkts.size(), 1u);
    Bytes bad = pkts[0];
    if (what == 0) bad.back() ^= 0x01;        // tag
    else if (what == 1) bad[1] ^= 0x80;       // ciphertext
    else if (what == 2) bad[0] = 0x03;        // header: claims plaintext
    else bad[0] = 0x07;                       // header: illegal value
    auto r = p.device.feed(bad, p.now);
    EXPECT_FALSE(r) << "tamper " << what;
    EXPECT_EQ(p.device.history().size(), history_before);
    EXPECT_TRUE(drain_tx(p.device).empty()) << "tamper " << what;
    if (what == 0 || what == 1) {
      EXPECT_EQ(r.error(), Errc::authentication_failed);
      EXPECT_EQ(p.device.rx_counter(), 0u);  // not advanced by a failure
      // The genuine packet still goes through afterwards.
      ASSERT_TRUE(p.device.feed(pkts[0], p.now));
      EXPECT_EQ(p.device.history().size(), history_before + 1);
    }
  }
}

TEST_P(SesameEngine, TamperedNotificationEndsTheClientSessionWhileAResponseIsAwaited) {
  Pair p(cb(), db());
  register_pair(p);
  p.events();
  ASSERT_TRUE(p.client.read_version(p.now));
  for (auto& pkt : drain_tx(p.client)) ASSERT_TRUE(p.device.feed(pkt, p.now));
  auto resp = drain_tx(p.device);
  ASSERT_FALSE(resp.empty());
  resp.back().back() ^= 0x40;
  Result<void> last;
  for (auto& pkt : resp) last = p.client.feed(pkt, p.now);
  EXPECT_EQ(last.error(), Errc::authentication_failed);
  EXPECT_EQ(p.client.state(), Client::State::ended);
  EXPECT_FALSE(p.client.has_cipher());
  auto ev = p.events();
  EXPECT_TRUE(has<events::RequestFailed>(ev, [](const auto& e) { return e.item == item::version_tag; }));
  EXPECT_TRUE(has<events::SessionEnded>(ev, [](const auto& e) { return e.error == Errc::authentication_failed; }));
  EXPECT_EQ(p.client.read_version(p.now).error(), Errc::session_ended);
}

TEST_P(SesameEngine, UnsolicitedTagFailuresAreDroppedWithoutAdvancingThenEndTheSession) {
  Pair p(cb(), db());
  register_pair(p);
  p.events();
  const auto rx = p.client.rx_counter();
  // A forged publish (no request pending): dropped, counter kept, session continues.
  EXPECT_EQ(p.client.feed(test::hex("05 0011223344556677 01020304"), p.now).error(), Errc::authentication_failed);
  EXPECT_EQ(p.client.rx_counter(), rx);
  EXPECT_TRUE(p.client.ready());
  ASSERT_TRUE(p.client.read_version(p.now));
  p.pump();
  EXPECT_TRUE(p.client.ready());
  // Repeated failures: the session ends (max_auth_failures = 3).
  EXPECT_FALSE(p.client.feed(test::hex("05 0011223344556677 01020304"), p.now));
  EXPECT_FALSE(p.client.feed(test::hex("05 0011223344556677 01020304"), p.now));
  EXPECT_EQ(p.client.state(), Client::State::ended);
}

TEST_P(SesameEngine, ReplaysAreRejectedInsideAConnectionAndInANewOne) {
  Pair p(cb(), db());
  register_pair(p);
  p.events();
  ASSERT_TRUE(p.client.lock(HistoryTag::from_text("once"), p.now));
  auto lock_pkts = drain_tx(p.client);
  for (auto& pkt : lock_pkts) ASSERT_TRUE(p.device.feed(pkt, p.now));
  p.pump();
  p.advance(2s);
  const auto n = p.device.history().size();
  // Same connection: the counter moved on.
  for (auto& pkt : lock_pkts) EXPECT_EQ(p.device.feed(pkt, p.now).error(), Errc::authentication_failed);
  EXPECT_EQ(p.device.history().size(), n);
  // New connection: new random code, new key; old ciphertext and old login token useless.
  p.disconnect();
  p.device.on_link_up(p.now);
  auto initial = drain_tx(p.device);
  ASSERT_EQ(initial.size(), 1u);
  // Replay the captured lock before login: ignored.
  for (auto& pkt : lock_pkts) EXPECT_EQ(p.device.feed(pkt, p.now).error(), Errc::no_session);
  EXPECT_EQ(p.device.history().size(), n);
  EXPECT_GE(p.device.ignored_messages(), 1u);
}

TEST_P(SesameEngine, LoginTokenReplayIntoANewConnectionIsRejected) {
  Pair p(cb(), db());
  const SecretBytes secret = register_pair(p);
  p.disconnect();
  p.events();
  // Connection 2: capture the login packet.
  p.device.on_link_up(p.now);
  p.client.on_link_up(p.now);
  for (auto& pkt : drain_tx(p.device)) ASSERT_TRUE(p.client.feed(pkt, p.now));
  auto login = drain_tx(p.client);
  ASSERT_EQ(login.size(), 1u);
  p.disconnect();
  // Connection 3: an attacker replays connection 2's login token.
  p.device.on_link_up(p.now);
  drain_tx(p.device);
  EXPECT_EQ(p.device.feed(login[0], p.now).error(), Errc::login_rejected);
  auto resp = drain_tx(p.device);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_BYTES_EQ(resp[0], test::hex("03070204"));  // plaintext result 4 (spec §9 #5)
  EXPECT_FALSE(p.device.logged_in());
}

TEST_P(SesameEngine, WrongSecretLoginIsRejectedAndEndsTheClientSession) {
  Pair p(cb(), db());
  register_pair(p);
  p.disconnect();
  p.events();
  crypto::DeterministicRng rng(99);
  ClientConfig cc;
  cc.backend = cb();
  cc.secret = SecretBytes(Bytes(16, 0x42));
  Client wrong(std::move(cc), rng);
  p.device.on_link_up(p.now);
  wrong.on_link_up(p.now);
  for (auto& pkt : drain_tx(p.device)) ASSERT_TRUE(wrong.feed(pkt, p.now));
  for (auto& pkt : drain_tx(wrong)) (void)p.device.feed(pkt, p.now);
  Result<void> r;
  for (auto& pkt : drain_tx(p.device)) r = wrong.feed(pkt, p.now);
  EXPECT_EQ(r.error(), Errc::login_rejected);
  EXPECT_EQ(wrong.state(), Client::State::ended);
}

TEST_P(SesameEngine, SeveralLocksInOneProcessKeepIndependentState) {
  std::vector<std::unique_ptr<Pair>> locks;
  for (std::uint64_t i = 0; i < 4; ++i) {
    locks.push_back(std::make_unique<Pair>(cb(), db(), 100 + i * 7));
    register_pair(*locks.back());
  }
  for (std::size_t i = 0; i < locks.size(); ++i)
    for (std::size_t j = i + 1; j < locks.size(); ++j)
      EXPECT_FALSE(equal(locks[i]->client.device_secret(), locks[j]->client.device_secret()));
  // Interleave: lock i gets i+1 version requests; only lock 0 is locked.
  for (int round = 0; round < 4; ++round)
    for (std::size_t i = 0; i < locks.size(); ++i)
      if (static_cast<std::size_t>(round) <= i) {
        ASSERT_TRUE(locks[i]->client.read_version(locks[i]->now));
        locks[i]->pump();
      }
  ASSERT_TRUE(locks[0]->client.lock(HistoryTag::from_text("only 0"), locks[0]->now));
  locks[0]->advance(2s);
  for (std::size_t i = 0; i < locks.size(); ++i) {
    EXPECT_EQ(locks[i]->device.rx_counter(), locks[i]->client.tx_counter());
    EXPECT_EQ(locks[i]->client.tx_counter(), i + 1 + (i == 0 ? 1u : 0u));
    EXPECT_EQ(locks[i]->client.lock_state().position,
              i == 0 ? LockState::Position::locked : LockState::Position::unlocked)
        << to_hex(locks[i]->client.lock_state().status->encode()) << " dev " << to_hex(locks[i]->device.status().encode());
  }
  // Lock 1's packets mean nothing to lock 2.
  ASSERT_TRUE(locks[1]->client.read_version(locks[1]->now));
  auto pkts = drain_tx(locks[1]->client);
  EXPECT_EQ(locks[2]->device.feed(pkts[0], locks[2]->now).error(), Errc::authentication_failed);
}

TEST_P(SesameEngine, AutoLockTimeSyncAndSettings) {
  Pair p(cb(), db(), 5, [](ClientConfig&, DeviceConfig& d) { d.unix_time_offset = kUnix - 60; });
  register_pair(p);  // registration carries the phone time: the device clock is set
  EXPECT_EQ(p.device.unix_time(p.now), p.client.unix_time(p.now));
  p.events();
  ASSERT_TRUE(p.client.set_autolock(5, p.now));
  p.pump();
  auto ev = p.events();
  EXPECT_TRUE(has<events::MechSetting>(ev, [](const auto& e) { return e.setting.auto_lock_seconds == 5; }));
  ASSERT_TRUE(p.client.lock(HistoryTag::from_text("a"), p.now));
  p.advance(2s);
  ASSERT_TRUE(p.client.unlock(HistoryTag::from_text("b"), p.now));
  p.advance(2s);
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::unlocked);
  p.advance(4s);
  EXPECT_EQ(p.client.lock_state().position, LockState::Position::locked);  // auto-locked
  EXPECT_EQ(p.device.history().back().type, 6);
  ASSERT_TRUE(p.client.set_mech_setting(-120, 10, p.now));
  p.pump();
  EXPECT_EQ(p.device.setting().lock_position, -120);
  ASSERT_TRUE(p.client.magnet(p.now));
  p.pump();
  ev = p.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::magnet; }));
}

TEST_P(SesameEngine, LoginWithSkewedClockSendsTime) {
  Pair p(cb(), db());
  const SecretBytes secret = register_pair(p);
  p.disconnect();
  p.events();
  Pair q(cb(), db(), 7, [&](ClientConfig& c, DeviceConfig& d) {
    c.secret = secret;
    d.secret = secret;
    d.unix_time_offset = kUnix + 3600;
  });
  q.connect();
  ASSERT_TRUE(q.client.ready());
  EXPECT_EQ(q.device.unix_time(q.now), q.client.unix_time(q.now));
  auto ev = q.events();
  EXPECT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == item::time; }));
  // Within 3 s: no TIME.
  Pair r(cb(), db(), 8, [&](ClientConfig& c, DeviceConfig& d) {
    c.secret = secret;
    d.secret = secret;
    d.unix_time_offset = kUnix + 3;
  });
  r.connect();
  for (const auto& e : r.events()) EXPECT_NE(item_of(e), item::time);
}

TEST_P(SesameEngine, AlreadyRegisteredAndReset) {
  Pair p(cb(), db());
  register_pair(p);
  p.disconnect();
  crypto::DeterministicRng rng(5);
  ClientConfig cc;
  cc.backend = cb();
  Client newcomer(std::move(cc), rng);  // no secret: tries to register
  p.device.on_link_up(p.now);
  newcomer.on_link_up(p.now);
  for (auto& pkt : drain_tx(p.device)) ASSERT_TRUE(newcomer.feed(pkt, p.now));
  for (auto& pkt : drain_tx(newcomer)) ASSERT_TRUE(p.device.feed(pkt, p.now));
  Result<void> r;
  for (auto& pkt : drain_tx(p.device)) r = newcomer.feed(pkt, p.now);
  EXPECT_EQ(r.error(), Errc::already_registered);
  EXPECT_TRUE(has<events::RequestFailed>(drain_events(newcomer), [](const auto& e) { return e.error == Errc::already_registered; }));
  // The owner resets the lock: unregistered afterwards, and the session ends.
  p.device.on_link_down();
  p.events();
  p.connect();
  ASSERT_TRUE(p.client.ready());
  ASSERT_TRUE(p.client.reset_device(p.now));
  p.pump();
  EXPECT_FALSE(p.device.registered());
  EXPECT_FALSE(p.device.advertisement().registered);
  EXPECT_FALSE(p.device.connected());
}

TEST_P(SesameEngine, TimeoutsAndOneRequestInFlightPerItem) {
  Pair p(cb(), db());
  register_pair(p);
  p.events();
  ASSERT_TRUE(p.client.read_version(p.now));
  EXPECT_EQ(p.client.read_version(p.now).error(), Errc::request_pending);
  EXPECT_TRUE(p.client.sync_time(p.now));  // a different item may be in flight
  drain_tx(p.client);                       // the device never sees them
  ASSERT_TRUE(p.client.next_deadline());
  EXPECT_EQ(*p.client.next_deadline(), p.now + 2s);
  p.client.on_deadline(p.now + 2s);
  auto ev = p.events();
  EXPECT_EQ(count<events::RequestFailed>(ev, [](const auto& e) { return e.error == Errc::timeout; }), 2u);
  EXPECT_TRUE(p.client.read_version(p.now));  // free again
  // No INITIAL within 5 s ends the session.
  crypto::DeterministicRng rng(3);
  Client lonely(ClientConfig{}, rng);
  lonely.on_link_up(TimePoint{});
  EXPECT_EQ(lonely.register_device(TimePoint{}).error(), Errc::not_connected);
  lonely.on_deadline(TimePoint{} + 5s);
  EXPECT_EQ(lonely.state(), Client::State::ended);
  // Commands before login.
  Client fresh(ClientConfig{}, rng);
  EXPECT_EQ(fresh.lock(HistoryTag{}, TimePoint{}).error(), Errc::not_connected);
  EXPECT_EQ(fresh.feed(test::hex("03080e01020304"), TimePoint{}).error(), Errc::not_connected);
}

TEST_P(SesameEngine, DeviceIgnoresPlaintextCommandsAndDropsUnauthenticatedSessions) {
  Pair p(cb(), db());
  p.device.on_link_up(p.now);
  drain_tx(p.device);
  EXPECT_TRUE(p.device.feed(test::hex("035200"), p.now));  // plaintext LOCK before login: ignored
  EXPECT_TRUE(drain_tx(p.device).empty());
  EXPECT_EQ(p.device.ignored_messages(), 1u);
  EXPECT_EQ(p.device.history().size(), 0u);
  ASSERT_TRUE(p.device.next_deadline());
  p.device.on_deadline(p.now + 10s);
  EXPECT_FALSE(p.device.connected());
  auto ev = drain_events(p.device);
  EXPECT_TRUE(has<events::SessionEnded>(ev));
}

// Hardening (#15 item 5): one flipped bit in the plaintext random code (INITIAL) gives the client
// a session key the lock does not have. Registration still "succeeds" (its response is
// plaintext); the lock's first encrypted publish then fails its tag. The client must not stay
// ready with a key that differs from the lock's: it ends the session and says why.
TEST_P(SesameEngine, FlippedRandomCodeDuringRegistrationEndsTheSessionWithAReason) {
  Pair p(cb(), db());
  p.pipe.strict = false;
  p.pipe.to_central.set_tamper([](std::size_t index, Bytes& pdu) {
    if (index == 0) pdu[4] ^= 0x01;  // 03 08 0e c0 c1 c2 c3: a bit of the random code
  });
  p.connect();
  EXPECT_TRUE(p.device.registered());  // the lock took the registration
  EXPECT_FALSE(p.client.ready());
  EXPECT_EQ(p.client.state(), Client::State::ended);
  EXPECT_FALSE(p.client.has_cipher());
  const auto ev = p.events();
  EXPECT_TRUE(has<events::Registered>(ev));
  EXPECT_TRUE(has<events::SessionEnded>(ev, [](const auto& e) { return e.error == Errc::session_key_mismatch; }));
}

// Hardening (#15 item 5), the silent variant: a lock that sends nothing encrypted after
// registration (publishes lost) and never answers: the first request times out on a session
// where nothing ever verified under the key. That ends the session with a reason too.
TEST_P(SesameEngine, FirstRequestUnansweredOnAFreshSessionEndsTheSession) {
  Pair p(cb(), db());
  p.pipe.strict = false;
  p.pipe.to_central.set_tamper([](std::size_t, Bytes& pdu) {
    if (!pdu.empty() && pdu[0] == 0x05) pdu.clear();  // every ciphertext packet to the client is lost
  });
  p.connect();
  ASSERT_TRUE(p.client.ready());
  p.events();
  ASSERT_TRUE(p.client.read_version(p.now));
  p.advance(3s);
  EXPECT_EQ(p.client.state(), Client::State::ended);
  const auto ev = p.events();
  EXPECT_TRUE(has<events::RequestFailed>(ev, [](const auto& e) { return e.item == item::version_tag && e.error == Errc::no_answer; }));
  EXPECT_TRUE(has<events::SessionEnded>(ev, [](const auto& e) { return e.error == Errc::no_answer; }));
  // Once a message verified, a later timeout is only a timeout.
  Pair q(cb(), db());
  register_pair(q);
  q.events();
  ASSERT_TRUE(q.client.read_version(q.now));
  drain_tx(q.client);  // lost on the way
  q.advance(3s);
  EXPECT_TRUE(q.client.ready());
  EXPECT_TRUE(has<events::RequestFailed>(q.events(), [](const auto& e) { return e.error == Errc::timeout; }));
}

// The client through link::Session over a MemoryLink hosting the emulator (the path a real GATT
// transport takes) with ATT_MTU 247: 244-byte payloads.
TEST_P(SesameEngine, LargerMtuOverAMemoryLink) {
  Pair p(cb(), db(), 1, [](ClientConfig& c, DeviceConfig& d) {
    c.packet_size = 244;
    d.packet_size = 244;
  });
  EngineIoRef<Device> lock(p.device);
  link::MemoryLink gatt(lock, kGattProfile, 247, "emulated SESAME 5");
  link::Session<Client> session(p.client, gatt, kGattProfile);
  std::size_t max_pdu = 0;
  gatt.to_central().set_tamper([&](std::size_t, Bytes& pdu) { max_pdu = std::max(max_pdu, pdu.size()); });
  gatt.connect(p.now);
  gatt.pump(p.now);
  EXPECT_TRUE(session.up());
  EXPECT_TRUE(p.client.ready());
  EXPECT_GT(max_pdu, 20u);  // the 80-byte registration response came in one packet
  ASSERT_TRUE(p.client.read_version(p.now));
  session.flush(p.now);
  gatt.pump(p.now);
  bool version = false;
  while (auto e = session.poll_event())
    if (auto* ee = std::get_if<Client::Event>(&*e)) version = version || std::holds_alternative<events::Version>(*ee);
  EXPECT_TRUE(version);
}

INSTANTIATE_TEST_SUITE_P(BackendPairs, SesameEngine, ::testing::ValuesIn(test::backend_pairs()), test::backend_pair_name);

// ---- knobs and counters (default backend) --------------------------------------------------

// Hardening (#15 item 5), as the attack run measured it: each of the 32 bits of the random code
// flipped in turn (default backend). Every one ends the client's session with the reason.
TEST(SesameHardening, EveryFlippedRandomCodeBitEndsTheSession) {
  for (int bit = 0; bit < 32; ++bit) {
    SCOPED_TRACE(bit);
    Pair p(nullptr, nullptr, static_cast<std::uint64_t>(100 + bit));
    p.pipe.strict = false;
    p.pipe.to_central.set_tamper([bit](std::size_t index, Bytes& pdu) {
      if (index == 0) pdu[3 + bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));  // 03 08 0e c0 c1 c2 c3
    });
    p.connect();
    EXPECT_EQ(p.client.state(), Client::State::ended);
    EXPECT_TRUE(has<events::SessionEnded>(p.events(), [](const auto& e) { return e.error == Errc::session_key_mismatch; }));
  }
}

TEST(SesameKnobs, AdvanceDecryptCounterOnFailure) {
  for (bool advance : {false, true}) {
    Pair p(nullptr, nullptr, 3, [&](ClientConfig&, DeviceConfig& d) { d.advance_decrypt_counter_on_failure = advance; });
    register_pair(p);
    ASSERT_TRUE(p.client.read_version(p.now));
    auto pkts = drain_tx(p.client);
    Bytes bad = pkts[0];
    bad.back() ^= 1;
    EXPECT_FALSE(p.device.feed(bad, p.now));
    EXPECT_EQ(p.device.rx_counter(), advance ? 1u : 0u);
    // The genuine message decrypts only when the counter did not move.
    EXPECT_EQ(static_cast<bool>(p.device.feed(pkts[0], p.now)), !advance);
  }
}

TEST(SesameKnobs, ResetCountersOnLoginOnlyBeforeTheClientSentCiphertext) {
  // The emulator plays firmware that restarts its counters on LOGIN (knob on) or not. Drive it
  // by hand: register, then a raw LOGIN with the right token (the client refuses to send one).
  for (bool knob : {true, false}) {
    const RandomCode code{1, 2, 3, 4};
    crypto::DeterministicRng cli_rng(4), more(5);
    crypto::ScriptedRng dev_rng({Bytes(code.begin(), code.end())}, &more);
    DeviceConfig dc;
    dc.reset_counters_on_login = knob;
    Device dev(std::move(dc), dev_rng);
    Client cli(ClientConfig{}, cli_rng);
    StrictPipe pipe(cli, dev);
    pipe.connect();
    ASSERT_TRUE(cli.ready());
    ASSERT_EQ(dev.tx_counter(), 2u);  // two publishes sealed after registration
    SessionKey key;
    ASSERT_TRUE(derive_session_key(crypto::default_backend(), cli.device_secret(), code, key));
    const LoginToken token = login_token(key.view());
    const Bytes raw_login{0x03, item::login, token[0], token[1], token[2], token[3]};
    ASSERT_TRUE(dev.feed(raw_login, pipe.now));
    EXPECT_EQ(dev.tx_counter(), knob ? 3u : 5u);  // restarted at 0 (then 3 messages) or went on
  }
}

TEST(SesameKnobs, RegistrationPayload64And68) {
  for (bool accept64 : {true, false}) {
    crypto::DeterministicRng rng(11);
    DeviceConfig dc;
    dc.accept_64_byte_registration = accept64;
    Device dev(std::move(dc), rng);
    dev.on_link_up(TimePoint{});
    drain_tx(dev);
    auto kp = crypto::default_backend().p256_generate(rng);
    ASSERT_TRUE(kp);
    Bytes msg{item::registration};
    append(msg, (*kp)->public_raw());  // ESP32 demo form: no timestamp
    std::vector<Bytes> pkts;
    ASSERT_TRUE(segment(msg, SegmentKind::plaintext, pkts));
    Result<void> r;
    for (auto& pkt : pkts) r = dev.feed(pkt, TimePoint{});
    EXPECT_EQ(static_cast<bool>(r), accept64);
    EXPECT_EQ(dev.registered(), accept64);
    if (!accept64) {
      auto resp = drain_tx(dev);
      ASSERT_EQ(resp.size(), 1u);
      EXPECT_BYTES_EQ(resp[0], test::hex("03070101"));  // invalid format
    }
  }
}

}  // namespace

struct SessionCipherProbe {
  static void set_tx(SessionCipher& c, std::uint64_t v) { c.tx_ = v; }
};

namespace {

TEST(SesameCipher, TxCounterIsNeverReused) {
  auto c = SessionCipher::create(crypto::default_backend(), Bytes(16, 1), RandomCode{1, 2, 3, 4});
  ASSERT_TRUE(c);
  SessionCipherProbe::set_tx(*c, ~std::uint64_t{0} - 1);
  EXPECT_TRUE(c->seal(Bytes{1}));
  EXPECT_EQ(c->seal(Bytes{1}).error(), Errc::counter_exhausted);
  EXPECT_EQ(c->seal(Bytes{1}).error(), Errc::counter_exhausted);
  EXPECT_EQ(c->open(Bytes{1, 2, 3}).error(), Errc::ciphertext_short);
  EXPECT_EQ(SessionCipher::create(crypto::default_backend(), Bytes(15, 1), RandomCode{}).error(), Errc::invalid_argument);
}

TEST(SesameErrors, MessagesNameTheLayer) {
  for (int e = 1; e <= static_cast<int>(kLastErrc); ++e) {
    const auto msg = make_error_code(static_cast<Errc>(e)).message();
    EXPECT_EQ(msg.rfind("sesame", 0), 0u) << msg;
  }
  EXPECT_STREQ(category().name(), "blecrypt.sesame");
}

}  // namespace
}  // namespace blecrypt::sesame

namespace blecrypt::sesame {
namespace {

// Messages above the engines' 64-byte decrypt scratch take the allocating path on both sides.
TEST(SesameEngineLarge, LongEncryptedMessagesBothWays) {
  const Bytes secret = test::hex("4a456a3ddd7a2d28af7dd1ea0aa037c2");
  const RandomCode code{0x0c, 0x0f, 0xfe, 0xe0};
  crypto::ScriptedRng dev_rng({Bytes(code.begin(), code.end())});
  crypto::DeterministicRng cli_rng(1);
  ClientConfig cc;
  cc.secret = SecretBytes(secret);
  cc.auto_time_sync = false;
  DeviceConfig dc;
  dc.secret = SecretBytes(secret);
  Client client(std::move(cc), cli_rng);
  Device device(std::move(dc), dev_rng);
  StrictPipe pipe(client, device);
  const TimePoint t = pipe.now;
  pipe.connect();
  ASSERT_TRUE(client.ready());
  drain_events(client);
  // Client -> device: an unsupported item with a 100-byte payload: result 2 comes back.
  ASSERT_TRUE(client.request(0x99, Bytes(100, 0xAB), t));
  ASSERT_TRUE(pipe.pump());
  auto ev = drain_events(client);
  ASSERT_TRUE(has<events::CommandResult>(ev, [](const auto& e) { return e.item == 0x99 && e.result == ResultCode::not_supported; }));
  // Device -> client: a 100-byte publish sealed with the device's next counter.
  auto key = derive_session_key(crypto::default_backend(), secret, code);
  ASSERT_TRUE(key);
  auto forger = SessionCipher::create(crypto::default_backend(), *key, code);
  ASSERT_TRUE(forger);
  for (std::uint64_t i = 0; i < device.tx_counter(); ++i) ASSERT_TRUE(forger->seal(Bytes{1}));
  Bytes publish = encode_publish(0xCA, Bytes(98, 0x5A));
  auto sealed = forger->seal(publish);
  ASSERT_TRUE(sealed);
  std::vector<Bytes> pkts;
  ASSERT_TRUE(segment(*sealed, SegmentKind::ciphertext, pkts));
  for (const auto& p : pkts) ASSERT_TRUE(client.feed(p, t));
  ev = drain_events(client);
  ASSERT_EQ(ev.size(), 1u);
  const auto* pub = std::get_if<events::Publish>(&ev[0]);
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(pub->item, 0xCA);
  EXPECT_BYTES_EQ(pub->payload, Bytes(98, 0x5A));
  EXPECT_EQ(client.rx_counter(), device.tx_counter() + 1);
}

}  // namespace
}  // namespace blecrypt::sesame
