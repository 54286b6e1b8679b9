// The plan: which task may run next, and what a finished task means for the rest.
//
// Pure bookkeeping over a validated Dag, in the shape of ninja's Plan and taskflow's join
// counters: each task counts its finished upstreams, and the moment its trigger rule is
// decided it becomes ready (or skipped / upstream_failed, which cascades at once). Ready
// tasks wait in one priority queue per pool; the highest priority (longest path to the
// end, unless the file says otherwise) that fits a free global slot and a free slot of
// its pool runs first, ties broken by file order. No processes, no clock, no I/O: the
// engine drives it and tests drive it with a fake runner.
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "pipeline/dag.h"

namespace pipeline {

enum class TaskState : uint8_t {
  kPending,         ///< waiting for upstream tasks
  kReady,           ///< runnable, waiting for a slot
  kRunning,         ///< an attempt is running
  kUpForRetry,      ///< failed an attempt, will run again after a delay
  kSuccess,
  kCached,          ///< reused a previous result (counts as success)
  kFailed,
  kSkipped,         ///< its trigger rule decided it should not run
  kUpstreamFailed,  ///< its trigger rule cannot be met because upstream failed
  kCancelled,       ///< the run was stopped before it finished
};

/// The name stored in SQLite and printed ("upstream_failed"); kReady stores as "pending".
const char* TaskStateName(TaskState s);
bool IsTerminal(TaskState s);
bool IsSuccessful(TaskState s);  ///< success or cached

/// A state change the plan made on its own (not one the engine reported).
struct PlanDecision {
  int task;
  TaskState state;     ///< kReady, kSkipped or kUpstreamFailed
  std::string reason;  ///< for skipped/upstream_failed: which upstream and rule
};

class Plan {
 public:
  /// |parallelism| is the number of global slots (-j); must be >= 1.
  Plan(const Dag& dag, int parallelism);

  /// Before Start(): fixes a task's outcome from an earlier run (resume).
  void Preset(int task, TaskState terminal);

  /// Decides every task that can be decided before anything runs (tasks without
  /// upstream become ready; presets propagate). Appends what changed to |out|.
  void Start(std::vector<PlanDecision>* out);

  /// Takes the best ready task that fits the free slots, marks it running and holds its
  /// slots. Returns -1 if nothing can start now.
  int PopRunnable();

  /// A running task is done for good: releases its slots and applies trigger rules to
  /// its downstream tasks (cascading). |terminal| is kSuccess, kCached or kFailed.
  void Finish(int task, TaskState terminal, std::vector<PlanDecision>* out);

  /// A running task failed an attempt and will retry: releases its slots.
  void WillRetry(int task);
  /// A task in kUpForRetry is due again: back into the ready queue.
  void Requeue(int task);

  /// Stops the run: every task not yet running or finished becomes kCancelled and is
  /// appended to |out|; nothing more is handed out. Running tasks are the caller's to
  /// stop; report them with Finish(task, kCancelled/kFailed...).
  void Cancel(std::vector<int>* out);

  bool more_to_do() const { return unfinished_ > 0; }
  int running() const { return running_; }
  TaskState state(int task) const { return tasks_[static_cast<size_t>(task)].state; }
  size_t size() const { return tasks_.size(); }
  /// Number of tasks in a terminal state.
  int finished() const { return static_cast<int>(tasks_.size()) - unfinished_; }
  /// True if every task ended in success, cached or skipped.
  bool Succeeded() const;

 private:
  struct Node {
    TaskState state = TaskState::kPending;
    int pool = 0;  // 0 = no named pool
    int n_up = 0, n_done = 0, n_success = 0, n_failed = 0, n_skipped = 0;
    bool decided = false;  // ready/skipped/upstream_failed already decided (or preset)
    bool preset = false;
  };
  struct Ready {
    int priority;
    int task;
    bool operator<(const Ready& o) const {  // max-heap: higher priority, then lower index
      return priority != o.priority ? priority < o.priority : task > o.task;
    }
  };

  void MakeReady(int task);
  void Terminal(int task, TaskState s);
  /// Applies |task|'s terminal state to its downstream counters, cascading.
  void Propagate(int task, std::vector<PlanDecision>* out);
  /// Evaluates |task|'s trigger rule; returns true and fills |*decision| if decided.
  bool Evaluate(int task, PlanDecision* decision);

  const Dag& dag_;
  std::vector<Node> tasks_;
  std::vector<std::priority_queue<Ready>> ready_;  // per pool
  std::vector<int> pool_free_;                     // per pool; [0] unused
  int global_free_;
  int running_ = 0;
  int unfinished_;
  bool cancelled_ = false;
  int last_failed_upstream_ = -1;  // scratch for reasons
};

}  // namespace pipeline
