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

#include <chrono>
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

 private:
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
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
};

SqliteStore::~SqliteStore() {
  if (in_batch_) Rollback();
  cache_.clear();  // statements are finalized below, all at once
  sqlite3_stmt* s = nullptr;
  while ((s = sqlite3_next_stmt(db_, nullptr)) != nullptr) sqlite3_finalize(s);
  if (!read_only_) sqlite3_exec(db_, "PRAGMA optimize", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db_);
}

Status SqliteStore::Prepare(std::string_view sql, Stmt* out) {
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
  std::vector<int64_t> ids;
  ids.reserve(name_and_max_attempts.size());
  Status s = Atomically(true, [&]() -> Status {
    for (const auto& [name, max_attempts] : name_and_max_attempts) {
      Stmt q;
      if (Status st = Prepare("INSERT INTO task_instances(dag_run_id, task_name, state, "
                              "max_attempts, created_at_ms, state_changed_at_ms) "
                              "VALUES (?1, ?2, 'pending', ?3, ?4, ?4)",
                              &q);
          !st.ok()) {
        return st;
      }
      q.Bind(1, run_pk).Bind(2, name).Bind(3, max_attempts).Bind(4, now_ms);
      if (Status st = Done(q, "inserting task instance " + name); !st.ok()) return st;
      ids.push_back(sqlite3_last_insert_rowid(db_));
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
  return Atomically(false, [&]() -> Status {
    Stmt q;
    if (Status st = Prepare(
            "UPDATE task_instances SET state = ?2, reason = ?3, state_changed_at_ms = ?4, "
            "started_at_ms = CASE WHEN ?2 = 'running' THEN coalesce(started_at_ms, ?4) "
            "WHEN ?2 = 'pending' THEN NULL ELSE started_at_ms END, "
            "ended_at_ms = CASE WHEN ?2 IN ('success','failed','skipped','upstream_failed',"
            "'cancelled','cached') THEN ?4 "
            "WHEN ?2 IN ('pending','running','up_for_retry') THEN NULL ELSE ended_at_ms END "
            "WHERE id = ?1",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, ti_id).Bind(2, state).BindTextOrNull(3, reason).Bind(4, at_ms);
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
  int64_t id = 0;
  Status s = Atomically(true, [&]() -> Status {
    Stmt bump;
    // One statement counts the attempt and moves the instance to running (the engine's
    // hot path: every task passes here once per attempt).
    // (A cached attempt leaves the instance's state to the caller.)
    if (Status st = Prepare(
            "UPDATE task_instances SET attempts = attempts + 1, "
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
            "command_json, log_path, exit_code, term_signal, started_at_ms, ended_at_ms, error) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            &q);
        !st.ok()) {
      return st;
    }
    q.Bind(1, a.task_instance_id).Bind(2, a.attempt_no).Bind(3, a.state);
    q.BindIntOrNull(4, a.pid).BindTextOrNull(5, a.host).BindTextOrNull(6, a.command_json);
    q.BindTextOrNull(7, a.log_path).Bind(8, a.exit_code).Bind(9, a.signal);
    q.Bind(10, a.started_ms).BindIntOrNull(11, a.ended_ms).BindTextOrNull(12, a.error);
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
  if (Status s = Prepare(
          "SELECT a.id, a.task_instance_id, ti.task_name, a.attempt_no, a.state, a.pid, a.host, "
          "a.command_json, a.log_path, a.exit_code, a.term_signal, a.started_at_ms, "
          "a.ended_at_ms, a.error FROM task_instances ti "
          "JOIN task_attempts a ON a.task_instance_id = ti.id "
          "WHERE ti.dag_run_id = ?1 ORDER BY ti.id, a.attempt_no",
          &q);
      !s.ok()) {
    return s;
  }
  q.Bind(1, run_pk);
  std::vector<AttemptRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
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
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return Error(rc, "listing attempts");
  return out;
}

Result<std::vector<TransitionRecord>> SqliteStore::ListTransitions(int64_t run_pk) {
  Stmt q;
  if (Status s = Prepare("SELECT entity, entity_id, from_state, to_state, at_ms, reason "
                         "FROM state_transitions WHERE dag_run_id = ?1 ORDER BY id",
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
                         "state_changed_at_ms = ?2, ended_at_ms = ?2 "
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

    // The transition rows keep the reason "resumed"; the rows themselves are then
    // cleared (a pending task has no reason, a running run has not ended).
    Stmt tasks;
    if (Status s = Prepare("UPDATE task_instances SET state = 'pending', reason = 'resumed', "
                           "state_changed_at_ms = ?2, started_at_ms = NULL, ended_at_ms = NULL "
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

Status OpenImpl(const std::string& path, bool read_only, std::unique_ptr<Store>* out) {
  out->reset();
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
