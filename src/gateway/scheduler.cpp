#include "blecrypt/gateway/scheduler.hpp"

#include <algorithm>

#include "blecrypt/engine.hpp"
#include "blecrypt/gateway/errors.hpp"

namespace blecrypt::gateway {

DeviceScheduler::DeviceScheduler(SchedulerConfig cfg) : cfg_(cfg), backoff_(cfg.reconnect_min) {}

void DeviceScheduler::start(TimePoint now) {
  running_ = true;
  announce(false);
  next_connect_ = now;
  step(now);
}

void DeviceScheduler::stop() {
  running_ = false;
  while (!queue_.empty()) actions_.push_back(actions::CommandFailed{queue_.take(), make_error_code(Errc::device_unavailable)});
  next_connect_.reset();
  next_poll_.reset();
}

void DeviceScheduler::announce(bool online) {
  if (announced_online_ == online) return;
  announced_online_ = online;
  actions_.push_back(actions::Availability{online});
}

void DeviceScheduler::on_link_up(TimePoint now) {
  if (!running_) return;
  state_ = State::idle;
  backoff_ = cfg_.reconnect_min;
  next_connect_.reset();
  announce(true);
  // Refresh at once: the state may have changed while the link was down (connect-per-poll
  // connects only when the poll is due anyway). Commands go first.
  next_poll_ = now;
  step(now);
}

void DeviceScheduler::on_link_down(TimePoint now) {
  const State was = state_;
  state_ = State::down;
  if (in_flight_) {
    // On its way when the link dropped: fail it, never replay it (the device may have acted).
    actions_.push_back(actions::CommandFailed{std::move(*in_flight_), make_error_code(Errc::link_lost)});
    in_flight_.reset();
  }
  if (!running_) return;
  const bool planned = !cfg_.persistent && was == State::idle;
  if (!planned) {
    announce(false);
    next_connect_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, cfg_.reconnect_max);
  } else {
    next_connect_ = next_poll_ ? *next_poll_ : now + cfg_.poll_interval;
  }
  step(now);
}

void DeviceScheduler::poll_done(TimePoint now, bool ok) {
  if (state_ != State::polling) return;
  state_ = State::idle;
  if (ok) ++polls_;
  next_poll_ = now + cfg_.poll_interval;
  if (!cfg_.persistent && queue_.empty()) {
    actions_.push_back(actions::Disconnect{});
    return;
  }
  step(now);
}

void DeviceScheduler::write_done(TimePoint now) {
  if (state_ != State::writing) return;
  in_flight_.reset();
  state_ = State::idle;
  // A command changes state: refresh soon so the new value is published.
  next_poll_ = now;
  step(now);
}

std::error_code DeviceScheduler::submit(Command c, TimePoint now) {
  if (!running_) return make_error_code(Errc::device_disabled);
  if (queue_.size() >= cfg_.queue_limit) return make_error_code(Errc::queue_full);
  c.expires = now + cfg_.command_wait;
  queue_.push_back(std::move(c));
  if (state_ == State::down && !cfg_.persistent) next_connect_ = now;  // connect-per-poll: go now
  step(now);
  return {};
}

void DeviceScheduler::expire(TimePoint now) {
  // Commands share one wait, so the oldest expires first.
  while (!queue_.empty() && queue_.front().expires <= now && state_ != State::idle)
    actions_.push_back(actions::CommandFailed{queue_.take(), make_error_code(Errc::device_unavailable)});
}

void DeviceScheduler::step(TimePoint now) {
  if (!running_) return;
  expire(now);
  switch (state_) {
    case State::down:
      if (next_connect_ && *next_connect_ <= now) {
        next_connect_.reset();
        state_ = State::connecting;
        actions_.push_back(actions::Connect{});
      }
      break;
    case State::idle:
      if (!queue_.empty()) {
        in_flight_ = queue_.take();
        state_ = State::writing;
        actions_.push_back(actions::Write{*in_flight_});
      } else if (next_poll_ && *next_poll_ <= now) {
        state_ = State::polling;
        next_poll_.reset();
        actions_.push_back(actions::Poll{});
      }
      break;
    case State::connecting:
    case State::polling:
    case State::writing: break;
  }
}

std::optional<Action> DeviceScheduler::poll_action() {
  if (actions_.empty()) return std::nullopt;
  return actions_.take();
}

std::optional<TimePoint> DeviceScheduler::next_deadline() const {
  if (!running_) return std::nullopt;
  std::optional<TimePoint> d;
  if (state_ == State::down) d = earliest(d, next_connect_);
  if (state_ == State::idle) d = earliest(d, next_poll_);
  if (!queue_.empty() && state_ != State::idle) d = earliest(d, queue_.front().expires);
  return d;
}

void DeviceScheduler::on_deadline(TimePoint now) { step(now); }

}  // namespace blecrypt::gateway
