// link::bluez::EventLoop: the one single-threaded poll() loop a BlueZ program runs. It carries the
// D-Bus connection (a Source), notification sockets from AcquireNotify (fd watches), timers
// (connect/retry timeouts) and engine deadlines (link::Session::next_deadline via attach()).
// No thread, no sleeping to poll: every wait is one poll() bounded by the earliest timer.
//
//   EventLoop loop;
//   auto id = loop.after(std::chrono::seconds(5), [&] { ... });     // a timer
//   loop.watch(fd, POLLIN, [&](short revents) { ... });             // a socket
//   loop.run_until([&] { return done; }, loop.now() + std::chrono::seconds(30));
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "blecrypt/time.hpp"

namespace blecrypt::link::bluez {

class EventLoop {
 public:
  using Id = std::uint64_t;

  // Something polled every round: prepare() says what to wait for (it must not run callbacks:
  // run_until checks done() only between rounds; work already pending = a deadline of now);
  // dispatch() runs after poll and does the work.
  struct Wait {
    int fd = -1;                         // -1: no fd
    short events = 0;
    std::optional<TimePoint> deadline;   // wake up no later than this
  };
  struct Source {
    std::function<Wait()> prepare;
    std::function<void(short revents, TimePoint now)> dispatch;
  };

  EventLoop() = default;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // CLOCK_MONOTONIC (std::chrono::steady_clock), the clock of every TimePoint the loop hands out.
  static TimePoint clock_now();
  TimePoint now() const { return clock_now(); }

  Id at(TimePoint when, std::function<void()> fn);
  Id after(Duration d, std::function<void()> fn) { return at(now() + d, std::move(fn)); }
  void cancel(Id timer);

  Id watch(int fd, short events, std::function<void(short revents)> fn);
  void unwatch(Id watch);

  Id add_source(Source source);
  void remove_source(Id source);

  // One round: prepare sources, poll until the first fd/timer (or `limit`), dispatch.
  void run_once(std::optional<TimePoint> limit = std::nullopt);
  // Runs rounds until done() is true (returns true) or `deadline` passes (returns done()).
  bool run_until(const std::function<bool()>& done, TimePoint deadline);
  // Runs until quit().
  void run();
  void quit() { quit_ = true; }

 private:
  struct Timer {
    TimePoint when;
    std::function<void()> fn;
  };
  struct Watch {
    int fd;
    short events;
    std::function<void(short)> fn;
  };
  Id next_id_ = 1;
  std::map<Id, Timer> timers_;
  std::map<Id, Watch> watches_;
  std::map<Id, Source> sources_;
  bool quit_ = false;
};

}  // namespace blecrypt::link::bluez
