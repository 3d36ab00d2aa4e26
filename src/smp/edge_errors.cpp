// Messages of the SMP edge errors.
#include "blecrypt/smp/edge_errors.hpp"

#include <string>

namespace blecrypt::smp {

namespace {

class EdgeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.smp.edge"; }
  std::string message(int ev) const override {
    switch (static_cast<EdgeErrc>(ev)) {
      case EdgeErrc::bond_not_regular: return "smp bond store: not a regular file (directory, FIFO, device or socket)";
      case EdgeErrc::bond_symlink: return "smp bond store: the bond path is a symbolic link; refusing to follow it";
      case EdgeErrc::bond_too_large: return "smp bond store: bond file larger than 4096 bytes";
      case EdgeErrc::bond_not_private:
        return "smp bond store: bond file is accessible by group or others; chmod 600 it (it holds keys)";
      case EdgeErrc::bond_peer_mismatch: return "smp bond store: the file's 'peer =' line does not match its file name";
      case EdgeErrc::bond_busy: return "smp bond store: reading the bond file would block";
      case EdgeErrc::pairing_in_progress:
        return "smp security manager: a pairing is in progress; change the settings before pair() or after it completes";
      case EdgeErrc::bond_save_failed: return "smp security manager: pairing succeeded but the bond could not be saved";
    }
    return "smp edge: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& edge_category() noexcept {
  static const EdgeCategory c;
  return c;
}
std::error_code make_error_code(EdgeErrc e) noexcept { return {static_cast<int>(e), edge_category()}; }

}  // namespace blecrypt::smp
