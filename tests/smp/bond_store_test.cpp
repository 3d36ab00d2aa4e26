// The bond store's file handling: race-free atomic saves under a lock, no symlink followed,
// bounded reads of regular private files only, the peer line checked against the file name,
// the bond text in wiped storage.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <type_traits>

#include "blecrypt/smp/bond_store.hpp"
#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::smp {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("blecrypt_bond_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

BondRecord sample(std::uint8_t last = 0x55, std::uint8_t key = 0xab) {
  BondRecord r;
  r.peer = *Address::parse("C0:11:22:33:44:00/random");
  r.peer.bytes[5] = last;
  r.method = Method::numeric_comparison;
  r.info.sc = true;
  r.info.authenticated = true;
  r.info.ltk = SecretBytes(Bytes(16, key));
  r.info.peer.identity = r.peer;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_private(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(BondStore, TheBondTextLivesInWipedStorage) {
  static_assert(std::is_same_v<decltype(serialize_bond(std::declval<const BondRecord&>())), SecretBytes>);
  const auto text = serialize_bond(sample());
  EXPECT_NE(text_of(text).find("ltk = abababababababababababababababab\n"), std::string_view::npos);
  auto back = parse_bond(text_of(text));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(equal(back->info.ltk, sample().info.ltk));
}

TEST(BondStore, ParseRefusesDuplicateKeysAndSloppyNumbers) {
  std::string text(text_of(serialize_bond(sample())));
  EXPECT_TRUE(parse_bond(text));
  auto dup = text;
  dup.insert(dup.find("end\n"), "sc = 0\n");
  EXPECT_EQ(parse_bond(dup).error(), Errc::bond_corrupt);
  auto sloppy = text;
  sloppy.replace(sloppy.find("key_size = 16"), 13, "key_size = 16x");
  EXPECT_EQ(parse_bond(sloppy).error(), Errc::bond_corrupt);
  EXPECT_EQ(parse_bond(std::string(kMaxBondFileSize + 1, 'a')).error(), Errc::bond_too_large);
}

// #15 item 11: a bond copied (or renamed) to another peer's file name is not that peer's bond.
TEST(BondStore, ThePeerLineMustMatchTheFileName) {
  auto d = temp_dir("mismatch");
  BondStore store(d);
  const auto a = sample(0x01), b = sample(0x02);
  ASSERT_TRUE(store.save(a));
  fs::copy_file(store.path_for(a.peer), store.path_for(b.peer));
  fs::permissions(store.path_for(b.peer), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(store.read(b.peer).error(), Errc::bond_peer_mismatch);
  EXPECT_FALSE(store.find(b.peer));
  EXPECT_FALSE(store.resolve(b.peer, crypto::default_backend()));
  auto rep = store.load_all();
  EXPECT_EQ(rep.bonds.size(), 1u);
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_NE(rep.problems[0].find("peer ="), std::string::npos) << rep.problems[0];
  EXPECT_TRUE(store.read(a.peer));
  fs::remove_all(d);
}

// #8: one error enum per module: the bond-file and policy errors are smp::Errc values of the
// "blecrypt.smp" category (they had a category of their own), with their messages unchanged.
TEST(BondStore, FileErrorsAreSmpErrorsWithStableMessages) {
  const std::error_code e = make_error_code(Errc::bond_not_private);
  EXPECT_STREQ(e.category().name(), "blecrypt.smp");
  EXPECT_EQ(e.category(), make_error_code(Errc::bond_corrupt).category());
  EXPECT_EQ(e.message(), "smp bond store: bond file is accessible by group or others; chmod 600 it (it holds keys)");
  EXPECT_EQ(make_error_code(Errc::pairing_in_progress).message(),
            "smp security manager: a pairing is in progress; change the settings before pair() or after it completes");
  EXPECT_GT(static_cast<int>(Errc::bond_not_regular), static_cast<int>(Errc::not_bonded));  // earlier codes kept
}

// #15 item 4: reads are bounded: no blocking on a FIFO, no endless /dev/zero, no directories,
// no symlinks, no oversized or group/other-accessible files.
TEST(BondStore, ReadsOnlySmallPrivateRegularFiles) {
  auto d = temp_dir("bounded");
  EXPECT_EQ(read_bond_file("/dev/zero").error(), Errc::bond_not_regular);
  EXPECT_EQ(read_bond_file(d).error(), Errc::bond_not_regular);
  const auto fifo = d / "fifo.bond";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_bond_file(fifo).error(), Errc::bond_not_regular);  // returns at once, no writer needed
  const auto good = d / "good.bond";
  write_private(good, std::string(text_of(serialize_bond(sample()))));
  EXPECT_TRUE(read_bond_file(good));
  fs::create_symlink(good, d / "link.bond");
  EXPECT_EQ(read_bond_file(d / "link.bond").error(), Errc::bond_symlink);
  write_private(d / "big.bond", std::string(kMaxBondFileSize + 1, '#'));
  EXPECT_EQ(read_bond_file(d / "big.bond").error(), Errc::bond_too_large);
  fs::permissions(good, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  EXPECT_EQ(read_bond_file(good).error(), Errc::bond_not_private);
  EXPECT_NE(read_bond_file(good).error().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(read_bond_file(d / "absent.bond").error(), std::errc::no_such_file_or_directory);
  // The store reports them all and keeps going.
  BondStore store(d);
  auto rep = store.load_all();
  EXPECT_TRUE(rep.bonds.empty());
  EXPECT_EQ(rep.problems.size(), 4u);  // fifo, link, big, good (group-readable)
  fs::remove_all(d);
}

// Peak resident memory of this process in KiB (VmHWM of /proc/self/status).
long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// #15 item 4: the size cap holds before anything is read. A 256 MiB (sparse) bond file is refused
// without reading it: the reader's peak memory does not grow by the file's size (measured in a
// child process, whose peak starts from the parent's current size).
TEST(BondStore, AHugeBondFileIsRefusedWithoutReadingIt) {
  auto d = temp_dir("huge");
  const auto huge = d / "huge.bond";
  write_private(huge, "# blecrypt smp bond v1\n");
  ASSERT_EQ(::truncate(huge.c_str(), off_t{256} << 20), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const long before = peak_rss_kib();
    const bool refused = read_bond_file(huge).error() == Errc::bond_too_large;
    const long grown = peak_rss_kib() - before;
    ::_exit(before < 0 ? 3 : !refused ? 2 : grown > 64 * 1024 ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the reader's memory grew by more than 64 MiB; 2: not refused as too large";
  fs::remove_all(d);
}

// #15 item 3: a symlink planted where the writer puts its temporary file (or the bond itself)
// is never followed; a planted lock-file symlink makes the save fail instead of being followed.
TEST(BondStore, PlantedSymlinksAreNeverFollowed) {
  auto d = temp_dir("symlink");
  const auto victim = d / "victim";
  write_private(victim, "precious\n");
  BondStore store(d / "bonds");
  const auto rec = sample();
  fs::create_directories(store.directory());
  const auto bond = store.path_for(rec.peer);
  fs::create_symlink(victim, bond.string() + ".tmp");                       // the old fixed temp name
  fs::create_symlink(victim, store.directory() / ("." + bond.filename().string() + ".tmp"));
  fs::create_symlink(victim, bond);                                           // the bond's own name
  ASSERT_TRUE(store.save(rec));
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_FALSE(fs::is_symlink(bond));
  EXPECT_TRUE(store.read(rec.peer));

  BondStore locked(d / "locked");
  fs::create_directories(locked.directory());
  fs::create_symlink(victim, locked.directory() / ".blecrypt-bonds.lock");
  EXPECT_EQ(locked.save(rec).error(), Errc::bond_symlink);
  EXPECT_EQ(slurp(victim), "precious\n");
  fs::remove_all(d);
}

// #15 item 4: a save never replaces what a read refuses: a FIFO, device or directory at the bond's
// name stays as it is (as root, rename() would have turned /dev/zero into a bond file).
TEST(BondStore, SavesDoNotReplaceNonRegularFiles) {
  auto d = temp_dir("nonregular");
  const auto fifo = d / "fifo.bond";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(BondFile(fifo).save(sample()).error(), Errc::bond_not_regular);
  EXPECT_TRUE(fs::is_fifo(fifo));
  fs::create_directories(d / "dir.bond");
  EXPECT_EQ(BondFile(d / "dir.bond").save(sample()).error(), Errc::bond_not_regular);
  EXPECT_TRUE(fs::is_directory(d / "dir.bond"));
  for (auto& e : fs::directory_iterator(d))  // no temporary file left behind
    EXPECT_TRUE(e.path().extension() == ".bond" || e.path().filename() == ".blecrypt-bonds.lock") << e.path();
  fs::remove_all(d);
}

// #15 item 3: savers in several processes at once; a reader never sees an empty or torn bond.
TEST(BondStore, ConcurrentSaversNeverExposeAnEmptyBond) {
  auto d = temp_dir("concurrent");
  BondStore store(d);
  ASSERT_TRUE(store.save(sample(0x55, 0x00)));
  std::vector<pid_t> kids;
  for (int k = 1; k <= 3; ++k) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // exit status: the number of saves that failed
      int failed = 0;
      for (int i = 0; i < 60; ++i)
        if (!store.save(sample(0x55, static_cast<std::uint8_t>(k)))) ++failed;
      ::_exit(failed);
    }
    kids.push_back(pid);
  }
  int bad = 0, reads = 0, failed_saves = 0;
  std::string first_problem;
  while (!kids.empty()) {
    auto r = store.read(sample().peer);
    ++reads;
    if (!r) {
      if (first_problem.empty()) first_problem = r.error().message();
      ++bad;
    }
    for (auto it = kids.begin(); it != kids.end();) {
      int status = 0;
      if (::waitpid(*it, &status, WNOHANG) == *it) {
        failed_saves += WIFEXITED(status) ? WEXITSTATUS(status) : 60;
        it = kids.erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_EQ(bad, 0) << "of " << reads << " reads; first: " << first_problem;
  EXPECT_EQ(failed_saves, 0) << "of 180 saves (a writer's temporary file was taken over by another)";
  for (auto& e : fs::directory_iterator(d))  // no temporary file left behind
    EXPECT_TRUE(e.path().extension() == ".bond" || e.path().filename() == ".blecrypt-bonds.lock") << e.path();
  fs::remove_all(d);
}

// #15 item 3: savers take the store's lock. A save in another process waits while the lock is
// held (seen in /proc/locks as a blocked FLOCK request of that process), and the bond is
// untouched until the lock is released.
TEST(BondStore, SaversWaitForTheStoreLock) {
  auto d = temp_dir("lock");
  BondStore store(d);
  ASSERT_TRUE(store.save(sample(0x55, 0x00)));
  const auto bond = store.path_for(sample().peer);
  const std::string before = slurp(bond);
  const int lock = ::open((d / ".blecrypt-bonds.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(::flock(lock, LOCK_EX), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(lock);  // its copy of the descriptor; the parent's still holds the lock
    ::_exit(store.save(sample(0x55, 0x01)) ? 0 : 1);
  }
  // Wait until the child is blocked on the lock (or has finished: the lock was not taken).
  const std::string waiting = "-> FLOCK  ADVISORY  WRITE " + std::to_string(pid) + " ";
  bool blocked = false, exited = false;
  for (int i = 0; i < 2000 && !blocked && !exited; ++i) {
    blocked = slurp("/proc/locks").find(waiting) != std::string::npos;
    exited = !blocked && ::waitpid(pid, nullptr, WNOHANG) == pid;
    if (!blocked && !exited) ::usleep(5000);
  }
  EXPECT_TRUE(blocked) << (exited ? "the saver did not wait for the lock" : "the saver never asked for the lock");
  EXPECT_EQ(slurp(bond), before);
  ::close(lock);  // releases the flock
  int status = 0;
  if (!exited) {
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_NE(slurp(bond), before);
  fs::remove_all(d);
}

// A writer killed with SIGKILL at any moment leaves the old bond or the new one, never a torn file.
TEST(BondStore, AWriterKilledWithSigkillNeverLeavesATornFile) {
  auto d = temp_dir("killed");
  BondStore store(d);
  ASSERT_TRUE(store.save(sample(0x55, 0x00)));
  for (int round = 0; round < 5; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (std::uint8_t i = 0;; ++i) (void)store.save(sample(0x55, i));
    }
    ::usleep(static_cast<useconds_t>(2000 + 3000 * round));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    auto r = store.read(sample().peer);
    ASSERT_TRUE(r) << "round " << round << ": " << r.error().message();
  }
  fs::remove_all(d);
}

TEST(BondFile, OneBondInAFileOfAnyName) {
  auto d = temp_dir("file");
  BondFile f(d / "central.bond");
  auto none = f.lookup(sample().peer, crypto::default_backend());
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(f.save(sample()));
  struct stat st {};
  ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto got = f.lookup(*Address::parse("11:22:33:44:55:66/public"), crypto::default_backend());
  ASSERT_TRUE(got);
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->peer, sample().peer);
  ASSERT_TRUE(f.remove(sample().peer));
  EXPECT_EQ(f.remove(sample().peer).error(), Errc::not_bonded);
  fs::remove_all(d);
}

}  // namespace
}  // namespace blecrypt::smp
