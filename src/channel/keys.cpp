// PSK strings, self-signed identities and key files for the channel (OpenSSL libcrypto).
#include "blecrypt/channel/keys.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <memory>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/errors.hpp"

namespace blecrypt::channel {
namespace {

constexpr std::string_view kQrPrefix = "BLECRYPT-PSK1:";
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";  // RFC 4648 §6

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string base32(ByteView data, std::size_t chars) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (auto b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.size() < chars) {
      out.push_back(kBase32[(acc >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0 && out.size() < chars) out.push_back(kBase32[(acc << (5 - bits)) & 31]);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Bytes sha256(ByteView data) {
  Bytes md(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), md.data());
  return md;
}

std::string check_chars(ByteView key) { return base32(ByteView(sha256(key)).first(3), 4); }

Result<SecretBytes> from_bio(BIO* bio) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio, &p);
  if (n <= 0 || p == nullptr) return Errc::tls_internal;
  return SecretBytes(ByteView(reinterpret_cast<const std::uint8_t*>(p), static_cast<std::size_t>(n)));
}

Result<Bytes> x509_fingerprint(X509* cert) {
  Bytes md(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md.data(), &len) != 1 || len != SHA256_DIGEST_LENGTH) return Errc::tls_internal;
  md.resize(len);
  return md;
}

Result<int> open_checked(const std::string& path, bool secret, std::size_t cap, struct stat& st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno == ELOOP ? Errc::file_not_regular : Errc::file_unreadable;
  auto fail = [fd](Errc e) { ::close(fd); return Result<int>(e); };
  if (::fstat(fd, &st) != 0) return fail(Errc::file_unreadable);
  if (!S_ISREG(st.st_mode)) return fail(Errc::file_not_regular);
  if (secret ? (st.st_mode & 077) != 0 : (st.st_mode & 022) != 0) return fail(Errc::file_not_private);
  if (static_cast<std::size_t>(st.st_size) > cap) return fail(Errc::file_too_large);
  return fd;
}

Result<void> read_all(int fd, std::uint8_t* out, std::size_t size, std::size_t& got) {
  got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, out + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errc::file_unreadable;
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return ok();
}

}  // namespace

Result<SecretBytes> generate_psk() {
  SecretBytes key(kPskSize);
  if (RAND_priv_bytes(key.data(), static_cast<int>(key.size())) != 1) return Errc::tls_internal;
  return key;
}

std::string psk_to_hex(ByteView key) { return to_hex(key); }

std::string psk_to_qr_string(ByteView key) {
  return std::string(kQrPrefix) + base32(key, (key.size() * 8 + 4) / 5) + "-" + check_chars(key);
}

Result<SecretBytes> parse_psk(std::string_view text) {
  text = trim(text);
  if (text.size() > kQrPrefix.size() && text.substr(0, kQrPrefix.size()) == kQrPrefix) {
    std::string_view body = text.substr(kQrPrefix.size());
    constexpr std::size_t kKeyChars = (kPskSize * 8 + 4) / 5;  // 52
    if (body.size() != kKeyChars + 5 || body[kKeyChars] != '-') return Errc::psk_format;
    SecretBytes key(kPskSize);
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < kKeyChars; ++i) {
      const char c = static_cast<char>(std::toupper(static_cast<unsigned char>(body[i])));
      int v = -1;
      if (c >= 'A' && c <= 'Z') v = c - 'A';
      else if (c >= '2' && c <= '7') v = c - '2' + 26;
      if (v < 0) return Errc::psk_format;
      acc = ((acc << 5) | static_cast<std::uint32_t>(v)) & 0xfffu;
      bits += 5;
      if (bits >= 8) {
        key[n++] = static_cast<std::uint8_t>(acc >> (bits - 8));
        bits -= 8;
      }
    }
    if ((acc & ((1u << bits) - 1)) != 0) return Errc::psk_format;  // non-canonical padding bits
    std::string check(body.substr(kKeyChars + 1));
    for (auto& c : check) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!equal(as_bytes(check), as_bytes(check_chars(key)))) return Errc::psk_checksum;
    return key;
  }
  if (text.size() != 2 * kPskSize) return Errc::psk_format;
  SecretBytes key(kPskSize);
  for (std::size_t i = 0; i < kPskSize; ++i) {
    int hi = 0, lo = 0;
    for (int half = 0; half < 2; ++half) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[2 * i + static_cast<std::size_t>(half)])));
      int v = -1;
      if (c >= '0' && c <= '9') v = c - '0';
      else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
      if (v < 0) return Errc::psk_format;
      (half == 0 ? hi : lo) = v;
    }
    key[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return key;
}

Result<Bytes> parse_fingerprint(std::string_view text) {
  text = trim(text);
  for (std::string_view prefix : {"sha256 fingerprint=", "sha256:"}) {
    if (text.size() >= prefix.size()) {
      bool match = true;
      for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) match = false;
      if (match) text.remove_prefix(prefix.size());
    }
  }
  auto b = from_hex(text);
  if (!b || b->size() != SHA256_DIGEST_LENGTH) return Errc::fingerprint_format;
  return std::move(*b);
}

Result<Identity> generate_identity(std::string_view common_name) {
  PkeyPtr pkey(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!pkey || !cert) return Errc::tls_internal;
  std::uint8_t serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Errc::tls_internal;
  serial[0] &= 0x7f;  // positive INTEGER
  std::unique_ptr<BIGNUM, void (*)(BIGNUM*)> bn(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
  std::string cn(common_name.substr(0, 64));
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!bn || X509_set_version(cert.get(), 2) != 1 || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), 36500, 0, nullptr) ||
      X509_set_pubkey(cert.get(), pkey.get()) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_sign(cert.get(), pkey.get(), EVP_sha256()) <= 0)
    return Errc::tls_internal;
  BioPtr kb(BIO_new(BIO_s_secmem())), cb(BIO_new(BIO_s_mem()));
  if (!kb || !cb || PEM_write_bio_PrivateKey(kb.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cb.get(), cert.get()) != 1)
    return Errc::tls_internal;
  Identity id;
  auto key_pem = from_bio(kb.get());
  auto cert_pem = from_bio(cb.get());
  auto fp = x509_fingerprint(cert.get());
  if (!key_pem || !cert_pem || !fp) return Errc::tls_internal;
  id.private_key_pem = std::move(*key_pem);
  id.certificate_pem.assign(reinterpret_cast<const char*>(cert_pem->data()), cert_pem->size());
  id.fingerprint = std::move(*fp);
  return id;
}

Result<Identity> parse_identity(ByteView pem) {
  if (pem.empty() || pem.size() > kKeyFileCap) return Errc::identity_format;
  BioPtr kb(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  BioPtr cb(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!kb || !cb) return Errc::tls_internal;
  PkeyPtr pkey(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, const_cast<char*>("")));
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();  // a failed or skipped PEM block leaves entries behind
  if (!pkey || !cert) return Errc::identity_format;
  char group[64] = {};
  std::size_t glen = 0;
  if (!EVP_PKEY_is_a(pkey.get(), "EC") || EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &glen) != 1 ||
      std::string_view(group, glen) != "prime256v1" || X509_check_private_key(cert.get(), pkey.get()) != 1)
    return Errc::identity_format;
  BioPtr kout(BIO_new(BIO_s_secmem())), cout(BIO_new(BIO_s_mem()));
  if (!kout || !cout || PEM_write_bio_PrivateKey(kout.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cout.get(), cert.get()) != 1)
    return Errc::tls_internal;
  auto key_pem = from_bio(kout.get());
  auto cert_pem = from_bio(cout.get());
  auto fp = x509_fingerprint(cert.get());
  if (!key_pem || !cert_pem || !fp) return Errc::tls_internal;
  Identity id;
  id.private_key_pem = std::move(*key_pem);
  id.certificate_pem.assign(reinterpret_cast<const char*>(cert_pem->data()), cert_pem->size());
  id.fingerprint = std::move(*fp);
  return id;
}

SecretBytes identity_to_pem(const Identity& id) {
  SecretBytes out(id.private_key_pem.size() + id.certificate_pem.size());
  std::copy(id.private_key_pem.view().begin(), id.private_key_pem.view().end(), out.data());
  std::copy(id.certificate_pem.begin(), id.certificate_pem.end(), out.data() + id.private_key_pem.size());
  return out;
}

Result<Bytes> certificate_fingerprint(std::string_view pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!b) return Errc::tls_internal;
  X509Ptr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!cert) return Errc::identity_format;
  return x509_fingerprint(cert.get());
}

Result<SecretBytes> read_private_file(const std::string& path, std::size_t cap) {
  struct stat st {};
  auto fd = open_checked(path, true, cap, st);
  if (!fd) return Unexpected{fd.error()};
  SecretBytes data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  auto r = read_all(*fd, data.data(), data.size(), got);
  ::close(*fd);
  if (!r) return Unexpected{r.error()};
  if (got != data.size()) return Errc::file_unreadable;  // changed while reading
  return data;
}

Result<Bytes> read_public_file(const std::string& path, std::size_t cap) {
  struct stat st {};
  auto fd = open_checked(path, false, cap, st);
  if (!fd) return Unexpected{fd.error()};
  Bytes data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  auto r = read_all(*fd, data.data(), data.size(), got);
  ::close(*fd);
  if (!r) return Unexpected{r.error()};
  data.resize(got);
  return data;
}

Result<void> write_private_file(const std::string& path, ByteView data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EEXIST ? Errc::file_exists : Errc::file_unreadable;
  ::fchmod(fd, 0600);  // whatever the umask
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return Errc::file_unreadable;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return Errc::file_unreadable;
  return ok();
}

}  // namespace blecrypt::channel
