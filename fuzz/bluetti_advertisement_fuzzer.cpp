// BLUETTI advertisement classification (spec section 2) on arbitrary advertising data: never
// crashes, never reads past the input; a result names a known marker or none.
#include <cstdlib>

#include "blecrypt/bluetti/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt::bluetti;
  auto a = classify_advertisement(blecrypt::ByteView(data, size));
  if (a && a->kind != LinkKind::not_bluetti && a->marker.empty() && a->name.empty() && !a->has_service_ff00 &&
      !a->company_id)
    std::abort();  // classified as BLUETTI with no evidence at all
  return 0;
}
