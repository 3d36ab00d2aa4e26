// blecrypt CLI entry point: builds the command tree from the registered verb groups.
#include <algorithm>
#include <charconv>
#include <string>
#include <vector>
#include <iostream>

#include "blecrypt/crypto.hpp"
#include "blecrypt/version.hpp"
#include "cli.hpp"

namespace blecrypt::cli {

std::vector<VerbGroup>& verb_groups() {
  static std::vector<VerbGroup> groups;
  return groups;
}
std::vector<DemoStep>& demo_steps() {
  static std::vector<DemoStep> steps;
  return steps;
}
std::vector<BenchScenario>& bench_scenarios() {
  static std::vector<BenchScenario> scenarios;
  return scenarios;
}

namespace {
const crypto::Backend* g_selected_backend = nullptr;
}  // namespace

const crypto::Backend& selected_backend() {
  return g_selected_backend != nullptr ? *g_selected_backend : crypto::default_backend();
}

namespace {

int run_demo(std::ostream& out) {
  auto steps = demo_steps();
  std::sort(steps.begin(), steps.end(), [](const DemoStep& a, const DemoStep& b) { return a.order < b.order; });
  int rc = 0;
  for (const auto& step : steps) {
    out << "\n== " << step.name << " ==\n";
    rc |= step.run(out);
  }
  out << "\n" << (rc == 0 ? "demo finished: all steps succeeded" : "demo finished: a step FAILED") << "\n";
  return rc;
}

}  // namespace
}  // namespace blecrypt::cli

int main(int argc, char** argv) {
  using namespace blecrypt::cli;
  CLI::App app{"blecrypt: encrypted Bluetooth LE links (BLUETTI, SESAME 5, SMP) with built-in device emulators"};
  app.set_version_flag("--version", std::string("blecrypt ") + blecrypt::kVersion + " (crypto backend: " +
                                        std::string(blecrypt::crypto::default_backend().name()) + ")");
  app.require_subcommand(0, 1);
  int exit_code = 0;

  auto* demo = app.add_subcommand("demo", "Run every protocol's client against its built-in emulator");
  demo->callback([&] { exit_code = run_demo(std::cout); });

  // `bench NAME [--json] [--backend NAME]`: the same two options on every scenario; --backend
  // accepts the backends linked into this program (crypto::all_backends()).
  auto* bench = app.add_subcommand("bench", "Benchmarks: median ns per operation, --json for machine-readable figures");
  bench->require_subcommand(1);
  std::vector<std::string> linked_backends;
  for (const auto* b : blecrypt::crypto::all_backends()) linked_backends.emplace_back(b->name());
  std::string backend_list;
  for (const auto& n : linked_backends) backend_list += (backend_list.empty() ? "" : " or ") + n;
  static bool json = false;
  static std::string backend_name;
  for (const auto& scenario : bench_scenarios()) {
    auto* sub = bench->add_subcommand(scenario.name, scenario.help);
    sub->add_flag("--json", json, "Print one JSON object of figures");
    sub->add_option("--backend", backend_name, "Crypto backend to measure (" + backend_list + "; default: the build's default)")
        ->check(CLI::IsMember(linked_backends));
    sub->callback([&, run = scenario.run] {
      if (!backend_name.empty()) g_selected_backend = blecrypt::crypto::backend_by_name(backend_name);
      exit_code = run(json, std::cout);
    });
  }

  for (const auto& group : verb_groups()) {
    // Several files may add to one group (sesame_family.cpp to `sesame`, bluetti_models.cpp to
    // `bluetti`); the group's help comes from the file that gives one.
    auto same = app.get_subcommands([&](CLI::App* s) { return s->get_name() == group.name; });
    CLI::App* sub = same.empty() ? app.add_subcommand(group.name, group.help) : same.front();
    if (!same.empty() && !group.help.empty()) sub->description(group.help);
    group.setup(*sub);
  }

  // CLI11 reports an unknown verb as "a subcommand is required": name it instead.
  const CLI::App* level = &app;
  for (int i = 1; i < argc && level != nullptr; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') break;
    const auto subs = level->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) break;
    const auto it = std::find_if(subs.begin(), subs.end(), [&](const CLI::App* s) { return s->get_name() == word; });
    if (it == subs.end()) {
      std::string names;
      for (const auto* s : subs) names += (names.empty() ? "" : ", ") + s->get_name();
      std::cerr << "blecrypt: error: unknown command '" << word << "'" << (level == &app ? "" : " for '" + level->get_name() + "'")
                << " (choose from: " << names << ")\n";
      return kExitUsage;
    }
    level = *it;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    std::cerr << "blecrypt: error: " << e.what() << "\n(run with --help for the options)\n";
    return kExitUsage;
  } catch (const UserError& e) {
    std::cerr << "blecrypt: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const DeviceError& e) {
    std::cerr << "blecrypt: error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const BluetoothUnavailable& e) {
    std::cerr << "blecrypt: error: " << e.what() << "\n";
    return kExitBluetoothUnavailable;
  } catch (const std::exception& e) {
    std::cerr << "blecrypt: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
  }
  return exit_code;
}
