// Time sources. The engine reads time only through Clock, so tests can use a fake
// one (tests/testing/fakes.h) and retries with minute-long delays run instantly.
#pragma once

#include <cstdint>

namespace pipeline {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Wall-clock time, milliseconds since the Unix epoch, UTC. Recorded in the store.
  virtual int64_t NowMs() = 0;
  /// Monotonic milliseconds for deadlines and durations; never goes back.
  virtual int64_t MonotonicMs() = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() override;
  int64_t MonotonicMs() override;
  /// A process-wide instance.
  static SystemClock* Get();
};

}  // namespace pipeline
