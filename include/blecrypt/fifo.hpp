// Fifo<T>: the queue behind every engine's poll_transmit()/poll_event(). A vector with a read
// index: no allocation until used, and the memory goes back when it drains (an idle session
// stays small, unlike std::deque, which allocates a block up front).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace blecrypt {

template <typename T>
class Fifo {
 public:
  void push_back(T x) { v_.push_back(std::move(x)); }
  bool empty() const noexcept { return head_ == v_.size(); }
  std::size_t size() const noexcept { return v_.size() - head_; }
  T& front() { return v_[head_]; }
  T& at(std::size_t i) { return v_[head_ + i]; }  // i < size()
  const T& front() const { return v_[head_]; }
  // Moves the front element out.
  T take() {
    T x(std::move(v_[head_]));
    if (++head_ == v_.size()) clear();
    return x;
  }
  void pop_front() { (void)take(); }
  void clear() noexcept {
    v_.clear();
    head_ = 0;
    if (v_.capacity() * sizeof(T) > 256) std::vector<T>().swap(v_);
  }

 private:
  std::vector<T> v_;
  std::size_t head_ = 0;
};

}  // namespace blecrypt
