// The device engine (emulator) fed arbitrary client writes: mode 0 right after the challenge,
// mode 1 once the session is up (replayed handshake: deterministic RNGs make the client's writes
// the same every run, recorded once). Never crashes; the device never holds more than one record.
#include <cstdlib>
#include <vector>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"

namespace {

using namespace blecrypt;
using namespace blecrypt::bluetti;

Device make_device(crypto::Rng& rng) {
  auto cfg = DeviceConfig::make(crypto::default_backend(), {});
  auto station = PowerStation::create("AC180");
  if (!cfg || !station) std::abort();
  return Device(std::move(*cfg), std::move(*station), rng);
}

// The writes of a client with crng(1) to a device with drng(2) until both are established.
std::vector<Bytes> record() {
  crypto::DeterministicRng crng(1), drng(2);
  auto cfg = ClientConfig::make(crypto::default_backend(), kTestDevicePublicKey);
  if (!cfg) std::abort();
  Client client(std::move(*cfg), crng);
  Device device = make_device(drng);
  client.on_link_up(TimePoint{});
  device.on_link_up(TimePoint{});
  std::vector<Bytes> writes;
  for (int round = 0; round < 10 && !(client.established() && device.established()); ++round) {
    while (auto t = device.poll_transmit()) (void)client.feed(*t, TimePoint{});
    while (auto t = client.poll_transmit()) {
      writes.push_back(*t);
      (void)device.feed(*t, TimePoint{});
    }
  }
  return writes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const std::vector<Bytes> handshake = record();
  crypto::DeterministicRng drng(2);
  Device device = make_device(drng);
  device.on_link_up(TimePoint{});
  if (data[0] % 2 == 1) {
    for (const auto& w : handshake) (void)device.feed(w, TimePoint{});
    if (!device.established()) std::abort();  // the replay must reach the session
  }
  std::size_t off = 1;
  TimePoint now{};
  while (off < size) {
    const std::size_t n = std::min<std::size_t>(size - off, (data[off] % 64) + 1);
    ++off;
    const std::size_t take = std::min(n, size - std::min(off, size));
    (void)device.feed(ByteView(data + off, take), now);
    off += take;
    now += std::chrono::milliseconds(100);
    if (auto d = device.next_deadline(); d && *d <= now) device.on_deadline(now);
    while (device.poll_transmit()) {
    }
    while (device.poll_event()) {
    }
  }
  return 0;
}
