#include "blecrypt/link/bluez/event_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace blecrypt::link::bluez {

TimePoint EventLoop::clock_now() {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

EventLoop::Id EventLoop::at(TimePoint when, std::function<void()> fn) {
  const Id id = next_id_++;
  timers_.emplace(id, Timer{when, std::move(fn)});
  return id;
}
void EventLoop::cancel(Id timer) { timers_.erase(timer); }

EventLoop::Id EventLoop::watch(int fd, short events, std::function<void(short)> fn) {
  const Id id = next_id_++;
  watches_.emplace(id, Watch{fd, events, std::move(fn)});
  return id;
}
void EventLoop::unwatch(Id w) { watches_.erase(w); }

EventLoop::Id EventLoop::add_source(Source source) {
  const Id id = next_id_++;
  sources_.emplace(id, std::move(source));
  return id;
}
void EventLoop::remove_source(Id s) { sources_.erase(s); }

void EventLoop::run_once(std::optional<TimePoint> limit) {
  // Callbacks may add or remove entries of any map: work on copied ids, look each up again.
  std::vector<pollfd> fds;
  std::vector<std::pair<bool, Id>> owners;  // (is_source, id) per pollfd
  std::optional<TimePoint> wake = limit;
  std::vector<Id> source_ids;
  for (const auto& [id, s] : sources_) source_ids.push_back(id);
  for (Id id : source_ids) {
    auto it = sources_.find(id);
    if (it == sources_.end() || !it->second.prepare) continue;
    const Wait w = it->second.prepare();
    if (w.fd >= 0) {
      fds.push_back(pollfd{w.fd, w.events, 0});
      owners.emplace_back(true, id);
    }
    if (w.deadline && (!wake || *w.deadline < *wake)) wake = w.deadline;
  }
  for (const auto& [id, w] : watches_) {
    fds.push_back(pollfd{w.fd, w.events, 0});
    owners.emplace_back(false, id);
  }
  for (const auto& [id, t] : timers_)
    if (!wake || t.when < *wake) wake = t.when;

  int timeout_ms = -1;
  if (wake) {
    const auto left = *wake - clock_now();
    if (left <= Duration::zero()) {
      timeout_ms = 0;
    } else {
      // Round up so a timer is never woken for early (which would spin).
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      timeout_ms = static_cast<int>(std::min<long long>(ms, 24LL * 3600 * 1000));
    }
  }
  const int n = ::poll(fds.data(), fds.size(), timeout_ms);
  const TimePoint now = clock_now();
  if (n < 0 && errno != EINTR) return;

  for (std::size_t i = 0; i < fds.size(); ++i) {
    const auto [is_source, id] = owners[i];
    if (is_source) continue;
    if (n > 0 && fds[i].revents != 0) {
      auto it = watches_.find(id);
      if (it != watches_.end()) {
        auto fn = it->second.fn;  // the callback may unwatch itself
        fn(fds[i].revents);
      }
    }
  }
  for (Id id : source_ids) {
    auto it = sources_.find(id);
    if (it == sources_.end() || !it->second.dispatch) continue;
    short revents = 0;
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (owners[i].first && owners[i].second == id) revents = n > 0 ? fds[i].revents : 0;
    auto fn = it->second.dispatch;
    fn(revents, now);
  }
  std::vector<Id> due;
  for (const auto& [id, t] : timers_)
    if (t.when <= now) due.push_back(id);
  for (Id id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    auto fn = std::move(it->second.fn);
    timers_.erase(it);
    fn();
  }
}

bool EventLoop::run_until(const std::function<bool()>& done, TimePoint deadline) {
  while (!done()) {
    if (clock_now() >= deadline) return done();
    run_once(deadline);
  }
  return true;
}

void EventLoop::run() {
  quit_ = false;
  while (!quit_) run_once();
}

}  // namespace blecrypt::link::bluez
