// `blecrypt bench smp`: whole pairings with both sides in this process (LESC Just Works and legacy
// passkey), next to the crypto floor of a LESC pairing measured standalone in the same run
// (2 key generations, 2 public-key imports, 2 ECDH, and the f4/f5/f6 CMACs both sides compute).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "blecrypt/link/pipe.hpp"
#include "blecrypt/smp/engine.hpp"
#include "blecrypt/smp/link_layer_model.hpp"
#include "cli.hpp"
#include "harness.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::smp;

// One complete pairing over a link::Pipe with the link-layer model; true when both sides completed.
bool pair_once(const crypto::Backend& be, crypto::Rng& rng, bool sc, IoCapability ci, IoCapability pi) {
  EngineConfig c, p;
  c.role = Role::central;
  p.role = Role::peripheral;
  c.backend = p.backend = &be;
  c.secure_connections = p.secure_connections = sc;
  c.io = ci;
  p.io = pi;
  c.local_address = p.peer_address = Address{1, {0xc0, 0, 0, 0, 0, 1}};
  c.peer_address = p.local_address = Address{1, {0xc0, 0, 0, 0, 0, 2}};
  PairingEngine central(c, rng), peripheral(p, rng);
  link::Pipe<PairingEngine, PairingEngine> pipe(central, peripheral);
  LinkLayerModel ll(central, peripheral);
  int done = 0;
  bool failed = false;
  std::optional<std::uint32_t> shown;
  std::optional<Role> waiting;  // the side that must type the passkey, before it was shown
  ll.attach(pipe, [&](Role from, Event ev) {
    PairingEngine& self = from == Role::central ? central : peripheral;
    if (auto* d = std::get_if<events::PasskeyDisplay>(&ev)) {
      shown = d->passkey;
      if (waiting) (void)(*waiting == Role::central ? central : peripheral).passkey_reply(*shown, pipe.now);
    } else if (std::holds_alternative<events::PasskeyRequired>(ev)) {
      if (shown) (void)self.passkey_reply(*shown, pipe.now);
      else waiting = from;
    } else if (std::holds_alternative<events::PairingComplete>(ev)) {
      ++done;
    } else if (std::holds_alternative<events::PairingFailed>(ev) || std::holds_alternative<events::EncryptionFailed>(ev)) {
      failed = true;
    }
  });
  if (!central.pair(pipe.now)) return false;
  return pipe.pump() && !failed && done == 2;
}

int bench_smp(bool json, std::ostream& out) {
  const auto& be = selected_backend();
  crypto::DeterministicRng rng(42);
  if (!pair_once(be, rng, true, IoCapability::no_input_no_output, IoCapability::no_input_no_output) ||
      !pair_once(be, rng, false, IoCapability::keyboard_only, IoCapability::display_only))
    throw UserError("bench smp: a pairing failed");

  const double legacy = bench::median_ns([&] {
    pair_once(be, rng, false, IoCapability::keyboard_only, IoCapability::display_only);
  }, 11, 20.0);

  // The crypto floor of one LESC Just Works pairing.
  Toolbox tb(be);
  const Bytes n1(16, 0x11), n2(16, 0x22), a1(7, 0x01), a2(7, 0x02), iocap = {0x0d, 0x00, 0x03};
  auto floor_once = [&] {
    auto ka = be.p256_generate(rng);
    auto kb = be.p256_generate(rng);
    if (!ka || !kb) throw UserError("bench smp: key generation failed");
    auto pa = be.p256_public_key((*ka)->public_raw());
    auto pb = be.p256_public_key((*kb)->public_raw());
    if (!pa || !pb) throw UserError("bench smp: public key import failed");
    auto za = (*ka)->ecdh(**pb);
    auto zb = (*kb)->ecdh(**pa);
    if (!za || !zb) throw UserError("bench smp: ECDH failed");
    ByteView xa((*ka)->public_raw().data(), 32), xb((*kb)->public_raw().data(), 32);
    (void)tb.f4(xb, xa, n2, 0);  // Cb computed by B
    (void)tb.f4(xb, xa, n2, 0);  // and checked by A
    auto fa = tb.f5(*za, n1, n2, a1, a2);
    auto fb = tb.f5(*zb, n1, n2, a1, a2);
    if (!fa || !fb) throw UserError("bench smp: f5 failed");
    for (int i = 0; i < 2; ++i) {  // Ea and Eb, each computed by one side and checked by the other
      (void)tb.f6(fa->mac_key, n1, n2, n1, iocap, a1, a2);
      (void)tb.f6(fb->mac_key, n2, n1, n2, iocap, a2, a1);
    }
  };
  // The machine may be shared: pairing and floor samples are interleaved so that load changes
  // hit both alike; each figure is the median of the per-sample means.
  using Clock = std::chrono::steady_clock;
  std::vector<double> lesc_samples, floor_samples;
  for (int s = 0; s < 21; ++s) {
    auto t0 = Clock::now();
    for (int i = 0; i < 4; ++i) pair_once(be, rng, true, IoCapability::no_input_no_output, IoCapability::no_input_no_output);
    auto t1 = Clock::now();
    for (int i = 0; i < 4; ++i) floor_once();
    auto t2 = Clock::now();
    lesc_samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / 4);
    floor_samples.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / 4);
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double lesc = median(lesc_samples);
  const double floor = median(floor_samples);

  bench::Report r;
  r.number("lesc_jw_ns", lesc);
  r.number("lesc_jw_floor_ns", floor);
  r.number("lesc_jw_ratio", lesc / floor);
  r.number("legacy_passkey_ns", legacy);
  r.text("backend", std::string(be.name()));
  r.print(json, out);
  return 0;
}

const Register scenario{BenchScenario{"smp", "SMP pairings (LESC Just Works, legacy passkey) vs the LESC crypto floor", bench_smp}};

}  // namespace
}  // namespace blecrypt::cli
