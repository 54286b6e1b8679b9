#include "plan/plan.h"

#include <cassert>
#include <map>

namespace pipeline {

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "pending";
    case TaskState::kReady: return "pending";
    case TaskState::kRunning: return "running";
    case TaskState::kUpForRetry: return "up_for_retry";
    case TaskState::kSuccess: return "success";
    case TaskState::kCached: return "cached";
    case TaskState::kFailed: return "failed";
    case TaskState::kSkipped: return "skipped";
    case TaskState::kUpstreamFailed: return "upstream_failed";
    case TaskState::kCancelled: return "cancelled";
  }
  return "?";
}

bool IsTerminal(TaskState s) {
  switch (s) {
    case TaskState::kSuccess:
    case TaskState::kCached:
    case TaskState::kFailed:
    case TaskState::kSkipped:
    case TaskState::kUpstreamFailed:
    case TaskState::kCancelled:
      return true;
    default:
      return false;
  }
}

bool IsSuccessful(TaskState s) { return s == TaskState::kSuccess || s == TaskState::kCached; }

Plan::Plan(const Dag& dag, int parallelism)
    : dag_(dag),
      tasks_(dag.tasks.size()),
      global_free_(parallelism < 1 ? 1 : parallelism),
      unfinished_(static_cast<int>(dag.tasks.size())) {
  // Pool 0 is "no named pool"; named pools follow in name order.
  std::map<std::string, int> pool_ids;
  pool_free_.push_back(0);
  for (const auto& [name, slots] : dag.pools) {
    pool_ids[name] = static_cast<int>(pool_free_.size());
    pool_free_.push_back(slots < 1 ? 1 : slots);
  }
  ready_.resize(pool_free_.size());
  for (size_t i = 0; i < dag.tasks.size(); ++i) {
    const Task& t = dag.tasks[i];
    tasks_[i].n_up = static_cast<int>(t.upstream.size());
    if (!t.pool.empty()) {
      auto it = pool_ids.find(t.pool);
      tasks_[i].pool = it == pool_ids.end() ? 0 : it->second;
    }
  }
}

void Plan::Preset(int task, TaskState terminal) {
  assert(IsTerminal(terminal));
  Node& n = tasks_[static_cast<size_t>(task)];
  if (n.preset) return;
  n.preset = true;
  n.decided = true;
  n.state = terminal;
  --unfinished_;
}

void Plan::Start(std::vector<PlanDecision>* out) {
  // Presets act as upstream completions, in index order (deterministic).
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (tasks_[i].preset) Propagate(static_cast<int>(i), out);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Node& n = tasks_[i];
    if (!n.decided && n.n_up == 0) {
      n.decided = true;
      MakeReady(static_cast<int>(i));
      out->push_back({static_cast<int>(i), TaskState::kReady, ""});
    }
  }
}

void Plan::MakeReady(int task) {
  Node& n = tasks_[static_cast<size_t>(task)];
  n.state = TaskState::kReady;
  ready_[static_cast<size_t>(n.pool)].push({dag_.tasks[static_cast<size_t>(task)].priority, task});
}

int Plan::PopRunnable() {
  if (cancelled_ || global_free_ <= 0) return -1;
  int best_pool = -1;
  Ready best{0, -1};
  for (size_t p = 0; p < ready_.size(); ++p) {
    if (ready_[p].empty()) continue;
    if (p != 0 && pool_free_[p] <= 0) continue;
    const Ready& top = ready_[p].top();
    if (best_pool < 0 || best < top) {
      best = top;
      best_pool = static_cast<int>(p);
    }
  }
  if (best_pool < 0) return -1;
  ready_[static_cast<size_t>(best_pool)].pop();
  --global_free_;
  if (best_pool != 0) --pool_free_[static_cast<size_t>(best_pool)];
  tasks_[static_cast<size_t>(best.task)].state = TaskState::kRunning;
  ++running_;
  return best.task;
}

void Plan::WillRetry(int task) {
  Node& n = tasks_[static_cast<size_t>(task)];
  assert(n.state == TaskState::kRunning);
  n.state = TaskState::kUpForRetry;
  --running_;
  ++global_free_;
  if (n.pool) ++pool_free_[static_cast<size_t>(n.pool)];
}

void Plan::Requeue(int task) {
  Node& n = tasks_[static_cast<size_t>(task)];
  if (n.state != TaskState::kUpForRetry || cancelled_) return;
  MakeReady(task);
}

void Plan::Terminal(int task, TaskState s) {
  Node& n = tasks_[static_cast<size_t>(task)];
  if (IsTerminal(n.state)) return;
  if (n.state == TaskState::kRunning) {
    --running_;
    ++global_free_;
    if (n.pool) ++pool_free_[static_cast<size_t>(n.pool)];
  }
  n.state = s;
  n.decided = true;
  --unfinished_;
}

void Plan::Finish(int task, TaskState terminal, std::vector<PlanDecision>* out) {
  assert(IsTerminal(terminal));
  Terminal(task, terminal);
  if (!cancelled_) Propagate(task, out);
}

bool Plan::Evaluate(int task, PlanDecision* d) {
  const Node& n = tasks_[static_cast<size_t>(task)];
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  const bool all_done = n.n_done == n.n_up;
  d->task = task;
  d->reason.clear();
  auto up_name = [&]() -> std::string {
    return last_failed_upstream_ >= 0 ? dag_.tasks[static_cast<size_t>(last_failed_upstream_)].id : "?";
  };
  switch (t.trigger_rule) {
    case TriggerRule::kAllSuccess:
      if (n.n_failed > 0) {
        d->state = TaskState::kUpstreamFailed;
        d->reason = "upstream '" + up_name() + "' did not succeed (trigger_rule all_success)";
        return true;
      }
      if (n.n_skipped > 0) {
        d->state = TaskState::kSkipped;
        d->reason = "upstream '" + up_name() + "' was skipped (trigger_rule all_success)";
        return true;
      }
      if (all_done) {
        d->state = TaskState::kReady;
        return true;
      }
      return false;
    case TriggerRule::kAllDone:
      if (all_done) {
        d->state = TaskState::kReady;
        return true;
      }
      return false;
    case TriggerRule::kAllFailed:
      if (n.n_success > 0 || n.n_skipped > 0) {
        d->state = TaskState::kSkipped;
        d->reason = "upstream '" + up_name() + "' did not fail (trigger_rule all_failed)";
        return true;
      }
      if (all_done) {
        d->state = TaskState::kReady;
        return true;
      }
      return false;
    case TriggerRule::kOneSuccess:
      if (n.n_success > 0) {
        d->state = TaskState::kReady;
        return true;
      }
      if (all_done) {
        if (n.n_skipped == n.n_up) {
          d->state = TaskState::kSkipped;
          d->reason = "every upstream was skipped (trigger_rule one_success)";
        } else {
          d->state = TaskState::kUpstreamFailed;
          d->reason = "no upstream succeeded (trigger_rule one_success)";
        }
        return true;
      }
      return false;
    case TriggerRule::kOneFailed:
      if (n.n_failed > 0) {
        d->state = TaskState::kReady;
        return true;
      }
      if (all_done) {
        d->state = TaskState::kSkipped;
        d->reason = "no upstream failed (trigger_rule one_failed)";
        return true;
      }
      return false;
    case TriggerRule::kNoneFailed:
      if (n.n_failed > 0) {
        d->state = TaskState::kUpstreamFailed;
        d->reason = "upstream '" + up_name() + "' failed (trigger_rule none_failed)";
        return true;
      }
      if (all_done) {
        d->state = TaskState::kReady;
        return true;
      }
      return false;
  }
  return false;
}

void Plan::Propagate(int task, std::vector<PlanDecision>* out) {
  // Worklist instead of recursion: a 10,000-task chain of upstream_failed must not
  // overflow the stack.
  std::vector<int> work{task};
  while (!work.empty()) {
    int done = work.back();
    work.pop_back();
    TaskState ds = tasks_[static_cast<size_t>(done)].state;
    for (int down : dag_.tasks[static_cast<size_t>(done)].downstream) {
      Node& n = tasks_[static_cast<size_t>(down)];
      ++n.n_done;
      if (IsSuccessful(ds)) {
        ++n.n_success;
      } else if (ds == TaskState::kFailed || ds == TaskState::kUpstreamFailed) {
        ++n.n_failed;
        last_failed_upstream_ = done;
      } else {
        ++n.n_skipped;  // skipped or cancelled
        last_failed_upstream_ = done;
      }
      if (n.decided) continue;
      PlanDecision d;
      if (!Evaluate(down, &d)) continue;
      n.decided = true;
      if (d.state == TaskState::kReady) {
        MakeReady(down);
      } else {
        Terminal(down, d.state);
        work.push_back(down);
      }
      out->push_back(std::move(d));
    }
  }
}

void Plan::Cancel(std::vector<int>* out) {
  cancelled_ = true;
  for (auto& q : ready_) q = {};
  for (size_t i = 0; i < tasks_.size(); ++i) {
    TaskState s = tasks_[i].state;
    if (s == TaskState::kPending || s == TaskState::kReady || s == TaskState::kUpForRetry) {
      Terminal(static_cast<int>(i), TaskState::kCancelled);
      out->push_back(static_cast<int>(i));
    }
  }
}

bool Plan::Succeeded() const {
  for (const Node& n : tasks_)
    if (!IsSuccessful(n.state) && n.state != TaskState::kSkipped) return false;
  return true;
}

}  // namespace pipeline
