// link::Session: drives one engine over one GATT link. The only place where an engine meets a
// transport: it subscribes to the protocol's notify characteristic once the link is connected,
// starts the engine when notifications are on, feeds every notification to the engine, writes
// every transmit split into ATT payloads, and hands the engine's deadlines to whoever owns the
// clock (the transport's event loop, a test's virtual clock).
//
//   bluetti::Client client(cfg, rng);
//   link::Session session(client, link, bluetti::kGattProfile);
//   // ... transport calls session's LinkListener methods on its loop ...
//   client.send_request(req, now); session.flush(now);          // after any app call on the engine
//   while (auto e = session.poll_event()) ...                    // link events and engine events
//   if (auto d = session.next_deadline()) loop.at(*d, [&] { session.on_deadline(now()); });
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <variant>

#include "blecrypt/engine.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/link/gatt_link.hpp"

namespace blecrypt::link {

namespace events {
struct LinkUp {};                       // notifications enabled, engine started
struct LinkDown {                       // the link dropped; the engine was told
  std::error_code why;
};
struct TransportError {                 // a write or subscribe failed
  std::error_code error;
};
struct InputRefused {                   // the engine refused a notification (it also reports why)
  std::error_code error;
};
}  // namespace events

template <Engine E>
class Session final : public LinkListener {
 public:
  using EngineEvent = typename E::Event;
  using Event = std::variant<events::LinkUp, events::LinkDown, events::TransportError, events::InputRefused, EngineEvent>;

  // `engine` and `link` must outlive the session; the session attaches itself as the listener.
  Session(E& engine, GattLink& link, const GattProfile& profile) : engine_(&engine), link_(&link), profile_(profile) {
    link_->set_listener(this);
  }
  ~Session() override { link_->set_listener(nullptr); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  E& engine() noexcept { return *engine_; }
  GattLink& link() noexcept { return *link_; }
  bool up() const noexcept { return up_; }

  // Writes whatever the engine queued. Call after any application call on the engine.
  void flush(TimePoint now) {
    while (auto message = engine_->poll_transmit()) {
      if (!up_) continue;  // nothing can be written; the engine learns of the link loss separately
      const std::size_t chunk = att_payload(link_->att_mtu());
      const ByteView m(*message);
      for (std::size_t off = 0; off < m.size(); off += chunk) {
        auto r = link_->write(profile_.write_characteristic, m.subspan(off, std::min(chunk, m.size() - off)), profile_.write_type);
        if (!r) {
          on_transport_error(r.error(), now);
          return;
        }
      }
    }
    deliver();
  }

  std::optional<Event> poll_event() {
    if (!events_.empty()) return events_.take();
    if (auto e = engine_->poll_event()) return Event{std::in_place_index<4>, std::move(*e)};
    return std::nullopt;
  }

  // With a handler, events are handed over as they happen (after each step) instead of queued.
  void set_event_handler(std::function<void(Event&&)> handler) { handler_ = std::move(handler); }

  std::optional<TimePoint> next_deadline() const { return engine_->next_deadline(); }
  void on_deadline(TimePoint now) {
    engine_->on_deadline(now);
    flush(now);
  }

  // ---- LinkListener ----
  void on_connected(TimePoint now) override {
    if (auto r = link_->subscribe(profile_.notify_characteristic); !r) on_transport_error(r.error(), now);
  }
  void on_subscribed(std::string_view characteristic, TimePoint now) override {
    if (characteristic != profile_.notify_characteristic || up_) return;
    up_ = true;
    engine_->on_link_up(now);
    push(events::LinkUp{});
    flush(now);
  }
  void on_notification(std::string_view characteristic, ByteView value, TimePoint now) override {
    if (characteristic != profile_.notify_characteristic || !up_) return;
    if (auto r = engine_->feed(value, now); !r) push(events::InputRefused{r.error()});
    flush(now);
  }
  void on_disconnected(std::error_code why, TimePoint /*now*/) override {
    const bool was_up = std::exchange(up_, false);
    engine_->on_link_down();
    while (engine_->poll_transmit()) {
    }
    if (was_up || why) push(events::LinkDown{why ? why : make_error_code(Errc::disconnected)});
    deliver();
  }
  void on_transport_error(std::error_code error, TimePoint /*now*/) override {
    push(events::TransportError{error});
    deliver();
  }

 private:
  void push(Event e) { events_.push_back(std::move(e)); }
  void deliver() {
    if (!handler_) return;
    while (auto e = poll_event()) handler_(std::move(*e));
  }

  E* engine_;
  GattLink* link_;
  GattProfile profile_;
  bool up_ = false;
  Fifo<Event> events_;
  std::function<void(Event&&)> handler_;
};

}  // namespace blecrypt::link
