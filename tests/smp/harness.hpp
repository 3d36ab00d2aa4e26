// Two pairing engines on a link::Pipe with smp::LinkLayerModel playing the link layer (the same
// rules as smp_relay.py): PDUs cross over, StartEncryption becomes an LTK request at the
// peripheral, equal keys switch encryption on for both; this file adds only the users: displayed
// passkeys are typed on the other side, comparisons answered, events recorded per side.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "blecrypt/link/pipe.hpp"
#include "blecrypt/smp/engine.hpp"
#include "blecrypt/smp/link_layer_model.hpp"

namespace blecrypt::smp::test {

struct Side {
  explicit Side(std::unique_ptr<PairingEngine> e) : engine(std::move(e)) {}
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
  link::Pipe<PairingEngine, PairingEngine> pipe;
  LinkLayerModel ll;
  TimePoint& now;
  // Sees every PDU before delivery; may change it; returns false to drop it.
  std::function<bool(bool from_central, Bytes& pdu)> filter;

  Link(EngineConfig central, EngineConfig peripheral, crypto::Rng& rc, crypto::Rng& rp)
      : Link(with_defaults({std::move(central), std::move(peripheral)}), rc, rp) {}

  // Runs until neither side has anything more to say.
  void run() {
    if (!pipe.pump()) ADD_FAILURE() << "link did not settle";
  }

  void pair() {
    ASSERT_TRUE(c.engine->pair(now));
    run();
  }

  // The link drops (both engines told, PDUs in flight lost).
  void disconnect() { pipe.disconnect(); }

 private:
  struct Configs {
    EngineConfig central, peripheral;
  };
  static Configs with_defaults(Configs cfg) {
    cfg.central.role = Role::central;
    cfg.peripheral.role = Role::peripheral;
    if (cfg.central.local_address == Address{}) cfg.central.local_address = *Address::parse("C0:00:00:00:00:01/random");
    if (cfg.central.peer_address == Address{}) cfg.central.peer_address = *Address::parse("C0:00:00:00:00:02/random");
    if (cfg.peripheral.local_address == Address{}) cfg.peripheral.local_address = cfg.central.peer_address;
    if (cfg.peripheral.peer_address == Address{}) cfg.peripheral.peer_address = cfg.central.local_address;
    return cfg;
  }

  Link(Configs cfg, crypto::Rng& rc, crypto::Rng& rp)
      : c(std::make_unique<PairingEngine>(std::move(cfg.central), rc)),
        p(std::make_unique<PairingEngine>(std::move(cfg.peripheral), rp)),
        pipe(*c.engine, *p.engine, link::Pipe<PairingEngine, PairingEngine>::kWhole, TimePoint{}),
        ll(*c.engine, *p.engine),
        now(pipe.now) {
    pipe.to_peripheral.set_tamper([this](std::size_t, Bytes& pdu) { tap(c, true, pdu); });
    pipe.to_central.set_tamper([this](std::size_t, Bytes& pdu) { tap(p, false, pdu); });
    ll.attach(pipe, [this](Role from, Event ev) {
      Side& self = from == Role::central ? c : p;
      handle(self, from == Role::central ? p : c, ev);
      self.events.push_back(std::move(ev));
    });
  }

  void tap(Side& from, bool from_central, Bytes& pdu) {
    from.sent.push_back(pdu);
    if (!ll.connected() || (filter && !filter(from_central, pdu))) pdu.clear();
  }

  void handle(Side& self, Side& other, const Event& ev) {
    if (auto* d = std::get_if<events::PasskeyDisplay>(&ev)) {
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
