#include "blecrypt/gateway/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "blecrypt/bluetti/device.hpp"
#include "blecrypt/bluetti/models.hpp"

namespace blecrypt::gateway {

const char* protocol_name(DeviceProtocol p) noexcept { return p == DeviceProtocol::bluetti ? "bluetti" : "sesame"; }

std::string DeviceEntry::describe() const {
  std::string s = std::string(protocol_name(protocol)) + " ";
  s += emulator.empty() ? address : "emulator " + emulator;
  return s + " (line " + std::to_string(line) + ")";
}

std::string format_issue(const ConfigIssue& i, std::string_view file) {
  std::string s(file);
  if (i.line > 0) s += ":" + std::to_string(i.line);
  s += ": " + (i.key.empty() ? std::string("(top level)") : i.key) + ": " + i.message;
  return s;
}

namespace {

class Parser {
 public:
  explicit Parser(std::vector<ConfigIssue>& issues) : issues_(issues) {}

  void issue(const YAML::Node& n, const std::string& key, std::string message) {
    const int line = n.IsDefined() && n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
    issues_.push_back({line, key, std::move(message)});
  }

  // Walks a mapping: calls `on` for each known key, reports unknown keys and non-scalar keys.
  void map(const YAML::Node& n, const std::string& path,
           const std::map<std::string, std::function<void(const YAML::Node&, const std::string&)>>& on) {
    if (!n.IsMap()) return issue(n, path, "expected a mapping (key: value)");
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) {
        issue(it->first, path, "keys must be plain names");
        continue;
      }
      const std::string k = it->first.Scalar();
      const std::string sub = path.empty() ? k : path + "." + k;
      if (!seen.insert(k).second) {
        issue(it->first, sub, "duplicate key");
        continue;
      }
      auto f = on.find(k);
      if (f == on.end()) {
        std::string known;
        for (const auto& [name, _] : on) known += (known.empty() ? "" : ", ") + name;
        issue(it->first, sub, "unknown key (known here: " + known + ")");
        continue;
      }
      f->second(it->second, sub);
    }
  }

  std::optional<std::string> text(const YAML::Node& n, const std::string& key, bool allow_empty = false) {
    if (!n.IsScalar()) {
      issue(n, key, "expected a text value");
      return std::nullopt;
    }
    if (!allow_empty && n.Scalar().empty()) {
      issue(n, key, "must not be empty");
      return std::nullopt;
    }
    if (n.Scalar().size() > 4096) {
      issue(n, key, "too long");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // Decimal integers only: no sign, no hex/octal prefixes, no spaces, within [lo, hi].
  std::optional<std::uint64_t> number(const YAML::Node& n, const std::string& key, std::uint64_t lo, std::uint64_t hi) {
    if (!n.IsScalar()) {
      issue(n, key, "expected a number");
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    const bool digits = !s.empty() && s.size() <= 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool leading_zero = s.size() > 1 && s[0] == '0';
    if (!digits || leading_zero) {
      issue(n, key, "expected a decimal number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got \"" + s + "\"");
      return std::nullopt;
    }
    const std::uint64_t v = std::stoull(s);
    if (v < lo || v > hi) {
      issue(n, key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + s);
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) {
      if (n.Scalar() == "true") return true;
      if (n.Scalar() == "false") return false;
    }
    issue(n, key, "expected true or false");
    return std::nullopt;
  }

 private:
  std::vector<ConfigIssue>& issues_;
};

bool valid_address(std::string& a) {
  if (a.size() != 17) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i % 3 == 2) {
      if (a[i] != ':') return false;
    } else {
      if (!std::isxdigit(static_cast<unsigned char>(a[i]))) return false;
      a[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(a[i])));
    }
  }
  return true;
}

bool valid_client_id(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// Topic prefixes we publish under: no wildcards, no empty levels, no leading/trailing slash.
bool valid_topic_prefix(const std::string& s) {
  if (s.empty() || s.size() > 128 || s.front() == '/' || s.back() == '/') return false;
  if (s.find("//") != std::string::npos) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '+' || c == '#' || c == '\0' || static_cast<unsigned char>(c) < 0x20; });
}

void parse_mqtt(Parser& p, const YAML::Node& n, MqttConfig& m) {
  p.map(n, "mqtt", {
      {"host", [&](const YAML::Node& v, const std::string& k) { if (auto s = p.text(v, k)) m.host = *s; }},
      {"port", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 1, 65535)) m.port = static_cast<std::uint16_t>(*x); }},
      {"username", [&](const YAML::Node& v, const std::string& k) { if (auto s = p.text(v, k)) m.username = *s; }},
      {"password_file", [&](const YAML::Node& v, const std::string& k) { if (auto s = p.text(v, k)) m.password_file = *s; }},
      {"client_id", [&](const YAML::Node& v, const std::string& k) {
         if (auto s = p.text(v, k)) {
           if (valid_client_id(*s)) m.client_id = *s;
           else p.issue(v, k, "1 to 64 letters, digits, '-', '_' or '.'");
         }
       }},
      {"keepalive", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 5, 3600)) m.keepalive_s = static_cast<std::uint16_t>(*x); }},
      {"discovery_prefix", [&](const YAML::Node& v, const std::string& k) {
         if (auto s = p.text(v, k)) {
           if (valid_topic_prefix(*s)) m.discovery_prefix = *s;
           else p.issue(v, k, "a topic prefix without wildcards or empty levels");
         }
       }},
      {"gateway_topic", [&](const YAML::Node& v, const std::string& k) {
         if (auto s = p.text(v, k)) {
           if (valid_topic_prefix(*s)) m.gateway_topic = *s;
           else p.issue(v, k, "a topic prefix without wildcards or empty levels");
         }
       }},
      {"tls", [&](const YAML::Node& v, const std::string& k) {
         TlsConfig t;
         p.map(v, k, {
             {"ca", [&](const YAML::Node& x, const std::string& kk) { if (auto s = p.text(x, kk)) t.ca = *s; }},
             {"cert", [&](const YAML::Node& x, const std::string& kk) { if (auto s = p.text(x, kk)) t.cert = *s; }},
             {"key", [&](const YAML::Node& x, const std::string& kk) { if (auto s = p.text(x, kk)) t.key = *s; }},
         });
         if (v.IsMap()) {
           if (t.ca.empty()) p.issue(v, k + ".ca", "required with tls (the CA certificate that signed the broker's)");
           if (t.cert.empty() != t.key.empty()) p.issue(v, k, "cert and key go together");
         }
         m.tls = t;
       }},
  });
  if (n.IsMap() && !m.password_file.empty() && m.username.empty()) p.issue(n, "mqtt.password_file", "needs mqtt.username");
}

void parse_device(Parser& p, const YAML::Node& n, const std::string& path, DeviceEntry& d, bool& has_protocol) {
  d.line = n.Mark().line + 1;
  p.map(n, path, {
      {"address", [&](const YAML::Node& v, const std::string& k) {
         if (auto s = p.text(v, k)) {
           std::string a = *s;
           if (valid_address(a)) d.address = a;
           else p.issue(v, k, "expected a Bluetooth address like C4:DE:E2:11:22:33, got \"" + *s + "\"");
         }
       }},
      {"emulator", [&](const YAML::Node& v, const std::string& k) { if (auto s = p.text(v, k)) d.emulator = *s; }},
      {"serial", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 1, 999999999999999ULL)) d.emulator_serial = *x; }},
      {"latency_ms", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 0, 10000)) d.emulator_latency = std::chrono::milliseconds(*x); }},
      {"drop_every", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 1, 1000000)) d.emulator_drop_every = static_cast<std::uint32_t>(*x); }},
      {"protocol", [&](const YAML::Node& v, const std::string& k) {
         if (auto s = p.text(v, k)) {
           has_protocol = true;
           if (*s == "bluetti") d.protocol = DeviceProtocol::bluetti;
           else if (*s == "sesame") d.protocol = DeviceProtocol::sesame;
           else p.issue(v, k, "expected bluetti or sesame, got \"" + *s + "\"");
         }
       }},
      {"model", [&](const YAML::Node& v, const std::string& k) { if (auto s = p.text(v, k)) d.model = *s; }},
      {"device_key", [&](const YAML::Node& v, const std::string& k) {
         if (auto s = p.text(v, k)) {
           const bool hex = s->size() == 128 && std::all_of(s->begin(), s->end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
           if (hex) d.device_key_hex = *s;
           else p.issue(v, k, "expected 128 hex digits (the 64-byte public key X||Y)");  // the value is not echoed
         }
       }},
      {"key_file", [&](const YAML::Node& v, const std::string& k) { if (auto s = p.text(v, k)) d.key_file = *s; }},
      {"poll_interval", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 1, 3600)) d.poll_interval = std::chrono::seconds(*x); }},
      {"persistent", [&](const YAML::Node& v, const std::string& k) { if (auto b = p.boolean(v, k)) d.persistent = *b; }},
      {"command_wait", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 0, 600)) d.command_wait = std::chrono::seconds(*x); }},
      {"queue_limit", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 1, 256)) d.queue_limit = *x; }},
      {"pack_interval", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 0, 86400)) d.pack_interval = std::chrono::seconds(*x); }},
      {"pack_settle_ms", [&](const YAML::Node& v, const std::string& k) { if (auto x = p.number(v, k, 0, 120000)) d.pack_settle = std::chrono::milliseconds(*x); }},
  });
}

bool sesame_emulator_model(const std::string& name) {
  std::string n;
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c))) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n == "5" || n == "sesame5" || n == "5pro" || n == "sesame5pro" || n == "5us" || n == "sesame5us";
}

void validate_device(Parser& p, const YAML::Node& n, const std::string& path, DeviceEntry& d, bool has_protocol) {
  if (!n.IsMap()) return;
  if (d.address.empty() == d.emulator.empty() && !n["address"].IsDefined() && !n["emulator"].IsDefined())
    p.issue(n, path, "needs an address (or emulator: MODEL to try the gateway without a radio)");
  else if (n["address"].IsDefined() && n["emulator"].IsDefined())
    p.issue(n["emulator"], path + ".emulator", "address and emulator exclude each other");
  if (!d.emulator.empty()) {
    if (!has_protocol) d.protocol = DeviceProtocol::bluetti;
    if (d.protocol == DeviceProtocol::bluetti && !bluetti::PowerStation::create(d.emulator)) {
      std::string known;
      for (const auto& m : bluetti::PowerStation::models()) known += (known.empty() ? "" : ", ") + m;
      p.issue(n["emulator"], path + ".emulator", "unknown emulated model \"" + d.emulator + "\" (known: " + known + ")");
    }
    if (d.protocol == DeviceProtocol::sesame && !sesame_emulator_model(d.emulator))
      p.issue(n["emulator"], path + ".emulator", "unknown emulated SESAME model \"" + d.emulator + "\" (known: 5, 5pro, 5us)");
  } else if (!has_protocol && n["address"].IsDefined()) {
    p.issue(n, path + ".protocol", "required with an address: bluetti or sesame");
  }
  if (!d.model.empty()) {
    if (d.protocol != DeviceProtocol::bluetti) {
      p.issue(n["model"], path + ".model", "only for bluetti devices");
    } else if (!bluetti::models::find(d.model)) {
      std::string known;
      for (const auto& m : bluetti::models::all()) known += (known.empty() ? "" : ", ") + std::string(m.name);
      p.issue(n["model"], path + ".model", "unknown model \"" + d.model + "\" (the model table has: " + known + ")");
    }
  }
  for (const char* k : {"serial", "latency_ms", "drop_every"})
    if (n[k].IsDefined() && d.emulator.empty()) p.issue(n[k], path + "." + k, "only for emulators");
  if (d.protocol == DeviceProtocol::sesame) {
    for (const char* k : {"pack_interval", "pack_settle_ms"})
      if (n[k].IsDefined()) p.issue(n[k], path + "." + k, "only for bluetti devices");
    if (n["device_key"].IsDefined()) p.issue(n["device_key"], path + ".device_key", "only for bluetti devices");
    if (d.key_file.empty() && !n["key_file"].IsDefined() && d.emulator.empty())
      p.issue(n, path + ".key_file", "required for a sesame lock (its ssm:// share key)");
  } else if (n["key_file"].IsDefined() && n["device_key"].IsDefined()) {
    p.issue(n["key_file"], path + ".key_file", "device_key and key_file exclude each other");
  }
}

}  // namespace

ParsedConfig parse_config(std::string_view yaml) {
  ParsedConfig out;
  if (yaml.size() > kMaxConfigBytes) {
    out.issues.push_back({0, "", "the configuration is larger than " + std::to_string(kMaxConfigBytes) + " bytes"});
    return out;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    out.issues.push_back({e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "YAML syntax: " + e.msg});
    return out;
  } catch (const std::exception& e) {
    out.issues.push_back({0, "", std::string("YAML: ") + e.what()});
    return out;
  }
  Parser p(out.issues);
  Config& c = out.config;
  try {
    if (!root.IsMap()) {
      out.issues.push_back({0, "", "expected a mapping with mqtt, adapter and devices"});
      return out;
    }
    bool has_devices = false;
    p.map(root, "", {
        {"mqtt", [&](const YAML::Node& v, const std::string&) { parse_mqtt(p, v, c.mqtt); }},
        {"adapter", [&](const YAML::Node& v, const std::string& k) {
           if (auto s = p.text(v, k)) {
             if (s->size() <= 16 && s->rfind("hci", 0) == 0 && s->size() > 3 &&
                 std::all_of(s->begin() + 3, s->end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
               c.adapter = *s;
             else
               p.issue(v, k, "expected an adapter name like hci0, got \"" + *s + "\"");
           }
         }},
        {"devices", [&](const YAML::Node& v, const std::string& k) {
           has_devices = true;
           if (!v.IsSequence()) return p.issue(v, k, "expected a list of devices");
           if (v.size() == 0) return p.issue(v, k, "no devices");
           if (v.size() > kMaxDevices) return p.issue(v, k, "at most " + std::to_string(kMaxDevices) + " devices");
           for (std::size_t i = 0; i < v.size(); ++i) {
             const std::string path = k + "[" + std::to_string(i) + "]";
             DeviceEntry d;
             bool has_protocol = false;
             parse_device(p, v[i], path, d, has_protocol);
             validate_device(p, v[i], path, d, has_protocol);
             c.devices.push_back(std::move(d));
           }
         }},
    });
    if (!has_devices) out.issues.push_back({0, "devices", "required: the list of devices to serve"});
    // Duplicates: one entry per address, one per emulator serial.
    std::map<std::string, int> seen;
    for (std::size_t i = 0; i < c.devices.size(); ++i) {
      const auto& d = c.devices[i];
      const std::string id = d.emulator.empty() ? d.address : d.emulator + "#" + std::to_string(d.emulator_serial ? d.emulator_serial : i + 1);
      if (id.empty()) continue;
      auto [it, fresh] = seen.emplace(id, d.line);
      if (!fresh) out.issues.push_back({d.line, "devices[" + std::to_string(i) + "]", "same device as line " + std::to_string(it->second)});
    }
  } catch (const YAML::Exception& e) {
    out.issues.push_back({e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "YAML: " + e.msg});
  }
  return out;
}

Result<SecretBytes> read_private_file(const std::string& path, std::size_t max_bytes, bool must_be_private) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Errc::file_unreadable;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return Errc::file_unreadable;
  if (must_be_private && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) return Errc::file_not_private;
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return Errc::file_too_large;
  SecretBytes buf(max_bytes + 1);
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0) return Errc::file_unreadable;
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_bytes) return Errc::file_too_large;
  return SecretBytes(ByteView(buf.data(), got));
}

Result<SecretBytes> read_password(const MqttConfig& mqtt) {
  auto f = read_private_file(mqtt.password_file, 4096, true);
  if (!f) return f;
  std::size_t n = 0;
  while (n < f->size() && (*f)[n] != '\n' && (*f)[n] != '\r') ++n;
  return SecretBytes(ByteView(f->data(), n));
}

void check_files(Config& config, std::vector<ConfigIssue>& fatal) {
  auto check = [](const std::string& path, bool priv) -> std::string {
    auto r = read_private_file(path, 64 * 1024, priv);
    return r ? std::string() : r.error().message();
  };
  if (!config.mqtt.password_file.empty())
    if (auto e = check(config.mqtt.password_file, true); !e.empty()) fatal.push_back({0, "mqtt.password_file", config.mqtt.password_file + ": " + e});
  if (config.mqtt.tls) {
    const auto& t = *config.mqtt.tls;
    if (auto e = check(t.ca, false); !e.empty()) fatal.push_back({0, "mqtt.tls.ca", t.ca + ": " + e});
    if (!t.cert.empty())
      if (auto e = check(t.cert, false); !e.empty()) fatal.push_back({0, "mqtt.tls.cert", t.cert + ": " + e});
    if (!t.key.empty())
      if (auto e = check(t.key, true); !e.empty()) fatal.push_back({0, "mqtt.tls.key", t.key + ": " + e});
  }
  for (auto& d : config.devices) {
    if (d.key_file.empty()) continue;
    if (auto e = check(d.key_file, true); !e.empty()) d.disabled_reason = "key_file " + d.key_file + ": " + e;
  }
}

}  // namespace blecrypt::gateway
