// Shared helpers for the SESAME tests: a client and a device emulator joined by link::Pipe (the
// one pump), plus small readers for the event variants.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <type_traits>
#include <variant>
#include <vector>

#include "blecrypt/link/pipe.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "support/vectors.hpp"

namespace blecrypt::sesame::testing {

using ClientPipe = link::Pipe<Client, Device>;

template <typename E>
std::vector<Bytes> drain_tx(E& engine) {
  std::vector<Bytes> out;
  while (auto p = engine.poll_transmit()) out.push_back(std::move(*p));
  return out;
}
template <typename E>
std::vector<typename E::Event> drain_events(E& engine) {
  std::vector<typename E::Event> out;
  while (auto e = engine.poll_event()) out.push_back(std::move(*e));
  return out;
}

// A pipe whose refusals fail the test (tests that feed bad input on purpose feed the engines
// directly, or set `strict = false`).
struct StrictPipe : ClientPipe {
  bool strict = true;
  StrictPipe(Client& c, Device& d, std::size_t pdu_size = kWhole, TimePoint start = TimePoint{})
      : ClientPipe(c, d, pdu_size, start) {
    on_refused = [this](bool central_side, std::error_code e) {
      if (strict) ADD_FAILURE() << (central_side ? "client" : "device") << " refused: " << e.message();
    };
  }
};

// The events of type T (in order).
template <typename T, typename Events>
std::vector<T> of(const Events& events) {
  std::vector<T> out;
  for (const auto& e : events)
    if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
  return out;
}
// Whether an event of type T satisfying `pred` is among `events`.
template <typename T, typename Events, typename Pred>
bool has(const Events& events, Pred pred) {
  for (const auto& e : events)
    if (const T* t = std::get_if<T>(&e); t && pred(*t)) return true;
  return false;
}
template <typename T, typename Events>
bool has(const Events& events) {
  return has<T>(events, [](const T&) { return true; });
}
template <typename T, typename Events, typename Pred>
std::size_t count(const Events& events, Pred pred) {
  std::size_t n = 0;
  for (const auto& e : events)
    if (const T* t = std::get_if<T>(&e); t && pred(*t)) ++n;
  return n;
}

// The item code an event is about, where it has one (else -1).
inline int item_of(const Client::Event& e) {
  return std::visit(
      [](const auto& x) -> int {
        if constexpr (requires { x.item; }) return x.item;
        else return -1;
      },
      e);
}

}  // namespace blecrypt::sesame::testing
