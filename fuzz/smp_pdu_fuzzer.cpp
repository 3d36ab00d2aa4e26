// SMP PDU parser: never crashes; every accepted PDU re-encodes to exactly the input bytes, and
// every rejection is one of the three typed errors.
#include <cstdlib>

#include "blecrypt/smp/pdu.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  const ByteView in(data, size);
  auto pdu = smp::parse_pdu(in);
  if (pdu) {
    const Bytes again = smp::encode_pdu(*pdu);
    if (again.size() != size || !std::equal(again.begin(), again.end(), in.begin())) std::abort();
    if (smp::pdu_length(data[0]) != size) std::abort();
  } else if (pdu.error() != smp::Errc::pdu_empty && pdu.error() != smp::Errc::pdu_unknown_opcode &&
             pdu.error() != smp::Errc::pdu_wrong_length) {
    std::abort();
  }
  return 0;
}
