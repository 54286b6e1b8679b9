// The seam between the engine loop and processes (ninja's CommandRunner): the engine
// asks a TaskRunner to start attempts and to wait for some to finish. RealRunner uses
// SubprocessSet; tests use a fake that finishes attempts on script under a FakeClock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "exec/subprocess.h"

namespace pipeline {

struct AttemptOutcome {
  int64_t token = 0;  ///< what the engine passed to Start
  ExitStatus status;
  int64_t duration_ms = 0;  ///< measured by the runner (monotonic)
};

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  /// Starts one attempt. On failure to start returns false with |*err| (recorded as a
  /// failed attempt). |*pid| receives the process id (0 for fakes).
  virtual bool Start(int64_t token, const SpawnSpec& spec, int64_t* pid, std::string* err) = 0;
  /// Waits up to |timeout_ms| (-1 = until something happens) for finished attempts or an
  /// interrupt; appends finished attempts to |done|.
  virtual void Wait(int64_t timeout_ms, std::vector<AttemptOutcome>* done) = 0;
  /// Stops every running attempt: gracefully (TERM, KILL after grace) or at once.
  virtual void CancelAll(bool now) = 0;
  /// Interrupts (SIGINT/SIGTERM/SIGHUP) received so far and the last one's number.
  virtual int interrupt_count() const = 0;
  virtual int interrupt_signal() const = 0;
  virtual size_t running() const = 0;
};

/// Runs attempts as real processes.
class RealRunner : public TaskRunner {
 public:
  bool Start(int64_t token, const SpawnSpec& spec, int64_t* pid, std::string* err) override;
  void Wait(int64_t timeout_ms, std::vector<AttemptOutcome>* done) override;
  void CancelAll(bool now) override { set_.CancelAll(now); }
  int interrupt_count() const override { return set_.interrupt_count(); }
  int interrupt_signal() const override { return set_.interrupt_signal(); }
  size_t running() const override { return set_.running(); }

 private:
  SubprocessSet set_;
};

}  // namespace pipeline
