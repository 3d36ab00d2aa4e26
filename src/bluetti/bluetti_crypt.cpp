// Drop-in `BluettiCrypt` (official module's API and statuses 0..4) and the open licence format.
#include "blecrypt/bluetti/bluetti_crypt.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "blecrypt/version.hpp"

namespace blecrypt::bluetti {

// ---- licence ------------------------------------------------------------------------------

namespace {
std::string trim(std::string s) {
  const char* ws = " \t\r\n\xEF\xBB\xBF";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// A licence field as error messages quote it: printable ASCII (other bytes as \xNN, so the text
// is valid UTF-8 for Python and inert on a terminal), at most kShownField input bytes.
std::string shown(std::string_view field) {
  constexpr std::size_t kShownField = 40;
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < field.size() && i < kShownField; ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  if (field.size() > kShownField) out += "...";
  return out;
}
}  // namespace

Result<Licence> Licence::parse(std::string_view text, std::string* why) {
  auto refuse = [&](std::string msg) -> Result<Licence> {
    if (why) *why = std::move(msg);
    return Errc::licence_unreadable;
  };
  Licence l;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (first && line == "bluetti")
      return refuse(
          "licence file is in BLUETTI's encrypted layout (first line 'bluetti'), which blecrypt does not read. "
          "Write the open format instead: one IoT serial per line (decimal, the serial read from registers "
          "11006-11009, e.g. 2527001...), optionally ',label'; lines starting with '#' are comments");
    first = false;
    std::string field = line.substr(0, line.find(','));
    field = trim(field);
    if (field == "iot_serial" || field == "serial") continue;  // optional header row
    if (field.empty() || field.size() > 20 || field.find_first_not_of("0123456789") != std::string::npos)
      return refuse("licence line " + std::to_string(n) + ": '" + shown(field) + "' is not a decimal IoT serial");
    std::uint64_t sn = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), sn);
    if (ec != std::errc{} || end != field.data() + field.size())
      return refuse("licence line " + std::to_string(n) + ": '" + shown(field) + "' does not fit a 64-bit IoT serial");
    l.serials_.insert(sn);
  }
  return l;
}

Result<Licence> Licence::load(const std::string& path, std::string* why) {
  auto refuse = [&](Errc e, const std::string& msg) -> Result<Licence> {
    if (why) *why = "licence file '" + path + "': " + msg;
    return e;
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: a symbolic link is refused.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) return refuse(Errc::licence_not_regular, "is a symbolic link (give the file itself)");
    return refuse(Errc::licence_unreadable, std::string("could not open: ") + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return refuse(Errc::licence_unreadable, std::string("fstat failed: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse(Errc::licence_not_regular, "is not a regular file (a directory, FIFO or device)");
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > kMaxLicenceBytes)
    return refuse(Errc::licence_too_large, "is larger than " + std::to_string(kMaxLicenceBytes) + " bytes");
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refuse(Errc::licence_unreadable, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;  // shrank while reading: take what is there
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  auto l = parse(text, why);
  if (!l && why) *why = path + ": " + *why;
  return l;
}

// ---- BluettiCrypt -------------------------------------------------------------------------

BluettiCrypt::BluettiCrypt() : BluettiCrypt(Options{}) {}

BluettiCrypt::BluettiCrypt(std::string device_verify_key, std::string licence_path)
    : BluettiCrypt(Options{std::move(device_verify_key), std::move(licence_path), nullptr, nullptr}) {}

BluettiCrypt::BluettiCrypt(Options options) : opt_(std::move(options)) {
  if (opt_.backend == nullptr) opt_.backend = &crypto::default_backend();
  if (opt_.rng == nullptr) opt_.rng = &crypto::system_rng();
  Bytes key;
  if (!opt_.device_verify_key.empty()) {
    key.assign(opt_.device_verify_key.begin(), opt_.device_verify_key.end());
    if (key.size() != 64) key_error_ = "device verification key must be 64 bytes (raw X||Y), got " + std::to_string(key.size());
  } else if (const char* env = std::getenv(kDeviceKeyEnv); env != nullptr && *env != '\0') {
    auto parsed = from_hex(env);
    if (!parsed || parsed->size() != 64)
      key_error_ = std::string(kDeviceKeyEnv) + " must be 128 hex digits (raw X||Y of a P-256 key)";
    else
      key = std::move(*parsed);
  }
  auto cfg = key_error_.empty() ? ClientConfig::make(*opt_.backend, key) : Result<ClientConfig>(Errc::invalid_key);
  if (!cfg) {
    if (key_error_.empty()) key_error_ = "device verification key is not a valid P-256 point";
    cfg = ClientConfig::make(*opt_.backend, {});  // keep an engine; every handshake call reports key_error_
  }
  client_ = std::make_unique<Client>(std::move(*cfg), *opt_.rng);
  client_->on_link_up(TimePoint{});
  if (!key_error_.empty()) last_error_ = key_error_;
}

BluettiCrypt::~BluettiCrypt() = default;

// Printable ASCII only (licence lines and other peer-supplied bytes end up here), at most
// kMaxErrorText bytes: other bytes appear as \xNN, so Python never sees invalid UTF-8.
void BluettiCrypt::set_error(std::string_view what) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(what.size(), kMaxErrorText));
  for (const char ch : what) {
    const auto c = static_cast<unsigned char>(ch);
    const bool printable = c >= 0x20 && c < 0x7f;
    if (out.size() + (printable ? 1 : 4) > kMaxErrorText - 3) {
      out += "...";
      break;
    }
    if (printable) {
      out += ch;
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  last_error_ = std::move(out);
}

void BluettiCrypt::reset() {
  client_->on_link_up(TimePoint{});
  status_ = 0;
  iot_serial_.reset();
  last_error_.clear();
  if (!key_error_.empty()) set_error(key_error_);
}

std::string BluettiCrypt::get_software_version() { return std::string("V1.0.0-L blecrypt/") + kVersion; }

void BluettiCrypt::check_serial_reply(const Bytes& reply) {
  auto resp = modbus::parse_response(reply);
  if (!resp) {
    set_error("serial check: reply to the read of 11006 x4 is not a valid Modbus response: " + resp.error().message());
    return;
  }
  if (resp->exception || resp->function != modbus::read_holding || resp->values.size() != 4) {
    set_error("serial check: expected the 4 registers 11006-11009, got " +
              (resp->exception ? "exception " + std::to_string(*resp->exception) : std::to_string(resp->values.size()) + " registers"));
    return;
  }
  const auto sn = decode_serial(resp->values.data());
  iot_serial_ = sn;
  std::string why;
  const bool explicit_path = !opt_.licence_path.empty();
  const std::string path = explicit_path ? opt_.licence_path : kLicenceFileName;
  auto licence = Licence::load(path, &why);
  if (!licence) {
    // Absent means absent: a file (or link) that exists but cannot be read denies.
    std::error_code ec;
    const bool present = std::filesystem::exists(std::filesystem::symlink_status(path, ec));
    if (!explicit_path && !present) {  // no licence file: any serial, recorded
      status_ = 4;
      last_error_.clear();
      return;
    }
    set_error("check serial number fail:" + std::to_string(sn) + " (" + why + ")");
    return;
  }
  if (!licence->allows(sn)) {
    set_error("check serial number fail:" + std::to_string(sn) + " is not listed in " + path +
              " (list the IoT serial read from registers 11006-11009, not the device serial)");
    return;
  }
  status_ = 4;
  last_error_.clear();
}

// The official API returns "" on failure: nothing (not even std::bad_alloc) crosses it.
std::string BluettiCrypt::ble_crypt_link_handler(std::string data, int* status) {
  try {
    return handle(std::move(data), status);
  } catch (...) {
    set_error("link handler: internal error (out of memory?)");
    if (status) *status = status_;
    return {};
  }
}

std::string BluettiCrypt::handle(std::string data, int* status) {
  auto report = [&](std::string reply) {
    if (status) *status = status_;
    return reply;
  };
  if (!key_error_.empty()) {
    set_error(key_error_);
    return report({});
  }
  const ByteView in = as_bytes(data);
  if (client_->state() == ClientState::failed) client_->on_link_up(TimePoint{});  // a new attempt
  const bool was_up = client_->established();
  auto r = client_->feed(in, TimePoint{});
  if (was_up && client_->established()) {  // session traffic: the serial check reply, or stray data
    if (r) last_error_.clear();
    else set_error(r.error().message());
    // Each session record is one whole ADU: judge each on its own (an unsolicited record ahead of
    // the serial reply must not be glued to it).
    while (auto e = client_->poll_event()) {
      auto* d = std::get_if<events::Data>(&*e);
      if (d == nullptr || status_ != 3) continue;
      check_serial_reply(d->plaintext);
    }
    return report({});
  }
  if (was_up) {  // a new CHALLENGE: the link restarted, a new handshake (and serial check) follows
    status_ = 0;
    iot_serial_.reset();
  }
  std::string reply;
  while (auto tx = client_->poll_transmit()) reply.append(tx->begin(), tx->end());
  switch (client_->state()) {
    case ClientState::wait_challenge:
    case ClientState::wait_challenge_accepted: status_ = 0; break;
    case ClientState::wait_device_key: status_ = client_->receive_buffered() > 0 ? 1 : 0; break;
    case ClientState::wait_pubkey_accepted: status_ = 2; break;
    case ClientState::established: status_ = 3; break;
    case ClientState::failed: {
      const auto e = client_->failure();
      status_ = (e == make_error_code(Errc::device_signature_invalid) || e == make_error_code(Errc::peer_key_invalid)) ? 1
                : status_;
      break;
    }
    case ClientState::idle: break;
  }
  while (client_->poll_event()) {
  }
  if (!r) {
    set_error("link handler (" + std::string(client_state_name(client_->state())) + "): " + r.error().message());
    return report({});
  }
  last_error_.clear();
  return report(reply);
}

std::string BluettiCrypt::encrypt_data(std::string data) {
  try {
    if (data.empty()) {
      set_error("encrypt_data: empty input");
      return {};
    }
    auto rec = client_->seal(as_bytes(data));
    if (!rec) {
      set_error("encrypt_data: " + rec.error().message());
      return {};
    }
    last_error_.clear();
    return std::string(rec->begin(), rec->end());
  } catch (...) {
    set_error("encrypt_data: internal error (out of memory?)");
    return {};
  }
}

std::string BluettiCrypt::decrypt_data(std::string data) {
  try {
    if (!client_->established()) {
      set_error("decrypt_data: " + make_error_code(Errc::not_established).message());
      return {};
    }
    auto r = client_->feed(as_bytes(data), TimePoint{});
    std::string out;
    while (auto e = client_->poll_event())
      if (auto* d = std::get_if<events::Data>(&*e)) out.append(d->plaintext.begin(), d->plaintext.end());
    if (!client_->established()) {
      // A new CHALLENGE: the unit reconnected. Back to status 0; the challenge response is not
      // sent from here (the unit repeats an unanswered challenge and ble_crypt_link_handler answers).
      while (client_->poll_transmit()) {
      }
      status_ = 0;
      iot_serial_.reset();
      set_error("decrypt_data: the unit sent a new CHALLENGE (the link restarted); pass notifications to "
                "ble_crypt_link_handler until status 3/4 again");
      return {};
    }
    if (!r) {
      set_error("decrypt_data: " + r.error().message());
      return {};
    }
    if (out.empty()) {
      set_error("decrypt_data: record incomplete, waiting for more bytes");
      return {};
    }
    last_error_.clear();
    return out;
  } catch (...) {
    set_error("decrypt_data: internal error (out of memory?)");
    return {};
  }
}

}  // namespace blecrypt::bluetti
