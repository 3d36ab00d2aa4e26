// `blecrypt sesame register|lock|unlock|toggle|status|history`: a SESAME 5 lock over BlueZ (ADDRESS
// or the lock's UUID) or the built-in emulator (--emulator MODEL), through link_cli's open_link.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace blecrypt::cli {

// Adds the device verbs to the `sesame` verb group (called from sesame.cpp's setup).
void add_sesame_device_verbs(CLI::App& group);

// Creates FILE (O_EXCL|O_NOFOLLOW, mode 0600; --force: a temporary file renamed over it) holding
// `text`. Throws UserError / DeviceError with the reason.
void write_key_file(const std::string& path, const std::string& text, bool force);

// An owner share URI for a new emulated device of MODEL (5, 5pro, 5us; OS2: 3, 4, bot, bike) with
// a random secret: `--emulator MODEL --qr URI` opens it (OS2: the emulator's key pair comes from
// the secret, os2::emulator_private_key). Throws UserError for an unknown model.
std::string emulator_share_uri(const std::string& model, const std::string& name);

}  // namespace blecrypt::cli
