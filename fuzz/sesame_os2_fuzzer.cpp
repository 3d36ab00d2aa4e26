// SESAME OS2 parsers and engines: login response / mech status / mech setting parsers round-trip;
// the OS2 device emulator and client take arbitrary packets (split at each 0xFF byte) without
// crashing, before and after a login, for each OS2 model.
#include <cstdlib>

#include "blecrypt/sesame/os2.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  using namespace blecrypt::sesame::os2;
  const ByteView in(data, size);
  if (auto lr = LoginResponse2::parse(in)) {
    auto back = LoginResponse2::parse(lr->encode());
    if (!back || back->time != lr->time || !(back->status == lr->status) || !(back->setting == lr->setting)) std::abort();
  }
  if (auto s = MechStatus2::parse(in)) {
    std::uint8_t out[MechStatus2::kSize];
    s->write(out);
    if (!(MechStatus2::parse(ByteView(out, sizeof out)).value() == *s)) std::abort();
  }
  if (auto s = MechSetting2::parse(in)) {
    std::uint8_t out[MechSetting2::kSize];
    s->write(out);
    if (!(MechSetting2::parse(ByteView(out, sizeof out)).value() == *s)) std::abort();
  }
  crypto::DeterministicRng rng(1);
  // The first byte picks the emulated model (SESAME 3, bot 1, Bike 1, SESAME 4): each answers differently.
  static constexpr std::uint16_t kModels[] = {model::sesame3, model::bot1, model::bike1, model::sesame4};
  const std::uint16_t m = size ? kModels[data[0] % 4] : model::sesame3;
  DeviceConfig2 dc;
  dc.model = m;
  dc.secret = SecretBytes(Bytes(16, 0x42));
  dc.private_key = SecretBytes(Bytes(32, 0x22));
  Device2 device(std::move(dc), rng);
  ClientConfig2 cc;
  cc.secret = SecretBytes(Bytes(16, 0x42));
  cc.device_public = device.public_key();
  cc.model = m;
  Client2 client(std::move(cc), rng);
  const TimePoint t{};
  device.on_link_up(t);
  client.on_link_up(t);
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xFF) {
      const ByteView pkt = in.subspan(start, i - start);
      (void)device.feed(pkt, t);
      (void)client.feed(pkt, t);
      start = i + 1;
    }
  }
  while (device.poll_transmit()) {
  }
  while (client.poll_transmit()) {
  }
  return 0;
}
