// Test support: vector files, hex helpers, and parametrisation over both crypto backends.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "blecrypt/bytes.hpp"
#include "blecrypt/crypto.hpp"

namespace blecrypt::test {

// tests/vectors/<name> parsed as JSON; fails the test (throws) when missing or malformed.
nlohmann::json load_vectors(const std::string& name);

// Hex to bytes; throws std::invalid_argument on bad hex so a typo in a vector file is loud.
Bytes hex(std::string_view h);
// A JSON string field parsed as hex.
Bytes hex_field(const nlohmann::json& v, const char* field);

template <std::size_t N>
std::array<std::uint8_t, N> to_array(ByteView b) {
  std::array<std::uint8_t, N> out{};
  if (b.size() != N) throw std::invalid_argument("to_array: size " + std::to_string(b.size()) + " != " + std::to_string(N));
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

// Compare byte sequences as hex, so failures print readably.
#define EXPECT_BYTES_EQ(a, b) EXPECT_EQ(::blecrypt::to_hex(a), ::blecrypt::to_hex(b))
#define ASSERT_BYTES_EQ(a, b) ASSERT_EQ(::blecrypt::to_hex(a), ::blecrypt::to_hex(b))

// Fixture parameter: one crypto backend. Use INSTANTIATE_TEST_SUITE_P(Backends, Suite,
// ::testing::ValuesIn(blecrypt::test::backends()), blecrypt::test::backend_name).
std::vector<const crypto::Backend*> backends();
std::string backend_name(const ::testing::TestParamInfo<const crypto::Backend*>& info);

// (a, b) pairs of backends including the mixed ones, for "OpenSSL peer vs mbedTLS peer" tests.
using BackendPair = std::pair<const crypto::Backend*, const crypto::Backend*>;
std::vector<BackendPair> backend_pairs();
std::string backend_pair_name(const ::testing::TestParamInfo<BackendPair>& info);

}  // namespace blecrypt::test
