// Timing harness for `blecrypt bench`: median ns per operation over repeated samples, a report
// that prints as text or as one JSON object, and the live-heap counter for per-session figures.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace blecrypt::bench {

// Median nanoseconds per call of fn(): each sample runs fn enough times to last ~sample_ms.
template <typename Fn>
double median_ns(Fn&& fn, int samples = 11, double sample_ms = 3.0) {
  using Clock = std::chrono::steady_clock;
  // Calibrate the batch size.
  std::size_t batch = 1;
  for (;;) {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < batch; ++i) fn();
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ms >= sample_ms / 4 || batch >= (1u << 24)) {
      batch = std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(batch) * sample_ms / std::max(ms, 1e-3)));
      break;
    }
    batch *= 4;
  }
  std::vector<double> per_op;
  for (int s = 0; s < samples; ++s) {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < batch; ++i) fn();
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    per_op.push_back(ns / static_cast<double>(batch));
  }
  std::nth_element(per_op.begin(), per_op.begin() + static_cast<std::ptrdiff_t>(per_op.size() / 2), per_op.end());
  return per_op[per_op.size() / 2];
}

// Bytes currently allocated with operator new in this process (bench/scenarios/heap_counter.cpp).
std::size_t live_heap_bytes();

class Report {
 public:
  void number(std::string name, double value) { entries_.push_back({std::move(name), format(value), true}); }
  void text(std::string name, std::string value) { entries_.push_back({std::move(name), std::move(value), false}); }

  void print(bool json, std::ostream& out) const {
    if (json) {
      out << "{";
      for (std::size_t i = 0; i < entries_.size(); ++i) {
        const auto& e = entries_[i];
        out << (i ? ", " : "") << "\"" << e.name << "\": ";
        if (e.is_number) out << e.value; else out << "\"" << e.value << "\"";
      }
      out << "}\n";
      return;
    }
    std::size_t width = 0;
    for (const auto& e : entries_) width = std::max(width, e.name.size());
    for (const auto& e : entries_) out << std::left << std::setw(static_cast<int>(width) + 2) << e.name << e.value << "\n";
  }

 private:
  struct Entry {
    std::string name, value;
    bool is_number;
  };
  static std::string format(double v) {
    std::ostringstream s;
    if (v >= 100) s << std::fixed << std::setprecision(0) << v;
    else s << std::fixed << std::setprecision(3) << v;
    return s.str();
  }
  std::vector<Entry> entries_;
};

}  // namespace blecrypt::bench
