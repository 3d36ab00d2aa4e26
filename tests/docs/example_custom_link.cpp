// The C++ example of docs/architecture.md ("Driving a protocol over your own link"), compiled and
// run by CTest (docs.example_custom_link) so it stays true. The part between the doc-example
// markers is copied verbatim into the doc (tests/docs/test_doc_samples.py checks the copy).
// Here the "radio" loops back to a toy peripheral engine (the pattern of
// tests/link/memory_link_test.cpp); with a real radio, send_to_device writes to the air.
#include <cstdio>
#include <functional>
#include <string>
#include <variant>

#include "blecrypt/engine.hpp"
#include "blecrypt/fifo.hpp"
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/link/session.hpp"

// doc-example begin
#include "blecrypt/link/gatt_link.hpp"
#include "blecrypt/link/session.hpp"
using namespace blecrypt;

// Your transport: anything that can write to a characteristic and report notifications.
class MyRadioLink final : public link::GattLink {
 public:
  std::function<void(ByteView)> send_to_device;  // your radio's write
  void set_listener(link::LinkListener* l) override { listener_ = l; }
  Result<void> subscribe(std::string_view uuid) override {
    listener_->on_subscribed(uuid, now_);  // a real radio answers later, on its own loop
    return ok();
  }
  Result<void> write(std::string_view, ByteView value, link::WriteType) override {
    send_to_device(value);
    return ok();
  }
  std::size_t att_mtu() const override { return link::kDefaultAttMtu; }
  bool connected() const override { return listener_ != nullptr; }
  std::string describe() const override { return "my radio"; }
  // Your radio's callbacks call these:
  void up(TimePoint t) { listener_->on_connected(now_ = t); }
  void received(std::string_view uuid, ByteView v, TimePoint t) { listener_->on_notification(uuid, v, now_ = t); }

 private:
  link::LinkListener* listener_ = nullptr;
  TimePoint now_{};
};

// Any engine (bluetti::Client, sesame::Client, ...) runs over it through link::Session.
template <Engine E>
int run(E& engine, MyRadioLink& radio, const link::GattProfile& profile, TimePoint now) {
  link::Session session(engine, radio, profile);
  int events = 0;
  session.set_event_handler([&](auto&& event) { events += static_cast<int>(event.index() == 4); });
  radio.up(now);  // subscribe -> on_subscribed -> engine.on_link_up -> writes
  if (auto d = session.next_deadline()) session.on_deadline(*d);  // your loop's timer
  return events;  // the engine's own events (index 4 of Session::Event)
}
// doc-example end

namespace {

// A toy protocol pair: the central says "hello" when the link comes up; the peripheral answers
// each message with its reverse; the central reports every answer as an event.
struct Toy {
  struct Answer {
    Bytes data;
  };
  using Event = std::variant<Answer>;
  bool peripheral = false;
  Fifo<Bytes> tx;
  Fifo<Event> ev;
  void on_link_up(TimePoint) {
    if (!peripheral) tx.push_back(Bytes{'h', 'e', 'l', 'l', 'o'});
  }
  void on_link_down() {}
  Result<void> feed(ByteView in, TimePoint) {
    if (peripheral) tx.push_back(Bytes(in.rbegin(), in.rend()));
    else ev.push_back(Answer{Bytes(in.begin(), in.end())});
    return ok();
  }
  std::optional<Bytes> poll_transmit() { return tx.empty() ? std::nullopt : std::optional<Bytes>(tx.take()); }
  std::optional<Event> poll_event() { return ev.empty() ? std::nullopt : std::optional<Event>(ev.take()); }
  std::optional<TimePoint> next_deadline() const { return std::nullopt; }
  void on_deadline(TimePoint) {}
  void reset() { *this = Toy{peripheral, {}, {}}; }
};
static_assert(Engine<Toy>);

constexpr link::GattProfile kToyProfile{"toy", "0000aa00-0000-1000-8000-00805f9b34fb",
                                        "0000aa02-0000-1000-8000-00805f9b34fb",
                                        "0000aa01-0000-1000-8000-00805f9b34fb", link::WriteType::without_response};

}  // namespace

int main() {
  Toy central;
  Toy device{true, {}, {}};
  MyRadioLink radio;
  // The loop-back "air": what the central writes reaches the device, and the device's answer
  // comes back as a notification.
  radio.send_to_device = [&](ByteView v) {
    (void)device.feed(v, TimePoint{});
    while (auto answer = device.poll_transmit()) radio.received(kToyProfile.notify_characteristic, *answer, TimePoint{});
  };
  const int events = run(central, radio, kToyProfile, TimePoint{});
  if (events != 1) {
    std::fprintf(stderr, "example_custom_link: %d engine events, expected 1\n", events);
    return 1;
  }
  std::puts("example_custom_link: the engine ran over a user-written GattLink");
  return 0;
}
