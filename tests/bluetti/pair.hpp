// Test fixture: a bluetti::Client and a bluetti::Device joined by link::Pipe (the one pump), with
// the BLUETTI tests' conveniences on top: `split` bytes per notification/write piece, `coalesce`
// (several device messages in one notification), a hook that tampers with the n-th whole message
// on the wire (counted over both directions), and a record of every message as sent.
#pragma once

#include <functional>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/link/pipe.hpp"
#include "support/vectors.hpp"

namespace blecrypt::bluetti::testing {

inline ClientConfig client_config(const crypto::Backend& be) {
  auto c = ClientConfig::make(be, kTestDevicePublicKey);
  EXPECT_TRUE(c.has_value());
  return c ? std::move(*c) : ClientConfig{};
}
inline DeviceConfig device_config(const crypto::Backend& be) {
  auto c = DeviceConfig::make(be, {});
  EXPECT_TRUE(c.has_value());
  return c ? std::move(*c) : DeviceConfig{};
}

struct Pair;

// The engine as the pipe sees it: every whole message it sends passes Pair::on_message first.
template <typename E>
struct Tap {
  using Event = typename E::Event;
  E* engine;
  Pair* owner;
  bool to_client;
  void on_link_up(TimePoint now) { engine->on_link_up(now); }
  void on_link_down() { engine->on_link_down(); }
  Result<void> feed(ByteView in, TimePoint now) { return engine->feed(in, now); }
  std::optional<Bytes> poll_transmit();
  std::optional<Event> poll_event() { return engine->poll_event(); }
  std::optional<TimePoint> next_deadline() const { return engine->next_deadline(); }
  void on_deadline(TimePoint now) { engine->on_deadline(now); }
  void reset() { engine->reset(); }
};

struct Pair {
  Pair(const crypto::Backend& client_be, const crypto::Backend& device_be, std::string model = "AC180", std::uint64_t seed = 1)
      : crng(seed), drng(seed + 1000),
        client(client_config(client_be), crng),
        device(device_config(device_be), *PowerStation::create(model), drng) {}
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  crypto::DeterministicRng crng, drng;
  Client client;
  Device device;
  Tap<Client> client_tap{&client, this, false};
  Tap<Device> device_tap{&device, this, true};
  link::Pipe<Tap<Client>, Tap<Device>> pipe{client_tap, device_tap};
  TimePoint& now = pipe.now;
  std::size_t split = 1000;       // bytes per notification/write piece
  bool coalesce = false;          // join all pending device messages into one notification
  // Called for every whole message on the wire (index counts both directions, in order);
  // may modify it (emptying it drops it).
  std::function<void(std::size_t index, bool to_client, Bytes& msg)> tamper;
  std::size_t messages = 0;
  std::vector<Bytes> wire;  // every message as sent (before tampering)

  void on_message(bool to_client, Bytes& msg) {
    wire.push_back(msg);
    if (tamper) tamper(messages, to_client, msg);
    ++messages;
  }

  // One whole message onto the wire now (recorded, tampered, split), fed to its receiver.
  void deliver(bool to_client, Bytes msg) {
    on_message(to_client, msg);
    link::Wire& w = to_client ? pipe.to_central : pipe.to_peripheral;
    w.set_pdu_size(split);
    w.send(msg);
    while (auto pdu = w.receive()) {
      if (to_client) (void)client.feed(*pdu, now);
      else (void)device.feed(*pdu, now);
    }
  }

  // Moves messages both ways until nothing is in flight.
  void pump() {
    pipe.set_pdu_size(split);
    pipe.coalesce = coalesce;
    if (!pipe.pump(10000)) ADD_FAILURE() << "pump did not settle";
  }

  void connect() {
    pipe.set_pdu_size(split);
    pipe.coalesce = coalesce;
    pipe.connect();
  }

  // Lets time run: fires deadlines (challenge repeats, timeouts) until none is left.
  void run_deadlines(int max_steps = 50) {
    pipe.set_pdu_size(split);
    pipe.coalesce = coalesce;
    pipe.run_deadlines(max_steps);
  }

  // One Modbus exchange through the engines; the response event (or failure) it produced.
  std::optional<Client::Event> exchange(const modbus::Request& req) {
    auto r = client.send_request(req, now);
    if (!r) return std::nullopt;
    pump();
    std::optional<Client::Event> out;
    while (auto e = client.poll_event())
      if (std::holds_alternative<events::Response>(*e) || std::holds_alternative<events::RequestFailed>(*e)) out = std::move(e);
    return out;
  }

  std::optional<Telemetry> telemetry() {
    const auto proto = device.station().protocol();
    RegisterValues regs;
    for (const auto& req : telemetry_requests(proto)) {
      auto e = exchange(req);
      const auto* resp = e ? std::get_if<events::Response>(&*e) : nullptr;
      if (resp == nullptr || resp->response.exception) return std::nullopt;  // e outlives resp here
      collect(req, resp->response, regs);
    }
    auto t = decode_telemetry(proto, regs);
    if (!t) return std::nullopt;
    return *t;
  }
};

template <typename E>
std::optional<Bytes> Tap<E>::poll_transmit() {
  auto m = engine->poll_transmit();
  if (m) owner->on_message(to_client, *m);
  return m;
}

// The response of an exchange (nullopt when it failed or was missing); a copy, so it outlives
// the event it came from.
inline std::optional<events::Response> response_of(const std::optional<Client::Event>& e) {
  if (const auto* r = e ? std::get_if<events::Response>(&*e) : nullptr) return *r;
  return std::nullopt;
}
inline std::optional<events::RequestFailed> failure_of(const std::optional<Client::Event>& e) {
  if (const auto* r = e ? std::get_if<events::RequestFailed>(&*e) : nullptr) return *r;
  return std::nullopt;
}

}  // namespace blecrypt::bluetti::testing
