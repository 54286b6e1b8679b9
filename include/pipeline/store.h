// The SQLite run store: every DAG version, run, task instance, attempt and state
// transition. docs/schema.md describes the tables; src/store/schema.cc holds them.
//
// Durability contract: each write method commits at once unless the caller has opened a
// batch with Begin(); then everything up to Commit() is one transaction. The engine opens
// one batch per loop iteration, so a crash loses at most the iteration in flight and never
// leaves a torn record. A Store is used by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
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
  /// Set iff state is "cached": the succeeded attempt whose outputs this one reused
  /// (StartAttempt refuses a cached attempt without it, or pointing at a non-succeeded one).
  std::optional<int64_t> cache_source_attempt_id;
  std::string manifest_json;  ///< cache-key preimage (SetAttemptCache or StartAttempt); "" = none
  std::string code_digest;    ///< optional digest of the task's code deps ("" = none)
  std::string env_digest;     ///< optional digest of the environment ("" = none)
};

struct TransitionRecord {
  std::string entity;  ///< dag_run | task_instance | task_attempt
  int64_t entity_id = 0;
  std::string from_state, to_state;
  int64_t at_ms = 0;
  std::string reason;
};

// --- lineage, cache, metrics, registry, audit (docs/lineage.md) -------------------------

/// One (location, content) pair. UNIQUE(uri, sha256): a file rewritten with the same bytes
/// is the same row; new bytes at the same path are a new row.
struct ArtifactRecord {
  int64_t id = 0;
  std::string kind = "other";  ///< dataset | model | metrics | report | code | environment | other
  std::string uri;             ///< workspace-relative path (or s3://, oci://, ...)
  std::string sha256;          ///< 64 lowercase hex; directories: Merkle digest
  int64_t size_bytes = 0;
  int64_t file_count = 1;      ///< 1 for a file, N for a directory
  std::string name;            ///< optional display name (e.g. the declared output name)
  std::string props_json = "{}";
  std::string state = "live";  ///< live | missing | deleted | quarantined
  int64_t created_ms = 0;
};

/// A lineage edge: attempt consumed (in) or produced (out) an artifact under |role|
/// (the declared input/output name; code files use role "code").
struct EventRecord {
  int64_t attempt_id = 0;
  int64_t artifact_id = 0;
  std::string direction;  ///< in | out
  std::string role;
  int64_t at_ms = 0;
};

/// An artifact with the role it played for one attempt.
struct AttemptArtifact {
  std::string direction;  ///< in | out
  std::string role;
  ArtifactRecord artifact;
};

struct MetricRecord {
  int64_t attempt_id = 0;
  std::string run_id, dag, task;
  int attempt_no = 0;
  std::string name;
  int64_t step = 0;
  std::optional<double> value;  ///< nullopt = NaN (SQLite stores NaN as NULL)
  int64_t ts_ms = 0;
};

/// A usable cache entry (LINEAGE.md Q6). The caller still checks rule 2 on disk: every
/// output present with the recorded size/digest; otherwise InvalidateCacheEntry and run.
struct CacheHit {
  int64_t producing_attempt_id = 0;
  std::string task;
  std::string manifest_json;
  std::vector<std::pair<std::string /*role*/, ArtifactRecord>> outputs;
  /// False if some output row is not "live" (missing/deleted/quarantined): not usable.
  bool all_live = true;
};

struct AliasRecord {
  std::string model, alias;
  ArtifactRecord artifact;
  /// The real (succeeded) attempt that produced the artifact, newest first; 0 if unknown.
  int64_t producing_attempt_id = 0;
  std::string producing_run_id;  ///< that attempt's run
  std::string producing_task;
  std::string run_id;  ///< the run that set the alias ("" = set by hand)
  std::string set_by;  ///< user:NAME | schedule:ID | api | run:RUN_ID
  int64_t set_ms = 0;
};

struct AliasHistoryRecord {
  int64_t id = 0;
  std::string model, alias;
  std::optional<int64_t> artifact_id;       ///< nullopt = the alias was removed
  std::optional<int64_t> prev_artifact_id;  ///< nullopt = the alias was new
  std::string artifact_sha256, prev_artifact_sha256;  ///< "" if none
  std::string set_by, run_id;
  int64_t set_ms = 0;
};

struct AuditRecord {
  int64_t id = 0;
  int64_t at_ms = 0;
  std::string actor;   ///< user:NAME | schedule:ID | api
  std::string action;  ///< run.start | run.resume | run.cancel | alias.set | gc | ...
  std::string target_kind;  ///< run | alias | artifact | cache | "" (optional)
  std::string target;       ///< run id, MODEL@ALIAS, ...
  std::string details_json = "{}";
};

struct AuditFilter {
  int64_t since_ms = 0;  ///< at_ms >= since_ms
  std::string action;    ///< "" = any; "run." matches every action starting with it
  int limit = 100;       ///< <= 0: no limit
};

/// An artifact in a lineage graph. |depth| = executions between it and the start
/// artifact (0 for the start).
struct LineageArtifact {
  ArtifactRecord artifact;
  int depth = 0;
  bool is_source = false;  ///< no real producer recorded (raw data, code, hand-made files)
  std::vector<std::string> aliases;  ///< "MODEL@ALIAS" currently pointing at it
};

/// An execution in a lineage graph. In Upstream graphs cached attempts are resolved to
/// their source: the node is the attempt that really ran. Downstream graphs list every
/// consuming attempt, cached ones included (with cache_source_attempt_id set).
struct LineageAttempt {
  int64_t attempt_id = 0;
  int64_t run_pk = 0;
  std::string run_id, dag, task;
  int attempt_no = 0;
  std::string state;
  std::string command_json, manifest_json, code_digest;
  std::string params_json;  ///< the run's params
  int64_t dag_version_id = 0;
  std::string dag_sha256;   ///< definition hash; text via DagDefinition(dag_version_id)
  std::optional<int64_t> cache_source_attempt_id;
  /// Cached attempts that reused this attempt's outputs and led the walk here (Upstream).
  std::vector<int64_t> reused_by;
  int64_t started_ms = 0, ended_ms = 0;
  int depth = 0;  ///< 1 for the attempts next to the start artifact
};

struct LineageEdge {
  int64_t attempt_id = 0, artifact_id = 0;
  std::string direction, role;
};

struct LineageGraph {
  int64_t root_artifact_id = 0;
  std::vector<LineageArtifact> artifacts;  ///< by depth, then id; root first
  std::vector<LineageAttempt> attempts;    ///< by depth, then id
  std::vector<LineageEdge> edges;          ///< every event between nodes of the graph
  bool truncated = false;                  ///< the 64-hop guard stopped the walk
};

/// What ForgetRun removed, so `pipeline gc` can delete the files and report.
struct ForgetResult {
  std::vector<std::string> log_paths;  ///< log files of the run's attempts (delete them)
  int64_t attempts = 0, events = 0, metrics = 0, transitions = 0, artifacts = 0;
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
  /// Write-behind for the engine's hot path. While on and inside a batch, FinishAttempt
  /// and SetTaskState only queue their write and return OK; the queue is written, in
  /// order, right before the next statement of any kind (so every read sees it) or the
  /// commit, and an error of a queued write is returned by that later call. The engine
  /// uses it so that a finished task's two writes run after its successors are spawned,
  /// not between the task's exit and the next spawn. Off by default.
  virtual void DeferStateWrites(bool on) { (void)on; }

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
  /// is inserted the same way with state "cached" and cache_source_attempt_id set
  /// (kInvalidArgument without it; kFailedPrecondition unless the source succeeded).
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

  /// One attempt by id (with task, cache source and manifest). kNotFound if none.
  virtual Result<AttemptRecord> GetAttempt(int64_t attempt_id) = 0;

  // --- artifacts and lineage events (docs/lineage.md) --------------------------------
  /// Inserts the artifact, or finds the existing row with the same (uri, sha256); returns
  /// its id. An existing row keeps its fields, except that a "missing" or "deleted" one
  /// becomes "live" again (the bytes exist again; "quarantined" stays). kInvalidArgument
  /// for a bad kind, state, sha256 (64 lowercase hex) or size.
  virtual Result<int64_t> UpsertArtifact(const ArtifactRecord& artifact) = 0;
  virtual Result<ArtifactRecord> GetArtifact(int64_t artifact_id) = 0;
  /// live | missing | deleted | quarantined (gc marks deleted files; verify marks missing).
  virtual Status SetArtifactState(int64_t artifact_id, const std::string& state) = 0;
  /// Appends a lineage edge. Recording the same (attempt, direction, role, artifact) twice
  /// is a no-op; events are never updated or deleted (except by ForgetRun).
  virtual Status AddEvent(const EventRecord& event) = 0;
  /// Inputs and outputs of one attempt, inputs first, then by role.
  virtual Result<std::vector<AttemptArtifact>> AttemptArtifacts(int64_t attempt_id) = 0;
  /// Artifacts whose uri equals |path_or_sha| exactly, else whose sha256 starts with it
  /// (>= 6 hex digits, an optional "sha256:" prefix). Newest first; several rows mean the
  /// caller must ask for more (or show them all). kInvalidArgument for a short prefix;
  /// an empty vector when nothing matches.
  virtual Result<std::vector<ArtifactRecord>> FindArtifacts(const std::string& path_or_sha) = 0;
  /// The artifacts and real executions that led to |artifact_id|, back to its sources
  /// (LINEAGE.md Q1+Q3): for each artifact its real producers (succeeded attempts; a
  /// cached attempt counts as its source attempt), then their inputs, recursively, up to
  /// 64 executions deep. kNotFound if the artifact does not exist.
  virtual Result<LineageGraph> Upstream(int64_t artifact_id) = 0;
  /// Every attempt (any state, cached included) that consumed |artifact_id| or anything
  /// derived from it, and what they produced (LINEAGE.md Q2+Q4), up to 64 deep.
  virtual Result<LineageGraph> Downstream(int64_t artifact_id) = 0;

  // --- build cache (LINEAGE.md section 3) ---------------------------------------------
  /// Stores the attempt's manifest (the cache-key preimage) and the key on its task
  /// instance. Either may be "" to leave it unset.
  virtual Status SetAttemptCache(int64_t attempt_id, const std::string& cache_key,
                                 const std::string& manifest_json) = 0;
  /// The entry for |cache_key| if it is usable: not invalidated and its producer
  /// succeeded with exit 0. nullopt on a miss.
  virtual Result<std::optional<CacheHit>> LookupCache(const std::string& cache_key) = 0;
  /// Records |producing_attempt_id| (which must have succeeded) as the producer for the
  /// key. The newest producer wins: an existing valid entry is replaced only by a newer
  /// attempt (higher id); an invalidated one always. Key version is parsed from "vK:".
  virtual Status PutCacheEntry(const std::string& cache_key, const std::string& task,
                               const std::string& manifest_json, int64_t producing_attempt_id,
                               int64_t now_ms) = 0;
  /// kNotFound if there is no entry.
  virtual Status InvalidateCacheEntry(const std::string& cache_key, const std::string& reason,
                                      int64_t now_ms) = 0;
  /// Counts a hit (hit_count + 1, last_hit_at_ms). kNotFound if there is no entry.
  virtual Status NoteCacheHit(const std::string& cache_key, int64_t now_ms) = 0;
  /// The manifest of the nearest earlier attempt (lower id) of the same task name in the
  /// same dag that has one, for explaining a miss. nullopt if there is none.
  virtual Result<std::optional<std::string>> PreviousManifest(int64_t attempt_id) = 0;

  // --- metrics --------------------------------------------------------------------------
  /// Records scalar metrics of an attempt at step 0 (a repeated name overwrites).
  /// nullopt or NaN is stored as NULL.
  virtual Status RecordMetrics(
      int64_t attempt_id, const std::vector<std::pair<std::string, std::optional<double>>>& metrics,
      int64_t ts_ms) = 0;
  /// Latest value (highest step) per name, by name.
  virtual Result<std::vector<MetricRecord>> MetricsOfAttempt(int64_t attempt_id) = 0;
  /// Latest value per (attempt, name) across runs of |dag|, newest first (by ts, attempt).
  /// |name| "" = every metric. |limit| <= 0: no limit.
  virtual Result<std::vector<MetricRecord>> MetricsHistory(const std::string& dag,
                                                           const std::string& name,
                                                           int limit) = 0;
  /// Every task's metrics in a run, by task then name; a cached task reports its source
  /// attempt's metrics (MetricRecord names the source attempt and run).
  virtual Result<std::vector<MetricRecord>> RunMetrics(int64_t run_pk) = 0;
  /// Metrics of the latest succeeded or cached attempt of |task| in run |run_pk| (cached:
  /// the source's). Empty map if the task has none (or did not succeed).
  virtual Result<std::map<std::string, std::optional<double>>> TaskMetrics(
      int64_t run_pk, const std::string& task) = 0;

  // --- model registry-lite ------------------------------------------------------------
  /// Points MODEL@ALIAS at |artifact_id| (history row with the previous artifact is
  /// written by a trigger). |run_pk| 0 = set by hand.
  virtual Status SetAlias(const std::string& model, const std::string& alias,
                          int64_t artifact_id, const std::string& set_by, int64_t run_pk,
                          int64_t now_ms) = 0;
  virtual Result<std::optional<AliasRecord>> GetAlias(const std::string& model,
                                                      const std::string& alias) = 0;
  /// Every alias, by model then alias.
  virtual Result<std::vector<AliasRecord>> ListAliases() = 0;
  /// Oldest first. |alias| "" = every alias of |model|.
  virtual Result<std::vector<AliasHistoryRecord>> AliasHistory(const std::string& model,
                                                               const std::string& alias) = 0;
  /// Metrics of |task| for the model behind MODEL@ALIAS: in the run that set the alias if
  /// it has that task, else in the newest run that produced (or cache-reused) the artifact.
  /// nullopt if the alias does not exist; an empty map if no such task metrics exist.
  virtual Result<std::optional<std::map<std::string, std::optional<double>>>> AliasTaskMetrics(
      const std::string& model, const std::string& alias, const std::string& task) = 0;

  // --- audit ----------------------------------------------------------------------------
  /// Appends one entry (the table refuses UPDATE and DELETE). Returns its id.
  virtual Result<int64_t> AppendAudit(const AuditRecord& record) = 0;
  /// Newest first.
  virtual Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& filter) = 0;

  // --- retention (`pipeline gc`) --------------------------------------------------------
  /// Finished runs (success/failed/cancelled/lost) that ended before |before_ms| and whose
  /// removal breaks no kept lineage: not upstream of an aliased artifact, not the run
  /// that set an alias, not upstream of (or a cache source for) any run that is kept.
  /// Oldest first.
  virtual Result<std::vector<RunRecord>> RunsForRetention(int64_t before_ms) = 0;
  /// The sha256 of every artifact that must stay on disk: aliased artifacts and their
  /// upstream closure, every artifact an unselected (kept) run consumed or produced, and
  /// artifacts created at or after |before_ms|. Anything else may be deleted.
  virtual Result<std::set<std::string>> ArtifactsToKeep(int64_t before_ms) = 0;
  /// Deletes a finished run and everything recorded under it: metrics, events, blessings
  /// it evaluated, cache entries it produced, attempts, task instances, state transitions,
  /// the run row; then artifact rows no event, alias or blessing references any more.
  /// Keeps: dag versions, audit_log, alias history, artifacts still referenced.
  /// kFailedPrecondition if the run is not finished or something kept depends on it (an
  /// alias, a cached attempt of another run). One transaction.
  virtual Result<ForgetResult> ForgetRun(int64_t run_pk) = 0;
  /// Returns free pages to the file system (PRAGMA incremental_vacuum); after gc.
  virtual Status ReclaimSpace() = 0;
};

}  // namespace pipeline
