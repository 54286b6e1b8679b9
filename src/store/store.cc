// SQLite implementation of the run store (include/pipeline/store.h).
//
// On-disk format: docs/schema.md; DDL: src/store/schema.cc. One connection per Store,
// opened SQLITE_OPEN_NOMUTEX (a Store belongs to one thread). Every statement is
// prepared once and kept in a cache keyed by its SQL text: the engine records each task
// state change, so the hot path is bind + step + reset, never a parse.
//
// Transactions: writes take BEGIN IMMEDIATE (a deferred transaction that later upgrades
// gets SQLITE_BUSY without waiting for busy_timeout). Outside a batch each write method
// is its own transaction; inside one, a method with several statements runs under a
// savepoint, so a failed call leaves the batch exactly as it was before the call.
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/sha256.h"
#include "pipeline/store.h"
#include "store/schema.h"

namespace pipeline {
namespace {

int64_t WallNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A prepared statement borrowed for one execution: bind, step, read columns. On
// destruction it is reset and its bindings cleared, so the cached plan can be reused.
class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3_stmt* stmt, bool owned) : stmt_(stmt), owned_(owned) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&& other) noexcept {
    if (this != &other) {
      Release();
      stmt_ = std::exchange(other.stmt_, nullptr);
      owned_ = other.owned_;
      bind_rc_ = other.bind_rc_;
    }
    return *this;
  }
  ~Stmt() { Release(); }

  Stmt& Bind(int i, int64_t v) { return Check(sqlite3_bind_int64(stmt_, i, v)); }
  Stmt& Bind(int i, int v) { return Check(sqlite3_bind_int64(stmt_, i, v)); }
  Stmt& Bind(int i, std::string_view v) {
    return Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                                   SQLITE_TRANSIENT));
  }
  Stmt& BindNull(int i) { return Check(sqlite3_bind_null(stmt_, i)); }
  /// "" -> NULL.
  Stmt& BindTextOrNull(int i, std::string_view v) { return v.empty() ? BindNull(i) : Bind(i, v); }
  /// 0 -> NULL (the records use 0 for "not yet").
  Stmt& BindIntOrNull(int i, int64_t v) { return v == 0 ? BindNull(i) : Bind(i, v); }
  Stmt& Bind(int i, std::optional<int> v) { return v ? Bind(i, *v) : BindNull(i); }
  /// NaN and nullopt -> NULL (SQLite would store NaN as NULL anyway; be explicit).
  Stmt& Bind(int i, std::optional<double> v) {
    if (!v || std::isnan(*v)) return BindNull(i);
    return Check(sqlite3_bind_double(stmt_, i, *v));
  }
  Stmt& BindOpt(int i, std::optional<int64_t> v) { return v ? Bind(i, *v) : BindNull(i); }
  Stmt& BindBlob(int i, std::string_view v) {
    return Check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()),
                                   SQLITE_TRANSIENT));
  }

  /// SQLITE_ROW, SQLITE_DONE or an error code (a failed bind is reported here).
  int Step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  bool IsNull(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  int64_t Int(int c) const { return sqlite3_column_int64(stmt_, c); }
  std::optional<int> OptInt(int c) const {
    if (IsNull(c)) return std::nullopt;
    return static_cast<int>(sqlite3_column_int64(stmt_, c));
  }
  std::optional<int64_t> OptInt64(int c) const {
    if (IsNull(c)) return std::nullopt;
    return sqlite3_column_int64(stmt_, c);
  }
  std::optional<double> OptDouble(int c) const {
    if (IsNull(c)) return std::nullopt;
    return sqlite3_column_double(stmt_, c);
  }
  std::string Text(int c) const {
    const unsigned char* p = sqlite3_column_text(stmt_, c);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string();
  }

 private:
  Stmt& Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  void Release() {
    if (!stmt_) return;
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
    stmt_ = nullptr;
  }

  sqlite3_stmt* stmt_ = nullptr;
  bool owned_ = false;
  int bind_rc_ = SQLITE_OK;
};

Status FromSqlite(int rc, std::string msg) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return Status::Internal(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::IOError(msg + " (another process holds the database lock)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return Status::IOError(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

bool IsIllegalTransition(int rc) { return rc == SQLITE_CONSTRAINT_TRIGGER; }

// Appends the JSON array |entry| to task_instances.history: the writer's half of what the
// guard triggers check (migration 3; docs/schema.md, "History of every state change"). A
// macro so that each statement stays one literal (statements are cached by their text).
#define PL_APPEND_HISTORY(entry) \
  "substr(history, 1, length(history) - 1) || iif(length(history) > 2, ',', '') || " entry " || ']'"

// The columns every RunRecord query reads, in ReadRun's order.
constexpr std::string_view kRunSelect =
    "SELECT r.id, r.run_id, d.name, r.dag_version_id, v.def_sha256, r.trigger, "
    "r.triggered_by, r.logical_date_ms, r.params_json, r.state, r.dag_file, r.base_dir, "
    "r.created_at_ms, r.started_at_ms, r.ended_at_ms, r.owner_pid, r.owner_host, r.reason "
    "FROM dag_runs r JOIN dags d ON d.id = r.dag_id "
    "JOIN dag_versions v ON v.id = r.dag_version_id ";

RunRecord ReadRun(const Stmt& q) {
  RunRecord r;
  r.id = q.Int(0);
  r.run_id = q.Text(1);
  r.dag = q.Text(2);
  r.dag_version_id = q.Int(3);
  r.dag_sha256 = q.Text(4);
  r.trigger = q.Text(5);
  r.triggered_by = q.Text(6);
  r.logical_date_ms = q.Int(7);
  r.params_json = q.Text(8);
  r.state = q.Text(9);
  r.dag_file = q.Text(10);
  r.base_dir = q.Text(11);
  r.created_ms = q.Int(12);
  r.started_ms = q.Int(13);
  r.ended_ms = q.Int(14);
  r.owner_pid = q.Int(15);
  r.owner_host = q.Text(16);
  r.reason = q.Text(17);
  return r;
}

// The columns every AttemptRecord query reads, in ReadAttempt's order ("a" = the attempt,
// "ti" = its instance).
constexpr std::string_view kAttemptCols =
    "a.id, a.task_instance_id, ti.task_name, a.attempt_no, a.state, a.pid, a.host, "
    "a.command_json, a.log_path, a.exit_code, a.term_signal, a.started_at_ms, "
    "a.ended_at_ms, a.error, a.cache_source_attempt_id, a.manifest_json, a.code_digest, "
    "a.env_digest ";

AttemptRecord ReadAttempt(const Stmt& q) {
  AttemptRecord a;
  a.id = q.Int(0);
  a.task_instance_id = q.Int(1);
  a.task = q.Text(2);
  a.attempt_no = static_cast<int>(q.Int(3));
  a.state = q.Text(4);
  a.pid = q.Int(5);
  a.host = q.Text(6);
  a.command_json = q.Text(7);
  a.log_path = q.Text(8);
  a.exit_code = q.OptInt(9);
  a.signal = q.OptInt(10);
  a.started_ms = q.Int(11);
  a.ended_ms = q.Int(12);
  a.error = q.Text(13);
  a.cache_source_attempt_id = q.OptInt64(14);
  a.manifest_json = q.Text(15);
  a.code_digest = q.Text(16);
  a.env_digest = q.Text(17);
  return a;
}

// The columns every ArtifactRecord query reads ("a" = artifacts), from column |first|.
constexpr std::string_view kArtifactCols =
    "a.id, a.kind, a.uri, a.sha256, a.size_bytes, a.file_count, a.name, a.props_json, "
    "a.state, a.created_at_ms ";

ArtifactRecord ReadArtifact(const Stmt& q, int first) {
  ArtifactRecord r;
  r.id = q.Int(first);
  r.kind = q.Text(first + 1);
  r.uri = q.Text(first + 2);
  r.sha256 = q.Text(first + 3);
  r.size_bytes = q.Int(first + 4);
  r.file_count = q.Int(first + 5);
  r.name = q.Text(first + 6);
  r.props_json = q.Text(first + 7);
  r.state = q.Text(first + 8);
  r.created_ms = q.Int(first + 9);
  return r;
}

// Metric rows: the attempt's run, dag and task, and the latest step of each name.
constexpr std::string_view kMetricSelect =
    "SELECT m.attempt_id, r.run_id, d.name, ti.task_name, ta.attempt_no, m.name, m.step, "
    "m.value, m.ts_ms FROM metrics m "
    "JOIN task_attempts ta ON ta.id = m.attempt_id "
    "JOIN task_instances ti ON ti.id = ta.task_instance_id "
    "JOIN dag_runs r ON r.id = ti.dag_run_id JOIN dags d ON d.id = r.dag_id "
    "WHERE m.step = (SELECT max(x.step) FROM metrics x "
    "                WHERE x.attempt_id = m.attempt_id AND x.name = m.name) ";

MetricRecord ReadMetric(const Stmt& q) {
  MetricRecord m;
  m.attempt_id = q.Int(0);
  m.run_id = q.Text(1);
  m.dag = q.Text(2);
  m.task = q.Text(3);
  m.attempt_no = static_cast<int>(q.Int(4));
  m.name = q.Text(5);
  m.step = q.Int(6);
  m.value = q.OptDouble(7);
  m.ts_ms = q.Int(8);
  return m;
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

constexpr std::string_view kArtifactKinds[] = {"dataset", "model",       "metrics", "report",
                                               "code",    "environment", "other"};
constexpr std::string_view kArtifactStates[] = {"live", "missing", "deleted", "quarantined"};

template <size_t N>
bool OneOf(std::string_view v, const std::string_view (&set)[N]) {
  return std::find(std::begin(set), std::end(set), v) != std::end(set);
}

// The smallest string greater than every string starting with |prefix| (bytewise), or
// nullopt if there is none (prefix of 0xff bytes).
// Lets the statement cache be probed with a string_view (no allocation per lookup).
struct SqlHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

std::optional<std::string> PrefixUpperBound(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::string path, bool read_only)
      : db_(db), path_(std::move(path)), read_only_(read_only) {}
  ~SqliteStore() override;

  Status Setup(bool create);

  Status Begin() override;
  Status Commit() override;
  void Rollback() override;
  bool in_batch() const override { return in_batch_; }
  void DeferStateWrites(bool on) override { defer_ = on; }

  Result<int64_t> EnsureDagVersion(const std::string& dag, const std::string& sha256,
                                   const std::string& canonical) override;
  Result<int64_t> CreateRun(const RunRecord& run) override;
  Result<std::vector<int64_t>> CreateTaskInstances(
      int64_t run_pk, const std::vector<std::pair<std::string, int>>& name_and_max_attempts,
      int64_t now_ms) override;
  Status SetRunState(int64_t run_pk, const std::string& state, int64_t at_ms,
                     const std::string& reason) override;
  Status SetTaskState(int64_t ti_id, const std::string& state, int64_t at_ms,
                      const std::string& reason) override;
  Result<int64_t> StartAttempt(const AttemptRecord& attempt) override;
  Status FinishAttempt(int64_t attempt_id, const std::string& state,
                       std::optional<int> exit_code, std::optional<int> signal,
                       int64_t ended_ms, const std::string& error) override;

  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  Result<RunRecord> FindRun(const std::string& run_id) override;
  Result<std::string> DagDefinition(int64_t dag_version_id) override;
  Result<std::vector<TaskInstanceRecord>> ListTaskInstances(int64_t run_pk) override;
  Result<std::vector<AttemptRecord>> ListAttempts(int64_t run_pk) override;
  Result<std::vector<TransitionRecord>> ListTransitions(int64_t run_pk) override;

  Status MarkRunLost(int64_t run_pk, int64_t at_ms, const std::string& reason) override;
  /// Running attempts -> lost, running/retrying instances -> failed, with |reason|.
  Status CloseRunningWork(int64_t run_pk, int64_t at_ms, std::string_view reason);
  Status ReopenRun(int64_t run_pk, int64_t at_ms, int64_t owner_pid,
                   const std::string& owner_host) override;
  Result<AttemptRecord> GetAttempt(int64_t attempt_id) override;

  Result<int64_t> UpsertArtifact(const ArtifactRecord& artifact) override;
  Result<ArtifactRecord> GetArtifact(int64_t artifact_id) override;
  Status SetArtifactState(int64_t artifact_id, const std::string& state) override;
  Status AddEvent(const EventRecord& event) override;
  Result<std::vector<AttemptArtifact>> AttemptArtifacts(int64_t attempt_id) override;
  Result<std::vector<ArtifactRecord>> FindArtifacts(const std::string& path_or_sha) override;
  Result<LineageGraph> Upstream(int64_t artifact_id) override;
  Result<LineageGraph> Downstream(int64_t artifact_id) override;

  Status SetAttemptCache(int64_t attempt_id, const std::string& cache_key,
                         const std::string& manifest_json) override;
  Result<std::optional<CacheHit>> LookupCache(const std::string& cache_key) override;
  Status PutCacheEntry(const std::string& cache_key, const std::string& task,
                       const std::string& manifest_json, int64_t producing_attempt_id,
                       int64_t now_ms) override;
  Status InvalidateCacheEntry(const std::string& cache_key, const std::string& reason,
                              int64_t now_ms) override;
  Status NoteCacheHit(const std::string& cache_key, int64_t now_ms) override;
  Result<std::optional<std::string>> PreviousManifest(int64_t attempt_id) override;

  Status RecordMetrics(
      int64_t attempt_id, const std::vector<std::pair<std::string, std::optional<double>>>& metrics,
      int64_t ts_ms) override;
  Result<std::vector<MetricRecord>> MetricsOfAttempt(int64_t attempt_id) override;
  Result<std::vector<MetricRecord>> MetricsHistory(const std::string& dag,
                                                   const std::string& name, int limit) override;
  Result<std::vector<MetricRecord>> RunMetrics(int64_t run_pk) override;
  Result<std::map<std::string, std::optional<double>>> TaskMetrics(
      int64_t run_pk, const std::string& task) override;

  Status SetAlias(const std::string& model, const std::string& alias, int64_t artifact_id,
                  const std::string& set_by, int64_t run_pk, int64_t now_ms) override;
  Result<std::optional<AliasRecord>> GetAlias(const std::string& model,
                                              const std::string& alias) override;
  Result<std::vector<AliasRecord>> ListAliases() override;
  Result<std::vector<AliasHistoryRecord>> AliasHistory(const std::string& model,
                                                       const std::string& alias) override;
  Result<std::optional<std::map<std::string, std::optional<double>>>> AliasTaskMetrics(
      const std::string& model, const std::string& alias, const std::string& task) override;

  Result<int64_t> AppendAudit(const AuditRecord& record) override;
  Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& filter) override;

  Result<std::vector<RunRecord>> RunsForRetention(int64_t before_ms) override;
  Result<std::set<std::string>> ArtifactsToKeep(int64_t before_ms) override;
  Result<ForgetResult> ForgetRun(int64_t run_pk) override;
  Status ReclaimSpace() override;

 private:
  /// Steps |q| to the end, calling |row| for each row.
  template <class F>
  Status EachRow(Stmt& q, std::string_view what, F&& row);
  /// A statement's error; constraint failures (CHECK, FOREIGN KEY) become kInvalidArgument
  /// with |what| (they mean bad input from the caller, not a bug here).
  Status InputError(int rc, std::string_view what) const;
  /// Fills a graph's nodes from (kind, id, depth, via) rows, then its edges.
  Status LoadGraph(Stmt& q, bool upstream, LineageGraph* g);
  /// Metrics of the latest succeeded/cached attempt per task of a run ("" = every task).
  Result<std::vector<MetricRecord>> ResolvedRunMetrics(int64_t run_pk, const std::string& task);
  Result<std::vector<AliasRecord>> QueryAliases(const std::string& model,
                                                const std::string& alias);

  struct DbInfo {
    int64_t application_id = 0;
    int user_version = 0;
    int64_t schema_objects = 0;
  };

  /// Borrows the cached statement for |sql| (compiling it the first time).
  Status Prepare(std::string_view sql, Stmt* out);
  /// Runs a statement that returns no rows of interest.
  Status Exec(std::string_view sql, const char* what);
  /// A Status for the connection's last error, prefixed with the database path.
  Status Error(int rc, std::string_view what) const;
  /// Steps |q| to completion, expecting no rows.
  Status Done(Stmt& q, std::string_view what);

  Status Inspect(DbInfo* info);
  Status Validate(const DbInfo& info) const;
  Status Migrate();

  /// Runs |body| atomically (own BEGIN IMMEDIATE transaction, or a savepoint in a batch
  /// when |multi_statement|). |body| returns Status.
  template <class F>
  Status Atomically(bool multi_statement, F&& body);
  Status CheckWritable() const;
  /// After a failed statement inside a batch: notices when SQLite rolled the whole
  /// transaction back (disk full, I/O error) and says so.
  Status NoteBatchLoss(Status s);

  Status IllegalTransition(std::string_view entity, std::string_view table, int64_t id,
                           const std::string& to);
  Result<std::string> RunState(int64_t run_pk);

  sqlite3* db_;
  std::string path_;
  bool read_only_;
  bool in_batch_ = false;
  /// DeferStateWrites: queued FinishAttempt / SetTaskState calls, run by Flush.
  struct DeferredWrite {
    bool finish_attempt;  // else SetTaskState
    int64_t id;
    std::string state;
    std::optional<int> exit_code, signal;
    int64_t at_ms;
    std::string text;  // error / reason
  };
  bool Deferring() const { return defer_ && in_batch_ && !flushing_; }
  Status Flush();
  bool defer_ = false;
  bool flushing_ = false;
  std::vector<DeferredWrite> deferred_;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
};

SqliteStore::~SqliteStore() {
  if (in_batch_) Rollback();
  cache_.clear();  // statements are finalized below, all at once
  sqlite3_stmt* s = nullptr;
  while ((s = sqlite3_next_stmt(db_, nullptr)) != nullptr) sqlite3_finalize(s);
  // optimize may ANALYZE tables at exit; the limit samples ~400 rows per index instead
  // of reading whole tables, so a database with years of history still closes at once
  // (SQLite's own advice for optimize).
  if (!read_only_) {
    sqlite3_exec(db_, "PRAGMA analysis_limit=400; PRAGMA optimize", nullptr, nullptr, nullptr);
  }
  sqlite3_close_v2(db_);
}

Status SqliteStore::Flush() {
  if (deferred_.empty() || flushing_) return Status::OK();
  flushing_ = true;
  std::vector<DeferredWrite> queue;
  queue.swap(deferred_);
  Status s;
  for (const DeferredWrite& w : queue) {
    s = w.finish_attempt ? FinishAttempt(w.id, w.state, w.exit_code, w.signal, w.at_ms, w.text)
                         : SetTaskState(w.id, w.state, w.at_ms, w.text);
    if (!s.ok()) break;
  }
  flushing_ = false;
  return s;
}

Status SqliteStore::Prepare(std::string_view sql, Stmt* out) {
  if (!deferred_.empty() && !flushing_) {
    if (Status s = Flush(); !s.ok()) return s;
  }
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    // A statement still stepping (a caller nested the same query) gets a private copy.
    if (!sqlite3_stmt_busy(it->second)) {
      *out = Stmt(it->second, /*owned=*/false);
      return Status::OK();
    }
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "prepare");
    *out = Stmt(s, /*owned=*/true);
    return Status::OK();
  }
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "prepare");
  cache_.emplace(std::string(sql), s);
  *out = Stmt(s, /*owned=*/false);
  return Status::OK();
}

Status SqliteStore::Error(int rc, std::string_view what) const {
  std::string msg = "database " + path_ + ": " + std::string(what) + ": ";
  // sqlite3_errmsg describes the last failed call on this connection; for a bind error
  // reported by Stmt::Step it may be stale, so fall back to the code's text.
  msg += (sqlite3_errcode(db_) == SQLITE_OK) ? sqlite3_errstr(rc) : sqlite3_errmsg(db_);
  return FromSqlite(rc, std::move(msg));
}

Status SqliteStore::Done(Stmt& q, std::string_view what) {
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
  }
  return rc == SQLITE_DONE ? Status::OK() : Error(rc, what);
}

Status SqliteStore::Exec(std::string_view sql, const char* what) {
  Stmt q;
  if (Status s = Prepare(sql, &q); !s.ok()) return s;
  return Done(q, what);
}

Status SqliteStore::CheckWritable() const {
  if (read_only_) {
    return Status::FailedPrecondition("database " + path_ + " was opened read-only");
  }
  return Status::OK();
}

// --- open, pragmas, migrations -------------------------------------------------------

Status SqliteStore::Inspect(DbInfo* info) {
  Stmt q;
  if (Status s = Prepare("SELECT (SELECT application_id FROM pragma_application_id), "
                         "(SELECT user_version FROM pragma_user_version), "
                         "(SELECT count(*) FROM sqlite_schema)",
                         &q);
      !s.ok()) {
    return s;
  }
  int rc = q.Step();
  if (rc != SQLITE_ROW) return Error(rc, "reading the database header");
  info->application_id = q.Int(0);
  info->user_version = static_cast<int>(q.Int(1));
  info->schema_objects = q.Int(2);
  return Status::OK();
}

Status SqliteStore::Validate(const DbInfo& info) const {
  if (info.application_id != kApplicationId &&
      (info.application_id != 0 || info.schema_objects > 0)) {
    char id[32];
    std::snprintf(id, sizeof id, "0x%08llx",
                  static_cast<unsigned long long>(static_cast<uint32_t>(info.application_id)));
    return Status::FailedPrecondition(
        "database " + path_ + " is a SQLite database of another application (application_id " +
        id + ", " + std::to_string(info.schema_objects) +
        " schema objects), not a pipeline database; refusing to touch it (pass another --home)");
  }
  if (info.user_version > SchemaVersion()) {
    return Status::FailedPrecondition(
        "database " + path_ + " has schema version " + std::to_string(info.user_version) +
        ", newer than this pipeline binary supports (" + std::to_string(SchemaVersion()) +
        "); upgrade pipeline");
  }
  return Status::OK();
}

Status SqliteStore::Setup(bool create) {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);

  DbInfo info;
  if (Status s = Inspect(&info); !s.ok()) {
    if (s.code() == Status::Code::kCorruption) {
      return Status::Corruption("database " + path_ + " is not a SQLite database (" +
                                sqlite3_errmsg(db_) + "); refusing to use it");
    }
    return s;
  }
  if (Status s = Validate(info); !s.ok()) return s;

  if (!create) {  // read-only
    if (info.schema_objects == 0) {
      return Status::NotFound("no pipeline database at " + path_ +
                              " (the file is empty); run `pipeline run` first or pass --home");
    }
    if (info.user_version < SchemaVersion()) {
      return Status::FailedPrecondition(
          "database " + path_ + " has schema version " + std::to_string(info.user_version) +
          ", older than this binary's (" + std::to_string(SchemaVersion()) +
          "); open it read-write once (e.g. `pipeline run`) to upgrade it");
    }
    return Exec("PRAGMA temp_store=MEMORY", "setting pragmas");
  }

  // PIPELINE_SYNC=full trades commit latency for durability of the last transactions
  // across power loss; NORMAL in WAL mode is already atomic and consistent after a
  // process crash. docs/schema.md has the numbers.
  std::string sync = "NORMAL";
  if (const char* env = getenv("PIPELINE_SYNC"); env && *env) {
    std::string v(env);
    for (char& c : v) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (v == "full") {
      sync = "FULL";
    } else if (v != "normal") {
      return Status::InvalidArgument("PIPELINE_SYNC must be 'normal' or 'full', not '" +
                                     std::string(env) + "'");
    }
  }
  for (std::string_view pragma : {"PRAGMA foreign_keys=ON", "PRAGMA temp_store=MEMORY"}) {
    if (Status s = Exec(pragma, "setting pragmas"); !s.ok()) return s;
  }
  if (Status s = Exec("PRAGMA synchronous=" + sync, "setting pragmas"); !s.ok()) return s;
  if (info.schema_objects == 0) {
    // Only possible before the first table exists.
    if (Status s = Exec("PRAGMA auto_vacuum=INCREMENTAL", "setting pragmas"); !s.ok()) return s;
  }
  // Persistent in the file; a no-op when it is already WAL. ":memory:" answers "memory".
  if (Status s = Exec("PRAGMA journal_mode=WAL", "enabling WAL"); !s.ok()) return s;

  if (info.user_version < SchemaVersion()) return Migrate();
  return Status::OK();
}

Status SqliteStore::Migrate() {
  if (Status s = Exec("BEGIN IMMEDIATE", "starting the migration"); !s.ok()) return s;
  auto fail = [this](Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  // Another process may have migrated between our first look and taking the lock.
  DbInfo info;
  if (Status s = Inspect(&info); !s.ok()) return fail(s);
  if (Status s = Validate(info); !s.ok()) return fail(s);
  if (info.user_version == 0 && info.schema_objects == 0) {
    std::string sql = "PRAGMA application_id=" + std::to_string(kApplicationId);
    if (Status s = Exec(sql, "setting application_id"); !s.ok()) return fail(s);
  }
  for (const Migration& m : Migrations()) {
    if (m.version <= info.user_version) continue;
    char* err = nullptr;
    int rc = sqlite3_exec(db_, m.sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = "database " + path_ + ": migration " + std::to_string(m.version) +
                        " (" + m.name + ") failed: " + (err ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
      return fail(FromSqlite(rc, msg));
    }
    Stmt q;
    if (Status s = Prepare("INSERT INTO schema_migrations(version, name, script_sha256, "
                           "applied_at_ms, app_version) VALUES (?1, ?2, ?3, ?4, ?5)",
                           &q);
        !s.ok()) {
      return fail(s);
    }
    q.Bind(1, m.version).Bind(2, m.name).Bind(3, Sha256::Hex(m.sql)).Bind(4, WallNowMs());
    q.Bind(5, PIPELINE_VERSION);
    if (Status s = Done(q, "recording a migration"); !s.ok()) return fail(s);
    if (Status s = Exec("PRAGMA user_version=" + std::to_string(m.version), "setting user_version");
        !s.ok()) {
      return fail(s);
    }
  }
  if (Status s = Exec("COMMIT", "committing the migration"); !s.ok()) return fail(s);
  return Status::OK();
}

// --- transactions --------------------------------------------------------------------

Status SqliteStore::Begin() {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (in_batch_) return Status::OK();
  if (Status s = Exec("BEGIN IMMEDIATE", "BEGIN IMMEDIATE"); !s.ok()) return s;
  in_batch_ = true;
  return Status::OK();
}

Status SqliteStore::Commit() {
  if (!in_batch_) return Status::OK();
  if (Status s = Flush(); !s.ok()) {
    Rollback();
    return s;
  }
  in_batch_ = false;
  Status s = Exec("COMMIT", "COMMIT");
  // A failed COMMIT may leave the transaction open; end it so the next write starts
  // clean. The batch's changes are lost either way, as after a crash.
  if (!s.ok() && !sqlite3_get_autocommit(db_)) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return s;
}

void SqliteStore::Rollback() {
  deferred_.clear();
  if (!in_batch_) return;
  in_batch_ = false;
  if (!sqlite3_get_autocommit(db_)) Exec("ROLLBACK", "ROLLBACK");
}

Status SqliteStore::NoteBatchLoss(Status s) {
  if (in_batch_ && sqlite3_get_autocommit(db_)) {
    in_batch_ = false;
    std::string msg = s.ok() ? "database " + path_ + ": the batch ended unexpectedly"
                             : s.message();
    return Status::IOError(msg + " (SQLite rolled back the whole open batch)");
  }
  return s;
}

template <class F>
Status SqliteStore::Atomically(bool multi_statement, F&& body) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (in_batch_) {
    if (!multi_statement) return NoteBatchLoss(body());
    if (Status s = Exec("SAVEPOINT store_op", "SAVEPOINT"); !s.ok()) return NoteBatchLoss(s);
    Status s = body();
    if (s.ok()) {
      s = Exec("RELEASE store_op", "RELEASE");
    } else if (!sqlite3_get_autocommit(db_)) {
      Exec("ROLLBACK TO store_op", "ROLLBACK TO");
      Exec("RELEASE store_op", "RELEASE");
    }
    return NoteBatchLoss(s);
  }
  if (Status s = Exec("BEGIN IMMEDIATE", "BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = body();
  if (s.ok()) s = Exec("COMMIT", "COMMIT");
  if (!s.ok() && !sqlite3_get_autocommit(db_)) Exec("ROLLBACK", "ROLLBACK");
  return s;
}

Status SqliteStore::IllegalTransition(std::string_view entity, std::string_view table,
                                      int64_t id, const std::string& to) {
  std::string from = "?";
  Stmt q;
  std::string sql = "SELECT state FROM " + std::string(table) + " WHERE id = ?1";
  if (Prepare(sql, &q).ok()) {
    q.Bind(1, id);
    if (q.Step() == SQLITE_ROW) from = q.Text(0);
  }
  return Status::Internal("illegal " + std::string(entity) + " state transition for id " +
                          std::to_string(id) + ": " + from + " -> " + to +
                          " (state machine in docs/schema.md)");
}

// --- writes --------------------------------------------------------------------------

Result<int64_t> SqliteStore::EnsureDagVersion(const std::string& dag, const std::string& sha256,
                                              const std::string& canonical) {
  constexpr std::string_view kFind =
      "SELECT v.id FROM dag_versions v JOIN dags d ON d.id = v.dag_id "
      "WHERE d.name = ?1 AND v.def_sha256 = ?2";
  auto find = [&](int64_t* id) -> Status {
    Stmt q;
    if (Status s = Prepare(kFind, &q); !s.ok()) return s;
    q.Bind(1, dag).Bind(2, sha256);
    int rc = q.Step();
    if (rc == SQLITE_ROW) {
      *id = q.Int(0);
      return Status::OK();
    }
    if (rc == SQLITE_DONE) {
      *id = 0;
      return Status::OK();
    }
    return Error(rc, "looking up a dag version");
  };
  int64_t id = 0;
  if (Status s = find(&id); !s.ok()) return s;
  if (id != 0) return id;  // the common case: nothing to write
  if (Status s = CheckWritable(); !s.ok()) return s;

  Status s = Atomically(true, [&]() -> Status {
    int64_t now = WallNowMs();
    Stmt q;
    if (Status st = Prepare("INSERT INTO dags(name, created_at_ms) VALUES (?1, ?2) "
                            "ON CONFLICT(name) DO NOTHING",
                            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, dag).Bind(2, now);
    if (Status st = Done(q, "inserting a dag"); !st.ok()) return st;
    Stmt v;
    if (Status st = Prepare("INSERT INTO dag_versions(dag_id, def_sha256, def_canonical, "
                            "created_at_ms) SELECT id, ?2, ?3, ?4 FROM dags WHERE name = ?1 "
                            "ON CONFLICT(dag_id, def_sha256) DO NOTHING",
                            &v);
        !st.ok()) {
      return st;
    }
    v.Bind(1, dag).Bind(2, sha256).Bind(3, canonical).Bind(4, now);
    if (Status st = Done(v, "inserting a dag version"); !st.ok()) return st;
    return find(&id);
  });
  if (!s.ok()) return s;
  if (id == 0) return Status::Internal("dag version for " + dag + " vanished after insert");
  return id;
}

Result<int64_t> SqliteStore::CreateRun(const RunRecord& run) {
  int64_t id = 0;
  Status s = Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status st = Prepare(
            "INSERT INTO dag_runs(run_id, dag_id, dag_version_id, trigger, triggered_by, "
            "logical_date_ms, params_json, state, dag_file, base_dir, created_at_ms, "
            "started_at_ms, ended_at_ms, state_changed_at_ms, owner_pid, owner_host, reason) "
            "SELECT ?1, v.dag_id, v.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
            "coalesce(?11, ?10), ?13, ?14, ?15 "
            "FROM dag_versions v JOIN dags d ON d.id = v.dag_id "
            "WHERE v.id = ?2 AND (?16 = '' OR d.name = ?16)",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, run.run_id).Bind(2, run.dag_version_id).Bind(3, run.trigger);
    q.BindTextOrNull(4, run.triggered_by).BindIntOrNull(5, run.logical_date_ms);
    q.Bind(6, run.params_json.empty() ? std::string_view("{}") : run.params_json);
    q.Bind(7, run.state).BindTextOrNull(8, run.dag_file).BindTextOrNull(9, run.base_dir);
    q.Bind(10, run.created_ms).BindIntOrNull(11, run.started_ms);
    q.BindIntOrNull(12, run.ended_ms).BindIntOrNull(13, run.owner_pid);
    q.BindTextOrNull(14, run.owner_host).BindTextOrNull(15, run.reason).Bind(16, run.dag);
    if (Status st = Done(q, "inserting run " + run.run_id); !st.ok()) return st;
    if (sqlite3_changes(db_) != 1) {
      return Status::InvalidArgument("dag version " + std::to_string(run.dag_version_id) +
                                     " does not exist or does not belong to dag '" + run.dag +
                                     "'");
    }
    id = sqlite3_last_insert_rowid(db_);
    return Status::OK();
  });
  if (!s.ok()) return s;
  return id;
}

Result<std::vector<int64_t>> SqliteStore::CreateTaskInstances(
    int64_t run_pk, const std::vector<std::pair<std::string, int>>& name_and_max_attempts,
    int64_t now_ms) {
  // Rows go in kChunk to a statement (half the cost of one INSERT per row on a
  // 2,000-task DAG, all of it before the first task can start); the rest one by one.
  constexpr size_t kChunk = 64;
  // Row r binds its name to ?(3 + 2r) and its max_attempts to ?(4 + 2r).
  auto insert = [](size_t rows) {
    std::string sql =
        "INSERT INTO task_instances(dag_run_id, task_name, state, max_attempts, created_at_ms, "
        "state_changed_at_ms, history) VALUES ";
    for (size_t r = 0; r < rows; ++r) {
      sql += (r ? ", (?1, ?" : "(?1, ?") + std::to_string(3 + 2 * r) + ", 'pending', ?" +
             std::to_string(4 + 2 * r) +
             ", ?2, ?2, json_array(json_array(?2, NULL, 'pending', NULL)))";
    }
    return sql + " RETURNING id, task_name";
  };
  static const std::string kOne = insert(1);
  static const std::string kMany = insert(kChunk);
  const size_t n = name_and_max_attempts.size();
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) index.emplace(name_and_max_attempts[i].first, i);
  std::vector<int64_t> ids(n, 0);
  Status s = Atomically(true, [&]() -> Status {
    for (size_t begin = 0; begin < n;) {
      const size_t rows = n - begin >= kChunk ? kChunk : 1;
      Stmt q;
      if (Status st = Prepare(rows == kChunk ? kMany : kOne, &q); !st.ok()) return st;
      q.Bind(1, run_pk).Bind(2, now_ms);
      for (size_t r = 0; r < rows; ++r) {
        const auto& [name, max_attempts] = name_and_max_attempts[begin + r];
        q.Bind(static_cast<int>(3 + 2 * r), name).Bind(static_cast<int>(4 + 2 * r), max_attempts);
      }
      // RETURNING order is unspecified: map the rows back by name.
      Status st = EachRow(q, "inserting task instances", [&] {
        auto it = index.find(q.Text(1));
        if (it != index.end()) ids[it->second] = q.Int(0);
      });
      if (!st.ok()) return st;
      begin += rows;
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  return ids;
}

Status SqliteStore::SetRunState(int64_t run_pk, const std::string& state, int64_t at_ms,
                                const std::string& reason) {
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status st = Prepare(
            "UPDATE dag_runs SET state = ?2, reason = ?3, state_changed_at_ms = ?4, "
            "started_at_ms = CASE WHEN ?2 = 'running' THEN coalesce(started_at_ms, ?4) "
            "ELSE started_at_ms END, "
            "ended_at_ms = CASE WHEN ?2 IN ('success','failed','cancelled','lost') THEN ?4 "
            "WHEN ?2 IN ('queued','running') THEN NULL ELSE ended_at_ms END "
            "WHERE id = ?1",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, run_pk).Bind(2, state).BindTextOrNull(3, reason).Bind(4, at_ms);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      if (IsIllegalTransition(rc)) return IllegalTransition("dag_run", "dag_runs", run_pk, state);
      return Error(rc, "setting run state");
    }
    if (sqlite3_changes(db_) != 1) {
      return Status::NotFound("no run with id " + std::to_string(run_pk));
    }
    return Status::OK();
  });
}

Status SqliteStore::SetTaskState(int64_t ti_id, const std::string& state, int64_t at_ms,
                                 const std::string& reason) {
  if (Deferring()) {
    deferred_.push_back({false, ti_id, state, std::nullopt, std::nullopt, at_ms, reason});
    return Status::OK();
  }
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status st = Prepare(
            "UPDATE task_instances SET state = ?2, reason = ?3, state_changed_at_ms = ?4, "
            "history = CASE WHEN ?2 = state THEN history ELSE "
            PL_APPEND_HISTORY("json_array(?4, state, ?2, ?3)") " END, "
            "started_at_ms = CASE WHEN ?2 = 'running' THEN coalesce(started_at_ms, ?4) "
            "WHEN ?2 = 'pending' THEN NULL ELSE started_at_ms END, "
            "ended_at_ms = CASE ?5 WHEN 1 THEN ?4 WHEN 2 THEN NULL ELSE ended_at_ms END "
            "WHERE id = ?1",
            &q);
        !st.ok()) {
      return st;
    }
    // ?5: 1 for a final state (it ends now), 2 for an unfinished one, 0 for any other
    // (refused by the CHECK). Bound, not an IN list: SQLite builds a temporary B-tree for
    // "?2 IN (...)" every time the statement runs.
    int64_t ends = 0;
    for (const char* f : {"success", "failed", "skipped", "upstream_failed", "cancelled", "cached"})
      if (state == f) ends = 1;
    for (const char* u : {"pending", "running", "up_for_retry"})
      if (state == u) ends = 2;
    q.Bind(1, ti_id).Bind(2, state).BindTextOrNull(3, reason).Bind(4, at_ms).Bind(5, ends);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      if (IsIllegalTransition(rc)) {
        return IllegalTransition("task_instance", "task_instances", ti_id, state);
      }
      return Error(rc, "setting task state");
    }
    if (sqlite3_changes(db_) != 1) {
      return Status::NotFound("no task instance with id " + std::to_string(ti_id));
    }
    return Status::OK();
  });
}

Result<int64_t> SqliteStore::StartAttempt(const AttemptRecord& a) {
  if ((a.state == "cached") != a.cache_source_attempt_id.has_value()) {
    return Status::InvalidArgument(
        "attempt " + std::to_string(a.attempt_no) + " of instance " +
        std::to_string(a.task_instance_id) +
        ": a cache_source_attempt_id is required for, and only allowed on, a cached attempt");
  }
  if (a.cache_source_attempt_id) {
    Result<AttemptRecord> src = GetAttempt(*a.cache_source_attempt_id);
    if (!src.ok()) return src.status();
    if (src->state != "succeeded") {
      return Status::FailedPrecondition("cache source attempt " +
                                        std::to_string(src->id) + " is " + src->state +
                                        "; only a succeeded attempt can be reused");
    }
  }
  int64_t id = 0;
  Status s = Atomically(true, [&]() -> Status {
    Stmt bump;
    // One statement counts the attempt and moves the instance to running (the engine's
    // hot path: every task passes here once per attempt).
    // (A cached attempt leaves the instance's state to the caller.)
    if (Status st = Prepare(
            "UPDATE task_instances SET attempts = attempts + 1, "
            "history = CASE WHEN ?4 AND state <> 'running' THEN "
            PL_APPEND_HISTORY("json_array(?3, state, 'running', NULL)") " ELSE history END, "
            "state = CASE WHEN ?4 THEN 'running' ELSE state END, "
            "reason = CASE WHEN ?4 THEN NULL ELSE reason END, "
            "state_changed_at_ms = CASE WHEN ?4 THEN ?3 ELSE state_changed_at_ms END, "
            "started_at_ms = CASE WHEN ?4 THEN coalesce(started_at_ms, ?3) ELSE started_at_ms END, "
            "ended_at_ms = CASE WHEN ?4 THEN NULL ELSE ended_at_ms END "
            "WHERE id = ?1 AND attempts + 1 = ?2",
            &bump);
        !st.ok()) {
      return st;
    }
    bump.Bind(1, a.task_instance_id).Bind(2, a.attempt_no).Bind(3, a.started_ms);
    bump.Bind(4, int64_t{a.state == "running" ? 1 : 0});
    if (Status st = Done(bump, "counting an attempt"); !st.ok()) return st;
    if (sqlite3_changes(db_) != 1) {
      Stmt q;
      if (Status st = Prepare("SELECT attempts, task_name FROM task_instances WHERE id = ?1", &q);
          !st.ok()) {
        return st;
      }
      q.Bind(1, a.task_instance_id);
      if (q.Step() != SQLITE_ROW) {
        return Status::NotFound("no task instance with id " + std::to_string(a.task_instance_id));
      }
      return Status::Internal("attempt " + std::to_string(a.attempt_no) + " of task '" +
                              q.Text(1) + "' (instance " + std::to_string(a.task_instance_id) +
                              ") follows " + std::to_string(q.Int(0)) +
                              " recorded attempt(s); attempt numbers must be consecutive");
    }
    Stmt q;
    if (Status st = Prepare(
            "INSERT INTO task_attempts(task_instance_id, attempt_no, state, pid, host, "
            "command_json, log_path, exit_code, term_signal, started_at_ms, ended_at_ms, error, "
            "cache_source_attempt_id, manifest_json, code_digest, env_digest) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, a.task_instance_id).Bind(2, a.attempt_no).Bind(3, a.state);
    q.BindIntOrNull(4, a.pid).BindTextOrNull(5, a.host).BindTextOrNull(6, a.command_json);
    q.BindTextOrNull(7, a.log_path).Bind(8, a.exit_code).Bind(9, a.signal);
    q.Bind(10, a.started_ms).BindIntOrNull(11, a.ended_ms).BindTextOrNull(12, a.error);
    q.BindOpt(13, a.cache_source_attempt_id).BindTextOrNull(14, a.manifest_json);
    q.BindTextOrNull(15, a.code_digest).BindTextOrNull(16, a.env_digest);
    if (Status st = Done(q, "inserting an attempt"); !st.ok()) return st;
    id = sqlite3_last_insert_rowid(db_);
    return Status::OK();
  });
  if (!s.ok()) return s;
  return id;
}

Status SqliteStore::FinishAttempt(int64_t attempt_id, const std::string& state,
                                  std::optional<int> exit_code, std::optional<int> signal,
                                  int64_t ended_ms, const std::string& error) {
  if (Deferring()) {
    deferred_.push_back({true, attempt_id, state, exit_code, signal, ended_ms, error});
    return Status::OK();
  }
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status st = Prepare("UPDATE task_attempts SET state = ?2, exit_code = ?3, "
                            "term_signal = ?4, ended_at_ms = ?5, error = ?6 WHERE id = ?1",
                            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, attempt_id).Bind(2, state).Bind(3, exit_code).Bind(4, signal);
    q.Bind(5, ended_ms).BindTextOrNull(6, error);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      if (IsIllegalTransition(rc)) {
        return IllegalTransition("task_attempt", "task_attempts", attempt_id, state);
      }
      return Error(rc, "finishing an attempt");
    }
    if (sqlite3_changes(db_) != 1) {
      return Status::NotFound("no task attempt with id " + std::to_string(attempt_id));
    }
    return Status::OK();
  });
}

// --- reads ---------------------------------------------------------------------------

Result<std::vector<RunRecord>> SqliteStore::ListRuns(const RunFilter& filter) {
  // One statement per filter shape, so each can use its index (a "?1 = '' OR" form
  // cannot).
  static const std::string kOrder = " ORDER BY r.created_at_ms DESC, r.id DESC LIMIT ?3";
  static const std::string kAll = std::string(kRunSelect) + kOrder;
  static const std::string kByDag =
      std::string(kRunSelect) + "WHERE r.dag_id = (SELECT id FROM dags WHERE name = ?1)" + kOrder;
  static const std::string kByState = std::string(kRunSelect) + "WHERE r.state = ?2" + kOrder;
  static const std::string kByBoth = std::string(kRunSelect) +
                                     "WHERE r.dag_id = (SELECT id FROM dags WHERE name = ?1) "
                                     "AND r.state = ?2" +
                                     kOrder;
  const std::string& sql = filter.dag.empty() ? (filter.state.empty() ? kAll : kByState)
                                              : (filter.state.empty() ? kByDag : kByBoth);
  Stmt q;
  if (Status s = Prepare(sql, &q); !s.ok()) return s;
  if (!filter.dag.empty()) q.Bind(1, filter.dag);
  if (!filter.state.empty()) q.Bind(2, filter.state);
  q.Bind(3, filter.limit > 0 ? int64_t{filter.limit} : int64_t{-1});
  std::vector<RunRecord> runs;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) runs.push_back(ReadRun(q));
  if (rc != SQLITE_DONE) return Error(rc, "listing runs");
  return runs;
}

Result<RunRecord> SqliteStore::FindRun(const std::string& run_id) {
  if (run_id.empty()) return Status::InvalidArgument("empty run id");
  {
    static const std::string kExact = std::string(kRunSelect) + "WHERE r.run_id = ?1";
    Stmt q;
    if (Status s = Prepare(kExact, &q); !s.ok()) return s;
    q.Bind(1, run_id);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return ReadRun(q);
    if (rc != SQLITE_DONE) return Error(rc, "finding run " + run_id);
  }
  // A prefix: a range scan on the run_id index (bytewise, so no LIKE wildcards or case
  // folding). With no upper bound, a blob sorts after every text value.
  static const std::string kPrefix = std::string(kRunSelect) +
                                     "WHERE r.run_id >= ?1 AND r.run_id < ?2 "
                                     "ORDER BY r.run_id LIMIT 6";
  Stmt q;
  if (Status s = Prepare(kPrefix, &q); !s.ok()) return s;
  q.Bind(1, run_id);
  if (auto upper = PrefixUpperBound(run_id)) {
    q.Bind(2, *upper);
  } else {
    q.BindBlob(2, "\xff");
  }
  std::vector<RunRecord> found;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) found.push_back(ReadRun(q));
  if (rc != SQLITE_DONE) return Error(rc, "finding run " + run_id);
  if (found.empty()) {
    return Status::NotFound("no run '" + run_id + "' (`pipeline runs` lists them)");
  }
  if (found.size() > 1) {
    std::string msg = "run id prefix '" + run_id + "' is ambiguous: ";
    for (size_t i = 0; i < found.size() && i < 5; ++i) {
      msg += (i ? ", " : "") + found[i].run_id;
    }
    if (found.size() > 5) msg += ", ...";
    return Status::InvalidArgument(msg);
  }
  return std::move(found[0]);
}

Result<std::string> SqliteStore::DagDefinition(int64_t dag_version_id) {
  Stmt q;
  if (Status s = Prepare("SELECT def_canonical FROM dag_versions WHERE id = ?1", &q); !s.ok()) {
    return s;
  }
  q.Bind(1, dag_version_id);
  int rc = q.Step();
  if (rc == SQLITE_ROW) return q.Text(0);
  if (rc == SQLITE_DONE) {
    return Status::NotFound("no dag version with id " + std::to_string(dag_version_id));
  }
  return Error(rc, "reading a dag definition");
}

Result<std::vector<TaskInstanceRecord>> SqliteStore::ListTaskInstances(int64_t run_pk) {
  Stmt q;
  if (Status s = Prepare("SELECT id, dag_run_id, task_name, state, attempts, max_attempts, "
                         "reason, started_at_ms, ended_at_ms FROM task_instances "
                         "WHERE dag_run_id = ?1 ORDER BY id",
                         &q);
      !s.ok()) {
    return s;
  }
  q.Bind(1, run_pk);
  std::vector<TaskInstanceRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    TaskInstanceRecord t;
    t.id = q.Int(0);
    t.run_pk = q.Int(1);
    t.task = q.Text(2);
    t.state = q.Text(3);
    t.attempts = static_cast<int>(q.Int(4));
    t.max_attempts = static_cast<int>(q.Int(5));
    t.reason = q.Text(6);
    t.started_ms = q.Int(7);
    t.ended_ms = q.Int(8);
    out.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return Error(rc, "listing task instances");
  return out;
}

Result<std::vector<AttemptRecord>> SqliteStore::ListAttempts(int64_t run_pk) {
  Stmt q;
  static const std::string kSql = "SELECT " + std::string(kAttemptCols) +
                                   "FROM task_instances ti "
                                   "JOIN task_attempts a ON a.task_instance_id = ti.id "
                                   "WHERE ti.dag_run_id = ?1 ORDER BY ti.id, a.attempt_no";
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, run_pk);
  std::vector<AttemptRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadAttempt(q));
  if (rc != SQLITE_DONE) return Error(rc, "listing attempts");
  return out;
}

Result<std::vector<TransitionRecord>> SqliteStore::ListTransitions(int64_t run_pk) {
  Stmt q;
  if (Status s = Prepare("SELECT entity, entity_id, from_state, to_state, at_ms, reason "
                         "FROM state_transitions WHERE dag_run_id = ?1 "
                         "ORDER BY at_ms, rank, entity_id, seq",
                         &q);
      !s.ok()) {
    return s;
  }
  q.Bind(1, run_pk);
  std::vector<TransitionRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    TransitionRecord t;
    t.entity = q.Text(0);
    t.entity_id = q.Int(1);
    t.from_state = q.Text(2);
    t.to_state = q.Text(3);
    t.at_ms = q.Int(4);
    t.reason = q.Text(5);
    out.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return Error(rc, "listing state transitions");
  return out;
}

// --- recovery ------------------------------------------------------------------------

Result<std::string> SqliteStore::RunState(int64_t run_pk) {
  Stmt q;
  if (Status s = Prepare("SELECT state FROM dag_runs WHERE id = ?1", &q); !s.ok()) return s;
  q.Bind(1, run_pk);
  int rc = q.Step();
  if (rc == SQLITE_ROW) return q.Text(0);
  if (rc == SQLITE_DONE) return Status::NotFound("no run with id " + std::to_string(run_pk));
  return Error(rc, "reading run state");
}

Status SqliteStore::CloseRunningWork(int64_t run_pk, int64_t at_ms, std::string_view reason) {
  Stmt attempts;
  if (Status s = Prepare("UPDATE task_attempts SET state = 'lost', ended_at_ms = ?2, "
                         "error = ?3 WHERE state = 'running' AND task_instance_id IN "
                         "(SELECT id FROM task_instances WHERE dag_run_id = ?1)",
                         &attempts);
      !s.ok()) {
    return s;
  }
  attempts.Bind(1, run_pk).Bind(2, at_ms).BindTextOrNull(3, reason);
  if (Status s = Done(attempts, "marking running attempts lost"); !s.ok()) return s;
  Stmt tasks;
  if (Status s = Prepare("UPDATE task_instances SET state = 'failed', reason = ?3, "
                         "state_changed_at_ms = ?2, ended_at_ms = ?2, "
                         "history = " PL_APPEND_HISTORY("json_array(?2, state, 'failed', ?3)") " "
                         "WHERE dag_run_id = ?1 AND state IN ('running','up_for_retry')",
                         &tasks);
      !s.ok()) {
    return s;
  }
  tasks.Bind(1, run_pk).Bind(2, at_ms).BindTextOrNull(3, reason);
  return Done(tasks, "failing unfinished tasks");
}

Status SqliteStore::MarkRunLost(int64_t run_pk, int64_t at_ms, const std::string& reason) {
  return Atomically(true, [&]() -> Status {
    Result<std::string> state = RunState(run_pk);
    if (!state.ok()) return state.status();
    if (*state != "running") {
      return Status::FailedPrecondition("run " + std::to_string(run_pk) + " is " + *state +
                                        "; only a running run can be marked lost");
    }
    if (Status s = CloseRunningWork(run_pk, at_ms, reason); !s.ok()) return s;
    Stmt run;
    if (Status s = Prepare("UPDATE dag_runs SET state = 'lost', reason = ?3, "
                           "state_changed_at_ms = ?2, ended_at_ms = ?2 WHERE id = ?1",
                           &run);
        !s.ok()) {
      return s;
    }
    run.Bind(1, run_pk).Bind(2, at_ms).BindTextOrNull(3, reason);
    return Done(run, "marking the run lost");
  });
}

Status SqliteStore::ReopenRun(int64_t run_pk, int64_t at_ms, int64_t owner_pid,
                              const std::string& owner_host) {
  return Atomically(true, [&]() -> Status {
    Result<std::string> state = RunState(run_pk);
    if (!state.ok()) return state.status();
    if (*state != "failed" && *state != "cancelled" && *state != "lost") {
      return Status::FailedPrecondition("run " + std::to_string(run_pk) + " is " + *state +
                                        "; only failed, cancelled or lost runs can be resumed");
    }
    // Leftovers of an orchestrator that died after ending the run but before ending its
    // tasks: close them the way MarkRunLost would, so the state machine holds.
    if (Status s = CloseRunningWork(run_pk, at_ms, "orphaned: run ended while it was running");
        !s.ok()) {
      return s;
    }

    // The history entries keep the reason "resumed"; the rows themselves are then
    // cleared (a pending task has no reason, a running run has not ended).
    Stmt tasks;
    if (Status s = Prepare("UPDATE task_instances SET state = 'pending', reason = 'resumed', "
                           "state_changed_at_ms = ?2, started_at_ms = NULL, ended_at_ms = NULL, "
                           "history = "
                           PL_APPEND_HISTORY("json_array(?2, state, 'pending', 'resumed')") " "
                           "WHERE dag_run_id = ?1 AND state NOT IN ('success','cached','pending')",
                           &tasks);
        !s.ok()) {
      return s;
    }
    tasks.Bind(1, run_pk).Bind(2, at_ms);
    if (Status s = Done(tasks, "resetting tasks"); !s.ok()) return s;
    Stmt clear_tasks;
    if (Status s = Prepare("UPDATE task_instances SET reason = NULL "
                           "WHERE dag_run_id = ?1 AND state = 'pending' AND reason IS NOT NULL",
                           &clear_tasks);
        !s.ok()) {
      return s;
    }
    clear_tasks.Bind(1, run_pk);
    if (Status s = Done(clear_tasks, "clearing task reasons"); !s.ok()) return s;
    Stmt run;
    if (Status s = Prepare("UPDATE dag_runs SET state = 'running', reason = ?3, "
                           "state_changed_at_ms = ?2, ended_at_ms = NULL, owner_pid = ?4, "
                           "owner_host = ?5 WHERE id = ?1",
                           &run);
        !s.ok()) {
      return s;
    }
    std::string why = "resumed by pid " + std::to_string(owner_pid) + " on " + owner_host;
    run.Bind(1, run_pk).Bind(2, at_ms).Bind(3, why).BindIntOrNull(4, owner_pid);
    run.BindTextOrNull(5, owner_host);
    if (Status s = Done(run, "reopening the run"); !s.ok()) return s;
    Stmt clear;
    if (Status s = Prepare("UPDATE dag_runs SET reason = NULL WHERE id = ?1", &clear); !s.ok()) {
      return s;
    }
    clear.Bind(1, run_pk);
    return Done(clear, "clearing the run reason");
  });
}

// --- lineage, cache, metrics, registry, audit, retention ------------------------------
// docs/lineage.md describes the model; LINEAGE.md section 4 the queries these follow.

template <class F>
Status SqliteStore::EachRow(Stmt& q, std::string_view what, F&& row) {
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) row();
  return rc == SQLITE_DONE ? Status::OK() : Error(rc, what);
}

Status SqliteStore::InputError(int rc, std::string_view what) const {
  if (rc == SQLITE_CONSTRAINT_CHECK || rc == SQLITE_CONSTRAINT_FOREIGNKEY ||
      rc == SQLITE_CONSTRAINT_NOTNULL) {
    return Status::InvalidArgument("database " + path_ + ": " + std::string(what) + ": " +
                                   sqlite3_errmsg(db_));
  }
  return Error(rc, what);
}

Result<AttemptRecord> SqliteStore::GetAttempt(int64_t attempt_id) {
  static const std::string kSql = "SELECT " + std::string(kAttemptCols) +
                                   "FROM task_attempts a "
                                   "JOIN task_instances ti ON ti.id = a.task_instance_id "
                                   "WHERE a.id = ?1";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, attempt_id);
  int rc = q.Step();
  if (rc == SQLITE_ROW) return ReadAttempt(q);
  if (rc == SQLITE_DONE) {
    return Status::NotFound("no task attempt with id " + std::to_string(attempt_id));
  }
  return Error(rc, "reading an attempt");
}

// --- artifacts and events --------------------------------------------------------------

Result<int64_t> SqliteStore::UpsertArtifact(const ArtifactRecord& a) {
  if (!OneOf(a.kind, kArtifactKinds)) {
    return Status::InvalidArgument("artifact " + a.uri + ": unknown kind '" + a.kind + "'");
  }
  if (a.uri.empty()) return Status::InvalidArgument("artifact with an empty uri");
  if (a.sha256.size() != 64 || !IsLowerHex(a.sha256)) {
    return Status::InvalidArgument("artifact " + a.uri + ": sha256 must be 64 lowercase hex "
                                   "digits, not '" + a.sha256 + "'");
  }
  if (a.size_bytes < 0) return Status::InvalidArgument("artifact " + a.uri + ": negative size");
  if (!OneOf(a.state, kArtifactStates)) {
    return Status::InvalidArgument("artifact " + a.uri + ": unknown state '" + a.state + "'");
  }
  int64_t id = 0;
  Status s = Atomically(true, [&]() -> Status {
    // Same bytes at the same place again: the row exists. If gc or a check had marked it
    // gone, it is back; a quarantined artifact stays quarantined.
    Stmt ins;
    if (Status st = Prepare(
            "INSERT INTO artifacts(kind, uri, sha256, size_bytes, file_count, name, props_json, "
            "state, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
            "ON CONFLICT(uri, sha256) DO UPDATE SET state = 'live' "
            "WHERE state IN ('missing','deleted')",
            &ins);
        !st.ok()) {
      return st;
    }
    ins.Bind(1, a.kind).Bind(2, a.uri).Bind(3, a.sha256).Bind(4, a.size_bytes);
    ins.Bind(5, a.file_count).BindTextOrNull(6, a.name);
    ins.Bind(7, a.props_json.empty() ? std::string_view("{}") : a.props_json).Bind(8, a.state);
    ins.Bind(9, a.created_ms ? a.created_ms : WallNowMs());
    int rc;
    while ((rc = ins.Step()) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return InputError(rc, "recording artifact " + a.uri);
    Stmt q;
    if (Status st = Prepare("SELECT id FROM artifacts WHERE uri = ?1 AND sha256 = ?2", &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, a.uri).Bind(2, a.sha256);
    rc = q.Step();
    if (rc != SQLITE_ROW) return Error(rc, "finding artifact " + a.uri);
    id = q.Int(0);
    return Status::OK();
  });
  if (!s.ok()) return s;
  return id;
}

Result<ArtifactRecord> SqliteStore::GetArtifact(int64_t artifact_id) {
  static const std::string kSql =
      "SELECT " + std::string(kArtifactCols) + "FROM artifacts a WHERE a.id = ?1";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, artifact_id);
  int rc = q.Step();
  if (rc == SQLITE_ROW) return ReadArtifact(q, 0);
  if (rc == SQLITE_DONE) {
    return Status::NotFound("no artifact with id " + std::to_string(artifact_id));
  }
  return Error(rc, "reading an artifact");
}

Status SqliteStore::SetArtifactState(int64_t artifact_id, const std::string& state) {
  if (!OneOf(state, kArtifactStates)) {
    return Status::InvalidArgument("unknown artifact state '" + state + "'");
  }
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status s = Prepare("UPDATE artifacts SET state = ?2 WHERE id = ?1", &q); !s.ok()) {
      return s;
    }
    q.Bind(1, artifact_id).Bind(2, state);
    if (Status s = Done(q, "setting artifact state"); !s.ok()) return s;
    if (sqlite3_changes(db_) != 1) {
      return Status::NotFound("no artifact with id " + std::to_string(artifact_id));
    }
    return Status::OK();
  });
}

Status SqliteStore::AddEvent(const EventRecord& e) {
  if (e.direction != "in" && e.direction != "out") {
    return Status::InvalidArgument("event direction must be 'in' or 'out', not '" +
                                   e.direction + "'");
  }
  if (e.role.empty()) return Status::InvalidArgument("event with an empty role");
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status s = Prepare("INSERT INTO events(attempt_id, artifact_id, direction, role, at_ms) "
                           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                           &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, e.attempt_id).Bind(2, e.artifact_id).Bind(3, e.direction).Bind(4, e.role);
    q.Bind(5, e.at_ms ? e.at_ms : WallNowMs());
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return Status::NotFound("no attempt " + std::to_string(e.attempt_id) + " or artifact " +
                              std::to_string(e.artifact_id) + " for a lineage event");
    }
    return rc == SQLITE_DONE ? Status::OK() : Error(rc, "recording a lineage event");
  });
}

Result<std::vector<AttemptArtifact>> SqliteStore::AttemptArtifacts(int64_t attempt_id) {
  static const std::string kSql = "SELECT e.direction, e.role, " + std::string(kArtifactCols) +
                                   "FROM events e JOIN artifacts a ON a.id = e.artifact_id "
                                   "WHERE e.attempt_id = ?1 ORDER BY e.direction, e.role, a.uri";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, attempt_id);
  std::vector<AttemptArtifact> out;
  Status s = EachRow(q, "listing an attempt's artifacts", [&] {
    out.push_back({q.Text(0), q.Text(1), ReadArtifact(q, 2)});
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<ArtifactRecord>> SqliteStore::FindArtifacts(const std::string& path_or_sha) {
  std::string key = path_or_sha;
  while (key.size() > 2 && key.compare(0, 2, "./") == 0) key.erase(0, 2);
  if (key.empty()) return Status::InvalidArgument("empty artifact path or digest");
  std::vector<ArtifactRecord> out;
  {
    static const std::string kByUri = "SELECT " + std::string(kArtifactCols) +
                                       "FROM artifacts a WHERE a.uri = ?1 "
                                       "ORDER BY a.created_at_ms DESC, a.id DESC";
    Stmt q;
    if (Status s = Prepare(kByUri, &q); !s.ok()) return s;
    q.Bind(1, key);
    if (Status s = EachRow(q, "finding artifacts", [&] { out.push_back(ReadArtifact(q, 0)); });
        !s.ok()) {
      return s;
    }
    if (!out.empty()) return out;
  }
  std::string hex = key.compare(0, 7, "sha256:") == 0 ? key.substr(7) : key;
  for (char& c : hex) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (hex.empty() || hex.size() > 64 || !IsLowerHex(hex)) return out;  // not a digest
  if (hex.size() < 6) {
    return Status::InvalidArgument("digest prefix '" + hex +
                                   "' is too short; give at least 6 hex digits");
  }
  // A range scan on ix_artifacts_sha (as FindRun does for run ids).
  static const std::string kBySha = "SELECT " + std::string(kArtifactCols) +
                                     "FROM artifacts a WHERE a.sha256 >= ?1 AND a.sha256 < ?2 "
                                     "ORDER BY a.created_at_ms DESC, a.id DESC LIMIT 100";
  Stmt q;
  if (Status s = Prepare(kBySha, &q); !s.ok()) return s;
  q.Bind(1, hex).Bind(2, *PrefixUpperBound(hex));
  if (Status s = EachRow(q, "finding artifacts", [&] { out.push_back(ReadArtifact(q, 0)); });
      !s.ok()) {
    return s;
  }
  return out;
}

// The walks return rows (node kind 0 = artifact / 1 = attempt, id, depth, cached attempts
// that led to it as "id,id"). Depth counts executions from the start artifact; UNION
// dedups (artifact, depth), so a cycle (a task re-emitting an input unchanged) ends at
// the 64-hop guard at the latest, and min(depth) keeps the shortest distance.
//
// Upstream: an artifact's real producers are the succeeded attempts with an out event on
// it; a cached attempt stands for its source (coalesce(cache_source_attempt_id, id)),
// whose inputs are then followed (they are the bytes the outputs were really made from).
constexpr std::string_view kUpstreamSql = R"SQL(
WITH RECURSIVE
up(artifact_id, depth) AS (
  SELECT ?1, 0
  UNION
  SELECT ei.artifact_id, up.depth + 1 FROM up
  JOIN events eo ON eo.artifact_id = up.artifact_id AND eo.direction = 'out'
  JOIN task_attempts ta ON ta.id = eo.attempt_id
  JOIN events ei ON ei.attempt_id = coalesce(ta.cache_source_attempt_id, ta.id)
                AND ei.direction = 'in'
  WHERE up.depth < 64 AND ta.state IN ('succeeded','cached')),
arts(artifact_id, depth) AS (SELECT artifact_id, min(depth) FROM up GROUP BY artifact_id),
steps(real_id, seen_id, depth) AS (
  SELECT coalesce(ta.cache_source_attempt_id, ta.id), ta.id, arts.depth + 1 FROM arts
  JOIN events eo ON eo.artifact_id = arts.artifact_id AND eo.direction = 'out'
  JOIN task_attempts ta ON ta.id = eo.attempt_id
  WHERE arts.depth < 64 AND ta.state IN ('succeeded','cached'))
SELECT 0, artifact_id, depth, NULL FROM arts
UNION ALL
SELECT 1, real_id, min(depth),
       group_concat(DISTINCT CASE WHEN seen_id <> real_id THEN seen_id END)
FROM steps GROUP BY real_id
)SQL";

// Downstream: every attempt with an in event on a reached artifact (any state, cached
// included: the blast radius), and everything those attempts produced.
constexpr std::string_view kDownstreamSql = R"SQL(
WITH RECURSIVE
down(artifact_id, depth) AS (
  SELECT ?1, 0
  UNION
  SELECT eo.artifact_id, down.depth + 1 FROM down
  JOIN events ei ON ei.artifact_id = down.artifact_id AND ei.direction = 'in'
  JOIN events eo ON eo.attempt_id = ei.attempt_id AND eo.direction = 'out'
  WHERE down.depth < 64),
arts(artifact_id, depth) AS (SELECT artifact_id, min(depth) FROM down GROUP BY artifact_id),
steps(attempt_id, depth) AS (
  SELECT ei.attempt_id, arts.depth + 1 FROM arts
  JOIN events ei ON ei.artifact_id = arts.artifact_id AND ei.direction = 'in'
  WHERE arts.depth < 64)
SELECT 0, artifact_id, depth, NULL FROM arts
UNION ALL
SELECT 1, attempt_id, min(depth), NULL FROM steps GROUP BY attempt_id
)SQL";

Status SqliteStore::LoadGraph(Stmt& walk, bool upstream, LineageGraph* g) {
  std::map<int64_t, size_t> art_index, att_index;
  Status s = EachRow(walk, "walking lineage", [&] {
    if (walk.Int(0) == 0) {
      LineageArtifact a;
      a.artifact.id = walk.Int(1);
      a.depth = static_cast<int>(walk.Int(2));
      g->artifacts.push_back(std::move(a));
    } else {
      LineageAttempt t;
      t.attempt_id = walk.Int(1);
      t.depth = static_cast<int>(walk.Int(2));
      std::string via = walk.Text(3);
      for (size_t pos = 0; pos < via.size();) {
        size_t end = via.find(',', pos);
        if (end == std::string::npos) end = via.size();
        t.reused_by.push_back(std::stoll(via.substr(pos, end - pos)));
        pos = end + 1;
      }
      std::sort(t.reused_by.begin(), t.reused_by.end());
      g->attempts.push_back(std::move(t));
    }
  });
  if (!s.ok()) return s;
  std::sort(g->artifacts.begin(), g->artifacts.end(), [](const auto& x, const auto& y) {
    return std::pair(x.depth, x.artifact.id) < std::pair(y.depth, y.artifact.id);
  });
  std::sort(g->attempts.begin(), g->attempts.end(), [](const auto& x, const auto& y) {
    return std::pair(x.depth, x.attempt_id) < std::pair(y.depth, y.attempt_id);
  });

  for (size_t i = 0; i < g->artifacts.size(); ++i) {
    LineageArtifact& a = g->artifacts[i];
    art_index[a.artifact.id] = i;
    Result<ArtifactRecord> rec = GetArtifact(a.artifact.id);
    if (!rec.ok()) return rec.status();
    a.artifact = std::move(*rec);
    Stmt q;
    if (Status st = Prepare(
            "SELECT NOT EXISTS (SELECT 1 FROM events e JOIN task_attempts ta "
            "ON ta.id = e.attempt_id WHERE e.artifact_id = ?1 AND e.direction = 'out' "
            "AND ta.state IN ('succeeded','cached')), "
            "EXISTS (SELECT 1 FROM events e WHERE e.artifact_id = ?1 AND e.direction = 'in')",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, a.artifact.id);
    if (int rc = q.Step(); rc != SQLITE_ROW) return Error(rc, "reading lineage");
    a.is_source = q.Int(0) != 0;
    bool consumed = q.Int(1) != 0;
    if (a.depth >= 64 && (upstream ? !a.is_source : consumed)) g->truncated = true;
    Stmt al;
    if (Status st = Prepare("SELECT model_name || '@' || alias FROM model_aliases "
                            "WHERE artifact_id = ?1 ORDER BY model_name, alias",
                            &al);
        !st.ok()) {
      return st;
    }
    al.Bind(1, a.artifact.id);
    if (Status st = EachRow(al, "reading aliases", [&] { a.aliases.push_back(al.Text(0)); });
        !st.ok()) {
      return st;
    }
  }

  for (size_t i = 0; i < g->attempts.size(); ++i) {
    LineageAttempt& t = g->attempts[i];
    att_index[t.attempt_id] = i;
    Stmt q;
    if (Status st = Prepare(
            "SELECT r.id, r.run_id, d.name, ti.task_name, ta.attempt_no, ta.state, "
            "ta.command_json, ta.manifest_json, ta.code_digest, r.params_json, "
            "r.dag_version_id, v.def_sha256, ta.cache_source_attempt_id, ta.started_at_ms, "
            "ta.ended_at_ms FROM task_attempts ta "
            "JOIN task_instances ti ON ti.id = ta.task_instance_id "
            "JOIN dag_runs r ON r.id = ti.dag_run_id JOIN dags d ON d.id = r.dag_id "
            "JOIN dag_versions v ON v.id = r.dag_version_id WHERE ta.id = ?1",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, t.attempt_id);
    if (int rc = q.Step(); rc != SQLITE_ROW) return Error(rc, "reading a lineage attempt");
    t.run_pk = q.Int(0);
    t.run_id = q.Text(1);
    t.dag = q.Text(2);
    t.task = q.Text(3);
    t.attempt_no = static_cast<int>(q.Int(4));
    t.state = q.Text(5);
    t.command_json = q.Text(6);
    t.manifest_json = q.Text(7);
    t.code_digest = q.Text(8);
    t.params_json = q.Text(9);
    t.dag_version_id = q.Int(10);
    t.dag_sha256 = q.Text(11);
    t.cache_source_attempt_id = q.OptInt64(12);
    t.started_ms = q.Int(13);
    t.ended_ms = q.Int(14);
  }

  // Edges: every event of a graph attempt whose artifact is in the graph.
  for (const LineageAttempt& t : g->attempts) {
    Stmt q;
    if (Status st = Prepare("SELECT artifact_id, direction, role FROM events "
                            "WHERE attempt_id = ?1 ORDER BY direction, role, artifact_id",
                            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, t.attempt_id);
    if (Status st = EachRow(q, "reading lineage events", [&] {
          if (art_index.count(q.Int(0))) {
            g->edges.push_back({t.attempt_id, q.Int(0), q.Text(1), q.Text(2)});
          }
        });
        !st.ok()) {
      return st;
    }
  }
  return Status::OK();
}

Result<LineageGraph> SqliteStore::Upstream(int64_t artifact_id) {
  if (Result<ArtifactRecord> a = GetArtifact(artifact_id); !a.ok()) return a.status();
  Stmt q;
  if (Status s = Prepare(kUpstreamSql, &q); !s.ok()) return s;
  q.Bind(1, artifact_id);
  LineageGraph g;
  g.root_artifact_id = artifact_id;
  if (Status s = LoadGraph(q, /*upstream=*/true, &g); !s.ok()) return s;
  return g;
}

Result<LineageGraph> SqliteStore::Downstream(int64_t artifact_id) {
  if (Result<ArtifactRecord> a = GetArtifact(artifact_id); !a.ok()) return a.status();
  Stmt q;
  if (Status s = Prepare(kDownstreamSql, &q); !s.ok()) return s;
  q.Bind(1, artifact_id);
  LineageGraph g;
  g.root_artifact_id = artifact_id;
  if (Status s = LoadGraph(q, /*upstream=*/false, &g); !s.ok()) return s;
  return g;
}

// --- build cache -----------------------------------------------------------------------

Status SqliteStore::SetAttemptCache(int64_t attempt_id, const std::string& cache_key,
                                    const std::string& manifest_json) {
  return Atomically(true, [&]() -> Status {
    Stmt q;
    if (Status s = Prepare("UPDATE task_attempts SET manifest_json = coalesce(?2, manifest_json) "
                           "WHERE id = ?1",
                           &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, attempt_id).BindTextOrNull(2, manifest_json);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return InputError(rc, "storing an attempt's manifest");
    if (sqlite3_changes(db_) != 1) {
      return Status::NotFound("no task attempt with id " + std::to_string(attempt_id));
    }
    if (cache_key.empty()) return Status::OK();
    Stmt k;
    if (Status s = Prepare("UPDATE task_instances SET cache_key = ?2 WHERE id = "
                           "(SELECT task_instance_id FROM task_attempts WHERE id = ?1)",
                           &k);
        !s.ok()) {
      return s;
    }
    k.Bind(1, attempt_id).Bind(2, cache_key);
    return Done(k, "storing a task's cache key");
  });
}

Result<std::optional<CacheHit>> SqliteStore::LookupCache(const std::string& cache_key) {
  // LINEAGE.md Q6, hit rule 1: a valid entry whose producer succeeded with exit 0.
  CacheHit hit;
  {
    Stmt q;
    if (Status s = Prepare("SELECT ce.producing_attempt_id, ce.task_name, ce.manifest_json "
                           "FROM cache_entries ce "
                           "JOIN task_attempts ta ON ta.id = ce.producing_attempt_id "
                           "WHERE ce.cache_key = ?1 AND ce.invalidated_at_ms IS NULL "
                           "AND ta.state = 'succeeded' AND coalesce(ta.exit_code, 0) = 0",
                           &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, cache_key);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return std::optional<CacheHit>();
    if (rc != SQLITE_ROW) return Error(rc, "looking up the cache");
    hit.producing_attempt_id = q.Int(0);
    hit.task = q.Text(1);
    hit.manifest_json = q.Text(2);
  }
  static const std::string kOutputs = "SELECT e.role, " + std::string(kArtifactCols) +
                                       "FROM events e JOIN artifacts a ON a.id = e.artifact_id "
                                       "WHERE e.attempt_id = ?1 AND e.direction = 'out' "
                                       "ORDER BY e.role, a.uri";
  Stmt q;
  if (Status s = Prepare(kOutputs, &q); !s.ok()) return s;
  q.Bind(1, hit.producing_attempt_id);
  Status s = EachRow(q, "reading cached outputs", [&] {
    hit.outputs.emplace_back(q.Text(0), ReadArtifact(q, 1));
    if (hit.outputs.back().second.state != "live") hit.all_live = false;
  });
  if (!s.ok()) return s;
  return std::optional<CacheHit>(std::move(hit));
}

Status SqliteStore::PutCacheEntry(const std::string& cache_key, const std::string& task,
                                  const std::string& manifest_json, int64_t producing_attempt_id,
                                  int64_t now_ms) {
  if (cache_key.empty()) return Status::InvalidArgument("empty cache key");
  Result<AttemptRecord> producer = GetAttempt(producing_attempt_id);
  if (!producer.ok()) return producer.status();
  if (producer->state != "succeeded") {
    return Status::FailedPrecondition("attempt " + std::to_string(producing_attempt_id) +
                                      " is " + producer->state +
                                      "; only a succeeded attempt can fill the cache");
  }
  const std::string& manifest = manifest_json.empty() ? producer->manifest_json : manifest_json;
  if (manifest.empty()) {
    return Status::InvalidArgument("cache entry " + cache_key + " without a manifest");
  }
  // "v<K>:..." -> K (the recipe version, LINEAGE.md section 3); 0 if absent.
  int64_t version = 0;
  if (cache_key.size() > 1 && cache_key[0] == 'v') {
    size_t i = 1;
    int64_t v = 0;
    while (i < cache_key.size() && isdigit(static_cast<unsigned char>(cache_key[i])) &&
           v < 1000000) {
      v = v * 10 + (cache_key[i++] - '0');
    }
    if (i > 1 && i < cache_key.size() && cache_key[i] == ':') version = v;
  }
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status s = Prepare(
            "INSERT INTO cache_entries(cache_key, key_version, task_name, manifest_json, "
            "producing_attempt_id, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
            "ON CONFLICT(cache_key) DO UPDATE SET key_version = excluded.key_version, "
            "task_name = excluded.task_name, manifest_json = excluded.manifest_json, "
            "producing_attempt_id = excluded.producing_attempt_id, "
            "created_at_ms = excluded.created_at_ms, invalidated_at_ms = NULL, "
            "invalidated_reason = NULL "
            "WHERE excluded.producing_attempt_id > cache_entries.producing_attempt_id "
            "OR cache_entries.invalidated_at_ms IS NOT NULL",
            &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, cache_key).Bind(2, version).Bind(3, task.empty() ? producer->task : task);
    q.Bind(4, manifest).Bind(5, producing_attempt_id).Bind(6, now_ms);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? Status::OK() : InputError(rc, "storing cache entry " + cache_key);
  });
}

Status SqliteStore::InvalidateCacheEntry(const std::string& cache_key, const std::string& reason,
                                         int64_t now_ms) {
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status s = Prepare("UPDATE cache_entries SET invalidated_at_ms = ?2, "
                           "invalidated_reason = ?3 WHERE cache_key = ?1",
                           &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, cache_key).Bind(2, now_ms).BindTextOrNull(3, reason);
    if (Status s = Done(q, "invalidating a cache entry"); !s.ok()) return s;
    if (sqlite3_changes(db_) != 1) return Status::NotFound("no cache entry " + cache_key);
    return Status::OK();
  });
}

Status SqliteStore::NoteCacheHit(const std::string& cache_key, int64_t now_ms) {
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status s = Prepare("UPDATE cache_entries SET hit_count = hit_count + 1, "
                           "last_hit_at_ms = ?2 WHERE cache_key = ?1",
                           &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, cache_key).Bind(2, now_ms);
    if (Status s = Done(q, "counting a cache hit"); !s.ok()) return s;
    if (sqlite3_changes(db_) != 1) return Status::NotFound("no cache entry " + cache_key);
    return Status::OK();
  });
}

Result<std::optional<std::string>> SqliteStore::PreviousManifest(int64_t attempt_id) {
  if (Result<AttemptRecord> a = GetAttempt(attempt_id); !a.ok()) return a.status();
  Stmt q;
  if (Status s = Prepare(
          "SELECT ta.manifest_json FROM task_attempts cur "
          "JOIN task_instances cti ON cti.id = cur.task_instance_id "
          "JOIN dag_runs cr ON cr.id = cti.dag_run_id "
          "JOIN task_instances ti ON ti.task_name = cti.task_name "
          "JOIN dag_runs r ON r.id = ti.dag_run_id AND r.dag_id = cr.dag_id "
          "JOIN task_attempts ta ON ta.task_instance_id = ti.id "
          "WHERE cur.id = ?1 AND ta.id < cur.id AND ta.manifest_json IS NOT NULL "
          "ORDER BY ta.id DESC LIMIT 1",
          &q);
      !s.ok()) {
    return s;
  }
  q.Bind(1, attempt_id);
  int rc = q.Step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(q.Text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return Error(rc, "finding the previous manifest");
}

// --- metrics -----------------------------------------------------------------------------

Status SqliteStore::RecordMetrics(
    int64_t attempt_id, const std::vector<std::pair<std::string, std::optional<double>>>& metrics,
    int64_t ts_ms) {
  for (const auto& m : metrics) {
    if (m.first.empty()) return Status::InvalidArgument("metric with an empty name");
  }
  return Atomically(true, [&]() -> Status {
    for (const auto& [name, value] : metrics) {
      Stmt q;
      if (Status s = Prepare("INSERT INTO metrics(attempt_id, name, step, value, ts_ms) "
                             "VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT(attempt_id, name, step) "
                             "DO UPDATE SET value = excluded.value, ts_ms = excluded.ts_ms",
                             &q);
          !s.ok()) {
        return s;
      }
      q.Bind(1, attempt_id).Bind(2, name).Bind(3, value).Bind(4, ts_ms);
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) {
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Status::NotFound("no task attempt with id " + std::to_string(attempt_id));
      }
      if (rc != SQLITE_DONE) return Error(rc, "recording metric " + name);
    }
    return Status::OK();
  });
}

Result<std::vector<MetricRecord>> SqliteStore::MetricsOfAttempt(int64_t attempt_id) {
  static const std::string kSql =
      std::string(kMetricSelect) + "AND m.attempt_id = ?1 ORDER BY m.name";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, attempt_id);
  std::vector<MetricRecord> out;
  Status s = EachRow(q, "reading metrics", [&] { out.push_back(ReadMetric(q)); });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<MetricRecord>> SqliteStore::MetricsHistory(const std::string& dag,
                                                              const std::string& name,
                                                              int limit) {
  static const std::string kOrder =
      " ORDER BY m.ts_ms DESC, m.attempt_id DESC, m.name LIMIT ?3";
  static const std::string kAll =
      std::string(kMetricSelect) + "AND r.dag_id = (SELECT id FROM dags WHERE name = ?1)" + kOrder;
  static const std::string kByName = std::string(kMetricSelect) +
                                     "AND m.name = ?2 AND "
                                     "r.dag_id = (SELECT id FROM dags WHERE name = ?1)" +
                                     kOrder;
  Stmt q;
  if (Status s = Prepare(name.empty() ? kAll : kByName, &q); !s.ok()) return s;
  q.Bind(1, dag);
  if (!name.empty()) q.Bind(2, name);
  q.Bind(3, limit > 0 ? int64_t{limit} : int64_t{-1});
  std::vector<MetricRecord> out;
  Status s = EachRow(q, "reading metric history", [&] { out.push_back(ReadMetric(q)); });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<MetricRecord>> SqliteStore::ResolvedRunMetrics(int64_t run_pk,
                                                                  const std::string& task) {
  // Per instance: its latest succeeded or cached attempt, a cached one standing for its
  // source.
  static const std::string kSql =
      "WITH pick(aid) AS (SELECT (SELECT coalesce(ta.cache_source_attempt_id, ta.id) "
      "FROM task_attempts ta WHERE ta.task_instance_id = ti.id "
      "AND ta.state IN ('succeeded','cached') ORDER BY ta.attempt_no DESC LIMIT 1) "
      "FROM task_instances ti WHERE ti.dag_run_id = ?1 AND (?2 = '' OR ti.task_name = ?2)) " +
      std::string(kMetricSelect) +
      "AND m.attempt_id IN (SELECT aid FROM pick) ORDER BY ti.task_name, m.name";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, run_pk).Bind(2, task);
  std::vector<MetricRecord> out;
  Status s = EachRow(q, "reading run metrics", [&] { out.push_back(ReadMetric(q)); });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<MetricRecord>> SqliteStore::RunMetrics(int64_t run_pk) {
  return ResolvedRunMetrics(run_pk, "");
}

Result<std::map<std::string, std::optional<double>>> SqliteStore::TaskMetrics(
    int64_t run_pk, const std::string& task) {
  if (task.empty()) return Status::InvalidArgument("empty task name");
  Result<std::vector<MetricRecord>> rows = ResolvedRunMetrics(run_pk, task);
  if (!rows.ok()) return rows.status();
  std::map<std::string, std::optional<double>> out;
  for (const MetricRecord& m : *rows) out[m.name] = m.value;
  return out;
}

// --- model registry-lite -------------------------------------------------------------------

Status SqliteStore::SetAlias(const std::string& model, const std::string& alias,
                             int64_t artifact_id, const std::string& set_by, int64_t run_pk,
                             int64_t now_ms) {
  for (const std::string* part : {&model, &alias}) {
    if (part->empty() || part->find('@') != std::string::npos) {
      return Status::InvalidArgument("model and alias names must be non-empty and without "
                                     "'@': '" + model + "@" + alias + "'");
    }
  }
  return Atomically(true, [&]() -> Status {
    std::string run_id;
    if (run_pk != 0) {
      Stmt r;
      if (Status s = Prepare("SELECT run_id FROM dag_runs WHERE id = ?1", &r); !s.ok()) return s;
      r.Bind(1, run_pk);
      int rc = r.Step();
      if (rc == SQLITE_DONE) return Status::NotFound("no run with id " + std::to_string(run_pk));
      if (rc != SQLITE_ROW) return Error(rc, "reading a run");
      run_id = r.Text(0);
    }
    Stmt q;
    if (Status s = Prepare(
            "INSERT INTO model_aliases(model_name, alias, artifact_id, set_at_ms, set_by, "
            "run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
            "ON CONFLICT(model_name, alias) DO UPDATE SET artifact_id = excluded.artifact_id, "
            "blessing_id = NULL, set_at_ms = excluded.set_at_ms, set_by = excluded.set_by, "
            "run_id = excluded.run_id",
            &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, model).Bind(2, alias).Bind(3, artifact_id).Bind(4, now_ms);
    q.BindTextOrNull(5, set_by).BindTextOrNull(6, run_id);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return Status::NotFound("no artifact with id " + std::to_string(artifact_id));
    }
    return rc == SQLITE_DONE ? Status::OK() : Error(rc, "setting " + model + "@" + alias);
  });
}

Result<std::vector<AliasRecord>> SqliteStore::QueryAliases(const std::string& model,
                                                           const std::string& alias) {
  static const std::string kSql =
      "SELECT ma.model_name, ma.alias, ma.run_id, ma.set_by, ma.set_at_ms, " +
      std::string(kArtifactCols) +
      "FROM model_aliases ma JOIN artifacts a ON a.id = ma.artifact_id "
      "WHERE ?1 = '' OR (ma.model_name = ?1 AND ma.alias = ?2) "
      "ORDER BY ma.model_name, ma.alias";
  std::vector<AliasRecord> out;
  {
    Stmt q;
    if (Status s = Prepare(kSql, &q); !s.ok()) return s;
    q.Bind(1, model).Bind(2, alias);
    Status s = EachRow(q, "reading aliases", [&] {
      AliasRecord r;
      r.model = q.Text(0);
      r.alias = q.Text(1);
      r.run_id = q.Text(2);
      r.set_by = q.Text(3);
      r.set_ms = q.Int(4);
      r.artifact = ReadArtifact(q, 5);
      out.push_back(std::move(r));
    });
    if (!s.ok()) return s;
  }
  for (AliasRecord& r : out) {
    // The newest real producer (a cached attempt stands for its source).
    Stmt p;
    if (Status s = Prepare(
            "SELECT src.id, ti.task_name, r.run_id FROM events e "
            "JOIN task_attempts ta ON ta.id = e.attempt_id "
            "JOIN task_attempts src ON src.id = coalesce(ta.cache_source_attempt_id, ta.id) "
            "JOIN task_instances ti ON ti.id = src.task_instance_id "
            "JOIN dag_runs r ON r.id = ti.dag_run_id "
            "WHERE e.artifact_id = ?1 AND e.direction = 'out' "
            "AND ta.state IN ('succeeded','cached') ORDER BY src.id DESC LIMIT 1",
            &p);
        !s.ok()) {
      return s;
    }
    p.Bind(1, r.artifact.id);
    int rc = p.Step();
    if (rc == SQLITE_ROW) {
      r.producing_attempt_id = p.Int(0);
      r.producing_task = p.Text(1);
      r.producing_run_id = p.Text(2);
    } else if (rc != SQLITE_DONE) {
      return Error(rc, "finding an alias's producer");
    }
  }
  return out;
}

Result<std::optional<AliasRecord>> SqliteStore::GetAlias(const std::string& model,
                                                         const std::string& alias) {
  if (model.empty()) return Status::InvalidArgument("empty model name");
  Result<std::vector<AliasRecord>> found = QueryAliases(model, alias);
  if (!found.ok()) return found.status();
  if (found->empty()) return std::optional<AliasRecord>();
  return std::optional<AliasRecord>(std::move(found->front()));
}

Result<std::vector<AliasRecord>> SqliteStore::ListAliases() { return QueryAliases("", ""); }

Result<std::vector<AliasHistoryRecord>> SqliteStore::AliasHistory(const std::string& model,
                                                                  const std::string& alias) {
  Stmt q;
  if (Status s = Prepare(
          "SELECT h.id, h.model_name, h.alias, h.artifact_id, h.prev_artifact_id, a.sha256, "
          "p.sha256, h.set_by, h.run_id, h.set_at_ms FROM model_alias_history h "
          "LEFT JOIN artifacts a ON a.id = h.artifact_id "
          "LEFT JOIN artifacts p ON p.id = h.prev_artifact_id "
          "WHERE h.model_name = ?1 AND (?2 = '' OR h.alias = ?2) ORDER BY h.id",
          &q);
      !s.ok()) {
    return s;
  }
  q.Bind(1, model).Bind(2, alias);
  std::vector<AliasHistoryRecord> out;
  Status s = EachRow(q, "reading alias history", [&] {
    AliasHistoryRecord h;
    h.id = q.Int(0);
    h.model = q.Text(1);
    h.alias = q.Text(2);
    h.artifact_id = q.OptInt64(3);
    h.prev_artifact_id = q.OptInt64(4);
    h.artifact_sha256 = q.Text(5);
    h.prev_artifact_sha256 = q.Text(6);
    h.set_by = q.Text(7);
    h.run_id = q.Text(8);
    h.set_ms = q.Int(9);
    out.push_back(std::move(h));
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::optional<std::map<std::string, std::optional<double>>>>
SqliteStore::AliasTaskMetrics(const std::string& model, const std::string& alias,
                              const std::string& task) {
  using Metrics = std::map<std::string, std::optional<double>>;
  Result<std::optional<AliasRecord>> al = GetAlias(model, alias);
  if (!al.ok()) return al.status();
  if (!*al) return std::optional<Metrics>();
  // Candidate runs, best first: the run that set the alias (its evaluation justified
  // the promotion), then every run that produced or reused the artifact, newest first.
  std::vector<int64_t> runs;
  if (!(*al)->run_id.empty()) {
    Stmt q;
    if (Status s = Prepare("SELECT id FROM dag_runs WHERE run_id = ?1", &q); !s.ok()) return s;
    q.Bind(1, (*al)->run_id);
    if (Status s = EachRow(q, "finding a run", [&] { runs.push_back(q.Int(0)); }); !s.ok()) {
      return s;
    }
  }
  {
    Stmt q;
    if (Status s = Prepare("SELECT ti.dag_run_id, max(ta.id) AS newest FROM events e "
                           "JOIN task_attempts ta ON ta.id = e.attempt_id "
                           "JOIN task_instances ti ON ti.id = ta.task_instance_id "
                           "WHERE e.artifact_id = ?1 AND e.direction = 'out' "
                           "AND ta.state IN ('succeeded','cached') "
                           "GROUP BY ti.dag_run_id ORDER BY newest DESC",
                           &q);
        !s.ok()) {
      return s;
    }
    q.Bind(1, (*al)->artifact.id);
    if (Status s = EachRow(q, "finding producing runs", [&] { runs.push_back(q.Int(0)); });
        !s.ok()) {
      return s;
    }
  }
  for (int64_t run : runs) {
    Result<Metrics> m = TaskMetrics(run, task);
    if (!m.ok()) return m.status();
    if (!m->empty()) return std::optional<Metrics>(std::move(*m));
  }
  return std::optional<Metrics>(Metrics());
}

// --- audit -----------------------------------------------------------------------------------

Result<int64_t> SqliteStore::AppendAudit(const AuditRecord& r) {
  if (r.action.empty()) return Status::InvalidArgument("audit entry without an action");
  int64_t id = 0;
  Status s = Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status st = Prepare("INSERT INTO audit_log(at_ms, actor, action, target_kind, target, "
                            "detail_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, r.at_ms ? r.at_ms : WallNowMs()).BindTextOrNull(2, r.actor).Bind(3, r.action);
    q.BindTextOrNull(4, r.target_kind).BindTextOrNull(5, r.target);
    q.Bind(6, r.details_json.empty() ? std::string_view("{}") : r.details_json);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return InputError(rc, "appending to the audit log");
    id = sqlite3_last_insert_rowid(db_);
    return Status::OK();
  });
  if (!s.ok()) return s;
  return id;
}

Result<std::vector<AuditRecord>> SqliteStore::ListAudit(const AuditFilter& f) {
  Stmt q;
  if (Status s = Prepare(
          "SELECT id, at_ms, actor, action, target_kind, target, detail_json FROM audit_log "
          "WHERE at_ms >= ?1 AND (?2 = '' OR action = ?2 OR "
          "(substr(?2, -1) = '.' AND substr(action, 1, length(?2)) = ?2)) "
          "ORDER BY at_ms DESC, id DESC LIMIT ?3",
          &q);
      !s.ok()) {
    return s;
  }
  q.Bind(1, f.since_ms).Bind(2, f.action).Bind(3, f.limit > 0 ? int64_t{f.limit} : int64_t{-1});
  std::vector<AuditRecord> out;
  Status s = EachRow(q, "reading the audit log", [&] {
    AuditRecord r;
    r.id = q.Int(0);
    r.at_ms = q.Int(1);
    r.actor = q.Text(2);
    r.action = q.Text(3);
    r.target_kind = q.Text(4);
    r.target = q.Text(5);
    r.details_json = q.Text(6);
    out.push_back(std::move(r));
  });
  if (!s.ok()) return s;
  return out;
}

// --- retention ---------------------------------------------------------------------------------

// kept(run_pk): the runs gc must keep, whole. Seeds: runs not finished before ?1; runs
// with an attempt that produced an aliased artifact, that set an alias, or that
// evaluated an alias's blessing. Then, transitively, every run holding an attempt that a
// kept attempt depends on: its cache source, or a producer of one of its inputs. So
// deleting the other runs never cuts the lineage of anything kept.
constexpr std::string_view kKeptRunsCte = R"SQL(
WITH RECURSIVE
up_edge(from_id, to_id) AS (
  SELECT id, cache_source_attempt_id FROM task_attempts
  WHERE cache_source_attempt_id IS NOT NULL
  UNION ALL
  SELECT ei.attempt_id, eo.attempt_id FROM events ei
  JOIN events eo ON eo.artifact_id = ei.artifact_id AND eo.direction = 'out'
  WHERE ei.direction = 'in'),
kept(run_pk) AS (
  SELECT id FROM dag_runs
  WHERE state NOT IN ('success','failed','cancelled','lost') OR ended_at_ms IS NULL
     OR ended_at_ms >= ?1
  UNION
  SELECT ti.dag_run_id FROM model_aliases ma
  JOIN events e ON e.artifact_id = ma.artifact_id AND e.direction = 'out'
  JOIN task_attempts ta ON ta.id = e.attempt_id
  JOIN task_instances ti ON ti.id = ta.task_instance_id
  UNION
  SELECT r.id FROM model_aliases ma JOIN dag_runs r ON r.run_id = ma.run_id
  UNION
  SELECT ti.dag_run_id FROM model_aliases ma JOIN blessings b ON b.id = ma.blessing_id
  JOIN task_attempts ta ON ta.id = b.evaluator_attempt_id
  JOIN task_instances ti ON ti.id = ta.task_instance_id
  UNION
  SELECT ti2.dag_run_id FROM kept k
  JOIN task_instances ti ON ti.dag_run_id = k.run_pk
  JOIN task_attempts ta ON ta.task_instance_id = ti.id
  JOIN up_edge u ON u.from_id = ta.id
  JOIN task_attempts ta2 ON ta2.id = u.to_id
  JOIN task_instances ti2 ON ti2.id = ta2.task_instance_id)
)SQL";

Result<std::vector<RunRecord>> SqliteStore::RunsForRetention(int64_t before_ms) {
  static const std::string kSql =
      std::string(kKeptRunsCte) + std::string(kRunSelect) +
      "WHERE r.state IN ('success','failed','cancelled','lost') AND r.ended_at_ms < ?1 "
      "AND r.id NOT IN (SELECT run_pk FROM kept) ORDER BY r.ended_at_ms, r.id";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, before_ms);
  std::vector<RunRecord> out;
  Status s = EachRow(q, "selecting runs for retention", [&] { out.push_back(ReadRun(q)); });
  if (!s.ok()) return s;
  return out;
}

Result<std::set<std::string>> SqliteStore::ArtifactsToKeep(int64_t before_ms) {
  static const std::string kSql =
      std::string(kKeptRunsCte) +
      "SELECT a.sha256 FROM kept JOIN task_instances ti ON ti.dag_run_id = kept.run_pk "
      "JOIN task_attempts ta ON ta.task_instance_id = ti.id "
      "JOIN events e ON e.attempt_id = ta.id JOIN artifacts a ON a.id = e.artifact_id "
      "UNION SELECT a.sha256 FROM model_aliases ma JOIN artifacts a ON a.id = ma.artifact_id "
      "UNION SELECT a.sha256 FROM model_aliases ma JOIN blessings b ON b.id = ma.blessing_id "
      "JOIN artifacts a ON a.id IN (b.model_artifact_id, b.baseline_artifact_id) "
      "UNION SELECT sha256 FROM artifacts WHERE created_at_ms >= ?1";
  Stmt q;
  if (Status s = Prepare(kSql, &q); !s.ok()) return s;
  q.Bind(1, before_ms);
  std::set<std::string> out;
  Status s = EachRow(q, "selecting artifacts to keep", [&] { out.insert(q.Text(0)); });
  if (!s.ok()) return s;
  return out;
}

Result<ForgetResult> SqliteStore::ForgetRun(int64_t run_pk) {
  ForgetResult res;
  Status status = Atomically(true, [&]() -> Status {
    Result<std::string> state = RunState(run_pk);
    if (!state.ok()) return state.status();
    if (*state == "queued" || *state == "running") {
      return Status::FailedPrecondition("run " + std::to_string(run_pk) + " is " + *state +
                                        "; only a finished run can be forgotten");
    }
    // What would dangle: another run's cached attempts reusing this run's outputs, or an
    // alias that this run set, produced or blessed.
    {
      Stmt q;
      if (Status s = Prepare(
              "SELECT r2.run_id FROM task_attempts s "
              "JOIN task_instances si ON si.id = s.task_instance_id "
              "JOIN task_attempts c ON c.cache_source_attempt_id = s.id "
              "JOIN task_instances ci ON ci.id = c.task_instance_id "
              "JOIN dag_runs r2 ON r2.id = ci.dag_run_id "
              "WHERE si.dag_run_id = ?1 AND ci.dag_run_id <> ?1 LIMIT 1",
              &q);
          !s.ok()) {
        return s;
      }
      q.Bind(1, run_pk);
      int rc = q.Step();
      if (rc == SQLITE_ROW) {
        return Status::FailedPrecondition("run " + q.Text(0) +
                                          " reuses cached outputs of this run; keep it");
      }
      if (rc != SQLITE_DONE) return Error(rc, "checking cache reuse");
    }
    {
      Stmt q;
      if (Status s = Prepare(
              "SELECT ma.model_name || '@' || ma.alias FROM model_aliases ma "
              "WHERE ma.run_id = (SELECT run_id FROM dag_runs WHERE id = ?1) "
              "OR EXISTS (SELECT 1 FROM events e JOIN task_attempts ta ON ta.id = e.attempt_id "
              "  JOIN task_instances ti ON ti.id = ta.task_instance_id "
              "  WHERE e.artifact_id = ma.artifact_id AND e.direction = 'out' "
              "  AND ti.dag_run_id = ?1) "
              "OR ma.blessing_id IN (SELECT b.id FROM blessings b "
              "  JOIN task_attempts ta ON ta.id = b.evaluator_attempt_id "
              "  JOIN task_instances ti ON ti.id = ta.task_instance_id "
              "  WHERE ti.dag_run_id = ?1) LIMIT 1",
              &q);
          !s.ok()) {
        return s;
      }
      q.Bind(1, run_pk);
      int rc = q.Step();
      if (rc == SQLITE_ROW) {
        return Status::FailedPrecondition("alias " + q.Text(0) + " depends on this run; keep it");
      }
      if (rc != SQLITE_DONE) return Error(rc, "checking aliases");
    }
    std::vector<int64_t> artifacts;
    {
      Stmt q;
      if (Status s = Prepare("SELECT a.log_path FROM task_attempts a "
                             "JOIN task_instances ti ON ti.id = a.task_instance_id "
                             "WHERE ti.dag_run_id = ?1 AND a.log_path IS NOT NULL ORDER BY a.id",
                             &q);
          !s.ok()) {
        return s;
      }
      q.Bind(1, run_pk);
      if (Status s = EachRow(q, "listing log files",
                             [&] { res.log_paths.push_back(q.Text(0)); });
          !s.ok()) {
        return s;
      }
      Stmt e;
      if (Status s = Prepare("SELECT DISTINCT e.artifact_id FROM task_instances ti "
                             "JOIN task_attempts a ON a.task_instance_id = ti.id "
                             "JOIN events e ON e.attempt_id = a.id WHERE ti.dag_run_id = ?1",
                             &e);
          !s.ok()) {
        return s;
      }
      e.Bind(1, run_pk);
      if (Status s = EachRow(e, "listing artifacts", [&] { artifacts.push_back(e.Int(0)); });
          !s.ok()) {
        return s;
      }
    }
    // The whole history goes with its rows (task histories live in them).
    {
      Stmt c;
      if (Status s = Prepare("SELECT count(*) FROM state_transitions WHERE dag_run_id = ?1", &c);
          !s.ok()) {
        return s;
      }
      c.Bind(1, run_pk);
      if (c.Step() != SQLITE_ROW) return Error(sqlite3_errcode(db_), "counting transitions");
      res.transitions = c.Int(0);
    }
    // Children before parents (foreign keys are on).
    struct Step {
      const char* sql;
      int64_t* count;
    };
    int64_t ignored = 0;
    const Step steps[] = {
        {"DELETE FROM metrics WHERE attempt_id IN (SELECT a.id FROM task_attempts a "
         "JOIN task_instances ti ON ti.id = a.task_instance_id WHERE ti.dag_run_id = ?1)",
         &res.metrics},
        {"DELETE FROM blessings WHERE evaluator_attempt_id IN (SELECT a.id FROM task_attempts a "
         "JOIN task_instances ti ON ti.id = a.task_instance_id WHERE ti.dag_run_id = ?1)",
         &ignored},
        {"DELETE FROM cache_entries WHERE producing_attempt_id IN (SELECT a.id FROM "
         "task_attempts a JOIN task_instances ti ON ti.id = a.task_instance_id "
         "WHERE ti.dag_run_id = ?1)",
         &ignored},
        {"DELETE FROM events WHERE attempt_id IN (SELECT a.id FROM task_attempts a "
         "JOIN task_instances ti ON ti.id = a.task_instance_id WHERE ti.dag_run_id = ?1)",
         &res.events},
        {"DELETE FROM task_attempts WHERE task_instance_id IN "
         "(SELECT id FROM task_instances WHERE dag_run_id = ?1)",
         &res.attempts},
        {"DELETE FROM task_instances WHERE dag_run_id = ?1", &ignored},
        {"DELETE FROM run_transitions WHERE dag_run_id = ?1", &ignored},
        {"DELETE FROM dag_runs WHERE id = ?1", &ignored},
    };
    for (const Step& step : steps) {
      Stmt q;
      if (Status s = Prepare(step.sql, &q); !s.ok()) return s;
      q.Bind(1, run_pk);
      if (Status s = Done(q, "forgetting a run"); !s.ok()) return s;
      *step.count += sqlite3_changes(db_);
    }
    // Artifact rows nothing refers to any more (alias history included: its ids have no
    // foreign key, and a reused rowid would point it at the wrong artifact).
    for (int64_t id : artifacts) {
      Stmt q;
      if (Status s = Prepare(
              "DELETE FROM artifacts WHERE id = ?1 "
              "AND NOT EXISTS (SELECT 1 FROM events WHERE artifact_id = ?1) "
              "AND NOT EXISTS (SELECT 1 FROM model_aliases WHERE artifact_id = ?1) "
              "AND NOT EXISTS (SELECT 1 FROM blessings "
              "                WHERE ?1 IN (model_artifact_id, baseline_artifact_id)) "
              "AND NOT EXISTS (SELECT 1 FROM model_alias_history "
              "                WHERE ?1 IN (artifact_id, prev_artifact_id))",
              &q);
          !s.ok()) {
        return s;
      }
      q.Bind(1, id);
      if (Status s = Done(q, "forgetting artifacts"); !s.ok()) return s;
      res.artifacts += sqlite3_changes(db_);
    }
    return Status::OK();
  });
  if (!status.ok()) return status;
  return res;
}

Status SqliteStore::ReclaimSpace() {
  if (Status s = CheckWritable(); !s.ok()) return s;
  return Exec("PRAGMA incremental_vacuum", "reclaiming free pages");
}

Status OpenImpl(const std::string& path, bool read_only, std::unique_ptr<Store>* out) {
  out->reset();
  // SQLite's allocation statistics take a global mutex around every malloc and free;
  // nothing here reads them (~7% of the engine's per-task database time). Only
  // possible before SQLite initialises; later (a host program got there first) the
  // call fails harmlessly.
  static const bool kConfigured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)kConfigured;
  if (path.empty()) return Status::InvalidArgument("empty database path");
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (read_only && (path == ":memory:" || access(path.c_str(), F_OK) != 0)) {
    return Status::NotFound("no pipeline database at " + path +
                            "; run `pipeline run` first or pass --home");
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open database " + path + ": " +
                      (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return FromSqlite(rc, msg);
  }
  auto store = std::make_unique<SqliteStore>(db, path, read_only);
  if (Status s = store->Setup(!read_only); !s.ok()) return s;
  *out = std::move(store);
  return Status::OK();
}

}  // namespace

int Store::SchemaVersion() { return Migrations().back().version; }

Status Store::Open(const std::string& path, std::unique_ptr<Store>* out) {
  return OpenImpl(path, /*read_only=*/false, out);
}

Status Store::OpenReadOnly(const std::string& path, std::unique_ptr<Store>* out) {
  return OpenImpl(path, /*read_only=*/true, out);
}

}  // namespace pipeline
