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
  next_pack_.reset();
  settled_at_.reset();
  selected_.reset();
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
  selected_.reset();  // the unit may have paged meanwhile
  settled_at_.reset();
  if (!next_pack_) next_pack_ = now;
  step(now);
}

void DeviceScheduler::on_link_down(TimePoint now) {
  const State was = state_;
  state_ = State::down;
  selected_.reset();
  settled_at_.reset();
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
  // Connect-per-poll: the link stays up while a pack step is due (select, settle, read).
  if (!cfg_.persistent && queue_.empty() && !pack_due(now)) {
    actions_.push_back(actions::Disconnect{});
    return;
  }
  step(now);
}

void DeviceScheduler::set_pack_tier(PackTier tier, TimePoint now) {
  tier_ = tier;
  pack_count_ = tier.interval > Duration::zero() ? tier.packs : 0;
  pack_ = 1;
  selected_.reset();
  settled_at_.reset();
  next_pack_ = now;
}

void DeviceScheduler::set_pack_count(unsigned packs) {
  if (tier_.interval <= Duration::zero()) return;
  pack_count_ = std::min(packs, tier_.packs);
  if (pack_ > pack_count_) pack_ = 1;
}

std::optional<TimePoint> DeviceScheduler::pack_ready_at() const {
  if (pack_count_ == 0 || !next_pack_) return std::nullopt;
  TimePoint t = *next_pack_;
  if (tier_.select && selected_ == pack_ && settled_at_) t = std::max(t, *settled_at_);
  return t;
}

bool DeviceScheduler::pack_due(TimePoint now) const { return pack_count_ > 0 && next_pack_ && *next_pack_ <= now; }

void DeviceScheduler::next_pack_after(TimePoint now) {
  pack_ = pack_count_ ? pack_ % pack_count_ + 1 : 1;
  next_pack_ = now + tier_.interval;
}

void DeviceScheduler::pack_select_done(TimePoint now, bool ok) {
  if (state_ != State::selecting_pack) return;
  state_ = State::idle;
  if (ok) {
    selected_ = pack_;
    settled_at_ = now + tier_.settle;
  } else {
    selected_.reset();  // skip this pack for now
    next_pack_after(now);
  }
  step(now);
}

void DeviceScheduler::pack_read_done(TimePoint now, bool ok) {
  if (state_ != State::reading_pack) return;
  state_ = State::idle;
  if (ok) ++pack_reads_;
  next_pack_after(now);
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
  // A command changes state: refresh soon so the new value is published. It may also have
  // paged the unit to another pack: select again before the next pack read.
  next_poll_ = now;
  selected_.reset();
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
      } else if (auto t = pack_ready_at(); t && *t <= now) {
        if (tier_.select && selected_ != pack_) {
          state_ = State::selecting_pack;
          actions_.push_back(actions::SelectPack{pack_});
        } else {
          state_ = State::reading_pack;
          actions_.push_back(actions::ReadPack{pack_});
        }
      }
      break;
    case State::connecting:
    case State::polling:
    case State::writing:
    case State::selecting_pack:
    case State::reading_pack: break;
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
  if (state_ == State::idle) d = earliest(earliest(d, next_poll_), pack_ready_at());
  if (!queue_.empty() && state_ != State::idle) d = earliest(d, queue_.front().expires);
  return d;
}

void DeviceScheduler::on_deadline(TimePoint now) { step(now); }

}  // namespace blecrypt::gateway
