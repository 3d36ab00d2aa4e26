// Each python/src/*.cpp registers a function that adds its classes to the `_blecrypt` module.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "blecrypt/bytes.hpp"

namespace blecrypt::python {

namespace py = pybind11;

struct Binding {
  int order;
  void (*add)(py::module_& m);
};

std::vector<Binding>& bindings();

struct RegisterBinding {
  RegisterBinding(int order, void (*add)(py::module_& m)) { bindings().push_back({order, add}); }
};

inline py::bytes to_py(ByteView b) { return py::bytes(reinterpret_cast<const char*>(b.data()), b.size()); }
inline Bytes from_py(const py::bytes& b) {
  std::string_view s = b;
  return Bytes(s.begin(), s.end());
}

}  // namespace blecrypt::python
