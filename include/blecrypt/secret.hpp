// SecretBytes: key material that wipes itself and never prints. equal(): constant-time compare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>

#include "blecrypt/bytes.hpp"

namespace blecrypt {

// Overwrites `data` with zeros in a way the optimiser may not remove.
void secure_wipe(void* data, std::size_t size) noexcept;

// Constant-time equality: the time depends on the lengths only, never on the contents.
bool equal(ByteView a, ByteView b) noexcept;

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size) : data_(size, 0) {}
  explicit SecretBytes(ByteView data) : data_(data.begin(), data.end()) {}
  SecretBytes(const SecretBytes& other) : data_(other.data_) {}
  SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) { other.data_.clear(); }
  SecretBytes& operator=(const SecretBytes& other) {
    if (this != &other) { wipe(); data_ = other.data_; }
    return *this;
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) { wipe(); data_ = std::move(other.data_); other.data_.clear(); }
    return *this;
  }
  ~SecretBytes() { wipe(); }

  // Zeroes the contents and empties the container.
  void wipe() noexcept {
    secure_wipe(data_.data(), data_.size());
    data_.clear();
  }

  std::size_t size() const noexcept { return data_.size(); }
  bool empty() const noexcept { return data_.empty(); }
  const std::uint8_t* data() const noexcept { return data_.data(); }
  std::uint8_t* data() noexcept { return data_.data(); }
  std::uint8_t& operator[](std::size_t i) { return data_[i]; }
  std::uint8_t operator[](std::size_t i) const { return data_[i]; }
  ByteView view() const noexcept { return {data_.data(), data_.size()}; }
  MutableByteView mutable_view() noexcept { return {data_.data(), data_.size()}; }
  operator ByteView() const noexcept { return view(); }  // NOLINT(google-explicit-constructor)

  // Secrets never print: streaming shows only the size.
  friend std::ostream& operator<<(std::ostream& os, const SecretBytes& s) {
    return os << "<secret " << s.size() << " bytes>";
  }

 private:
  // Not a std::vector<uint8_t> growth anywhere after construction: no stale copies on the heap.
  Bytes data_;
};

}  // namespace blecrypt
