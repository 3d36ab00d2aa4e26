// `blecrypt bench bluetti-models [--json]`: decoding a full telemetry refresh of the largest model
// of the table (the most fields) from its register image, the number of register blocks that
// refresh polls, and the same for the smallest V1 and V2 maps for scale.
#include <algorithm>

#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/models.hpp"
#include "cli.hpp"
#include "harness.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::bluetti;

// The register image of one full refresh of `m`, read from its emulator.
RegisterValues refresh_image(const models::Model& m) {
  auto s = PowerStation::create(m.name);
  if (!s) throw UserError("bench bluetti-models: no emulator for " + std::string(m.name));
  RegisterValues regs;
  for (const auto& req : models::poll_requests(m)) collect(req, s->handle(req, TimePoint{}), regs);
  return regs;
}

int bench_models(bool json, std::ostream& out) {
  using bench::median_ns;
  const auto all = models::all();
  const auto largest = std::max_element(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.fields.size() < b.fields.size(); });
  bench::Report report;
  report.text("largest_model", std::string(largest->name));
  report.number("largest_fields", static_cast<double>(largest->fields.size()));
  report.number("largest_blocks_per_refresh", static_cast<double>(largest->blocks.size()));
  const auto regs = refresh_image(*largest);
  std::size_t decoded = 0;
  double ns = 1e30;
  for (int round = 0; round < 5; ++round)
    ns = std::min(ns, median_ns([&] { decoded = models::decode(*largest, regs).size(); }));
  if (decoded != largest->fields.size()) throw DeviceError("bench bluetti-models: the refresh did not decode every field");
  report.number("largest_decode_ns", ns);
  for (const char* name : {"AC300", "AC180"}) {
    const auto* m = models::find(name);
    const auto r = refresh_image(*m);
    double t = 1e30;
    for (int round = 0; round < 5; ++round) t = std::min(t, median_ns([&] { (void)models::decode(*m, r); }));
    report.number(std::string(name) + "_decode_ns", t);
    report.number(std::string(name) + "_blocks_per_refresh", static_cast<double>(m->blocks.size()));
  }
  report.print(json, out);
  return 0;
}

const Register scenario{BenchScenario{"bluetti-models", "BLUETTI model table: decode of a full refresh of the largest model, blocks polled", bench_models}};

}  // namespace
}  // namespace blecrypt::cli
