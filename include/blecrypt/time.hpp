// Time as the sans-IO engines see it: a caller-supplied monotonic instant. Engines never read a
// clock; transports and the CLI pass `now` in.
#pragma once

#include <chrono>

namespace blecrypt {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

inline TimePoint time_from_seconds(double seconds) {
  return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds))};
}

}  // namespace blecrypt
