// _blecrypt.channel: the sans-IO TLS 1.3 channel engine and its key helpers. The socket loop
// (blocking and asyncio) is Python, in python/blecrypt/channel.py.
#include <optional>
#include <string>

#include "bindings.hpp"
#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/keys.hpp"

namespace blecrypt::python {
namespace {

using namespace blecrypt::channel;

ErrorKind channel_kind(int v) {
  switch (static_cast<Errc>(v)) {
    case Errc::not_tls: return {"ChannelError", "not_tls"};
    case Errc::record_too_large: return {"ChannelError", "record_too_large"};
    case Errc::handshake_failed: return {"ChannelHandshakeError", "handshake_failed"};
    case Errc::wrong_psk: return {"ChannelAuthenticationError", "wrong_psk"};
    case Errc::unknown_psk_identity: return {"ChannelAuthenticationError", "unknown_psk_identity"};
    case Errc::fingerprint_mismatch: return {"ChannelAuthenticationError", "fingerprint_mismatch"};
    case Errc::no_peer_certificate: return {"ChannelAuthenticationError", "no_peer_certificate"};
    case Errc::record_tampered: return {"ChannelAuthenticationError", "record_tampered"};
    case Errc::protocol_error: return {"ChannelError", "protocol_error"};
    case Errc::peer_alert: return {"ChannelHandshakeError", "peer_alert"};
    case Errc::handshake_timeout: return {"ChannelTimeoutError", "handshake_timeout"};
    case Errc::peer_stalled: return {"ChannelTimeoutError", "peer_stalled"};
    case Errc::truncated_record: return {"ChannelError", "truncated_record"};
    case Errc::closed_without_notify: return {"ChannelError", "closed_without_notify"};
    case Errc::link_down: return {"ChannelError", "link_down"};
    case Errc::not_connected: return {"ChannelError", "not_connected"};
    case Errc::closed: return {"ChannelError", "closed"};
    case Errc::invalid_config: return {"ChannelInvalidArgument", "invalid_config"};
    case Errc::tls_internal: return {"ChannelError", "tls_internal"};
    case Errc::file_unreadable: return {"KeyFileError", "file_unreadable"};
    case Errc::file_not_regular: return {"KeyFileError", "file_not_regular"};
    case Errc::file_not_private: return {"KeyFileError", "file_not_private"};
    case Errc::file_too_large: return {"KeyFileError", "file_too_large"};
    case Errc::file_exists: return {"KeyFileError", "file_exists"};
    case Errc::psk_format: return {"ChannelInvalidArgument", "psk_format"};
    case Errc::psk_checksum: return {"ChannelInvalidArgument", "psk_checksum"};
    case Errc::fingerprint_format: return {"ChannelInvalidArgument", "fingerprint_format"};
    case Errc::identity_format: return {"ChannelInvalidArgument", "identity_format"};
    case Errc::address_format: return {"ChannelInvalidArgument", "address_format"};
    case Errc::bluetooth_unavailable: return {"ChannelError", "bluetooth_unavailable"};
    case Errc::socket_error: return {"ChannelError", "socket_error"};
    case Errc::io_timeout: return {"ChannelTimeoutError", "io_timeout"};
  }
  return {"ChannelError", nullptr};
}

constexpr const char* kArgError = "ChannelInvalidArgument";

std::unique_ptr<Channel> make_channel(bool server_side, std::optional<py::bytes> psk, const std::string& psk_identity,
                                      std::optional<py::bytes> identity_pem, std::optional<py::bytes> peer_fingerprint,
                                      double handshake_timeout, double stall_timeout, std::size_t max_transmit) {
  Config cfg;
  cfg.role = server_side ? Role::server : Role::client;
  if (psk.has_value() == identity_pem.has_value()) invalid("channel: give exactly one of psk or identity", kArgError);
  if (psk) {
    SecretBytes key = secret_from_py(*psk);
    if (key.size() != kPskSize) invalid("channel: psk must be 32 bytes, got " + std::to_string(key.size()), kArgError);
    cfg.mode = PskMode{std::move(key), psk_identity};
  } else {
    Bytes raw = from_py(*identity_pem);
    auto id = parse_identity(raw);
    secure_wipe(raw.data(), raw.size());
    if (!id) raise(id.error());
    std::optional<Bytes> pin;
    if (peer_fingerprint) {
      pin = from_py(*peer_fingerprint);
      if (pin->size() != 32) invalid("channel: peer_fingerprint must be 32 bytes (SHA-256)", kArgError);
    }
    cfg.mode = IdentityMode{std::move(id->private_key_pem), std::move(id->certificate_pem), std::move(pin)};
  }
  cfg.handshake_timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(handshake_timeout));
  cfg.stall_timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(stall_timeout));
  cfg.max_transmit = max_transmit;
  if (auto v = validate(cfg); !v) raise(v.error());
  return std::make_unique<Channel>(std::move(cfg));
}

// One channel::Event -> one event of python/blecrypt/channel.py (named after the struct).
py::object event_obj(const Event& ev) {
  auto cls = [](const char* name) { return package_class("blecrypt.channel", name); };
  return std::visit(Overload{[&](const HandshakeComplete& h) {
                               return cls("HandshakeComplete")(h.version, h.cipher, h.psk, to_py(h.peer_fingerprint));
                             },
                             [&](const DataReceived& d) { return cls("DataReceived")(to_py(d.data)); },
                             [&](const ClosedByPeer&) { return cls("ClosedByPeer")(); },
                             [&](const Failed& f) { return cls("Failed")(error_with_message(f.error, f.message)); }},
                    ev);
}

const char* state_name(State s) {
  switch (s) {
    case State::idle: return "idle";
    case State::handshaking: return "handshaking";
    case State::established: return "established";
    case State::closing: return "closing";
    case State::closed: return "closed";
    case State::failed: return "failed";
  }
  return "?";
}

void add_channel(py::module_& m) {
  register_error_category(channel::category(), channel_kind);
  auto c = m.def_submodule("channel", "TLS 1.3 channel engine (sans-IO) and key helpers");
  py::class_<Channel>(c, "Channel")
      .def(py::init(&make_channel), py::arg("server_side"), py::arg("psk") = py::none(), py::arg("psk_identity") = kDefaultPskIdentity,
           py::arg("identity_pem") = py::none(), py::arg("peer_fingerprint") = py::none(), py::arg("handshake_timeout") = 15.0,
           py::arg("stall_timeout") = 30.0, py::arg("max_transmit") = 0)
      .def("link_up", [](Channel& ch, double now) { ch.on_link_up(at(now)); }, py::arg("now"))
      .def("link_down", &Channel::on_link_down)
      .def("feed", [](Channel& ch, const py::bytes& data, double now) { return ch.feed(from_py(data), at(now)).has_value(); },
           py::arg("data"), py::arg("now"), "Bytes from the peer; False if the channel failed (see the events)")
      .def("poll_transmit", [](Channel& ch) { return maybe_bytes(ch.poll_transmit()); })
      .def("poll_event", [](Channel& ch) -> py::object {
        auto e = ch.poll_event();
        return e ? event_obj(*e) : py::none();
      })
      .def("next_deadline", [](const Channel& ch) { return maybe_seconds(ch.next_deadline()); })
      .def("on_deadline", [](Channel& ch, double now) { ch.on_deadline(at(now)); }, py::arg("now"))
      .def("send", [](Channel& ch, const py::bytes& data) {
        if (auto r = ch.send(from_py(data)); !r) raise(r.error());
      })
      .def("close", &Channel::close)
      .def("reset", &Channel::reset)
      .def_property_readonly("state", [](const Channel& ch) { return state_name(ch.state()); });

  c.def("generate_psk", [] { return to_py(unwrap(generate_psk())); });
  c.def("parse_psk", [](const std::string& text) { return to_py(unwrap(parse_psk(text))); });
  c.def("psk_to_qr_string", [](const py::bytes& key) { return psk_to_qr_string(from_py(key)); });
  c.def("generate_identity", [](const std::string& name) {
    auto id = unwrap(without_gil([&] { return generate_identity(name); }));
    return py::make_tuple(to_py(identity_to_pem(id)), to_py(id.fingerprint));
  }, py::arg("name") = "blecrypt channel");
  c.def("identity_fingerprint", [](const py::bytes& pem) {
    return to_py(unwrap(parse_identity(from_py(pem))).fingerprint);
  });
  c.def("format_fingerprint", [](const py::bytes& fp) { return format_fingerprint(from_py(fp)); });
  c.def("parse_fingerprint", [](const std::string& text) {
    return to_py(unwrap(parse_fingerprint(text)));
  });
  c.def("read_private_file", [](const std::string& path) {
    return to_py(unwrap(without_gil([&] { return read_private_file(path); })));
  }, "Reads a key file: regular, no symlink, mode without group/other bits, at most 64 KiB.");
  c.def("write_private_file", [](const std::string& path, const py::bytes& data) {
    Bytes bytes = from_py(data);
    check(without_gil([&] { return write_private_file(path, bytes); }));
  });
}

const RegisterBinding reg{40, add_channel};

}  // namespace
}  // namespace blecrypt::python
