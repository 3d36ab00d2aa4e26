#include "blecrypt/gateway/errors.hpp"

#include <string>

namespace blecrypt::gateway {
namespace {

class GatewayCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.gateway"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::config_syntax: return "gateway: the configuration is not valid YAML";
      case Errc::config_invalid: return "gateway: the configuration has mistakes";
      case Errc::file_unreadable: return "gateway: the file cannot be read (missing, not a regular file, or a symlink)";
      case Errc::file_not_private: return "gateway: the file is readable by group or others (chmod 600 it)";
      case Errc::file_too_large: return "gateway: the file is larger than allowed";
      case Errc::unknown_topic: return "gateway: no configured device has this command topic";
      case Errc::unknown_field: return "gateway: the device has no such field";
      case Errc::field_read_only: return "gateway: the field cannot be set";
      case Errc::payload_invalid: return "gateway: the payload is not a value of the field's type";
      case Errc::value_out_of_range: return "gateway: the value is out of the field's range";
      case Errc::queue_full: return "gateway: the device's command queue is full";
      case Errc::device_unavailable: return "gateway: the device is unavailable";
      case Errc::link_lost: return "gateway: the link dropped before the device answered (not retried)";
      case Errc::device_rejected: return "gateway: the device rejected the command";
      case Errc::device_disabled: return "gateway: the device is disabled";
    }
    return "gateway: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const GatewayCategory c;
  return c;
}
std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace blecrypt::gateway
