// Parameter checks shared by both backends (internal header).
#pragma once

#include "blecrypt/crypto.hpp"

namespace blecrypt::crypto::detail {

Result<void> check_aes_key(ByteView key);
Result<void> check_ccm_params(ByteView nonce, std::size_t tag_size, std::size_t length);
// Every argument check of AesCcm::seal.
Result<void> check_ccm_seal(ByteView nonce, std::size_t plaintext_size, std::size_t tag_size, std::size_t out_size);
// Every argument check of AesCcm::open; the plaintext length on success.
Result<std::size_t> check_ccm_open(ByteView nonce, std::size_t sealed_size, std::size_t tag_size, std::size_t out_size);
// Every argument check of AesCbc::encrypt/decrypt.
Result<void> check_cbc(ByteView iv, std::size_t in_size, std::size_t out_size);
// 64 bytes and both coordinates < p (on-curve is each backend's job).
Result<void> check_p256_public_range(ByteView raw);
// 32 bytes, 1 <= scalar < n.
Result<void> check_p256_scalar(ByteView scalar);
// Rejection-samples a valid private scalar from rng.
SecretBytes draw_p256_scalar(Rng& rng);

}  // namespace blecrypt::crypto::detail
