// Bond files: text, one per peer, atomically replaced, owner-only.
#include "blecrypt/smp/bond_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::smp {

namespace {

constexpr std::string_view kHeader = "# blecrypt smp bond v1";

void put(std::ostringstream& o, std::string_view k, std::string_view v) { o << k << " = " << v << "\n"; }
void put_keys(std::ostringstream& o, std::string_view prefix, const DistributedKeys& k) {
  const std::string p(prefix);
  if (!k.ltk.empty()) {
    put(o, p + "ltk", to_hex(k.ltk));
    char e[8];
    std::snprintf(e, sizeof e, "%04x", k.ediv);
    put(o, p + "ediv", e);
    put(o, p + "rand", to_hex(k.rand));
  }
  if (!k.irk.empty()) put(o, p + "irk", to_hex(k.irk));
  if (k.identity) put(o, p + "identity", k.identity->to_string());
  if (!k.csrk.empty()) put(o, p + "csrk", to_hex(k.csrk));
}

std::optional<SecretBytes> key16(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  if (it == m.end()) return SecretBytes{};
  auto b = from_hex(it->second);
  if (!b || b->size() != 16) return std::nullopt;
  SecretBytes s(*b);
  secure_wipe(b->data(), b->size());
  return s;
}

bool get_keys(const std::map<std::string, std::string>& m, const std::string& p, DistributedKeys& k) {
  auto ltk = key16(m, p + "ltk");
  auto irk = key16(m, p + "irk");
  auto csrk = key16(m, p + "csrk");
  if (!ltk || !irk || !csrk) return false;
  k.ltk = std::move(*ltk);
  k.irk = std::move(*irk);
  k.csrk = std::move(*csrk);
  if (!k.ltk.empty()) {
    auto e = m.find(p + "ediv");
    auto r = m.find(p + "rand");
    if (e == m.end() || r == m.end()) return false;
    auto eb = from_hex(e->second);
    auto rb = from_hex(r->second);
    if (!eb || eb->size() != 2 || !rb || rb->size() != 8) return false;
    k.ediv = load_be16(eb->data());
    std::copy(rb->begin(), rb->end(), k.rand.begin());
  }
  if (auto it = m.find(p + "identity"); it != m.end()) {
    k.identity = Address::parse(it->second);
    if (!k.identity) return false;
  }
  return true;
}

}  // namespace

std::string serialize_bond(const BondRecord& r) {
  std::ostringstream o;
  o << kHeader << "\n";
  put(o, "peer", r.peer.to_string());
  put(o, "method", method_name(r.method));
  put(o, "sc", r.info.sc ? "1" : "0");
  put(o, "authenticated", r.info.authenticated ? "1" : "0");
  put(o, "key_size", std::to_string(r.info.key_size));
  if (r.info.debug) put(o, "debug", "1");
  if (!r.info.ltk.empty()) put(o, "ltk", to_hex(r.info.ltk));
  put_keys(o, "local_", r.info.local);
  put_keys(o, "peer_", r.info.peer);
  o << "end\n";
  return o.str();
}

Result<BondRecord> parse_bond(std::string_view text) {
  std::map<std::string, std::string> m;
  std::istringstream in{std::string(text)};
  std::string line;
  bool header = false, end = false;
  while (std::getline(in, line)) {
    if (!header) {
      if (line != kHeader) return Errc::bond_corrupt;
      header = true;
      continue;
    }
    if (line == "end") {
      end = true;
      break;
    }
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find(" = ");
    if (eq == std::string::npos) return Errc::bond_corrupt;
    m[line.substr(0, eq)] = line.substr(eq + 3);
  }
  if (!header || !end) return Errc::bond_corrupt;
  BondRecord r;
  auto peer = m.find("peer");
  if (peer == m.end()) return Errc::bond_corrupt;
  auto a = Address::parse(peer->second);
  if (!a) return Errc::bond_corrupt;
  r.peer = *a;
  auto method = m["method"];
  bool known = false;
  for (auto mm : {Method::just_works, Method::numeric_comparison, Method::passkey, Method::oob})
    if (method == method_name(mm)) {
      r.method = mm;
      known = true;
    }
  if (!known) return Errc::bond_corrupt;
  r.info.sc = m["sc"] == "1";
  r.info.authenticated = m["authenticated"] == "1";
  r.info.debug = m.count("debug") && m["debug"] == "1";
  int ks = std::atoi(m["key_size"].c_str());
  if (ks < 7 || ks > 16) return Errc::bond_corrupt;
  r.info.key_size = static_cast<std::uint8_t>(ks);
  auto ltk = key16(m, "ltk");
  if (!ltk) return Errc::bond_corrupt;
  r.info.ltk = std::move(*ltk);
  if (!get_keys(m, "local_", r.info.local) || !get_keys(m, "peer_", r.info.peer)) return Errc::bond_corrupt;
  if (r.info.sc && r.info.ltk.empty()) return Errc::bond_corrupt;
  if (!r.info.sc && r.info.peer.ltk.empty() && r.info.local.ltk.empty()) return Errc::bond_corrupt;
  return r;
}

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  const auto tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errc::bond_io;
  ::fchmod(fd, 0600);
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Errc::bond_io;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Errc::bond_io;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Errc::bond_io;
  }
  auto dir = path.parent_path();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok();
}

Result<BondRecord> read_bond_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errc::bond_io;
  std::ostringstream s;
  s << in.rdbuf();
  return parse_bond(s.str());
}

BondStore::BondStore(std::filesystem::path directory) : dir_(std::move(directory)) {}

std::filesystem::path BondStore::path_for(const Address& peer) const {
  std::string name;
  for (auto b : peer.bytes) {
    char h[3];
    std::snprintf(h, sizeof h, "%02x", b);
    name += h;
  }
  return dir_ / (name + (peer.type ? "-random" : "-public") + ".bond");
}

Result<void> BondStore::save(const BondRecord& record) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Errc::bond_io;
  ::chmod(dir_.c_str(), 0700);
  return write_file_atomic(path_for(record.peer), serialize_bond(record));
}

std::optional<BondRecord> BondStore::find(const Address& peer) const {
  auto r = read_bond_file(path_for(peer));
  if (!r) return std::nullopt;
  return std::move(*r);
}

namespace {
// Random address whose two most significant bits are 01 (Core Vol 6 Part B 1.3.2.2).
bool is_resolvable_private(const Address& a) { return a.type != 0 && (a.bytes[0] >> 6) == 0b01; }
}  // namespace

std::optional<BondRecord> BondStore::resolve(const Address& connection_address, const crypto::Backend& backend) const {
  if (auto exact = find(connection_address)) return exact;
  if (!is_resolvable_private(connection_address)) return std::nullopt;
  const Toolbox toolbox(backend);
  const ByteView prand(connection_address.bytes.data(), 3);
  const ByteView hash(connection_address.bytes.data() + 3, 3);
  for (auto& bond : load_all().bonds) {
    const auto& irk_wire = bond.info.peer.irk;
    if (irk_wire.size() != 16) continue;
    SecretBytes irk(16);  // the toolbox takes keys most significant octet first
    std::reverse_copy(irk_wire.data(), irk_wire.data() + 16, irk.data());
    auto computed = toolbox.ah(irk, prand);
    if (computed && equal(*computed, hash)) return std::move(bond);
  }
  return std::nullopt;
}

Result<void> BondStore::remove(const Address& peer) {
  std::error_code ec;
  if (!std::filesystem::remove(path_for(peer), ec)) return ec ? Errc::bond_io : Errc::not_bonded;
  return ok();
}

BondStore::LoadReport BondStore::load_all() const {
  LoadReport rep;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".bond") continue;
    auto r = read_bond_file(entry.path());
    if (r) rep.bonds.push_back(std::move(*r));
    else rep.problems.push_back(entry.path().string() + ": " + r.error().message());
  }
  return rep;
}

}  // namespace blecrypt::smp
