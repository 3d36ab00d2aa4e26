// The per-device scheduler (sans-IO): when to connect, when to poll, which command goes next,
// when a waiting command gives up, and whether the device is available. The daemon feeds it
// link and operation outcomes with the time, and carries out the actions it emits.
//
//   link down --(Connect at backoff)--> connecting --(on_link_up)--> up --(Poll every interval)-->
//   One operation at a time on a link: a command goes before the next poll.
//   Commands wait at most `command_wait` for a down device, then fail with device_unavailable.
//   A command on its way when the link drops fails with link_lost and is never replayed.
//   The queue holds at most `queue_limit` commands; more are refused at once (queue_full).
//
// Battery packs (set_pack_tier): a slow tier of its own, one pack per `interval`, packs 1..N in
// turn. With IoT V1 paging the pack is selected first (SelectPack) and read (ReadPack) only once
// `settle` has passed: the settle is a deadline, not a wait, so polls and commands run on the link
// meanwhile. Commands go first, then a due poll, then the pack step. A command may change the
// page (the selector is a setting), so after one the pack is selected again before it is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <variant>

#include "blecrypt/fifo.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::gateway {

struct SchedulerConfig {
  Duration poll_interval = std::chrono::seconds(5);
  Duration command_wait = std::chrono::seconds(30);
  std::size_t queue_limit = 8;
  bool persistent = true;  // false: disconnect after each poll, connect again at the next one
  Duration reconnect_min = std::chrono::seconds(1);
  Duration reconnect_max = std::chrono::seconds(60);
};

struct PackTier {
  unsigned packs = 0;    // read packs 1..packs in turn (0: no pack tier)
  bool select = false;   // IoT V1 paging: SelectPack, wait `settle`, then ReadPack
  Duration settle{};
  Duration interval{};   // one pack per interval (zero: no pack tier)
};

struct Command {
  std::uint64_t id = 0;
  std::string field;
  std::uint16_t value = 0;
  std::string reply_topic;  // where the result goes
  TimePoint expires{};      // set by submit(): now + command_wait
};

namespace actions {
struct Connect {};                 // open the link (and handshake)
struct Disconnect {};              // close the link (connect-per-poll mode, after a poll)
struct Poll {};                    // read every field; report with poll_done()
struct Write {                     // carry out a command; report with write_done()
  Command command;
};
struct CommandFailed {             // publish an error result for this command
  Command command;
  std::error_code error;
};
struct Availability {              // publish online / offline
  bool online;
};
struct SelectPack {                // write the pack selector; report with pack_select_done()
  unsigned pack;
};
struct ReadPack {                  // read (and publish) the pack data; report with pack_read_done()
  unsigned pack;
};
}  // namespace actions
using Action = std::variant<actions::Connect, actions::Disconnect, actions::Poll, actions::Write, actions::CommandFailed,
                            actions::Availability, actions::SelectPack, actions::ReadPack>;

class DeviceScheduler {
 public:
  enum class State { down, connecting, idle, polling, writing, selecting_pack, reading_pack };

  explicit DeviceScheduler(SchedulerConfig cfg);

  // Start serving: connect now.
  void start(TimePoint now);
  // Stop: queued commands fail (device_unavailable), nothing more is emitted but the failures.
  void stop();

  void on_link_up(TimePoint now);
  // The link dropped or the connection attempt failed.
  void on_link_down(TimePoint now);
  void poll_done(TimePoint now, bool ok);
  // The command in flight finished, either way (the caller publishes its result).
  void write_done(TimePoint now);

  // The pack tier (the model is known once detected); the first pack is due at once.
  void set_pack_tier(PackTier tier, TimePoint now);
  // How many packs the unit reports (its pack-count register), at most the tier's.
  void set_pack_count(unsigned packs);
  void pack_select_done(TimePoint now, bool ok);
  void pack_read_done(TimePoint now, bool ok);

  // Queues a command; refused at once with queue_full (the caller publishes the error result).
  std::error_code submit(Command c, TimePoint now);

  std::optional<Action> poll_action();
  std::optional<TimePoint> next_deadline() const;
  void on_deadline(TimePoint now);

  State state() const noexcept { return state_; }
  bool available() const noexcept { return announced_online_.value_or(false); }
  std::size_t queued() const noexcept { return queue_.size(); }
  std::uint64_t polls() const noexcept { return polls_; }
  std::uint64_t pack_reads() const noexcept { return pack_reads_; }
  unsigned pack_count() const noexcept { return pack_count_; }
  // The pack the next pack step is for (1-based; 0 without a pack tier).
  unsigned next_pack() const noexcept { return pack_count_ ? pack_ : 0; }

 private:
  void step(TimePoint now);
  // When the next pack step may run (nullopt: no pack tier).
  std::optional<TimePoint> pack_ready_at() const;
  void next_pack_after(TimePoint now);
  bool pack_due(TimePoint now) const;
  void expire(TimePoint now);
  void announce(bool online);

  SchedulerConfig cfg_;
  State state_ = State::down;
  bool running_ = false;
  Fifo<Command> queue_;
  std::optional<Command> in_flight_;
  Fifo<Action> actions_;
  std::optional<TimePoint> next_poll_, next_connect_;
  Duration backoff_;
  std::optional<bool> announced_online_;
  std::uint64_t polls_ = 0;
  PackTier tier_;
  unsigned pack_count_ = 0, pack_ = 1;
  std::optional<TimePoint> next_pack_, settled_at_;
  std::optional<unsigned> selected_;  // the pack selected on this link (nullopt: unknown)
  std::uint64_t pack_reads_ = 0;
};

}  // namespace blecrypt::gateway
