// A program outside the blecrypt tree, built against an installed blecrypt that links exactly ONE
// crypto backend (named on the command line). It checks that the registry holds that backend and
// nothing else, and runs known answers through it: AES-128 (FIPS-197 C.1), the backend's own
// self-test, and SMP's h6 from the core library (Core v5.4 Vol 3 Part H D.6).
#include <blecrypt/bytes.hpp>
#include <blecrypt/crypto.hpp>
#include <blecrypt/smp/toolbox.hpp>
#include <blecrypt/version.hpp>

#include <cstdio>
#include <string>

namespace crypto = blecrypt::crypto;

static int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: FAILED: %s\n", what.c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) return fail("usage: consumer openssl|mbedtls");
  const std::string want = argv[1];

  const auto linked = crypto::all_backends();
  if (linked.size() != 1) return fail(std::to_string(linked.size()) + " backends linked, expected 1");
  if (linked[0]->name() != want) return fail("linked backend is " + std::string(linked[0]->name()));
  if (&crypto::default_backend() != linked[0]) return fail("default_backend() is not the linked one");
  const char* other = want == "openssl" ? "mbedtls" : "openssl";
  if (crypto::backend_by_name(other) != nullptr) return fail(std::string(other) + " is reachable by name");

  auto aes = crypto::default_backend().aes_block(*blecrypt::from_hex("000102030405060708090a0b0c0d0e0f"));
  if (!aes) return fail("aes_block: " + aes.error().message());
  crypto::Block in{};
  const auto pt = *blecrypt::from_hex("00112233445566778899aabbccddeeff");
  std::copy(pt.begin(), pt.end(), in.begin());
  if (blecrypt::to_hex((*aes)->encrypt(in)) != "69c4e0d86a7b0430d8cdb78070b4c55a") return fail("AES-128 FIPS-197 C.1");

  if (const auto failure = crypto::self_test(crypto::default_backend()); !failure.empty()) return fail("self-test: " + failure);

  const blecrypt::smp::Toolbox tb;
  const auto h6 = tb.h6(*blecrypt::from_hex("ec0234a357c8ad05341010a60a397d9b"), *blecrypt::from_hex("6c656272"));
  if (!h6 || blecrypt::to_hex(*h6) != "2d9ae102e76dc91ce8d3a9e280b16399") return fail("SMP h6 (Vol 3 Part H D.6)");

  std::printf("consumer: blecrypt %s, only backend %s [%s]: known answers ok\n", blecrypt::kVersion,
              std::string(linked[0]->name()).c_str(), std::string(linked[0]->library_version()).c_str());
  return 0;
}
