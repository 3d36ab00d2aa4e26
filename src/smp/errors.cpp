// The "blecrypt.smp" error category.
#include "blecrypt/smp/errors.hpp"

#include <string>

namespace blecrypt::smp {

namespace {

class SmpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.smp"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::bad_argument: return "smp toolbox: input has the wrong size";
      case Errc::pdu_empty: return "smp pdu: empty PDU (no opcode)";
      case Errc::pdu_unknown_opcode: return "smp pdu: unknown opcode (Command Not Supported 0x07)";
      case Errc::pdu_wrong_length: return "smp pdu: length does not match the opcode (Invalid Parameters 0x0A)";
      case Errc::unexpected_pdu: return "smp engine: PDU not allowed in the current pairing state";
      case Errc::invalid_parameters: return "smp engine: a PDU field has a value out of range";
      case Errc::pairing_failed: return "smp engine: pairing failed";
      case Errc::timed_out: return "smp engine: the 30 s SMP timer expired; no SMP traffic on this link any more";
      case Errc::wrong_state: return "smp engine: call not allowed in the current state";
      case Errc::wrong_role: return "smp engine: call not allowed for this role";
      case Errc::crypto_failure: return "smp engine: the crypto backend reported an error";
      case Errc::bond_io: return "smp bond store: file system error";
      case Errc::bond_corrupt: return "smp bond store: bond file corrupted or truncated";
      case Errc::not_bonded: return "smp: no bond stored for this peer";
    }
    return "smp: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const SmpCategory instance;
  return instance;
}
std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace blecrypt::smp
