// RecordFramer: follows the TLS record boundaries of the incoming stream (RFC 8446 §5.1:
// ContentType(1) legacy_record_version(2) length(2) fragment). It never decrypts; it lets the
// channel refuse a stream that is not TLS before OpenSSL sees it, and know whether the peer
// stopped or closed in the middle of a record (stall deadline, truncation error).
#pragma once

#include <cstddef>
#include <cstdint>

#include "blecrypt/bytes.hpp"
#include "blecrypt/result.hpp"

namespace blecrypt::channel {

// RFC 8446 §5.2: a TLSCiphertext fragment is at most 2^14 + 256 bytes.
inline constexpr std::size_t kMaxRecordFragment = (1u << 14) + 256;

class RecordFramer {
 public:
  // Consumes `in`; an error is sticky (the stream is no longer framed).
  Result<void> feed(ByteView in);
  bool mid_record() const noexcept { return header_have_ > 0 || body_left_ > 0; }
  std::size_t records() const noexcept { return records_; }
  // Bytes still missing from the record in progress (header bytes count once the header is done).
  std::size_t body_left() const noexcept { return body_left_; }
  std::size_t body_size() const noexcept { return body_size_; }
  std::uint8_t last_content_type() const noexcept { return header_[0]; }
  void reset() noexcept { *this = RecordFramer{}; }

 private:
  std::uint8_t header_[5] = {};
  std::size_t header_have_ = 0;
  std::size_t body_left_ = 0;
  std::size_t body_size_ = 0;
  std::size_t records_ = 0;
  std::error_code error_{};
};

}  // namespace blecrypt::channel
