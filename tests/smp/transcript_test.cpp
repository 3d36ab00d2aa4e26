// Replays the 15 NimBLE pairing transcripts of tests/vectors/smp_test_vectors.json through the
// engine with a scripted Rng: every PDU our side sends must equal the transcript byte for byte,
// and the STK/LTK and distributed keys must match. LESC transcripts carry only the private key of
// the side NimBLE played, so that side is ours; legacy transcripts are replayed from both sides.
#include <gtest/gtest.h>

#include "blecrypt/smp/engine.hpp"
#include "support/vectors.hpp"

namespace blecrypt::smp {
namespace {

using blecrypt::test::hex;
using nlohmann::json;

struct Msg {
  enum Kind { ours, theirs, link } kind;
  Bytes pdu;
};

Bytes wire(const std::string& spec_hex) { return reversed(hex(spec_hex)); }
Bytes op(std::uint8_t code, ByteView body) {
  Bytes b{code};
  append(b, body);
  return b;
}

// Key distribution PDUs one side sends for `mask` (LESC: no Encryption Information).
std::vector<Bytes> key_pdus(const json& side, std::uint8_t mask, bool sc) {
  std::vector<Bytes> out;
  const json& k = side.at("distributed_keys");
  if ((mask & key_dist::enc) && !sc) {
    out.push_back(op(0x06, wire(k.at("ltk").get<std::string>())));
    Bytes ci = wire(k.at("ediv").get<std::string>());
    append(ci, wire(k.at("rand").get<std::string>()));
    out.push_back(op(0x07, ci));
  }
  if (mask & key_dist::id) {
    out.push_back(op(0x08, wire(k.at("irk").get<std::string>())));
    Bytes ia{static_cast<std::uint8_t>(k.at("id_addr_type").get<int>())};
    append(ia, wire(k.at("id_addr").get<std::string>()));
    out.push_back(op(0x09, ia));
  }
  if (mask & key_dist::sign) out.push_back(op(0x0a, wire(k.at("csrk").get<std::string>())));
  return out;
}

Bytes public_key_pdu(const json& side) {
  Bytes b = wire(side.at("public_x").get<std::string>());
  append(b, wire(side.at("public_y").get<std::string>()));
  return op(0x0c, b);
}

Address air(const json& side) {
  Address a;
  a.type = static_cast<std::uint8_t>(side.at("air_address_type").get<int>());
  auto b = hex(side.at("air_address").get<std::string>());
  std::copy(b.begin(), b.end(), a.bytes.begin());
  return a;
}

void replay(const json& t, bool we_initiate, const crypto::Backend& be) {
  SCOPED_TRACE(t.at("id").get<std::string>() + (we_initiate ? " as initiator" : " as responder"));
  const bool sc = t.at("kind") == "lesc";
  const json& A = t.at("initiator");
  const json& B = t.at("responder");
  const json& me = we_initiate ? A : B;
  const json& peer = we_initiate ? B : A;
  const Bytes req = hex(t.at("pairing_request_pdu").get<std::string>());
  const Bytes rsp = hex(t.at("pairing_response_pdu").get<std::string>());
  const bool expect_fail = t.at("expect") == "failure";

  // Our configuration mirrors the side's own PDU.
  const Bytes& mine = we_initiate ? req : rsp;
  EngineConfig cfg;
  cfg.backend = &be;
  cfg.role = we_initiate ? Role::central : Role::peripheral;
  cfg.io = static_cast<IoCapability>(mine[1]);
  cfg.bonding = mine[3] & auth_req::bonding;
  cfg.mitm = mine[3] & auth_req::mitm;
  cfg.secure_connections = mine[3] & auth_req::sc;
  cfg.keypress = mine[3] & auth_req::keypress;
  cfg.max_key_size = mine[4];
  cfg.min_key_size = 7;
  cfg.initiator_keys = mine[5];
  cfg.responder_keys = mine[6];
  cfg.local_address = air(me);
  cfg.peer_address = air(peer);
  if (me.contains("private_key")) cfg.ecc_private_key = hex(me.at("private_key").get<std::string>());
  if (t.contains("legacy_oob_tk")) cfg.legacy_oob_tk = blecrypt::test::to_array<16>(wire(t.at("legacy_oob_tk").get<std::string>()));
  const std::uint8_t init_keys = rsp[5], resp_keys = rsp[6];
  const std::uint8_t my_mask = we_initiate ? init_keys : resp_keys;
  const bool passkey = t.contains("passkey");
  const std::uint32_t pk = passkey ? t.at("passkey").get<std::uint32_t>() : 0;
  if (passkey) cfg.passkey = pk;  // used only when this side displays
  const json* dk = me.contains("distributed_keys") ? &me.at("distributed_keys") : nullptr;
  if (dk && dk->contains("irk")) {
    cfg.irk = SecretBytes(wire(dk->at("irk").get<std::string>()));
    Address id;
    id.type = static_cast<std::uint8_t>(dk->at("id_addr_type").get<int>());
    auto b = hex(dk->at("id_addr").get<std::string>());
    std::copy(b.begin(), b.end(), id.bytes.begin());
    cfg.identity_address = id;
  }

  // Rng script in the engine's draw order: nonces, then LTK, EDIV, Rand, CSRK of phase 3.
  std::vector<Bytes> script;
  if (me.contains("randoms"))
    for (const auto& r : me.at("randoms")) script.push_back(wire(r.get<std::string>()));
  if (dk) {
    if ((my_mask & key_dist::enc) && !sc) {
      script.push_back(wire(dk->at("ltk").get<std::string>()));
      script.push_back(wire(dk->at("ediv").get<std::string>()));
      script.push_back(wire(dk->at("rand").get<std::string>()));
    }
    if (my_mask & key_dist::sign) script.push_back(wire(dk->at("csrk").get<std::string>()));
  }
  crypto::ScriptedRng rng(script);
  PairingEngine e(cfg, rng);

  // The expected conversation.
  std::vector<Msg> seq;
  auto add = [&](bool from_a, Bytes pdu) { seq.push_back({from_a == we_initiate ? Msg::ours : Msg::theirs, std::move(pdu)}); };
  add(true, req);
  add(false, rsp);
  if (sc) {
    add(true, public_key_pdu(A));
    add(false, public_key_pdu(B));
    if (expect_fail) {
      seq.push_back({Msg::ours, hex("050b")});  // reflected key: DHKey Check Failed, no confirm
    } else {
      const auto& ca = A.at("confirms");
      const auto& cb = B.at("confirms");
      const auto& na = A.at("randoms");
      const auto& nb = B.at("randoms");
      if (ca.empty()) {  // JW / NC
        add(false, op(0x03, wire(cb[0].get<std::string>())));
        add(true, op(0x04, wire(na[0].get<std::string>())));
        add(false, op(0x04, wire(nb[0].get<std::string>())));
      } else {
        for (std::size_t i = 0; i < ca.size(); ++i) {
          add(true, op(0x03, wire(ca[i].get<std::string>())));
          add(false, op(0x03, wire(cb[i].get<std::string>())));
          add(true, op(0x04, wire(na[i].get<std::string>())));
          add(false, op(0x04, wire(nb[i].get<std::string>())));
        }
      }
      add(true, op(0x0d, wire(A.at("dhkey_check").get<std::string>())));
      add(false, op(0x0d, wire(B.at("dhkey_check").get<std::string>())));
    }
  } else {
    add(true, op(0x03, wire(A.at("confirms")[0].get<std::string>())));
    add(false, op(0x03, wire(B.at("confirms")[0].get<std::string>())));
    add(true, op(0x04, wire(A.at("randoms")[0].get<std::string>())));
    add(false, op(0x04, wire(B.at("randoms")[0].get<std::string>())));
  }
  if (!expect_fail) {
    seq.push_back({Msg::link, {}});
    for (auto& p : key_pdus(B, resp_keys, sc)) add(false, p);
    for (auto& p : key_pdus(A, init_keys, sc)) add(true, p);
  }
  const char* key_name = sc ? "ltk" : "stk";
  const Bytes pairing_key = t.contains(key_name) ? wire(t.at(key_name).get<std::string>()) : Bytes{};

  TimePoint now{};
  SecretBytes started_key;
  std::optional<PairingResult> result;
  bool failed = false;
  auto drain_events = [&] {
    while (auto ev = e.poll_event()) {
      if (std::holds_alternative<events::PasskeyRequired>(*ev)) {
        ASSERT_TRUE(passkey);
        ASSERT_TRUE(e.passkey_reply(pk, now));
      } else if (auto* d = std::get_if<events::PasskeyDisplay>(&*ev)) {
        if (d->match_request) {
          EXPECT_EQ(d->passkey, t.at("numeric_comparison_value").get<std::uint32_t>());
          ASSERT_TRUE(e.confirm_reply(true, now));
        } else {
          EXPECT_EQ(d->passkey, pk);
        }
      } else if (auto* se = std::get_if<events::StartEncryption>(&*ev)) {
        started_key = se->ltk;
      } else if (auto* lr = std::get_if<events::LtkReply>(&*ev)) {
        started_key = lr->ltk;
      } else if (auto* pc = std::get_if<events::PairingComplete>(&*ev)) {
        result = pc->result;
      } else if (std::holds_alternative<events::PairingFailed>(*ev)) {
        failed = true;
      }
    }
  };

  if (we_initiate) {
    ASSERT_TRUE(e.pair(now));
  }
  std::size_t n = 0;
  for (const auto& m : seq) {
    SCOPED_TRACE("message " + std::to_string(n++));
    drain_events();
    if (m.kind == Msg::ours) {
      auto got = e.poll_transmit();
      ASSERT_TRUE(got) << "engine sent nothing, expected " << to_hex(m.pdu);
      ASSERT_BYTES_EQ(*got, m.pdu);
    } else if (m.kind == Msg::theirs) {
      (void)e.feed(m.pdu, now);
    } else {
      if (!we_initiate) e.ltk_request(0, Bytes(8, 0), now);
      drain_events();
      EXPECT_BYTES_EQ(started_key.view(), pairing_key);
      e.encryption_changed(now);
    }
  }
  drain_events();
  EXPECT_FALSE(e.poll_transmit());
  if (expect_fail) {
    EXPECT_TRUE(failed);
    EXPECT_FALSE(result);
    return;
  }
  ASSERT_TRUE(result);
  EXPECT_EQ(result->sc, sc);
  if (sc) {
    EXPECT_BYTES_EQ(result->ltk.view(), pairing_key);
  }
  // What we received equals what the peer distributed.
  const std::uint8_t peer_mask = we_initiate ? resp_keys : init_keys;
  const json& pk_keys = peer.at("distributed_keys");
  if ((peer_mask & key_dist::enc) && !sc) {
    EXPECT_BYTES_EQ(result->peer.ltk.view(), wire(pk_keys.at("ltk").get<std::string>()));
    EXPECT_BYTES_EQ(result->peer.rand, wire(pk_keys.at("rand").get<std::string>()));
  }
  if (peer_mask & key_dist::id) {
    EXPECT_BYTES_EQ(result->peer.irk.view(), wire(pk_keys.at("irk").get<std::string>()));
  }
  if (peer_mask & key_dist::sign) {
    EXPECT_BYTES_EQ(result->peer.csrk.view(), wire(pk_keys.at("csrk").get<std::string>()));
  }
}

class Transcripts : public ::testing::TestWithParam<const crypto::Backend*> {};

TEST_P(Transcripts, AllFifteenReproduceByteForByte) {
  const auto doc = blecrypt::test::load_vectors("smp_test_vectors.json");
  std::size_t n = 0, runs = 0;
  for (const auto& t : doc.at("transcripts")) {
    ++n;
    const bool sc = t.at("kind") == "lesc";
    const bool nimble_central = t.at("central_is_nimble_under_test").get<bool>();
    replay(t, nimble_central, *GetParam());
    ++runs;
    if (!sc) {
      replay(t, !nimble_central, *GetParam());  // legacy: the other side too
      ++runs;
    }
  }
  EXPECT_EQ(n, 15u);
  EXPECT_GE(runs, 20u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Transcripts, ::testing::ValuesIn(blecrypt::test::backends()), blecrypt::test::backend_name);

}  // namespace
}  // namespace blecrypt::smp
