// A TaskRunner that runs nothing: each attempt "takes" a scripted time on a FakeClock
// and ends with a scripted status, so engine tests are exact and instant.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/runner.h"
#include "testing/fake_clock.h"

namespace pipeline::testing {

class FakeRunner : public TaskRunner {
 public:
  struct Outcome {
    ExitKind kind = ExitKind::kExited;
    int exit_code = 0;
    int signal = 0;
    int64_t duration_ms = 10;
  };

  explicit FakeRunner(FakeClock* clock) : clock_(clock) {}

  /// Attempts of |task| end with these outcomes in turn (the last one repeats).
  void Script(const std::string& task, std::vector<Outcome> outcomes) { script_[task] = std::move(outcomes); }
  /// The next Wait() that reaches monotonic time |at_ms| reports interrupt |sig|.
  void InterruptAt(int64_t at_ms, int sig) { interrupts_.push_back({at_ms, sig}); }
  /// Runs |fn| when an attempt of |task| starts, as the "process" (e.g. writes its outputs
  /// or its metrics file, named by PIPELINE_METRICS in the spec's environment).
  void OnStart(const std::string& task, std::function<void(const SpawnSpec&)> fn) { on_start_[task] = std::move(fn); }

  /// Start() fails for this task (as if the program did not exist).
  void FailSpawn(const std::string& task) { spawn_fail_.push_back(task); }

  bool Start(int64_t token, const SpawnSpec& spec, int64_t* pid, std::string* err) override {
    std::string task = Env(spec, "PIPELINE_TASK");
    started_.push_back(task);
    specs_.push_back(spec);
    if (std::find(spawn_fail_.begin(), spawn_fail_.end(), task) != spawn_fail_.end()) {
      *err = "cannot run 'nope': command not found";
      return false;
    }
    if (auto hook = on_start_.find(task); hook != on_start_.end()) hook->second(spec);
    int n = attempts_[task]++;
    Outcome o;
    auto it = script_.find(task);
    if (it != script_.end() && !it->second.empty())
      o = it->second[std::min<size_t>(static_cast<size_t>(n), it->second.size() - 1)];
    running_.push_back({token, clock_->MonotonicMs() + o.duration_ms, o, clock_->MonotonicMs()});
    max_running_ = std::max(max_running_, running_.size());
    *pid = 1000 + static_cast<int64_t>(started_.size());
    return true;
  }

  void Wait(int64_t timeout_ms, std::vector<AttemptOutcome>* done) override {
    int64_t now = clock_->MonotonicMs();
    int64_t next = -1;
    for (const auto& r : running_) next = next < 0 ? r.end : std::min(next, r.end);
    if (timeout_ms >= 0 && (next < 0 || now + timeout_ms < next)) next = now + timeout_ms;
    for (const auto& [at, sig] : interrupts_)
      if (at >= now && (next < 0 || at < next)) next = at;
    if (next < 0) return;  // nothing would ever happen
    clock_->Set(std::max(now, next));
    now = clock_->MonotonicMs();
    for (auto it = interrupts_.begin(); it != interrupts_.end();) {
      if (it->first <= now) {
        ++interrupt_count_;
        interrupt_signal_ = it->second;
        it = interrupts_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->end <= now) {
        done->push_back(Finish(*it));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
  }

  /// A graceful CancelAll takes this long to end a task (a task slow to obey SIGTERM).
  void SetTermDelay(int64_t ms) { term_delay_ms_ = ms; }

  void CancelAll(bool now) override {
    cancel_calls_.push_back(now);
    for (auto& r : running_) {
      r.o.kind = ExitKind::kCancelled;
      r.o.signal = now ? 9 : 15;
      r.end = std::min(r.end, clock_->MonotonicMs() + (now ? 0 : term_delay_ms_));
    }
  }
  const std::vector<bool>& cancel_calls() const { return cancel_calls_; }
  int interrupt_count() const override { return interrupt_count_; }
  int interrupt_signal() const override { return interrupt_signal_; }
  size_t running() const override { return running_.size(); }

  const std::vector<std::string>& started() const { return started_; }
  const std::vector<SpawnSpec>& specs() const { return specs_; }
  size_t max_running() const { return max_running_; }

  static std::string Env(const SpawnSpec& spec, const std::string& name) {
    for (const std::string& e : spec.env)
      if (e.compare(0, name.size() + 1, name + "=") == 0) return e.substr(name.size() + 1);
    return "";
  }

 private:
  struct Running {
    int64_t token;
    int64_t end;
    Outcome o;
    int64_t start;
  };
  AttemptOutcome Finish(const Running& r) {
    AttemptOutcome out;
    out.token = r.token;
    out.status.kind = r.o.kind;
    out.status.exit_code = r.o.exit_code;
    out.status.signal = r.o.signal;
    if (r.o.kind == ExitKind::kExited && r.o.exit_code != 0)
      out.status.error = "exited with code " + std::to_string(r.o.exit_code);
    if (r.o.kind == ExitKind::kTimedOut) out.status.error = "timed out";
    if (r.o.kind == ExitKind::kCancelled) out.status.error = "cancelled";
    out.duration_ms = r.end - r.start;
    return out;
  }

  FakeClock* clock_;
  std::map<std::string, std::vector<Outcome>> script_;
  std::map<std::string, std::function<void(const SpawnSpec&)>> on_start_;
  std::map<std::string, int> attempts_;
  std::vector<std::pair<int64_t, int>> interrupts_;
  std::vector<std::string> spawn_fail_;
  std::vector<Running> running_;
  std::vector<std::string> started_;
  std::vector<SpawnSpec> specs_;
  size_t max_running_ = 0;
  int64_t term_delay_ms_ = 0;
  std::vector<bool> cancel_calls_;
  int interrupt_count_ = 0;
  int interrupt_signal_ = 0;
};

}  // namespace pipeline::testing
