// Errors of the MQTT gateway's sans-IO part (src/gateway): configuration, command payloads,
// the per-device scheduler. Messages name what was wrong; they never carry secrets.
#pragma once

#include <system_error>

namespace blecrypt::gateway {

enum class Errc {
  config_syntax = 1,        // the YAML does not parse
  config_invalid,           // a key is missing, unknown or has a bad value (see the issue list)
  file_unreadable,          // a referenced file cannot be opened / is not a regular file
  file_not_private,         // a key or password file is readable by group or others
  file_too_large,           // a referenced file exceeds its size cap
  unknown_topic,            // a command topic that names no configured device
  unknown_field,            // the device has no such field
  field_read_only,          // the field cannot be set
  payload_invalid,          // the payload is not a value of the field's type
  value_out_of_range,       // a number outside the field's range
  queue_full,               // the device's command queue is full; the command was dropped
  device_unavailable,       // the device stayed down longer than the command may wait
  link_lost,                // the link dropped while the command was on its way (not replayed)
  device_rejected,          // the device answered with an exception / a different read-back
  device_disabled,          // the device is disabled in the configuration (reason logged)
};

const std::error_category& category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

}  // namespace blecrypt::gateway

template <>
struct std::is_error_code_enum<blecrypt::gateway::Errc> : std::true_type {};
