// `blecrypt sesame register|lock|unlock|toggle|status|history`: a SESAME 5 lock over BlueZ (ADDRESS
// or the lock's UUID) or the built-in emulator (--emulator MODEL), through link_cli's open_link.
#pragma once

#include <CLI/CLI.hpp>

namespace blecrypt::cli {

// Adds the device verbs to the `sesame` verb group (called from sesame.cpp's setup).
void add_sesame_device_verbs(CLI::App& group);

}  // namespace blecrypt::cli
