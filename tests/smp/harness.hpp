// Two pairing engines joined by a model of the link layer (the same rules as smp_relay.py):
// PDUs cross over, StartEncryption becomes an LTK request at the peripheral, equal keys switch
// encryption on for both, displayed passkeys are typed on the other side.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "blecrypt/smp/engine.hpp"

namespace blecrypt::smp::test {

struct Side {
  std::unique_ptr<PairingEngine> engine;
  std::vector<Event> events;
  std::vector<Bytes> sent;
  std::optional<PairingResult> result;
  std::optional<events::PairingFailed> failure;
  std::optional<std::uint32_t> displayed;
  std::optional<std::uint32_t> compared;
  bool passkey_requested = false;
  bool passkey_answered = false;
  bool confirm = true;                       // answer to numeric comparison
  std::optional<std::uint32_t> typed;        // overrides what the user types
  std::vector<SecurityLevel> levels;
  std::optional<std::uint8_t> security_request;
  std::optional<std::uint8_t> encryption_failed;
};

class Link {
 public:
  Side c, p;
  TimePoint now{};
  bool disconnected = false;
  int ltk_requests = 0;
  // Sees every PDU before delivery; may change it; returns false to drop it.
  std::function<bool(bool from_central, Bytes& pdu)> filter;

  Link(EngineConfig central, EngineConfig peripheral, crypto::Rng& rc, crypto::Rng& rp) {
    central.role = Role::central;
    peripheral.role = Role::peripheral;
    if (central.local_address == Address{}) central.local_address = *Address::parse("C0:00:00:00:00:01/random");
    if (central.peer_address == Address{}) central.peer_address = *Address::parse("C0:00:00:00:00:02/random");
    if (peripheral.local_address == Address{}) peripheral.local_address = central.peer_address;
    if (peripheral.peer_address == Address{}) peripheral.peer_address = central.local_address;
    c.engine = std::make_unique<PairingEngine>(std::move(central), rc);
    p.engine = std::make_unique<PairingEngine>(std::move(peripheral), rp);
  }

  // Runs until neither side has anything more to say.
  void run(int max_steps = 2000) {
    for (int i = 0; i < max_steps; ++i) {
      bool moved = false;
      moved |= pump(c, p);
      moved |= pump(p, c);
      if (!moved) return;
    }
    ADD_FAILURE() << "link did not settle";
  }

  void pair() {
    ASSERT_TRUE(c.engine->pair(now));
    run();
  }

 private:
  bool pump(Side& from, Side& to) {
    bool moved = false;
    while (auto pdu = from.engine->poll_transmit()) {
      moved = true;
      from.sent.push_back(*pdu);
      if (filter && !filter(&from == &c, *pdu)) continue;
      if (!disconnected) (void)to.engine->feed(*pdu, now);
    }
    while (auto ev = from.engine->poll_event()) {
      moved = true;
      handle(from, to, *ev);
      from.events.push_back(std::move(*ev));
    }
    return moved;
  }

  SecretBytes pending_key_;

  void handle(Side& self, Side& other, const Event& ev) {
    if (auto* se = std::get_if<events::StartEncryption>(&ev)) {
      pending_key_ = se->ltk;
      ++ltk_requests;
      p.engine->ltk_request(se->ediv, se->rand, now);
    } else if (auto* lr = std::get_if<events::LtkReply>(&ev)) {
      if (lr->ltk.empty()) {
        c.engine->encryption_failed(0x06, now);
      } else if (equal(lr->ltk, pending_key_)) {
        c.engine->encryption_changed(now);
        p.engine->encryption_changed(now);
      } else {
        disconnected = true;
        c.engine->disconnected();
        p.engine->disconnected();
      }
    } else if (auto* d = std::get_if<events::PasskeyDisplay>(&ev)) {
      if (d->match_request) {
        self.compared = d->passkey;
        (void)self.engine->confirm_reply(self.confirm, now);
      } else {
        self.displayed = d->passkey;
        if (other.passkey_requested && !other.passkey_answered) answer(other, d->passkey);
      }
    } else if (std::holds_alternative<events::PasskeyRequired>(ev)) {
      self.passkey_requested = true;
      if (self.typed) answer(self, *self.typed);
      else if (other.displayed) answer(self, *other.displayed);
    } else if (std::holds_alternative<events::JustWorksConfirm>(ev)) {
      (void)self.engine->confirm_reply(self.confirm, now);
    } else if (auto* pc = std::get_if<events::PairingComplete>(&ev)) {
      self.result = pc->result;
    } else if (auto* pf = std::get_if<events::PairingFailed>(&ev)) {
      self.failure = *pf;
    } else if (auto* sl = std::get_if<events::SecurityLevelChanged>(&ev)) {
      self.levels.push_back(sl->level);
    } else if (auto* sr = std::get_if<events::SecurityRequestReceived>(&ev)) {
      self.security_request = sr->auth_req;
    } else if (auto* ef = std::get_if<events::EncryptionFailed>(&ev)) {
      self.encryption_failed = ef->status;
    }
  }

  void answer(Side& s, std::uint32_t value) {
    s.passkey_answered = true;
    (void)s.engine->passkey_reply(s.typed.value_or(value), now);
  }
};

// Everything one engine has queued: PDUs to send, events, the first Pairing Failed among events.
inline std::vector<Bytes> drain(PairingEngine& e) {
  std::vector<Bytes> out;
  while (auto p = e.poll_transmit()) out.push_back(*p);
  return out;
}
inline std::vector<Event> events_of(PairingEngine& e) {
  std::vector<Event> out;
  while (auto v = e.poll_event()) out.push_back(std::move(*v));
  return out;
}
inline std::optional<events::PairingFailed> failure_in(const std::vector<Event>& evs) {
  for (const auto& e : evs)
    if (auto* f = std::get_if<events::PairingFailed>(&e)) return *f;
  return std::nullopt;
}

}  // namespace blecrypt::smp::test
