// SMP PDU codec: exact lengths, typed errors, round trips of every opcode.
#include <gtest/gtest.h>

#include "blecrypt/smp/pdu.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

using test::hex;

TEST(Pdu, LengthsOfAllFourteenOpcodes) {
  const std::size_t want[] = {7, 7, 17, 17, 2, 17, 11, 17, 8, 17, 2, 65, 17, 2};
  for (std::uint8_t op = 1; op <= 14; ++op) {
    EXPECT_EQ(pdu_length(op), want[op - 1]) << int(op);
    Bytes pdu(want[op - 1], 0x5a);
    pdu[0] = op;
    auto p = parse_pdu(pdu);
    ASSERT_TRUE(p) << int(op);
    EXPECT_EQ(static_cast<std::uint8_t>(opcode_of(*p)), op);
    EXPECT_BYTES_EQ(encode_pdu(*p), pdu);
    // One byte short and one byte long: Invalid Parameters.
    Bytes shorter(pdu.begin(), pdu.end() - 1), longer = pdu;
    longer.push_back(0);
    EXPECT_EQ(parse_pdu(shorter).error(), Errc::pdu_wrong_length);
    EXPECT_EQ(parse_pdu(longer).error(), Errc::pdu_wrong_length);
    EXPECT_EQ(reason_for_parse_error(parse_pdu(longer).error()), Reason::invalid_parameters);
  }
}

TEST(Pdu, UnknownOpcodesAreCommandNotSupported) {
  for (int op : {0x00, 0x0f, 0x10, 0x7f, 0xff}) {
    Bytes pdu = {static_cast<std::uint8_t>(op), 0};
    auto p = parse_pdu(pdu);
    EXPECT_EQ(p.error(), Errc::pdu_unknown_opcode) << op;
    EXPECT_EQ(reason_for_parse_error(p.error()), Reason::command_not_supported);
  }
  EXPECT_EQ(parse_pdu({}).error(), Errc::pdu_empty);
}

TEST(Pdu, PairingRequestFieldsFromTheRelayExample) {
  auto p = parse_pdu(hex("0103000d100303"));
  ASSERT_TRUE(p);
  const auto& req = std::get<PairingRequest>(*p);
  EXPECT_EQ(req.p.io_capability, 3);
  EXPECT_EQ(req.p.oob_data_flag, 0);
  EXPECT_EQ(req.p.auth_req, auth_req::bonding | auth_req::mitm | auth_req::sc);
  EXPECT_EQ(req.p.max_key_size, 16);
  EXPECT_EQ(req.p.initiator_key_distribution, 3);
  EXPECT_EQ(req.p.responder_key_distribution, 3);
}

TEST(Pdu, CentralIdentificationAndAddressAreWireOrder) {
  auto p = parse_pdu(hex("07392a0102030405060708"));
  ASSERT_TRUE(p);
  const auto& ci = std::get<CentralIdentification>(*p);
  EXPECT_EQ(ci.ediv, 0x2a39);
  EXPECT_BYTES_EQ(ci.rand, hex("0102030405060708"));
  auto a = parse_pdu(hex("09010200000000c0"));
  ASSERT_TRUE(a);
  EXPECT_EQ(std::get<IdentityAddressInformation>(*a).addr_type, 1);
  EXPECT_BYTES_EQ(std::get<IdentityAddressInformation>(*a).addr, hex("0200000000c0"));
}

TEST(Pdu, NamesForReasonsAndOpcodes) {
  EXPECT_EQ(reason_name(0x0b), "dhkey_check_failed");
  EXPECT_EQ(reason_name(0x0c), "numeric_comparison_failed");
  EXPECT_EQ(reason_name(0x42), "unknown");
  EXPECT_EQ(opcode_name(0x0c), "pairing_public_key");
}

}  // namespace
}  // namespace blecrypt::smp
