// Bond files: the text parser and the store that reads them (load_all, resolve).
// Invariants: no crash; a text that parses serializes to a text that parses to the same
// serialization (round trip); the store never returns a bond whose peer does not match its file
// name, and resolves only resolvable private addresses through an IRK.
//
// Input: byte 0 = mode (bit0: also write the text as a bond file and load the store), bytes 1-7 =
// the connection address to resolve (type, then 6 bytes), the rest = the file text.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "blecrypt/smp/bond_store.hpp"

using namespace blecrypt;

namespace {
const std::filesystem::path& store_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("blecrypt_fuzz_bond_" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 8), size - 8);
  auto parsed = smp::parse_bond(text);
  if (parsed) {
    const auto once = smp::serialize_bond(*parsed);
    auto again = smp::parse_bond(smp::text_of(once));
    if (!again) std::abort();
    const auto twice = smp::serialize_bond(*again);
    if (smp::text_of(once) != smp::text_of(twice)) std::abort();
  }
  if ((data[0] & 1) == 0) return 0;

  smp::BondStore store(store_dir());
  smp::Address conn;
  conn.type = data[1] & 1;
  std::copy(data + 2, data + 8, conn.bytes.begin());
  // The text under the name of the peer it claims (when it parses) or of the connection address.
  const auto path = store.path_for(parsed ? parsed->peer : conn);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  ::chmod(path.c_str(), (data[0] & 2) ? 0644 : 0600);
  auto rep = store.load_all();
  for (const auto& b : rep.bonds)
    if (store.path_for(b.peer) != path) std::abort();  // only the file just written exists
  auto found = store.lookup(conn, crypto::default_backend());
  if (found && *found && (*found)->peer != conn) {
    // Found under another name: only through an IRK, only for a resolvable private address.
    if (conn.type != 1 || (conn.bytes[0] >> 6) != 1 || (*found)->info.peer.irk.size() != 16) std::abort();
  }
  std::filesystem::remove(path);
  return 0;
}
