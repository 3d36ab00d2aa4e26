// The SecurityManager's policy layer: bonded re-encryption, RPA resolution through a stored IRK,
// Security Requests with and without a bond, pairing policies, setters during a pairing.
// Invariants: no crash; a setter is refused exactly while a pairing is in progress and then
// leaves the pairing in progress; an LTK handed to the link layer is never empty for a central.
//
// Input: byte 0 = configuration (bit0 role, bits1-3 IO capability, bit4 SC, bit5 MITM, bit6
// bonded store, bit7 connection address is an RPA of the stored bond), byte 1 = pairing policy
// (low 4 bits), then operations (low 4 bits of the op byte):
//   0 PDU: length + bytes  1 LTK request: EDIV(2) Rand(8)  2 encryption changed
//   3 passkey (3 bytes, 0xffffff = reject)  4 yes/no  5 time +31 s + deadline  6 pair (force bit)
//   7 encryption failed  8 security request reply (accept/reject/force)  9 setter
//   10 encrypt with bond  11 delete bond  12 disconnected
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "blecrypt/smp/security_manager.hpp"
#include "blecrypt/smp/toolbox.hpp"

using namespace blecrypt;

namespace {

const Bytes kIrkSpecOrder = {0xec, 0x02, 0x34, 0xa3, 0x57, 0xc8, 0xad, 0x05,
                             0x34, 0x10, 0x10, 0xa6, 0x0a, 0x39, 0x7d, 0x9b};  // Core Vol 3 Part H D.7

// A directory with one LESC bond for 00:1B:DC:01:02:03/public whose IRK is the D.7 sample IRK,
// so 70:81:94:0D:FB:AA/random resolves to it.
smp::BondStore& store() {
  static smp::BondStore s = [] {
    auto d = std::filesystem::temp_directory_path() / ("blecrypt_fuzz_sm_" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    smp::BondStore st(d);
    smp::BondRecord b;
    b.peer = *smp::Address::parse("00:1B:DC:01:02:03/public");
    b.method = smp::Method::just_works;
    b.info.sc = true;
    b.info.ltk = SecretBytes(Bytes(16, 0x5c));
    b.info.peer.irk = SecretBytes(Bytes(kIrkSpecOrder.rbegin(), kIrkSpecOrder.rend()));
    b.info.peer.identity = b.peer;
    if (!st.save(b)) std::abort();
    return st;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t c = data[0];
  smp::SecurityManager::Config cfg;
  cfg.role = (c & 1) ? smp::Role::peripheral : smp::Role::central;
  cfg.local_address = *smp::Address::parse("C0:00:00:00:00:01/random");
  cfg.peer_address = (c & 0x80) ? *smp::Address::parse("70:81:94:0D:FB:AA/random")
                                : *smp::Address::parse("00:1B:DC:01:02:03/public");
  if (!(c & 0x40)) cfg.peer_address.bytes[5] ^= 0x55;  // no bond for this one
  cfg.bond_store = &store();
  cfg.min_key_size = 7;
  cfg.engine.ecc_private_key = Bytes{0x1f, 0x6f, 0x8e, 0xcd, 0xab, 0x3e, 0x68, 0xb1, 0x65, 0xc9, 0xb7, 0x7e, 0xd4, 0xe4, 0xf9, 0xf2,
                                     0x69, 0x04, 0xf9, 0x3b, 0xbf, 0xc5, 0x56, 0x8a, 0x45, 0xa9, 0xe0, 0xa8, 0x45, 0x12, 0xce, 0xaf};
  crypto::DeterministicRng rng(size);
  smp::SecurityManager sm(cfg, rng);
  if ((c & 0xc0) == 0xc0 && !sm.is_previously_bonded()) std::abort();  // the RPA must resolve
  smp::SecurityParameters params;
  params.io_capabilities = static_cast<smp::IoCapability>(((c >> 1) & 7) % 5);
  params.lesc_pairing = c & 0x10;
  params.passcode_pairing = c & 0x20;
  params.bond = true;
  (void)sm.set_security_params(params);
  (void)sm.set_pairing_policy(static_cast<smp::PairingPolicy>(data[1] & 0x0f));
  bool decide_requests = false;
  sm.on_peripheral_security_request = [&](std::uint8_t, bool) { decide_requests = true; };
  sm.on_start_encryption = [&](const smp::events::StartEncryption& se) {
    if (se.ltk.empty()) std::abort();
  };
  TimePoint now{};
  std::size_t i = 2;
  auto take = [&](std::size_t n) -> const std::uint8_t* {
    if (i + n > size) return nullptr;
    const auto* p = data + i;
    i += n;
    return p;
  };
  while (i < size) {
    const std::uint8_t op = data[i++];
    switch (op & 0x0f) {
      case 0: {
        const auto* n = take(1);
        if (!n) break;
        const std::size_t len = std::min<std::size_t>({*n, size - i, 65});
        const auto* b = take(len);
        if (b) (void)sm.feed(ByteView(b, len), now);
        break;
      }
      case 1: {
        const auto* b = take(10);
        if (b) sm.ltk_request(static_cast<std::uint16_t>(b[0] | b[1] << 8), ByteView(b + 2, 8), now);
        break;
      }
      case 2: sm.encryption_changed(now); break;
      case 3: {
        const auto* b = take(3);
        if (!b) break;
        const std::uint32_t v = b[0] | b[1] << 8 | static_cast<std::uint32_t>(b[2]) << 16;
        (void)sm.passkey_reply(v == 0xffffff ? std::nullopt : std::optional<std::uint32_t>(v % 1000000), now);
        break;
      }
      case 4: (void)sm.match_confirm(op & 0x10, now); break;
      case 5:
        now += std::chrono::seconds(31);
        if (auto d = sm.next_deadline(); d && *d <= now) sm.on_deadline(now);
        break;
      case 6: (void)sm.pair(now, op & 0x10); break;
      case 7: sm.encryption_failed(0x06, now); break;
      case 8:
        if (decide_requests) {
          const auto r = (op >> 4) % 3 == 0   ? smp::SecurityRequestResponse::accept
                         : (op >> 4) % 3 == 1 ? smp::SecurityRequestResponse::reject
                                              : smp::SecurityRequestResponse::force_repair;
          (void)sm.security_request_reply(r, now);
        }
        break;
      case 9: {
        const bool busy = sm.pairing_in_process();
        auto r = (op & 0x10) ? sm.set_security_params(params) : sm.set_pairing_policy(smp::PairingPolicy::allow_all);
        if (busy != !r) std::abort();                       // refused exactly while pairing
        if (busy && !sm.pairing_in_process()) std::abort();  // and the pairing is kept
        break;
      }
      case 10: (void)sm.encrypt_with_bond(now); break;
      case 11: break;  // delete_bonding_data() would remove the shared bond file: not fuzzed here
      case 12: sm.disconnected(); break;
      default: break;
    }
  }
  return 0;
}
