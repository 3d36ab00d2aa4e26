// Phase 3, key distribution (Core Vol 3 Part H 3.6): which key PDUs each side still expects, the
// keys this side hands out, the keys the peer handed out. Internal to src/smp; the engine decides
// when the phase starts and ends (the responder distributes first, then the initiator).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "blecrypt/crypto.hpp"
#include "blecrypt/smp/pdu.hpp"
#include "blecrypt/smp/types.hpp"
#include "fault.hpp"

namespace blecrypt::smp {

class KeyDistribution {
 public:
  // What this side hands out (the settings that matter here).
  struct LocalSettings {
    std::uint8_t key_size = 16;  // the LTK is masked to it
    const SecretBytes* irk = nullptr;   // 16 bytes or empty (= random)
    const SecretBytes* csrk = nullptr;  // 16 bytes or empty (= random)
    Address identity;
  };

  // Starts phase 3 expecting the key PDUs of `receive` (key_dist bits; LinkKey ignored: no PDU).
  void start(std::uint8_t receive);
  bool complete() const noexcept { return next_ == count_; }
  // One key PDU from the peer. Faults: unexpected_pdu (not the next expected one),
  // invalid_parameters (an identity address that is neither public nor static random).
  std::optional<Fault> accept(const Pdu& pdu);
  // Makes this side's keys of `send` (key_dist bits) and returns their PDUs in spec order.
  // Randomness drawn in this order: LTK, EDIV, Rand, IRK, CSRK (only what is sent and not fixed).
  std::vector<Pdu> make_local(std::uint8_t send, const LocalSettings& s, crypto::Rng& rng);
  void clear();

  DistributedKeys local, peer;

 private:
  std::array<Opcode, 5> expect_{};
  std::size_t count_ = 0, next_ = 0;
};

}  // namespace blecrypt::smp
