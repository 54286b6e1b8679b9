#pragma once

#include "core/clock.h"

namespace pipeline::testing {

/// A clock that moves only when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1700000000000) : now_(start_ms) {}
  int64_t NowMs() override { return now_; }
  int64_t MonotonicMs() override { return now_; }
  void Advance(int64_t ms) { now_ += ms; }
  void Set(int64_t ms) { now_ = ms; }

 private:
  int64_t now_;
};

}  // namespace pipeline::testing
