// `blecrypt crypto self-test [--backend NAME]` and the crypto part of `blecrypt demo`.
#include <iostream>
#include <string>
#include <vector>

#include "blecrypt/crypto.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

// Runs the known-answer self-test on `only` (every linked backend when null). 0 when all pass.
int self_test(std::ostream& out, const crypto::Backend* only) {
  int rc = 0;
  for (const auto* backend : crypto::all_backends()) {
    if (only != nullptr && backend != only) continue;
    const auto failure = crypto::self_test(*backend);
    const bool is_default = backend == &crypto::default_backend();
    out << "crypto self-test " << backend->name() << (is_default ? " (default)" : "") << " ["
        << backend->library_version() << "]: "
        << (failure.empty() ? "ok (AES, CBC, CCM, CMAC, MD5, SHA-256, P-256 ECDH, ECDSA)" : "FAILED at " + failure)
        << "\n";
    if (!failure.empty()) rc = kExitFailure;
  }
  return rc;
}

const Register demo_step{DemoStep{"crypto", 0, [](std::ostream& out) { return self_test(out, nullptr); }}};

const Register group{VerbGroup{"crypto", "Crypto layer: known-answer self-test of the linked backends", [](CLI::App& g) {
  g.require_subcommand(1);
  auto* st = g.add_subcommand("self-test", "Run the known-answer self-test on every linked backend (or on --backend)");
  static std::string backend_name;
  std::vector<std::string> names;
  for (const auto* b : crypto::all_backends()) names.emplace_back(b->name());
  st->add_option("--backend", backend_name, "Only this backend")->check(CLI::IsMember(names));
  st->callback([] {
    const crypto::Backend* only = backend_name.empty() ? nullptr : crypto::backend_by_name(backend_name);
    // A failing known answer means the crypto library gives wrong results: exit 1 like any
    // other failed operation (docs/cli.md).
    if (self_test(std::cout, only) != 0) throw DeviceError("crypto self-test failed");
  });
}}};

}  // namespace
}  // namespace blecrypt::cli
