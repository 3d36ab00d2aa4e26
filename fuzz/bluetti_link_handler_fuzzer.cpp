// The drop-in BluettiCrypt link handler fed arbitrary notifications: first a real handshake with
// the emulator (so the session paths are reachable), then the fuzz input split into notifications
// to ble_crypt_link_handler and decrypt_data. Never crashes; statuses stay within 0..4.
#include <cstdlib>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/device.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::bluetti;
  if (size < 1) return 0;
  crypto::DeterministicRng crng(1), drng(2);
  BluettiCrypt::Options o;
  o.device_verify_key.assign(kTestDevicePublicKey.begin(), kTestDevicePublicKey.end());
  o.licence_path = "/nonexistent/blecrypt-fuzz-licence.csv";
  o.rng = &crng;
  BluettiCrypt c(o);
  const int mode = data[0] % 3;  // 0: fuzz from the start; 1: after the challenge; 2: after status 3
  if (mode > 0) {
    DeviceSession device(*DeviceConfig::make(crypto::default_backend(), {}), *PowerStation::create("AC180"), drng);
    device.start(TimePoint{});
    for (int round = 0; round < 10 && c.status() < (mode == 1 ? 0 : 3); ++round) {
      while (auto t = device.poll_transmit()) {
        int st = 0;
        auto reply = c.ble_crypt_link_handler(std::string(t->begin(), t->end()), &st);
        if (!reply.empty()) (void)device.feed(as_bytes(reply), TimePoint{});
      }
    }
    if (mode == 1) {
      int st = 0;
      if (auto t = device.poll_transmit()) (void)c.ble_crypt_link_handler(std::string(t->begin(), t->end()), &st);
    }
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
