#include "cli/commands.h"
#include "cli/common.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/duration.h"
#include "core/strings.h"
#include "core/time_util.h"
#include "dag/template.h"
#include "engine/engine.h"
#include "engine/runner.h"
#include "engine/status_printer.h"
#include "pipeline/dag.h"
#include "pipeline/store.h"

namespace pipeline::cli {
namespace fs = std::filesystem;

namespace {

void PrintDiagnostics(const std::vector<Diagnostic>& errors) {
  for (const Diagnostic& d : errors) std::fputs(FormatDiagnostic(d).c_str(), stderr);
  if (errors.size() > 1) std::fprintf(stderr, "%zu errors\n", errors.size());
}

bool ParseParams(const std::vector<std::string>& raw, std::vector<std::pair<std::string, std::string>>* out) {
  for (const std::string& p : raw) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "error: -p %s: expected name=value\n", p.c_str());
      return false;
    }
    out->emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return true;
}

bool LoadFile(const std::string& file, const std::vector<std::string>& params, Dag* dag) {
  LoadOptions opts;
  if (!ParseParams(params, &opts.param_overrides)) return false;
  std::vector<Diagnostic> errors;
  if (!LoadDag(file, opts, dag, &errors)) {
    PrintDiagnostics(errors);
    return false;
  }
  return true;
}

}  // namespace

std::string AbsHome(const Globals& g) { return fs::absolute(g.home).lexically_normal().string(); }
static std::string DbPath(const Globals& g) { return AbsHome(g) + "/pipeline.db"; }

int OpenForWrite(const Globals& g, std::unique_ptr<Store>* store) {
  std::error_code ec;
  fs::create_directories(AbsHome(g), ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", AbsHome(g).c_str(), ec.message().c_str());
    return kExitInfra;
  }
  Status s = Store::Open(DbPath(g), store);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return s.code() == Status::Code::kFailedPrecondition ? kExitBadInput : kExitInfra;
  }
  RecoverDeadRuns(store->get(), AbsHome(g), SystemClock::Get());
  return kExitOk;
}

// Opens an existing database for reading, but first lets a writer mark dead runs so
// `runs` and `show` never report a run as running when its process is gone.
int OpenForRead(const Globals& g, std::unique_ptr<Store>* store) {
  if (!fs::exists(DbPath(g))) {
    std::fprintf(stderr, "error: no pipeline database at %s; run `pipeline run FILE` first, or pass --home\n",
                 DbPath(g).c_str());
    return kExitBadInput;
  }
  return OpenForWrite(g, store);
}

// Opens the database and finds |run_id| (or a unique prefix); prints why not otherwise.
int OpenRun(const Globals& g, const std::string& run_id, std::unique_ptr<Store>* store,
            std::optional<RunRecord>* run) {
  if (int rc = OpenForRead(g, store); rc != kExitOk) return rc;
  auto found = (*store)->FindRun(run_id);
  if (!found.ok()) {
    std::fprintf(stderr, "error: %s\n", found.status().message().c_str());
    return found.status().code() == Status::Code::kNotFound ||
                   found.status().code() == Status::Code::kInvalidArgument
               ? kExitBadInput
               : kExitInfra;
  }
  *run = std::move(*found);
  return kExitOk;
}

std::string UserName() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "uid " + std::to_string(getuid());
}


int DefaultJobs() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return s.code() == Status::Code::kInvalidArgument || s.code() == Status::Code::kNotFound ||
                 s.code() == Status::Code::kFailedPrecondition
             ? kExitBadInput
             : kExitInfra;
}

namespace {



}  // namespace

int ExecuteRun(const Globals& g, const Dag& dag, RunOptions opts, bool json, const RunRecord* resume,
               std::string* new_run_id) {
  std::unique_ptr<Store> store;
  if (int rc = OpenForWrite(g, &store); rc != kExitOk) return rc;
  std::string run_id = resume ? resume->run_id : NewRunId(SystemClock::Get()->NowMs());
  if (new_run_id) *new_run_id = run_id;
  RunLock lock;
  std::string err;
  if (!lock.TryAcquire(AbsHome(g), run_id, &err)) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return kExitBadInput;
  }
  FILE* progress = json ? stderr : stdout;
  bool smart = isatty(fileno(progress)) && std::getenv("TERM") && std::string(std::getenv("TERM")) != "dumb";
  StatusPrinter printer(progress, smart, g.color && isatty(fileno(progress)));
  RealRunner runner;
  opts.home = AbsHome(g);
  Engine engine(dag, store.get(), &runner, SystemClock::Get(), &printer, opts);
  Result<RunSummary> r = Status::Internal("not run");
  if (resume) {
    Status s = store->ReopenRun(resume->id, SystemClock::Get()->NowMs(), getpid(), HostName());
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      return kExitInfra;
    }
    auto reopened = store->FindRun(run_id);
    if (!reopened.ok()) {
      std::fprintf(stderr, "error: %s\n", reopened.status().message().c_str());
      return kExitInfra;
    }
    r = engine.Resume(*reopened);
  } else {
    r = engine.RunNew(run_id);
  }
  if (!r.ok()) {
    std::fprintf(stderr, "error: %s\n", r.status().message().c_str());
    return kExitInfra;
  }
  if (json) std::printf("%s\n", SummaryJson(*r).c_str());
  return r->exit_code;
}

namespace {

void PrintDryRun(const Dag& dag, int jobs) {
  std::printf("dry run of %s: %zu tasks, -j %d; nothing is executed or recorded\n", dag.id.c_str(),
              dag.tasks.size(), jobs);
  // Topological order by priority, as the scheduler would hand out work with one slot.
  std::vector<int> indeg(dag.tasks.size());
  for (size_t i = 0; i < dag.tasks.size(); ++i) indeg[i] = static_cast<int>(dag.tasks[i].upstream.size());
  auto cmp = [&](int a, int b) {
    const Task& x = dag.tasks[static_cast<size_t>(a)];
    const Task& y = dag.tasks[static_cast<size_t>(b)];
    return x.priority != y.priority ? x.priority < y.priority : a > b;
  };
  std::vector<int> heap;
  for (size_t i = 0; i < dag.tasks.size(); ++i)
    if (indeg[i] == 0) heap.push_back(static_cast<int>(i));
  std::make_heap(heap.begin(), heap.end(), cmp);
  TemplateContext ctx;
  ctx.params = &dag.params;
  ctx.run_id = "DRY-RUN";
  ctx.dag = dag.id;
  int64_t now = SystemClock::Get()->NowMs();
  ctx.logical_date = FormatIso8601(now);
  ctx.ds = FormatDate(now);
  int n = 0;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    int t = heap.back();
    heap.pop_back();
    const Task& task = dag.tasks[static_cast<size_t>(t)];
    ctx.task = task.id;
    std::string cmd, err;
    if (!task.command.empty()) {
      ExpandTemplate(task.command, ctx, true, &cmd, &err);
    } else {
      std::vector<std::string> parts;
      for (const std::string& a : task.argv) {
        std::string out;
        ExpandTemplate(a, ctx, false, &out, &err);
        parts.push_back(ShellQuote(out));
      }
      cmd = Join(parts, " ");
    }
    std::printf("%3d. %s", ++n, task.id.c_str());
    if (!task.depends_on.empty()) std::printf("  (after %s)", Join(task.depends_on, ", ").c_str());
    std::printf("\n     %s\n", cmd.c_str());
    for (int d : task.downstream)
      if (--indeg[static_cast<size_t>(d)] == 0) {
        heap.push_back(d);
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
  }
}

int64_t ParseLogicalDate(const std::string& text, bool* ok) {
  *ok = true;
  if (text.empty()) return 0;
  int64_t ms = 0;
  if (!ParseIso8601(text, &ms)) {
    std::fprintf(stderr, "error: --logical-date %s: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC)\n",
                 text.c_str());
    *ok = false;
  }
  return ms;
}

std::string Pad(std::string s, size_t n) {
  if (s.size() < n) s.resize(n, ' ');
  return s;
}

std::string When(int64_t ms) { return ms ? FormatLocalish(ms) : "-"; }
std::string Took(int64_t start, int64_t end) { return start && end ? FormatDuration(end - start) : "-"; }

}  // namespace

int CmdRun(const Globals& g, const RunArgs& a) {
  Dag dag;
  if (!LoadFile(a.file, a.params, &dag)) return kExitBadInput;
  bool ok;
  int64_t logical = ParseLogicalDate(a.logical_date, &ok);
  if (!ok) return kExitBadInput;
  int jobs = a.jobs > 0 ? a.jobs : DefaultJobs();
  if (a.dry_run) {
    PrintDryRun(dag, jobs);
    return kExitOk;
  }
  for (const std::string& f : a.force) {
    if (!dag.FindTask(f)) {
      std::vector<std::string> ids;
      for (const Task& t : dag.tasks) ids.push_back(t.id);
      std::fprintf(stderr, "error: --force %s: %s has no task '%s'%s\n", f.c_str(), a.file.c_str(), f.c_str(),
                   DidYouMean(f, ids).c_str());
      return kExitBadInput;
    }
  }
  RunOptions opts;
  opts.parallelism = jobs;
  opts.base_dir = fs::current_path().string();
  opts.dag_file = a.file;
  opts.use_cache = !a.no_cache;
  opts.force = a.force;
  opts.trigger = "manual";
  opts.triggered_by = UserName();
  opts.logical_date_ms = logical;
  return ExecuteRun(g, dag, opts, a.json, nullptr, nullptr);
}

int CmdTest(const Globals& g, const RunArgs& a) {
  Dag full;
  if (!LoadFile(a.file, a.params, &full)) return kExitBadInput;
  const Task* task = full.FindTask(a.task);
  if (!task) {
    std::vector<std::string> ids;
    for (const Task& t : full.tasks) ids.push_back(t.id);
    std::fprintf(stderr, "error: %s: no task '%s'%s\n", a.file.c_str(), a.task.c_str(),
                 DidYouMean(a.task, ids).c_str());
    return kExitBadInput;
  }
  bool ok;
  int64_t logical = ParseLogicalDate(a.logical_date, &ok);
  if (!ok) return kExitBadInput;
  // A one-task DAG: the task alone. Upstream outputs it reads are taken from their declared
  // paths as they are on disk now; its gate is not evaluated, it promotes nothing and it
  // never reuses a cached result (a test is for watching the task run).
  Dag one = full;
  Task t = *task;
  t.upstream.clear();
  t.downstream.clear();
  t.depends_on.clear();
  t.trigger_rule = TriggerRule::kAllSuccess;
  t.when.clear();
  t.has_promote = false;
  for (InputDecl& in : t.inputs) {
    if (in.task.empty()) continue;
    const Task* up = full.FindTask(in.task);
    for (const OutputDecl& o : up->outputs)
      if (o.name == in.output) in.path = o.path;
    in.task.clear();
    in.output.clear();
  }
  one.tasks = {t};
  one.task_index = {{t.id, 0}};
  RunOptions opts;
  opts.parallelism = 1;
  opts.base_dir = fs::current_path().string();
  opts.dag_file = a.file;
  opts.trigger = "test";
  opts.use_cache = false;
  opts.triggered_by = UserName();
  opts.logical_date_ms = logical;
  opts.version_canonical = full.canonical;
  int rc = ExecuteRun(g, one, opts, a.json, nullptr, nullptr);
  return rc;
}

int CmdValidate(const Globals&, const std::vector<std::string>& files, bool quiet) {
  int rc = kExitOk;
  for (const std::string& f : files) {
    Dag dag;
    std::vector<Diagnostic> errors;
    if (!LoadDag(f, LoadOptions{}, &dag, &errors)) {
      PrintDiagnostics(errors);
      rc = kExitBadInput;
    } else if (!quiet) {
      std::printf("%s: ok (dag %s, %zu tasks)\n", f.c_str(), dag.id.c_str(), dag.tasks.size());
    }
  }
  return rc;
}

int CmdRuns(const Globals& g, const std::string& dag, const std::string& state, int limit, bool json) {
  std::unique_ptr<Store> store;
  if (int rc = OpenForRead(g, &store); rc != kExitOk) return rc;
  RunFilter f{dag, state, limit};
  auto runs = store->ListRuns(f);
  if (!runs.ok()) {
    std::fprintf(stderr, "error: %s\n", runs.status().message().c_str());
    return kExitInfra;
  }
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const RunRecord& r : *runs)
      j.push_back({{"run_id", r.run_id}, {"dag", r.dag}, {"state", r.state}, {"trigger", r.trigger},
                   {"logical_date", FormatIso8601(r.logical_date_ms)}, {"started_ms", r.started_ms},
                   {"ended_ms", r.ended_ms}, {"dag_sha256", r.dag_sha256}});
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  if (runs->empty()) {
    std::printf("no runs\n");
    return kExitOk;
  }
  size_t dw = 3;
  for (const RunRecord& r : *runs) dw = std::max(dw, r.dag.size());
  std::printf("%s  %s  %s  %s  %s  %s\n", Pad("RUN ID", 22).c_str(), Pad("DAG", dw).c_str(), Pad("STATE", 9).c_str(),
              Pad("TRIGGER", 7).c_str(), Pad("STARTED (UTC)", 19).c_str(), "DURATION");
  for (const RunRecord& r : *runs)
    std::printf("%s  %s  %s  %s  %s  %s\n", Pad(r.run_id, 22).c_str(), Pad(r.dag, dw).c_str(),
                Pad(r.state, 9).c_str(), Pad(r.trigger, 7).c_str(), Pad(When(r.started_ms), 19).c_str(),
                r.state == "running" ? "-" : Took(r.started_ms, r.ended_ms).c_str());
  return kExitOk;
}

int CmdShow(const Globals& g, const std::string& run_id, bool json) {
  std::unique_ptr<Store> store;
  std::optional<RunRecord> run;
  if (int rc = OpenRun(g, run_id, &store, &run); rc != kExitOk) return rc;
  auto tis = store->ListTaskInstances(run->id);
  auto attempts = store->ListAttempts(run->id);
  if (!tis.ok() || !attempts.ok()) {
    std::fprintf(stderr, "error: cannot read run %s\n", run->run_id.c_str());
    return kExitInfra;
  }
  std::map<std::string, std::vector<const AttemptRecord*>> by_task;
  for (const AttemptRecord& a : *attempts) by_task[a.task].push_back(&a);
  if (json) {
    nlohmann::json j = {{"run_id", run->run_id}, {"dag", run->dag}, {"dag_sha256", run->dag_sha256},
                        {"state", run->state}, {"trigger", run->trigger}, {"triggered_by", run->triggered_by},
                        {"logical_date", FormatIso8601(run->logical_date_ms)},
                        {"params", nlohmann::json::parse(run->params_json, nullptr, false)},
                        {"started_ms", run->started_ms}, {"ended_ms", run->ended_ms}, {"reason", run->reason},
                        {"dag_file", run->dag_file}};
    j["tasks"] = nlohmann::json::array();
    for (const TaskInstanceRecord& ti : *tis) {
      nlohmann::json tj = {{"task", ti.task}, {"state", ti.state}, {"attempts", ti.attempts}, {"reason", ti.reason}};
      tj["attempt_records"] = nlohmann::json::array();
      for (const AttemptRecord* a : by_task[ti.task])
        tj["attempt_records"].push_back(
            {{"attempt", a->attempt_no}, {"state", a->state}, {"pid", a->pid}, {"host", a->host},
             {"exit_code", a->exit_code ? nlohmann::json(*a->exit_code) : nlohmann::json()},
             {"signal", a->signal ? nlohmann::json(*a->signal) : nlohmann::json()},
             {"started_ms", a->started_ms}, {"ended_ms", a->ended_ms}, {"log", a->log_path}, {"error", a->error},
             {"cache_source_attempt_id",
              a->cache_source_attempt_id ? nlohmann::json(*a->cache_source_attempt_id) : nlohmann::json()},
             {"command", nlohmann::json::parse(a->command_json, nullptr, false)}});
      j["tasks"].push_back(tj);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf("run       %s\n", run->run_id.c_str());
  std::printf("dag       %s (version %s)\n", run->dag.c_str(), run->dag_sha256.substr(0, 12).c_str());
  std::printf("state     %s%s\n", run->state.c_str(), run->reason.empty() ? "" : ("  (" + run->reason + ")").c_str());
  std::printf("trigger   %s by %s\n", run->trigger.c_str(), run->triggered_by.c_str());
  std::printf("logical   %s\n", FormatIso8601(run->logical_date_ms).c_str());
  std::printf("started   %s UTC, took %s\n", When(run->started_ms).c_str(),
              run->state == "running" ? "-" : Took(run->started_ms, run->ended_ms).c_str());
  std::printf("params    %s\n", run->params_json.c_str());
  std::printf("file      %s\n\n", run->dag_file.c_str());
  size_t w = 4;
  for (const TaskInstanceRecord& ti : *tis) w = std::max(w, ti.task.size());
  std::printf("%s  %s  %s  %s  %s  %s\n", Pad("TASK", w).c_str(), Pad("STATE", 15).c_str(), Pad("TRY", 3).c_str(),
              Pad("ATTEMPT", 9).c_str(), Pad("EXIT", 7).c_str(), "DURATION  DETAIL");
  for (const TaskInstanceRecord& ti : *tis) {
    const auto& as = by_task[ti.task];
    if (as.empty()) {
      std::printf("%s  %s  %s  %s  %s  %s  %s\n", Pad(ti.task, w).c_str(), Pad(ti.state, 15).c_str(),
                  Pad("-", 3).c_str(), Pad("-", 9).c_str(), Pad("-", 7).c_str(), Pad("-", 8).c_str(),
                  ti.reason.c_str());
      continue;
    }
    for (size_t k = 0; k < as.size(); ++k) {
      const AttemptRecord* a = as[k];
      std::string exit = a->exit_code ? std::to_string(*a->exit_code)
                         : a->signal  ? SignalName(*a->signal)
                                      : "-";
      std::printf("%s  %s  %s  %s  %s  %s  %s\n", Pad(k == 0 ? ti.task : "", w).c_str(),
                  Pad(k == 0 ? ti.state : "", 15).c_str(), Pad(std::to_string(a->attempt_no), 3).c_str(),
                  Pad(a->state, 9).c_str(), Pad(exit, 7).c_str(), Pad(Took(a->started_ms, a->ended_ms), 8).c_str(),
                  a->cache_source_attempt_id
                      ? ("reused the outputs of attempt #" + std::to_string(*a->cache_source_attempt_id)).c_str()
                      : a->error.c_str());
    }
    if (!ti.reason.empty() && as.back()->error != ti.reason)
      std::printf("%s  %s\n", Pad("", w + 15 + 3 + 9 + 7 + 8 + 10).c_str(), ti.reason.c_str());
  }
  return kExitOk;
}

int CmdLogs(const Globals& g, const std::string& run_id, const std::string& task, int attempt) {
  std::unique_ptr<Store> store;
  std::optional<RunRecord> run;
  if (int rc = OpenRun(g, run_id, &store, &run); rc != kExitOk) return rc;
  auto attempts = store->ListAttempts(run->id);
  if (!attempts.ok()) return kExitInfra;
  const AttemptRecord* pick = nullptr;
  std::vector<std::string> tasks;
  for (const AttemptRecord& a : *attempts) {
    tasks.push_back(a.task);
    if (a.task == task && (attempt == 0 || a.attempt_no == attempt)) pick = &a;
  }
  if (!pick) {
    auto tis = store->ListTaskInstances(run->id);
    bool known = false;
    std::vector<std::string> names;
    if (tis.ok())
      for (const auto& ti : *tis) {
        names.push_back(ti.task);
        known |= ti.task == task;
      }
    if (!known)
      std::fprintf(stderr, "error: run %s has no task '%s'%s\n", run->run_id.c_str(), task.c_str(),
                   DidYouMean(task, names).c_str());
    else if (attempt)
      std::fprintf(stderr, "error: task '%s' of run %s has no attempt %d\n", task.c_str(), run->run_id.c_str(), attempt);
    else
      std::fprintf(stderr, "error: task '%s' of run %s never started, so it has no log\n", task.c_str(),
                   run->run_id.c_str());
    return kExitBadInput;
  }
  std::ifstream in(pick->log_path, std::ios::binary);
  if (!in) {
    // Log files are created when a task first writes output, so a missing file usually
    // means there was none.
    if (pick->state == "running")
      std::fprintf(stderr, "attempt %d of '%s' has written no output yet\n", pick->attempt_no, task.c_str());
    else
      std::fprintf(stderr, "attempt %d of '%s' wrote no output (no log file at %s)\n", pick->attempt_no,
                   task.c_str(), pick->log_path.c_str());
    return kExitOk;
  }
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    std::fwrite(buf, 1, static_cast<size_t>(in.gcount()), stdout);
  }
  return kExitOk;
}

int LoadRunDag(Store* store, const RunRecord& run, Dag* dag) {
  auto def = store->DagDefinition(run.dag_version_id);
  if (!def.ok()) return Fail(def.status());
  // The run's own DAG version and params, not whatever the file says today.
  LoadOptions lo;
  auto params = nlohmann::json::parse(run.params_json, nullptr, false);
  if (params.is_object())
    for (auto& [k, v] : params.items()) lo.param_overrides.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  std::vector<Diagnostic> errors;
  if (!LoadDagFromString(*def, "<definition of run " + run.run_id + ">", lo, dag, &errors)) {
    PrintDiagnostics(errors);
    return kExitInfra;
  }
  return kExitOk;
}

int CmdResume(const Globals& g, const std::string& run_id, int jobs, bool json) {
  std::unique_ptr<Store> store;
  std::optional<RunRecord> run;
  if (int rc = OpenRun(g, run_id, &store, &run); rc != kExitOk) return rc;
  if (run->state == "success") {
    std::printf("run %s already succeeded; nothing to resume\n", run->run_id.c_str());
    return kExitOk;
  }
  if (run->state == "running" || run->state == "queued") {
    std::fprintf(stderr, "error: run %s is still running (pid %lld on %s); stop it first\n", run->run_id.c_str(),
                 static_cast<long long>(run->owner_pid), run->owner_host.c_str());
    return kExitBadInput;
  }
  Dag dag;
  if (int rc = LoadRunDag(store.get(), *run, &dag); rc != kExitOk) return rc;
  store.reset();
  RunOptions opts;
  opts.parallelism = jobs > 0 ? jobs : DefaultJobs();
  opts.base_dir = run->base_dir.empty() ? fs::current_path().string() : run->base_dir;
  opts.dag_file = run->dag_file;
  opts.trigger = run->trigger;
  opts.triggered_by = run->triggered_by;
  opts.logical_date_ms = run->logical_date_ms;
  return ExecuteRun(g, dag, opts, json, &*run, nullptr);
}

int CmdGraph(const Globals&, const std::string& file, const std::vector<std::string>& params) {
  Dag dag;
  if (!LoadFile(file, params, &dag)) return kExitBadInput;
  auto q = [](const std::string& s) { return JsonQuote(s); };  // DOT IDs accept JSON-style quoting
  std::printf("digraph %s {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
              q(dag.id).c_str());
  for (const Task& t : dag.tasks) {
    std::string label = t.id;
    if (t.trigger_rule != TriggerRule::kAllSuccess) label += std::string("\\n[") + TriggerRuleName(t.trigger_rule) + "]";
    if (!t.pool.empty()) label += "\\npool " + t.pool;
    std::printf("  %s [label=\"%s\"];\n", q(t.id).c_str(), label.c_str());
  }
  for (const Task& t : dag.tasks)
    for (int u : t.upstream)
      std::printf("  %s -> %s;\n", q(dag.tasks[static_cast<size_t>(u)].id).c_str(), q(t.id).c_str());
  std::printf("}\n");
  return kExitOk;
}

}  // namespace pipeline::cli
