// SMP PDU codec: exact lengths per opcode, typed errors for everything else.
#include "blecrypt/smp/pdu.hpp"

#include <algorithm>

namespace blecrypt::smp {

namespace {
constexpr std::size_t kLengths[15] = {0, 7, 7, 17, 17, 2, 17, 11, 17, 8, 17, 2, 65, 17, 2};

template <std::size_t N>
std::array<std::uint8_t, N> take(ByteView in, std::size_t off) {
  std::array<std::uint8_t, N> out{};
  std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(off), N, out.begin());
  return out;
}

PairingParameters params(ByteView in) {
  return PairingParameters{in[1], in[2], in[3], in[4], in[5], in[6]};
}
void put_params(Bytes& out, const PairingParameters& p) {
  out.insert(out.end(), {p.io_capability, p.oob_data_flag, p.auth_req, p.max_key_size, p.initiator_key_distribution,
                         p.responder_key_distribution});
}
}  // namespace

std::string_view reason_name(std::uint8_t reason) noexcept {
  switch (reason) {
    case 0x01: return "passkey_entry_failed";
    case 0x02: return "oob_not_available";
    case 0x03: return "authentication_requirements";
    case 0x04: return "confirm_value_failed";
    case 0x05: return "pairing_not_supported";
    case 0x06: return "encryption_key_size";
    case 0x07: return "command_not_supported";
    case 0x08: return "unspecified_reason";
    case 0x09: return "repeated_attempts";
    case 0x0a: return "invalid_parameters";
    case 0x0b: return "dhkey_check_failed";
    case 0x0c: return "numeric_comparison_failed";
    case 0x0d: return "bredr_pairing_in_progress";
    case 0x0e: return "ctkd_not_allowed";
    default: return "unknown";
  }
}

std::string_view opcode_name(std::uint8_t opcode) noexcept {
  static constexpr std::string_view names[15] = {"?",
                                                 "pairing_request",
                                                 "pairing_response",
                                                 "pairing_confirm",
                                                 "pairing_random",
                                                 "pairing_failed",
                                                 "encryption_information",
                                                 "central_identification",
                                                 "identity_information",
                                                 "identity_address_information",
                                                 "signing_information",
                                                 "security_request",
                                                 "pairing_public_key",
                                                 "pairing_dhkey_check",
                                                 "keypress_notification"};
  return opcode >= 1 && opcode <= 14 ? names[opcode] : "unknown";
}

std::size_t pdu_length(std::uint8_t opcode) noexcept { return opcode >= 1 && opcode <= 14 ? kLengths[opcode] : 0; }

Opcode opcode_of(const Pdu& pdu) noexcept { return static_cast<Opcode>(pdu.index() + 1); }

Result<Pdu> parse_pdu(ByteView in) {
  if (in.empty()) return Errc::pdu_empty;
  const std::uint8_t op = in[0];
  const std::size_t want = pdu_length(op);
  if (want == 0) return Errc::pdu_unknown_opcode;
  if (in.size() != want) return Errc::pdu_wrong_length;
  switch (static_cast<Opcode>(op)) {
    case Opcode::pairing_request: return Pdu{PairingRequest{params(in)}};
    case Opcode::pairing_response: return Pdu{PairingResponse{params(in)}};
    case Opcode::pairing_confirm: return Pdu{PairingConfirm{take<16>(in, 1)}};
    case Opcode::pairing_random: return Pdu{PairingRandom{take<16>(in, 1)}};
    case Opcode::pairing_failed: return Pdu{PairingFailed{in[1]}};
    case Opcode::encryption_information: return Pdu{EncryptionInformation{take<16>(in, 1)}};
    case Opcode::central_identification: return Pdu{CentralIdentification{load_le16(in.data() + 1), take<8>(in, 3)}};
    case Opcode::identity_information: return Pdu{IdentityInformation{take<16>(in, 1)}};
    case Opcode::identity_address_information: return Pdu{IdentityAddressInformation{in[1], take<6>(in, 2)}};
    case Opcode::signing_information: return Pdu{SigningInformation{take<16>(in, 1)}};
    case Opcode::security_request: return Pdu{SecurityRequest{in[1]}};
    case Opcode::pairing_public_key: return Pdu{PairingPublicKey{take<32>(in, 1), take<32>(in, 33)}};
    case Opcode::pairing_dhkey_check: return Pdu{PairingDhKeyCheck{take<16>(in, 1)}};
    case Opcode::keypress_notification: return Pdu{KeypressNotification{in[1]}};
  }
  return Errc::pdu_unknown_opcode;
}

Bytes encode_pdu(const Pdu& pdu) {
  Bytes out;
  const auto op = static_cast<std::uint8_t>(opcode_of(pdu));
  out.reserve(pdu_length(op));
  out.push_back(op);
  std::visit(
      [&out](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, PairingRequest> || std::is_same_v<T, PairingResponse>) {
          put_params(out, p.p);
        } else if constexpr (std::is_same_v<T, PairingConfirm> || std::is_same_v<T, PairingRandom> ||
                             std::is_same_v<T, PairingDhKeyCheck>) {
          append(out, p.value);
        } else if constexpr (std::is_same_v<T, PairingFailed>) {
          out.push_back(p.reason);
        } else if constexpr (std::is_same_v<T, EncryptionInformation>) {
          append(out, p.ltk);
        } else if constexpr (std::is_same_v<T, CentralIdentification>) {
          out.push_back(static_cast<std::uint8_t>(p.ediv));
          out.push_back(static_cast<std::uint8_t>(p.ediv >> 8));
          append(out, p.rand);
        } else if constexpr (std::is_same_v<T, IdentityInformation>) {
          append(out, p.irk);
        } else if constexpr (std::is_same_v<T, IdentityAddressInformation>) {
          out.push_back(p.addr_type);
          append(out, p.addr);
        } else if constexpr (std::is_same_v<T, SigningInformation>) {
          append(out, p.csrk);
        } else if constexpr (std::is_same_v<T, SecurityRequest>) {
          out.push_back(p.auth_req);
        } else if constexpr (std::is_same_v<T, PairingPublicKey>) {
          append(out, p.x);
          append(out, p.y);
        } else if constexpr (std::is_same_v<T, KeypressNotification>) {
          out.push_back(p.type);
        }
      },
      pdu);
  return out;
}

Reason reason_for_parse_error(std::error_code ec) noexcept {
  if (ec == Errc::pdu_unknown_opcode) return Reason::command_not_supported;
  if (ec == Errc::pdu_wrong_length || ec == Errc::pdu_empty) return Reason::invalid_parameters;
  return Reason::unspecified_reason;
}

}  // namespace blecrypt::smp
