// The BlueZ transport against the project's BlueZ mock (tests/bluez) on a private system bus:
// adapter selection and its errors, scanning + classification, connect (with discovery, retries,
// timeouts), AcquireNotify and StartNotify, writes at MTU 23 and 517, link loss, reconnect, two
// links at once, org.bluez leaving the bus. Each test starts its own dbus-daemon + mock
// (tests/bluez_transport/mock_ctl.py) and stops them; nothing outlives the test.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sdbus-c++/sdbus-c++.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "blecrypt/fifo.hpp"
#include "blecrypt/link/bluez/bluez.hpp"
#include "blecrypt/link/bluez/drive.hpp"

namespace blecrypt::link::bluez {
namespace {

using namespace std::chrono_literals;

constexpr GattProfile kProfile{"toy", "0000aa00-0000-1000-8000-00805f9b34fb", "0000aa02-0000-1000-8000-00805f9b34fb",
                               "0000aa01-0000-1000-8000-00805f9b34fb", WriteType::without_response};

std::string source_dir() {
  const char* d = std::getenv("BLECRYPT_SOURCE_DIR");
  return d ? d : ".";
}

// mock_ctl.py as a child: stdin carries commands, stdout the answers.
class MockProcess {
 public:
  explicit MockProcess(std::vector<std::string> flags) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      dup2(in[0], 0);
      dup2(out[1], 1);
      const std::string script = source_dir() + "/tests/bluez_transport/mock_ctl.py";
      std::vector<char*> argv{const_cast<char*>("/usr/bin/python3"), const_cast<char*>(script.c_str())};
      for (auto& f : flags) argv.push_back(f.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
    for (;;) {
      const std::string line = read_line(20s);
      if (line.empty()) throw std::runtime_error("BlueZ mock did not start");
      if (line.rfind("DBUS_SYSTEM_BUS_ADDRESS=", 0) == 0) address_ = line.substr(24);
      if (line == "READY") break;
    }
    setenv("DBUS_SYSTEM_BUS_ADDRESS", address_.c_str(), 1);
  }
  ~MockProcess() {
    close(to_);  // EOF: the script stops the mock and the bus
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        close(from_);
        return;
      }
      poll(nullptr, 0, 50);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(from_);
  }
  std::string command(const std::string& c) {
    const std::string line = c + "\n";
    if (::write(to_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return "ERR write";
    return read_line(20s);
  }

 private:
  std::string read_line(std::chrono::milliseconds timeout) {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
      char tmp[512];
      const ssize_t n = ::read(from_, tmp, sizeof tmp);
      if (n <= 0) return {};
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_, address_;
};

using GattSpec = std::vector<sdbus::Struct<std::string, std::vector<sdbus::Struct<std::string, std::vector<std::string>>>>>;

// Steers the mock over its org.bluez.Mock interface (a connection of its own).
class Control {
 public:
  Control() : conn_(sdbus::createSystemBusConnection()), mock_(sdbus::createProxy(*conn_, "org.bluez", "/")) {}

  std::string add_device(const std::string& address, std::map<std::string, sdbus::Variant> options = {},
                         std::vector<std::string> write_flags = {"write-without-response", "write"}) {
    GattSpec gatt{{std::string(kProfile.service),
                   {{std::string(kProfile.notify_characteristic), {"notify"}},
                    {std::string(kProfile.write_characteristic), write_flags}}}};
    options.emplace("gatt", sdbus::Variant(gatt));
    sdbus::ObjectPath path;
    mock_->callMethod("AddLeDevice").onInterface("org.bluez.Mock").withArguments(std::string("hci0"), address, options).storeResultsTo(path);
    return path;
  }
  std::string char_path(const std::string& device, std::string_view uuid) {
    std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>> objects;
    mock_->callMethod("GetManagedObjects").onInterface("org.freedesktop.DBus.ObjectManager").storeResultsTo(objects);
    for (auto& [p, ifs] : objects) {
      auto c = ifs.find("org.bluez.GattCharacteristic1");
      if (c != ifs.end() && p.rfind(device + "/", 0) == 0 && c->second.at("UUID").get<std::string>() == uuid) return p;
    }
    return {};
  }
  void notify(const std::string& chr, const Bytes& value) {
    mock_->callMethod("Notify").onInterface("org.bluez.Mock").withArguments(sdbus::ObjectPath(chr), value);
  }
  std::vector<Bytes> written(const std::string& chr) {
    std::vector<Bytes> w;
    mock_->callMethod("GetWritten").onInterface("org.bluez.Mock").withArguments(sdbus::ObjectPath(chr)).storeResultsTo(w);
    return w;
  }
  void drop_link(const std::string& dev) {
    mock_->callMethod("DropLink").onInterface("org.bluez.Mock").withArguments(sdbus::ObjectPath(dev));
  }
  void connect_fault(const std::string& dev, const std::string& mode, std::uint32_t count) {
    mock_->callMethod("SetConnectFault").onInterface("org.bluez.Mock").withArguments(sdbus::ObjectPath(dev), mode, count);
  }
  void in_range(const std::string& dev, bool on) {
    mock_->callMethod("SetInRange").onInterface("org.bluez.Mock").withArguments(sdbus::ObjectPath(dev), on);
  }
  void powered(bool on) {
    bool now = false;
    mock_->callMethod("SetPowered").onInterface("org.bluez.Mock").withArguments(std::string("hci0"), on).storeResultsTo(now);
  }

 private:
  std::unique_ptr<sdbus::IConnection> conn_;
  std::unique_ptr<sdbus::IProxy> mock_;
};

struct Recorder final : LinkListener {
  int connected = 0, subscribed = 0;
  std::vector<Bytes> notes;
  std::vector<std::error_code> downs, errors;
  GattLink* link = nullptr;
  bool auto_subscribe = true;
  void on_connected(TimePoint) override {
    ++connected;
    if (auto_subscribe && link) {
      EXPECT_TRUE(link->subscribe(kProfile.notify_characteristic));
    }
  }
  void on_subscribed(std::string_view c, TimePoint) override {
    EXPECT_EQ(c, kProfile.notify_characteristic);
    ++subscribed;
  }
  void on_notification(std::string_view c, ByteView v, TimePoint) override {
    EXPECT_EQ(c, kProfile.notify_characteristic);
    notes.emplace_back(v.begin(), v.end());
  }
  void on_disconnected(std::error_code why, TimePoint) override { downs.push_back(why); }
  void on_transport_error(std::error_code e, TimePoint) override { errors.push_back(e); }
};

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i);
  return b;
}

constexpr const char* kAddrA = "C4:DE:E2:00:00:0A";
constexpr const char* kAddrB = "C4:DE:E2:00:00:0B";

class BluezLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = std::make_unique<MockProcess>(std::vector<std::string>{});
    ctl_ = std::make_unique<Control>();
  }
  std::unique_ptr<Bluez> open(std::string_view adapter = {}) {
    auto bz = Bluez::open(loop_, adapter);
    EXPECT_TRUE(bz) << (bz ? "" : bz.error().message());
    return bz ? std::move(*bz) : nullptr;
  }
  bool run(const std::function<bool()>& done, Duration limit = 15s) { return loop_.run_until(done, loop_.now() + limit); }
  // Connects `link` with `rec` attached, and waits until notifications are on.
  void bring_up(BluezLink& link, Recorder& rec) {
    rec.link = &link;
    link.set_listener(&rec);
    link.connect();
    ASSERT_TRUE(run([&] { return rec.subscribed > 0 || !rec.downs.empty(); }));
    ASSERT_TRUE(rec.downs.empty()) << rec.downs.front().message();
    ASSERT_TRUE(link.connected());
  }

  EventLoop loop_;
  std::unique_ptr<MockProcess> mock_;
  std::unique_ptr<Control> ctl_;
};

// ---- adapter ----

TEST(BluezAdapter, NoBusAtAllIsBluetoothUnavailable) {
  setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/blecrypt-no-bus", 1);
  EventLoop loop;
  auto bz = Bluez::open(loop);
  ASSERT_FALSE(bz);
  EXPECT_EQ(bz.error(), Errc::bluetooth_unavailable);
}

TEST(BluezAdapter, BusWithoutOrgBluezIsBluetoothUnavailable) {
  MockProcess bus({"--no-bluez"});
  EventLoop loop;
  auto bz = Bluez::open(loop);
  ASSERT_FALSE(bz);
  EXPECT_EQ(bz.error(), Errc::bluetooth_unavailable);
  EXPECT_NE(bz.error().message().find("bluetoothd"), std::string::npos);
}

TEST(BluezAdapter, NoAdapterIsAdapterNotFound) {
  MockProcess bus({"--no-adapter"});
  EventLoop loop;
  auto bz = Bluez::open(loop);
  ASSERT_FALSE(bz);
  EXPECT_EQ(bz.error(), Errc::adapter_not_found);
}

TEST_F(BluezLinkTest, AdapterByNameDefaultAndUnknown) {
  auto bz = open();
  ASSERT_TRUE(bz);
  EXPECT_EQ(bz->adapter().name, "hci0");
  EXPECT_EQ(bz->adapter().path, "/org/bluez/hci0");
  EXPECT_TRUE(open("hci0"));
  auto missing = Bluez::open(loop_, "hci7");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::adapter_not_found);
}

TEST_F(BluezLinkTest, PoweredOffAdapterIsAdapterOff) {
  ctl_->powered(false);
  auto bz = Bluez::open(loop_);
  ASSERT_FALSE(bz);
  EXPECT_EQ(bz.error(), Errc::adapter_off);
  auto named = Bluez::open(loop_, "hci0");
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error(), Errc::adapter_off);
}

// ---- scan ----

TEST_F(BluezLinkTest, ScanReportsAndClassifies) {
  std::map<std::uint16_t, sdbus::Variant> bluetti_md{{0x4C42, sdbus::Variant(Bytes{'B', 'L', 'U', 'E', 'T', 'T', 'F'})}};
  Bytes sesame_md{0x05, 0x00, 0x01};
  for (int i = 0; i < 16; ++i) sesame_md.push_back(static_cast<std::uint8_t>(i));
  std::map<std::uint16_t, sdbus::Variant> sesame_mdv{{0x055A, sdbus::Variant(sesame_md)}};
  ctl_->add_device(kAddrA, {{"name", sdbus::Variant(std::string("AC1802235000123456"))},
                            {"manufacturer_data", sdbus::Variant(bluetti_md)},
                            {"rssi", sdbus::Variant(std::int16_t(-48))}});
  ctl_->add_device(kAddrB, {{"name", sdbus::Variant(std::string("lock"))}, {"manufacturer_data", sdbus::Variant(sesame_mdv)}});
  ctl_->add_device("11:22:33:44:55:66", {{"name", sdbus::Variant(std::string("Phone"))}, {"cached", sdbus::Variant(true)}});
  auto bz = open();
  ASSERT_TRUE(bz);
  std::map<std::string, DeviceInfo> seen;
  ASSERT_TRUE(bz->start_scan([&](const DeviceInfo& d) { seen[d.address] = d; }));
  ASSERT_TRUE(run([&] { return seen.size() >= 3; }));
  bz->stop_scan();
  const auto& a = seen.at(kAddrA);
  EXPECT_EQ(a.name, "AC1802235000123456");
  EXPECT_EQ(a.rssi, std::int16_t(-48));
  EXPECT_EQ(a.info.protocol, Protocol::bluetti);
  EXPECT_EQ(a.info.model, "AC180");
  EXPECT_TRUE(a.info.encrypted.value_or(false));
  EXPECT_EQ(a.manufacturer_data.at(0x4C42), (Bytes{'B', 'L', 'U', 'E', 'T', 'T', 'F'}));
  const auto& b = seen.at(kAddrB);
  EXPECT_EQ(b.info.protocol, Protocol::sesame);
  EXPECT_EQ(b.info.model, "SESAME 5");
  EXPECT_TRUE(b.info.registered.value_or(false));
  EXPECT_EQ(seen.at("11:22:33:44:55:66").info.protocol, Protocol::other);  // cached: known + heard
}

TEST_F(BluezLinkTest, ScanWhileAdapterOffFailsTyped) {
  auto bz = open();
  ASSERT_TRUE(bz);
  ctl_->powered(false);
  auto r = bz->start_scan([](const DeviceInfo&) {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::adapter_off);
}

// ---- connect, notify, write ----

class BluezMtuTest : public BluezLinkTest, public ::testing::WithParamInterface<std::tuple<int, bool>> {};

TEST_P(BluezMtuTest, ConnectSubscribeWriteNotify) {
  const auto [mtu, acquire] = GetParam();
  const std::string dev = ctl_->add_device(kAddrA, {{"mtu", sdbus::Variant(static_cast<std::uint16_t>(mtu))}});
  auto bz = open();
  ASSERT_TRUE(bz);
  LinkOptions o;
  o.acquire_notify = acquire;
  auto link = bz->make_link(kAddrA, kProfile, o);
  Recorder rec;
  bring_up(*link, rec);  // the device was never scanned: the link discovers it first
  EXPECT_EQ(link->att_mtu(), static_cast<std::size_t>(mtu));
  EXPECT_EQ(link->notify_acquired(), acquire);
  EXPECT_EQ(link->describe(), std::string(kAddrA) + " via hci0");

  const std::size_t payload = att_payload(link->att_mtu());
  const Bytes w1 = pattern(payload, 1), w2 = pattern(3, 9);
  ASSERT_TRUE(link->write(kProfile.write_characteristic, w1, WriteType::without_response));
  ASSERT_TRUE(link->write(kProfile.write_characteristic, w2, WriteType::with_response));
  auto too_long = link->write(kProfile.write_characteristic, pattern(payload + 1, 0), WriteType::without_response);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error(), Errc::value_too_long);
  auto wrong = link->write(kProfile.notify_characteristic, w2, WriteType::without_response);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error(), Errc::no_such_characteristic);

  const std::string wchar = ctl_->char_path(dev, kProfile.write_characteristic);
  ASSERT_FALSE(wchar.empty());
  std::vector<Bytes> got;
  ASSERT_TRUE(run([&] {
    got = ctl_->written(wchar);
    return got.size() >= 2;
  }));
  EXPECT_EQ(got, (std::vector<Bytes>{w1, w2}));  // in order, whole

  const std::string nchar = ctl_->char_path(dev, kProfile.notify_characteristic);
  const Bytes n1 = pattern(payload, 0x40), n2 = pattern(1, 0x80);
  ctl_->notify(nchar, n1);
  ctl_->notify(nchar, n2);
  ASSERT_TRUE(run([&] { return rec.notes.size() >= 2; }));
  EXPECT_EQ(rec.notes, (std::vector<Bytes>{n1, n2}));
  EXPECT_TRUE(rec.errors.empty());
  EXPECT_TRUE(rec.downs.empty());
}

INSTANTIATE_TEST_SUITE_P(MtuAndNotifyPath, BluezMtuTest,
                         ::testing::Combine(::testing::Values(23, 517), ::testing::Values(true, false)));

TEST_F(BluezLinkTest, WriteTypeFallsBackToWhatTheCharacteristicOffers) {
  const std::string dev = ctl_->add_device(kAddrA, {}, {"write"});  // no write-without-response
  auto bz = open();
  auto link = bz->make_link(kAddrA, kProfile);  // prefers without_response
  Recorder rec;
  bring_up(*link, rec);
  ASSERT_TRUE(link->write(kProfile.write_characteristic, Bytes{1, 2, 3}, WriteType::without_response));
  const std::string wchar = ctl_->char_path(dev, kProfile.write_characteristic);
  ASSERT_TRUE(run([&] { return ctl_->written(wchar).size() == 1; }));
  EXPECT_TRUE(rec.errors.empty()) << rec.errors.front().message();  // "command" would be NotSupported
}

TEST_F(BluezLinkTest, MissingCharacteristicIsNoSuchCharacteristic) {
  ctl_->add_device(kAddrA);
  auto bz = open();
  GattProfile other = kProfile;
  other.write_characteristic = "0000bb02-0000-1000-8000-00805f9b34fb";
  auto link = bz->make_link(kAddrA, other);
  Recorder rec;
  link->set_listener(&rec);
  link->connect();
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }));
  EXPECT_EQ(rec.downs.front(), Errc::no_such_characteristic);
  EXPECT_EQ(rec.connected, 0);
  EXPECT_EQ(link->attempts(), 1u);  // not retried
}

// ---- failures ----

TEST_F(BluezLinkTest, LinkDroppedMidExchangeFailsCleanlyAndReconnectWorks) {
  const std::string dev = ctl_->add_device(kAddrA);
  auto bz = open();
  auto link = bz->make_link(kAddrA, kProfile);
  Recorder rec;
  bring_up(*link, rec);
  ASSERT_TRUE(link->write(kProfile.write_characteristic, Bytes{1}, WriteType::without_response));
  ctl_->drop_link(dev);
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }));
  EXPECT_EQ(rec.downs.front(), Errc::disconnected);
  EXPECT_FALSE(link->connected());
  auto w = link->write(kProfile.write_characteristic, Bytes{2}, WriteType::without_response);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), Errc::not_connected);

  link->connect();  // again, by hand
  ASSERT_TRUE(run([&] { return rec.subscribed == 2 || rec.downs.size() > 1; }));
  ASSERT_EQ(rec.downs.size(), 1u);
  const std::string nchar = ctl_->char_path(dev, kProfile.notify_characteristic);
  ctl_->notify(nchar, Bytes{7, 7});
  ASSERT_TRUE(run([&] { return !rec.notes.empty(); }));
  EXPECT_EQ(rec.notes.back(), (Bytes{7, 7}));
}

TEST_F(BluezLinkTest, ReconnectOptionBringsTheLinkBack) {
  const std::string dev = ctl_->add_device(kAddrA);
  auto bz = open();
  LinkOptions o;
  o.reconnect = true;
  o.backoff = 20ms;
  auto link = bz->make_link(kAddrA, kProfile, o);
  Recorder rec;
  bring_up(*link, rec);
  ctl_->drop_link(dev);
  ASSERT_TRUE(run([&] { return rec.subscribed == 2; }));
  EXPECT_EQ(rec.downs.size(), 1u);
  EXPECT_EQ(rec.connected, 2);
  link->disconnect();
  EXPECT_FALSE(link->connected());
  EXPECT_EQ(rec.downs.size(), 2u);
}

TEST_F(BluezLinkTest, TransientConnectErrorsAreRetriedWithBackoff) {
  const std::string dev = ctl_->add_device(kAddrA, {{"cached", sdbus::Variant(true)}});
  ctl_->connect_fault(dev, "abort-by-local", 1);
  auto bz = open();
  LinkOptions o;
  o.backoff = 20ms;
  auto link = bz->make_link(kAddrA, kProfile, o);
  Recorder rec;
  bring_up(*link, rec);
  EXPECT_EQ(link->attempts(), 2u);
  ctl_->drop_link(dev);
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }));
  ctl_->connect_fault(dev, "in-progress", 2);
  link->connect();
  ASSERT_TRUE(run([&] { return rec.subscribed == 2 || rec.downs.size() > 1; }));
  EXPECT_EQ(rec.downs.size(), 1u);
  EXPECT_EQ(link->attempts(), 5u);
}

TEST_F(BluezLinkTest, GivesUpAfterTheLastAttempt) {
  const std::string dev = ctl_->add_device(kAddrA, {{"cached", sdbus::Variant(true)}});
  ctl_->connect_fault(dev, "in-progress", 10);
  auto bz = open();
  LinkOptions o;
  o.backoff = 10ms;
  o.attempts = 3;
  auto link = bz->make_link(kAddrA, kProfile, o);
  Recorder rec;
  link->set_listener(&rec);
  link->connect();
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }));
  EXPECT_EQ(rec.downs.front(), Errc::busy);
  EXPECT_EQ(link->attempts(), 3u);
}

TEST_F(BluezLinkTest, DeviceThatNeverAnswersTimesOut) {
  const std::string dev = ctl_->add_device(kAddrA, {{"cached", sdbus::Variant(true)}});
  ctl_->in_range(dev, false);  // Connect would hang until bluetoothd gives up
  auto bz = open();
  LinkOptions o;
  o.connect_timeout = 500ms;
  o.attempts = 1;
  auto link = bz->make_link(kAddrA, kProfile, o);
  Recorder rec;
  link->set_listener(&rec);
  link->connect();
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }, 10s));
  EXPECT_EQ(rec.downs.front(), Errc::timed_out);
  EXPECT_FALSE(link->connecting());
}

TEST_F(BluezLinkTest, UnknownDeviceNotFoundAfterDiscovery) {
  auto bz = open();
  LinkOptions o;
  o.discovery_timeout = 300ms;
  auto link = bz->make_link("00:11:22:33:44:55", kProfile, o);
  Recorder rec;
  link->set_listener(&rec);
  link->connect();
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }, 10s));
  EXPECT_EQ(rec.downs.front(), Errc::device_not_found);
}

TEST_F(BluezLinkTest, TwoDevicesAtOnce) {
  const std::string da = ctl_->add_device(kAddrA);
  const std::string db = ctl_->add_device(kAddrB, {{"mtu", sdbus::Variant(std::uint16_t(247))}});
  auto bz = open();
  auto la = bz->make_link(kAddrA, kProfile);
  auto lb = bz->make_link(kAddrB, kProfile);
  Recorder ra, rb;
  ra.link = la.get();
  rb.link = lb.get();
  la->set_listener(&ra);
  lb->set_listener(&rb);
  la->connect();  // both at once: the adapter serialises the connects
  lb->connect();
  ASSERT_TRUE(run([&] { return ra.subscribed && rb.subscribed; }));
  EXPECT_EQ(la->att_mtu(), 23u);
  EXPECT_EQ(lb->att_mtu(), 247u);
  ctl_->notify(ctl_->char_path(da, kProfile.notify_characteristic), Bytes{0xA});
  ctl_->notify(ctl_->char_path(db, kProfile.notify_characteristic), Bytes{0xB});
  ASSERT_TRUE(run([&] { return !ra.notes.empty() && !rb.notes.empty(); }));
  EXPECT_EQ(ra.notes, (std::vector<Bytes>{{0xA}}));
  EXPECT_EQ(rb.notes, (std::vector<Bytes>{{0xB}}));
  ctl_->drop_link(da);  // one drops, the other stays
  ASSERT_TRUE(run([&] { return !ra.downs.empty(); }));
  EXPECT_TRUE(lb->connected());
  EXPECT_TRUE(rb.downs.empty());
}

TEST_F(BluezLinkTest, OrgBluezLeavingTheBusDropsTheLink) {
  ctl_->add_device(kAddrA);
  auto bz = open();
  auto link = bz->make_link(kAddrA, kProfile);
  Recorder rec;
  bring_up(*link, rec);
  ASSERT_EQ(mock_->command("stop-bluez"), "OK");
  ASSERT_TRUE(run([&] { return !rec.downs.empty(); }));
  EXPECT_EQ(rec.downs.front(), Errc::bluetooth_unavailable);
  EXPECT_FALSE(bz->available());
}

TEST(BluezEventLoop, TimersFireInOrderAndCancel) {
  EventLoop loop;
  std::vector<int> fired;
  const auto t0 = loop.now();
  loop.at(t0 + 30ms, [&] { fired.push_back(3); });
  loop.at(t0 + 10ms, [&] { fired.push_back(1); });
  auto c = loop.at(t0 + 20ms, [&] { fired.push_back(2); });
  loop.cancel(c);
  ASSERT_TRUE(loop.run_until([&] { return fired.size() == 2; }, t0 + 5s));
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  EXPECT_GE(loop.now(), t0 + 30ms);  // never early
  EXPECT_FALSE(loop.run_until([] { return false; }, loop.now() + 20ms));
}

TEST(BluezEventLoop, WatchesAFileDescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EventLoop loop;
  std::string got;
  auto w = loop.watch(fds[0], POLLIN, [&](short) {
    char c;
    if (::read(fds[0], &c, 1) == 1) got += c;
  });
  loop.after(10ms, [&] { ASSERT_EQ(::write(fds[1], "x", 1), 1); });
  ASSERT_TRUE(loop.run_until([&] { return got == "x"; }, loop.now() + 5s));
  loop.unwatch(w);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace blecrypt::link::bluez

namespace blecrypt::link::bluez {
namespace {

// A toy central engine: says "hello" on link up, "tick" at a deadline 50 ms later, and reports
// every notification. Runs in a link::Session over a BluezLink with drive.hpp's run_until.
struct Chatty {
  struct Got {
    Bytes data;
  };
  using Event = std::variant<Got>;
  Fifo<Bytes> tx;
  Fifo<Event> ev;
  std::optional<TimePoint> deadline;
  int ticks = 0;
  void on_link_up(TimePoint now) {
    tx.push_back(Bytes{'h', 'e', 'l', 'l', 'o'});
    deadline = now + 50ms;
  }
  void on_link_down() { deadline.reset(); }
  Result<void> feed(ByteView in, TimePoint) {
    ev.push_back(Got{Bytes(in.begin(), in.end())});
    return ok();
  }
  std::optional<Bytes> poll_transmit() { return tx.empty() ? std::nullopt : std::optional<Bytes>(tx.take()); }
  std::optional<Event> poll_event() { return ev.empty() ? std::nullopt : std::optional<Event>(ev.take()); }
  std::optional<TimePoint> next_deadline() const { return deadline; }
  void on_deadline(TimePoint now) {
    if (!deadline || now < *deadline) return;
    deadline.reset();
    ++ticks;
    tx.push_back(Bytes(40, 't'));  // longer than MTU 23 - 3: the session splits it
  }
  void reset() { *this = Chatty(); }
};
static_assert(Engine<Chatty>);

TEST_F(BluezLinkTest, SessionRunsAnEngineWithItsDeadlinesOnTheLoop) {
  const std::string dev = ctl_->add_device(kAddrA);
  auto bz = open();
  auto link = bz->make_link(kAddrA, kProfile);
  Chatty engine;
  Session<Chatty> session(engine, *link, kProfile);
  std::vector<Bytes> got;
  session.set_event_handler([&](Session<Chatty>::Event&& e) {
    if (auto* g = std::get_if<4>(&e)) got.push_back(std::get<Chatty::Got>(*g).data);
  });
  link->connect();
  ASSERT_TRUE(run_until(loop_, session, [&] { return engine.ticks == 1; }, 15s));
  const std::string wchar = ctl_->char_path(dev, kProfile.write_characteristic);
  std::vector<Bytes> written;
  ASSERT_TRUE(run_until(loop_, session, [&] { return (written = ctl_->written(wchar)).size() >= 3; }, 15s));
  EXPECT_EQ(written, (std::vector<Bytes>{Bytes{'h', 'e', 'l', 'l', 'o'}, Bytes(20, 't'), Bytes(20, 't')}));
  ctl_->notify(ctl_->char_path(dev, kProfile.notify_characteristic), Bytes{1, 2, 3});
  ASSERT_TRUE(run_until(loop_, session, [&] { return !got.empty(); }, 15s));
  EXPECT_EQ(got.front(), (Bytes{1, 2, 3}));
}

}  // namespace
}  // namespace blecrypt::link::bluez
