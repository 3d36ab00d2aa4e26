// Shared helpers of the channel tests: two engines joined in memory, identities, temp files, and
// child processes (openssl s_server / s_client) with bounded waits.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "blecrypt/channel/channel.hpp"
#include "blecrypt/channel/keys.hpp"
#include "blecrypt/link/pipe.hpp"

namespace blecrypt::channel::test {

using namespace std::chrono_literals;

inline SecretBytes test_psk(std::uint8_t fill = 0x42) {
  SecretBytes k(kPskSize);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(fill + i);
  return k;
}

inline Config psk_config(Role role, SecretBytes key = test_psk(), std::string identity = kDefaultPskIdentity) {
  Config c;
  c.role = role;
  c.mode = PskMode{std::move(key), std::move(identity)};
  return c;
}

inline const Identity& identity_a() {
  static const Identity id = *generate_identity("test a");
  return id;
}
inline const Identity& identity_b() {
  static const Identity id = *generate_identity("test b");
  return id;
}

inline Config identity_config(Role role, const Identity& me, std::optional<Bytes> pin) {
  Config c;
  c.role = role;
  c.mode = IdentityMode{me.private_key_pem, me.certificate_pem, std::move(pin)};
  return c;
}

// Everything each side saw.
struct Seen {
  std::vector<HandshakeComplete> hellos;
  Bytes data;
  int closed = 0;
  std::vector<Failed> failures;
  void take(Channel& ch) {
    while (auto ev = ch.poll_event()) {
      if (auto* h = std::get_if<HandshakeComplete>(&*ev)) hellos.push_back(*h);
      else if (auto* d = std::get_if<DataReceived>(&*ev)) append(data, d->data);
      else if (std::holds_alternative<ClosedByPeer>(*ev)) ++closed;
      else failures.push_back(std::get<Failed>(*ev));
    }
  }
  std::error_code error() const { return failures.empty() ? std::error_code{} : failures.front().error; }
};

// Two engines joined by link::Pipe (the project's one two-engine pump); `split` cuts every
// transmission into pieces of at most that many bytes before feeding (0: whole). The events of
// each side are collected into cs/ss after every pump.
struct Pair {
  Channel client, server;
  link::Pipe<Channel, Channel> pipe{client, server};
  Seen cs, ss;
  TimePoint& now = pipe.now;
  std::size_t split = 0;
  Pair(Config c, Config s) : client(std::move(c)), server(std::move(s)) {}

  void up() {
    server.on_link_up(now);
    client.on_link_up(now);
    pump();
  }
  void pump() {
    pipe.set_pdu_size(split == 0 ? link::Pipe<Channel, Channel>::kWhole : split);
    pipe.pump();
    cs.take(client);
    ss.take(server);
  }
};

inline std::filesystem::path temp_dir() {
  std::string templ = std::string("/tmp/bc-XXXXXX");  // short: openssl s_server -unix fails on paths of 30+ bytes
  char* d = ::mkdtemp(templ.data());
  return d != nullptr ? std::filesystem::path(d) : std::filesystem::path();
}

inline void write_file(const std::filesystem::path& p, std::string_view text, mode_t mode = 0600) {
  ::unlink(p.c_str());
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
  ASSERT_GE(fd, 0);
  ::fchmod(fd, mode);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

// A child process with stdin/stdout pipes (stderr merged into stdout); killed when destroyed.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    ::fcntl(out_, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  void write(std::string_view s) { (void)!::write(in_, s.data(), s.size()); }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  // Reads until `needle` appears in the output (true) or the timeout passes (false).
  bool wait_for(std::string_view needle, std::chrono::milliseconds timeout = 10s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (output_.find(needle) != std::string::npos) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n > 0) output_.append(buf, static_cast<std::size_t>(n));
      else if (n == 0) return output_.find(needle) != std::string::npos;
    }
  }
  const std::string& output() const { return output_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string output_;
};

// A TCP port free right now on 127.0.0.1.
int free_port();

}  // namespace blecrypt::channel::test
