// Selecting the key generation method: the IO capability mapping of Core Vol 3 Part H 2.3.5.1,
// Table 2.8, as data. Rows are the initiator's IO capability, columns the responder's; each cell
// holds the legacy and the LE Secure Connections answer. The table applies only when MITM was
// asked for by either side and OOB was not chosen (2.3.5.1, Tables 2.6/2.7); otherwise the model
// is Just Works or OOB.
#pragma once

#include <array>

#include "blecrypt/smp/types.hpp"

namespace blecrypt::smp {

// One answer of the table. For passkey entry it says who displays the passkey; a side that does
// not display inputs it (KeyboardOnly on both sides: both input, nobody displays).
struct Association {
  Method method = Method::just_works;
  bool initiator_displays = false;
  bool responder_displays = false;
  friend constexpr bool operator==(const Association&, const Association&) = default;

  constexpr bool displays(Role r) const noexcept { return r == Role::central ? initiator_displays : responder_displays; }
  // The passkey is typed on this side (passkey entry only).
  constexpr bool inputs(Role r) const noexcept { return method == Method::passkey && !displays(r); }
};

namespace table_2_8 {
inline constexpr Association jw{Method::just_works};
inline constexpr Association nc{Method::numeric_comparison};
inline constexpr Association init_displays{Method::passkey, true, false};  // responder inputs
inline constexpr Association resp_displays{Method::passkey, false, true};  // initiator inputs
inline constexpr Association both_input{Method::passkey, false, false};
struct Cell {
  Association legacy, lesc;
};
// kTable[initiator][responder], indices = IoCapability values.
inline constexpr std::array<std::array<Cell, kIoCapabilities>, kIoCapabilities> kTable{{
    // initiator DisplayOnly
    {{{jw, jw}, {jw, jw}, {init_displays, init_displays}, {jw, jw}, {init_displays, init_displays}}},
    // initiator DisplayYesNo
    {{{jw, jw}, {jw, nc}, {init_displays, init_displays}, {jw, jw}, {init_displays, nc}}},
    // initiator KeyboardOnly
    {{{resp_displays, resp_displays}, {resp_displays, resp_displays}, {both_input, both_input}, {jw, jw},
      {resp_displays, resp_displays}}},
    // initiator NoInputNoOutput
    {{{jw, jw}, {jw, jw}, {jw, jw}, {jw, jw}, {jw, jw}}},
    // initiator KeyboardDisplay
    {{{resp_displays, resp_displays}, {resp_displays, nc}, {init_displays, init_displays}, {jw, jw},
      {init_displays, nc}}},
}};
}  // namespace table_2_8

// Table 2.8 for two IO capabilities (values outside 0..4 must be refused before).
constexpr Association association_model(IoCapability initiator, IoCapability responder, bool secure_connections) {
  const auto& cell = table_2_8::kTable[static_cast<std::size_t>(initiator)][static_cast<std::size_t>(responder)];
  return secure_connections ? cell.lesc : cell.legacy;
}

}  // namespace blecrypt::smp
