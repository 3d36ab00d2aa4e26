// The drop-in BluettiCrypt API driven exactly as the official module's callers drive it, against
// the device emulator over a 20-byte ATT link; statuses 0..4, licence allow/deny, key sources.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>

#include <sys/stat.h>
#include <unistd.h>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/link/wire.hpp"
#include "pair.hpp"

namespace blecrypt::bluetti {
namespace {

std::string test_key() { return std::string(kTestDevicePublicKey.begin(), kTestDevicePublicKey.end()); }

// The drop-in API is not an engine (the caller shuttles bytes itself): two 20-byte ATT wires.
struct AttLink {
  link::Wire to_central{link::att_payload(link::kDefaultAttMtu)};
  link::Wire to_peripheral{link::att_payload(link::kDefaultAttMtu)};
};

struct Run {
  std::vector<int> statuses;  // one per handler call, consecutive duplicates collapsed
  int final_status = -1;
  bool serial_read_sent = false;
};

// Pass every notification to ble_crypt_link_handler, write back any non-empty reply, at status 3
// send encrypt_data(read 11006 x4) and pass the answer to the handler too.
// `duplicate`: the unit sends every message twice (a caller without the official integration's
// de-duplication sees every handshake notification twice).
// `at_status3` runs once the serial read is written (e.g. to queue an unsolicited record first).
Run drive(BluettiCrypt& c, Device& device, AttLink& link, bool duplicate = false,
          const std::function<void(Device&)>& at_status3 = {}) {
  Run run;
  TimePoint now{};
  device.on_link_up(now);
  for (int round = 0; round < 200; ++round) {
    while (auto t = device.poll_transmit()) {
      link.to_central.send(*t);
      if (duplicate) link.to_central.send(*t);
    }
    bool any = false;
    while (auto pdu = link.to_central.receive()) {
      any = true;
      int status = -1;
      std::string reply = c.ble_crypt_link_handler(std::string(pdu->begin(), pdu->end()), &status);
      if (run.statuses.empty() || run.statuses.back() != status) run.statuses.push_back(status);
      run.final_status = status;
      if (!reply.empty()) link.to_peripheral.send(as_bytes(reply));
      if (status == 3 && !run.serial_read_sent) {
        auto adu = modbus::encode_request(modbus::Request::read(kIotSerialRegister, 4));
        std::string rec = c.encrypt_data(std::string(adu->begin(), adu->end()));
        EXPECT_FALSE(rec.empty()) << c.last_error();
        link.to_peripheral.send(as_bytes(rec));
        run.serial_read_sent = true;
        if (at_status3) at_status3(device);
      }
    }
    while (auto pdu = link.to_peripheral.receive()) {
      any = true;
      (void)device.feed(*pdu, now);
    }
    if (!any && device.poll_transmit() == std::nullopt) break;
  }
  return run;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("blecrypt_bluetti_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name, const std::string& content) const {
    auto p = path_ / name;
    std::ofstream(p) << content;
    return p.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
  static inline int counter_ = 0;
};

class BluettiCompat : public ::testing::TestWithParam<test::BackendPair> {};

TEST_P(BluettiCompat, StatusProgressionWithoutLicence) {
  crypto::DeterministicRng crng(11), drng(12);
  TempDir dir;
  // Explicitly name a path that does not exist? No: the default file is optional, so run from a
  // directory without it by giving no path and checking that cwd has none.
  ASSERT_FALSE(std::filesystem::exists(kLicenceFileName));
  BluettiCrypt c(BluettiCrypt::Options{test_key(), "", GetParam().first, &crng});
  Device device(testing::device_config(*GetParam().second), *PowerStation::create("AC180"), drng);
  AttLink link;
  auto run = drive(c, device, link);
  EXPECT_EQ(run.statuses, (std::vector<int>{0, 1, 2, 3, 4})) << c.last_error();
  ASSERT_TRUE(c.iot_serial().has_value());
  EXPECT_EQ(*c.iot_serial(), device.station().iot_serial());
  // Then encrypt_data / decrypt_data carry Modbus.
  auto adu = modbus::encode_request(modbus::Request::read(110, 6));
  std::string rec = c.encrypt_data(std::string(adu->begin(), adu->end()));
  ASSERT_EQ(rec.size(), 22u);
  ASSERT_TRUE(device.feed(as_bytes(rec), TimePoint{}));
  auto answer = device.poll_transmit();
  ASSERT_TRUE(answer.has_value());
  link.to_central.send(*answer);
  std::string plain;
  while (auto pdu = link.to_central.receive()) plain += c.decrypt_data(std::string(pdu->begin(), pdu->end()));
  auto resp = modbus::parse_response(as_bytes(plain));
  ASSERT_TRUE(resp.has_value()) << resp.error().message();
  EXPECT_EQ(decode_model(Protocol::iot_v2, resp->values.data(), 6), "AC180");
  EXPECT_FALSE(c.get_software_version().empty());
}

TEST_P(BluettiCompat, LicenceAllowsAndDenies) {
  TempDir dir;
  for (bool listed : {true, false}) {
    crypto::DeterministicRng crng(21), drng(22);
    Device device(testing::device_config(*GetParam().second), *PowerStation::create("EL30V2"), drng);
    const auto sn = device.station().iot_serial();
    const std::string content = "# blecrypt open licence\niot_serial,label\n" + std::to_string(listed ? sn : sn + 1) + ",garage\n";
    auto path = dir.file(kLicenceFileName, content);
    BluettiCrypt c(BluettiCrypt::Options{test_key(), path, GetParam().first, &crng});
    AttLink link;
    auto run = drive(c, device, link);
    if (listed) {
      EXPECT_EQ(run.final_status, 4) << c.last_error();
    } else {
      EXPECT_EQ(run.final_status, 3);
      EXPECT_NE(c.last_error().find("check serial number fail:" + std::to_string(sn)), std::string::npos) << c.last_error();
      EXPECT_NE(c.last_error().find("IoT serial"), std::string::npos);
    }
  }
}

// The official module has no reset: callers that keep one BluettiCrypt across a reconnect pass
// the new challenge to ble_crypt_link_handler. It must start over (status 0 with the response)
// instead of staying at status 4 with the old session key.
TEST_P(BluettiCompat, ReconnectWithTheSameObjectRunsANewHandshake) {
  crypto::DeterministicRng crng(31), drng(32);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), "", GetParam().first, &crng});
  for (int connection = 0; connection < 2; ++connection) {
    SCOPED_TRACE("connection " + std::to_string(connection));
    Device device(testing::device_config(*GetParam().second), *PowerStation::create("AC180"), drng);
    AttLink link;
    auto run = drive(c, device, link);
    EXPECT_EQ(run.statuses, (std::vector<int>{0, 1, 2, 3, 4})) << c.last_error();
    ASSERT_EQ(run.final_status, 4);
    // The new session key works.
    auto adu = modbus::encode_request(modbus::Request::read(102, 1));
    std::string rec = c.encrypt_data(std::string(adu->begin(), adu->end()));
    ASSERT_TRUE(device.feed(as_bytes(rec), TimePoint{})) << "connection " << connection;
    auto answer = device.poll_transmit();
    ASSERT_TRUE(answer.has_value());
    auto plain = c.decrypt_data(std::string(answer->begin(), answer->end()));
    ASSERT_TRUE(modbus::parse_response(as_bytes(plain)).has_value()) << c.last_error();
  }
}

// Every handshake message of the unit arrives twice and the caller passes each copy on.
TEST_P(BluettiCompat, EveryNotificationTwiceStillReachesStatus4) {
  crypto::DeterministicRng crng(41), drng(42);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), "", GetParam().first, &crng});
  Device device(testing::device_config(*GetParam().second), *PowerStation::create("EL30V2"), drng);
  AttLink link;
  auto run = drive(c, device, link, true);
  EXPECT_EQ(run.statuses, (std::vector<int>{0, 1, 2, 3, 4})) << c.last_error();
  ASSERT_TRUE(c.iot_serial().has_value());
  EXPECT_EQ(*c.iot_serial(), device.station().iot_serial());
  auto adu = modbus::encode_request(modbus::Request::read(102, 1));
  std::string rec = c.encrypt_data(std::string(adu->begin(), adu->end()));
  ASSERT_TRUE(device.feed(as_bytes(rec), TimePoint{}));
  auto answer = device.poll_transmit();
  ASSERT_TRUE(answer.has_value());
  auto plain = c.decrypt_data(std::string(answer->begin(), answer->end()));
  ASSERT_TRUE(modbus::parse_response(as_bytes(plain)).has_value()) << c.last_error();
}

// Autonomous records (EL30V2 sends unmatched frames between replies) ahead of the serial reply:
// each record is judged on its own, so the serial reply that follows still completes status 4,
// even for a caller that sends the serial read only once.
TEST_P(BluettiCompat, UnsolicitedRecordsBeforeTheSerialReply) {
  for (const Bytes& stray : {Bytes{0x01, 0x02, 0x03}, test::hex("0103020001"), Bytes(9, 0x55)}) {
    SCOPED_TRACE(to_hex(stray));
    crypto::DeterministicRng crng(51), drng(52);
    BluettiCrypt c(BluettiCrypt::Options{test_key(), "", GetParam().first, &crng});
    Device device(testing::device_config(*GetParam().second), *PowerStation::create("EL30V2"), drng);
    AttLink link;
    auto run = drive(c, device, link, false, [&](Device& d) { ASSERT_TRUE(d.send_plaintext(stray)); });
    EXPECT_EQ(run.final_status, 4) << c.last_error();
    ASSERT_TRUE(c.iot_serial().has_value());
    EXPECT_EQ(*c.iot_serial(), device.station().iot_serial());
  }
}

// After status 4 a caller hands a notification to decrypt_data without knowing that the unit
// reconnected and challenges again. decrypt_data returns "" with the reason, and the handshake
// that follows through ble_crypt_link_handler still reaches status 4 (it must not stay stuck).
TEST_P(BluettiCompat, ChallengeGivenToDecryptDataThenNewHandshake) {
  crypto::DeterministicRng crng(71), drng(72);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), "", GetParam().first, &crng});
  {
    Device device(testing::device_config(*GetParam().second), *PowerStation::create("AC180"), drng);
    AttLink link;
    ASSERT_EQ(drive(c, device, link).final_status, 4) << c.last_error();
  }
  Device device(testing::device_config(*GetParam().second), *PowerStation::create("AC180"), drng);
  device.on_link_up(TimePoint{});
  auto challenge = device.poll_transmit();
  ASSERT_TRUE(challenge.has_value());
  EXPECT_EQ(c.decrypt_data(std::string(challenge->begin(), challenge->end())), "");
  EXPECT_NE(c.last_error().find("CHALLENGE"), std::string::npos) << c.last_error();
  EXPECT_EQ(c.status(), 0);
  AttLink link;
  auto run = drive(c, device, link);
  EXPECT_EQ(run.final_status, 4) << c.last_error();
  EXPECT_EQ(run.statuses, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(BluettiLicence, FormatsAndRefusals) {
  TempDir dir;
  std::string why;
  auto closed = Licence::parse("bluetti\n2025-01-01 00:00:00\n0123456789abcdef0123456789abcdef\nabcdef\n", &why);
  EXPECT_EQ(closed.error(), make_error_code(Errc::licence_unreadable));
  EXPECT_NE(why.find("open format"), std::string::npos) << why;
  auto bad = Licence::parse("12345\nAC180\n", &why);
  EXPECT_FALSE(bad.has_value());
  EXPECT_NE(why.find("line 2"), std::string::npos) << why;
  auto ok = Licence::parse("\xEF\xBB\xBF# comment\r\n\r\n2527001000042\r\n 2524601159690 , living room\n");
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->allows(2527001000042ULL));
  EXPECT_TRUE(ok->allows(2524601159690ULL));
  EXPECT_FALSE(ok->allows(2527001100042ULL));
  EXPECT_FALSE(Licence::load(dir.path("missing.csv"), &why).has_value());
  EXPECT_NE(why.find("could not open"), std::string::npos);
  // An explicitly named licence that is missing or closed denies with the reason.
  crypto::DeterministicRng crng(31), drng(32);
  Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("EB3A"), drng);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), dir.file("closed.csv", "bluetti\nx\n"), nullptr, &crng});
  AttLink link;
  auto run = drive(c, device, link);
  EXPECT_EQ(run.final_status, 3);
  EXPECT_NE(c.last_error().find("encrypted layout"), std::string::npos) << c.last_error();
}

// A serial beyond 64 bits is refused, not clamped to 2^64-1; a default licence file that is
// present but cannot be read (here a dangling symlink; for a normal user also one without read
// permission) denies instead of being treated as absent (which would accept any serial).
TEST(BluettiLicence, OverflowAndUnreadableDefaultFileDeny) {
  std::string why;
  EXPECT_FALSE(Licence::parse("18446744073709551616\n", &why).has_value());
  EXPECT_NE(why.find("line 1"), std::string::npos) << why;
  EXPECT_FALSE(Licence::parse("99999999999999999999\n", &why).has_value());
  auto max = Licence::parse("18446744073709551615\n");
  ASSERT_TRUE(max.has_value());
  EXPECT_TRUE(max->allows(18446744073709551615ULL));

  TempDir dir;
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path(""));
  struct Back {
    std::filesystem::path p;
    ~Back() { std::filesystem::current_path(p); }
  } back{old_cwd};
  std::filesystem::create_symlink(dir.path("nowhere.csv"), kLicenceFileName);
  crypto::DeterministicRng crng(61), drng(62);
  Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), "", nullptr, &crng});
  AttLink link;
  auto run = drive(c, device, link);
  EXPECT_EQ(run.final_status, 3);
  EXPECT_NE(c.last_error().find("check serial number fail"), std::string::npos) << c.last_error();
}

TEST(BluettiCompatKeys, DeviceKeyFromEnvironmentAndErrors) {
  // Default K2: the emulator's test signature is refused at status 1 with a clear error.
  {
    crypto::DeterministicRng crng(41), drng(42);
    ::unsetenv(kDeviceKeyEnv);
    BluettiCrypt c(BluettiCrypt::Options{"", "", nullptr, &crng});
    Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng);
    AttLink link;
    auto run = drive(c, device, link);
    EXPECT_EQ(run.final_status, 1);
    EXPECT_NE(c.last_error().find("signature"), std::string::npos) << c.last_error();
  }
  // The environment variable supplies the key.
  {
    crypto::DeterministicRng crng(43), drng(44);
    ::setenv(kDeviceKeyEnv, to_hex(kTestDevicePublicKey).c_str(), 1);
    BluettiCrypt c(BluettiCrypt::Options{"", "", nullptr, &crng});
    Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng);
    AttLink link;
    auto run = drive(c, device, link);
    EXPECT_EQ(run.final_status, 4) << c.last_error();
    ::unsetenv(kDeviceKeyEnv);
  }
  // A malformed key is reported, never crashes.
  {
    ::setenv(kDeviceKeyEnv, "abcd", 1);
    BluettiCrypt c;
    int status = -1;
    EXPECT_EQ(c.ble_crypt_link_handler("\x2a\x2a\x01\x04\x8f\x57\xb7\x27\x01\xc9", &status), "");
    EXPECT_NE(c.last_error().find(kDeviceKeyEnv), std::string::npos);
    ::unsetenv(kDeviceKeyEnv);
    BluettiCrypt short_key(std::string(10, 'x'));
    EXPECT_NE(short_key.last_error().find("64 bytes"), std::string::npos);
    Bytes not_on_curve(64, 0x01);
    BluettiCrypt bad_point(std::string(not_on_curve.begin(), not_on_curve.end()));
    EXPECT_NE(bad_point.last_error().find("P-256"), std::string::npos);
  }
  // The captured challenge gets the captured response with status 0.
  {
    BluettiCrypt c;
    int status = -1;
    auto reply = c.ble_crypt_link_handler(std::string("\x2a\x2a\x01\x04\x8f\x57\xb7\x27\x01\xc9", 10), &status);
    EXPECT_EQ(to_hex(as_bytes(reply)), "2a2a0204f9916931022a");
    EXPECT_EQ(status, 0);
    reply = c.ble_crypt_link_handler(std::string("\x2a\x2a\x03\x01\x00\x00\x04", 7), &status);
    EXPECT_EQ(reply, "");
    EXPECT_EQ(status, 0);
    EXPECT_EQ(c.encrypt_data("abc"), "");
    EXPECT_FALSE(c.last_error().empty());
    c.reset();
    EXPECT_EQ(c.status(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Pairs, BluettiCompat, ::testing::ValuesIn(test::backend_pairs()), test::backend_pair_name);

// Licence reads are bounded (issue #15 item 4): a directory, a device, a FIFO (with no writer: it
// must not block) or a symbolic link is refused at once with its own error; an oversized file too.
TEST(BluettiLicence, OnlyBoundedRegularFilesAreRead) {
  TempDir dir;
  std::string why;
  EXPECT_EQ(Licence::load(dir.path(""), &why).error(), make_error_code(Errc::licence_not_regular)) << why;
  EXPECT_NE(why.find("not a regular file"), std::string::npos) << why;
  EXPECT_EQ(Licence::load("/dev/zero", &why).error(), make_error_code(Errc::licence_not_regular)) << why;
  const std::string fifo = dir.path("fifo.csv");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(Licence::load(fifo, &why).error(), make_error_code(Errc::licence_not_regular)) << why;
  const std::string real = dir.file("real.csv", "2527001000042\n");
  std::filesystem::create_symlink(real, dir.path("link.csv"));
  EXPECT_EQ(Licence::load(dir.path("link.csv"), &why).error(), make_error_code(Errc::licence_not_regular)) << why;
  EXPECT_TRUE(Licence::load(real, &why).has_value()) << why;
  const std::string big = dir.file("big.csv", "");
  ASSERT_EQ(::truncate(big.c_str(), static_cast<off_t>(kMaxLicenceBytes + 1)), 0);
  EXPECT_EQ(Licence::load(big, &why).error(), make_error_code(Errc::licence_too_large)) << why;
  // Through the drop-in API: the handler returns "" at status 3 with the reason, no exception.
  for (const std::string& path : {dir.path(""), std::string("/dev/zero"), fifo}) {
    SCOPED_TRACE(path);
    crypto::DeterministicRng crng(41), drng(42);
    Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng);
    BluettiCrypt c(BluettiCrypt::Options{test_key(), path, nullptr, &crng});
    AttLink link;
    auto run = drive(c, device, link);
    EXPECT_EQ(run.final_status, 3);
    EXPECT_NE(c.last_error().find("not a regular file"), std::string::npos) << c.last_error();
  }
}

// last_error() is printable ASCII and bounded whatever the licence holds (issue #15 item 7), and
// a later call that succeeds clears it (issue 10).
TEST(BluettiCompatErrors, LastErrorIsSanitisedBoundedAndCleared) {
  TempDir dir;
  const std::string bad = dir.file("bad.csv", std::string("\xff\xfe\x01serial") + std::string(5000, 'x') + "\n");
  crypto::DeterministicRng crng(51), drng(52);
  Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), bad, nullptr, &crng});
  AttLink link;
  auto run = drive(c, device, link);
  EXPECT_EQ(run.final_status, 3);
  const std::string& e = c.last_error();
  ASSERT_FALSE(e.empty());
  EXPECT_LE(e.size(), kMaxErrorText);
  for (char ch : e) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << int(static_cast<unsigned char>(ch));
  EXPECT_NE(e.find("\\xff\\xfe\\x01serial"), std::string::npos) << e;
  // A failing call sets it, the next successful one clears it.
  EXPECT_TRUE(c.encrypt_data("").empty());
  EXPECT_FALSE(c.last_error().empty());
  auto adu = modbus::encode_request(modbus::Request::read(102, 1));
  ASSERT_TRUE(adu.has_value());
  EXPECT_FALSE(c.encrypt_data(std::string(adu->begin(), adu->end())).empty());
  EXPECT_EQ(c.last_error(), "");
}

// The drop-in API's contract is "" on failure (issue #15 item 4: std::bad_alloc once escaped
// ble_crypt_link_handler on a huge licence). Whatever throws inside, here the RNG throwing
// std::bad_alloc as an allocation would (during the handshake, then while sealing), the calls
// return "" and say so in last_error(); nothing crosses the API.
TEST(BluettiCompatErrors, NoExceptionCrossesTheDropInApi) {
  struct ThrowingRng final : crypto::Rng {
    crypto::DeterministicRng inner{61};
    bool armed = false;
    void fill(MutableByteView out) override {
      if (armed) throw std::bad_alloc();
      inner.fill(out);
    }
  };
  ThrowingRng crng;
  crypto::DeterministicRng drng(62);
  Device device(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng);
  BluettiCrypt c(BluettiCrypt::Options{test_key(), "", nullptr, &crng});
  crng.armed = true;  // the client draws its ephemeral key when DEVICE_PUBKEY arrives
  AttLink link;
  int final_status = -1;
  EXPECT_NO_THROW(final_status = drive(c, device, link).final_status);
  EXPECT_LT(final_status, 3);
  EXPECT_NE(c.last_error().find("internal error"), std::string::npos) << c.last_error();

  ThrowingRng crng2;
  crypto::DeterministicRng drng2(63);
  Device device2(testing::device_config(crypto::default_backend()), *PowerStation::create("AC180"), drng2);
  BluettiCrypt c2(BluettiCrypt::Options{test_key(), "", nullptr, &crng2});
  AttLink link2;
  ASSERT_EQ(drive(c2, device2, link2).final_status, 4) << c2.last_error();
  crng2.armed = true;  // sealing draws the record's padding seed
  auto adu = modbus::encode_request(modbus::Request::read(102, 1));
  std::string rec = "x";
  EXPECT_NO_THROW(rec = c2.encrypt_data(std::string(adu->begin(), adu->end())));
  EXPECT_EQ(rec, "");
  EXPECT_NE(c2.last_error().find("internal error"), std::string::npos) << c2.last_error();
}

}  // namespace
}  // namespace blecrypt::bluetti
