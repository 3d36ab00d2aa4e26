// PYBIND11_MODULE(_blecrypt): collects the registered bindings. Errors become Python exceptions
// here at the edge; the C++ core never throws.
#include <algorithm>

#include "bindings.hpp"
#include "blecrypt/crypto.hpp"
#include "blecrypt/version.hpp"

namespace blecrypt::python {

std::vector<Binding>& bindings() {
  static std::vector<Binding> all;
  return all;
}

namespace {
void add_core(py::module_& m) {
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
        const crypto::Backend* be = backend.empty() ? &crypto::default_backend() : crypto::backend_by_name(backend);
        if (be == nullptr) throw py::value_error("unknown crypto backend '" + backend + "' (openssl, mbedtls)");
        return crypto::self_test(*be);
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
  auto all = bindings();
  std::sort(all.begin(), all.end(), [](const Binding& a, const Binding& b) { return a.order < b.order; });
  for (const auto& b : all) b.add(m);
}
