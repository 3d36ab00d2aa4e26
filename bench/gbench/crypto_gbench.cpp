// Google Benchmark of the crypto seam on both backends (developers' view; users run
// `blecrypt bench crypto`).
#include <benchmark/benchmark.h>

#include "blecrypt/crypto.hpp"

namespace {
using namespace blecrypt;

const crypto::Backend& backend_of(const benchmark::State& state) {
  return *crypto::all_backends()[static_cast<std::size_t>(state.range(0))];
}

void BM_CcmSeal(benchmark::State& state) {
  const auto& be = backend_of(state);
  state.SetLabel(std::string(be.name()));
  auto ccm = std::move(*be.aes_ccm(Bytes(16, 1)));
  Bytes nonce(13, 2), aad(1, 0), msg(static_cast<std::size_t>(state.range(1)), 3), out(msg.size() + 4);
  for (auto _ : state) benchmark::DoNotOptimize(ccm->seal(nonce, aad, msg, 4, out));
}
BENCHMARK(BM_CcmSeal)->ArgsProduct({{0, 1}, {20, 200}});

void BM_Cmac(benchmark::State& state) {
  const auto& be = backend_of(state);
  state.SetLabel(std::string(be.name()));
  auto cmac = std::move(*be.aes_cmac(Bytes(16, 1)));
  Bytes msg(static_cast<std::size_t>(state.range(1)), 3);
  for (auto _ : state) benchmark::DoNotOptimize(cmac->mac(msg));
}
BENCHMARK(BM_Cmac)->ArgsProduct({{0, 1}, {20, 200}});

void BM_Cbc256(benchmark::State& state) {
  const auto& be = backend_of(state);
  state.SetLabel(std::string(be.name()));
  auto cbc = std::move(*be.aes_cbc(Bytes(32, 1)));
  Bytes iv(16, 2), msg(static_cast<std::size_t>(state.range(1)), 3), out(msg.size());
  for (auto _ : state) benchmark::DoNotOptimize(cbc->encrypt(iv, msg, out));
}
BENCHMARK(BM_Cbc256)->ArgsProduct({{0, 1}, {32, 208}});

void BM_Ecdh(benchmark::State& state) {
  const auto& be = backend_of(state);
  state.SetLabel(std::string(be.name()));
  crypto::DeterministicRng rng(1);
  auto a = std::move(*be.p256_generate(rng));
  auto b = std::move(*be.p256_generate(rng));
  auto b_pub = std::move(*be.p256_public_key(b->public_raw()));
  for (auto _ : state) benchmark::DoNotOptimize(a->ecdh(*b_pub));
}
BENCHMARK(BM_Ecdh)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
