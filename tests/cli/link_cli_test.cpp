// The CLI's link helper: open_link()'s option rules, the emulator link's clocks (virtual for
// exchanges, real for idle()), stop signals, reconnects with a fresh handshake, and the exit-code
// mapping of link errors. The BlueZ side runs end to end in tests/python/test_cli_*bluez.py.
#include "link_cli.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"

namespace blecrypt::cli {
namespace {

using bluetti::Client;
using bluetti::Device;

// The BLUETTI emulator as the memory link's peripheral; `silent` drops everything it would send.
class Station final : public EngineIo {
 public:
  explicit Station(bool silent = false)
      : device_(*bluetti::DeviceConfig::make(crypto::default_backend(), {}), *bluetti::PowerStation::create("AC180"),
                crypto::system_rng()),
        silent_(silent) {}
  void on_link_up(TimePoint now) override {
    ++links_up;
    device_.on_link_up(now);
  }
  void on_link_down() override { device_.on_link_down(); }
  Result<void> feed(ByteView in, TimePoint now) override { return device_.feed(in, now); }
  std::optional<Bytes> poll_transmit() override {
    auto b = device_.poll_transmit();
    while (silent_ && b) b = device_.poll_transmit();
    return b;
  }
  std::optional<TimePoint> next_deadline() const override { return device_.next_deadline(); }
  void on_deadline(TimePoint now) override { device_.on_deadline(now); }
  Bytes verify_key() const { return Bytes(device_.verify_key().begin(), device_.verify_key().end()); }
  int links_up = 0;

 private:
  Device device_;
  bool silent_;
};

struct Rig {
  explicit Rig(bool silent = false, unsigned timeout = 30) {
    LinkCli o;
    o.emulator = "AC180";
    o.timeout = timeout;
    link = open_link(o, bluetti::kGattProfile, [&](const std::string&) {
      auto s = std::make_unique<Station>(silent);
      station = s.get();
      return s;
    });
    client.emplace(*bluetti::ClientConfig::make(crypto::default_backend(), station->verify_key()), crypto::system_rng());
    session.emplace(*client, link->link(), bluetti::kGattProfile);
  }
  bool handshake() {
    link->start();
    return link->run_until(*session, [&] {
      while (auto e = session->poll_event()) {
      }
      session->flush(link->now());
      return client->established();
    });
  }
  Station* station = nullptr;
  std::unique_ptr<OpenLink> link;
  std::optional<Client> client;
  std::optional<link::Session<Client>> session;
};

void expect_user_error(const LinkCli& o, const std::string& words) {
  try {
    (void)open_link(o, bluetti::kGattProfile, [](const std::string&) { return std::unique_ptr<EngineIo>(); });
    FAIL() << "no error for " << words;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(LinkCli, OptionRules) {
  LinkCli o;
  expect_user_error(o, "ADDRESS (or --emulator MODEL) is required");
  o.address = "C4:DE:E2:11:22:33";
  o.emulator = "AC180";
  expect_user_error(o, "not both");
  o.emulator.clear();
  o.mtu = 517;
  expect_user_error(o, "--mtu applies to --emulator only");
  o.mtu = 0;
  for (const char* bad : {"C4:DE:E2:11:22", "C4-DE-E2-11-22-33", "C4:DE:E2:11:22:3G", "C4:DE:E2:11:22:33:"}) {
    o.address = bad;
    expect_user_error(o, "is not a Bluetooth address");
  }
  o.address.clear();
  o.emulator = "AC180";
  o.adapter = "hci0";
  expect_user_error(o, "--adapter applies to a device ADDRESS");
  o.adapter.clear();
  o.emulator = "XYZ";
  expect_user_error(o, "unknown emulator model 'XYZ'");
}

TEST(LinkCli, OptionsAreDecimalAndInRange) {
  for (const char* bad : {"0", "0x5", "-1", " 5", "3601", "1e3"}) {
    CLI::App app;
    LinkCli o;
    add_link_options(app, o);
    std::vector<std::string> args{"--timeout", bad, "--emulator", "AC180"};
    std::reverse(args.begin(), args.end());
    EXPECT_THROW(app.parse(args), CLI::ParseError) << bad;
  }
  CLI::App app;
  LinkCli o;
  add_link_options(app, o);
  std::vector<std::string> args{"--timeout", "007", "--mtu", "0517", "C4:DE:E2:11:22:33"};
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments as a stack
  app.parse(args);
  EXPECT_EQ(o.timeout, 7u);
  EXPECT_EQ(o.mtu, 517u);
  EXPECT_EQ(o.address, "C4:DE:E2:11:22:33");
}

TEST(LinkCli, EmulatorHandshakeOnVirtualTime) {
  Rig r;
  EXPECT_EQ(r.link->link().att_mtu(), link::kDefaultAttMtu);
  ASSERT_TRUE(r.handshake());
  EXPECT_EQ(r.station->links_up, 1);
  EXPECT_LT(r.link->now() - TimePoint{}, std::chrono::seconds(1));  // nothing had to wait
}

TEST(LinkCli, SilentPeripheralTimesOutOnTheVirtualClock) {
  Rig r(/*silent=*/true, /*timeout=*/7);
  EXPECT_FALSE(r.handshake());
  EXPECT_EQ(r.link->why_not("handshake"), "handshake: timed out after 7 s");
  // The limit passed on the virtual clock (the emulator path never sleeps for it).
  EXPECT_LE(r.link->now() - TimePoint{}, std::chrono::seconds(7));
  // An explicit limit instead of --timeout.
  const TimePoint before = r.link->now();
  EXPECT_FALSE(r.link->run_until(*r.session, [] { return false; }, std::chrono::seconds(2)));
  EXPECT_LE(r.link->now() - before, std::chrono::seconds(2));
}

TEST(LinkCli, LinkErrorIsTheReason) {
  Rig r;
  ASSERT_TRUE(r.handshake());
  r.link->stop();
  std::optional<std::error_code> why;
  while (auto e = r.session->poll_event())
    if (auto* d = std::get_if<link::events::LinkDown>(&*e)) why = d->why;
  ASSERT_TRUE(why.has_value());
  r.link->note_link_error(*why);
  EXPECT_EQ(r.link->why_not("reading"), "reading: link: the connection dropped");
  r.link->clear_link_error();
  EXPECT_EQ(r.link->why_not("reading"), "reading: timed out after 30 s");
}

TEST(LinkCli, StartAgainAfterStopRunsAFreshHandshake) {
  Rig r;
  ASSERT_TRUE(r.handshake());
  r.link->stop();
  while (r.session->poll_event()) {
  }
  EXPECT_FALSE(r.client->established());
  EXPECT_TRUE(r.client->holds_no_secrets());  // keys wiped on link loss
  ASSERT_TRUE(r.handshake());
  EXPECT_EQ(r.station->links_up, 2);
}

TEST(LinkCli, IdleWaitsInRealTimeAndTheVirtualClockFollows) {
  Rig r;
  ASSERT_TRUE(r.handshake());
  const TimePoint before = r.link->now();
  const auto real_before = std::chrono::steady_clock::now();
  r.link->idle(*r.session, std::chrono::milliseconds(30));
  EXPECT_GE(std::chrono::steady_clock::now() - real_before, std::chrono::milliseconds(30));
  EXPECT_GE(r.link->now() - before, std::chrono::milliseconds(30));
  EXPECT_TRUE(r.client->established());  // the session stayed up meanwhile
  // wake() ends it at once.
  const TimePoint t = r.link->now();
  r.link->idle(*r.session, std::chrono::hours(1), [] { return true; });
  EXPECT_LT(r.link->now() - t, std::chrono::hours(1));
}

TEST(LinkCli, StopSignalEndsIdleAndRunUntil) {
  Rig r;
  ASSERT_TRUE(r.handshake());
  r.link->catch_stop_signals();
  EXPECT_FALSE(r.link->stop_requested());
  ASSERT_EQ(std::raise(SIGTERM), 0);  // blocked: queued for the signalfd, the process lives on
  const TimePoint t = r.link->now();
  r.link->idle(*r.session, std::chrono::hours(1));
  EXPECT_TRUE(r.link->stop_requested());
  EXPECT_LT(r.link->now() - t, std::chrono::hours(1));  // the virtual clock followed the (short) real wait
}

TEST(LinkCli, LinkErrorsMapToExitCodes) {
  EXPECT_TRUE(is_unavailable(link::Errc::adapter_off));
  EXPECT_TRUE(is_unavailable(link::Errc::bluetooth_unavailable));
  EXPECT_TRUE(is_unavailable(link::Errc::adapter_not_found));
  EXPECT_TRUE(is_unavailable(link::Errc::permission_denied));
  EXPECT_FALSE(is_unavailable(link::Errc::timed_out));
  EXPECT_THROW(throw_link_error(link::Errc::adapter_off, "x"), BluetoothUnavailable);
  EXPECT_THROW(throw_link_error(link::Errc::device_not_found, "x"), DeviceError);
  try {
    throw_link_error(link::Errc::disconnected, "connecting to X");
  } catch (const DeviceError& e) {
    EXPECT_STREQ(e.what(), "connecting to X: link: the connection dropped");
  }
}

#ifdef BLECRYPT_HAVE_BLUEZ
TEST(LinkCli, AddressWithoutASystemBusIsBluetoothUnavailable) {
  ASSERT_EQ(::setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/blecrypt-test-bus", 1), 0);
  LinkCli o;
  o.address = "C4:DE:E2:11:22:33";
  try {
    (void)open_link(o, bluetti::kGattProfile, nullptr);
    FAIL() << "opened a link without a bus";
  } catch (const BluetoothUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("Bluetooth is unavailable"), std::string::npos) << e.what();
  }
}
#endif

}  // namespace
}  // namespace blecrypt::cli
