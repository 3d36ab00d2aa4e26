// Test driver: a ClientSession and a DeviceSession joined by an in-memory pipe that splits every
// message into `split`-byte pieces (or joins several messages into one notification), with an
// optional hook that tampers with the n-th message on the wire.
#pragma once

#include <functional>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "support/vectors.hpp"

namespace blecrypt::bluetti::testing {

inline ClientConfig client_config(const crypto::Backend& be) {
  auto c = ClientConfig::make(be, kTestDevicePublicKey);
  EXPECT_TRUE(c.has_value());
  return std::move(*c);
}
inline DeviceConfig device_config(const crypto::Backend& be) {
  auto c = DeviceConfig::make(be, {});
  EXPECT_TRUE(c.has_value());
  return std::move(*c);
}

struct Pair {
  Pair(const crypto::Backend& client_be, const crypto::Backend& device_be, std::string model = "AC180", std::uint64_t seed = 1)
      : crng(seed), drng(seed + 1000),
        client(client_config(client_be), crng),
        device(device_config(device_be), *PowerStation::create(model), drng) {}

  crypto::DeterministicRng crng, drng;
  ClientSession client;
  DeviceSession device;
  TimePoint now = time_from_seconds(1000);
  std::size_t split = 1000;       // bytes per notification/write piece
  bool coalesce = false;          // join all pending device messages into one notification
  // Called for every whole message on the wire (index counts both directions, in order);
  // may modify it.
  std::function<void(std::size_t index, bool to_client, Bytes& msg)> tamper;
  std::size_t messages = 0;
  std::vector<Bytes> wire;  // every message as sent (before tampering)

  void deliver(bool to_client, Bytes msg) {
    wire.push_back(msg);
    if (tamper) tamper(messages, to_client, msg);
    ++messages;
    for (std::size_t i = 0; i < msg.size(); i += split) {
      ByteView piece(msg.data() + i, std::min(split, msg.size() - i));
      if (to_client) (void)client.feed(piece, now);
      else (void)device.feed(piece, now);
    }
  }

  // Moves messages both ways until nothing is in flight.
  void pump() {
    for (int guard = 0; guard < 10000; ++guard) {
      bool moved = false;
      Bytes batch;
      while (auto t = device.poll_transmit()) {
        moved = true;
        if (coalesce) append(batch, *t);
        else deliver(true, std::move(*t));
      }
      if (!batch.empty()) deliver(true, std::move(batch));
      while (auto t = client.poll_transmit()) {
        moved = true;
        deliver(false, std::move(*t));
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "pump did not settle";
  }

  void connect() {
    client.start(now);
    device.start(now);
    pump();
  }

  // Lets time run: fires deadlines (challenge repeats, timeouts) until none is left.
  void run_deadlines(int max_steps = 50) {
    for (int i = 0; i < max_steps; ++i) {
      auto a = client.next_deadline(), b = device.next_deadline();
      if (!a && !b) return;
      TimePoint t = a && b ? std::min(*a, *b) : (a ? *a : *b);
      if (t > now) now = t;
      client.on_deadline(now);
      device.on_deadline(now);
      pump();
    }
  }

  // One Modbus exchange through the engines; the response event (or failure) it produced.
  std::optional<ClientEvent> exchange(const modbus::Request& req) {
    auto r = client.send_request(req, now);
    if (!r) return std::nullopt;
    pump();
    std::optional<ClientEvent> out;
    while (auto e = client.poll_event())
      if (e->kind == ClientEvent::Kind::response || e->kind == ClientEvent::Kind::request_failed) out = std::move(e);
    return out;
  }

  std::optional<Telemetry> telemetry() {
    const auto proto = device.station().protocol();
    RegisterValues regs;
    for (const auto& req : telemetry_requests(proto)) {
      auto e = exchange(req);
      if (!e || e->kind != ClientEvent::Kind::response || e->response->exception) return std::nullopt;
      collect(req, *e->response, regs);
    }
    auto t = decode_telemetry(proto, regs);
    if (!t) return std::nullopt;
    return *t;
  }
};

}  // namespace blecrypt::bluetti::testing
