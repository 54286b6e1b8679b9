// The engine: runs one DAG run to completion (ninja's Builder::Build loop).
//
//   loop:  requeue due retries -> start ready tasks while slots are free -> COMMIT
//          -> wait for an attempt to finish, a retry to fall due, or a signal
//          -> record what finished, apply trigger rules (same transaction as the starts
//             of the next iteration)
//
// Every state change reaches SQLite before the engine sleeps again, so a kill -9 loses
// at most the changes of the iteration in flight. Processes are behind TaskRunner, time
// behind Clock, output behind RunObserver; the engine itself does no I/O but the store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "engine/artifacts.h"
#include "engine/dir_watch.h"
#include "engine/runner.h"
#include "pipeline/dag.h"
#include "pipeline/status.h"
#include "pipeline/store.h"
#include "plan/plan.h"

namespace pipeline {

struct RunOptions {
  int parallelism = 1;        ///< global slots (-j)
  std::string home;           ///< .pipeline directory: logs/ and locks/ live here
  std::string base_dir;       ///< default working directory of tasks (absolute)
  std::string dag_file;       ///< recorded with the run
  std::string trigger = "manual";
  std::string triggered_by;   ///< user name or schedule
  int64_t logical_date_ms = 0;  ///< 0 = the run's start time
  bool retry_jitter = true;   ///< randomize retry delays (tests turn it off)
  /// The definition recorded as the run's DAG version; "" = |dag|.canonical. `pipeline
  /// test` runs a one-task DAG but records the full definition.
  std::string version_canonical;
  std::string version_dag_id;
  bool use_cache = true;             ///< false: --no-cache (results are still recorded)
  std::vector<std::string> force;    ///< --force TASK: these tasks ignore the cache
};

/// What happened to one task, for printers and --json.
struct TaskSummary {
  std::string task;
  TaskState state = TaskState::kPending;
  int attempts = 0;           ///< attempts started in this session (resume: plus earlier)
  int64_t duration_ms = 0;    ///< last attempt's duration
  std::optional<int> exit_code;
  int signal = 0;
  std::string reason;         ///< error or skip reason
  std::string log_path;       ///< last attempt's log
};

struct RunSummary {
  std::string run_id;
  std::string dag;
  std::string state;          ///< success | failed | cancelled
  int exit_code = 0;          ///< 0 success, 1 task failed, 130 SIGINT, 143 SIGTERM
  int64_t duration_ms = 0;
  std::vector<TaskSummary> tasks;  ///< in DAG file order
};

/// Told everything that happens, in order (ninja's Status). Implementations: the console
/// printer, the JSON summary, later the live web view. Called on the engine thread.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void RunStarted(const std::string& run_id, const Dag& dag, int total_tasks) = 0;
  virtual void TaskStarted(int task, int attempt) = 0;
  /// A task reached a terminal state, or will retry (state kUpForRetry, |retry_in_ms|).
  virtual void TaskFinished(int task, const TaskSummary& summary, int64_t retry_in_ms) = 0;
  virtual void RunInterrupted(int signal, bool hard) = 0;
  virtual void RunFinished(const RunSummary& summary) = 0;
};

class Engine {
 public:
  /// |dag|, |store|, |runner|, |clock| and |observer| must outlive the engine.
  Engine(const Dag& dag, Store* store, TaskRunner* runner, Clock* clock, RunObserver* observer,
         RunOptions options);

  /// Creates a new run (dag version, run row, task instances) and executes it.
  /// Errors are infrastructure failures (database, log directory); a failed task is a
  /// summary with state "failed", not an error.
  Result<RunSummary> RunNew(const std::string& run_id);

  /// Continues an existing run (already reopened by Store::ReopenRun): tasks that
  /// succeeded keep their result and are not run again.
  Result<RunSummary> Resume(const RunRecord& run);

 private:
  struct Live;  // per-task runtime state
  Result<RunSummary> Execute(const RunRecord& run);
  Status StartTask(int task);
  /// Evaluates |task|'s `when:`; false with |*err| on a runtime error.
  bool EvaluateWhen(int task, bool* run, std::string* why, std::string* err);
  Status Promote(int task);
  Status Audit(const std::string& action, const std::string& details_json);
  /// Records an interrupt (first: cancel everything; second: kill at once), then each
  /// finished attempt.
  Status TakeIn(const std::vector<AttemptOutcome>& done);
  Status HandleOutcome(const AttemptOutcome& o);
  Status ApplyDecisions(const std::vector<PlanDecision>& ds);
  Status RecordTerminal(int task, TaskState s, const std::string& reason);
  int64_t RetryDelayMs(const Task& t, int failed_attempts);
  bool BuildSpawnSpec(int task, int attempt, SpawnSpec* spec, std::string* command_json,
                      std::vector<std::pair<std::string, std::string>>* declared_env,
                      AttemptArtifacts* art, std::string* err);
  std::string MetricsPath(int task, int attempt) const;
  std::string MetricsName(int task, int attempt) const;

  const Dag& dag_;
  Store* store_;
  TaskRunner* runner_;
  Clock* clock_;
  RunObserver* observer_;
  RunOptions options_;

  std::unique_ptr<Plan> plan_;
  RunRecord run_;
  std::vector<std::string> base_env_;  // engine environ + PIPELINE_* run-level vars
  std::vector<int64_t> ti_ids_;
  std::vector<TaskSummary> summaries_;
  std::vector<int> session_attempts_;  // attempts started by this process, per task
  std::vector<int> prior_attempts_;    // attempts recorded before (resume)
  std::vector<int64_t> attempt_ids_;   // running attempt id per task
  std::vector<std::pair<int64_t, int>> retry_due_;  // (monotonic due time, task) of retries
  std::string log_dir_;
  /// Names appearing in log_dir_ during this session (see dir_watch.h): spares a lookup
  /// of the metrics file most attempts never write, and of each new log in a fresh dir.
  DirWatch log_watch_;
  bool fresh_log_dir_ = false;  ///< log_dir_ was created by this session, and is watched
  std::string dag_sha256_;
  std::unique_ptr<ContentStore> cas_;
  std::unique_ptr<ArtifactTracker> tracker_;
  std::vector<AttemptArtifacts> artifacts_;  // the current attempt's, per task
  std::string logical_date_, ds_;
  int interrupts_seen_ = 0;  // interrupts already acted on
  int interrupt_sig_ = 0;    // the first one's signal; 0 = none
  /// How often one iteration looks for attempts that finished while it worked, before
  /// it commits and sleeps (bounded, so a busy run still commits every few ms).
  static constexpr int kPollPasses = 4;
};

/// Lock held by the process that owns a run, so others can tell a live run from a dead
/// one: <home>/locks/<run_id>.lock with flock(). Released when the process dies.
class RunLock {
 public:
  RunLock() = default;
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  /// Takes the lock without waiting. False if another live process holds it.
  bool TryAcquire(const std::string& home, const std::string& run_id, std::string* err);

 private:
  int fd_ = -1;
};

/// Finds runs recorded as running whose owner on this host is gone (its run lock is
/// free) and marks them lost, killing any of their task processes still alive. Returns
/// the run ids it marked.
std::vector<std::string> RecoverDeadRuns(Store* store, const std::string& home, Clock* clock);

/// This machine's host name.
std::string HostName();

}  // namespace pipeline
