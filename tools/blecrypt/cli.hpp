// The `blecrypt` command line: verb groups, demo steps and bench scenarios register themselves
// from their own source files (one file per verb group), so main.cpp never lists them.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <iosfwd>
#include <string>
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

// Errors at the CLI edge: thrown by verbs, printed by main as "blecrypt: error: ...".
struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace blecrypt::cli
