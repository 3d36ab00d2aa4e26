// _blecrypt.sesame: the SESAME 5 client engine, device emulator and parsers for Python. The
// user-facing API (python/blecrypt/sesame.py) wraps these with a clock and typed events.
#include <memory>
#include <type_traits>
#include <variant>

#include "bindings.hpp"
#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/bot2.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/os2.hpp"
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
    case Errc::not_supported_by_model: return {"SesameError", "not_supported_by_model"};
    case Errc::script_format: return {"SesameError", "script_format"};
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

// ---- accessories (Touch / Touch Pro / Face: items 101-130) and lock settings ----

CredentialKind kind_arg(const std::string& k) {
  if (k == "card" || k == "cards") return CredentialKind::card;
  if (k == "fingerprint" || k == "fingerprints") return CredentialKind::fingerprint;
  if (k == "passcode" || k == "passcodes") return CredentialKind::passcode;
  invalid("sesame: kind must be 'card', 'fingerprint' or 'passcode', got '" + k + "'", kArgError);
}
Bytes id_arg(const py::bytes& b) {
  Bytes id = from_py(b);
  if (id.empty() || id.size() > Credential::kMaxIdSize) invalid("sesame: a credential id is 1-32 bytes", kArgError);
  return id;
}
py::object credential_obj(CredentialKind k, const Credential& c) {
  const auto u = c.name_uuid();
  return cls("Credential")(credential_kind_name(k), c.type, to_py(c.id), to_py(c.name),
                           u ? py::object(py::str(uuid_to_string(*u))) : py::object(py::none()), text_of(c.describe()));
}
py::object key_slot_obj(const KeySlot& k) {
  return cls("KeySlot")(uuid_to_string(k.uuid), k.os2, key_slot_status_name(k.status), static_cast<int>(k.status));
}
py::object script_obj(const Bot2Script& sc) {
  py::list actions;
  for (const auto& a : sc.actions) actions.append(py::make_tuple(a.action, a.time));
  return cls("Bot2Script")(text_of(sc.name), actions);
}
py::dict accessory_dict(const AccessoryState& a) {
  py::dict d;
  py::list slots;
  for (const auto& k : a.key_slots)
    if (!k.empty()) slots.append(key_slot_obj(k));
  d["key_slots"] = slots;
  for (CredentialKind k : {CredentialKind::card, CredentialKind::fingerprint, CredentialKind::passcode}) {
    const auto i = static_cast<std::size_t>(k);
    py::list l;
    for (const auto& c : a.credentials[i]) l.append(credential_obj(k, c));
    const std::string name = credential_kind_name(k);
    d[py::str(name + "s")] = l;
    d[py::str(name + "s_complete")] = a.list_complete[i];
    d[py::str(name + "_mode")] = a.modes[i] ? py::object(py::int_(*a.modes[i])) : py::object(py::none());
  }
  d["ops_timer_seconds"] = a.ops_timer_seconds ? py::object(py::int_(*a.ops_timer_seconds)) : py::object(py::none());
  if (a.bot2_scripts) {
    py::list names;
    for (const auto& n : a.bot2_scripts->names) names.append(text_of(n));
    d["bot2_scripts"] = names;
    d["bot2_current_script"] = a.bot2_scripts->current;
  } else {
    d["bot2_scripts"] = py::none();
    d["bot2_current_script"] = py::none();
  }
  d["bot2_script"] = a.bot2_script ? script_obj(*a.bot2_script) : py::object(py::none());
  return d;
}

// ---- OS2 (SESAME 3/4, bot 1, Bike 1) ----

py::object status2_obj(const os2::MechStatus2& s, std::uint16_t model) {
  return cls("Os2MechStatus")(s.battery_raw, s.volts_for(model), s.battery_percent(model),
                              s.target == kNoTarget ? py::object(py::none()) : py::object(py::int_(s.target)), s.position,
                              s.retcode, s.flags);
}
py::object setting2_obj(const os2::MechSetting2& s, std::uint16_t model) {
  if (model == model::bot1) {
    const auto b = os2::BotSetting1::from(s);
    return cls("BotSetting")(b.user_pref_dir, b.lock_sec, b.unlock_sec, b.click_lock_sec, b.click_hold_sec,
                             b.click_unlock_sec, b.button_mode);
  }
  return cls("Os2MechSetting")(s.lock, s.unlock, s.lock_min, s.lock_max, s.unlock_min, s.unlock_max);
}
py::object record2_obj(const os2::HistoryRecord2& r) {
  const char* source = r.source == HistoryRecord::Source::ble ? "ble" : r.source == HistoryRecord::Source::wifi_module2 ? "wifi_module2" : "web";
  return cls("Os2HistoryRecord")(r.id, r.type, history_type_name(r.type), r.unix_ms, text_of(r.tag), source);
}

py::object event2_obj(const os2::Client2::Event& ev, std::uint16_t model) {
  return std::visit(
      [&](const auto& e) -> py::object {
        using T = std::decay_t<decltype(e)>;
        namespace ev2 = os2::events2;
        if constexpr (std::is_same_v<T, ev2::LoggedIn>)
          return cls("Os2LoggedIn")(e.login.time, e.login.fw_version, e.login.history_count,
                                    status2_obj(e.login.status, model), setting2_obj(e.login.setting, model));
        else if constexpr (std::is_same_v<T, ev2::Status>) return cls("Os2MechStatusChanged")(status2_obj(e.status, model));
        else if constexpr (std::is_same_v<T, ev2::Setting>) return cls("Os2SettingChanged")(setting2_obj(e.setting, model));
        else if constexpr (std::is_same_v<T, ev2::CommandResult>)
          return cls("CommandResult")(e.item, item_name_py(e.item), static_cast<int>(e.result), result_name(e.result));
        else if constexpr (std::is_same_v<T, ev2::History>) return cls("Os2HistoryReceived")(record2_obj(e.record));
        else if constexpr (std::is_same_v<T, ev2::HistoryEmpty>) return cls("HistoryEmpty")();
        else if constexpr (std::is_same_v<T, ev2::Autolock>) return cls("AutolockReceived")(e.seconds);
        else if constexpr (std::is_same_v<T, ev2::Version>) return cls("VersionReceived")(text_of(e.text));
        else if constexpr (std::is_same_v<T, ev2::RequestFailed>)
          return cls("RequestFailed")(e.item, item_name_py(e.item), error_text(e.error));
        else if constexpr (std::is_same_v<T, ev2::Publish>)
          return cls("PublishReceived")(e.item, item_name_py(e.item), to_py(e.payload));
        else {
          static_assert(std::is_same_v<T, ev2::SessionEnded>, "an os2::events2 struct without a Python class");
          return cls("SessionEnded")(error_text(e.error));
        }
      },
      ev);
}

std::string tag2_text(const py::object& tag) {
  if (tag.is_none()) return {};
  if (!py::isinstance<py::str>(tag)) invalid("sesame OS2: tag must be str (OS2 tags are text) or None", kArgError);
  return tag.cast<std::string>();
}

struct PyDevice2 {
  explicit PyDevice2(std::optional<std::uint64_t> seed) : rng(seed) {}
  OwnedRng rng;
  std::unique_ptr<os2::Device2> dev;
  std::string last_error;
};

struct PyClient2 {
  explicit PyClient2(std::optional<std::uint64_t> seed) : rng(seed) {}
  OwnedRng rng;
  std::unique_ptr<os2::Client2> cli;
  std::uint16_t model = 0;
};

template <typename F>
py::list req2(PyClient2& c, F&& f) {
  check(f(*c.cli));
  return drain_transmit(*c.cli);
}

void add_os2(py::module_& s) {
  py::class_<PyDevice2>(s, "Device2")
      .def(py::init([](int model, std::optional<py::bytes> uuid, const py::bytes& secret, int key_index, std::size_t packet_size,
                       std::int64_t unix_time_offset, std::optional<std::uint64_t> seed, std::string backend) {
             if (model != model::sesame3 && model != model::sesame4 && model != model::bot1 && model != model::bike1)
               invalid("sesame OS2: model must be 0 (SESAME 3), 2 (bot 1), 3 (Bike 1) or 4 (SESAME 4)", kArgError);
             if (key_index < 0 || key_index > 0xFFFF) invalid("sesame OS2: key_index must be 0..65535", kArgError);
             if (packet_size < 2) invalid("sesame: packet size must be >= 2 (mtu >= 5)", kArgError);
             auto sec = secret_arg(secret);
             os2::DeviceConfig2 c;
             c.backend = backend_or_null(backend);
             c.model = static_cast<std::uint16_t>(model);
             c.uuid = uuid_arg(uuid);
             c.secret = *sec;
             c.private_key = os2::emulator_private_key(sec->view());
             c.key_index = static_cast<std::uint16_t>(key_index);
             c.packet_size = packet_size;
             c.unix_time_offset = unix_time_offset;
             auto p = std::make_unique<PyDevice2>(seed);
             p->dev = std::make_unique<os2::Device2>(std::move(c), p->rng.get());
             return p;
           }),
           py::arg("model"), py::arg("uuid"), py::arg("secret"), py::arg("key_index"), py::arg("packet_size"),
           py::arg("unix_time_offset"), py::arg("seed") = py::none(), py::arg("backend") = "")
      .def("share_key", [](PyDevice2& d, int level, const std::string& name) {
        Bytes b = d.dev->share_key_bytes();
        std::string uri = share_uri_from_key_bytes(b, level, name);
        secure_wipe(b.data(), b.size());
        return uri;
      })
      .def("connect", [](PyDevice2& d, double now) { d.dev->on_link_up(at(now)); return drain_transmit(*d.dev); })
      .def("disconnect", [](PyDevice2& d) { d.dev->on_link_down(); })
      .def("receive",
           [](PyDevice2& d, const py::bytes& packet, double now) {
             auto r = d.dev->feed(from_py(packet), at(now));
             d.last_error = r ? "" : r.error().message();
             while (d.dev->poll_event()) {
             }
             return drain_transmit(*d.dev);
           })
      .def("add_history", [](PyDevice2& d, int type, const std::string& tag, double now) {
        if (type < 0 || type > 255) invalid("sesame OS2: history type must be 0..255", kArgError);
        d.dev->add_history(static_cast<std::uint8_t>(type), tag, at(now));
      })
      .def_property_readonly("last_error", [](PyDevice2& d) { return d.last_error; })
      .def_property_readonly("logged_in", [](PyDevice2& d) { return d.dev->logged_in(); })
      .def_property_readonly("status", [](PyDevice2& d) { return status2_obj(d.dev->status(), d.dev->model()); })
      .def_property_readonly("setting", [](PyDevice2& d) { return setting2_obj(d.dev->setting(), d.dev->model()); })
      .def_property_readonly("autolock_seconds", [](PyDevice2& d) { return d.dev->autolock_seconds(); })
      .def_property_readonly("history", [](PyDevice2& d) {
        py::list l;
        for (const auto& r : d.dev->history()) l.append(record2_obj(r));
        return l;
      });

  py::class_<PyClient2>(s, "Client2")
      .def(py::init([](const std::string& uri, std::size_t packet_size, std::optional<std::uint64_t> seed, std::string backend) {
             auto key = unwrap(parse_share_uri(uri));
             auto cfg = unwrap(os2::ClientConfig2::from_share_key(key));
             if (packet_size < 2) invalid("sesame: packet size must be >= 2 (mtu >= 5)", kArgError);
             cfg.backend = backend_or_null(backend);
             cfg.packet_size = packet_size;
             auto p = std::make_unique<PyClient2>(seed);
             p->model = cfg.model;
             p->cli = std::make_unique<os2::Client2>(std::move(cfg), p->rng.get());
             return p;
           }),
           py::arg("uri"), py::arg("packet_size"), py::arg("seed") = py::none(), py::arg("backend") = "")
      .def("connect", [](PyClient2& c, double now) { c.cli->on_link_up(at(now)); })
      .def("disconnect", [](PyClient2& c) { c.cli->on_link_down(); })
      .def("receive",
           [](PyClient2& c, const py::bytes& notification, double now) {
             run_deadlines(*c.cli, at(now));
             auto r = c.cli->feed(from_py(notification), at(now));
             py::list packets = drain_transmit(*c.cli);
             return py::make_tuple(packets, r ? py::object(py::none()) : py::object(py::str(r.error().message())));
           })
      .def("advance_to", [](PyClient2& c, double now) { run_deadlines(*c.cli, at(now)); return drain_transmit(*c.cli); })
      .def("lock", [](PyClient2& c, const py::object& tag, double now) {
        return req2(c, [&](os2::Client2& x) { return x.lock(HistoryTag::from_text(tag2_text(tag)), at(now)); });
      })
      .def("unlock", [](PyClient2& c, const py::object& tag, double now) {
        return req2(c, [&](os2::Client2& x) { return x.unlock(HistoryTag::from_text(tag2_text(tag)), at(now)); });
      })
      .def("toggle", [](PyClient2& c, const py::object& tag, double now) {
        return req2(c, [&](os2::Client2& x) { return x.toggle(HistoryTag::from_text(tag2_text(tag)), at(now)); });
      })
      .def("click", [](PyClient2& c, const py::object& tag, double now) {
        return req2(c, [&](os2::Client2& x) { return x.click(HistoryTag::from_text(tag2_text(tag)), at(now)); });
      })
      .def("read_history", [](PyClient2& c, int flag, double now) {
        if (flag < 0 || flag > 255) invalid("sesame OS2: history flag must be 0..255", kArgError);
        return req2(c, [&](os2::Client2& x) { return x.read_history(static_cast<std::uint8_t>(flag), at(now)); });
      })
      .def("drain_history", [](PyClient2& c, double now) { return req2(c, [&](os2::Client2& x) { return x.drain_history(at(now)); }); })
      .def("read_autolock", [](PyClient2& c, double now) { return req2(c, [&](os2::Client2& x) { return x.read_autolock(at(now)); }); })
      .def("set_autolock", [](PyClient2& c, int seconds, const py::object& tag, double now) {
        if (seconds < 0 || seconds > 0xFFFF) invalid("sesame: auto-lock seconds must be 0..65535", kArgError);
        return req2(c, [&](os2::Client2& x) {
          return x.set_autolock(static_cast<std::uint16_t>(seconds), HistoryTag::from_text(tag2_text(tag)), at(now));
        });
      })
      .def("set_lock_positions", [](PyClient2& c, int lock, int unlock, const py::object& tag, double now) {
        if (lock < -32768 || lock > 32767 || unlock < -32768 || unlock > 32767) invalid("sesame OS2: positions are int16", kArgError);
        return req2(c, [&](os2::Client2& x) {
          return x.set_lock_positions(static_cast<std::int16_t>(lock), static_cast<std::int16_t>(unlock),
                                      HistoryTag::from_text(tag2_text(tag)), at(now));
        });
      })
      .def("set_bot_setting", [](PyClient2& c, const std::vector<int>& v, const py::object& tag, double now) {
        if (v.size() != 7) invalid("sesame OS2: a bot setting has 7 values", kArgError);
        for (int x : v)
          if (x < 0 || x > 255) invalid("sesame OS2: bot setting values are 0..255", kArgError);
        const os2::BotSetting1 b{static_cast<std::uint8_t>(v[0]), static_cast<std::uint8_t>(v[1]), static_cast<std::uint8_t>(v[2]),
                                 static_cast<std::uint8_t>(v[3]), static_cast<std::uint8_t>(v[4]), static_cast<std::uint8_t>(v[5]),
                                 static_cast<std::uint8_t>(v[6])};
        return req2(c, [&](os2::Client2& x) { return x.set_bot_setting(b, HistoryTag::from_text(tag2_text(tag)), at(now)); });
      })
      .def("sync_time", [](PyClient2& c, std::uint32_t unix_seconds, double now) {
        return req2(c, [&](os2::Client2& x) { return x.sync_time(unix_seconds, at(now)); });
      })
      .def("version", [](PyClient2& c, double now) { return req2(c, [&](os2::Client2& x) { return x.read_version(at(now)); }); })
      .def("events", [](PyClient2& c) {
        const std::uint16_t m = c.model;
        return drain_events(*c.cli, [m](const os2::Client2::Event& e) { return event2_obj(e, m); });
      })
      .def_property_readonly("ready", [](PyClient2& c) { return c.cli->ready(); })
      .def_property_readonly("draining", [](PyClient2& c) { return c.cli->draining(); })
      .def_property_readonly("model", [](PyClient2& c) { return c.model; })
      .def_property_readonly("status", [](PyClient2& c) {
        return c.cli->status() ? status2_obj(*c.cli->status(), c.model) : py::object(py::none());
      })
      .def_property_readonly("setting", [](PyClient2& c) {
        return c.cli->setting() ? setting2_obj(*c.cli->setting(), c.model) : py::object(py::none());
      });
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
      .def("present_credential", [](PyDevice& d, const std::string& kind, const py::bytes& id, double now) {
        auto matched = unwrap(d.dev->present_credential(kind_arg(kind), id_arg(id), at(now)));
        // The OperateLock events (what the accessory would send to its locks) stay in the engine's
        // C++ API; Python sees whether it matched and the publishes (an add-mode enrolment).
        while (d.dev->poll_event()) {
        }
        return py::make_tuple(matched, drain_transmit(*d.dev));
      })
      .def("credentials", [](PyDevice& d, const std::string& kind) {
        const CredentialKind k = kind_arg(kind);
        py::list l;
        for (const auto& c : d.dev->credentials(k)) l.append(credential_obj(k, c));
        return l;
      })
      .def("credential_mode", [](PyDevice& d, const std::string& kind) { return d.dev->credential_mode(kind_arg(kind)); })
      .def_property_readonly("scripts", [](PyDevice& d) {
        py::list l;
        for (const auto& sc : d.dev->scripts()) l.append(script_obj(sc));
        return l;
      })
      .def_property_readonly("current_script", [](PyDevice& d) { return d.dev->current_script(); })
      .def_property_readonly("last_script_run", [](PyDevice& d) {
        return d.dev->last_script_run() ? py::object(py::int_(*d.dev->last_script_run())) : py::object(py::none());
      })
      .def_property_readonly("key_slots", [](PyDevice& d) {
        py::list l;
        for (const auto& k : d.dev->key_slots())
          if (!k.empty()) l.append(key_slot_obj(k));
        return l;
      })
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
      .def("set_mech_setting", [](PyClient& c, int lock, int unlock, double now) {
        if (lock < -32768 || lock > 32767 || unlock < -32768 || unlock > 32767) invalid("sesame: positions are int16", kArgError);
        check(c.cli->set_mech_setting(static_cast<std::int16_t>(lock), static_cast<std::int16_t>(unlock), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("magnet", [](PyClient& c, double now) { check(c.cli->magnet(at(now))); return drain_transmit(*c.cli); })
      .def("set_ops_timer", [](PyClient& c, int seconds, double now) {
        if (seconds < 0 || seconds > 0xFFFF) invalid("sesame: ops timer seconds must be 0..65535", kArgError);
        check(c.cli->set_ops_timer(static_cast<std::uint16_t>(seconds), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("click", [](PyClient& c, const py::object& tag, double now) { check(c.cli->click(tag_arg(tag), at(now))); return drain_transmit(*c.cli); })
      .def("run_script", [](PyClient& c, int n, const py::object& tag, double now) {
        if (n < 0 || n > 9) invalid("sesame: script number must be 0..9", kArgError);
        check(c.cli->run_script(static_cast<std::uint8_t>(n), tag_arg(tag), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("add_sesame", [](PyClient& c, const py::bytes& uuid, const py::bytes& secret, double now) {
        SecretBytes sec = secret_from_py(secret);
        if (sec.size() != kSecretSize) invalid("sesame: secret must be 16 bytes", kArgError);
        check(c.cli->add_sesame(uuid_arg(uuid), sec.view(), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("remove_sesame", [](PyClient& c, const py::bytes& uuid, double now) {
        check(c.cli->remove_sesame(uuid_arg(uuid), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("list_credentials", [](PyClient& c, const std::string& kind, double now) {
        check(c.cli->list_credentials(kind_arg(kind), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("rename_credential", [](PyClient& c, const std::string& kind, const py::bytes& id, const py::bytes& name, double now) {
        Bytes n = from_py(name);
        if (n.size() > Credential::kMaxNameSize) invalid("sesame: a credential name is at most 32 bytes", kArgError);
        check(c.cli->rename_credential(kind_arg(kind), id_arg(id), n, at(now)));
        return drain_transmit(*c.cli);
      })
      .def("delete_credential", [](PyClient& c, const std::string& kind, const py::bytes& id, double now) {
        check(c.cli->delete_credential(kind_arg(kind), id_arg(id), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("get_credential_mode", [](PyClient& c, const std::string& kind, double now) {
        check(c.cli->get_credential_mode(kind_arg(kind), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("set_credential_mode", [](PyClient& c, const std::string& kind, int mode, double now) {
        if (mode != 0 && mode != 1) invalid("sesame: credential mode is 0 (verify) or 1 (add)", kArgError);
        check(c.cli->set_credential_mode(kind_arg(kind), static_cast<std::uint8_t>(mode), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("select_script", [](PyClient& c, int n, double now) {
        if (n < 0 || n > 9) invalid("sesame: script number must be 0..9", kArgError);
        check(c.cli->select_script(static_cast<std::uint8_t>(n), at(now)));
        return drain_transmit(*c.cli);
      })
      .def("read_script", [](PyClient& c, std::optional<int> n, double now) {
        if (n && (*n < 0 || *n > 9)) invalid("sesame: script number must be 0..9", kArgError);
        check(c.cli->read_script(n ? std::optional<std::uint8_t>(static_cast<std::uint8_t>(*n)) : std::nullopt, at(now)));
        return drain_transmit(*c.cli);
      })
      .def("read_script_names", [](PyClient& c, double now) { check(c.cli->read_script_names(at(now))); return drain_transmit(*c.cli); })
      .def("edit_script", [](PyClient& c, int n, const std::string& name, const std::vector<std::pair<int, int>>& actions, double now) {
        if (n < 0 || n > 9) invalid("sesame: script number must be 0..9", kArgError);
        Bot2Script sc;
        sc.name = name;
        for (const auto& [a, t] : actions) {
          if (a < 0 || a > 3 || t < 0 || t > 255) invalid("sesame: an action is (0..3, 0..255)", kArgError);
          sc.actions.push_back(Bot2Action{static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(t)});
        }
        check(c.cli->edit_script(static_cast<std::uint8_t>(n), sc, at(now)));
        return drain_transmit(*c.cli);
      })
      .def_property_readonly("accessory_state", [](PyClient& c) { return accessory_dict(c.cli->accessory_state()); })
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
  add_os2(s);
}

const RegisterBinding reg{20, add_sesame};

}  // namespace
}  // namespace blecrypt::python
