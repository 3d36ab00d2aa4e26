// The BLUETTI request layer (sans-IO, on top of bluetti::Client): register reads and writes,
// telemetry and output switching as jobs with one completion each. It does what every caller of
// the client would otherwise write again (the CLI, the Python package, the gateway):
//   - matches answers to requests (it hands the client one Modbus request at a time);
//   - confirms an FC06 write that gets no echo (EL30V2 reportedly sends none) by reading the
//     register back, once the client reports the write unanswered (timeout or a later answer);
//   - detects the protocol (IoT V2 answers a read of 110 x6 with the model name; IoT V1 answers
//     exception 2, or, with battery packs, cell voltages that name no model) and the model, once
//     per session, before the first job that needs it.
//
//   bluetti::Requests req(client);
//   auto id = req.read_telemetry(now);                 // queued; runs once the session is up
//   session.flush(now);                                // (link::Session) writes what the client queued
//   while (auto e = session.poll_event())              // hand every client event to the layer
//     if (auto* ce = std::get_if<bluetti::Client::Event>(&*e)) req.on_event(*ce, now), session.flush(now);
//   while (auto c = req.poll_completion()) ...         // requests::TelemetryRead{id, protocol, telemetry}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/modbus.hpp"
#include "blecrypt/fifo.hpp"

namespace blecrypt::bluetti {

using RequestId = std::uint64_t;

namespace requests {
struct RegistersRead {      // read_registers(), or an IoT serial read
  RequestId id;
  std::uint16_t address;
  std::vector<std::uint16_t> values;
};
struct RegisterWritten {    // write_register() / set_output() / write_registers() (value: the first)
  RequestId id;
  std::uint16_t address;
  std::uint16_t value;
  bool read_back;           // no echo arrived: confirmed by reading the register back
};
struct TelemetryRead {      // read_telemetry()
  RequestId id;
  Protocol protocol;
  Telemetry telemetry;
};
struct ProtocolDetected {   // detect_protocol()
  RequestId id;
  Protocol protocol;
  std::string model;        // empty for IoT V1 (its model registers are read with the telemetry)
};
struct Failed {
  RequestId id;
  std::error_code error;                // bluetti::Errc: modbus_exception, timeout, link_down, ...
  std::optional<std::uint8_t> exception;  // the Modbus exception code, for modbus_exception
};
}  // namespace requests

using Completion = std::variant<requests::RegistersRead, requests::RegisterWritten, requests::TelemetryRead,
                                requests::ProtocolDetected, requests::Failed>;

class Requests {
 public:
  // `client` must outlive this object.
  explicit Requests(Client& client) : client_(&client) {}

  // Each call queues a job and returns its id; the job starts when the ones before it are done
  // and the session is established (call pump() after the Established event, or let on_event do
  // it). Errors: modbus_bad_count (count outside 1..125).
  Result<RequestId> read_registers(std::uint16_t address, std::uint16_t count, TimePoint now);
  RequestId write_register(std::uint16_t address, std::uint16_t value, TimePoint now);
  // FC16. Errors: modbus_bad_count (0 or more than 123 values).
  Result<RequestId> write_registers(std::uint16_t address, std::vector<std::uint16_t> values, TimePoint now);
  RequestId read_telemetry(TimePoint now);
  RequestId set_output(Output output, bool on, TimePoint now);
  RequestId detect_protocol(TimePoint now);

  // Hand every client event here, in order. Returns true when the event answered a request of
  // this layer (the caller may ignore it then). Established starts queued jobs; Failed (the
  // handshake) fails them all.
  bool on_event(const Client::Event& event, TimePoint now);
  // Starts the next job if the client is established and nothing is in flight.
  void pump(TimePoint now);
  // The link went down: every job fails with Errc::link_down, the detected protocol is forgotten.
  void on_link_down();

  std::optional<Completion> poll_completion();
  std::size_t jobs() const noexcept { return jobs_.size(); }
  std::optional<Protocol> protocol() const noexcept { return protocol_; }
  void set_protocol(Protocol p) noexcept { protocol_ = p; }
  const std::string& model() const noexcept { return model_; }

 private:
  enum class Kind { read, write, write_many, telemetry, output, detect };
  struct Job {
    RequestId id = 0;
    Kind kind = Kind::read;
    std::uint16_t address = 0, count = 1, value = 0;
    bool read_back = false;       // write: the read-back is in flight
    bool probing = false, probed = false;  // the protocol probe (read of 110 x6)
    std::size_t next_read = 0;    // telemetry: index into telemetry_requests()
    RegisterValues regs;
    std::vector<std::uint16_t> values;  // write_many
  };
  RequestId enqueue(Job job, TimePoint now);
  void step(TimePoint now);                  // sends the active job's next request, or completes it
  void send(const modbus::Request& r, TimePoint now);
  void complete(Completion c);
  void fail_active(std::error_code e, std::optional<std::uint8_t> exception = std::nullopt);
  void on_answer(const modbus::Response& resp, TimePoint now);
  void on_unanswered(std::error_code e, TimePoint now);

  Client* client_;
  Fifo<Job> jobs_;                           // front = the active job
  std::optional<modbus::Request> outstanding_;
  Fifo<Completion> done_;
  std::optional<Protocol> protocol_;
  std::string model_;
  RequestId next_id_ = 1;
};

}  // namespace blecrypt::bluetti
