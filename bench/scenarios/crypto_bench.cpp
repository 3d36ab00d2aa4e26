// `blecrypt bench crypto`: median ns/op of every primitive with reused keyed contexts, at 20 and
// 200 bytes, plus P-256, next to `openssl speed ecdhp256 ecdsap256` run on the same machine.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "blecrypt/crypto.hpp"
#include "cli.hpp"
#include "harness.hpp"

namespace blecrypt::cli {
namespace {

// Runs `openssl speed -mr` and returns ns per op for ECDH, ECDSA sign and verify (0 if absent).
struct OpensslSpeed {
  double ecdh_ns = 0, sign_ns = 0, verify_ns = 0;
};

OpensslSpeed run_openssl_speed() {
  OpensslSpeed r;
  FILE* p = ::popen("openssl speed -mr -seconds 1 ecdhp256 ecdsap256 2>/dev/null", "r");
  if (p == nullptr) return r;
  char line[256];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    unsigned k = 0, bits = 0;
    double a = 0, b = 0;
    if (std::sscanf(line, "+F4:%u:%u:%lf:%lf", &k, &bits, &a, &b) == 4 && bits == 256 && a > 0 && b > 0) {
      r.sign_ns = 1e9 / a;
      r.verify_ns = 1e9 / b;
    } else if (std::sscanf(line, "+F5:%u:%u:%lf:%lf", &k, &bits, &a, &b) == 4 && bits == 256 && a > 0) {
      r.ecdh_ns = 1e9 / a;
    }
  }
  ::pclose(p);
  return r;
}

template <typename T>
T must(Result<T> r) {
  if (!r) throw UserError("bench setup failed: " + r.error().message());
  return std::move(*r);
}

int bench_crypto(bool json, std::ostream& out) {
  using bench::median_ns;
  const auto& be = selected_backend();
  bench::Report report;
  report.text("backend", std::string(be.name()));

  Bytes key16(16, 0x11), key32(32, 0x22), iv(16, 0x33), nonce(13, 0x44), aad(1, 0);
  auto block = must(be.aes_block(key16));
  auto cbc128 = must(be.aes_cbc(key16));
  auto cbc256 = must(be.aes_cbc(key32));
  auto ccm = must(be.aes_ccm(key16));
  auto cmac = must(be.aes_cmac(key16));
  auto md5 = be.md5();
  auto sha = be.sha256();

  crypto::Block blk{};
  report.number("aes_block_encrypt_ns", median_ns([&] { blk = block->encrypt(blk); }));
  for (std::size_t n : {20u, 200u}) {
    const std::string sz = std::to_string(n) + "B";
    const std::size_t padded = (n + 15) / 16 * 16;
    Bytes msg(n, 0x5a), pad(padded, 0x5a), out_buf(padded + 16), sealed(n + 4);
    report.number("aes128_cbc_encrypt_" + std::to_string(padded) + "B_ns",
                  median_ns([&] { (void)cbc128->encrypt(iv, pad, out_buf); }));
    report.number("aes256_cbc_encrypt_" + std::to_string(padded) + "B_ns",
                  median_ns([&] { (void)cbc256->encrypt(iv, pad, out_buf); }));
    report.number("aes256_cbc_decrypt_" + std::to_string(padded) + "B_ns",
                  median_ns([&] { (void)cbc256->decrypt(iv, pad, out_buf); }));
    (void)ccm->seal(nonce, aad, msg, 4, sealed);
    report.number("aes_ccm_encrypt_" + sz + "_ns", median_ns([&] { (void)ccm->seal(nonce, aad, msg, 4, sealed); }));
    report.number("aes_ccm_decrypt_" + sz + "_ns", median_ns([&] { (void)ccm->open(nonce, aad, sealed, 4, out_buf); }));
    report.number("aes_cmac_" + sz + "_ns", median_ns([&] { blk = cmac->mac(msg); }));
    report.number("md5_" + sz + "_ns", median_ns([&] { (void)md5->digest(msg); }));
    report.number("sha256_" + sz + "_ns", median_ns([&] { (void)sha->digest(msg); }));
  }

  crypto::DeterministicRng rng(7);
  auto alice = must(be.p256_generate(rng));
  auto bob = must(be.p256_generate(rng));
  auto bob_pub = must(be.p256_public_key(bob->public_raw()));
  auto alice_pub = must(be.p256_public_key(alice->public_raw()));
  const Bytes msg(80, 0x42);
  auto sig = must(alice->sign(msg));
  const double keygen = median_ns([&] { (void)be.p256_generate(rng); }, 7, 20);
  const double import = median_ns([&] { (void)be.p256_public_key(bob->public_raw()); }, 7, 20);
  const double ecdh = median_ns([&] { (void)alice->ecdh(*bob_pub); }, 7, 20);
  const double sign = median_ns([&] { (void)alice->sign(msg); }, 7, 20);
  const double verify = median_ns([&] { (void)alice_pub->verify(msg, sig); }, 7, 20);
  report.number("p256_keygen_ns", keygen);
  report.number("p256_public_import_ns", import);
  report.number("p256_ecdh_ns", ecdh);
  report.number("p256_ecdsa_sign_ns", sign);
  report.number("p256_ecdsa_verify_ns", verify);

  const auto speed = be.name() == "openssl" ? run_openssl_speed() : OpensslSpeed{};
  if (speed.ecdh_ns > 0 && speed.sign_ns > 0) {
    report.number("openssl_speed_ecdh_ns", speed.ecdh_ns);
    report.number("openssl_speed_sign_ns", speed.sign_ns);
    report.number("openssl_speed_verify_ns", speed.verify_ns);
    report.number("p256_ecdh_vs_openssl_speed_ratio", ecdh / speed.ecdh_ns);
    report.number("p256_sign_vs_openssl_speed_ratio", sign / speed.sign_ns);
    report.number("p256_verify_vs_openssl_speed_ratio", verify / speed.verify_ns);
  }
  report.print(json, out);
  return 0;
}

const Register scenario{BenchScenario{"crypto", "Every crypto primitive (20 and 200 bytes) and P-256, vs openssl speed", bench_crypto}};

}  // namespace
}  // namespace blecrypt::cli
