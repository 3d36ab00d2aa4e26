// SESAME decrypt path: a logged-in device emulator and client (spec §10 secret) fed arbitrary
// packets (1 length byte + packet each). Never crashes; a forged packet never changes the lock.
#include <cstdlib>

#include "blecrypt/sesame/cipher.hpp"
#include "blecrypt/link/pipe.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"

namespace {
using namespace blecrypt;
using namespace blecrypt::sesame;

const Bytes kSecret = *from_hex("4a456a3ddd7a2d28af7dd1ea0aa037c2");
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  crypto::ScriptedRng dev_rng({*from_hex("deadbeef")});  // not the vector session: its packets are forgeries here
  crypto::DeterministicRng cli_rng(1);
  DeviceConfig dc;
  dc.secret = SecretBytes(kSecret);
  ClientConfig cc;
  cc.secret = SecretBytes(kSecret);
  cc.auto_time_sync = false;
  Device dev(std::move(dc), dev_rng);
  Client cli(std::move(cc), cli_rng);
  link::Pipe pipe(cli, dev);
  const TimePoint t = pipe.now;
  pipe.connect();
  if (!cli.ready() || !dev.logged_in()) std::abort();
  const auto history = dev.history().size();
  std::size_t off = 0;
  while (off < size) {
    const std::size_t n = std::min<std::size_t>(data[off], size - off - 1);
    ++off;
    (void)dev.feed(ByteView(data + off, n), t);
    (void)cli.feed(ByteView(data + off, n), t);
    off += n;
  }
  // Forging a CCM tag needs ~2^32 tries; the fuzzer must never get a command through.
  if (dev.history().size() != history) std::abort();
  // The raw cipher, too.
  auto c = SessionCipher::create(crypto::default_backend(), Bytes(16, 7), RandomCode{1, 2, 3, 4});
  if (c && c->open(ByteView(data, size))) std::abort();
  return 0;
}
