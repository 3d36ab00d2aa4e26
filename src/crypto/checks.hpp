// Parameter checks shared by both backends (internal header).
#pragma once

#include "blecrypt/crypto.hpp"

namespace blecrypt::crypto::detail {

Result<void> check_aes_key(ByteView key);
Result<void> check_ccm_params(ByteView nonce, std::size_t tag_size, std::size_t length);
// 64 bytes and both coordinates < p (on-curve is each backend's job).
Result<void> check_p256_public_range(ByteView raw);
// 32 bytes, 1 <= scalar < n.
Result<void> check_p256_scalar(ByteView scalar);
// Rejection-samples a valid private scalar from rng.
SecretBytes draw_p256_scalar(Rng& rng);

}  // namespace blecrypt::crypto::detail
