// `blecrypt crypto self-test` and the crypto part of `blecrypt demo`.
#include <iostream>

#include "blecrypt/crypto.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

int self_test_all(std::ostream& out) {
  int rc = 0;
  for (const auto* backend : crypto::all_backends()) {
    const auto failure = crypto::self_test(*backend);
    const bool is_default = backend == &crypto::default_backend();
    out << "crypto self-test " << backend->name() << (is_default ? " (default)" : "") << " ["
        << backend->library_version() << "]: "
        << (failure.empty() ? "ok (AES, CBC, CCM, CMAC, MD5, SHA-256, P-256 ECDH, ECDSA)" : "FAILED at " + failure)
        << "\n";
    if (!failure.empty()) rc = 1;
  }
  return rc;
}

const Register demo_step{DemoStep{"crypto", 0, self_test_all}};

const Register group{VerbGroup{"crypto", "Crypto layer: known-answer self-test of both backends", [](CLI::App& g) {
                                 g.require_subcommand(1);
                                 auto* st = g.add_subcommand("self-test", "Run the known-answer self-test on every backend");
                                 st->callback([] {
                                   if (self_test_all(std::cout) != 0) throw UserError("crypto self-test failed");
                                 });
                               }}};

}  // namespace
}  // namespace blecrypt::cli
