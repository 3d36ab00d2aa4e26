// The SMP peer line protocol (docs/specs/smp-peer-protocol.md) as a sans-IO class: one input line
// in, output lines (stdout) and diagnostics (stderr) out, a deadline for the SMP timer. Pairing
// policy, Security Request answers and bond saving are the SecurityManager's; this class only
// translates lines. `blecrypt smp peer` is a stdin/stdout loop around it.
#pragma once

#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "blecrypt/smp/bond_store.hpp"
#include "blecrypt/smp/security_manager.hpp"

namespace blecrypt::smp {

// The addresses a side uses when none is given: central C0:00:00:00:00:01/random, peripheral
// C0:00:00:00:00:02/random (spec section 2), so two defaults pair with each other.
Address default_address(Role role);

// Printable ASCII is kept; '\' and everything else become \\ and \xNN, so echoed input never puts
// control or non-ASCII bytes into the ASCII output stream.
std::string escape_line(std::string_view text);

struct PeerConfig {
  enum class Confirm { yes, no, ask };
  Role role = Role::central;
  IoCapability io = IoCapability::no_input_no_output;
  bool bond = true, mitm = true, sc = true;
  std::uint8_t init_keys = 3, resp_keys = 3;  // key distribution masks 0..f
  std::uint8_t max_key_size = 16, min_key_size = 16;
  std::optional<std::uint32_t> passkey;  // shown when displaying, typed when inputting
  Confirm confirm = Confirm::yes;
  bool reject = false;
  bool oob_sc = false;
  std::optional<Key128> oob_tk;  // wire order
  bool debug_key = false;
  Bytes ecc_private_key;  // MSB first; empty = random
  std::optional<Address> local_address, peer_address, identity_address;  // nullopt = default_address()
  SecretBytes irk;                // wire order; empty = random
  std::filesystem::path bond_file;  // empty = none
  bool security_request = false, wait_for_pair = false, ignore_security_request = false;
  bool encrypt_on_start = false, sc_only = false;
  const crypto::Backend* backend = nullptr;
};

class PeerProtocol {
 public:
  PeerProtocol(PeerConfig cfg, crypto::Rng& rng);
  ~PeerProtocol();
  PeerProtocol(const PeerProtocol&) = delete;
  PeerProtocol& operator=(const PeerProtocol&) = delete;

  // The `ready` line, `oob_local` with --oob-sc, and the start action (pair, Security Request,
  // encryption with the bond). An error (OOB data cannot be made) means the peer cannot run.
  Result<void> start(TimePoint now);
  // One line from the relay, without its '\n' (a trailing '\r' is ignored).
  void on_line(std::string_view line, TimePoint now);
  std::optional<std::string> poll_output();      // next stdout line, without '\n'
  std::optional<std::string> poll_diagnostic();  // next stderr line, without '\n'
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);
  // After `quit` or `disconnect RR`: the peer exits (the caller stops reading).
  bool finished() const noexcept { return finished_; }

  SecurityManager& manager() noexcept { return *sm_; }

 private:
  struct Queued {
    Event event;
    bool answer_security_request = false;  // the manager's policy lets the application answer it
  };
  void say(std::string line) { out_.push_back(std::move(line)); }
  void diag(std::string line) { diag_.push_back("smp peer: " + std::move(line)); }
  void check(const Result<void>& r, std::string_view what);
  void start_bonded_encryption(TimePoint now);
  void flush(TimePoint now);
  void on_event(const Queued& q, TimePoint now);

  PeerConfig cfg_;
  std::unique_ptr<BondFile> bond_file_;
  std::unique_ptr<SecurityManager> sm_;
  std::deque<Queued> events_;
  std::deque<std::string> out_, diag_;
  bool reencrypting_ = false;
  bool finished_ = false;
};

}  // namespace blecrypt::smp
