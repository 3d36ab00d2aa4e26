// Persistent bonds: one human-readable text file per peer identity, mode 0600, written
// crash-safely and race-free: a uniquely named temporary file in the same directory (created
// O_EXCL|O_NOFOLLOW), fsync, rename over the bond, directory fsync, all under an flock()ed lock
// file, so concurrent savers never expose an empty or torn bond and a planted symlink is never
// followed. Reads are bounded (O_NOFOLLOW|O_NONBLOCK, fstat, regular files only, at most
// kMaxBondFileSize bytes, owner-only permissions). The bond text holds keys in hex, so it lives in
// SecretBytes (wiped), never in a std::string. A corrupted or truncated file is reported and
// skipped; the other bonds stay usable.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blecrypt/result.hpp"
#include "blecrypt/secret.hpp"
#include "blecrypt/smp/errors.hpp"
#include "blecrypt/smp/types.hpp"

namespace blecrypt::smp {

inline constexpr std::size_t kMaxBondFileSize = 4096;

struct BondRecord {
  Address peer;  // the peer's identity address (or its connection address without IdKey)
  Method method = Method::just_works;
  BondInfo info;
};

// Text form: "key = value" lines between a header and an "end" line (so truncation is detected),
// ASCII bytes in a wiped buffer. text_of() views it as characters.
SecretBytes serialize_bond(const BondRecord& record);
inline std::string_view text_of(const SecretBytes& s) noexcept {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}
Result<BondRecord> parse_bond(std::string_view text);

// Writes `content` to `path` atomically with mode 0600 (see the top of this file).
Result<void> write_file_atomic(const std::filesystem::path& path, ByteView content);
// Reads a private regular file of at most `cap` bytes into wiped storage. Errors:
// std::errc::no_such_file_or_directory, Errc::bond_symlink / bond_not_regular /
// bond_too_large / bond_not_private / bond_busy, Errc::bond_io.
Result<SecretBytes> read_private_file(const std::filesystem::path& path, std::size_t cap = kMaxBondFileSize);
Result<BondRecord> read_bond_file(const std::filesystem::path& path);

// Where a SecurityManager keeps its bonds.
class BondDatabase {
 public:
  virtual ~BondDatabase() = default;
  // The bond of the device seen at `connection_address`: nullopt when there is none, an error
  // when one exists but cannot be used (corrupt, unsafe file).
  virtual Result<std::optional<BondRecord>> lookup(const Address& connection_address,
                                                   const crypto::Backend& backend) const = 0;
  virtual Result<void> save(const BondRecord& record) = 0;
  // Removes exactly one peer's bond. not_bonded when there is none.
  virtual Result<void> remove(const Address& peer) = 0;
};

// One bond in one file of any name (the `smp peer --bond-file` record): lookup() returns it
// whatever the address.
class BondFile final : public BondDatabase {
 public:
  explicit BondFile(std::filesystem::path path) : path_(std::move(path)) {}
  const std::filesystem::path& path() const noexcept { return path_; }
  Result<std::optional<BondRecord>> lookup(const Address& connection_address, const crypto::Backend& backend) const override;
  Result<void> save(const BondRecord& record) override;
  Result<void> remove(const Address& peer) override;

 private:
  std::filesystem::path path_;
};

// A directory of bonds, one file per peer identity named after it (path_for); a file whose
// "peer =" line names another device is refused (Errc::bond_peer_mismatch).
class BondStore final : public BondDatabase {
 public:
  explicit BondStore(std::filesystem::path directory);

  const std::filesystem::path& directory() const noexcept { return dir_; }
  std::filesystem::path path_for(const Address& peer) const;

  Result<void> save(const BondRecord& record) override;
  // One peer's file, checked against its name.
  Result<BondRecord> read(const Address& peer) const;
  std::optional<BondRecord> find(const Address& peer) const;
  // The bond of the device seen at `connection_address`: its own file, or, for a resolvable
  // private address, the bond whose IRK resolves it (ah(IRK, prand) == hash).
  std::optional<BondRecord> resolve(const Address& connection_address, const crypto::Backend& backend) const;
  Result<std::optional<BondRecord>> lookup(const Address& connection_address, const crypto::Backend& backend) const override;
  Result<void> remove(const Address& peer) override;

  struct LoadReport {
    std::vector<BondRecord> bonds;
    std::vector<std::string> problems;  // "path: what is wrong" for every skipped file
  };
  LoadReport load_all() const;

 private:
  Result<BondRecord> read_checked(const std::filesystem::path& path) const;
  std::filesystem::path dir_;
};

}  // namespace blecrypt::smp
