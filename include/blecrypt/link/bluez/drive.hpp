// Running a link::Session on an EventLoop: the engine's deadlines become loop wake-ups.
//
//   auto guard = attach(loop, session);          // the session's deadlines run while attached
//   bool ok = run_until(loop, session, [&] { return session.up(); }, std::chrono::seconds(30));
#pragma once

#include <functional>

#include "blecrypt/link/bluez/event_loop.hpp"
#include "blecrypt/link/session.hpp"

namespace blecrypt::link::bluez {

// Detaches on destruction.
class Attachment {
 public:
  Attachment(EventLoop& loop, EventLoop::Id id) : loop_(&loop), id_(id) {}
  Attachment(Attachment&& o) noexcept : loop_(std::exchange(o.loop_, nullptr)), id_(o.id_) {}
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;
  Attachment& operator=(Attachment&&) = delete;
  ~Attachment() {
    if (loop_) loop_->remove_source(id_);
  }

 private:
  EventLoop* loop_;
  EventLoop::Id id_;
};

template <Engine E>
[[nodiscard]] Attachment attach(EventLoop& loop, Session<E>& session) {
  EventLoop::Source src;
  src.prepare = [&session] {
    EventLoop::Wait w;
    w.deadline = session.next_deadline();
    return w;
  };
  src.dispatch = [&session](short, TimePoint now) {
    if (auto d = session.next_deadline(); d && *d <= now) session.on_deadline(now);
  };
  return Attachment(loop, loop.add_source(std::move(src)));
}

// Runs the loop (D-Bus, notification sockets, timers, the session's deadlines) until `done()`
// holds or `timeout` passes; returns done(). Never sleeps to poll.
template <Engine E>
bool run_until(EventLoop& loop, Session<E>& session, const std::function<bool()>& done, Duration timeout) {
  auto guard = attach(loop, session);
  return loop.run_until(done, loop.now() + timeout);
}

}  // namespace blecrypt::link::bluez
