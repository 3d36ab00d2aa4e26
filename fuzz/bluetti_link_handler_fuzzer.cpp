// The drop-in BluettiCrypt link handler fed arbitrary notifications: first (modes 1 and 2) the
// handshake with the emulator, then the fuzz input split into notifications to
// ble_crypt_link_handler, decrypt_data and encrypt_data. Never crashes; statuses stay within 0..4.
//
// Fast path: both RNGs are deterministic, so the emulator's notifications are the same in every
// run. They are recorded once (first call) and replayed, so each input pays only the client's
// half of the handshake instead of running the emulator too.
#include <cstdlib>
#include <vector>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/device.hpp"

namespace {

using namespace blecrypt;
using namespace blecrypt::bluetti;

BluettiCrypt::Options options(crypto::Rng& rng) {
  BluettiCrypt::Options o;
  o.device_verify_key.assign(kTestDevicePublicKey.begin(), kTestDevicePublicKey.end());
  o.licence_path = "/nonexistent/blecrypt-fuzz-licence.csv";
  o.rng = &rng;
  return o;
}

// The notifications a handler with crng(1) receives from an emulator with drng(2) until it
// reaches `target` (0: the challenge only; 3: session up).
std::vector<Bytes> record(int target) {
  crypto::DeterministicRng crng(1), drng(2);
  BluettiCrypt c(options(crng));
  auto cfg = DeviceConfig::make(crypto::default_backend(), {});
  auto station = PowerStation::create("AC180");
  if (!cfg || !station) std::abort();
  Device device(std::move(*cfg), std::move(*station), drng);
  device.on_link_up(TimePoint{});
  std::vector<Bytes> notes;
  for (int round = 0; round < 10; ++round) {
    while (auto t = device.poll_transmit()) {
      notes.push_back(*t);
      int st = 0;
      auto reply = c.ble_crypt_link_handler(std::string(t->begin(), t->end()), &st);
      if (target == 0 || st >= target) return notes;
      if (!reply.empty()) (void)device.feed(as_bytes(reply), TimePoint{});
    }
  }
  return notes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const std::vector<Bytes> to_challenge = record(0);
  static const std::vector<Bytes> to_session = record(3);
  crypto::DeterministicRng crng(1);
  BluettiCrypt c(options(crng));
  const int mode = data[0] % 3;  // 0: fuzz from the start; 1: after the challenge; 2: after status 3
  if (mode > 0) {
    for (const auto& n : mode == 1 ? to_challenge : to_session) {
      int st = 0;
      (void)c.ble_crypt_link_handler(std::string(n.begin(), n.end()), &st);
    }
    if (mode == 2 && c.status() != 3) std::abort();  // the replay must reach the session
  }
  std::size_t off = 1;
  while (off < size) {
    const std::size_t n = std::min<std::size_t>(size - off, (data[off] % 40) + 1);
    ++off;
    const std::size_t take = std::min(n, size - std::min(off, size));
    std::string chunk(reinterpret_cast<const char*>(data + off), take);
    off += take;
    int status = -1;
    (void)c.ble_crypt_link_handler(chunk, &status);
    if (status < 0 || status > 4) std::abort();
    (void)c.decrypt_data(chunk);
    (void)c.encrypt_data(chunk);
  }
  return 0;
}
