// `blecrypt channel keygen|fingerprint|listen|connect`: an encrypted, authenticated TLS 1.3
// channel over RFCOMM, LE L2CAP CoC, Unix or TCP sockets, piping stdin/stdout like `ncat --ssl`.
// Exit codes: 0 success, 1 protocol/device failure (handshake, wrong PSK or fingerprint, lost
// link), 2 usage error, 3 Bluetooth sockets unavailable on this machine.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/keys.hpp"
#include "blecrypt/channel/socket.hpp"
#include "cli.hpp"

namespace blecrypt::cli {
namespace {

using namespace blecrypt::channel;

struct Options {
  std::string rfcomm, l2cap, unix_path, tcp;
  bool seqpacket = false;
  bool le_random = false;
  std::string psk_file, psk_identity = kDefaultPskIdentity;
  std::string identity, peer_fingerprint, tofu_file;
  unsigned handshake_timeout = 15, connect_timeout = 10, mtu = 0;
  // keygen
  std::string identity_out, psk_out, name = "blecrypt channel";
};

std::string file_error(const std::string& what, const std::string& path, std::error_code ec) {
  return what + " '" + path + "': " + ec.message();
}

Endpoint endpoint_of(const Options& o, bool listen) {
  const int n = !o.rfcomm.empty() + !o.l2cap.empty() + !o.unix_path.empty() + !o.tcp.empty();
  if (n != 1) throw UserError("give exactly one of --rfcomm ADDR:CH, --l2cap ADDR:PSM, --unix PATH, --tcp HOST:PORT");
  if (o.seqpacket && o.unix_path.empty()) throw UserError("--seqpacket applies to --unix only (--l2cap is always SEQPACKET)");
  if (o.le_random && (o.l2cap.empty() || listen))
    throw UserError("--le-random applies to `connect --l2cap` only (it names the type of the peer's LE address)");
  Result<Endpoint> ep = Errc::address_format;
  std::string hint;
  if (!o.rfcomm.empty()) {
    ep = parse_rfcomm(o.rfcomm);
    hint = "--rfcomm wants AA:BB:CC:DD:EE:FF:CHANNEL, channel 1..30 (decimal), got '" + o.rfcomm + "'";
  } else if (!o.l2cap.empty()) {
    ep = parse_l2cap(o.l2cap);
    hint = "--l2cap wants AA:BB:CC:DD:EE:FF:PSM, LE PSM 1..255 (decimal), got '" + o.l2cap + "'";
    if (ep) ep->le_random = o.le_random;
  } else if (!o.unix_path.empty()) {
    ep = parse_unix(o.unix_path, o.seqpacket);
    hint = "--unix wants a socket path shorter than 108 bytes";
  } else {
    ep = parse_tcp(o.tcp);
    hint = "--tcp wants HOST:PORT (port 0..65535, decimal), got '" + o.tcp + "'";
  }
  if (!ep) throw UserError(hint);
  return *ep;
}

// Builds the channel configuration; the TOFU file (if any) is returned for recording.
Config config_of(const Options& o, Role role, bool psk_identity_given, std::optional<std::string>& record_to) {
  Config cfg;
  cfg.role = role;
  cfg.handshake_timeout = std::chrono::seconds(o.handshake_timeout);
  const bool psk = !o.psk_file.empty(), id = !o.identity.empty();
  if (psk == id) throw UserError("give exactly one of --psk-file F (pre-shared key) or --identity F (pinned certificates)");
  if (id && psk_identity_given) throw UserError("--psk-identity belongs to --psk-file mode, not --identity");
  if (psk) {
    if (!o.peer_fingerprint.empty() || !o.tofu_file.empty())
      throw UserError("--peer-fingerprint/--trust-on-first-use belong to --identity mode, not --psk-file");
    auto text = read_private_file(o.psk_file);
    if (!text) throw UserError(file_error("PSK file", o.psk_file, text.error()));
    auto key = parse_psk(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
    if (!key) throw UserError(file_error("PSK file", o.psk_file, key.error()));
    if (o.psk_identity.empty() || o.psk_identity.size() > 128) throw UserError("--psk-identity must be 1..128 bytes");
    cfg.mode = PskMode{std::move(*key), o.psk_identity};
  } else {
    auto pem = read_private_file(o.identity);
    if (!pem) throw UserError(file_error("identity file", o.identity, pem.error()));
    auto parsed = parse_identity(*pem);
    if (!parsed) throw UserError(file_error("identity file", o.identity, parsed.error()));
    IdentityMode mode{std::move(parsed->private_key_pem), std::move(parsed->certificate_pem), std::nullopt};
    if (o.peer_fingerprint.empty() == o.tofu_file.empty())
      throw UserError("identity mode needs exactly one of --peer-fingerprint H (compare it with the peer's "
                      "`blecrypt channel fingerprint`) or --trust-on-first-use FILE (records the first peer's fingerprint)");
    if (!o.peer_fingerprint.empty()) {
      auto fp = parse_fingerprint(o.peer_fingerprint);
      if (!fp) throw UserError("--peer-fingerprint: " + fp.error().message());
      mode.peer_fingerprint = std::move(*fp);
    } else if (::access(o.tofu_file.c_str(), F_OK) == 0) {
      auto text = read_public_file(o.tofu_file);
      if (!text) throw UserError(file_error("trust-on-first-use file", o.tofu_file, text.error()));
      auto fp = parse_fingerprint(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
      if (!fp) throw UserError(file_error("trust-on-first-use file", o.tofu_file, fp.error()));
      mode.peer_fingerprint = std::move(*fp);
    } else {
      record_to = o.tofu_file;  // first use: accept the peer, record what it presented
    }
    cfg.mode = std::move(mode);
  }
  return cfg;
}

int run(const Options& o, const CLI::App& sub, bool listen) {
  std::optional<std::string> record_to;
  const Endpoint ep = endpoint_of(o, listen);
  if (listen && sub.count("--connect-timeout") > 0) throw UserError("--connect-timeout applies to connect only (listen waits for a peer)");
  if (o.mtu != 0 && !ep.seqpacket) throw UserError("--mtu applies to SEQPACKET links (--l2cap, --unix with --seqpacket)");
  Config cfg = config_of(o, listen ? Role::server : Role::client, sub.count("--psk-identity") > 0, record_to);
  const auto connect_timeout = std::chrono::seconds(o.connect_timeout);
  const std::size_t mtu_option = o.mtu;
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout is an error message and exit 1, not a silent death
  SocketResult<Fd> sock;
  if (listen) {
    auto l = listen_endpoint(ep);
    if (!l) {
      std::cerr << "blecrypt: error: " << l.failure.message << "\n";
      return l.failure.error == make_error_code(Errc::bluetooth_unavailable) ? 3 : 1;
    }
    std::cerr << "channel: listening on " << ep.text() << std::endl;
    sock = accept_connection(*l.value, std::nullopt);
  } else {
    sock = connect_endpoint(ep, connect_timeout);
  }
  if (!sock) {
    std::cerr << "blecrypt: error: " << sock.failure.message << "\n";
    return sock.failure.error == make_error_code(Errc::bluetooth_unavailable) ? 3 : 1;
  }
  const bool seq = ep.seqpacket;
  if (seq) {
    std::size_t mtu = mtu_option != 0 ? mtu_option : send_mtu(*sock.value, ep, 512);
    cfg.max_transmit = mtu;
  }
  const std::size_t rx_mtu = receive_mtu(*sock.value, ep);
  SocketChannel ch(std::move(*sock.value), std::move(cfg), seq, rx_mtu);
  if (record_to) {
    ch.set_on_connected([path = *record_to](const HandshakeComplete& hc) -> std::string {
      const std::string fp = format_fingerprint(hc.peer_fingerprint) + "\n";
      if (auto w = write_private_file(path, as_bytes(fp)); !w)
        return "channel: cannot record the peer fingerprint in '" + path + "': " + w.error().message();
      std::cerr << "channel: first use: recorded the peer's fingerprint " << format_fingerprint(hc.peer_fingerprint) << " in " << path
                << "; compare it with what the peer shows (blecrypt channel fingerprint --identity F)" << std::endl;
      return {};
    });
  }
  auto r = ch.pump(STDIN_FILENO, STDOUT_FILENO, std::cerr);
  if (!r) {
    std::cerr << "blecrypt: error: " << (ch.last_message().empty() ? r.error().message() : ch.last_message()) << "\n";
    return 1;
  }
  return 0;
}

void keygen(const Options& o, const CLI::App& sub) {
  if (!o.identity_out.empty() && !o.psk_out.empty())
    throw UserError("keygen makes one thing: either --psk-out F (a PSK) or --identity-out F (an identity), not both");
  if (o.identity_out.empty() && sub.count("--name") > 0) throw UserError("--name applies to --identity-out only");
  if (!o.identity_out.empty()) {
    auto id = generate_identity(o.name);
    if (!id) throw UserError("identity: " + id.error().message());
    const SecretBytes pem = identity_to_pem(*id);
    if (auto w = write_private_file(o.identity_out, pem); !w) throw UserError(file_error("identity file", o.identity_out, w.error()));
    std::cout << "identity written to " << o.identity_out << " (P-256 key + self-signed certificate, mode 0600)\n"
              << "fingerprint: " << format_fingerprint(id->fingerprint) << "\n"
              << "give this fingerprint to the peer (--peer-fingerprint) over a channel you trust\n";
    return;
  }
  auto key = generate_psk();
  if (!key) throw UserError("PSK: " + key.error().message());
  std::string hex = psk_to_hex(*key), qr = psk_to_qr_string(*key);
  auto wipe = [&] {
    secure_wipe(hex.data(), hex.size());
    secure_wipe(qr.data(), qr.size());
  };
  if (!o.psk_out.empty()) {
    std::string line = hex + "\n";
    auto w = write_private_file(o.psk_out, as_bytes(line));
    secure_wipe(line.data(), line.size());
    if (!w) {
      wipe();
      throw UserError(file_error("PSK file", o.psk_out, w.error()));
    }
    std::cout << "PSK written to " << o.psk_out << " (mode 0600); the same key for the peer, as text:\n";
  }
  std::cout << "psk: " << hex << "\n" << "qr:  " << qr << "\n";
  wipe();
}

void add_transport(CLI::App* sub, Options& o) {
  sub->add_option("--rfcomm", o.rfcomm, "Bluetooth Classic RFCOMM: ADDR:CHANNEL (SOCK_STREAM)");
  sub->add_option("--l2cap", o.l2cap, "Bluetooth LE L2CAP connection-oriented channel: ADDR:PSM (SOCK_SEQPACKET)");
  sub->add_option("--unix", o.unix_path, "Unix socket path");
  sub->add_option("--tcp", o.tcp, "TCP HOST:PORT");
  sub->add_flag("--seqpacket", o.seqpacket, "With --unix: a SOCK_SEQPACKET socket (tests the L2CAP framing without a radio)");
  sub->add_option("--mtu", o.mtu, "Send MTU for SEQPACKET links (23..65535, default: the L2CAP channel's, 512 for --unix)")
      ->transform(decimal(23, 65535));
  sub->add_flag("--le-random", o.le_random, "With --l2cap (connect): the peer's LE address is a random one");
  sub->add_option("--psk-file", o.psk_file, "PSK file (64 hex digits or a BLECRYPT-PSK1 string, mode 0600)");
  sub->add_option("--psk-identity", o.psk_identity, "PSK identity (default: blecrypt)");
  sub->add_option("--identity", o.identity, "Our identity file from `keygen --identity-out` (mode 0600)");
  sub->add_option("--peer-fingerprint", o.peer_fingerprint, "The peer's SHA-256 certificate fingerprint (identity mode)");
  sub->add_option("--trust-on-first-use", o.tofu_file,
                  "Identity mode without --peer-fingerprint: FILE holds the pinned fingerprint; if FILE does not exist, "
                  "the first peer is accepted and its fingerprint written there");
  sub->add_option("--handshake-timeout", o.handshake_timeout, "Seconds for the TLS handshake (default 15)")->transform(decimal(1, 3600));
  sub->add_option("--connect-timeout", o.connect_timeout, "Seconds for connect (default 10)")->transform(decimal(1, 3600));
}

// Runs a verb, leaving a non-zero exit code once every local (and its secrets) is destroyed.
void finish(int rc) {
  if (rc != 0) {
    std::cout.flush();
    std::exit(rc);
  }
}

const Register group{VerbGroup{
    "channel", "Encrypted TLS 1.3 channel over Bluetooth RFCOMM / LE L2CAP (and Unix, TCP) byte streams", [](CLI::App& g) {
      g.require_subcommand(1);
      static Options o;
      auto* kg = g.add_subcommand("keygen", "New PSK (hex and QR string), or with --identity-out a self-signed P-256 identity");
      kg->add_option("--identity-out", o.identity_out, "Write a new identity (key + certificate, mode 0600) here and print its fingerprint");
      kg->add_option("--psk-out", o.psk_out, "Also write the new PSK to this file (mode 0600)");
      kg->add_option("--name", o.name, "Common name in the identity's certificate");
      kg->callback([kg] { keygen(o, *kg); });
      auto* fp = g.add_subcommand("fingerprint", "Print the SHA-256 fingerprint of an identity file");
      fp->add_option("--identity", o.identity, "Identity file");
      fp->callback([] {
        if (o.identity.empty()) throw UserError("fingerprint needs --identity F");
        auto pem = read_private_file(o.identity);
        if (!pem) throw UserError(file_error("identity file", o.identity, pem.error()));
        auto id = parse_identity(*pem);
        if (!id) throw UserError(file_error("identity file", o.identity, id.error()));
        std::cout << format_fingerprint(id->fingerprint) << "\n";
      });
      auto* listen = g.add_subcommand("listen", "Accept one connection, run the TLS server side, pipe stdin/stdout");
      add_transport(listen, o);
      listen->callback([listen] { finish(run(o, *listen, true)); });
      auto* connect = g.add_subcommand("connect", "Connect, run the TLS client side, pipe stdin/stdout");
      add_transport(connect, o);
      connect->callback([connect] { finish(run(o, *connect, false)); });
    }}};

}  // namespace
}  // namespace blecrypt::cli
