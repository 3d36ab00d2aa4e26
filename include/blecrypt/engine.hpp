// The one engine shape every protocol follows (BLUETTI, SESAME, SMP, the TLS channel).
//
// An engine is sans-IO: it never reads a clock, owns no thread and touches no socket. Whoever
// drives it (a link::Session over a transport, a link::Pipe in tests, your own loop) does this:
//
//   engine.on_link_up(now);                        // the link is connected (notifications on)
//   loop:
//     for each message received:  engine.feed(bytes, now);
//     while (auto b = engine.poll_transmit())       send *b to the peer;
//     while (auto e = engine.poll_event())          handle *e (a std::variant: use std::visit);
//     if (auto d = engine.next_deadline())          wake up at *d and call engine.on_deadline(now);
//   engine.on_link_down();                         // the link dropped: pending work fails
//   engine.reset();                                // wipe every key and buffer; back to idle
//
// Lifecycle vocabulary, the same for every protocol:
//   on_link_up(now)  the connection is usable (GATT: notifications enabled; SMP: the LE link).
//   on_link_down()   the connection is gone; requests in flight fail, session keys are wiped.
//   reset()          wipes the session (keys, IVs, queues), keeps configuration and long-term
//                    secrets; an emulator's factory reset has its own name (factory_reset()).
//
// Conventions: constructors take `Config` by value and `crypto::Rng&` (kept as a pointer so the
// engine stays movable); `Config::backend == nullptr` means crypto::default_backend(); events are a
// `std::variant` of small structs named in the module's `events` namespace; `Event` names it.
#pragma once

#include <concepts>
#include <optional>
#include <type_traits>
#include <variant>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt {

template <typename T>
inline constexpr bool is_variant_v = false;
template <typename... Ts>
inline constexpr bool is_variant_v<std::variant<Ts...>> = true;

template <typename E>
concept Engine = std::movable<E> && is_variant_v<typename E::Event> &&
    requires(E& e, const E& ce, ByteView in, TimePoint now) {
      { e.on_link_up(now) } -> std::same_as<void>;
      { e.on_link_down() } -> std::same_as<void>;
      { e.feed(in, now) } -> std::same_as<Result<void>>;
      { e.poll_transmit() } -> std::same_as<std::optional<Bytes>>;
      { e.poll_event() } -> std::same_as<std::optional<typename E::Event>>;
      { ce.next_deadline() } -> std::same_as<std::optional<TimePoint>>;
      { e.on_deadline(now) } -> std::same_as<void>;
      { e.reset() } -> std::same_as<void>;
    };

// The byte side of an engine without its event type: what a transport that hosts an engine (the
// memory link's emulated peripheral, a GATT server) needs. The engine's owner polls its events.
class EngineIo {
 public:
  virtual ~EngineIo() = default;
  virtual void on_link_up(TimePoint now) = 0;
  virtual void on_link_down() = 0;
  virtual Result<void> feed(ByteView in, TimePoint now) = 0;
  virtual std::optional<Bytes> poll_transmit() = 0;
  virtual std::optional<TimePoint> next_deadline() const = 0;
  virtual void on_deadline(TimePoint now) = 0;
};

// EngineIo over a caller-owned engine (the reference must outlive the adapter).
template <Engine E>
class EngineIoRef final : public EngineIo {
 public:
  explicit EngineIoRef(E& engine) : e_(&engine) {}
  void on_link_up(TimePoint now) override { e_->on_link_up(now); }
  void on_link_down() override { e_->on_link_down(); }
  Result<void> feed(ByteView in, TimePoint now) override { return e_->feed(in, now); }
  std::optional<Bytes> poll_transmit() override { return e_->poll_transmit(); }
  std::optional<TimePoint> next_deadline() const override { return e_->next_deadline(); }
  void on_deadline(TimePoint now) override { e_->on_deadline(now); }
  E& engine() noexcept { return *e_; }

 private:
  E* e_;
};

// EngineIo over an engine it owns, whose events nobody reads (an emulator behind a memory link):
// they are dropped after every step so its queue stays empty.
template <Engine E>
class OwnedEngineIo final : public EngineIo {
 public:
  explicit OwnedEngineIo(E engine) : e_(std::move(engine)) {}
  void on_link_up(TimePoint now) override {
    e_.on_link_up(now);
    drop_events();
  }
  void on_link_down() override {
    e_.on_link_down();
    drop_events();
  }
  Result<void> feed(ByteView in, TimePoint now) override {
    auto r = e_.feed(in, now);
    drop_events();
    return r;
  }
  std::optional<Bytes> poll_transmit() override { return e_.poll_transmit(); }
  std::optional<TimePoint> next_deadline() const override { return e_.next_deadline(); }
  void on_deadline(TimePoint now) override {
    e_.on_deadline(now);
    drop_events();
  }
  E& engine() noexcept { return e_; }

 private:
  void drop_events() {
    while (e_.poll_event()) {
    }
  }
  E e_;
};

// The earlier of two optional deadlines.
inline std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return *a < *b ? a : b;
}

}  // namespace blecrypt
