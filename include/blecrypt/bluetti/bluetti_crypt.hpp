// Drop-in replacement for the C++ API of BLUETTI's closed `bluetti_crypt` module (spec section 10),
// built on the sans-IO bluetti::Client. Same names, same statuses, same "empty string on failure"
// (no exception ever leaves these calls); `last_error()` says why (printable ASCII, at most
// kMaxErrorText bytes; cleared by the next call that succeeds).
//
//   BluettiCrypt c;                      // or BluettiCrypt(device_verify_key, licence_path)
//   int status = 0;
//   std::string reply = c.ble_crypt_link_handler(notification, &status);
//   if (!reply.empty()) write_ff02(reply);
//   if (status == 3) write_ff02(c.encrypt_data(read_11006_x4));   // its reply goes back into
//                                                                  // ble_crypt_link_handler -> 4
//   std::string plain = c.decrypt_data(notification);            // only at status 4
//
// At status 3 every notification still belongs to ble_crypt_link_handler (it carries the serial
// reply that moves the link to 4); decrypt_data is for the session traffic after status 4.
//
// Device verification key (64 bytes raw X||Y): constructor argument, else the environment variable
// BLECRYPT_BLUETTI_DEVICE_KEY (128 hex digits), else K2 (real units).
// Licence: `bluetti_device_licence.csv` in the working directory, or the path given. Open format
// (see docs/bluetti.md): one IoT serial per line, optional ",label", '#' comments. Without the
// default file every serial is accepted and recorded; a file in BLUETTI's closed layout (first
// line `bluetti`) is refused with an explanation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "blecrypt/bluetti/client.hpp"

namespace blecrypt::bluetti {

// The open licence format.
class Licence {
 public:
  // Errors: licence_unreadable (closed BLUETTI layout, bad line) with `why` filled.
  static Result<Licence> parse(std::string_view text, std::string* why = nullptr);
  // Reads at most kMaxLicenceBytes from a regular file (opened O_NOFOLLOW | O_NONBLOCK, checked
  // with fstat, so a directory, FIFO, device or symbolic link is refused at once). Errors:
  // licence_unreadable (missing, no permission, bad content), licence_not_regular,
  // licence_too_large; `why` names the path and the reason.
  static Result<Licence> load(const std::string& path, std::string* why = nullptr);
  bool allows(std::uint64_t iot_serial) const { return serials_.count(iot_serial) != 0; }
  const std::set<std::uint64_t>& serials() const noexcept { return serials_; }

 private:
  std::set<std::uint64_t> serials_;
};

inline constexpr std::size_t kMaxLicenceBytes = 4u << 20;  // 4 MiB: ~200 000 serials
inline constexpr std::size_t kMaxErrorText = 512;            // last_error() length cap
inline constexpr const char* kLicenceFileName = "bluetti_device_licence.csv";
inline constexpr const char* kDeviceKeyEnv = "BLECRYPT_BLUETTI_DEVICE_KEY";

class BluettiCrypt {
 public:
  struct Options {
    std::string device_verify_key;  // 64 raw bytes, or empty (environment, then K2)
    std::string licence_path;       // empty: ./bluetti_device_licence.csv (optional)
    const crypto::Backend* backend = nullptr;  // default backend
    crypto::Rng* rng = nullptr;                // system CSPRNG
  };

  BluettiCrypt();
  explicit BluettiCrypt(std::string device_verify_key, std::string licence_path = "");
  explicit BluettiCrypt(Options options);
  ~BluettiCrypt();

  std::string ble_crypt_link_handler(std::string data, int* status);
  std::string encrypt_data(std::string data);
  std::string decrypt_data(std::string data);
  std::string get_software_version();

  // Not in the official API.
  const std::string& last_error() const noexcept { return last_error_; }
  int status() const noexcept { return status_; }
  std::optional<std::uint64_t> iot_serial() const noexcept { return iot_serial_; }
  // Back to status 0 with every key wiped (call on disconnect).
  void reset();

 private:
  void set_error(std::string_view what);
  std::string handle(std::string data, int* status);
  // Judges the reply to the IoT serial read: status 4, or last_error() says why not.
  void check_serial_reply(const Bytes& reply);
  Options opt_;
  std::string key_error_;
  std::unique_ptr<Client> client_;
  int status_ = 0;
  std::string last_error_;
  std::optional<std::uint64_t> iot_serial_;
};

}  // namespace blecrypt::bluetti

#ifndef BLECRYPT_NO_GLOBAL_BLUETTICRYPT
// The official module's class name at global scope, for drop-in source compatibility.
using BluettiCrypt = blecrypt::bluetti::BluettiCrypt;
#endif
