// Bond files: text in wiped buffers, one per peer, atomically replaced under a lock, owner-only,
// read with a size cap and without following links.
#include "blecrypt/smp/bond_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::smp {

namespace {

constexpr std::string_view kHeader = "# blecrypt smp bond v1";
constexpr char kHexDigits[] = "0123456789abcdef";
constexpr const char* kLockName = ".blecrypt-bonds.lock";

// Appends ASCII into a fixed wiped buffer (no reallocation leaves a stale copy behind).
class TextBuilder {
 public:
  TextBuilder() : buf_(kMaxBondFileSize) {}
  void text(std::string_view s) {
    for (char ch : s) byte(static_cast<std::uint8_t>(ch));
  }
  void hex(ByteView b) {
    for (auto v : b) {
      byte(static_cast<std::uint8_t>(kHexDigits[v >> 4]));
      byte(static_cast<std::uint8_t>(kHexDigits[v & 15]));
    }
  }
  void key(std::string_view k) {
    text(k);
    text(" = ");
  }
  void line(std::string_view k, std::string_view v) {
    key(k);
    text(v);
    text("\n");
  }
  void hex_line(std::string_view k, ByteView v) {
    key(k);
    hex(v);
    text("\n");
  }
  SecretBytes take() const { return SecretBytes(ByteView(buf_.data(), std::min(len_, buf_.size()))); }

 private:
  void byte(std::uint8_t b) {
    if (len_ < buf_.size()) buf_[len_] = b;
    ++len_;
  }
  SecretBytes buf_;
  std::size_t len_ = 0;
};

void put_keys(TextBuilder& o, std::string_view prefix, const DistributedKeys& k) {
  char name[32];
  auto named = [&](const char* what) {
    std::snprintf(name, sizeof name, "%.*s%s", static_cast<int>(prefix.size()), prefix.data(), what);
    return std::string_view(name);
  };
  if (!k.ltk.empty()) {
    o.hex_line(named("ltk"), k.ltk);
    const std::uint8_t ediv[2] = {static_cast<std::uint8_t>(k.ediv >> 8), static_cast<std::uint8_t>(k.ediv)};
    o.hex_line(named("ediv"), ByteView(ediv, 2));
    o.hex_line(named("rand"), k.rand);
  }
  if (!k.irk.empty()) o.hex_line(named("irk"), k.irk);
  if (k.identity) o.line(named("identity"), k.identity->to_string());
  if (!k.csrk.empty()) o.hex_line(named("csrk"), k.csrk);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly 2*out.size() hex digits into out.
bool decode_hex(std::string_view h, MutableByteView out) {
  if (h.size() != out.size() * 2) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

struct Fields {
  std::vector<std::pair<std::string_view, std::string_view>> kv;  // views into the text
  const std::string_view* find(std::string_view k) const {
    for (const auto& [key, value] : kv)
      if (key == k) return &value;
    return nullptr;
  }
};

// Absent -> empty key; present -> exactly 16 bytes of hex; anything else -> nullopt.
std::optional<SecretBytes> key16(const Fields& f, std::string_view k) {
  const auto* v = f.find(k);
  if (!v) return SecretBytes{};
  SecretBytes s(16);
  if (!decode_hex(*v, s.mutable_view())) return std::nullopt;
  return s;
}

bool get_keys(const Fields& f, std::string_view prefix, DistributedKeys& k) {
  auto named = [&](std::string_view what) { return std::string(prefix) + std::string(what); };
  auto ltk = key16(f, named("ltk"));
  auto irk = key16(f, named("irk"));
  auto csrk = key16(f, named("csrk"));
  if (!ltk || !irk || !csrk) return false;
  k.ltk = std::move(*ltk);
  k.irk = std::move(*irk);
  k.csrk = std::move(*csrk);
  if (!k.ltk.empty()) {
    const auto* e = f.find(named("ediv"));
    const auto* r = f.find(named("rand"));
    std::uint8_t eb[2];
    if (!e || !r || !decode_hex(*e, MutableByteView(eb, 2)) || !decode_hex(*r, MutableByteView(k.rand.data(), 8)))
      return false;
    k.ediv = load_be16(eb);
  }
  if (const auto* id = f.find(named("identity"))) {
    k.identity = Address::parse(*id);
    if (!k.identity) return false;
  }
  return true;
}

bool flag(const Fields& f, std::string_view k, bool& out) {
  const auto* v = f.find(k);
  if (!v) {
    out = false;
    return true;
  }
  if (*v != "0" && *v != "1") return false;
  out = *v == "1";
  return true;
}

Result<void> io_error() { return Errc::bond_io; }

// Exclusive lock on the directory's lock file for the lifetime of the object.
class DirLock {
 public:
  explicit DirLock(const std::filesystem::path& dir) {
    const auto p = (dir.empty() ? std::filesystem::path(".") : dir) / kLockName;
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      error_ = errno == ELOOP ? make_error_code(Errc::bond_symlink) : make_error_code(Errc::bond_io);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        error_ = make_error_code(Errc::bond_io);
        return;
      }
    }
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  std::error_code error() const { return error_; }

 private:
  int fd_ = -1;
  std::error_code error_;
};

// A temporary name next to `path` nobody can predict: ".<name>.tmp-<16 hex>".
std::filesystem::path temp_name(const std::filesystem::path& path) {
  static thread_local std::mt19937_64 gen{std::random_device{}() ^ (static_cast<std::uint64_t>(::getpid()) << 32)};
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(gen()));
  return path.parent_path() / ("." + path.filename().string() + ".tmp-" + suffix);
}

}  // namespace

SecretBytes serialize_bond(const BondRecord& r) {
  TextBuilder o;
  o.text(kHeader);
  o.text("\n");
  o.line("peer", r.peer.to_string());
  o.line("method", method_name(r.method));
  o.line("sc", r.info.sc ? "1" : "0");
  o.line("authenticated", r.info.authenticated ? "1" : "0");
  o.line("key_size", std::to_string(r.info.key_size));
  if (r.info.debug) o.line("debug", "1");
  if (!r.info.ltk.empty()) o.hex_line("ltk", r.info.ltk);
  put_keys(o, "local_", r.info.local);
  put_keys(o, "peer_", r.info.peer);
  o.text("end\n");
  return o.take();
}

Result<BondRecord> parse_bond(std::string_view text) {
  if (text.size() > kMaxBondFileSize) return Errc::bond_too_large;
  Fields f;
  bool header = false, end = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
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
    const auto eq = line.find(" = ");
    if (eq == std::string_view::npos) return Errc::bond_corrupt;
    const auto key = line.substr(0, eq);
    if (f.find(key)) return Errc::bond_corrupt;  // a key twice: which one would be meant?
    f.kv.emplace_back(key, line.substr(eq + 3));
  }
  if (!header || !end) return Errc::bond_corrupt;
  BondRecord r;
  const auto* peer = f.find("peer");
  if (!peer) return Errc::bond_corrupt;
  auto a = Address::parse(*peer);
  if (!a) return Errc::bond_corrupt;
  r.peer = *a;
  const auto* method = f.find("method");
  bool known = false;
  for (auto mm : {Method::just_works, Method::numeric_comparison, Method::passkey, Method::oob})
    if (method && *method == method_name(mm)) {
      r.method = mm;
      known = true;
    }
  if (!known) return Errc::bond_corrupt;
  if (!flag(f, "sc", r.info.sc) || !flag(f, "authenticated", r.info.authenticated) || !flag(f, "debug", r.info.debug))
    return Errc::bond_corrupt;
  const auto* ks = f.find("key_size");
  if (!ks || ks->empty() || ks->size() > 2 || !std::all_of(ks->begin(), ks->end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Errc::bond_corrupt;
  const int key_size = ks->size() == 1 ? (*ks)[0] - '0' : ((*ks)[0] - '0') * 10 + ((*ks)[1] - '0');
  if (key_size < 7 || key_size > 16) return Errc::bond_corrupt;
  r.info.key_size = static_cast<std::uint8_t>(key_size);
  auto ltk = key16(f, "ltk");
  if (!ltk) return Errc::bond_corrupt;
  r.info.ltk = std::move(*ltk);
  if (!get_keys(f, "local_", r.info.local) || !get_keys(f, "peer_", r.info.peer)) return Errc::bond_corrupt;
  if (r.info.sc && r.info.ltk.empty()) return Errc::bond_corrupt;
  if (!r.info.sc && r.info.peer.ltk.empty() && r.info.local.ltk.empty()) return Errc::bond_corrupt;
  return r;
}

Result<void> write_file_atomic(const std::filesystem::path& path, ByteView content) {
  const DirLock lock(path.parent_path());
  if (lock.error()) return lock.error();
  // A directory, FIFO, device or socket at the bond's name is refused as reads refuse it (rename()
  // would replace a FIFO or, for root, a device node). A symbolic link is replaced: rename()
  // replaces the link itself, never its target.
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) && !S_ISLNK(existing.st_mode))
    return Errc::bond_not_regular;
  std::filesystem::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = temp_name(path);
    // O_EXCL: never reuse (or follow) anything already at that name.
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return io_error();
  }
  if (fd < 0) return io_error();
  auto fail = [&] {
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error();
  };
  if (::fchmod(fd, 0600) != 0) return fail();
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail();
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail();
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return io_error();
  }
  // rename() replaces whatever is at `path` (a planted symlink included) without following it.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return io_error();
  }
  const auto dir = path.parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok();
}

Result<SecretBytes> read_private_file(const std::filesystem::path& path, std::size_t cap) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return Unexpected{std::make_error_code(std::errc::no_such_file_or_directory)};
    if (errno == ELOOP) return Errc::bond_symlink;
    if (errno == ENXIO) return Errc::bond_not_regular;  // a socket
    return Errc::bond_io;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errc::bond_io;
  if (!S_ISREG(st.st_mode)) return Errc::bond_not_regular;
  if ((st.st_mode & 077) != 0) return Errc::bond_not_private;
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > cap) return Errc::bond_too_large;
  SecretBytes buf(cap + 1);  // one more than allowed: a file that grew since fstat is caught
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Errc::bond_busy;
      return Errc::bond_io;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > cap) return Errc::bond_too_large;
  return SecretBytes(ByteView(buf.data(), got));
}

Result<BondRecord> read_bond_file(const std::filesystem::path& path) {
  auto text = read_private_file(path);
  if (!text) return Unexpected{text.error()};
  return parse_bond(text_of(*text));
}

// ---- BondFile ----

Result<std::optional<BondRecord>> BondFile::lookup(const Address&, const crypto::Backend&) const {
  auto r = read_bond_file(path_);
  if (!r) {
    if (r.error() == std::errc::no_such_file_or_directory) return std::optional<BondRecord>{};
    return Unexpected{r.error()};
  }
  return std::optional<BondRecord>{std::move(*r)};
}

Result<void> BondFile::save(const BondRecord& record) { return write_file_atomic(path_, serialize_bond(record)); }

Result<void> BondFile::remove(const Address&) {
  if (::unlink(path_.c_str()) != 0) return errno == ENOENT ? Errc::not_bonded : Errc::bond_io;
  return ok();
}

// ---- BondStore ----

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

Result<BondRecord> BondStore::read_checked(const std::filesystem::path& path) const {
  auto r = read_bond_file(path);
  if (!r) return r;
  // A file copied or renamed to another peer's name must not pass as that peer's bond.
  if (path_for(r->peer).filename() != path.filename()) return Errc::bond_peer_mismatch;
  return r;
}

Result<BondRecord> BondStore::read(const Address& peer) const { return read_checked(path_for(peer)); }

std::optional<BondRecord> BondStore::find(const Address& peer) const {
  auto r = read(peer);
  if (!r) return std::nullopt;
  return std::move(*r);
}

namespace {
// Random address whose two most significant bits are 01 (Core Vol 6 Part B 1.3.2.2).
bool is_resolvable_private(const Address& a) { return a.type != 0 && (a.bytes[0] >> 6) == 0b01; }
}  // namespace

Result<std::optional<BondRecord>> BondStore::lookup(const Address& connection_address, const crypto::Backend& backend) const {
  auto exact = read(connection_address);
  if (exact) return std::optional<BondRecord>{std::move(*exact)};
  if (exact.error() != std::errc::no_such_file_or_directory) return Unexpected{exact.error()};
  if (!is_resolvable_private(connection_address)) return std::optional<BondRecord>{};
  const Toolbox toolbox(backend);
  const ByteView prand(connection_address.bytes.data(), 3);
  const ByteView hash(connection_address.bytes.data() + 3, 3);
  for (auto& bond : load_all().bonds) {
    const auto& irk_wire = bond.info.peer.irk;
    if (irk_wire.size() != 16) continue;
    SecretBytes irk(16);  // the toolbox takes keys most significant octet first
    std::reverse_copy(irk_wire.data(), irk_wire.data() + 16, irk.data());
    auto computed = toolbox.ah(irk, prand);
    if (computed && equal(*computed, hash)) return std::optional<BondRecord>{std::move(bond)};
  }
  return std::optional<BondRecord>{};
}

std::optional<BondRecord> BondStore::resolve(const Address& connection_address, const crypto::Backend& backend) const {
  auto r = lookup(connection_address, backend);
  if (!r) return std::nullopt;
  return std::move(*r);
}

Result<void> BondStore::remove(const Address& peer) {
  const DirLock lock(dir_);
  if (lock.error()) return lock.error();
  if (::unlink(path_for(peer).c_str()) != 0) return errno == ENOENT ? Errc::not_bonded : Errc::bond_io;
  return ok();
}

BondStore::LoadReport BondStore::load_all() const {
  LoadReport rep;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".bond") continue;
    auto r = read_checked(entry.path());
    if (r) rep.bonds.push_back(std::move(*r));
    else rep.problems.push_back(entry.path().string() + ": " + r.error().message());
  }
  return rep;
}

}  // namespace blecrypt::smp
