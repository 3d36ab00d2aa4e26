// Persistent bonds: one human-readable text file per peer identity, written crash-safely
// (temporary file, fsync, rename, directory fsync) with mode 0600. A corrupted or truncated file
// is reported and skipped; the other bonds stay usable.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blecrypt/result.hpp"
#include "blecrypt/smp/types.hpp"

namespace blecrypt::smp {

struct BondRecord {
  Address peer;  // the peer's identity address (or its connection address without IdKey)
  Method method = Method::just_works;
  BondInfo info;
};

// Text form: "key = value" lines between a header and an "end" line (so truncation is detected).
std::string serialize_bond(const BondRecord& record);
Result<BondRecord> parse_bond(std::string_view text);

// Writes `content` to `path` atomically with mode 0600.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content);
Result<BondRecord> read_bond_file(const std::filesystem::path& path);

class BondStore {
 public:
  explicit BondStore(std::filesystem::path directory);

  const std::filesystem::path& directory() const noexcept { return dir_; }
  std::filesystem::path path_for(const Address& peer) const;

  Result<void> save(const BondRecord& record);
  std::optional<BondRecord> find(const Address& peer) const;
  // The bond of the device seen at `connection_address`: its own file, or, for a resolvable
  // private address, the bond whose IRK resolves it (ah(IRK, prand) == hash).
  std::optional<BondRecord> resolve(const Address& connection_address, const crypto::Backend& backend) const;
  // Removes exactly one peer's file. not_bonded when there is none.
  Result<void> remove(const Address& peer);

  struct LoadReport {
    std::vector<BondRecord> bonds;
    std::vector<std::string> problems;  // "path: what is wrong" for every skipped file
  };
  LoadReport load_all() const;

 private:
  std::filesystem::path dir_;
};

}  // namespace blecrypt::smp
