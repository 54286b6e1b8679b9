// The SQLite run store: every DAG version, run, task instance, attempt and state
// transition. docs/schema.md describes the tables; src/store/schema.cc holds them.
//
// Durability contract: each write method commits at once unless the caller has opened a
// batch with Begin(); then everything up to Commit() is one transaction. The engine opens
// one batch per loop iteration, so a crash loses at most the iteration in flight and never
// leaves a torn record. A Store is used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/status.h"

namespace pipeline {

// State names as stored (TEXT columns with CHECK constraints and a transition guard).
//   run:      queued running success failed cancelled lost
//   task:     pending running up_for_retry success failed skipped upstream_failed cancelled
//             cached
//   attempt:  running succeeded failed timed_out killed lost cached

struct RunRecord {
  int64_t id = 0;          ///< row id
  std::string run_id;      ///< external id, e.g. 20261122T183045-3fa9c2
  std::string dag;         ///< dag id
  int64_t dag_version_id = 0;
  std::string dag_sha256;  ///< filled by queries
  std::string trigger = "manual";  ///< manual | test | resume | cron | backfill | api
  std::string triggered_by;        ///< user name or schedule id
  int64_t logical_date_ms = 0;
  std::string params_json = "{}";  ///< the params the run used (after overrides)
  std::string state = "running";
  std::string dag_file;  ///< path the DAG was loaded from
  std::string base_dir;  ///< directory tasks run in by default
  int64_t created_ms = 0, started_ms = 0, ended_ms = 0;  ///< 0 = not yet
  int64_t owner_pid = 0;
  std::string owner_host;
  std::string reason;  ///< why it ended (e.g. "interrupted by SIGINT")
};

struct TaskInstanceRecord {
  int64_t id = 0;
  int64_t run_pk = 0;
  std::string task;
  std::string state = "pending";
  int attempts = 0;      ///< attempts started so far
  int max_attempts = 1;  ///< retries + 1
  std::string reason;    ///< skip / failure reason
  int64_t started_ms = 0, ended_ms = 0;
};

struct AttemptRecord {
  int64_t id = 0;
  int64_t task_instance_id = 0;
  std::string task;  ///< filled by queries
  int attempt_no = 1;
  std::string state = "running";
  int64_t pid = 0;
  std::string host;
  std::string command_json;  ///< argv as run (JSON array)
  std::string log_path;
  std::optional<int> exit_code;
  std::optional<int> signal;
  int64_t started_ms = 0, ended_ms = 0;
  std::string error;  ///< spawn failure, timeout, "outputs missing", ...
};

struct TransitionRecord {
  std::string entity;  ///< dag_run | task_instance | task_attempt
  int64_t entity_id = 0;
  std::string from_state, to_state;
  int64_t at_ms = 0;
  std::string reason;
};

struct RunFilter {
  std::string dag;    ///< "" = any
  std::string state;  ///< "" = any
  int limit = 20;
};

class Store {
 public:
  /// The schema version this binary writes (PRAGMA user_version).
  static int SchemaVersion();

  /// Opens (creating if needed) the database at |path| (":memory:" for tests), sets the
  /// pragmas (WAL, foreign keys, busy timeout) and applies embedded migrations. Fails
  /// with kFailedPrecondition if the file's schema is newer than this binary.
  static Status Open(const std::string& path, std::unique_ptr<Store>* out);
  /// Opens an existing database read-only (for runs/show/logs); no migrations.
  static Status OpenReadOnly(const std::string& path, std::unique_ptr<Store>* out);

  virtual ~Store() = default;

  /// Batches: Begin() opens BEGIN IMMEDIATE (no-op if one is open); Commit() ends it.
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
  virtual bool in_batch() const = 0;

  // --- writes -----------------------------------------------------------------------
  /// Finds or inserts the dag and the version with this definition hash; returns the
  /// dag_versions row id.
  virtual Result<int64_t> EnsureDagVersion(const std::string& dag, const std::string& sha256,
                                           const std::string& canonical) = 0;
  /// Inserts a run (its |state| as given, normally "running"); returns the row id.
  virtual Result<int64_t> CreateRun(const RunRecord& run) = 0;
  /// Inserts one pending task instance per name, in order; returns their row ids.
  virtual Result<std::vector<int64_t>> CreateTaskInstances(
      int64_t run_pk, const std::vector<std::pair<std::string, int>>& name_and_max_attempts,
      int64_t now_ms) = 0;
  virtual Status SetRunState(int64_t run_pk, const std::string& state, int64_t at_ms,
                             const std::string& reason) = 0;
  /// Moves a task instance to |state|; |reason| is kept for skipped/upstream_failed/failed.
  /// A transition the state machine forbids returns kInternal (a bug, never user error).
  virtual Status SetTaskState(int64_t ti_id, const std::string& state, int64_t at_ms,
                              const std::string& reason) = 0;
  /// Inserts an attempt and bumps the instance's attempt count; a "running" attempt also
  /// moves its instance to running (a transition the state machine must allow). Returns
  /// the attempt id.
  /// |attempt.attempt_no| must be the instance's attempt count + 1 (kInternal otherwise;
  /// after ReopenRun numbering continues from TaskInstanceRecord::attempts). A cache hit
  /// is inserted the same way with state "cached".
  virtual Result<int64_t> StartAttempt(const AttemptRecord& attempt) = 0;
  /// Records how an attempt ended.
  virtual Status FinishAttempt(int64_t attempt_id, const std::string& state,
                               std::optional<int> exit_code, std::optional<int> signal,
                               int64_t ended_ms, const std::string& error) = 0;

  // --- reads ------------------------------------------------------------------------
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;
  /// Finds a run by its run_id, or a unique prefix of it.
  virtual Result<RunRecord> FindRun(const std::string& run_id) = 0;
  virtual Result<std::string> DagDefinition(int64_t dag_version_id) = 0;
  virtual Result<std::vector<TaskInstanceRecord>> ListTaskInstances(int64_t run_pk) = 0;
  /// Every attempt of a run, ordered by task instance then attempt number.
  virtual Result<std::vector<AttemptRecord>> ListAttempts(int64_t run_pk) = 0;
  /// Every state change of the run, its instances and attempts, oldest first; a row's
  /// creation is listed too, with from_state "".
  virtual Result<std::vector<TransitionRecord>> ListTransitions(int64_t run_pk) = 0;

  // --- recovery -----------------------------------------------------------------------
  /// Marks a run whose orchestrator died: running attempts -> lost, running or retrying
  /// instances -> failed (reason |reason|), the run -> lost. One transaction.
  /// kFailedPrecondition unless the run is running.
  virtual Status MarkRunLost(int64_t run_pk, int64_t at_ms, const std::string& reason) = 0;
  /// Prepares a lost/failed/cancelled run for `resume`: instances not in success or
  /// cached go back to pending (their old attempts stay); the run goes back to running
  /// with the new owner. kFailedPrecondition unless the run is failed, cancelled or lost.
  virtual Status ReopenRun(int64_t run_pk, int64_t at_ms, int64_t owner_pid,
                           const std::string& owner_host) = 0;
};

}  // namespace pipeline
