// Shared helpers for the SESAME tests: wiring a client and a device emulator together.
#pragma once

#include <vector>

#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame::testing {

inline std::vector<Bytes> drain_tx(Client& c) {
  std::vector<Bytes> out;
  while (auto p = c.poll_transmit()) out.push_back(std::move(*p));
  return out;
}
inline std::vector<Bytes> drain_tx(Device& d) {
  std::vector<Bytes> out;
  while (auto p = d.poll_transmit()) out.push_back(std::move(*p));
  return out;
}
inline std::vector<ClientEvent> drain_events(Client& c) {
  std::vector<ClientEvent> out;
  while (auto e = c.poll_event()) out.push_back(std::move(*e));
  return out;
}
inline std::vector<DeviceEvent> drain_events(Device& d) {
  std::vector<DeviceEvent> out;
  while (auto e = d.poll_event()) out.push_back(std::move(*e));
  return out;
}

// Moves packets both ways until neither side has anything to send. Feed errors fail the test.
inline void pump(Client& c, Device& d, TimePoint now) {
  for (int round = 0; round < 10000; ++round) {
    bool moved = false;
    while (auto p = d.poll_transmit()) {
      moved = true;
      auto r = c.feed(*p, now);
      ASSERT_TRUE(r) << "client feed: " << r.error().message();
    }
    while (auto p = c.poll_transmit()) {
      moved = true;
      auto r = d.feed(*p, now);
      ASSERT_TRUE(r) << "device feed: " << r.error().message();
    }
    if (!moved) return;
  }
  FAIL() << "pump did not settle";
}

// Runs both engines' deadlines up to `until`, pumping after each.
inline TimePoint run_until(Client& c, Device& d, TimePoint now, TimePoint until) {
  pump(c, d, now);
  for (;;) {
    std::optional<TimePoint> next = d.next_deadline();
    if (auto cd = c.next_deadline(); cd && (!next || *cd < *next)) next = cd;
    if (!next || *next > until) break;
    now = std::max(now, *next);
    d.on_deadline(now);
    c.on_deadline(now);
    pump(c, d, now);
  }
  return std::max(now, until);
}

template <typename Events, typename Pred>
bool any_event(const Events& events, Pred pred) {
  for (const auto& e : events)
    if (pred(e)) return true;
  return false;
}

}  // namespace blecrypt::sesame::testing
