// Errors of the SMP edges (bond files, the Security Manager's policy layer, the peer line
// protocol). Kept apart from smp::Errc (toolbox/engine) so the engine can move its enum without
// touching these; the category names the layer in every message.
#pragma once

#include <system_error>

namespace blecrypt::smp {

enum class EdgeErrc {
  bond_not_regular = 1,   // the bond path is a directory, FIFO, device or socket
  bond_symlink,           // the bond path is a symbolic link (never followed)
  bond_too_large,         // more than kMaxBondFileSize bytes
  bond_not_private,       // readable or writable by group/others
  bond_peer_mismatch,     // the "peer =" line names another device than the file name
  bond_busy,              // reading the file would block (should not happen for regular files)
  pairing_in_progress,    // a setter would replace the engine and drop the pairing under way
  bond_save_failed,       // pairing succeeded but the bond could not be stored
};

const std::error_category& edge_category() noexcept;
std::error_code make_error_code(EdgeErrc e) noexcept;

}  // namespace blecrypt::smp

template <>
struct std::is_error_code_enum<blecrypt::smp::EdgeErrc> : std::true_type {};
