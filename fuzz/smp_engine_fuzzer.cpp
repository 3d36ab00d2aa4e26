// The pairing engine fed arbitrary sequences of PDUs and link-layer/user events, in both roles.
// Invariants: no crash; a key is handed to the link layer only in the legal state (the LTK
// request is answered with a key only while the pairing waits for encryption, never all zero);
// after a timeout nothing is ever sent again.
//
// Input: byte 0 = configuration (bit0 role, bits1-3 IO capability, bit4 SC, bit5 MITM,
// bit6 legacy OOB, bit7 debug keys), then operations: op byte (low 3 bits select):
//   0 PDU: length byte + bytes  1 LTK request: EDIV(2) Rand(8)  2 encryption changed
//   3 passkey (3 bytes, 0xffffff = reject)  4 yes/no (1 byte)  5 time +31 s + deadline
//   6 pair / security request   7 encryption failed / encrypt with bond (bit 3) / link down (bit 4)
#include <algorithm>
#include <cstdlib>

#include "blecrypt/smp/engine.hpp"

using namespace blecrypt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t c = data[0];
  smp::EngineConfig cfg;
  cfg.role = (c & 1) ? smp::Role::peripheral : smp::Role::central;
  cfg.io = static_cast<smp::IoCapability>(((c >> 1) & 7) % 5);
  cfg.secure_connections = c & 0x10;
  cfg.mitm = c & 0x20;
  if (c & 0x40) cfg.legacy_oob_tk = smp::Key128{1, 2, 3};
  cfg.debug_keys = c & 0x80;
  cfg.min_key_size = 7;
  cfg.initiator_keys = cfg.responder_keys = 7;
  // A fixed scalar keeps runs reproducible and avoids key generation per input.
  cfg.ecc_private_key = Bytes{0x1f, 0x6f, 0x8e, 0xcd, 0xab, 0x3e, 0x68, 0xb1, 0x65, 0xc9, 0xb7, 0x7e, 0xd4, 0xe4, 0xf9, 0xf2,
                              0x69, 0x04, 0xf9, 0x3b, 0xbf, 0xc5, 0x56, 0x8a, 0x45, 0xa9, 0xe0, 0xa8, 0x45, 0x12, 0xce, 0xaf};
  cfg.local_address = *smp::Address::parse("C0:00:00:00:00:01/random");
  cfg.peer_address = *smp::Address::parse("C0:00:00:00:00:02/random");
  crypto::DeterministicRng rng(size);
  smp::PairingEngine e(cfg, rng);
  TimePoint now{};
  bool timed_out = false;

  std::size_t i = 1;
  auto take = [&](std::size_t n) -> ByteView {
    n = std::min(n, size - i);
    ByteView v(data + i, n);
    i += n;
    return v;
  };
  while (i < size) {
    const std::uint8_t op = data[i++];
    const bool waiting = e.waiting_for_encryption();
    switch (op & 7) {
      case 0: {
        if (i >= size) break;
        std::size_t len = data[i++];
        (void)e.feed(take(len), now);
        break;
      }
      case 1: {
        auto ed = take(2);
        auto rand = take(8);
        e.ltk_request(ed.size() == 2 ? load_le16(ed.data()) : 0, rand, now);
        while (auto ev = e.poll_event()) {
          if (auto* r = std::get_if<smp::events::LtkReply>(&*ev)) {
            if (!r->ltk.empty()) {
              if (!waiting && !e.bond()) std::abort();  // key outside the legal state
              if (std::all_of(r->ltk.view().begin(), r->ltk.view().end(), [](auto b) { return b == 0; })) std::abort();
            }
          }
        }
        break;
      }
      case 2: e.encryption_changed(now); break;
      case 3: {
        auto p = take(3);
        std::uint32_t v = p.size() == 3 ? (p[0] | (p[1] << 8) | (p[2] << 16)) : 0;
        (void)e.passkey_reply(v == 0xffffff ? std::nullopt : std::optional<std::uint32_t>(v % 1000000), now);
        break;
      }
      case 4: {
        auto b = take(1);
        (void)e.confirm_reply(!b.empty() && (b[0] & 1), now);
        break;
      }
      case 5:
        now += std::chrono::seconds(31);
        e.on_deadline(now);
        break;
      case 6:
        if (cfg.role == smp::Role::central) (void)e.pair(now);
        else (void)e.security_request(now);
        break;
      case 7:
        if (op & 0x10) {
          e.on_link_down();  // a new link: pairing allowed again after a timeout
          timed_out = false;
          e.on_link_up(now);
        } else if (op & 8) {
          (void)e.encrypt_bonded(now);
        } else {
          e.encryption_failed(0x06, now);
        }
        break;
    }
    if (e.timed_out()) timed_out = true;
    bool sent = false;
    while (e.poll_transmit()) sent = true;
    if (timed_out && sent) std::abort();  // nothing after the SMP timeout
    while (e.poll_event()) {
    }
  }
  return 0;
}
