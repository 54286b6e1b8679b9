#include "engine/engine.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/sha256.h"
#include "core/strings.h"
#include "core/time_util.h"
#include "dag/expr.h"
#include "dag/template.h"

extern char** environ;

namespace pipeline {
namespace fs = std::filesystem;

namespace {

std::string ParamsJson(const std::map<std::string, ParamValue>& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, v] : params) {
    switch (v.type) {
      case ParamValue::Type::kInt:
        j[name] = std::stoll(v.text);
        break;
      case ParamValue::Type::kFloat:
        j[name] = std::stod(v.text);
        break;
      case ParamValue::Type::kBool:
        j[name] = v.text == "true";
        break;
      case ParamValue::Type::kString:
        j[name] = v.text;
        break;
    }
  }
  return j.dump();
}

const char* AttemptStateFor(const ExitStatus& st) {
  switch (st.kind) {
    case ExitKind::kExited: return st.exit_code == 0 ? "succeeded" : "failed";
    case ExitKind::kSignaled: return "failed";
    case ExitKind::kTimedOut: return "timed_out";
    case ExitKind::kCancelled: return "killed";
    case ExitKind::kSpawnFailed: return "failed";
  }
  return "failed";
}

bool Succeeded(const ExitStatus& st) { return st.kind == ExitKind::kExited && st.exit_code == 0; }

}  // namespace

Engine::Engine(const Dag& dag, Store* store, TaskRunner* runner, Clock* clock, RunObserver* observer,
               RunOptions options)
    : dag_(dag), store_(store), runner_(runner), clock_(clock), observer_(observer), options_(std::move(options)) {}

Result<RunSummary> Engine::RunNew(const std::string& run_id) {
  const std::string& canonical = options_.version_canonical.empty() ? dag_.canonical : options_.version_canonical;
  const std::string& dag_id = options_.version_dag_id.empty() ? dag_.id : options_.version_dag_id;
  const int64_t now = clock_->NowMs();

  Status s = store_->Begin();
  if (!s.ok()) return s;
  dag_sha256_ = Sha256::Hex(canonical);
  auto version = store_->EnsureDagVersion(dag_id, dag_sha256_, canonical);
  if (!version.ok()) {
    store_->Rollback();
    return version.status();
  }
  RunRecord run;
  run.run_id = run_id;
  run.dag = dag_id;
  run.dag_version_id = *version;
  run.trigger = options_.trigger;
  run.triggered_by = options_.triggered_by;
  run.logical_date_ms = options_.logical_date_ms ? options_.logical_date_ms : now;
  run.params_json = ParamsJson(dag_.params);
  run.state = "running";
  run.dag_file = options_.dag_file;
  run.base_dir = options_.base_dir;
  run.created_ms = run.started_ms = now;
  run.owner_pid = getpid();
  run.owner_host = HostName();
  auto pk = store_->CreateRun(run);
  if (!pk.ok()) {
    store_->Rollback();
    return pk.status();
  }
  run.id = *pk;
  std::vector<std::pair<std::string, int>> names;
  names.reserve(dag_.tasks.size());
  for (const Task& t : dag_.tasks) names.emplace_back(t.id, t.retries + 1);
  auto ids = store_->CreateTaskInstances(run.id, names, now);
  if (!ids.ok()) {
    store_->Rollback();
    return ids.status();
  }
  s = store_->Commit();
  if (!s.ok()) return s;
  ti_ids_ = std::move(*ids);
  prior_attempts_.assign(dag_.tasks.size(), 0);
  plan_ = std::make_unique<Plan>(dag_, options_.parallelism);
  run_ = run;
  nlohmann::json details = {{"dag", dag_id}, {"trigger", options_.trigger}};
  if (!options_.use_cache) details["no_cache"] = true;
  if (!options_.force.empty()) details["force"] = options_.force;
  if (Status a = Audit("run.start", details.dump()); !a.ok()) return a;
  return Execute(run);
}

Result<RunSummary> Engine::Resume(const RunRecord& run) {
  dag_sha256_ = run.dag_sha256;
  run_ = run;
  if (Status a = Audit("run.resume", "{}"); !a.ok()) return a;
  auto tis = store_->ListTaskInstances(run.id);
  if (!tis.ok()) return tis.status();
  std::map<std::string, const TaskInstanceRecord*> by_name;
  for (const auto& ti : *tis) by_name[ti.task] = &ti;
  plan_ = std::make_unique<Plan>(dag_, options_.parallelism);
  ti_ids_.assign(dag_.tasks.size(), 0);
  prior_attempts_.assign(dag_.tasks.size(), 0);
  summaries_.assign(dag_.tasks.size(), TaskSummary{});
  for (size_t i = 0; i < dag_.tasks.size(); ++i) {
    auto it = by_name.find(dag_.tasks[i].id);
    if (it == by_name.end())
      return Status::Corruption("run " + run.run_id + " has no record of task '" + dag_.tasks[i].id + "'");
    ti_ids_[i] = it->second->id;
    prior_attempts_[i] = it->second->attempts;
    if (it->second->state == "success") plan_->Preset(static_cast<int>(i), TaskState::kSuccess);
    if (it->second->state == "cached") plan_->Preset(static_cast<int>(i), TaskState::kCached);
  }
  return Execute(run);
}

Result<RunSummary> Engine::Execute(const RunRecord& run) {
  run_ = run;
  // A finished task's FinishAttempt/SetTaskState are written after its successors are
  // spawned (the store runs them before its next statement, reads included, and always
  // before the commit that precedes any sleep): they are off the exit-to-spawn path.
  struct DeferGuard {
    Store* store;
    ~DeferGuard() { store->DeferStateWrites(false); }
  } defer_guard{store_};
  store_->DeferStateWrites(true);
  const size_t n = dag_.tasks.size();
  if (summaries_.size() != n) summaries_.assign(n, TaskSummary{});
  for (size_t i = 0; i < n; ++i) {
    summaries_[i].task = dag_.tasks[i].id;
    summaries_[i].attempts = prior_attempts_[i];
    if (plan_->state(static_cast<int>(i)) != TaskState::kPending)
      summaries_[i].state = plan_->state(static_cast<int>(i));
  }
  session_attempts_.assign(n, 0);
  attempt_ids_.assign(n, 0);
  artifacts_.assign(n, AttemptArtifacts{});
  cas_ = std::make_unique<ContentStore>((fs::path(options_.home) / "cas").string());
  tracker_ = std::make_unique<ArtifactTracker>(dag_, store_, cas_.get(), options_.base_dir,
                                               options_.dag_file.empty() ? "dag:" + dag_.id : options_.dag_file,
                                               dag_sha256_.empty() ? Sha256::Hex(dag_.canonical) : dag_sha256_, clock_);
  tracker_->set_run(run_.id);
  retry_due_.clear();
  logical_date_ = FormatIso8601(run_.logical_date_ms);
  ds_ = FormatDate(run_.logical_date_ms);

  std::error_code ec;
  log_dir_ = (fs::path(options_.home) / "logs" / run_.run_id).string();
  const bool created = fs::create_directories(log_dir_, ec);
  if (ec) return Status::IOError("cannot create log directory " + log_dir_ + ": " + ec.message());
  // Watched from before the first spawn, so a name it has not seen was not made since.
  fresh_log_dir_ = log_watch_.Start(log_dir_) && created;

  // The environment every attempt starts from: ours, minus PIPELINE_* left over from an
  // outer run, plus the run-level context.
  // PIPELINE_HOME is set per attempt like the other per-attempt variables.
  for (char** e = environ; e && *e; ++e)
    if (std::string_view(*e).rfind("PIPELINE_", 0) != 0) base_env_.emplace_back(*e);
  base_env_.push_back("PIPELINE_RUN_ID=" + run_.run_id);
  base_env_.push_back("PIPELINE_DAG=" + dag_.id);
  base_env_.push_back("PIPELINE_LOGICAL_DATE=" + logical_date_);
  base_env_.push_back("PIPELINE_DS=" + ds_);
  for (const auto& [name, v] : dag_.params) base_env_.push_back("PIPELINE_PARAM_" + name + "=" + v.text);

  const int64_t t0 = clock_->MonotonicMs();
  if (observer_) observer_->RunStarted(run_.run_id, dag_, static_cast<int>(n));

  std::vector<PlanDecision> decisions;
  plan_->Start(&decisions);
  Status s = store_->Begin();
  if (s.ok()) s = ApplyDecisions(decisions);

  interrupts_seen_ = 0;
  interrupt_sig_ = 0;
  std::vector<AttemptOutcome> done;
  while (s.ok() && plan_->more_to_do()) {
    s = store_->Begin();
    if (!s.ok()) break;
    // One iteration: start what is ready; then take in what finished meanwhile (its
    // slot is refilled now, not after a commit and a wakeup) and start again, a bounded
    // number of times; then commit, and only then sleep.
    for (int pass = 0;; ++pass) {
      const int64_t now = clock_->MonotonicMs();
      // Retries that fell due go back to the ready queue (few at a time: a short list).
      for (size_t k = 0; k < retry_due_.size();) {
        if (retry_due_[k].first <= now) {
          plan_->Requeue(retry_due_[k].second);
          retry_due_[k] = retry_due_.back();
          retry_due_.pop_back();
        } else {
          ++k;
        }
      }
      for (int t; s.ok() && (t = plan_->PopRunnable()) >= 0;) s = StartTask(t);
      if (!s.ok() || pass == kPollPasses || !plan_->more_to_do() || runner_->running() == 0) break;
      done.clear();
      runner_->Wait(0, &done);
      if (done.empty() && runner_->interrupt_count() == interrupts_seen_) break;
      s = TakeIn(done);
      if (!s.ok()) break;
    }
    if (!s.ok()) break;
    s = store_->Commit();  // durable before we sleep
    if (!s.ok() || !plan_->more_to_do()) break;

    const int64_t now = clock_->MonotonicMs();
    int64_t timeout = -1;
    for (const auto& [due, task] : retry_due_) timeout = timeout < 0 ? due - now : std::min(timeout, due - now);
    if (timeout >= 0) timeout = std::max<int64_t>(timeout, 0);
    if (runner_->running() == 0 && timeout < 0) {
      s = Status::Internal("scheduler stalled: nothing running, nothing ready, " +
                           std::to_string(n - static_cast<size_t>(plan_->finished())) + " tasks unfinished");
      break;
    }
    done.clear();
    runner_->Wait(timeout, &done);

    s = store_->Begin();
    if (s.ok()) s = TakeIn(done);
  }
  if (!s.ok()) {
    // Infrastructure failure (database, disk): stop everything we started, keep what
    // is committed, and report. The run stays "running" and is recovered as lost.
    store_->Rollback();
    runner_->CancelAll(true);
    std::vector<AttemptOutcome> rest;
    while (runner_->running() > 0) runner_->Wait(1000, &rest);
    return s;
  }

  RunSummary summary;
  summary.run_id = run_.run_id;
  summary.dag = dag_.id;
  summary.duration_ms = clock_->MonotonicMs() - t0;
  std::string reason;
  if (interrupt_sig_) {
    summary.state = "cancelled";
    summary.exit_code = 128 + interrupt_sig_;
    reason = "interrupted by " + SignalName(interrupt_sig_);
  } else if (plan_->Succeeded()) {
    summary.state = "success";
    summary.exit_code = 0;
  } else {
    summary.state = "failed";
    summary.exit_code = 1;
    std::vector<std::string> failed;
    for (size_t i = 0; i < n; ++i)
      if (plan_->state(static_cast<int>(i)) == TaskState::kFailed) failed.push_back(dag_.tasks[i].id);
    reason = "failed tasks: " + Join(failed, ", ");
  }
  s = store_->Begin();
  if (s.ok()) s = store_->SetRunState(run_.id, summary.state, clock_->NowMs(), reason);
  if (s.ok()) s = store_->Commit();
  if (!s.ok()) return s;
  summary.tasks = summaries_;
  if (observer_) observer_->RunFinished(summary);
  return summary;
}

std::string Engine::MetricsPath(int task, int attempt) const {
  return log_dir_ + "/" + MetricsName(task, attempt);
}

std::string Engine::MetricsName(int task, int attempt) const {
  return dag_.tasks[static_cast<size_t>(task)].id + "." + std::to_string(attempt) + ".metrics.json";
}

bool Engine::BuildSpawnSpec(int task, int attempt, SpawnSpec* spec, std::string* command_json,
                            std::vector<std::pair<std::string, std::string>>* declared_env,
                            AttemptArtifacts* art, std::string* err) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  TemplateContext ctx;
  ctx.params = &dag_.params;
  ctx.run_id = run_.run_id;
  ctx.dag = dag_.id;
  ctx.task = t.id;
  ctx.attempt = attempt;
  ctx.logical_date = logical_date_;
  ctx.ds = ds_;

  std::string wd;
  if (!ExpandTemplate(t.workdir, ctx, false, &wd, err)) return false;
  spec->cwd = wd.empty() ? options_.base_dir : (fs::path(options_.base_dir) / wd).lexically_normal().string();
  if (!tracker_->ResolvePaths(task, ctx, spec->cwd, art, err)) return false;
  ctx.outputs = &art->outputs;
  ctx.inputs = &art->inputs;

  spec->argv.clear();
  if (!t.command.empty()) {
    std::string cmd;
    if (!ExpandTemplate(t.command, ctx, /*shell_quote=*/true, &cmd, err)) return false;
    spec->argv = {"/bin/sh", "-c", std::move(cmd)};
  } else {
    for (const std::string& a : t.argv) {
      std::string out;
      if (!ExpandTemplate(a, ctx, false, &out, err)) return false;
      spec->argv.push_back(std::move(out));
    }
  }
  // Environment: base, then the task's (DAG env merged in by the loader), then context.
  // (base_env_ holds none of the four per-attempt variables; a task's own env, rare,
  // replaces base entries by name.)
  std::map<std::string, std::string, std::less<>> overrides;
  for (const auto& [name, value] : t.env) {
    std::string out;
    if (!ExpandTemplate(value, ctx, false, &out, err)) return false;
    declared_env->emplace_back(name, out);
    overrides[name] = std::move(out);
  }
  overrides["PIPELINE_TASK"] = t.id;
  overrides["PIPELINE_METRICS"] = MetricsPath(task, attempt);
  overrides["PIPELINE_ATTEMPT"] = std::to_string(attempt);
  overrides["PIPELINE_HOME"] = options_.home;
  spec->env.clear();
  spec->env.reserve(base_env_.size() + overrides.size());
  for (const std::string& e : base_env_) {
    if (!t.env.empty() && overrides.count(std::string_view(e).substr(0, e.find('=')))) continue;
    spec->env.push_back(e);
  }
  for (const auto& [name, value] : overrides) {
    std::string& kv = spec->env.emplace_back();
    kv.reserve(name.size() + 1 + value.size());
    kv.append(name).append(1, '=').append(value);
  }

  const std::string log_name = t.id + "." + std::to_string(attempt) + ".log";
  spec->log_path = log_dir_ + "/" + log_name;
  spec->log_path_is_new = fresh_log_dir_ && !log_watch_.MayExist(log_name);
  spec->timeout_ms = t.timeout_ms;
  spec->kill_grace_ms = t.kill_grace_ms;
  command_json->assign(1, '[');
  for (const std::string& a : spec->argv) {
    if (command_json->size() > 1) command_json->push_back(',');
    command_json->append(JsonQuote(a));
  }
  command_json->push_back(']');
  return true;
}

Status Engine::StartTask(int task) {
  const size_t i = static_cast<size_t>(task);
  const Task& t = dag_.tasks[i];
  const int attempt = prior_attempts_[i] + ++session_attempts_[i];
  const bool first = session_attempts_[i] == 1;

  std::string err;
  bool ok = true;
  if (first && !t.when.empty()) {
    bool run = true;
    std::string why;
    if (!EvaluateWhen(task, &run, &why, &err)) {
      ok = false;
      err = "when: " + err;
    } else if (!run) {
      // The gate said no: nothing runs, no attempt; downstream follows its trigger rules.
      --session_attempts_[i];
      std::vector<PlanDecision> ds;
      plan_->Finish(task, TaskState::kSkipped, &ds);
      Status s = RecordTerminal(task, TaskState::kSkipped, why);
      return s.ok() ? ApplyDecisions(ds) : s;
    }
  }

  AttemptArtifacts& art = artifacts_[i];
  art = AttemptArtifacts{};
  SpawnSpec spec;
  std::string command_json;
  std::vector<std::pair<std::string, std::string>> declared_env;
  if (ok) ok = BuildSpawnSpec(task, attempt, &spec, &command_json, &declared_env, &art, &err);
  if (ok) {
    bool use_cache = options_.use_cache && first &&
                     std::find(options_.force.begin(), options_.force.end(), t.id) == options_.force.end();
    Status s = tracker_->Prepare(task, use_cache, spec.argv, spec.cwd, declared_env, &art);
    if (!s.ok()) {
      // A missing input or code file fails the attempt; a database error stops the run.
      if (s.code() != Status::Code::kNotFound && s.code() != Status::Code::kInvalidArgument) return s;
      ok = false;
      err = s.message();
    }
  }
  const int64_t now = clock_->NowMs();
  AttemptRecord a;
  a.task_instance_id = ti_ids_[i];
  a.attempt_no = attempt;
  a.host = run_.owner_host.empty() ? HostName() : run_.owner_host;
  a.command_json = command_json.empty() ? "[]" : command_json;
  a.started_ms = now;
  if (ok && art.hit) {
    // Cache hit: the outputs are already restored and verified. Record an attempt that
    // points at the one that really produced them.
    a.state = "cached";
    a.cache_source_attempt_id = art.hit->producing_attempt_id;
    a.ended_ms = now;
    auto id = store_->StartAttempt(a);
    if (!id.ok()) return id.status();
    attempt_ids_[i] = *id;
    if (Status s = tracker_->RecordCached(task, *id, art); !s.ok()) return s;
    summaries_[i].attempts = attempt;
    summaries_[i].duration_ms = 0;
    summaries_[i].reason = "reused the result of attempt " + std::to_string(art.hit->producing_attempt_id);
    std::vector<PlanDecision> ds;
    plan_->Finish(task, TaskState::kCached, &ds);
    if (Status s = RecordTerminal(task, TaskState::kCached, ""); !s.ok()) return s;
    if (Status s = Promote(task); !s.ok()) return s;
    return ApplyDecisions(ds);
  }

  if (ok && art.tracked) {
    Status s = tracker_->BeforeRun(task, &art);
    if (!s.ok()) {
      ok = false;
      err = s.message();
    }
  }
  int64_t pid = 0;
  bool started = ok && runner_->Start(task, spec, &pid, &err);
  a.state = "running";
  a.pid = pid;
  a.log_path = spec.log_path;
  auto id = store_->StartAttempt(a);
  if (!id.ok()) return id.status();
  attempt_ids_[i] = *id;
  if (art.tracked)
    if (Status s = store_->SetAttemptCache(*id, art.cache_key, art.manifest_json); !s.ok()) return s;
  summaries_[i].attempts = attempt;
  summaries_[i].state = TaskState::kRunning;
  summaries_[i].log_path = spec.log_path;
  if (observer_) observer_->TaskStarted(task, attempt);
  if (!started) {
    AttemptOutcome o;
    o.token = task;
    o.status.kind = ExitKind::kSpawnFailed;
    o.status.error = err;
    return HandleOutcome(o);
  }
  return Status::OK();
}

Status Engine::TakeIn(const std::vector<AttemptOutcome>& done) {
  Status s;
  int interrupts = runner_->interrupt_count();
  if (interrupts > interrupts_seen_) {
    if (interrupts_seen_ == 0) {
      interrupt_sig_ = runner_->interrupt_signal();
      if (observer_) observer_->RunInterrupted(interrupt_sig_, false);
      s = Audit("run.cancel", "{\"signal\":" + JsonQuote(SignalName(interrupt_sig_)) + "}");
      std::vector<int> cancelled;
      plan_->Cancel(&cancelled);
      retry_due_.clear();
      std::string reason = "run interrupted by " + SignalName(interrupt_sig_);
      for (int t : cancelled) {
        if (s.ok()) s = RecordTerminal(t, TaskState::kCancelled, reason);
      }
      runner_->CancelAll(false);
    }
    if (interrupts >= 2) {
      runner_->CancelAll(true);
      if (observer_) observer_->RunInterrupted(runner_->interrupt_signal(), true);
    }
    interrupts_seen_ = interrupts;
  }
  for (const AttemptOutcome& o : done)
    if (s.ok()) s = HandleOutcome(o);
  return s;
}

Status Engine::HandleOutcome(const AttemptOutcome& o) {
  const int task = static_cast<int>(o.token);
  const size_t i = static_cast<size_t>(task);
  const Task& t = dag_.tasks[i];
  const ExitStatus& st = o.status;
  const int64_t now = clock_->NowMs();
  std::optional<int> code, sig;
  if (st.kind != ExitKind::kSpawnFailed && st.signal == 0 && st.exit_code >= 0) code = st.exit_code;
  if (st.signal) sig = st.signal;

  // Exit 0 is not enough: the declared outputs must exist and the metrics must parse.
  bool ok = Succeeded(st);
  std::string error = st.error;
  const int attempt = prior_attempts_[i] + session_attempts_[i];
  if (ok) {
    // Only a metrics file written during this session counts (see dir_watch.h): most
    // tasks write none, and a lookup of the path costs more than asking the watch.
    const std::string name = MetricsName(task, attempt);
    const bool written = log_watch_.MayExist(name);
    if (!tracker_->Collect(task, written ? log_dir_ + "/" + name : std::string(), &artifacts_[i], &error))
      ok = false;
    if (written) log_watch_.Forget(name);
  }

  const char* attempt_state = ok ? "succeeded" : Succeeded(st) ? "failed" : AttemptStateFor(st);
  Status s = store_->FinishAttempt(attempt_ids_[i], attempt_state, code, sig, now, error);
  if (!s.ok()) return s;
  TaskSummary& sum = summaries_[i];
  sum.duration_ms = o.duration_ms;
  sum.exit_code = code;
  sum.signal = st.signal;
  sum.reason = error;

  std::vector<PlanDecision> ds;
  if (ok) {
    if (s = tracker_->RecordSuccess(task, attempt_ids_[i], &artifacts_[i]); !s.ok()) return s;
    plan_->Finish(task, TaskState::kSuccess, &ds);
    if (s = RecordTerminal(task, TaskState::kSuccess, ""); !s.ok()) return s;
    if (s = Promote(task); !s.ok()) return s;
    return ApplyDecisions(ds);
  }
  if (st.kind == ExitKind::kCancelled || plan_->state(task) != TaskState::kRunning) {
    plan_->Finish(task, TaskState::kCancelled, &ds);
    return RecordTerminal(task, TaskState::kCancelled, error);
  }
  if (session_attempts_[i] <= t.retries) {
    int64_t delay = RetryDelayMs(t, session_attempts_[i]);
    plan_->WillRetry(task);
    retry_due_.emplace_back(clock_->MonotonicMs() + delay, task);
    s = store_->SetTaskState(ti_ids_[i], "up_for_retry", now, error);
    sum.state = TaskState::kUpForRetry;
    if (observer_) observer_->TaskFinished(task, sum, delay);
    return s;
  }
  plan_->Finish(task, TaskState::kFailed, &ds);
  s = RecordTerminal(task, TaskState::kFailed, error);
  return s.ok() ? ApplyDecisions(ds) : s;
}

bool Engine::EvaluateWhen(int task, bool* run, std::string* why, std::string* err) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  Expression expr;
  size_t offset = 0;
  if (!Expression::Parse(t.when, &expr, err, &offset)) return false;  // validated at load
  Status lookup_error;
  auto resolve = [&](const ExprRef& r) -> ExprValue {
    auto from_map = [&](const Result<std::map<std::string, std::optional<double>>>& m) {
      if (!m.ok()) {
        lookup_error = m.status();
        return ExprValue::Null();
      }
      auto it = m->find(r.metric);
      return it == m->end() || !it->second ? ExprValue::Null() : ExprValue::Number(*it->second);
    };
    switch (r.kind) {
      case ExprRef::Kind::kParam: {
        auto it = dag_.params.find(r.param);
        return it == dag_.params.end() ? ExprValue::Null() : ExprValueFromParam(it->second);
      }
      case ExprRef::Kind::kMetric:
        return from_map(store_->TaskMetrics(run_.id, r.task));
      case ExprRef::Kind::kAliasMetric: {
        auto m = store_->AliasTaskMetrics(r.model, r.alias, r.task);
        if (!m.ok()) {
          lookup_error = m.status();
          return ExprValue::Null();
        }
        if (!*m) return ExprValue::Null();  // no model holds the alias yet
        return from_map(**m);
      }
    }
    return ExprValue::Null();
  };
  std::string trace;
  if (!expr.Evaluate(resolve, run, err, &trace)) return false;
  if (!lookup_error.ok()) {
    *err = lookup_error.message();
    return false;
  }
  std::string text;  // the expression on one line (YAML folding keeps some newlines)
  for (char c : t.when) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space && (text.empty() || text.back() == ' ')) continue;
    text += space ? ' ' : c;
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  *why = "when is false: " + text + (trace.empty() ? "" : " (" + trace + ")");
  return true;
}

Status Engine::Promote(int task) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  if (!t.has_promote) return Status::OK();
  const PromoteDecl& p = t.promote;
  auto source = dag_.task_index.find(p.task);
  int64_t artifact = source == dag_.task_index.end() ? 0 : tracker_->OutputArtifactId(source->second, p.output);
  if (artifact == 0)
    return Status::Internal("promote " + p.model + "@" + p.alias + ": no artifact recorded for " + p.task + "." +
                            p.output);
  std::string actor = "user:" + options_.triggered_by;
  if (Status s = store_->SetAlias(p.model, p.alias, artifact, actor, run_.id, clock_->NowMs()); !s.ok()) return s;
  return Audit("alias.set", "{\"alias\":" + JsonQuote(p.model + "@" + p.alias) +
                                ",\"artifact_id\":" + std::to_string(artifact) + ",\"task\":" + JsonQuote(t.id) + "}");
}

Status Engine::Audit(const std::string& action, const std::string& details_json) {
  AuditRecord r;
  r.at_ms = clock_->NowMs();
  r.actor = (options_.trigger == "cron" ? "schedule:" : "user:") + options_.triggered_by;
  r.action = action;
  r.target_kind = "run";
  r.target = run_.run_id;
  r.details_json = details_json;
  auto id = store_->AppendAudit(r);
  return id.ok() ? Status::OK() : id.status();
}

Status Engine::RecordTerminal(int task, TaskState state, const std::string& reason) {
  const size_t i = static_cast<size_t>(task);
  Status s = store_->SetTaskState(ti_ids_[i], TaskStateName(state), clock_->NowMs(), reason);
  summaries_[i].state = state;
  if (!reason.empty()) summaries_[i].reason = reason;
  if (observer_) observer_->TaskFinished(task, summaries_[i], 0);
  return s;
}

Status Engine::ApplyDecisions(const std::vector<PlanDecision>& ds) {
  for (const PlanDecision& d : ds) {
    if (d.state == TaskState::kReady) continue;  // stays "pending" in the store until it starts
    Status s = RecordTerminal(d.task, d.state, d.reason);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

int64_t Engine::RetryDelayMs(const Task& t, int failed_attempts) {
  int64_t d = t.retry_delay_ms;
  for (int k = 1; k < failed_attempts && d < t.max_retry_delay_ms; ++k) d *= 2;
  d = std::min(d, t.max_retry_delay_ms);
  if (options_.retry_jitter && d > 1) {
    // "Equal jitter": half fixed, half random, so retries of many tasks that failed
    // together (a flaky service) spread out instead of stampeding.
    static std::mt19937_64 rng{std::random_device{}()};
    d = d / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(d / 2 + 1));
  }
  return d;
}

// --- run locks and recovery ---------------------------------------------------------

RunLock::~RunLock() {
  if (fd_ >= 0) close(fd_);
}

bool RunLock::TryAcquire(const std::string& home, const std::string& run_id, std::string* err) {
  std::error_code ec;
  fs::path dir = fs::path(home) / "locks";
  fs::create_directories(dir, ec);
  std::string path = (dir / (run_id + ".lock")).string();
  // O_CLOEXEC matters: a task process that outlives us must not keep the lock alive.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = "cannot open " + path + ": " + strerror(errno);
    return false;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    *err = "run " + run_id + " is owned by another live pipeline process";
    return false;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return true;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

namespace {

// True if process |pid| carries PIPELINE_RUN_ID=<run_id> in its environment: then it is
// a task process of that run and not an unrelated process that reused the pid.
bool ProcessBelongsToRun(int64_t pid, const std::string& run_id) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  if (!in) return false;
  std::string needle = "PIPELINE_RUN_ID=" + run_id;
  std::string entry;
  while (std::getline(in, entry, '\0'))
    if (entry == needle) return true;
  return false;
}

}  // namespace

std::vector<std::string> RecoverDeadRuns(Store* store, const std::string& home, Clock* clock) {
  std::vector<std::string> marked;
  RunFilter f;
  f.state = "running";
  f.limit = 1000;
  auto runs = store->ListRuns(f);
  if (!runs.ok()) return marked;
  const std::string host = HostName();
  for (const RunRecord& r : *runs) {
    if (r.owner_host != host) continue;  // another machine's run: not ours to judge
    RunLock lock;
    std::string err;
    if (!lock.TryAcquire(home, r.run_id, &err)) continue;  // owner alive
    // The owner is gone. Its task processes may still run (they have their own process
    // groups); stop them so a resume does not race a zombie writer.
    auto attempts = store->ListAttempts(r.id);
    if (attempts.ok()) {
      for (const AttemptRecord& a : *attempts) {
        if (a.state != "running" || a.pid <= 0 || a.host != host) continue;
        if (!ProcessBelongsToRun(a.pid, r.run_id)) continue;
        kill(-static_cast<pid_t>(a.pid), SIGKILL);
        kill(static_cast<pid_t>(a.pid), SIGKILL);
      }
    }
    std::string why = "orchestrator process " + std::to_string(r.owner_pid) + " on " + host + " died";
    if (store->MarkRunLost(r.id, clock->NowMs(), why).ok()) marked.push_back(r.run_id);
  }
  return marked;
}

}  // namespace pipeline
