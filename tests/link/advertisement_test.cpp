#include "blecrypt/link/advertisement.hpp"

#include <gtest/gtest.h>

#include "blecrypt/sesame/advertisement.hpp"

namespace blecrypt::link {
namespace {

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(Advertisement, BluettiEncryptedMarkerAndModelFromName) {
  const auto info = classify("AC1802235000123456", {{0x4C42, text("BLUETTF")}});
  EXPECT_EQ(info.protocol, Protocol::bluetti);
  EXPECT_EQ(info.model, "AC180");
  ASSERT_TRUE(info.encrypted.has_value());
  EXPECT_TRUE(*info.encrypted);
  EXPECT_FALSE(info.registered.has_value());
}

TEST(Advertisement, BluettiPlaintextMarkerAnyCompany) {
  const auto info = classify("EB3A2235000123456", {{0x0001, text("BLUETTI")}});
  EXPECT_EQ(info.protocol, Protocol::bluetti);
  EXPECT_EQ(info.model, "EB3A");
  EXPECT_FALSE(*info.encrypted);
}

TEST(Advertisement, BluettiModelPrefersLongestKnownPrefixElseStripsSerial) {
  EXPECT_EQ(bluetti_model_from_name("AC180P2235000123456"), "AC180P");
  EXPECT_EQ(bluetti_model_from_name("AC200MAX2235000123456"), "AC200MAX");
  EXPECT_EQ(bluetti_model_from_name("XY9002235000123456"), "XY");  // unknown model: serial stripped
  EXPECT_EQ(bluetti_model_from_name("AB12"), "");                  // too short a serial
  EXPECT_EQ(bluetti_model_from_name("A-B12345678"), "");
}

TEST(Advertisement, SesameModelRegisteredHistory) {
  sesame::Advertisement a;
  a.model = sesame::model::sesame5;
  a.registered = true;
  a.has_history = false;
  const Bytes md = sesame::build_manufacturer_data(a);  // starts with the company id
  const auto info = classify("abc", {{sesame::kCompanyId, Bytes(md.begin() + 2, md.end())}});
  EXPECT_EQ(info.protocol, Protocol::sesame);
  EXPECT_EQ(info.model, "SESAME 5");
  EXPECT_TRUE(*info.registered);
  EXPECT_FALSE(*info.has_history);
  EXPECT_FALSE(info.encrypted.has_value());
}

TEST(Advertisement, GarbledOrForeignIsOther) {
  EXPECT_EQ(classify("", {}).protocol, Protocol::other);
  EXPECT_EQ(classify("Phone", {{0x004C, Bytes{0x02, 0x15}}}).protocol, Protocol::other);
  EXPECT_EQ(classify("x", {{sesame::kCompanyId, Bytes{0x05}}}).protocol, Protocol::other);  // truncated
  EXPECT_EQ(classify("x", {{0x4C42, Bytes(300, 'B')}}).protocol, Protocol::other);          // oversized
  EXPECT_EQ(classify(std::string(400, 'A'), {{0x4C42, text("BLUETTF")}}).protocol, Protocol::bluetti);
  EXPECT_STREQ(protocol_name(Protocol::sesame), "sesame");
  EXPECT_STREQ(protocol_name(Protocol::other), "other");
}

}  // namespace
}  // namespace blecrypt::link
