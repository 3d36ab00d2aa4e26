#include "blecrypt/channel/record.hpp"

#include "blecrypt/channel/errors.hpp"

namespace blecrypt::channel {

Result<void> RecordFramer::feed(ByteView in) {
  if (error_) return error_;
  std::size_t i = 0;
  while (i < in.size()) {
    if (body_left_ > 0) {
      const std::size_t take = std::min(body_left_, in.size() - i);
      body_left_ -= take;
      i += take;
      if (body_left_ == 0) ++records_;
      continue;
    }
    header_[header_have_++] = in[i++];
    if (header_have_ == 1) {
      // ContentType: change_cipher_spec(20), alert(21), handshake(22), application_data(23).
      if (header_[0] < 20 || header_[0] > 23) return error_ = make_error_code(Errc::not_tls);
    } else if (header_have_ == 2) {
      if (header_[1] != 0x03) return error_ = make_error_code(Errc::not_tls);
    } else if (header_have_ == 3) {
      // legacy_record_version: 0x0301 is allowed in a first ClientHello, 0x0303 afterwards.
      if (header_[2] < 0x01 || header_[2] > 0x04) return error_ = make_error_code(Errc::not_tls);
    } else if (header_have_ == 5) {
      const std::size_t length = load_be16(header_ + 3);
      if (length > kMaxRecordFragment) return error_ = make_error_code(Errc::record_too_large);
      header_have_ = 0;
      body_size_ = length;
      body_left_ = length;
      if (length == 0) ++records_;
    }
  }
  return ok();
}

}  // namespace blecrypt::channel
