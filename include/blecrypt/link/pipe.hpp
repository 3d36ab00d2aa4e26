// link::Pipe: two engines joined in memory under a virtual clock: the one harness behind every
// test, demo step and benchmark that runs a client against its emulator (or two SMP peers).
// Messages from each side go through a Wire (split into `pdu_size` pieces, optional tamper hook);
// time only moves when the owner says so, and deadlines fire in order.
//
//   bluetti::Client client(ccfg, crng);  bluetti::Device device(dcfg, station, drng);
//   link::Pipe pipe(client, device, link::att_payload(23));
//   pipe.connect();                          // both on_link_up, traffic until quiet
//   client.send_request(req, pipe.now); pipe.pump();
//   pipe.advance(std::chrono::seconds(5));   // deadlines up to now + 5 s fire in order
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <system_error>

#include "blecrypt/engine.hpp"
#include "blecrypt/link/wire.hpp"

namespace blecrypt::link {

template <Engine Central, Engine Peripheral>
class Pipe {
 public:
  static constexpr std::size_t kWhole = std::numeric_limits<std::size_t>::max();

  Pipe(Central& c, Peripheral& p, std::size_t pdu_size = kWhole, TimePoint start = time_from_seconds(1000))
      : central(c), peripheral(p), now(start), to_peripheral(pdu_size), to_central(pdu_size) {}

  Central& central;
  Peripheral& peripheral;
  TimePoint now;
  Wire to_peripheral, to_central;
  bool coalesce = false;  // join the peripheral's pending messages before splitting
  // Runs after every pump round (SMP: smp::LinkLayerModel plays the link layer here); returns
  // whether it did something, which keeps the pump going (it may have made the engines send).
  std::function<bool(TimePoint now)> between;
  // Every refusal of feed() (the engines also report it as events). Default: ignored.
  std::function<void(bool central_refused, std::error_code)> on_refused;

  void set_pdu_size(std::size_t n) {
    to_peripheral.set_pdu_size(n);
    to_central.set_pdu_size(n);
  }

  void connect() {
    central.on_link_up(now);
    peripheral.on_link_up(now);
    pump();
  }
  void disconnect() {
    to_peripheral.clear();
    to_central.clear();
    central.on_link_down();
    peripheral.on_link_down();
    while (central.poll_transmit()) {
    }
    while (peripheral.poll_transmit()) {
    }
  }

  // Moves traffic both ways until neither side has anything to send. False if it never settled.
  bool pump(int max_rounds = 100000) {
    for (int round = 0; round < max_rounds; ++round) {
      bool moved = false;
      while (auto m = central.poll_transmit()) {
        moved = true;
        to_peripheral.send(*m);
      }
      if (coalesce) {
        Bytes joined;
        while (auto m = peripheral.poll_transmit()) append(joined, *m);
        if (!joined.empty()) moved = true, to_central.send(joined);
      } else {
        while (auto m = peripheral.poll_transmit()) {
          moved = true;
          to_central.send(*m);
        }
      }
      while (auto pdu = to_peripheral.receive()) deliver(peripheral, false, *pdu);
      while (auto pdu = to_central.receive()) deliver(central, true, *pdu);
      if (between && between(now)) moved = true;
      if (!moved && to_central.idle() && to_peripheral.idle()) return true;
    }
    return false;
  }

  std::optional<TimePoint> next_deadline() const { return earliest(central.next_deadline(), peripheral.next_deadline()); }

  // Fires every deadline up to `until` in order (pumping after each), then sets now = until.
  void run_until(TimePoint until) {
    pump();
    for (int guard = 0; guard < 100000; ++guard) {
      auto d = next_deadline();
      if (!d || *d > until) break;
      fire(*d);
    }
    if (until > now) now = until;
  }
  void advance(Duration d) { run_until(now + d); }
  // Fires deadlines in order until none is left (or max_steps were fired).
  void run_deadlines(int max_steps = 1000) {
    pump();
    for (int i = 0; i < max_steps; ++i) {
      auto d = next_deadline();
      if (!d) return;
      fire(*d);
    }
  }

 private:
  template <typename E>
  void deliver(E& engine, bool central_side, const Bytes& pdu) {
    if (auto r = engine.feed(pdu, now); !r && on_refused) on_refused(central_side, r.error());
  }
  void fire(TimePoint t) {
    if (t > now) now = t;
    central.on_deadline(now);
    peripheral.on_deadline(now);
    pump();
  }
};

}  // namespace blecrypt::link
