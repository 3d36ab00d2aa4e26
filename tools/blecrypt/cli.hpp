// The `blecrypt` command line: verb groups, demo steps and bench scenarios register themselves
// from their own source files (one file per verb group), so main.cpp never lists them.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "blecrypt/crypto.hpp"

namespace blecrypt::cli {

// A verb group such as `blecrypt bluetti ...`: setup() adds its subcommands and callbacks.
struct VerbGroup {
  std::string name;
  std::string help;
  std::function<void(CLI::App& group)> setup;
};

// One part of `blecrypt demo`, run in `order`. Returns a process exit code (0 = fine).
struct DemoStep {
  std::string name;
  int order;
  std::function<int(std::ostream& out)> run;
};

// `blecrypt bench NAME [--json]`. Returns a process exit code.
struct BenchScenario {
  std::string name;
  std::string help;
  std::function<int(bool json, std::ostream& out)> run;
};

// The crypto backend chosen with `--backend` (bench verbs), else crypto::default_backend().
const crypto::Backend& selected_backend();

std::vector<VerbGroup>& verb_groups();
std::vector<DemoStep>& demo_steps();
std::vector<BenchScenario>& bench_scenarios();

struct Register {
  explicit Register(VerbGroup g) { verb_groups().push_back(std::move(g)); }
  explicit Register(DemoStep d) { demo_steps().push_back(std::move(d)); }
  explicit Register(BenchScenario b) { bench_scenarios().push_back(std::move(b)); }
};

// Exit codes, the same for every verb (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,               // the device or the protocol failed (handshake, timeout, refused command)
  kExitUsage = 2,                 // the command line is wrong (unknown verb, bad or conflicting options)
  kExitBluetoothUnavailable = 3,  // no Bluetooth service, adapter, or socket support
  kExitInternal = 70,             // a bug: please report it
};

// Errors at the CLI edge: thrown by verbs, printed by main as "blecrypt: error: ..." with the
// exit code of their kind.
struct UserError : std::runtime_error {  // exit 2
  using std::runtime_error::runtime_error;
};
struct DeviceError : std::runtime_error {  // exit 1
  using std::runtime_error::runtime_error;
};
struct BluetoothUnavailable : std::runtime_error {  // exit 3
  using std::runtime_error::runtime_error;
};

// Every numeric option is decimal: "000042" is 42 (never octal), and "0x10", " 5", "+3", "-1",
// "1e3" and values outside [min, max] are refused with a message. Use as
// `sub->add_option("--passkey", v)->transform(cli::decimal(0, 999999))`.
CLI::Validator decimal(std::uint64_t min, std::uint64_t max);

// `s` as a JSON string literal with ASCII-only content: quotes and backslashes escaped, control
// and non-ASCII bytes as \u00XX (text a device or an advertisement chose).
std::string json_ascii_string(std::string_view s);
// `s` for a terminal: bytes outside printable ASCII become '?'.
std::string printable(std::string_view s);

// std::visit with one lambda per alternative: std::visit(Overload{[](const A&) {...}, ...}, v).
template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

}  // namespace blecrypt::cli
