// `_blecrypt.bluetti`: the BLUETTI engines (client, device emulator), the drop-in BluettiCrypt and
// the codecs, for python/blecrypt/bluetti.py and python/bluetti_crypt.py. Engine errors are
// returned as strings by feed() and as error objects in completions (the Python layer decides
// when to raise them); invalid arguments raise BluettiInvalidArgument (a ValueError) here.
#include <chrono>
#include <map>
#include <memory>

#include "bindings.hpp"
#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/client.hpp"
#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/models.hpp"
#include "blecrypt/bluetti/requests.hpp"

namespace blecrypt::python {
namespace {

using namespace blecrypt::bluetti;

ErrorKind bluetti_kind(int v) {
  switch (static_cast<Errc>(v)) {
    case Errc::frame_truncated: return {"BluettiHandshakeError", "frame_truncated"};
    case Errc::frame_bad_magic: return {"BluettiHandshakeError", "frame_bad_magic"};
    case Errc::frame_length_mismatch: return {"BluettiHandshakeError", "frame_length_mismatch"};
    case Errc::frame_bad_checksum: return {"BluettiHandshakeError", "frame_bad_checksum"};
    case Errc::frame_unexpected_type: return {"BluettiHandshakeError", "frame_unexpected_type"};
    case Errc::frame_bad_payload: return {"BluettiHandshakeError", "frame_bad_payload"};
    case Errc::record_truncated: return {"BluettiHandshakeError", "record_truncated"};
    case Errc::record_length_invalid: return {"BluettiHandshakeError", "record_length_invalid"};
    case Errc::record_too_long: return {"BluettiHandshakeError", "record_too_long"};
    case Errc::record_bad_padding: return {"BluettiHandshakeError", "record_bad_padding"};
    case Errc::record_unexpected: return {"BluettiHandshakeError", "record_unexpected"};
    case Errc::challenge_mismatch: return {"BluettiHandshakeError", "challenge_mismatch"};
    case Errc::challenge_rejected: return {"BluettiHandshakeError", "challenge_rejected"};
    case Errc::device_signature_invalid: return {"BluettiAuthenticationError", "device_signature_invalid"};
    case Errc::client_signature_invalid: return {"BluettiAuthenticationError", "client_signature_invalid"};
    case Errc::peer_key_invalid: return {"BluettiHandshakeError", "peer_key_invalid"};
    case Errc::pubkey_rejected: return {"BluettiHandshakeError", "pubkey_rejected"};
    case Errc::unexpected_message: return {"BluettiHandshakeError", "unexpected_message"};
    case Errc::not_established: return {"BluettiError", "not_established"};
    case Errc::handshake_failed: return {"BluettiHandshakeError", "handshake_failed"};
    case Errc::timeout: return {"BluettiTimeoutError", "timeout"};
    case Errc::modbus_truncated: return {"ModbusError", "modbus_truncated"};
    case Errc::modbus_bad_crc: return {"ModbusError", "modbus_bad_crc"};
    case Errc::modbus_bad_unit: return {"ModbusError", "modbus_bad_unit"};
    case Errc::modbus_bad_function: return {"ModbusError", "modbus_bad_function"};
    case Errc::modbus_bad_count: return {"BluettiInvalidArgument", "modbus_bad_count"};
    case Errc::modbus_length_mismatch: return {"ModbusError", "modbus_length_mismatch"};
    case Errc::modbus_exception: return {"ModbusError", "modbus_exception"};
    case Errc::modbus_unexpected_response: return {"ModbusError", "modbus_unexpected_response"};
    case Errc::no_request_pending: return {"BluettiError", "no_request_pending"};
    case Errc::invalid_key: return {"BluettiInvalidArgument", "invalid_key"};
    case Errc::licence_denied: return {"LicenceError", "licence_denied"};
    case Errc::licence_unreadable: return {"LicenceError", "licence_unreadable"};
    case Errc::crypto_failure: return {"BluettiError", "crypto_failure"};
    case Errc::request_unanswered: return {"BluettiError", "request_unanswered"};
    case Errc::session_restarted: return {"BluettiError", "session_restarted"};
    case Errc::link_down: return {"BluettiError", "link_down"};
    case Errc::write_not_confirmed: return {"BluettiError", "write_not_confirmed"};
    case Errc::licence_too_large: return {"LicenceError", "licence_too_large"};
    case Errc::licence_not_regular: return {"LicenceError", "licence_not_regular"};
    case Errc::model_unknown: return {"BluettiInvalidArgument", "model_unknown"};
    case Errc::field_unknown: return {"BluettiInvalidArgument", "field_unknown"};
    case Errc::field_not_settable: return {"BluettiInvalidArgument", "field_not_settable"};
    case Errc::setting_invalid: return {"BluettiInvalidArgument", "setting_invalid"};
    case Errc::setting_out_of_range: return {"BluettiInvalidArgument", "setting_out_of_range"};
    case Errc::pack_out_of_range: return {"BluettiInvalidArgument", "pack_out_of_range"};
  }
  return {"BluettiError", nullptr};
}

constexpr const char* kArgError = "BluettiInvalidArgument";

py::object event_class(const char* name) { return package_class("blecrypt.bluetti", name); }

py::tuple values_of(const modbus::Response& r) { return py::tuple(py::cast(r.values)); }
py::object exception_of(const modbus::Response& r) { return r.exception ? py::object(py::int_(*r.exception)) : py::object(py::none()); }

// One Client::Event -> one event of python/blecrypt/bluetti.py (named after the struct).
py::object event_obj(const Client::Event& e) {
  return std::visit(
      Overload{[](const events::ChallengeAnswered&) { return event_class("ChallengeAnswered")(); },
               [](const events::ChallengeAccepted&) { return event_class("ChallengeAccepted")(); },
               [](const events::DeviceKeyVerified&) { return event_class("DeviceKeyVerified")(); },
               [](const events::Established&) { return event_class("Established")(); },
               [](const events::Data& d) { return event_class("Data")(to_py(d.plaintext)); },
               [](const events::Response& r) {
                 return event_class("Response")(r.request.function, r.request.address, r.request.count,
                                                values_of(r.response), exception_of(r.response), to_py(r.adu));
               },
               [](const events::RequestFailed& r) {
                 return event_class("RequestFailed")(r.request.function, r.request.address, r.request.count,
                                                     error_object(r.error), to_py(r.adu));
               },
               [](const events::Failed& f) { return event_class("Failed")(error_object(f.error)); }},
      e);
}

py::dict telemetry_dict(const Telemetry& t) {  // bluetti_mqtt field names
  py::dict d;
  d["device_type"] = t.device_type;
  d["serial_number"] = t.serial_number;
  d["total_battery_percent"] = t.total_battery_percent;
  d["dc_input_power"] = t.dc_input_power;
  d["ac_input_power"] = t.ac_input_power;
  d["ac_output_power"] = t.ac_output_power;
  d["dc_output_power"] = t.dc_output_power;
  d["ac_output_on"] = t.ac_output_on;
  d["dc_output_on"] = t.dc_output_on;
  return d;
}

const char* protocol_name(Protocol p) { return p == Protocol::iot_v2 ? "v2" : "v1"; }

py::dict completion_dict(const Completion& c) {
  return std::visit(
      Overload{[](const requests::RegistersRead& r) {
                 py::dict d;
                 d["kind"] = "registers";
                 d["address"] = r.address;
                 d["values"] = r.values;
                 return d;
               },
               [](const requests::RegisterWritten& w) {
                 py::dict d;
                 d["kind"] = "written";
                 d["address"] = w.address;
                 d["value"] = w.value;
                 d["read_back"] = w.read_back;
                 return d;
               },
               [](const requests::TelemetryRead& t) {
                 py::dict d;
                 d["kind"] = "telemetry";
                 d["protocol"] = protocol_name(t.protocol);
                 d["telemetry"] = telemetry_dict(t.telemetry);
                 return d;
               },
               [](const requests::ProtocolDetected& p) {
                 py::dict d;
                 d["kind"] = "protocol";
                 d["protocol"] = protocol_name(p.protocol);
                 d["model"] = p.model;
                 return d;
               },
               [](const requests::Failed& f) {
                 py::dict d;
                 d["kind"] = "failed";
                 d["error"] = f.error.message();
                 d["error_object"] = error_object(f.error);
                 d["not_confirmed"] = f.error == make_error_code(Errc::write_not_confirmed);
                 d["exception"] = f.exception ? py::cast(*f.exception) : py::none();
                 return d;
               }},
      c);
}

// The client engine with the request layer on top. Every client event passes the request layer
// first; what it does not consume is kept for poll_event().
struct PyClient {
  OwnedRng rng;
  std::unique_ptr<Client> s;
  std::unique_ptr<Requests> req;
  Fifo<Client::Event> events;
  std::map<RequestId, Completion> done;
  PyClient(const std::optional<py::bytes>& key, const std::string& backend, std::optional<std::uint64_t> seed) : rng(seed) {
    const Bytes raw = from_py(key);
    if (key && raw.size() != 64) invalid("device_verify_key must be 64 bytes (raw X||Y), got " + std::to_string(raw.size()), kArgError);
    auto cfg = ClientConfig::make(backend_named(backend), raw);
    if (!cfg) invalid("device_verify_key is not a valid P-256 public key", kArgError);
    s = std::make_unique<Client>(std::move(*cfg), rng.get());
    req = std::make_unique<Requests>(*s);
  }
  void route(TimePoint now) {
    while (auto e = s->poll_event())
      if (!req->on_event(*e, now)) events.push_back(std::move(*e));
    while (auto c = req->poll_completion()) {
      const RequestId id = std::visit([](const auto& x) { return x.id; }, *c);
      done.insert_or_assign(id, std::move(*c));
    }
  }
  void need_session() const {
    if (!s->established()) raise(Errc::not_established, "request");
  }
  RequestId started(RequestId id, TimePoint now) {
    route(now);
    return id;
  }
};

struct PyDevice {
  OwnedRng rng;
  std::unique_ptr<Device> s;
  PyDevice(const std::optional<py::bytes>& key, const std::string& model, const std::string& backend, std::optional<std::uint64_t> seed)
      : rng(seed) {
    SecretBytes raw = key ? secret_from_py(*key) : SecretBytes{};
    if (key && raw.size() != 32)
      invalid("signing_key must be a 32-byte big-endian P-256 scalar, got " + std::to_string(raw.size()) + " bytes", kArgError);
    auto cfg = DeviceConfig::make(backend_named(backend), raw.view());
    if (!cfg) invalid("signing_key is not a valid P-256 scalar (must be in [1, n-1])", kArgError);
    auto station = PowerStation::create(model);
    if (!station) {
      std::string known;
      for (const auto& n : PowerStation::models()) known += (known.empty() ? "" : ", ") + n;
      invalid("unknown model '" + model + "' (" + known + ")", kArgError);
    }
    s = std::make_unique<Device>(std::move(*cfg), std::move(*station), rng.get());
  }
};

// ---- the model table (models.hpp) for blecrypt/bluetti.py ---------------------------------

const char* role_name(models::Role r) {
  using models::Role;
  switch (r) {
    case Role::none: return "";
    case Role::model_name: return "model_name";
    case Role::serial: return "serial";
    case Role::soc: return "soc";
    case Role::dc_input_power: return "dc_input_power";
    case Role::ac_input_power: return "ac_input_power";
    case Role::ac_output_power: return "ac_output_power";
    case Role::dc_output_power: return "dc_output_power";
    case Role::ac_state: return "ac_state";
    case Role::dc_state: return "dc_state";
    case Role::ac_switch: return "ac_switch";
    case Role::dc_switch: return "dc_switch";
    case Role::ac_output_voltage: return "ac_output_voltage";
    case Role::ac_output_frequency: return "ac_output_frequency";
    case Role::dc_input_voltage: return "dc_input_voltage";
    case Role::dc_input_current: return "dc_input_current";
    case Role::battery_voltage: return "battery_voltage";
    case Role::time_remaining: return "time_remaining";
    case Role::soc_range_start: return "soc_range_start";
    case Role::soc_range_end: return "soc_range_end";
    case Role::pack_count: return "pack_count";
    case Role::pack_selector: return "pack_selector";
    case Role::pack_selected: return "pack_selected";
    case Role::pack_voltage: return "pack_voltage";
    case Role::pack_soc: return "pack_soc";
    case Role::pack_cells: return "pack_cells";
  }
  return "";
}

const models::Model& table_model(const std::string& name) {
  if (const auto* m = models::find(name)) return *m;
  raise(make_error_code(Errc::model_unknown), "model '" + name + "'");
}

const RegisterValues& register_values(const RegisterValues& regs) { return regs; }  // the same std::map

// A reading as a Python value: bool, int, float, str, list of float; an enumeration by the name
// of its choice (its number when the table lists none).
py::object reading_value(const models::Reading& r) {
  if (!r.choice.empty()) return py::str(std::string(r.choice));
  return std::visit([](const auto& v) -> py::object { return py::cast(v); }, r.value);
}

py::list readings_list(const std::vector<models::Reading>& rs) {
  py::list out;
  for (const auto& r : rs) out.append(py::make_tuple(std::string(r.field->name), reading_value(r)));
  return out;
}

py::list block_list(std::span<const models::Block> blocks) {
  py::list out;
  for (const auto& b : blocks) out.append(py::make_tuple(b.address, b.count));
  return out;
}

py::tuple write_tuple(const modbus::Request& r) { return py::make_tuple(r.address, r.values.empty() ? 0 : r.values.front()); }

Protocol protocol_of(const std::string& p) {
  if (p == "v2" || p == "iot_v2") return Protocol::iot_v2;
  if (p == "v1" || p == "iot_v1") return Protocol::iot_v1;
  invalid("protocol must be 'v1' or 'v2'", kArgError);
}

Output output_of(const std::string& o) {
  if (o != "ac" && o != "dc") invalid("output must be 'ac' or 'dc'", kArgError);
  return o == "ac" ? Output::ac : Output::dc;
}

void add_bluetti(py::module_& parent) {
  register_error_category(bluetti::category(), bluetti_kind);
  auto m = parent.def_submodule("bluetti", "BLUETTI encrypted link: engines, emulator, drop-in BluettiCrypt");

  m.attr("K2") = to_py(kPublicKeyK2);
  m.attr("L1_PUBLIC_KEY") = to_py(kPublicKeyL1);
  m.attr("TEST_DEVICE_SIGNING_KEY") = to_py(kTestDeviceSigningKey);
  m.attr("TEST_DEVICE_VERIFY_KEY") = to_py(kTestDevicePublicKey);
  m.attr("IOT_SERIAL_REGISTER") = kIotSerialRegister;
  m.attr("LICENCE_FILE_NAME") = kLicenceFileName;
  m.attr("DEVICE_KEY_ENV") = kDeviceKeyEnv;
  m.def("models", &PowerStation::models);
  // The model table (models.hpp), read-only: one dict per model, fields as dicts.
  m.def("model_table", [] {
    auto field_dict = [](const models::Field& f, bool pack) {
      py::dict d;
      d["name"] = std::string(f.name);
      d["mqtt_name"] = std::string(f.mqtt_name);
      d["address"] = f.address;
      d["type"] = models::type_name(f.type);
      d["words"] = f.words;
      d["scale"] = f.scale;
      d["unit"] = std::string(f.unit);
      d["settable"] = f.settable;
      d["min"] = f.min;
      d["max"] = f.max;
      py::dict choices;
      for (const auto& c : f.choices) choices[py::str(std::string(c.name))] = c.value;
      d["choices"] = choices;
      d["component"] = models::component_name(f.component);
      d["device_class"] = std::string(f.device_class);
      d["state_class"] = std::string(f.state_class);
      d["pack"] = pack;
      d["role"] = role_name(f.role);
      return d;
    };
    py::list out;
    for (const auto& md : models::all()) {
      py::dict d;
      d["model"] = std::string(md.name);
      d["protocol"] = md.protocol == Protocol::iot_v2 ? "v2" : "v1";
      d["verified"] = models::verified_name(md.verified);
      d["sources"] = std::string(md.sources);
      py::list blocks, fields;
      for (const auto& b : md.blocks) blocks.append(py::make_tuple(b.address, b.count));
      for (const auto& f : md.fields) fields.append(field_dict(f, false));
      for (const auto& f : md.packs.fields) fields.append(field_dict(f, true));
      d["blocks"] = blocks;
      d["fields"] = fields;
      d["max_packs"] = md.packs.max_packs;
      d["pack_selector"] = md.packs.selector;
      d["pack_blocks"] = block_list(md.packs.blocks);
      d["pack_settle_ms"] = md.packs.settle_ms;
      out.append(d);
    }
    return out;
  }, "The BLUETTI model table: models, register blocks, fields (read-only copies)");
  // The logic over the table, for blecrypt.bluetti.Model: decoding, setting encoding, packs,
  // detection. Registers are {address: value}; readings come back as (field name, value) pairs
  // in table order.
  m.def("model_decode", [](const std::string& model, const std::map<std::uint16_t, std::uint16_t>& regs) {
    return readings_list(models::decode(table_model(model), register_values(regs)));
  });
  m.def("model_decode_pack", [](const std::string& model, unsigned pack, const std::map<std::uint16_t, std::uint16_t>& regs) {
    return readings_list(models::decode_pack(table_model(model), pack, register_values(regs)));
  });
  m.def("model_encode_setting", [](const std::string& model, const std::string& field, const std::string& text) {
    const auto& md = table_model(model);
    return write_tuple(unwrap(models::encode_write(md, field, text), field + " = " + text));
  }, "(address, raw value) of the FC06 write that sets `field` to `text`, after the range check");
  m.def("model_poll_requests", [](const std::string& model) {
    std::vector<std::pair<std::uint16_t, std::uint16_t>> out;
    for (const auto& r : models::poll_requests(table_model(model))) out.emplace_back(r.address, r.count);
    return out;
  });
  m.def("model_pack_requests", [](const std::string& model) {
    std::vector<std::pair<std::uint16_t, std::uint16_t>> out;
    for (const auto& r : models::pack_requests(table_model(model))) out.emplace_back(r.address, r.count);
    return out;
  });
  m.def("model_select_pack", [](const std::string& model, unsigned pack) {
    return write_tuple(unwrap(models::select_pack(table_model(model), pack), "pack " + std::to_string(pack)));
  });
  m.def("model_from_advertised_name", [](const std::string& name) -> py::object {
    const auto* md = models::from_advertised_name(name);
    return md ? py::object(py::str(std::string(md->name))) : py::object(py::none());
  });
  m.def("model_identify", [](const std::string& advertised, const std::map<std::uint16_t, std::uint16_t>& regs) {
    const auto& values = register_values(regs);
    auto id = models::identify(advertised, values);
    if (!id) raise(id.error(), "the device-type registers read \"" + models::reported_type(values) + "\"");
    py::dict d;
    d["model"] = std::string(id->model->name);
    d["protocol"] = protocol_name(id->protocol);
    d["reported"] = id->reported;
    d["serial"] = id->serial;
    d["advertised"] = id->advertised ? py::object(py::str(std::string(id->advertised->name))) : py::object(py::none());
    d["confirmed"] = id->confirmed;
    return d;
  });
  m.attr("V2_TYPE_REGISTER") = models::kV2TypeRegister;
  m.attr("V2_TYPE_WORDS") = models::kV2TypeWords;
  m.attr("V1_TYPE_REGISTER") = models::kV1TypeRegister;
  m.attr("V1_TYPE_WORDS") = models::kV1TypeWords;
  m.def("crc16", [](const py::bytes& b) { return modbus::crc16(from_py(b)); }, "CRC-16/MODBUS");
  m.def("classify_advertisement", [](const py::bytes& ad) {
    auto a = unwrap(classify_advertisement(from_py(ad)), "advertising data");
    py::dict d;
    d["kind"] = a.kind == LinkKind::encrypted ? "encrypted" : a.kind == LinkKind::plaintext ? "plaintext" : "not_bluetti";
    d["marker"] = a.marker;
    d["name"] = a.name;
    d["company_id"] = a.company_id ? py::cast(*a.company_id) : py::none();
    d["service_ff00"] = a.has_service_ff00;
    return d;
  });
  m.def("telemetry_requests", [](const std::string& p) {
    std::vector<std::pair<std::uint16_t, std::uint16_t>> out;
    for (const auto& r : telemetry_requests(protocol_of(p))) out.emplace_back(r.address, r.count);
    return out;
  });
  m.def("decode_telemetry", [](const std::string& p, const std::map<std::uint16_t, std::uint16_t>& regs) {
    auto t = decode_telemetry(protocol_of(p), regs);
    if (!t) invalid("telemetry: registers missing for the " + p + " layout", kArgError);
    return telemetry_dict(*t);
  });
  m.def("switch_register", [](const std::string& p, const std::string& output) {
    return switch_request(protocol_of(p), output_of(output), true).address;
  });

  py::class_<PyClient>(m, "ClientEngine", "Sans-IO client engine + request layer (see blecrypt.bluetti.Client)")
      .def(py::init<const std::optional<py::bytes>&, const std::string&, std::optional<std::uint64_t>>(),
           py::arg("device_verify_key") = py::none(), py::arg("backend") = "", py::arg("seed") = py::none())
      .def("on_link_up", [](PyClient& c, double now) { c.s->on_link_up(at(now)); })
      .def("on_link_down", [](PyClient& c) {
        c.s->on_link_down();
        c.req->on_link_down();
        c.route(TimePoint{});
      })
      .def("feed", [](PyClient& c, const py::bytes& data, double now) {
        auto r = c.s->feed(from_py(data), at(now));
        c.route(at(now));
        return r ? std::string() : r.error().message();
      })
      .def("poll_transmit", [](PyClient& c) { return maybe_bytes(c.s->poll_transmit()); })
      .def("poll_event", [](PyClient& c) -> py::object {
        if (c.events.empty()) return py::none();
        return event_obj(c.events.take());
      })
      .def("next_deadline", [](PyClient& c) { return maybe_seconds(c.s->next_deadline()); })
      .def("on_deadline", [](PyClient& c, double now) {
        c.s->on_deadline(at(now));
        c.route(at(now));
      })
      .def("reset", [](PyClient& c) {
        c.req->on_link_down();  // jobs of the wiped session fail
        c.s->reset();
        c.events.clear();
        c.done.clear();
      })
      // ---- the request layer (bluetti::Requests): one job id each, take_completion(id) ----
      .def("request_read", [](PyClient& c, std::uint16_t a, std::uint16_t n, double now) {
        c.need_session();
        return c.started(unwrap(c.req->read_registers(a, n, at(now)), "read request"), at(now));
      })
      .def("request_write", [](PyClient& c, std::uint16_t a, std::uint16_t v, double now) {
        c.need_session();
        return c.started(c.req->write_register(a, v, at(now)), at(now));
      })
      .def("request_write_many", [](PyClient& c, std::uint16_t a, std::vector<std::uint16_t> v, double now) {
        c.need_session();
        return c.started(unwrap(c.req->write_registers(a, std::move(v), at(now)), "write request"), at(now));
      })
      .def("request_telemetry", [](PyClient& c, const std::string& protocol, double now) {
        c.need_session();
        if (!protocol.empty()) c.req->set_protocol(protocol_of(protocol));
        return c.started(c.req->read_telemetry(at(now)), at(now));
      })
      .def("request_output", [](PyClient& c, const std::string& output, bool on, const std::string& protocol, double now) {
        const Output o = output_of(output);
        c.need_session();
        if (!protocol.empty()) c.req->set_protocol(protocol_of(protocol));
        return c.started(c.req->set_output(o, on, at(now)), at(now));
      })
      .def("request_detect", [](PyClient& c, double now) {
        c.need_session();
        return c.started(c.req->detect_protocol(at(now)), at(now));
      })
      .def("take_completion", [](PyClient& c, RequestId id) -> py::object {
        auto it = c.done.find(id);
        if (it == c.done.end()) return py::none();
        py::dict d = completion_dict(it->second);
        c.done.erase(it);
        return d;
      })
      .def("send_read", [](PyClient& c, std::uint16_t a, std::uint16_t n, double now) {
        check(c.s->send_request(modbus::Request::read(a, n), at(now)), "read request");
      })
      .def("send_write", [](PyClient& c, std::uint16_t a, std::uint16_t v, double now) {
        check(c.s->send_request(modbus::Request::write(a, v), at(now)), "write request");
      })
      .def("send_write_many", [](PyClient& c, std::uint16_t a, std::vector<std::uint16_t> v, double now) {
        check(c.s->send_request(modbus::Request::write_many(a, std::move(v)), at(now)), "write request");
      })
      .def("seal", [](PyClient& c, const py::bytes& plain) {
        return to_py(unwrap(c.s->seal(from_py(plain)), "seal"));
      })
      .def_property_readonly("state", [](PyClient& c) { return std::string(client_state_name(c.s->state())); })
      .def_property_readonly("established", [](PyClient& c) { return c.s->established(); })
      .def_property_readonly("failed", [](PyClient& c) { return c.s->state() == ClientState::failed; })
      .def_property_readonly("failure", [](PyClient& c) { return c.s->failure() ? c.s->failure().message() : std::string(); })
      .def_property_readonly("failure_error", [](PyClient& c) { return c.s->failure() ? error_object(c.s->failure()) : py::object(py::none()); },
                             "The failure as a blecrypt.errors exception (None while not failed)")
      .def_property_readonly("holds_no_secrets", [](PyClient& c) { return c.s->holds_no_secrets(); });

  py::class_<PyDevice>(m, "DeviceEngine", "Sans-IO device emulator engine (see blecrypt.bluetti.Device)")
      .def(py::init<const std::optional<py::bytes>&, const std::string&, const std::string&, std::optional<std::uint64_t>>(),
           py::arg("signing_key") = py::none(), py::arg("model") = "AC180", py::arg("backend") = "", py::arg("seed") = py::none())
      .def("on_link_up", [](PyDevice& d, double now) { d.s->on_link_up(at(now)); })
      .def("on_link_down", [](PyDevice& d) { d.s->on_link_down(); })
      .def("feed", [](PyDevice& d, const py::bytes& data, double now) {
        auto r = d.s->feed(from_py(data), at(now));
        discard_events(*d.s);  // the emulator's events are not exposed: keep the queue empty
        return r ? std::string() : r.error().message();
      })
      .def("poll_transmit", [](PyDevice& d) { return maybe_bytes(d.s->poll_transmit()); })
      .def("next_deadline", [](PyDevice& d) { return maybe_seconds(d.s->next_deadline()); })
      .def("on_deadline", [](PyDevice& d, double now) {
        d.s->on_deadline(at(now));
        discard_events(*d.s);
      })
      .def("reset", [](PyDevice& d) {
        d.s->reset();
        discard_events(*d.s);
      })
      .def("set_serials", [](PyDevice& d, std::uint64_t sn, std::uint64_t iot) { d.s->station().set_serials(sn, iot); })
      .def("define_register", [](PyDevice& d, std::uint16_t a, std::uint16_t v, bool w) { d.s->station().define(a, v, w); },
           py::arg("address"), py::arg("value"), py::arg("writable") = false)
      .def("get_register", [](PyDevice& d, std::uint16_t a) -> py::object {
        auto v = d.s->station().get(a);
        return v ? py::cast(*v) : py::none();
      })
      .def_property_readonly("verify_key", [](PyDevice& d) { return to_py(d.s->verify_key()); })
      .def_property_readonly("model", [](PyDevice& d) { return d.s->station().model(); })
      .def_property_readonly("protocol", [](PyDevice& d) { return std::string(d.s->station().protocol() == Protocol::iot_v2 ? "v2" : "v1"); })
      .def_property_readonly("serial", [](PyDevice& d) { return d.s->station().serial(); })
      .def_property_readonly("iot_serial", [](PyDevice& d) { return d.s->station().iot_serial(); })
      .def_property_readonly("state", [](PyDevice& d) { return std::string(device_state_name(d.s->state())); })
      .def_property_readonly("established", [](PyDevice& d) { return d.s->established(); })
      .def_property_readonly("failure", [](PyDevice& d) { return d.s->failure() ? d.s->failure().message() : std::string(); });

  py::class_<BluettiCrypt>(m, "BluettiCrypt", "Drop-in for BLUETTI's closed bluetti_crypt module (statuses 0..4)")
      .def(py::init([](const std::optional<py::bytes>& key, const std::optional<std::string>& licence) {
             BluettiCrypt::Options o;
             if (key) {
               std::string_view k = *key;
               if (k.size() != 64) invalid("device_verify_key must be 64 bytes (raw X||Y), got " + std::to_string(k.size()), kArgError);
               o.device_verify_key = std::string(k);
             }
             if (licence) o.licence_path = *licence;
             auto c = std::make_unique<BluettiCrypt>(std::move(o));
             if (!c->last_error().empty()) invalid(c->last_error(), kArgError);
             return c;
           }),
           py::arg("device_verify_key") = py::none(), py::arg("licence_path") = py::none())
      .def("ble_crypt_link_handler", [](BluettiCrypt& c, const py::bytes& data) {
        int status = 0;
        std::string reply = c.ble_crypt_link_handler(std::string(std::string_view(data)), &status);
        return py::make_tuple(py::bytes(reply), status);
      })
      .def("encrypt_data", [](BluettiCrypt& c, const py::bytes& d) { return py::bytes(c.encrypt_data(std::string(std::string_view(d)))); })
      .def("decrypt_data", [](BluettiCrypt& c, const py::bytes& d) { return py::bytes(c.decrypt_data(std::string(std::string_view(d)))); })
      .def("get_software_version", &BluettiCrypt::get_software_version)
      .def("last_error", &BluettiCrypt::last_error)
      .def("reset", &BluettiCrypt::reset)
      .def_property_readonly("status", &BluettiCrypt::status)
      .def_property_readonly("iot_serial", [](BluettiCrypt& c) -> py::object {
        return c.iot_serial() ? py::cast(*c.iot_serial()) : py::none();
      });
}

const RegisterBinding reg{10, add_bluetti};

}  // namespace
}  // namespace blecrypt::python
