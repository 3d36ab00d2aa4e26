// PYBIND11_MODULE(_blecrypt): collects the registered bindings and installs the one translator
// that turns every blecrypt::python::Raised into a blecrypt.errors exception. Errors become
// Python exceptions here at the edge; the C++ core never throws.
#include <algorithm>
#include <utility>

#include "bindings.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/link/errors.hpp"
#include "blecrypt/version.hpp"

namespace blecrypt::python {

std::vector<Binding>& bindings() {
  static std::vector<Binding> all;
  return all;
}

// ---- errors ------------------------------------------------------------------------------------
namespace {

std::vector<std::pair<const std::error_category*, ErrorClassifier>>& classifiers() {
  static std::vector<std::pair<const std::error_category*, ErrorClassifier>> all;
  return all;
}

ErrorKind classify(std::error_code ec) {
  for (const auto& [cat, f] : classifiers())
    if (*cat == ec.category()) return f(ec.value());
  return {};
}

std::string with_context(std::string_view context, const std::string& message) {
  if (context.empty()) return message;
  return std::string(context) + ": " + message;
}

py::object instance(const Raised& r) {
  py::object cls = py::module_::import("blecrypt.errors").attr(r.cls);
  py::object code = r.code ? py::object(py::int_(r.code.value())) : py::object(py::none());
  py::object category = r.code ? py::object(py::str(r.code.category().name())) : py::object(py::none());
  py::object name = r.name ? py::object(py::str(r.name)) : py::object(py::none());
  // Messages may quote peer- or file-supplied bytes: never let invalid UTF-8 turn the error
  // into a UnicodeDecodeError (bytes that do not decode show as \xNN).
  PyObject* text = PyUnicode_DecodeUTF8(r.message.data(), static_cast<Py_ssize_t>(r.message.size()), "backslashreplace");
  if (text == nullptr) throw py::error_already_set();
  py::object message = py::reinterpret_steal<py::object>(text);
  return cls(message, py::arg("code") = code, py::arg("category") = category, py::arg("name") = name);
}

Raised raised(std::error_code ec, std::string_view context) {
  const ErrorKind k = classify(ec);
  return Raised{with_context(context, ec.message()), k.cls, ec, k.name};
}

}  // namespace

void register_error_category(const std::error_category& category, ErrorClassifier classify_fn) {
  for (auto& [cat, f] : classifiers())
    if (*cat == category) {
      f = classify_fn;
      return;
    }
  classifiers().emplace_back(&category, classify_fn);
}

py::object error_object(std::error_code ec, std::string_view context) { return instance(raised(ec, context)); }
py::object error_with_message(std::error_code ec, std::string message) {
  Raised r = raised(ec, {});
  r.message = std::move(message);
  return instance(r);
}
void raise(std::error_code ec, std::string_view context) { throw raised(ec, context); }
void raise(const char* cls, std::string message) { throw Raised{std::move(message), cls, {}, nullptr}; }

const crypto::Backend* backend_or_null(const std::string& name) {
  if (name.empty()) return nullptr;
  if (const auto* b = crypto::backend_by_name(name)) return b;
  std::string known;
  for (const auto* b : crypto::all_backends()) known += (known.empty() ? "" : ", ") + std::string(b->name());
  invalid("unknown crypto backend '" + name + "' (compiled in: " + known + ")");
}

namespace {

ErrorKind crypto_kind(int v) {
  switch (static_cast<crypto::Errc>(v)) {
    case crypto::Errc::authentication_failed: return {"AuthenticationError", "authentication_failed"};
    case crypto::Errc::backend_failure: return {"CryptoError", "backend_failure"};
    case crypto::Errc::wrong_backend: return {"CryptoError", "wrong_backend"};
    default: return {"InvalidArgument", nullptr};  // sizes, keys, lengths the caller passed
  }
}

ErrorKind link_kind(int v) {
  switch (static_cast<link::Errc>(v)) {
    case link::Errc::timed_out: return {"LinkTimeoutError", "timed_out"};
    case link::Errc::bluetooth_unavailable: return {"BluetoothUnavailable", "bluetooth_unavailable"};
    case link::Errc::adapter_not_found: return {"BluetoothUnavailable", "adapter_not_found"};
    case link::Errc::adapter_off: return {"BluetoothUnavailable", "adapter_off"};
    case link::Errc::permission_denied: return {"BluetoothUnavailable", "permission_denied"};
    default: return {"LinkError", nullptr};
  }
}

void add_core(py::module_& m) {
  register_error_category(crypto::category(), crypto_kind);
  register_error_category(link::category(), link_kind);
  m.attr("__version__") = kVersion;
  m.def("default_backend", [] { return std::string(crypto::default_backend().name()); },
        "Name of the crypto backend chosen at build time (openssl or mbedtls).");
  m.def("backends", [] {
    std::vector<std::string> names;
    for (const auto* b : crypto::all_backends()) names.emplace_back(b->name());
    return names;
  });
  m.def(
      "self_test",
      [](const std::string& backend) {
        const crypto::Backend& be = backend_named(backend);
        return without_gil([&] { return crypto::self_test(be); });
      },
      py::arg("backend") = "",
      "Known-answer self-test of every primitive; returns '' on success or the failing check.");
}
const RegisterBinding core{0, add_core};

}  // namespace

}  // namespace blecrypt::python

PYBIND11_MODULE(_blecrypt, m) {
  using namespace blecrypt::python;
  m.doc() = "blecrypt native core (crypto seam, protocol engines)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Raised& r) {
      py::object e = instance(r);
      PyErr_SetObject(e.get_type().ptr(), e.ptr());
    }
  });
  auto all = bindings();
  std::sort(all.begin(), all.end(), [](const Binding& a, const Binding& b) { return a.order < b.order; });
  for (const auto& b : all) b.add(m);
}
