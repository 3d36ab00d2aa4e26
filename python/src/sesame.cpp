// _blecrypt.sesame: the SESAME 5 client engine, device emulator and parsers for Python. The
// user-facing API (python/blecrypt/sesame.py) wraps these with a clock and typed events.
#include <memory>
#include <type_traits>
#include <variant>

#include "bindings.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/share_uri.hpp"

namespace blecrypt::python {
namespace {

using namespace blecrypt::sesame;

ErrorKind sesame_kind(int v) {
  switch (static_cast<Errc>(v)) {
    case Errc::not_sesame: return {"SesameInvalidArgument", "not_sesame"};
    case Errc::ad_malformed: return {"SesameInvalidArgument", "ad_malformed"};
    case Errc::manufacturer_data_short: return {"SesameInvalidArgument", "manufacturer_data_short"};
    case Errc::packet_too_short: return {"SesameError", "packet_too_short"};
    case Errc::segment_header_invalid: return {"SesameError", "segment_header_invalid"};
    case Errc::segment_without_start: return {"SesameError", "segment_without_start"};
    case Errc::reassembly_overflow: return {"SesameError", "reassembly_overflow"};
    case Errc::message_empty: return {"SesameInvalidArgument", "message_empty"};
    case Errc::message_too_large: return {"SesameInvalidArgument", "message_too_large"};
    case Errc::packet_size_invalid: return {"SesameInvalidArgument", "packet_size_invalid"};
    case Errc::no_session: return {"SesameError", "no_session"};
    case Errc::authentication_failed: return {"SesameAuthenticationError", "authentication_failed"};
    case Errc::counter_exhausted: return {"SesameError", "counter_exhausted"};
    case Errc::ciphertext_short: return {"SesameError", "ciphertext_short"};
    case Errc::plaintext_after_login: return {"SesameError", "plaintext_after_login"};
    case Errc::counter_reuse: return {"SesameError", "counter_reuse"};
    case Errc::message_short: return {"SesameError", "message_short"};
    case Errc::unknown_op_code: return {"SesameError", "unknown_op_code"};
    case Errc::payload_length: return {"SesameError", "payload_length"};
    case Errc::tag_length: return {"SesameError", "tag_length"};
    case Errc::history_record_short: return {"SesameError", "history_record_short"};
    case Errc::request_pending: return {"SesameError", "request_pending"};
    case Errc::not_connected: return {"SesameError", "not_connected"};
    case Errc::not_logged_in: return {"SesameError", "not_logged_in"};
    case Errc::no_secret: return {"SesameAuthenticationError", "no_secret"};
    case Errc::already_registered: return {"SesameError", "already_registered"};
    case Errc::login_rejected: return {"SesameAuthenticationError", "login_rejected"};
    case Errc::registration_failed: return {"SesameError", "registration_failed"};
    case Errc::invalid_public_key: return {"SesameError", "invalid_public_key"};
    case Errc::timeout: return {"SesameTimeoutError", "timeout"};
    case Errc::session_ended: return {"SesameError", "session_ended"};
    case Errc::disconnected: return {"SesameError", "disconnected"};
    case Errc::invalid_argument: return {"SesameInvalidArgument", "invalid_argument"};
    case Errc::uri_scheme: return {"ShareUriError", "uri_scheme"};
    case Errc::uri_parameter: return {"ShareUriError", "uri_parameter"};
    case Errc::uri_base64: return {"ShareUriError", "uri_base64"};
    case Errc::uri_key_format: return {"ShareUriError", "uri_key_format"};
    case Errc::crypto_failure: return {"SesameError", "crypto_failure"};
    case Errc::session_key_mismatch: return {"SesameAuthenticationError", "session_key_mismatch"};
    case Errc::no_answer: return {"SesameTimeoutError", "no_answer"};
    case Errc::uri_model: return {"ShareUriError", "uri_model"};
    case Errc::credential_length: return {"SesameError", "credential_length"};
    case Errc::key_slot_length: return {"SesameError", "key_slot_length"};
    case Errc::key_slot_garbled: return {"SesameError", "key_slot_garbled"};
    case Errc::add_sesame_length: return {"SesameError", "add_sesame_length"};
  }
  return {"SesameError", nullptr};
}

constexpr const char* kArgError = "SesameInvalidArgument";

// Engine values become the typed objects of python/blecrypt/sesame.py directly (one conversion,
// no dict in between). The classes are looked up in that module when needed.
py::object text_of(const std::string& s) { return py::bytes(s).attr("decode")("utf-8", "replace"); }
py::object cls(const char* name) { return package_class("blecrypt.sesame", name); }

py::object item_name_py(std::uint8_t it) { return py::str(item_name(it)); }

py::object status_obj(const MechStatus& s) {
  return cls("MechStatus")(s.battery_raw, s.volts(), s.battery_percent(),
                           s.target == kNoTarget ? py::object(py::none()) : py::object(py::int_(s.target)), s.position,
                           s.flags, position_name(position_from_status(s)));
}
py::object setting_obj(const MechSetting& s) {
  return cls("MechSetting")(s.lock_position, s.unlock_position, s.auto_lock_seconds);
}
py::object tag_obj(const HistoryTag& t) {
  return cls("HistoryTag")(t.kind == HistoryTag::Kind::text ? "text" : "uuid", text_of(t.text),
                           t.uuid_type,
                           t.kind == HistoryTag::Kind::uuid ? py::object(py::str(uuid_to_string(t.uuid))) : py::object(py::none()),
                           text_of(t.describe()));
}
py::object record_obj(const HistoryRecord& r) {
  const char* source = r.source == HistoryRecord::Source::ble ? "ble" : r.source == HistoryRecord::Source::wifi_module2 ? "wifi_module2" : "web";
  return cls("HistoryRecord")(r.id, r.type, r.type_name(), r.unix_time, status_obj(r.status), tag_obj(r.tag), source);
}

py::object error_text(std::error_code e) { return py::str(e ? e.message() : std::string()); }

// One Client::Event -> one Python event object (its `kind` is event_name(ev), a class attribute).
py::object event_obj(const Client::Event& ev) {
  return std::visit(
      [&](const auto& e) -> py::object {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::RandomCode>) return cls("RandomCodeReceived")(to_py(e.code));
        else if constexpr (std::is_same_v<T, events::Registered>) return cls("Registered")(to_py(e.secret.view()));
        else if constexpr (std::is_same_v<T, events::LoggedIn>) return cls("LoggedIn")(e.device_time);
        else if constexpr (std::is_same_v<T, events::MechStatus>) return cls("MechStatusChanged")(status_obj(e.status));
        else if constexpr (std::is_same_v<T, events::MechSetting>) return cls("MechSettingChanged")(setting_obj(e.setting));
        else if constexpr (std::is_same_v<T, events::CommandResult>)
          return cls("CommandResult")(e.item, item_name_py(e.item), static_cast<int>(e.result), result_name(e.result));
        else if constexpr (std::is_same_v<T, events::History>) return cls("HistoryReceived")(record_obj(e.record));
        else if constexpr (std::is_same_v<T, events::HistoryEmpty>) return cls("HistoryEmpty")();
        else if constexpr (std::is_same_v<T, events::HistoryDeleted>)
          return cls("HistoryDeleted")(static_cast<int>(e.result), result_name(e.result));
        else if constexpr (std::is_same_v<T, events::Version>)
          return cls("VersionReceived")(text_of(e.text));
        else if constexpr (std::is_same_v<T, events::RequestFailed>)
          return cls("RequestFailed")(e.item, item_name_py(e.item), error_text(e.error));
        else if constexpr (std::is_same_v<T, events::Publish>)
          return cls("PublishReceived")(e.item, item_name_py(e.item), to_py(e.payload));
        else {
          static_assert(std::is_same_v<T, events::SessionEnded>, "a sesame::events struct without a Python class");
          return cls("SessionEnded")(error_text(e.error));
        }
      },
      ev);
}

Uuid uuid_arg(const std::optional<py::bytes>& b) {
  if (!b) return Uuid{};
  return fixed_from_py<16>(*b, "sesame: uuid", kArgError);
}

std::optional<SecretBytes> secret_arg(const std::optional<py::bytes>& b) {
  if (!b) return std::nullopt;
  SecretBytes s = secret_from_py(*b);
  if (s.size() != kSecretSize) invalid("sesame: secret must be 16 bytes, got " + std::to_string(s.size()), kArgError);
  return s;
}

HistoryTag tag_arg(const py::object& tag) {
  if (tag.is_none()) return HistoryTag{};
  if (py::isinstance<py::str>(tag)) return HistoryTag::from_text(tag.cast<std::string>());
  if (py::isinstance<py::bytes>(tag)) {
    return unwrap(HistoryTag::parse(from_py(tag.cast<py::bytes>())));
  }
  invalid("sesame: tag must be str (text tag), bytes (encoded tag) or None", kArgError);
}

struct PyDevice {
  explicit PyDevice(std::optional<std::uint64_t> seed) : rng(seed) {}
  OwnedRng rng;
  std::unique_ptr<Device> dev;
  std::string last_error;
};

struct PyClient {
  explicit PyClient(std::optional<std::uint64_t> seed) : rng(seed) {}
  OwnedRng rng;
  std::unique_ptr<Client> cli;
};

// The settings DeviceConfig and ClientConfig share.
template <typename Config>
Config base_config(const std::string& backend, const std::optional<py::bytes>& secret, std::size_t packet_size,
                   std::int64_t unix_time_offset) {
  if (packet_size < 2) invalid("sesame: packet size must be >= 2 (mtu >= 5)", kArgError);
  Config c;
  c.backend = backend_or_null(backend);
  c.secret = secret_arg(secret);
  c.packet_size = packet_size;
  c.unix_time_offset = unix_time_offset;
  return c;
}

void add_sesame(py::module_& m) {
  register_error_category(sesame::category(), sesame_kind);
  auto s = m.def_submodule("sesame", "SESAME 5 (OS3) engines and parsers");

  py::class_<PyDevice>(s, "Device")
      .def(py::init([](int model, std::optional<py::bytes> uuid, std::optional<py::bytes> secret, std::size_t packet_size,
                       std::int64_t unix_time_offset, std::optional<std::uint64_t> seed, bool advance_on_failure,
                       bool reset_counters_on_login, bool accept_64, std::string backend) {
             if (model < 0 || model > 0xFFFF) invalid("sesame: model must be 0..65535", kArgError);
             auto c = base_config<DeviceConfig>(backend, secret, packet_size, unix_time_offset);
             auto p = std::make_unique<PyDevice>(seed);
             c.model = static_cast<std::uint16_t>(model);
             c.uuid = uuid_arg(uuid);
             c.advance_decrypt_counter_on_failure = advance_on_failure;
             c.reset_counters_on_login = reset_counters_on_login;
             c.accept_64_byte_registration = accept_64;
             p->dev = std::make_unique<Device>(std::move(c), p->rng.get());
             return p;
           }),
           py::arg("model"), py::arg("uuid"), py::arg("secret"), py::arg("packet_size"), py::arg("unix_time_offset"),
           py::arg("seed") = py::none(), py::arg("advance_decrypt_counter_on_failure") = false,
           py::arg("reset_counters_on_login") = true, py::arg("accept_64_byte_registration") = true,
           py::arg("backend") = "")
      .def("advertisement", [](PyDevice& d) { return to_py(d.dev->advertisement_payload()); })
      .def("connect", [](PyDevice& d, double now) { d.dev->on_link_up(at(now)); return drain_transmit(*d.dev); })
      .def("disconnect", [](PyDevice& d) { d.dev->on_link_down(); })
      .def("receive",
           [](PyDevice& d, const py::bytes& packet, double now) {
             run_deadlines(*d.dev, at(now));
             auto r = d.dev->feed(from_py(packet), at(now));
             d.last_error = r ? "" : r.error().message();
             return drain_transmit(*d.dev);
           })
      .def("advance_to", [](PyDevice& d, double now) { run_deadlines(*d.dev, at(now)); return drain_transmit(*d.dev); })
      .def("next_deadline", [](PyDevice& d) { return maybe_seconds(d.dev->next_deadline()); })
      .def("turn_by_hand", [](PyDevice& d, int position, double now) {
             d.dev->turn_by_hand(static_cast<std::int16_t>(position), at(now));
             return drain_transmit(*d.dev);
           })
      .def("set_battery_raw", [](PyDevice& d, int raw) { d.dev->set_battery_raw(static_cast<std::uint16_t>(raw)); })
      .def_property_readonly("last_error", [](PyDevice& d) { return d.last_error; })
      .def_property_readonly("registered", [](PyDevice& d) { return d.dev->registered(); })
      .def_property_readonly("logged_in", [](PyDevice& d) { return d.dev->logged_in(); })
      .def_property_readonly("connected", [](PyDevice& d) { return d.dev->connected(); })
      .def_property_readonly("secret", [](PyDevice& d) {
        return d.dev->registered() ? py::object(to_py(d.dev->secret().view())) : py::object(py::none());
      })
      .def_property_readonly("status", [](PyDevice& d) { return status_obj(d.dev->status()); })
      .def_property_readonly("setting", [](PyDevice& d) { return setting_obj(d.dev->setting()); })
      .def_property_readonly("history", [](PyDevice& d) {
        py::list l;
        for (const auto& r : d.dev->history()) l.append(record_obj(r));
        return l;
      })
      .def_property_readonly("tx_counter", [](PyDevice& d) { return d.dev->tx_counter(); })
      .def_property_readonly("rx_counter", [](PyDevice& d) { return d.dev->rx_counter(); })
      .def_property_readonly("auth_failures", [](PyDevice& d) { return d.dev->auth_failures(); });

  py::class_<PyClient>(s, "Client")
      .def(py::init([](std::optional<py::bytes> secret, std::size_t packet_size, std::int64_t unix_time_offset,
                       bool auto_authenticate, bool auto_time_sync, std::optional<std::uint64_t> seed, std::string backend) {
             auto c = base_config<ClientConfig>(backend, secret, packet_size, unix_time_offset);
             auto p = std::make_unique<PyClient>(seed);
             c.auto_authenticate = auto_authenticate;
             c.auto_time_sync = auto_time_sync;
             p->cli = std::make_unique<Client>(std::move(c), p->rng.get());
             return p;
           }),
           py::arg("secret"), py::arg("packet_size"), py::arg("unix_time_offset"), py::arg("auto_authenticate") = false,
           py::arg("auto_time_sync") = true, py::arg("seed") = py::none(), py::arg("backend") = "")
      .def("connect", [](PyClient& c, double now) { c.cli->on_link_up(at(now)); })
      .def("disconnect", [](PyClient& c) { c.cli->on_link_down(); })
      .def("set_advertisement", [](PyClient& c, const py::bytes& ad, double now) {
        c.cli->on_advertisement(unwrap(parse_advertisement(from_py(ad))), at(now));
        return drain_transmit(*c.cli);
      })
      .def("receive",
           [](PyClient& c, const py::bytes& notification, double now) {
             run_deadlines(*c.cli, at(now));
             auto r = c.cli->feed(from_py(notification), at(now));
             py::list packets = drain_transmit(*c.cli);
             return py::make_tuple(packets, r ? py::object(py::none()) : py::object(py::str(r.error().message())));
           })
      .def("advance_to", [](PyClient& c, double now) { run_deadlines(*c.cli, at(now)); return drain_transmit(*c.cli); })
      .def("register", [](PyClient& c, double now) { check(c.cli->register_device(at(now))); return drain_transmit(*c.cli); })
      .def("login", [](PyClient& c, double now) { check(c.cli->login(at(now))); return drain_transmit(*c.cli); })
      .def("lock", [](PyClient& c, const py::object& tag, double now) { check(c.cli->lock(tag_arg(tag), at(now))); return drain_transmit(*c.cli); })
      .def("unlock", [](PyClient& c, const py::object& tag, double now) { check(c.cli->unlock(tag_arg(tag), at(now))); return drain_transmit(*c.cli); })
      .def("toggle", [](PyClient& c, const py::object& tag, double now) { check(c.cli->toggle(tag_arg(tag), at(now))); return drain_transmit(*c.cli); })
      .def("read_history", [](PyClient& c, int flag, double now) { check(c.cli->read_history(at(now), static_cast<std::uint8_t>(flag))); return drain_transmit(*c.cli); })
      .def("drain_history", [](PyClient& c, double now) { check(c.cli->drain_history(at(now))); return drain_transmit(*c.cli); })
      .def("delete_history", [](PyClient& c, std::int32_t id, double now) { check(c.cli->delete_history(id, at(now))); return drain_transmit(*c.cli); })
      .def("version", [](PyClient& c, double now) { check(c.cli->read_version(at(now))); return drain_transmit(*c.cli); })
      .def("sync_time", [](PyClient& c, double now) { check(c.cli->sync_time(at(now))); return drain_transmit(*c.cli); })
      .def("set_autolock", [](PyClient& c, int seconds, double now) {
        if (seconds < 0 || seconds > 0xFFFF) invalid("sesame: auto-lock seconds must be 0..65535", kArgError);
        check(c.cli->set_autolock(static_cast<std::uint16_t>(seconds), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("events", [](PyClient& c) { return drain_events(*c.cli, event_obj); })
      .def("next_deadline", [](PyClient& c) { return maybe_seconds(c.cli->next_deadline()); })
      .def_property_readonly("state_name", [](PyClient& c) {
        static constexpr const char* names[] = {"idle", "awaiting_initial", "connected", "registering", "logging_in", "ready", "ended"};
        return std::string(names[static_cast<int>(c.cli->state())]);
      })
      .def_property_readonly("lock_state", [](PyClient& c) {
        const auto& st = c.cli->lock_state();
        py::dict d;
        d["position"] = position_name(st.position);
        d["battery_percent"] = st.battery_percent();
        d["battery_volts"] = st.battery_volts();
        d["status"] = st.status ? status_obj(*st.status) : py::object(py::none());
        d["setting"] = st.setting ? setting_obj(*st.setting) : py::object(py::none());
        d["last_history"] = st.last_history ? record_obj(*st.last_history) : py::object(py::none());
        d["version"] = text_of(st.version);
        d["description"] = st.describe();
        return d;
      })
      .def_property_readonly("secret", [](PyClient& c) {
        return c.cli->device_secret().empty() ? py::object(py::none()) : py::object(to_py(c.cli->device_secret().view()));
      })
      .def_property_readonly("tx_counter", [](PyClient& c) { return c.cli->tx_counter(); })
      .def_property_readonly("rx_counter", [](PyClient& c) { return c.cli->rx_counter(); });

  s.def("parse_share_uri", [](const std::string& uri) {
    auto k = unwrap(parse_share_uri(uri));
    py::dict d;
    d["model"] = k.model;
    d["model_name"] = model_name(k.model);
    d["secret"] = to_py(k.secret.view());
    d["os2"] = k.os2;
    d["public_key"] = k.public_key ? py::object(to_py(*k.public_key)) : py::object(py::none());
    d["uuid"] = k.uuid ? py::object(py::str(uuid_to_string(*k.uuid))) : py::object(py::none());
    d["key_time"] = k.key_time ? py::object(py::int_(*k.key_time)) : py::object(py::none());
    d["key_index"] = k.key_index ? py::object(py::int_(*k.key_index)) : py::object(py::none());
    d["level"] = k.level >= 0 ? py::object(py::int_(k.level)) : py::object(py::none());
    d["level_name"] = k.level_name();
    d["name"] = k.name;  // valid UTF-8 (the parser replaced invalid bytes by U+FFFD)
    return d;
  });
  s.def("parse_advertisement", [](const py::bytes& ad) {
    auto a = unwrap(parse_advertisement(from_py(ad)));
    py::dict d;
    d["model"] = a.model;
    d["model_name"] = model_name(a.model);
    d["registered"] = a.registered;
    d["has_history"] = a.has_history;
    d["uuid"] = uuid_to_string(a.uuid);
    return d;
  });
  s.def("build_share_uri", [](int model, const py::bytes& secret, const py::bytes& uuid, int level, const std::string& name) {
    SecretBytes sec = secret_from_py(secret);
    if (sec.size() != kSecretSize) invalid("sesame: secret must be 16 bytes, got " + std::to_string(sec.size()), kArgError);
    return build_share_uri(static_cast<std::uint8_t>(model), sec.view(), uuid_arg(uuid), level, name);
  });
}

const RegisterBinding reg{20, add_sesame};

}  // namespace
}  // namespace blecrypt::python
