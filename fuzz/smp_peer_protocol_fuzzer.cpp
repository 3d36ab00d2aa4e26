// smp::PeerProtocol fed arbitrary lines (the relay side of docs/specs/smp-peer-protocol.md).
// Invariants: no crash; every output line is printable ASCII (echoed input is escaped); nothing
// is printed after `quit` / `disconnect RR`; the deadline is honoured without looping.
//
// Input: byte 0 = configuration (bit0 role, bits1-3 IO capability, bit4 SC, bit5 MITM, bit6
// --confirm ask, bit7 --passkey 123456), then lines separated by '\n'; a line starting with
// 0x01 advances the clock by 31 s and fires the deadline.
#include <cstdlib>
#include <string>

#include "blecrypt/smp/peer_protocol.hpp"

using namespace blecrypt;

namespace {
void check_lines(smp::PeerProtocol& p, bool finished_before) {
  while (auto l = p.poll_output()) {
    if (finished_before) std::abort();
    for (char ch : *l)
      if (ch < 0x20 || ch > 0x7e) std::abort();
  }
  while (auto d = p.poll_diagnostic()) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t c = data[0];
  smp::PeerConfig cfg;
  cfg.role = (c & 1) ? smp::Role::peripheral : smp::Role::central;
  cfg.io = static_cast<smp::IoCapability>(((c >> 1) & 7) % 5);
  cfg.sc = c & 0x10;
  cfg.mitm = c & 0x20;
  cfg.confirm = (c & 0x40) ? smp::PeerConfig::Confirm::ask : smp::PeerConfig::Confirm::yes;
  if (c & 0x80) cfg.passkey = 123456;
  cfg.min_key_size = 7;
  cfg.wait_for_pair = (c & 0x41) == 0x40;
  // A fixed scalar keeps runs reproducible and avoids key generation per input.
  cfg.ecc_private_key = Bytes{0x1f, 0x6f, 0x8e, 0xcd, 0xab, 0x3e, 0x68, 0xb1, 0x65, 0xc9, 0xb7, 0x7e, 0xd4, 0xe4, 0xf9, 0xf2,
                              0x69, 0x04, 0xf9, 0x3b, 0xbf, 0xc5, 0x56, 0x8a, 0x45, 0xa9, 0xe0, 0xa8, 0x45, 0x12, 0xce, 0xaf};
  crypto::DeterministicRng rng(size);
  smp::PeerProtocol p(cfg, rng);
  TimePoint now{};
  if (!p.start(now)) return 0;
  check_lines(p, false);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    const bool finished = p.finished();
    if (!line.empty() && line[0] == '\x01') {
      now += std::chrono::seconds(31);
      if (auto d = p.next_deadline(); d && *d <= now) p.on_deadline(now);
    } else {
      p.on_line(line, now);
    }
    check_lines(p, finished);
  }
  return 0;
}
