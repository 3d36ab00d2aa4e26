// What every python/src/*.cpp shares: the registration of its part of `_blecrypt`, the one way
// errors cross into Python (blecrypt.errors classes), and the conversions of bytes, times,
// backends, seeds and engine queues. Nothing here is module-specific.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::python {

namespace py = pybind11;

// ---- registration ------------------------------------------------------------------------------
struct Binding {
  int order;
  void (*add)(py::module_& m);
};

std::vector<Binding>& bindings();

struct RegisterBinding {
  RegisterBinding(int order, void (*add)(py::module_& m)) { bindings().push_back({order, add}); }
};

// ---- errors ------------------------------------------------------------------------------------
// A Python class of python/blecrypt/errors.py for one error value, and the enumerator's name
// where the binding knows it (shown as `.name`).
struct ErrorKind {
  const char* cls = "Error";
  const char* name = nullptr;
};
using ErrorClassifier = ErrorKind (*)(int value);

// Each module's binding names the class for every value of its category, once (usually from
// its RegisterBinding function). Unregistered categories become blecrypt.Error.
void register_error_category(const std::error_category& category, ErrorClassifier classify);

// The C++ exception behind every raise below; one translator (module.cpp) turns it into an
// instance of blecrypt.errors.<cls> with .code/.category/.name.
struct Raised {
  std::string message;
  const char* cls = "Error";
  std::error_code code;
  const char* name = nullptr;
};

// "context: <message of ec>" (or the message alone): the instance the translator would raise,
// for events that carry an error instead of raising it.
py::object error_object(std::error_code ec, std::string_view context = {});
py::object error_with_message(std::error_code ec, std::string message);  // the message as given
[[noreturn]] void raise(std::error_code ec, std::string_view context = {});
// A failure that has no error_code: cls is a class name of blecrypt.errors.
[[noreturn]] void raise(const char* cls, std::string message);
// A bad argument: blecrypt.InvalidArgument (a ValueError), or the module's subclass of it.
[[noreturn]] inline void invalid(std::string message, const char* cls = "InvalidArgument") { raise(cls, std::move(message)); }

template <typename T>
T unwrap(Result<T> r, std::string_view context = {}) {
  if (!r) raise(r.error(), context);
  return std::move(*r);
}
inline void check(const Result<void>& r, std::string_view context = {}) {
  if (!r) raise(r.error(), context);
}

// ---- bytes -------------------------------------------------------------------------------------
inline py::bytes to_py(ByteView b) { return py::bytes(reinterpret_cast<const char*>(b.data()), b.size()); }
inline Bytes from_py(const py::bytes& b) {
  std::string_view s = b;
  return Bytes(s.begin(), s.end());
}
inline Bytes from_py(const std::optional<py::bytes>& b) { return b ? from_py(*b) : Bytes{}; }
inline py::object maybe_bytes(const std::optional<Bytes>& b) { return b ? py::object(to_py(*b)) : py::object(py::none()); }
// Key material: copied into SecretBytes, the temporary copy wiped.
inline SecretBytes secret_from_py(const py::bytes& b) {
  Bytes raw = from_py(b);
  SecretBytes s(raw);
  secure_wipe(raw.data(), raw.size());
  return s;
}
// Exactly N bytes, else InvalidArgument("<what> must be N bytes, got M").
template <std::size_t N>
std::array<std::uint8_t, N> fixed_from_py(const py::bytes& b, std::string_view what, const char* cls = "InvalidArgument") {
  std::string_view s = b;
  if (s.size() != N)
    invalid(std::string(what) + " must be " + std::to_string(N) + " bytes, got " + std::to_string(s.size()), cls);
  std::array<std::uint8_t, N> out{};
  std::copy(s.begin(), s.end(), out.begin());
  return out;
}

// ---- time --------------------------------------------------------------------------------------
inline TimePoint at(double seconds) { return time_from_seconds(seconds); }
inline double seconds_of(TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }
inline py::object maybe_seconds(std::optional<TimePoint> t) { return t ? py::object(py::float_(seconds_of(*t))) : py::object(py::none()); }

// ---- backends and randomness -------------------------------------------------------------------
// "" = nullptr (the engine's default backend); a name must be one compiled in.
const crypto::Backend* backend_or_null(const std::string& name);
inline const crypto::Backend& backend_named(const std::string& name) {
  const auto* b = backend_or_null(name);
  return b ? *b : crypto::default_backend();
}
// A seed gives a DeterministicRng owned by the binding object; no seed = the system RNG.
struct OwnedRng {
  std::unique_ptr<crypto::Rng> own;
  explicit OwnedRng(std::optional<std::uint64_t> seed) {
    if (seed) own = std::make_unique<crypto::DeterministicRng>(*seed);
  }
  crypto::Rng& get() { return own ? *own : crypto::system_rng(); }
};

// ---- engines -----------------------------------------------------------------------------------
template <typename... F>
struct Overload : F... {
  using F::operator()...;
};
template <typename... F>
Overload(F...) -> Overload<F...>;

// An event class of the Python package (each module's events derive from blecrypt.events.Event):
// the bindings build these objects straight from the engine's event variant, with no dict or tuple
// in between. E.g. package_class("blecrypt.bluetti", "Established")().
inline py::object package_class(const char* module, const char* name) { return py::module_::import(module).attr(name); }

// Everything the engine has to send, as a list of bytes.
template <typename E>
py::list drain_transmit(E& engine) {
  py::list out;
  while (auto p = engine.poll_transmit()) out.append(to_py(*p));
  return out;
}
// Every queued event through `convert` into a list.
template <typename E, typename F>
py::list drain_events(E& engine, F&& convert) {
  py::list out;
  while (auto e = engine.poll_event()) out.append(convert(*e));
  return out;
}
template <typename E>
void discard_events(E& engine) {
  while (engine.poll_event()) {
  }
}
// Fires the engine's deadlines up to `until`, in order.
template <typename E>
void run_deadlines(E& engine, TimePoint until) {
  for (int guard = 0; guard < 1000000; ++guard) {
    auto d = engine.next_deadline();
    if (!d || *d > until) break;
    engine.on_deadline(*d);
  }
}

// ---- the GIL -----------------------------------------------------------------------------------
// Runs f with the GIL released: for work that takes long and calls no Python (key generation,
// file reads, the self-test). f must not touch py:: objects.
template <typename F>
auto without_gil(F&& f) {
  py::gil_scoped_release release;
  return std::forward<F>(f)();
}

}  // namespace blecrypt::python
