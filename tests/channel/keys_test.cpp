// PSK strings, identities, fingerprints and the key-file rules (private, regular, bounded).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "helpers.hpp"

namespace blecrypt::channel::test {
namespace {

TEST(ChannelKeys, PskHexAndQrStringRoundTrip) {
  auto key = generate_psk();
  ASSERT_TRUE(key);
  ASSERT_EQ(key->size(), kPskSize);
  const std::string hex = psk_to_hex(*key), qr = psk_to_qr_string(*key);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(qr.rfind("BLECRYPT-PSK1:", 0), 0u);
  EXPECT_EQ(qr.size(), 14u + 52u + 1u + 4u);
  for (char c : qr) EXPECT_NE(std::string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:").find(c), std::string::npos) << c;
  auto a = parse_psk(hex + "\n"), b = parse_psk("  " + qr + "\r\n");
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_TRUE(equal(*a, *key));
  EXPECT_TRUE(equal(*b, *key));
  std::string upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(parse_psk(upper));
}

TEST(ChannelKeys, PskQrStringKnownValue) {
  // 32 zero bytes: 52 'A's; check = first 20 bits of SHA-256(32 zero bytes) = 66 68 7a(ad..)
  // -> 01100 11001 10100 00111 -> M Z U H.
  SecretBytes zero(kPskSize);
  EXPECT_EQ(psk_to_qr_string(zero), "BLECRYPT-PSK1:" + std::string(52, 'A') + "-MZUH");
}

TEST(ChannelKeys, PskGarbageIsRefused) {
  EXPECT_EQ(parse_psk("").error(), make_error_code(Errc::psk_format));
  EXPECT_EQ(parse_psk(std::string(62, 'a')).error(), make_error_code(Errc::psk_format));
  EXPECT_EQ(parse_psk(std::string(63, 'a') + "g").error(), make_error_code(Errc::psk_format));
  EXPECT_EQ(parse_psk(std::string(66, 'a')).error(), make_error_code(Errc::psk_format));
  SecretBytes zero(kPskSize);
  std::string qr = psk_to_qr_string(zero);
  std::string typo = qr;
  typo[20] = 'B';
  EXPECT_EQ(parse_psk(typo).error(), make_error_code(Errc::psk_checksum));
  std::string pad = qr;
  pad[14 + 51] = 'B';  // non-zero padding bits in the last character
  EXPECT_EQ(parse_psk(pad).error(), make_error_code(Errc::psk_format));
  EXPECT_EQ(parse_psk("BLECRYPT-PSK1:" + std::string(52, '1') + "-AAAA").error(), make_error_code(Errc::psk_format));
  EXPECT_EQ(parse_psk(qr.substr(0, qr.size() - 1)).error(), make_error_code(Errc::psk_format));
}

TEST(ChannelKeys, FingerprintParsingAcceptsOpensslOutput) {
  const Bytes& fp = identity_a().fingerprint;
  ASSERT_EQ(fp.size(), 32u);
  const std::string shown = format_fingerprint(fp);
  EXPECT_EQ(shown.size(), 95u);
  for (const std::string& s : {shown, "sha256 Fingerprint=" + shown, "SHA256:" + to_hex(fp), to_hex(fp) + "\n"}) {
    auto r = parse_fingerprint(s);
    ASSERT_TRUE(r) << s;
    EXPECT_EQ(*r, fp);
  }
  EXPECT_EQ(parse_fingerprint("AB:CD").error(), make_error_code(Errc::fingerprint_format));
  EXPECT_EQ(parse_fingerprint(shown + ":00").error(), make_error_code(Errc::fingerprint_format));
  EXPECT_EQ(parse_fingerprint("zz").error(), make_error_code(Errc::fingerprint_format));
}

TEST(ChannelKeys, IdentityRoundTripAndChecks) {
  const Identity& id = identity_a();
  SecretBytes pem = identity_to_pem(id);
  auto back = parse_identity(pem);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->fingerprint, id.fingerprint);
  auto fp = certificate_fingerprint(id.certificate_pem);
  ASSERT_TRUE(fp);
  EXPECT_EQ(*fp, id.fingerprint);
  EXPECT_NE(identity_a().fingerprint, identity_b().fingerprint);
  // Key of a with certificate of b: refused.
  Bytes mixed(id.private_key_pem.view().begin(), id.private_key_pem.view().end());
  append(mixed, as_bytes(identity_b().certificate_pem));
  EXPECT_EQ(parse_identity(mixed).error(), make_error_code(Errc::identity_format));
  EXPECT_EQ(parse_identity(as_bytes(id.certificate_pem)).error(), make_error_code(Errc::identity_format));
  EXPECT_EQ(parse_identity(as_bytes("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).error(),
            make_error_code(Errc::identity_format));
  EXPECT_FALSE(parse_identity(ByteView{}));
}

TEST(ChannelKeys, KeyFilesMustBePrivateRegularAndSmall) {
  const auto dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  const auto good = dir / "psk", open = dir / "open", link = dir / "link", big = dir / "big";
  write_file(good, "00\n", 0600);
  write_file(open, "00\n", 0640);
  write_file(big, std::string(kKeyFileCap + 1, 'a'), 0600);
  ASSERT_EQ(::symlink(good.c_str(), link.c_str()), 0);
  EXPECT_TRUE(read_private_file(good.string()));
  EXPECT_EQ(read_private_file(open.string()).error(), make_error_code(Errc::file_not_private));
  EXPECT_EQ(read_private_file(link.string()).error(), make_error_code(Errc::file_not_regular));
  EXPECT_EQ(read_private_file(big.string()).error(), make_error_code(Errc::file_too_large));
  EXPECT_EQ(read_private_file(dir.string()).error(), make_error_code(Errc::file_not_regular));
  EXPECT_EQ(read_private_file((dir / "missing").string()).error(), make_error_code(Errc::file_unreadable));
  EXPECT_TRUE(read_public_file(open.string()));  // a recorded fingerprint may be world-readable
  write_file(dir / "writable", "x", 0666);
  EXPECT_EQ(read_public_file((dir / "writable").string()).error(), make_error_code(Errc::file_not_private));

  const auto made = dir / "made";
  ASSERT_TRUE(write_private_file(made.string(), as_bytes("secret")));
  struct stat st {};
  ASSERT_EQ(::stat(made.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(write_private_file(made.string(), as_bytes("again")).error(), make_error_code(Errc::file_exists));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace blecrypt::channel::test
