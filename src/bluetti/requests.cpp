// The BLUETTI request layer: jobs of Modbus requests over bluetti::Client (see requests.hpp).
#include "blecrypt/bluetti/requests.hpp"

#include <algorithm>
#include <cctype>

namespace blecrypt::bluetti {

namespace {
bool same(const modbus::Request& a, const modbus::Request& b) {
  return a.function == b.function && a.address == b.address && a.count == b.count && a.values == b.values;
}
// IoT V2 keeps the model name at 110..115 (spec section 6); IoT V1 has no register there.
constexpr std::uint16_t kV2ModelRegister = 110;
constexpr std::uint16_t kModelWords = 6;
// "AC180", "Handsfree 1", "Elite 200 V2": a letter, then letters, digits and spaces.
bool looks_like_model_name(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == ' '; });
}
}  // namespace

Result<RequestId> Requests::read_registers(std::uint16_t address, std::uint16_t count, TimePoint now) {
  if (count == 0 || count > modbus::kMaxRead) return Errc::modbus_bad_count;
  Job j;
  j.kind = Kind::read;
  j.address = address;
  j.count = count;
  return enqueue(std::move(j), now);
}

RequestId Requests::write_register(std::uint16_t address, std::uint16_t value, TimePoint now) {
  Job j;
  j.kind = Kind::write;
  j.address = address;
  j.value = value;
  return enqueue(std::move(j), now);
}

Result<RequestId> Requests::write_registers(std::uint16_t address, std::vector<std::uint16_t> values, TimePoint now) {
  if (values.empty() || values.size() > modbus::kMaxWrite) return Errc::modbus_bad_count;
  Job j;
  j.kind = Kind::write_many;
  j.address = address;
  j.value = values.front();
  j.values = std::move(values);
  return enqueue(std::move(j), now);
}

RequestId Requests::read_telemetry(TimePoint now) {
  Job j;
  j.kind = Kind::telemetry;
  return enqueue(std::move(j), now);
}

RequestId Requests::set_output(Output output, bool on, TimePoint now) {
  Job j;
  j.kind = Kind::output;
  j.address = output == Output::ac ? 0 : 1;  // resolved against the layout once the protocol is known
  j.value = on ? 1 : 0;
  return enqueue(std::move(j), now);
}

RequestId Requests::detect_protocol(TimePoint now) {
  Job j;
  j.kind = Kind::detect;
  return enqueue(std::move(j), now);
}

RequestId Requests::enqueue(Job job, TimePoint now) {
  job.id = next_id_++;
  const RequestId id = job.id;
  jobs_.push_back(std::move(job));
  pump(now);
  return id;
}

void Requests::pump(TimePoint now) {
  if (outstanding_ || jobs_.empty() || !client_->established()) return;
  step(now);
}

void Requests::send(const modbus::Request& r, TimePoint now) {
  if (auto s = client_->send_request(r, now); !s) {
    fail_active(s.error());
    return;
  }
  outstanding_ = r;
}

void Requests::complete(Completion c) {
  outstanding_.reset();
  jobs_.pop_front();
  done_.push_back(std::move(c));
}

void Requests::fail_active(std::error_code e, std::optional<std::uint8_t> exception) {
  const RequestId id = jobs_.front().id;
  complete(requests::Failed{id, e, exception});
}

// Sends the active job's next request (or completes it); then, if it completed, starts the next.
void Requests::step(TimePoint now) {
  while (!jobs_.empty() && !outstanding_ && client_->established()) {
    Job& j = jobs_.front();
    const bool needs_protocol = j.kind == Kind::telemetry || j.kind == Kind::output || j.kind == Kind::detect;
    if (needs_protocol && !j.probed && (!protocol_ || j.kind == Kind::detect)) {
      j.probing = true;
      send(modbus::Request::read(kV2ModelRegister, kModelWords), now);
      continue;
    }
    switch (j.kind) {
      case Kind::read: send(modbus::Request::read(j.address, j.count), now); break;
      case Kind::write:
        send(j.read_back ? modbus::Request::read(j.address, 1) : modbus::Request::write(j.address, j.value), now);
        break;
      case Kind::write_many: send(modbus::Request::write_many(j.address, j.values), now); break;
      case Kind::output: {
        const auto r = switch_request(*protocol_, j.address == 0 ? Output::ac : Output::dc, j.value != 0);
        j.kind = Kind::write;  // from here on a plain register write (with the read-back rule)
        j.address = r.address;
        send(r, now);
        break;
      }
      case Kind::telemetry: {
        const auto reads = telemetry_requests(*protocol_);
        if (j.next_read < reads.size()) {
          send(reads[j.next_read], now);
          break;
        }
        auto t = decode_telemetry(*protocol_, j.regs);
        if (!t) fail_active(t.error());
        else complete(requests::TelemetryRead{j.id, *protocol_, std::move(*t)});
        break;
      }
      case Kind::detect: complete(requests::ProtocolDetected{j.id, *protocol_, model_}); break;
    }
  }
}

void Requests::on_answer(const modbus::Response& resp, TimePoint now) {
  const modbus::Request req = *outstanding_;
  outstanding_.reset();
  Job& j = jobs_.front();
  if (j.probing) {
    // The protocol probe: IoT V2 names its model here, IoT V1 answers an exception.
    j.probing = false;
    j.probed = true;
    // An IoT V1 unit with battery packs answers this read too (its cell voltages live at
    // 105..120): only a model name makes it IoT V2.
    const std::string name = resp.exception ? std::string() : decode_model(Protocol::iot_v2, resp.values.data(), resp.values.size());
    if (!looks_like_model_name(name)) {
      protocol_ = Protocol::iot_v1;
      model_.clear();
    } else {
      protocol_ = Protocol::iot_v2;
      model_ = name;
    }
    if (j.kind == Kind::detect) complete(requests::ProtocolDetected{j.id, *protocol_, model_});
    step(now);
    return;
  }
  if (resp.exception) {
    fail_active(make_error_code(Errc::modbus_exception), resp.exception);
    step(now);
    return;
  }
  switch (j.kind) {
    case Kind::read: complete(requests::RegistersRead{j.id, j.address, resp.values}); break;
    case Kind::write:
      if (!j.read_back) {
        complete(requests::RegisterWritten{j.id, j.address, j.value, false});
      } else if (resp.values.size() == 1 && resp.values[0] == j.value) {
        complete(requests::RegisterWritten{j.id, j.address, j.value, true});
      } else {
        fail_active(make_error_code(Errc::write_not_confirmed));
      }
      break;
    case Kind::write_many: complete(requests::RegisterWritten{j.id, j.address, j.value, false}); break;
    case Kind::telemetry:
      collect(req, resp, j.regs);
      ++j.next_read;
      break;
    case Kind::output:
    case Kind::detect: break;  // only the probe is sent for these before they turn into others
  }
  step(now);
}

void Requests::on_unanswered(std::error_code e, TimePoint now) {
  outstanding_.reset();
  Job& j = jobs_.front();
  j.probing = false;
  const bool no_echo = e == make_error_code(Errc::timeout) || e == make_error_code(Errc::request_unanswered);
  if (j.kind == Kind::write && !j.read_back && no_echo) {
    j.read_back = true;  // a unit that does not echo FC06: read the register back
  } else {
    fail_active(e);
  }
  step(now);
}

bool Requests::on_event(const Client::Event& event, TimePoint now) {
  if (std::holds_alternative<events::Established>(event)) {
    pump(now);
    return false;
  }
  if (const auto* f = std::get_if<events::Failed>(&event)) {
    outstanding_.reset();
    while (!jobs_.empty()) fail_active(f->error);
    return false;
  }
  if (const auto* r = std::get_if<events::Response>(&event)) {
    if (!outstanding_ || jobs_.empty() || !same(r->request, *outstanding_)) return false;
    on_answer(r->response, now);
    return true;
  }
  if (const auto* r = std::get_if<events::RequestFailed>(&event)) {
    if (!outstanding_ || jobs_.empty() || !same(r->request, *outstanding_)) return false;
    on_unanswered(r->error, now);
    return true;
  }
  return false;
}

void Requests::on_link_down() {
  outstanding_.reset();
  while (!jobs_.empty()) fail_active(make_error_code(Errc::link_down));
  protocol_.reset();
  model_.clear();
}

std::optional<Completion> Requests::poll_completion() {
  if (done_.empty()) return std::nullopt;
  return done_.take();
}

}  // namespace blecrypt::bluetti
