// `_blecrypt.bluetti_licence_serials`: the open-format licence reader (bluetti::Licence::load,
// bounded and O_NOFOLLOW) for blecrypt.ble.BluettiDevice(licence_path=...). Kept in its own file
// so the asyncio layer adds no line to the per-module bindings.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "blecrypt/bluetti/bluetti_crypt.hpp"

namespace blecrypt::python {
namespace {

void add_ble_support(py::module_& m) {
  m.def(
      "bluetti_licence_serials",
      [](const std::string& path) {
        std::string why;
        auto licence = bluetti::Licence::load(path, &why);
        if (!licence) raise("LicenceError", why.empty() ? licence.error().message() : why);
        return std::vector<std::uint64_t>(licence->serials().begin(), licence->serials().end());
      },
      py::arg("path"), "IoT serials listed in an open-format BLUETTI licence file (blecrypt.LicenceError says why not).");
}

const RegisterBinding reg{90, add_ble_support};

}  // namespace
}  // namespace blecrypt::python
