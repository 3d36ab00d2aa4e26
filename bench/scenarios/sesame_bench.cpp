// `blecrypt bench sesame`: registration and login with client and emulator in one process, next to
// their crypto floor (the same primitive calls timed standalone, measured in the same run); CCM
// message encrypt + decrypt at 20 bytes; heap held by one logged-in client session.
#include <algorithm>
#include <iostream>
#include <utility>
#include <memory>

#include "blecrypt/link/pipe.hpp"
#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "cli.hpp"
#include "harness.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::sesame;

template <typename T>
T must(Result<T> r) {
  if (!r) throw UserError("sesame bench setup failed: " + r.error().message());
  return std::move(*r);
}

// One connection of client and emulator on link::Pipe (whole messages, no virtual time passes).
bool connect_pair(Client& c, Device& d, TimePoint t) {
  link::Pipe pipe(c, d, link::Pipe<Client, Device>::kWhole, t);
  pipe.connect();
  while (c.poll_event()) {}
  while (d.poll_event()) {}
  return c.ready();
}

int bench_sesame(bool json, std::ostream& out) {
  using bench::median_ns;
  const auto& be = selected_backend();
  bench::Report report;
  report.text("backend", std::string(be.name()));
  crypto::DeterministicRng rng(42);
  const TimePoint t0{};
  const RandomCode code{0x0c, 0x0f, 0xfe, 0xe0};
  const std::uint8_t aad[1] = {0};

  // ---- registration: engines vs floor -------------------------------------------------------
  bool ok = true;
  // Engines and floors are measured alternately, several rounds, keeping each one's best median:
  // the ratio then compares like with like even when the machine is busy.
  auto best_of = [](int rounds, auto&& a, auto&& b, int samples, double ms) {
    double best_a = 1e300, best_b = 1e300;
    for (int r = 0; r < rounds; ++r) {
      best_a = std::min(best_a, median_ns(a, samples, ms));
      best_b = std::min(best_b, median_ns(b, samples, ms));
    }
    return std::pair{best_a, best_b};
  };
  auto reg_engine = [&] {
    ClientConfig cc;
    cc.backend = &be;
    DeviceConfig dc;
    dc.backend = &be;
    Client c(std::move(cc), rng);
    Device d(std::move(dc), rng);
    ok = connect_pair(c, d, t0) && ok;
  };
  const Bytes status(9, 0x11), setting(8, 0x22);
  // The same primitive calls in the order the engines make them.
  auto reg_floor_fn = [&] {
    auto a = must(be.p256_generate(rng));                   // client key pair
    auto pub_a = must(be.p256_public_key(a->public_raw())); // device imports pubA
    auto s = must(be.p256_generate(rng));                   // device key pair
    auto z_s = must(s->ecdh(*pub_a));
    Bytes sealed1(status.size() + 4), sealed2(setting.size() + 4), plain(16);
    {  // device: session key, cipher, two encrypted publishes
      auto cmac = must(be.aes_cmac(z_s.view().first(16)));
      const auto key = cmac->mac(code);
      auto ccm = must(be.aes_ccm(key));
      (void)ccm->seal(make_nonce(0, code), aad, status, 4, sealed1);
      (void)ccm->seal(make_nonce(1, code), aad, setting, 4, sealed2);
    }
    auto pub_s = must(be.p256_public_key(s->public_raw()));  // client imports pubS
    auto z_a = must(a->ecdh(*pub_s));
    {  // client: the same, opening both
      auto cmac = must(be.aes_cmac(z_a.view().first(16)));
      const auto key = cmac->mac(code);
      auto ccm = must(be.aes_ccm(key));
      (void)ccm->open(make_nonce(0, code), aad, sealed1, 4, plain);
      (void)ccm->open(make_nonce(1, code), aad, sealed2, 4, plain);
    }
  };
  const auto [reg, reg_floor] = best_of(7, reg_engine, reg_floor_fn, 11, 3);
  report.number("register_ns", reg);
  report.number("register_floor_ns", reg_floor);
  report.number("register_floor_ratio", reg / reg_floor);

  // ---- login: engines vs floor --------------------------------------------------------------
  const SecretBytes secret(Bytes(16, 0x4a));
  auto login_engine = [&] {
    ClientConfig cc;
    cc.backend = &be;
    cc.secret = secret;
    DeviceConfig dc;
    dc.backend = &be;
    dc.secret = secret;
    Client c(std::move(cc), rng);
    Device d(std::move(dc), rng);
    ok = connect_pair(c, d, t0) && ok;
  };
  const Bytes login_resp(7, 0x07);
  auto login_floor_fn = [&] {
    Bytes s1(7 + 4), s2(9 + 4), s3(8 + 4), plain(16);
    {  // client: session key + cipher before LOGIN
      auto cmac = must(be.aes_cmac(secret));
      const auto key = cmac->mac(code);
      auto ccm = must(be.aes_ccm(key));
      {  // device: the same, then login response + publishes 81, 80
        auto dcmac = must(be.aes_cmac(secret));
        const auto dkey = dcmac->mac(code);
        auto dccm = must(be.aes_ccm(dkey));
        (void)dccm->seal(make_nonce(0, code), aad, login_resp, 4, s1);
        (void)dccm->seal(make_nonce(1, code), aad, status, 4, s2);
        (void)dccm->seal(make_nonce(2, code), aad, setting, 4, s3);
      }
      (void)ccm->open(make_nonce(0, code), aad, s1, 4, plain);
      (void)ccm->open(make_nonce(1, code), aad, s2, 4, plain);
      (void)ccm->open(make_nonce(2, code), aad, s3, 4, plain);
    }
  };
  const auto [login, login_floor] = best_of(9, login_engine, login_floor_fn, 11, 3);
  report.number("login_ns", login);
  report.number("login_floor_ns", login_floor);
  report.number("login_floor_ratio", login / login_floor);

  // ---- one 20-byte message: encrypt on one side, decrypt on the other ------------------------
  auto tx = must(SessionCipher::create(be, Bytes(16, 0x5c), code));
  auto rx = must(SessionCipher::create(be, Bytes(16, 0x5c), code));
  const Bytes msg(20, 0x52);
  Bytes sealed20(msg.size() + kTagSize), plain20(msg.size());
  double ccm = 1e300;
  for (int r = 0; r < 3; ++r)
    ccm = std::min(ccm, median_ns([&] {
      ok = ok && tx.seal(msg, sealed20).has_value() && rx.open(sealed20, plain20).has_value();
    }));
  report.number("ccm_20B_ns", ccm);

  // ---- heap held by one logged-in client session (operator new only) -----------------------
  std::vector<Bytes> notifications;
  {
    crypto::ScriptedRng code_rng({Bytes(code.begin(), code.end())});
    ClientConfig cc;
    cc.secret = secret;
    cc.backend = &be;
    DeviceConfig dc;
    dc.secret = secret;
    dc.backend = &be;
    Client c(std::move(cc), rng);
    Device d(std::move(dc), code_rng);
    link::Pipe pipe(c, d, link::Pipe<Client, Device>::kWhole, t0);
    pipe.to_central.set_tamper([&](std::size_t, Bytes& pdu) { notifications.push_back(pdu); });
    pipe.connect();
  }
  {
    const std::size_t before = bench::live_heap_bytes();
    auto c = std::make_unique<Client>([&] {
      ClientConfig cc;
      cc.secret = secret;
      cc.backend = &be;
      return cc;
    }(), rng);
    c->on_link_up(t0);
    for (const auto& n : notifications) (void)c->feed(n, t0);
    while (c->poll_transmit()) {}
    while (c->poll_event()) {}
    ok = ok && c->ready();
    report.number("session_heap_bytes", static_cast<double>(bench::live_heap_bytes() - before));
    report.number("client_object_bytes", static_cast<double>(sizeof(Client)));
  }
  report.number("register_target_ratio", 1.3);
  report.number("login_target_ratio", 1.3);
  report.print(json, out);
  if (!ok) {
    std::cerr << "sesame bench: a session did not complete\n";
    return 1;
  }
  return 0;
}

const Register scenario{BenchScenario{"sesame", "SESAME registration/login vs crypto floor, CCM 20 B, heap per session", bench_sesame}};

}  // namespace
}  // namespace blecrypt::cli
