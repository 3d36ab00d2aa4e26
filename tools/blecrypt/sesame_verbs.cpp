// `blecrypt sesame register|lock|unlock|toggle|status|history` (sesame_verbs.hpp): one connection
// per command, over BlueZ (ADDRESS, or the lock's UUID found by a short discovery) or the emulator
// (--emulator MODEL), both through link_cli's open_link + link::Session.
//
// The device secret comes from a key file (written by `register`, 32 hex digits, or a share URI)
// or from --qr (the app's share-key URI). Key files are read bounded (O_NOFOLLOW, fstat, regular
// file, size cap) and refused when group/others may read or write them; `register` creates its
// file O_EXCL|O_NOFOLLOW with mode 0600 before it talks to the lock, so a registration is never
// lost to a file that cannot be written, and writes the secret into it the moment the lock
// accepts it (whatever fails afterwards, the key is kept).
#include "sesame_verbs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "blecrypt/sesame/advertisement.hpp"
#include "blecrypt/sesame/client.hpp"
#include "blecrypt/sesame/device.hpp"
#include "blecrypt/sesame/os2.hpp"
#include "blecrypt/sesame/share_uri.hpp"
#include "cli.hpp"
#include "link_cli.hpp"
#ifdef BLECRYPT_HAVE_BLUEZ
#include "blecrypt/link/bluez/bluez.hpp"
#endif

namespace blecrypt::cli {
namespace {

using namespace blecrypt::sesame;

constexpr std::size_t kKeyFileCap = 4096;  // a key file is 33 bytes; a share URI a few hundred
constexpr const char* kDefaultTag = "blecrypt";

enum class Verb { reg, lock, unlock, toggle, status, history };

const char* verb_name(Verb v) {
  switch (v) {
    case Verb::reg: return "register";
    case Verb::lock: return "lock";
    case Verb::unlock: return "unlock";
    case Verb::toggle: return "toggle";
    case Verb::status: return "status";
    case Verb::history: return "history";
  }
  return "?";
}

struct VerbOptions {
  LinkCli link;
  std::string key_file;
  std::string qr;
  std::string tag = kDefaultTag;
  bool json = false;
  bool force = false;
  bool show_secret = false;
};

// What a key file or a share URI gives: the secret, and the UUID/model when the URI names them.
// OS2 keys (SESAME 3/4, bot 1, Bike 1) also carry what the OS2 login needs (`os2`).
struct KeyMaterial {
  SecretBytes secret;
  std::optional<Uuid> uuid;
  std::optional<std::uint16_t> model;
  std::optional<os2::ClientConfig2> os2;
};

// OS2 models this tool drives (model 1, the WiFi Module 2, is no lock).
bool drivable_os2(std::uint16_t m) { return m == model::sesame3 || m == model::sesame4 || m == model::bot1 || m == model::bike1; }

// ---- key files ----------------------------------------------------------------------------------

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

KeyMaterial key_from_uri(std::string_view uri, const std::string& where) {
  auto key = parse_share_uri(uri);
  if (!key) throw UserError(where + ": " + key.error().message());
  if (key->os2 ? !drivable_os2(key->model) : !is_os3_lock(key->model))
    throw UserError(where + ": the key is for a " + model_name(key->model) +
                    ", not a lock this tool drives (OS3: SESAME 5 / 5 Pro / 5 US; OS2: SESAME 3 / 4, bot 1, Bike 1)");
  if (key->secret.size() != kSecretSize) throw UserError(where + ": the key holds no 16-byte device secret");
  KeyMaterial k;
  if (key->os2) {
    auto cfg = os2::ClientConfig2::from_share_key(*key);
    if (!cfg) throw UserError(where + ": " + cfg.error().message());
    k.os2 = std::move(*cfg);
  }
  k.secret = std::move(key->secret);
  k.uuid = key->uuid;
  k.model = key->model;
  return k;
}

// The text of a key file: 32 hex digits (what `register` writes) or a share URI, with surrounding
// white space. Nothing of it is ever echoed into a message.
//
// A key file may start with a line naming the protocol generation, "generation os2" or
// "generation os3" (what `sesame qr-import --key-file` writes); the key must then be of that
// generation. Without it: a share URI says its generation by its layout, 32 hex digits are OS3.
KeyMaterial key_from_text(std::string_view text, const std::string& path) {
  auto trim = [](std::string_view& t) {
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  };
  trim(text);
  std::optional<bool> want_os2;
  if (text.rfind("generation", 0) == 0) {
    const auto nl = text.find('\n');
    std::string_view head = text.substr(0, nl);
    trim(head);
    if (head == "generation os2") want_os2 = true;
    else if (head == "generation os3") want_os2 = false;
    else throw UserError("key file " + path + ": the first line must be 'generation os2' or 'generation os3'");
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    trim(text);
  }
  if (text.rfind("ssm://", 0) == 0) {
    KeyMaterial k = key_from_uri(text, "key file " + path);
    if (want_os2 && *want_os2 != k.os2.has_value())
      throw UserError("key file " + path + ": says generation " + (*want_os2 ? "os2" : "os3") + " but holds an " +
                      (k.os2 ? "OS2" : "OS3") + " key");
    return k;
  }
  if (want_os2 && *want_os2)
    throw UserError("key file " + path + ": generation os2 needs the share URI (an OS2 login needs its public key and key index)");
  if (text.size() != 2 * kSecretSize)
    throw UserError("key file " + path + ": expected 32 hex digits (the device secret) or an ssm:// share URI");
  KeyMaterial k;
  k.secret = SecretBytes(kSecretSize);
  for (std::size_t i = 0; i < kSecretSize; ++i) {
    const int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) throw UserError("key file " + path + ": not hex digits");
    k.secret[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return k;
}

KeyMaterial read_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ELOOP) throw UserError("key file " + path + " is a symbolic link; give the file itself");
    throw UserError("key file " + path + ": " + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw UserError("key file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw UserError("key file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    throw UserError("key file " + path + " is accessible by group/others (mode " + mode_text(st.st_mode) +
                    "); it holds the lock's secret: run chmod 600 " + path);
  if (static_cast<std::size_t>(st.st_size) > kKeyFileCap)
    throw UserError("key file " + path + " is larger than " + std::to_string(kKeyFileCap) + " bytes");
  SecretBytes buf(kKeyFileCap + 1);
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw UserError("key file " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > kKeyFileCap) throw UserError("key file " + path + " is larger than " + std::to_string(kKeyFileCap) + " bytes");
  return key_from_text(std::string_view(reinterpret_cast<const char*>(buf.data()), got), path);
}

// The file `register` writes: created (O_EXCL|O_NOFOLLOW, 0600) before the lock is touched. With
// --force it is a temporary file next to FILE, renamed over FILE once the secret is in it.
class NewKeyFile {
 public:
  NewKeyFile(std::string path, bool force) : path_(std::move(path)) {
    if (path_.empty() || path_.back() == '/') throw UserError("--key-file needs a file name, not a directory: " + path_);
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
      if (!force) throw UserError("key file " + path_ + " already exists; refusing to overwrite it (--force replaces it)");
      if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        throw UserError("--key-file " + path_ + " exists and is not a regular file; --force only replaces a file");
    }
    create_ = force ? path_ + ".tmp-" + std::to_string(::getpid()) : path_;
    fd_ = ::open(create_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      if (errno == EEXIST && !force)
        throw UserError("key file " + path_ + " already exists; refusing to overwrite it (--force replaces it)");
      throw UserError("cannot create key file " + create_ + ": " + std::strerror(errno));
    }
    ::fchmod(fd_, 0600);  // whatever the umask
  }
  ~NewKeyFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(create_.c_str());  // registration failed: nothing to keep
    }
  }
  NewKeyFile(const NewKeyFile&) = delete;
  NewKeyFile& operator=(const NewKeyFile&) = delete;

  // Writes the secret as hex + newline; throws DeviceError naming where the secret is when the
  // final rename fails (the lock is registered by then: the key must not be lost).
  void commit(const SecretBytes& secret) { commit_text(to_hex(secret.view()) + "\n"); }
  void commit_text(std::string text) {
    std::size_t done = 0;
    bool ok = true;
    while (done < text.size()) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    secure_wipe(text.data(), text.size());
    ok = ::fsync(fd_) == 0 && ok;
    ok = ::close(fd_) == 0 && ok;
    fd_ = -1;
    if (!ok) throw DeviceError("registered, but writing the key file " + create_ + " failed: " + std::strerror(errno));
    if (create_ != path_ && ::rename(create_.c_str(), path_.c_str()) != 0)
      throw DeviceError("registered; the key is in " + create_ + " (renaming it to " + path_ +
                        " failed: " + std::strerror(errno) + ")");
  }

 private:
  std::string path_, create_;
  int fd_ = -1;
};

// ---- output -------------------------------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);  // UTF-8 passes through (tags are UTF-8 text)
    }
  }
  return out + "\"";
}

std::string state_word(LockState::Position p) {
  return p == LockState::Position::between ? "between" : position_name(p);
}

std::string volts_text(double v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string utc_text(std::uint32_t unix_time) {
  const std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string status_json(const MechStatus& s) {
  std::ostringstream o;
  o << "\"state\":" << json_string(state_word(position_from_status(s))) << ",\"battery_percent\":" << s.battery_percent()
    << ",\"battery_volts\":" << volts_text(s.volts()) << ",\"position\":" << s.position
    << ",\"target\":" << (s.target == kNoTarget ? std::string("null") : std::to_string(s.target))
    << ",\"low_battery\":" << ((s.flags & MechStatus::low_battery) ? "true" : "false");
  return o.str();
}

std::string status_text(const MechStatus& s) {
  std::ostringstream o;
  o << state_word(position_from_status(s)) << ", angle " << s.position;
  if (s.target != kNoTarget) o << " -> " << s.target;
  o << ", battery " << s.battery_percent() << " % (" << volts_text(s.volts()) << " V)";
  if (s.flags & MechStatus::low_battery) o << ", LOW BATTERY";
  return o.str();
}

std::string record_json(const HistoryRecord& r) {
  std::ostringstream o;
  o << "{\"id\":" << r.id << ",\"type\":" << json_string(r.type_name()) << ",\"type_code\":" << int{r.type}
    << ",\"time\":" << r.unix_time << ",\"time_utc\":" << json_string(utc_text(r.unix_time))
    << ",\"tag\":" << json_string(r.tag.describe()) << "}";
  return o.str();
}

// ---- one connection -----------------------------------------------------------------------------

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::uint16_t> emulator_model(std::string m) {
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (m == "5") return model::sesame5;
  if (m == "5pro") return model::sesame5_pro;
  if (m == "5us") return model::sesame5_us;
  return std::nullopt;
}

std::optional<std::uint16_t> emulator_model2(std::string m) {
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (m == "3") return model::sesame3;
  if (m == "4") return model::sesame4;
  if (m == "bot") return model::bot1;
  if (m == "bike") return model::bike1;
  return std::nullopt;
}

// The emulated lock's UUID when nothing names one (the one `sesame demo` uses).
constexpr Uuid kEmulatorUuid{0x8c, 0xbe, 0x3f, 0x10, 0x6b, 0x4c, 0x4d, 0x1e, 0x9f, 0x7a, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f};

// Everything the lock said during the command, in order.
struct Outcome {
  std::vector<std::string> pushes;           // each push as a JSON object: mech status, other publishes
  std::optional<events::CommandResult> result;
  std::vector<HistoryRecord> records;
  bool history_done = false;
  std::optional<SecretBytes> registered;
  std::string failure;                       // why the command cannot succeed; empty while fine
  std::error_code link_error;                // the link loss / transport error that came first
  bool failure_is_link = false;              // (exit 3 when it says Bluetooth is unavailable)
  std::uint8_t command_item = 0;
  bool echo_pushes = false;                  // text mode: print pushes as they come
  bool link_up = false;                      // connected with notifications on (else: "connecting")
  std::size_t refused = 0;                   // notifications the client refused, and the last why
  std::error_code last_refused;
};

class Runner {
 public:
  Runner(Verb verb, const VerbOptions& o, std::optional<KeyMaterial> key)
      : verb_(verb), o_(o), key_(std::move(key)) {}

  void run() {
    auto& rng = crypto::system_rng();
    const bool reg = verb_ == Verb::reg;
    if (reg) out_file_.emplace(o_.key_file, o_.force);

    auto factory = [&](const std::string& m) -> std::unique_ptr<EngineIo> {
      auto number = emulator_model(m);
      if (!number && emulator_model2(m))
        throw UserError("--emulator " + m + " is an OS2 device; its key must be an OS2 share key (--qr or a key file from qr-import)");
      if (!number) throw UserError("unknown SESAME model '" + m + "' (emulated: 5, 5pro, 5us; OS2: 3, 4, bot, bike)");
      DeviceConfig dc;
      dc.model = *number;
      dc.uuid = key_ && key_->uuid ? *key_->uuid : kEmulatorUuid;
      if (!reg && key_) dc.secret = key_->secret;  // the emulated lock is the one this key opens
      dc.unix_time_offset = unix_now();
      return std::make_unique<OwnedEngineIo<Device>>(Device(std::move(dc), rng));
    };
    auto link = open_link(o_.link, kGattProfile, factory);

    ClientConfig cc;
    if (!reg) cc.secret = key_->secret;
    cc.unix_time_offset =
        unix_now() - std::chrono::duration_cast<std::chrono::seconds>(link->now().time_since_epoch()).count();
    Client client(std::move(cc), rng);
    link::Session session(client, link->link(), kGattProfile);
    session.set_event_handler([&](auto&& e) { on_event(std::move(e), *link); });

    link->start();
    const bool up = link->run_until(session, [&] { return client.ready() || !out_.failure.empty(); });
    if (!up || !out_.failure.empty()) fail(*link, !out_.link_up ? "connecting" : reg ? "registration" : "login");

    const TimePoint now = link->now();
    std::optional<LockState::Position> start = client.lock_state().position;
    Result<void> r = ok();
    const HistoryTag tag = HistoryTag::from_text(o_.tag);
    switch (verb_) {
      case Verb::reg:
      case Verb::status:
        break;
      case Verb::lock:
        out_.command_item = item::lock;
        r = client.lock(tag, now);
        break;
      case Verb::unlock:
        out_.command_item = item::unlock;
        r = client.unlock(tag, now);
        break;
      case Verb::toggle:
        out_.command_item = item::toggle;
        r = client.toggle(tag, now);
        break;
      case Verb::history:
        r = client.drain_history(now);
        break;
    }
    if (!r) throw DeviceError(std::string(verb_name(verb_)) + ": " + r.error().message());
    session.flush(now);
    out_.echo_pushes = !o_.json && out_.command_item != 0;

    auto done = [&]() -> bool {
      if (!out_.failure.empty()) return true;
      const auto& st = client.lock_state();
      switch (verb_) {
        case Verb::reg:
          return out_.registered.has_value() && st.status.has_value();
        case Verb::status:
          return st.status.has_value();
        case Verb::history:
          return out_.history_done;
        case Verb::lock:
        case Verb::unlock:
        case Verb::toggle: {
          if (!out_.result) return false;
          if (st.position == LockState::Position::jammed) return true;
          if (verb_ == Verb::lock) return st.position == LockState::Position::locked;
          if (verb_ == Verb::unlock) return st.position == LockState::Position::unlocked;
          const bool rest = st.position == LockState::Position::locked || st.position == LockState::Position::unlocked;
          return rest && st.position != start;
        }
      }
      return true;
    };
    const char* what = verb_ == Verb::reg || verb_ == Verb::status ? "waiting for the lock's status"
                       : verb_ == Verb::history                   ? "reading the history"
                                                                  : "waiting for the lock to finish moving";
    if (!link->run_until(session, done) || !out_.failure.empty()) fail(*link, what);
    const auto& st = client.lock_state();
    if (out_.command_item != 0 && st.position == LockState::Position::jammed)
      throw DeviceError(std::string(verb_name(verb_)) + ": the lock reports it is jammed (" +
                        (st.status ? status_text(*st.status) : std::string("no status")) + ")");

    link->stop();
    print(client);
  }

 private:
  template <typename Ev>
  void on_event(Ev&& ev, OpenLink& link) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, link::events::LinkUp>) {
            out_.link_up = true;
          } else if constexpr (std::is_same_v<T, link::events::LinkDown>) {
            link.note_link_error(x.why);
            set_link_failure(x.why);
          } else if constexpr (std::is_same_v<T, link::events::TransportError>) {
            link.note_link_error(x.error);
            set_link_failure(x.error);
          } else if constexpr (std::is_same_v<T, link::events::InputRefused>) {
            ++out_.refused;  // the engine reports what it ends the session for as its own event
            out_.last_refused = x.error;
          } else if constexpr (std::is_same_v<T, Client::Event>) {
            on_client_event(x);
          }
        },
        ev);
  }

  void on_client_event(Client::Event& ce) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, events::Registered>) {
            out_.registered = x.secret;
            save_key();  // the lock is owned from now on: keep the key whatever happens next
          } else if constexpr (std::is_same_v<T, events::MechStatus>) {
            out_.pushes.push_back("{\"event\":\"status\"," + status_json(x.status) + "}");
            if (out_.echo_pushes) std::cout << "  " << status_text(x.status) << "\n";
          } else if constexpr (std::is_same_v<T, events::Publish>) {
            // Any other push (e.g. 202 BATTERY_VOLTAGE, whose payload no source documents): raw.
            out_.pushes.push_back("{\"event\":\"publish\",\"item\":" + std::to_string(x.item) +
                                  ",\"name\":" + json_string(item_name(x.item)) + ",\"payload\":\"" + to_hex(x.payload) + "\"}");
            if (out_.echo_pushes) std::cout << "  " << item_name(x.item) << ": " << to_hex(x.payload) << "\n";
          } else if constexpr (std::is_same_v<T, events::CommandResult>) {
            if (x.item != out_.command_item || out_.command_item == 0) return;
            out_.result = x;
            if (x.result != ResultCode::success)
              set_failure(item_name(x.item) + " refused by the lock: " + result_name(x.result));
            else if (out_.echo_pushes)
              std::cout << verb_name(verb_) << ": " << result_name(x.result) << "\n";
          } else if constexpr (std::is_same_v<T, events::History>) {
            out_.records.push_back(x.record);
          } else if constexpr (std::is_same_v<T, events::HistoryEmpty>) {
            out_.history_done = true;
          } else if constexpr (std::is_same_v<T, events::RequestFailed>) {
            set_failure(item_name(x.item) + " failed: " + reason(x.error));
          } else if constexpr (std::is_same_v<T, events::SessionEnded>) {
            set_failure(reason(x.error));
          }
        },
        ce);
  }

  std::string reason(std::error_code e) const {
    std::string why = e.message();
    if (e == Errc::timeout || e == Errc::no_answer) why += " (the lock did not answer)";
    if (e == Errc::login_rejected || e == Errc::session_key_mismatch)
      why += " (wrong key: is " + std::string(o_.qr.empty() ? "the key file " + o_.key_file : "the --qr key") +
             " this lock's?)";
    if (e == Errc::already_registered)
      why += " (the lock has an owner: use its key with --key-file or --qr, or reset it in the app first)";
    return why;
  }

  void set_failure(std::string why) {
    if (out_.failure.empty()) out_.failure = std::move(why);
  }
  void set_link_failure(std::error_code e) {
    if (!out_.failure.empty()) return;
    out_.failure = e.message();
    out_.link_error = e;
    out_.failure_is_link = true;
  }

  // Writes the new secret to the key file once. The lock has accepted it, so it must not be lost:
  // when the file cannot be written, the secret goes to stderr as a last resort.
  void save_key() {
    if (!out_file_ || !out_.registered || key_saved_) return;
    key_saved_ = true;
    try {
      out_file_->commit(*out_.registered);
    } catch (const DeviceError&) {
      std::cerr << "blecrypt: warning: the lock is registered but its key could not be saved; keep this secret "
                   "safe (a key file holding it in one line works with --key-file): "
                << to_hex(out_.registered->view()) << "\n";
      throw;
    }
  }

  [[noreturn]] void fail(OpenLink& link, const std::string& stage) {
    const std::string saved = key_saved_ ? "the lock is registered and its key is in " + o_.key_file + ", but " : "";
    // The lock may have taken the registration although its answer (its public key, without which
    // the secret cannot be computed) never arrived: say what to do if it did.
    const std::string unsure = verb_ == Verb::reg && !key_saved_ && out_.link_up && out_.failure.find("has an owner") == std::string::npos
                                   ? "; if `register` now reports that the lock has an owner, it accepted a registration "
                                     "whose answer was lost: reset the lock (see its manual) and register again"
                                   : "";
    const std::string what = saved + verb_name(verb_) + ": " + stage;
    if (out_.failure_is_link) throw_link_error(out_.link_error, what + (out_.link_up ? ": the link dropped" : "") + unsure);
    if (!out_.failure.empty()) throw DeviceError(what + ": " + out_.failure + unsure);
    std::string why = saved + verb_name(verb_) + ": " + link.why_not(stage);
    if (out_.refused)
      why += " (" + std::to_string(out_.refused) + " notification(s) refused, the last: " + out_.last_refused.message() + ")";
    throw DeviceError(why + unsure);
  }

  std::string events_json() const {
    std::string s = "[";
    for (std::size_t i = 0; i < out_.pushes.size(); ++i) s += (i ? "," : "") + out_.pushes[i];
    return s + "]";
  }

  void print(const Client& client) const {
    const auto& st = client.lock_state();
    std::ostream& o = std::cout;
    if (o_.json) {
      o << "{\"command\":" << json_string(verb_name(verb_));
      if (out_.result) o << ",\"result\":" << json_string(result_name(out_.result->result));
      if (st.status) o << "," << status_json(*st.status);
      if (st.setting)
        o << ",\"lock_position\":" << st.setting->lock_position << ",\"unlock_position\":" << st.setting->unlock_position
          << ",\"auto_lock_seconds\":" << st.setting->auto_lock_seconds;
      if (verb_ == Verb::reg) {
        o << ",\"key_file\":" << json_string(o_.key_file);
        if (o_.show_secret) o << ",\"secret\":" << json_string(to_hex(out_.registered->view()));
      }
      if (verb_ == Verb::history) {
        o << ",\"records\":[";
        for (std::size_t i = 0; i < out_.records.size(); ++i) o << (i ? "," : "") << record_json(out_.records[i]);
        o << "]";
      }
      o << ",\"events\":" << events_json() << "}\n";
      return;
    }
    switch (verb_) {
      case Verb::reg:
        o << "registered; device secret written to " << o_.key_file << " (mode 0600)\n";
        if (o_.show_secret) o << "secret: " << to_hex(out_.registered->view()) << "\n";
        if (st.status) o << "state: " << status_text(*st.status) << "\n";
        break;
      case Verb::lock:
      case Verb::unlock:
      case Verb::toggle:
        o << (st.status ? status_text(*st.status) : state_word(st.position)) << "\n";
        break;
      case Verb::status:
        o << "state:    " << state_word(st.position) << "\n";
        if (st.status) {
          o << "battery:  " << st.status->battery_percent() << " % (" << volts_text(st.status->volts()) << " V)"
            << ((st.status->flags & MechStatus::low_battery) ? ", LOW" : "") << "\n";
          o << "position: " << st.status->position;
          if (st.status->target != kNoTarget) o << " (moving to " << st.status->target << ")";
          o << "\n";
        }
        if (st.setting)
          o << "setting:  lock at " << st.setting->lock_position << ", unlock at " << st.setting->unlock_position
            << ", auto-lock " << (st.setting->auto_lock_seconds ? std::to_string(st.setting->auto_lock_seconds) + " s" : "off")
            << "\n";
        break;
      case Verb::history:
        if (out_.records.empty()) o << "no history records\n";
        for (const auto& r : out_.records) {
          const auto tag = r.tag.describe();
          o << utc_text(r.unix_time) << "  #" << r.id << "  " << r.type_name()
            << (tag.empty() ? "" : "  \"" + escape_control(tag) + "\"") << "\n";
        }
        break;
    }
  }

  Verb verb_;
  const VerbOptions& o_;
  std::optional<KeyMaterial> key_;
  Outcome out_;
  std::optional<NewKeyFile> out_file_;  // register: where the new secret goes
  bool key_saved_ = false;
};

// ---- OS2 (SESAME 3 / 4, bot 1, Bike 1) -------------------------------------------------------------

std::string state2(const os2::MechStatus2& s) {
  return s.locked() ? "locked" : s.unlocked() ? "unlocked" : "between";
}

std::string status2_json(const os2::MechStatus2& s, std::uint16_t m) {
  std::ostringstream o;
  o << "\"state\":" << json_string(state2(s)) << ",\"battery_percent\":" << s.battery_percent(m)
    << ",\"battery_volts\":" << volts_text(s.volts_for(m));
  if (m == model::bot1) {
    o << ",\"motor\":" << int{s.motor_status()};
  } else {
    o << ",\"position\":" << s.position << ",\"target\":" << (s.target == kNoTarget ? std::string("null") : std::to_string(s.target));
  }
  o << ",\"low_battery\":" << (s.battery_critical() ? "true" : "false");
  return o.str();
}

std::string status2_text(const os2::MechStatus2& s, std::uint16_t m) {
  std::ostringstream o;
  o << state2(s);
  if (m != model::bot1) o << ", angle " << s.position;
  o << ", battery " << s.battery_percent(m) << " % (" << volts_text(s.volts_for(m)) << " V)";
  if (s.battery_critical()) o << ", LOW BATTERY";
  return o.str();
}

std::string record2_json(const os2::HistoryRecord2& r) {
  const auto secs = static_cast<std::uint32_t>(r.unix_ms / 1000);
  std::ostringstream o;
  o << "{\"id\":" << r.id << ",\"type\":" << json_string(history_type_name(r.type)) << ",\"type_code\":" << int{r.type}
    << ",\"time\":" << secs << ",\"time_utc\":" << json_string(utc_text(secs)) << ",\"tag\":" << json_string(r.tag) << "}";
  return o.str();
}

// One OS2 command over one connection: login with the share key, then lock / unlock / toggle /
// status / history (drained with HISTORY flag 0). Same link code as the OS3 runner.
void run_os2(Verb verb, const VerbOptions& o, KeyMaterial key) {
  if (o.tag.size() > os2::kTag2MaxText)
    throw UserError("--tag: at most " + std::to_string(os2::kTag2MaxText) + " bytes on OS2 devices (the lock keeps no more)");
  auto& rng = crypto::system_rng();
  const std::uint16_t key_model = key.os2->model;
  const std::string device_name = model_name(key_model);
  auto factory = [&](const std::string& m) -> std::unique_ptr<EngineIo> {
    auto number = emulator_model2(m);
    if (!number)
      throw UserError("the key is for a " + device_name + " (OS2): --emulator must be 3, 4, bot or bike, not '" + m + "'");
    if (*number != key_model)
      throw UserError("--emulator " + m + " is a " + model_name(*number) + ", but the key is for a " + device_name);
    os2::DeviceConfig2 dc;
    dc.model = *number;
    dc.uuid = key.uuid ? *key.uuid : kEmulatorUuid;
    dc.secret = key.secret;
    dc.key_index = key.os2->key_index;
    dc.private_key = os2::emulator_private_key(key.secret.view());
    dc.unix_time_offset = unix_now();
    os2::Device2 dev(std::move(dc), rng);
    if (dev.public_key() != key.os2->device_public)
      throw UserError("this OS2 key was not made by blecrypt's emulator (a real device's private key cannot be emulated); "
                      "`blecrypt sesame emulator-key " + m + "` prints one that is");
    return std::make_unique<OwnedEngineIo<os2::Device2>>(std::move(dev));
  };
  auto link = open_link(o.link, kGattProfile, factory);
  os2::Client2 client(std::move(*key.os2), rng);
  link::Session session(client, link->link(), kGattProfile);

  std::string failure;
  bool link_up = false, failure_is_link = false, answered = false;
  std::error_code link_error;
  std::optional<os2::events2::CommandResult> result;
  std::vector<os2::HistoryRecord2> records;
  std::vector<std::string> pushes;
  std::uint8_t command_item = 0;
  auto set_failure = [&](std::string why) {
    if (failure.empty()) failure = std::move(why);
  };
  auto reason = [&](std::error_code e) {
    std::string why = e.message();
    if (e == Errc::timeout) why += " (the device did not answer)";
    if (e == Errc::login_rejected || e == Errc::authentication_failed)
      why += " (wrong key: is " + std::string(o.qr.empty() ? "the key file " + o.key_file : "the --qr key") + " this device's?)";
    return why;
  };
  session.set_event_handler([&](auto&& ev) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, link::events::LinkUp>) {
            link_up = true;
          } else if constexpr (std::is_same_v<T, link::events::LinkDown> || std::is_same_v<T, link::events::TransportError>) {
            std::error_code e;
            if constexpr (std::is_same_v<T, link::events::LinkDown>) e = x.why;
            else e = x.error;
            link->note_link_error(e);
            if (failure.empty()) {
              failure = e.message();
              link_error = e;
              failure_is_link = true;
            }
          } else if constexpr (std::is_same_v<T, os2::Client2::Event>) {
            std::visit(
                [&](auto& y) {
                  using U = std::decay_t<decltype(y)>;
                  if constexpr (std::is_same_v<U, os2::events2::Status>) {
                    pushes.push_back("{\"event\":\"status\"," + status2_json(y.status, key_model) + "}");
                    if (!o.json && command_item != 0) std::cout << "  " << status2_text(y.status, key_model) << "\n";
                  } else if constexpr (std::is_same_v<U, os2::events2::Publish>) {
                    pushes.push_back("{\"event\":\"publish\",\"item\":" + std::to_string(y.item) + ",\"name\":" +
                                     json_string(item_name(y.item)) + ",\"payload\":\"" + to_hex(y.payload) + "\"}");
                  } else if constexpr (std::is_same_v<U, os2::events2::CommandResult>) {
                    if (y.item == item::history) answered = true;
                    if (y.item != command_item || command_item == 0) return;
                    result = y;
                    if (y.result != ResultCode::success)
                      set_failure(item_name(y.item) + " refused by the " + device_name + ": " + result_name(y.result));
                  } else if constexpr (std::is_same_v<U, os2::events2::History>) {
                    records.push_back(y.record);
                  } else if constexpr (std::is_same_v<U, os2::events2::RequestFailed>) {
                    set_failure(item_name(y.item) + " failed: " + reason(y.error));
                  } else if constexpr (std::is_same_v<U, os2::events2::SessionEnded>) {
                    set_failure(reason(y.error));
                  }
                },
                x);
          }
        },
        ev);
  });
  auto fail = [&](const std::string& stage) {
    const std::string what = std::string(verb_name(verb)) + ": " + stage;
    if (failure_is_link) throw_link_error(link_error, what + (link_up ? ": the link dropped" : ""));
    if (!failure.empty()) throw DeviceError(what + ": " + failure);
    throw DeviceError(std::string(verb_name(verb)) + ": " + link->why_not(stage));
  };

  link->start();
  if (!link->run_until(session, [&] { return client.ready() || !failure.empty(); }) || !failure.empty())
    fail(link_up ? "login" : "connecting");
  const TimePoint now = link->now();
  const HistoryTag tag = HistoryTag::from_text(o.tag);
  const bool was_locked = client.status() && client.status()->locked();
  Result<void> r = ok();
  switch (verb) {
    case Verb::reg:
    case Verb::status:
      break;
    case Verb::lock:
      command_item = item::lock;
      r = client.lock(tag, now);
      break;
    case Verb::unlock:
      command_item = item::unlock;
      r = client.unlock(tag, now);
      break;
    case Verb::toggle:
      command_item = was_locked ? item::unlock : item::lock;
      r = client.toggle(tag, now);
      break;
    case Verb::history:
      r = client.drain_history(now);
      break;
  }
  if (!r) {
    if (r.error() == Errc::not_supported_by_model)
      throw UserError(std::string(verb_name(verb)) + ": a " + device_name + " has no such command");
    throw DeviceError(std::string(verb_name(verb)) + ": " + r.error().message());
  }
  session.flush(now);
  auto done = [&]() -> bool {
    if (!failure.empty()) return true;
    const auto& st = client.status();
    switch (verb) {
      case Verb::reg:
      case Verb::status:
        return st.has_value();
      case Verb::history:
        return answered && !client.draining();
      case Verb::lock:
      case Verb::unlock:
      case Verb::toggle:
        if (!result || !st) return false;
        return command_item == item::lock ? st->locked() : st->unlocked();
    }
    return true;
  };
  const char* what = verb == Verb::history ? "reading the history" : verb == Verb::status ? "the status" : "waiting for the device to finish moving";
  if (!link->run_until(session, done) || !failure.empty()) fail(what);
  const std::optional<os2::MechStatus2> st = client.status();  // the link going down resets the client
  const std::optional<os2::MechSetting2> setting = client.setting();
  link->stop();

  std::ostream& out = std::cout;
  if (o.json) {
    out << "{\"command\":" << json_string(verb_name(verb)) << ",\"generation\":\"os2\",\"model\":" << json_string(device_name);
    if (result) out << ",\"result\":" << json_string(result_name(result->result));
    if (st) out << "," << status2_json(*st, key_model);
    if (verb == Verb::history) {
      out << ",\"records\":[";
      for (std::size_t i = 0; i < records.size(); ++i) out << (i ? "," : "") << record2_json(records[i]);
      out << "]";
    }
    out << ",\"events\":[";
    for (std::size_t i = 0; i < pushes.size(); ++i) out << (i ? "," : "") << pushes[i];
    out << "]}\n";
    return;
  }
  switch (verb) {
    case Verb::reg:
      break;
    case Verb::lock:
    case Verb::unlock:
    case Verb::toggle:
      out << (st ? status2_text(*st, key_model) : std::string("no status")) << "\n";
      break;
    case Verb::status:
      out << "model:    " << device_name << " (OS2)\n";
      if (st) {
        out << "state:    " << state2(*st) << "\n";
        out << "battery:  " << st->battery_percent(key_model) << " % (" << volts_text(st->volts_for(key_model)) << " V)"
            << (st->battery_critical() ? ", LOW" : "") << "\n";
        if (key_model != model::bot1) out << "position: " << st->position << "\n";
      }
      if (setting && key_model != model::bot1 && key_model != model::bike1)
        out << "setting:  lock at " << setting->lock << ", unlock at " << setting->unlock << "\n";
      break;
    case Verb::history:
      if (records.empty()) out << "no history records\n";
      for (const auto& rec : records) {
        out << utc_text(static_cast<std::uint32_t>(rec.unix_ms / 1000)) << "  #" << rec.id << "  " << history_type_name(rec.type)
            << (rec.tag.empty() ? "" : "  \"" + escape_control(rec.tag) + "\"") << "\n";
      }
      break;
  }
}

// ---- addressing by UUID ---------------------------------------------------------------------------

bool looks_like_uuid(const std::string& s) { return s.size() == 36 || s.size() == 32; }

// docs/specs/sesame.md §2: the only published UUID -> address derivation (libsesame3bt) is
// unverified against hardware, so a UUID is resolved by a short discovery: the lock whose
// advertisement (manufacturer data 0x055A, §3) carries that UUID.
std::string resolve_uuid(const Uuid& uuid, const LinkCli& o) {
#ifdef BLECRYPT_HAVE_BLUEZ
  link::bluez::EventLoop loop;
  auto bz = link::bluez::Bluez::open(loop, o.adapter);
  if (!bz) throw_link_error(bz.error(), "finding the lock " + uuid_to_string(uuid));
  std::string found;
  auto r = (*bz)->start_scan([&](const link::bluez::DeviceInfo& d) {
    auto md = d.manufacturer_data.find(kCompanyId);
    if (md == d.manufacturer_data.end() || !found.empty()) return;
    Bytes whole{static_cast<std::uint8_t>(kCompanyId & 0xff), static_cast<std::uint8_t>(kCompanyId >> 8)};
    whole.insert(whole.end(), md->second.begin(), md->second.end());
    if (auto adv = parse_manufacturer_data(whole); adv && adv->uuid == uuid) found = d.address;
  });
  if (!r) throw_link_error(r.error(), "finding the lock " + uuid_to_string(uuid));
  const auto limit = std::min<unsigned>(o.timeout, 10);
  loop.run_until([&] { return !found.empty() || !(*bz)->available(); }, loop.now() + std::chrono::seconds(limit));
  (*bz)->stop_scan();
  if (!(*bz)->available()) throw_link_error(link::Errc::bluetooth_unavailable, "finding the lock " + uuid_to_string(uuid));
  if (found.empty())
    throw DeviceError("no SESAME lock with UUID " + uuid_to_string(uuid) + " advertised within " + std::to_string(limit) + " s");
  return found;
#else
  (void)uuid;
  (void)o;
  throw BluetoothUnavailable("this blecrypt was built without the BlueZ transport (BLECRYPT_WITH_BLUEZ=OFF or no sdbus-c++)");
#endif
}

// ---- the verbs ------------------------------------------------------------------------------------

void run_verb(Verb verb, VerbOptions& o) {
  const bool reg = verb == Verb::reg;
  if (o.tag.size() > HistoryTag::kMaxTextBytes)
    throw UserError("--tag: at most " + std::to_string(HistoryTag::kMaxTextBytes) + " bytes (the lock keeps no more)");
  std::optional<KeyMaterial> key;
  if (reg) {
    if (o.key_file.empty()) throw UserError("register needs --key-file FILE (where the new device secret goes)");
    if (!o.qr.empty()) throw UserError("--qr gives the key of a registered lock; register makes a new one (--key-file)");
  } else {
    if (o.key_file.empty() == o.qr.empty()) throw UserError("give the lock's key with either --key-file FILE or --qr URI");
    key = o.qr.empty() ? read_key_file(o.key_file) : key_from_uri(o.qr, "--qr");
  }
  if (key && key->os2 && !o.link.address.empty() && o.link.emulator.empty() && looks_like_uuid(o.link.address))
    throw UserError("OS2 devices are addressed by their Bluetooth address (ADDRESS), not by UUID");
  if (!o.link.address.empty() && o.link.emulator.empty() && looks_like_uuid(o.link.address)) {
    auto uuid = uuid_from_string(o.link.address);
    if (!uuid) throw UserError("'" + o.link.address + "' is neither a Bluetooth address nor a SESAME UUID");
    if (o.link.mtu) throw UserError("--mtu applies to --emulator only (BlueZ negotiates the MTU with the device)");
    o.link.address = resolve_uuid(*uuid, o.link);
  }
  if (key && key->os2) return run_os2(verb, o, std::move(*key));
  Runner(verb, o, std::move(key)).run();
}

void add_verb(CLI::App& g, Verb verb, const char* help) {
  auto opts = std::make_shared<VerbOptions>();
  auto* sub = g.add_subcommand(verb_name(verb), help);
  add_link_options(*sub, opts->link);
  sub->add_option("--key-file", opts->key_file,
                  verb == Verb::reg ? "Where to write the new device secret (created with mode 0600)"
                                    : "The lock's key: a file from `sesame register` (mode 0600) or holding a share URI");
  if (verb == Verb::reg) {
    sub->add_flag("--force", opts->force, "Replace an existing key file");
    sub->add_flag("--show-secret", opts->show_secret, "Also print the new device secret (hex)");
  } else {
    sub->add_option("--qr", opts->qr, "The lock's key as the app's share-key URI (ssm://UI?t=sk&sk=...)");
  }
  if (verb == Verb::lock || verb == Verb::unlock || verb == Verb::toggle)
    sub->add_option("--tag", opts->tag, "Name the lock records in its history (default \"blecrypt\", at most 29 bytes)");
  sub->add_flag("--json", opts->json, "Print one JSON object (with the lock's pushes as \"events\")");
  sub->callback([verb, opts] { run_verb(verb, *opts); });
}

}  // namespace

void write_key_file(const std::string& path, const std::string& text, bool force) {
  NewKeyFile f(path, force);
  f.commit_text(text);
}

std::string emulator_share_uri(const std::string& m, const std::string& name) {
  auto& rng = crypto::system_rng();
  SecretBytes secret(kSecretSize);
  rng.fill(MutableByteView(secret.data(), secret.size()));
  Uuid uuid{};
  rng.fill(uuid);
  if (auto n2 = emulator_model2(m)) {
    os2::DeviceConfig2 dc;
    dc.model = *n2;
    dc.uuid = uuid;
    dc.secret = secret;
    dc.private_key = os2::emulator_private_key(secret.view());
    os2::Device2 dev(std::move(dc), rng);
    Bytes sk = dev.share_key_bytes();
    std::string uri = share_uri_from_key_bytes(sk, 0, name);
    secure_wipe(sk.data(), sk.size());
    return uri;
  }
  if (auto n3 = emulator_model(m)) return build_share_uri(static_cast<std::uint8_t>(*n3), secret.view(), uuid, 0, name);
  throw UserError("unknown SESAME model '" + m + "' (emulated: 5, 5pro, 5us; OS2: 3, 4, bot, bike)");
}

void add_sesame_device_verbs(CLI::App& g) {
  add_verb(g, Verb::reg, "Register with a new (unowned) lock; writes its device secret to --key-file");
  add_verb(g, Verb::lock, "Lock (waits until the lock reports locked)");
  add_verb(g, Verb::unlock, "Unlock (waits until the lock reports unlocked)");
  add_verb(g, Verb::toggle, "Lock when unlocked, unlock when locked");
  add_verb(g, Verb::status, "Lock state, battery (percent and volts) and position");
  add_verb(g, Verb::history, "The lock's history records, oldest first (read and removed, as the app does)");
}

}  // namespace blecrypt::cli
