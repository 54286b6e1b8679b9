#include "pipeline/store.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "core/sha256.h"
#include "gtest/gtest.h"
#include "store/schema.h"
#include "testing/sqlite_util.h"
#include "testing/temp_dir.h"

namespace pipeline {
namespace {

using ::pipeline::testing::SqlExec;
using ::pipeline::testing::SqlQuery;

using ::pipeline::testing::TempDir;

void ExecOk(const std::string& path, const std::string& sql) { EXPECT_EQ(SqlExec(path, sql), SQLITE_OK) << sql; }

std::unique_ptr<Store> MustOpen(const std::string& path) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

RunRecord MakeRun(int64_t version_id, const std::string& run_id, int64_t created_ms,
                  const std::string& dag = "train") {
  RunRecord r;
  r.run_id = run_id;
  r.dag = dag;
  r.dag_version_id = version_id;
  r.state = "running";
  r.created_ms = created_ms;
  r.started_ms = created_ms;
  r.owner_pid = 4242;
  r.owner_host = "host-a";
  return r;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "pipeline.db";
    store_ = MustOpen(path_);
    ASSERT_TRUE(store_);
    Result<int64_t> v = store_->EnsureDagVersion("train", std::string(64, 'a'), "{\"v\":1}");
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    version_ = *v;
  }

  // A running run with tasks a, b, c (max_attempts 1, 2, 1).
  int64_t NewRun(const std::string& run_id, int64_t created_ms = 1000) {
    Result<int64_t> run = store_->CreateRun(MakeRun(version_, run_id, created_ms));
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    if (!run.ok()) return 0;
    Result<std::vector<int64_t>> tis =
        store_->CreateTaskInstances(*run, {{"a", 1}, {"b", 2}, {"c", 1}}, created_ms);
    EXPECT_TRUE(tis.ok()) << tis.status().ToString();
    if (tis.ok()) tis_ = *tis;
    return *run;
  }

  AttemptRecord Attempt(int64_t ti, int no, int64_t started_ms) {
    AttemptRecord a;
    a.task_instance_id = ti;
    a.attempt_no = no;
    a.pid = 100 + no;
    a.host = "host-a";
    a.command_json = "[\"sh\",\"-c\",\"exit 0\"]";
    a.log_path = "logs/t." + std::to_string(no) + ".log";
    a.started_ms = started_ms;
    return a;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  int64_t version_ = 0;
  std::vector<int64_t> tis_;
};

// --- opening and migrations -----------------------------------------------------------

TEST(StoreOpenTest, FreshDatabaseIsMigrated) {
  TempDir dir;
  std::string path = dir / "p.db";
  { ASSERT_TRUE(MustOpen(path)); }
  EXPECT_EQ(SqlQuery(path, "PRAGMA user_version"), std::to_string(Store::SchemaVersion()));
  EXPECT_EQ(SqlQuery(path, "PRAGMA application_id"), std::to_string(kApplicationId));
  EXPECT_EQ(SqlQuery(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(SqlQuery(path, "PRAGMA auto_vacuum"), "2");  // incremental
  EXPECT_EQ(SqlQuery(path, "SELECT count(*) FROM schema_migrations"),
            std::to_string(Migrations().size()));
  EXPECT_EQ(SqlQuery(path, "SELECT script_sha256 FROM schema_migrations WHERE version = 1"),
            Sha256::Hex(Migrations()[0].sql));
  EXPECT_EQ(SqlQuery(path, "SELECT app_version FROM schema_migrations WHERE version = 1"),
            PIPELINE_VERSION);
  // Every table is STRICT and the reserved lineage tables exist.
  EXPECT_EQ(SqlQuery(path, "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND "
                        "type = 'table' AND name NOT LIKE 'sqlite_%' AND strict = 0"),
            "0");
  for (const char* table : {"artifacts", "events", "metrics", "cache_entries", "blessings",
                            "model_aliases", "model_alias_history", "audit_log", "ol_outbox"}) {
    EXPECT_EQ(SqlQuery(path, std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") +
                              table + "'"),
              "1")
        << table;
  }
  EXPECT_EQ(SqlQuery(path, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(SqlQuery(path, "PRAGMA foreign_key_check"), "");
}

TEST(StoreOpenTest, MemoryDatabaseWorks) {
  std::unique_ptr<Store> store = MustOpen(":memory:");
  ASSERT_TRUE(store);
  Result<int64_t> v = store->EnsureDagVersion("d", "sha", "{}");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  Result<int64_t> run = store->CreateRun(MakeRun(*v, "r1", 5, "d"));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(store->FindRun("r1")->dag, "d");
}

TEST(StoreOpenTest, ReopenIsIdempotent) {
  TempDir dir;
  std::string path = dir / "p.db";
  int64_t version = 0;
  {
    auto store = MustOpen(path);
    version = *store->EnsureDagVersion("d", "sha1", "{}");
    ASSERT_TRUE(store->CreateRun(MakeRun(version, "r1", 5, "d")).ok());
  }
  for (int i = 0; i < 2; ++i) {
    auto store = MustOpen(path);
    ASSERT_TRUE(store);
    Result<RunRecord> run = store->FindRun("r1");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->dag_version_id, version);
  }
  EXPECT_EQ(SqlQuery(path, "SELECT count(*) FROM schema_migrations"),
            std::to_string(Migrations().size()));
  EXPECT_EQ(SqlQuery(path, "PRAGMA user_version"), std::to_string(Store::SchemaVersion()));
}

TEST(StoreOpenTest, RefusesNewerSchema) {
  TempDir dir;
  std::string path = dir / "p.db";
  { ASSERT_TRUE(MustOpen(path)); }
  ExecOk(path, "PRAGMA user_version = 999");
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("schema version 999, newer than this pipeline binary supports (" +
                             std::to_string(Store::SchemaVersion()) + "); upgrade pipeline"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(store);
  s = Store::OpenReadOnly(path, &store);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(SqlQuery(path, "PRAGMA user_version"), "999");  // untouched
}

TEST(StoreOpenTest, RefusesNonSqliteFile) {
  TempDir dir;
  std::string content = "this is a text file, not a database\n";
  content += std::string(2048, 'x');
  std::string path = dir.Write("notes.txt", content);
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("is not a SQLite database"), std::string::npos) << s.message();
  s = Store::OpenReadOnly(path, &store);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_EQ(testing::ReadFile(path), content);

  std::string tiny = dir.Write("tiny.txt", "hi\n");
  s = Store::Open(tiny, &store);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(testing::ReadFile(tiny), "hi\n");
}

TEST(StoreOpenTest, RefusesForeignSqliteDatabase) {
  TempDir dir;
  std::string path = dir / "other.db";
  ExecOk(path, "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('keep me')");
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("not a pipeline database"), std::string::npos) << s.message();
  EXPECT_EQ(SqlQuery(path, "PRAGMA journal_mode"), "delete");  // not converted to WAL
  EXPECT_EQ(SqlQuery(path, "SELECT count(*) FROM sqlite_schema"), "1");

  std::string other_app = dir / "app.db";
  ExecOk(other_app, "PRAGMA application_id = 1234");
  s = Store::Open(other_app, &store);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
}

TEST(StoreOpenTest, OpenReadOnlyMissingFile) {
  TempDir dir;
  std::unique_ptr<Store> store;
  Status s = Store::OpenReadOnly(dir / "nope.db", &store);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
  EXPECT_EQ(s.message(), "no pipeline database at " + (dir / "nope.db") +
                             "; run `pipeline run` first or pass --home");
  EXPECT_FALSE(std::filesystem::exists(dir / "nope.db"));
}

TEST(StoreOpenTest, OpenFailsInMissingDirectory) {
  TempDir dir;
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir / "no/such/dir/p.db", &store);
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
}

TEST(StoreOpenTest, SyncEnvironmentVariable) {
  TempDir dir;
  std::unique_ptr<Store> store;
  setenv("PIPELINE_SYNC", "full", 1);
  Status s = Store::Open(dir / "p.db", &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  setenv("PIPELINE_SYNC", "sometimes", 1);
  s = Store::Open(dir / "p.db", &store);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  unsetenv("PIPELINE_SYNC");
}

TEST(StoreOpenTest, ReadOnlyStoreRejectsWrites) {
  TempDir dir;
  std::string path = dir / "p.db";
  int64_t version = 0;
  {
    auto store = MustOpen(path);
    version = *store->EnsureDagVersion("d", "sha1", "{\"x\":1}");
  }
  std::unique_ptr<Store> ro;
  ASSERT_TRUE(Store::OpenReadOnly(path, &ro).ok());
  EXPECT_EQ(ro->Begin().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(ro->CreateRun(MakeRun(version, "r", 1, "d")).status().code(),
            Status::Code::kFailedPrecondition);
  EXPECT_EQ(ro->EnsureDagVersion("d", "sha2", "{}").status().code(),
            Status::Code::kFailedPrecondition);
  // Reads work, and finding an existing version needs no write.
  EXPECT_EQ(*ro->EnsureDagVersion("d", "sha1", "{\"x\":1}"), version);
  EXPECT_EQ(*ro->DagDefinition(version), "{\"x\":1}");
}

// --- writes and reads -----------------------------------------------------------------

TEST_F(StoreTest, EnsureDagVersionDedupsBySha) {
  Result<int64_t> same = store_->EnsureDagVersion("train", std::string(64, 'a'), "{\"v\":1}");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, version_);
  Result<int64_t> next = store_->EnsureDagVersion("train", std::string(64, 'b'), "{\"v\":2}");
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, version_);
  // Same hash under another dag is another version.
  Result<int64_t> other = store_->EnsureDagVersion("eval", std::string(64, 'a'), "{\"v\":1}");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, version_);
  EXPECT_NE(*other, *next);
  EXPECT_EQ(*store_->DagDefinition(version_), "{\"v\":1}");
  EXPECT_EQ(*store_->DagDefinition(*next), "{\"v\":2}");
  EXPECT_EQ(store_->DagDefinition(9999).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(SqlQuery(path_, "SELECT count(*) FROM dags"), "2");
  EXPECT_EQ(SqlQuery(path_, "SELECT count(*) FROM dag_versions"), "3");
}

TEST_F(StoreTest, FullLifecycleRoundTrip) {
  RunRecord in;
  in.run_id = "20261122T183045-3fa9c2";
  in.dag = "train";
  in.dag_version_id = version_;
  in.trigger = "test";
  in.triggered_by = "alice";
  in.logical_date_ms = 1700000000000;
  in.params_json = "{\"lr\":0.1}";
  in.state = "running";
  in.dag_file = "/w/dags/train.yaml";
  in.base_dir = "/w";
  in.created_ms = 1000;
  in.started_ms = 1001;
  in.owner_pid = 777;
  in.owner_host = "box";
  Result<int64_t> run_pk = store_->CreateRun(in);
  ASSERT_TRUE(run_pk.ok()) << run_pk.status().ToString();
  Result<std::vector<int64_t>> tis = store_->CreateTaskInstances(*run_pk, {{"prep", 1}, {"fit", 3}}, 1002);
  ASSERT_TRUE(tis.ok());
  ASSERT_EQ(tis->size(), 2u);

  // prep: one attempt, succeeds.
  ASSERT_TRUE(store_->SetTaskState((*tis)[0], "running", 1010, "").ok());
  AttemptRecord a = Attempt((*tis)[0], 1, 1010);
  Result<int64_t> a1 = store_->StartAttempt(a);
  ASSERT_TRUE(a1.ok()) << a1.status().ToString();
  ASSERT_TRUE(store_->FinishAttempt(*a1, "succeeded", 0, std::nullopt, 1500, "").ok());
  ASSERT_TRUE(store_->SetTaskState((*tis)[0], "success", 1500, "").ok());
  // fit: killed by a signal, retried, then fails with an exit code.
  ASSERT_TRUE(store_->SetTaskState((*tis)[1], "running", 1600, "").ok());
  Result<int64_t> f1 = store_->StartAttempt(Attempt((*tis)[1], 1, 1600));
  ASSERT_TRUE(f1.ok());
  ASSERT_TRUE(store_->FinishAttempt(*f1, "killed", std::nullopt, 9, 1700, "killed by SIGKILL").ok());
  ASSERT_TRUE(store_->SetTaskState((*tis)[1], "up_for_retry", 1700, "killed by SIGKILL").ok());
  ASSERT_TRUE(store_->SetTaskState((*tis)[1], "running", 1800, "").ok());
  Result<int64_t> f2 = store_->StartAttempt(Attempt((*tis)[1], 2, 1800));
  ASSERT_TRUE(f2.ok());
  ASSERT_TRUE(store_->FinishAttempt(*f2, "failed", 3, std::nullopt, 1900, "exit 3").ok());
  ASSERT_TRUE(store_->SetTaskState((*tis)[1], "failed", 1900, "exit 3").ok());
  ASSERT_TRUE(store_->SetRunState(*run_pk, "failed", 2000, "task fit failed").ok());

  Result<RunRecord> run = store_->FindRun(in.run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->id, *run_pk);
  EXPECT_EQ(run->run_id, in.run_id);
  EXPECT_EQ(run->dag, "train");
  EXPECT_EQ(run->dag_version_id, version_);
  EXPECT_EQ(run->dag_sha256, std::string(64, 'a'));
  EXPECT_EQ(run->trigger, "test");
  EXPECT_EQ(run->triggered_by, "alice");
  EXPECT_EQ(run->logical_date_ms, 1700000000000);
  EXPECT_EQ(run->params_json, "{\"lr\":0.1}");
  EXPECT_EQ(run->state, "failed");
  EXPECT_EQ(run->dag_file, "/w/dags/train.yaml");
  EXPECT_EQ(run->base_dir, "/w");
  EXPECT_EQ(run->created_ms, 1000);
  EXPECT_EQ(run->started_ms, 1001);
  EXPECT_EQ(run->ended_ms, 2000);
  EXPECT_EQ(run->owner_pid, 777);
  EXPECT_EQ(run->owner_host, "box");
  EXPECT_EQ(run->reason, "task fit failed");

  Result<std::vector<TaskInstanceRecord>> got = store_->ListTaskInstances(*run_pk);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  const TaskInstanceRecord& prep = (*got)[0];
  EXPECT_EQ(prep.id, (*tis)[0]);
  EXPECT_EQ(prep.run_pk, *run_pk);
  EXPECT_EQ(prep.task, "prep");
  EXPECT_EQ(prep.state, "success");
  EXPECT_EQ(prep.attempts, 1);
  EXPECT_EQ(prep.max_attempts, 1);
  EXPECT_EQ(prep.reason, "");
  EXPECT_EQ(prep.started_ms, 1010);
  EXPECT_EQ(prep.ended_ms, 1500);
  const TaskInstanceRecord& fit = (*got)[1];
  EXPECT_EQ(fit.task, "fit");
  EXPECT_EQ(fit.state, "failed");
  EXPECT_EQ(fit.attempts, 2);
  EXPECT_EQ(fit.max_attempts, 3);
  EXPECT_EQ(fit.reason, "exit 3");
  EXPECT_EQ(fit.started_ms, 1600);  // first start survives the retry
  EXPECT_EQ(fit.ended_ms, 1900);

  Result<std::vector<AttemptRecord>> attempts = store_->ListAttempts(*run_pk);
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), 3u);
  const AttemptRecord& p1 = (*attempts)[0];
  EXPECT_EQ(p1.id, *a1);
  EXPECT_EQ(p1.task_instance_id, (*tis)[0]);
  EXPECT_EQ(p1.task, "prep");
  EXPECT_EQ(p1.attempt_no, 1);
  EXPECT_EQ(p1.state, "succeeded");
  EXPECT_EQ(p1.pid, 101);
  EXPECT_EQ(p1.host, "host-a");
  EXPECT_EQ(p1.command_json, "[\"sh\",\"-c\",\"exit 0\"]");
  EXPECT_EQ(p1.log_path, "logs/t.1.log");
  EXPECT_EQ(p1.exit_code, 0);
  EXPECT_EQ(p1.signal, std::nullopt);
  EXPECT_EQ(p1.started_ms, 1010);
  EXPECT_EQ(p1.ended_ms, 1500);
  EXPECT_EQ(p1.error, "");
  const AttemptRecord& k = (*attempts)[1];
  EXPECT_EQ(k.task, "fit");
  EXPECT_EQ(k.attempt_no, 1);
  EXPECT_EQ(k.state, "killed");
  EXPECT_EQ(k.exit_code, std::nullopt);
  EXPECT_EQ(k.signal, 9);
  EXPECT_EQ(k.error, "killed by SIGKILL");
  const AttemptRecord& e = (*attempts)[2];
  EXPECT_EQ(e.attempt_no, 2);
  EXPECT_EQ(e.state, "failed");
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.signal, std::nullopt);
  EXPECT_EQ(e.started_ms, 1800);
  EXPECT_EQ(e.ended_ms, 1900);
  EXPECT_EQ(SqlQuery(path_, "SELECT group_concat(duration_ms) FROM task_attempts ORDER BY id"),
            "490,100,100");
  EXPECT_EQ(SqlQuery(path_, "PRAGMA foreign_key_check"), "");
}

TEST_F(StoreTest, CreateRunChecksInputs) {
  RunRecord r = MakeRun(version_, "r1", 10);
  r.dag = "some-other-dag";
  EXPECT_EQ(store_->CreateRun(r).status().code(), Status::Code::kInvalidArgument);
  r = MakeRun(9999, "r1", 10);
  EXPECT_EQ(store_->CreateRun(r).status().code(), Status::Code::kInvalidArgument);
  r = MakeRun(version_, "r1", 10);
  r.params_json = "{not json";
  EXPECT_EQ(store_->CreateRun(r).status().code(), Status::Code::kInternal);
  r = MakeRun(version_, "r1", 10);
  r.trigger = "whim";
  EXPECT_EQ(store_->CreateRun(r).status().code(), Status::Code::kInternal);
  r = MakeRun(version_, "r1", 10);
  r.state = "success";  // runs start queued or running
  EXPECT_EQ(store_->CreateRun(r).status().code(), Status::Code::kInternal);
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "r1", 10)).ok());
  EXPECT_EQ(store_->CreateRun(MakeRun(version_, "r1", 10)).status().code(),
            Status::Code::kInternal);  // duplicate run id
  EXPECT_EQ(SqlQuery(path_, "SELECT count(*) FROM dag_runs"), "1");
}

TEST_F(StoreTest, TransitionsRecordedWithReasonsInOrder) {
  int64_t run = NewRun("r1");
  int64_t a = tis_[0], b = tis_[1], c = tis_[2];
  ASSERT_TRUE(store_->SetTaskState(a, "running", 1100, "").ok());
  int64_t att = *store_->StartAttempt(Attempt(a, 1, 1100));
  ASSERT_TRUE(store_->FinishAttempt(att, "failed", 1, std::nullopt, 1200, "exit 1").ok());
  ASSERT_TRUE(store_->SetTaskState(a, "failed", 1200, "exit 1").ok());
  ASSERT_TRUE(store_->SetTaskState(b, "upstream_failed", 1200, "upstream a failed").ok());
  ASSERT_TRUE(store_->SetTaskState(c, "skipped", 1200, "when: false").ok());
  ASSERT_TRUE(store_->SetRunState(run, "failed", 1300, "1 task failed").ok());

  Result<std::vector<TransitionRecord>> tr = store_->ListTransitions(run);
  ASSERT_TRUE(tr.ok()) << tr.status().ToString();
  struct Want {
    const char* entity;
    int64_t id;
    const char* from;
    const char* to;
    int64_t at;
    const char* reason;
  };
  std::vector<Want> want = {
      {"dag_run", run, "", "running", 1000, ""},
      {"task_instance", a, "", "pending", 1000, ""},
      {"task_instance", b, "", "pending", 1000, ""},
      {"task_instance", c, "", "pending", 1000, ""},
      {"task_instance", a, "pending", "running", 1100, ""},
      {"task_attempt", att, "", "running", 1100, ""},
      {"task_attempt", att, "running", "failed", 1200, "exit 1"},
      {"task_instance", a, "running", "failed", 1200, "exit 1"},
      {"task_instance", b, "pending", "upstream_failed", 1200, "upstream a failed"},
      {"task_instance", c, "pending", "skipped", 1200, "when: false"},
      {"dag_run", run, "running", "failed", 1300, "1 task failed"},
  };
  ASSERT_EQ(tr->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const TransitionRecord& t = (*tr)[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(t.entity, want[i].entity);
    EXPECT_EQ(t.entity_id, want[i].id);
    EXPECT_EQ(t.from_state, want[i].from);
    EXPECT_EQ(t.to_state, want[i].to);
    EXPECT_EQ(t.at_ms, want[i].at);
    EXPECT_EQ(t.reason, want[i].reason);
  }
  // Another run's history is separate.
  int64_t other = NewRun("r2");
  EXPECT_EQ(store_->ListTransitions(other)->size(), 4u);
  EXPECT_EQ(store_->ListTransitions(run)->size(), want.size());
}

// The engine's write-behind: queued writes must be in place before anything reads or
// commits, keep their order, and their errors must not vanish.
TEST_F(StoreTest, DeferredStateWritesLandBeforeTheNextStatementAndTheCommit) {
  int64_t run = NewRun("r1");
  int64_t a = tis_[0], b = tis_[1];
  int64_t att = *store_->StartAttempt(Attempt(a, 1, 1100));
  store_->DeferStateWrites(true);
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->FinishAttempt(att, "succeeded", 0, std::nullopt, 1200, "").ok());
  ASSERT_TRUE(store_->SetTaskState(a, "success", 1200, "").ok());
  // Not written yet: another connection cannot see it, and neither could we without
  // the flush — but any statement of ours runs the queue first, in order.
  std::vector<TaskInstanceRecord> tis = *store_->ListTaskInstances(run);
  EXPECT_EQ(tis[0].state, "success");
  EXPECT_EQ((*store_->ListAttempts(run))[0].state, "succeeded");
  // Queued again, then committed: the commit writes the queue first.
  ASSERT_TRUE(store_->SetTaskState(b, "running", 1300, "").ok());
  ASSERT_TRUE(store_->Commit().ok());
  EXPECT_EQ(SqlQuery(path_, "SELECT state FROM task_instances WHERE id = " + std::to_string(b)),
            "running");
  // An illegal queued write fails the next call (here the commit), and the batch with it.
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->SetTaskState(tis_[2], "running", 1400, "").ok());
  ASSERT_TRUE(store_->SetTaskState(a, "running", 1400, "again").ok());  // success -> running
  Status s = store_->Commit();
  EXPECT_EQ(s.code(), Status::Code::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("success -> running"), std::string::npos) << s.message();
  EXPECT_FALSE(store_->in_batch());
  EXPECT_EQ(SqlQuery(path_, "SELECT state FROM task_instances WHERE id = " + std::to_string(tis_[2])),
            "pending");  // the batch was rolled back whole
  // Outside a batch nothing is deferred: errors come back at once.
  EXPECT_EQ(store_->SetTaskState(a, "running", 1500, "").code(), Status::Code::kInternal);
  store_->DeferStateWrites(false);
}

// Large DAGs are inserted many rows per statement; every id must still belong to the
// name at the same position, whatever order the database hands the rows back in.
TEST_F(StoreTest, ManyTaskInstancesGetTheIdsOfTheirOwnNames) {
  int64_t run = *store_->CreateRun(MakeRun(version_, "big", 1000));
  std::vector<std::pair<std::string, int>> names;
  for (int i = 0; i < 150; ++i) names.emplace_back("t" + std::to_string((i * 37) % 150), 1 + i % 3);
  std::vector<int64_t> ids = *store_->CreateTaskInstances(run, names, 1000);
  ASSERT_EQ(ids.size(), names.size());
  std::vector<TaskInstanceRecord> tis = *store_->ListTaskInstances(run);
  ASSERT_EQ(tis.size(), names.size());
  std::map<int64_t, const TaskInstanceRecord*> by_id;
  for (const TaskInstanceRecord& ti : tis) by_id[ti.id] = &ti;
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i].first);
    ASSERT_TRUE(by_id.count(ids[i]));
    EXPECT_EQ(by_id[ids[i]]->task, names[i].first);
    EXPECT_EQ(by_id[ids[i]]->max_attempts, names[i].second);
    EXPECT_EQ(by_id[ids[i]]->state, "pending");
  }
  EXPECT_EQ(store_->ListTransitions(run)->size(), 151u);  // the run's creation and 150 tasks'
  // A duplicate name fails the whole batch: nothing of it stays.
  int64_t run2 = *store_->CreateRun(MakeRun(version_, "dup", 1000));
  names[140].first = names[3].first;
  EXPECT_FALSE(store_->CreateTaskInstances(run2, names, 1000).ok());
  EXPECT_TRUE(store_->ListTaskInstances(run2)->empty());
}

// Task histories live in their rows (migration 3); the database itself refuses every
// write that would let a row's history disagree with its state, whoever the writer is.
TEST_F(StoreTest, TaskHistoryCannotBeRewrittenOrSkipped) {
  int64_t run = NewRun("r1");
  int64_t a = tis_[0];
  int64_t att = *store_->StartAttempt(Attempt(a, 1, 1100));
  ASSERT_TRUE(store_->FinishAttempt(att, "failed", 1, std::nullopt, 1200, "exit 1").ok());
  ASSERT_TRUE(store_->SetTaskState(a, "failed", 1200, "exit 1").ok());
  const std::string id = std::to_string(a);
  const std::string history = SqlQuery(path_, "SELECT history FROM task_instances WHERE id = " + id);
  EXPECT_EQ(history,
            "[[1000,null,\"pending\",null],[1100,\"pending\",\"running\",null],"
            "[1200,\"running\",\"failed\",\"exit 1\"]]");
  store_.reset();  // plain SQL from here, as any other program could write

  const std::string refused[] = {
      // a state change that leaves no entry
      "UPDATE task_instances SET state = 'pending' WHERE id = " + id,
      // entries rewritten, dropped or invented
      "UPDATE task_instances SET history = '[]' WHERE id = " + id,
      "UPDATE task_instances SET history = replace(history, 'exit 1', 'ok') WHERE id = " + id,
      "UPDATE task_instances SET history = substr(history, 1, length(history) - 1) || "
      "',[1300,\"failed\",\"success\",null]]' WHERE id = " + id,
      // a state change with an entry that does not describe it
      "UPDATE task_instances SET state = 'pending', reason = 'x', history = "
      "substr(history, 1, length(history) - 1) || ',[1300,\"running\",\"pending\",\"x\"]]' "
      "WHERE id = " + id,
      // a new task that claims another past
      "INSERT INTO task_instances(dag_run_id, task_name, state, created_at_ms, "
      "state_changed_at_ms, history) VALUES (" + std::to_string(run) +
          ", 'z', 'pending', 5, 5, '[]')",
      // an ended attempt is final: its end, error and start are its history
      "UPDATE task_attempts SET ended_at_ms = 1500 WHERE id = " + std::to_string(att),
      "UPDATE task_attempts SET error = NULL WHERE id = " + std::to_string(att),
      "UPDATE task_attempts SET started_at_ms = 1 WHERE id = " + std::to_string(att),
  };
  for (const std::string& sql : refused) EXPECT_EQ(SqlExec(path_, sql), SQLITE_CONSTRAINT) << sql;
  EXPECT_EQ(SqlQuery(path_, "SELECT history FROM task_instances WHERE id = " + id), history);
  EXPECT_EQ(SqlQuery(path_, "SELECT state || ' ' || ended_at_ms || ' ' || error FROM task_attempts "
                            "WHERE id = " + std::to_string(att)),
            "failed 1200 exit 1");
  // A running attempt cannot end without saying when.
  store_ = MustOpen(path_);
  int64_t b_att = *store_->StartAttempt(Attempt(tis_[1], 1, 1300));
  store_.reset();
  EXPECT_EQ(SqlExec(path_, "UPDATE task_attempts SET state = 'succeeded' WHERE id = " +
                               std::to_string(b_att)),
            SQLITE_CONSTRAINT);
  // Columns that are not history stay writable.
  EXPECT_EQ(SqlExec(path_, "UPDATE task_instances SET cache_key = 'k' WHERE id = " + id), SQLITE_OK);
  EXPECT_EQ(SqlExec(path_, "UPDATE task_attempts SET log_sha256 = 'x' WHERE id = " + std::to_string(att)),
            SQLITE_OK);
}

TEST_F(StoreTest, ForbiddenTransitionsRejectedAndNothingChanges) {
  int64_t run = NewRun("r1");
  int64_t a = tis_[0];
  ASSERT_TRUE(store_->SetTaskState(a, "running", 1100, "").ok());
  int64_t att = *store_->StartAttempt(Attempt(a, 1, 1100));
  ASSERT_TRUE(store_->FinishAttempt(att, "succeeded", 0, std::nullopt, 1200, "").ok());
  ASSERT_TRUE(store_->SetTaskState(a, "success", 1200, "").ok());
  size_t history = store_->ListTransitions(run)->size();

  Status s = store_->SetTaskState(a, "running", 1300, "again");
  EXPECT_EQ(s.code(), Status::Code::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("success -> running"), std::string::npos) << s.message();
  EXPECT_EQ(store_->SetTaskState(tis_[1], "success", 1300, "").code(), Status::Code::kInternal);
  EXPECT_EQ(store_->SetTaskState(tis_[1], "up_for_retry", 1300, "").code(),
            Status::Code::kInternal);
  EXPECT_EQ(store_->SetTaskState(tis_[1], "bogus", 1300, "").code(), Status::Code::kInternal);
  EXPECT_EQ(store_->FinishAttempt(att, "failed", 1, std::nullopt, 1300, "").code(),
            Status::Code::kInternal);
  EXPECT_EQ(store_->SetRunState(run, "queued", 1300, "").code(), Status::Code::kInternal);
  EXPECT_EQ(store_->SetTaskState(9999, "running", 1300, "").code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetRunState(9999, "failed", 1300, "").code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->FinishAttempt(9999, "failed", 1, std::nullopt, 1300, "").code(),
            Status::Code::kNotFound);

  TaskInstanceRecord ti = (*store_->ListTaskInstances(run))[0];
  EXPECT_EQ(ti.state, "success");
  EXPECT_EQ(ti.ended_ms, 1200);
  EXPECT_EQ(ti.reason, "");
  EXPECT_EQ((*store_->ListAttempts(run))[0].state, "succeeded");
  EXPECT_EQ((*store_->ListAttempts(run))[0].exit_code, 0);
  EXPECT_EQ(store_->FindRun("r1")->state, "running");
  EXPECT_EQ(store_->ListTransitions(run)->size(), history);

  // Inside a batch, a rejected write leaves the rest of the batch intact.
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->SetTaskState(tis_[1], "running", 1400, "").ok());
  EXPECT_EQ(store_->SetTaskState(a, "pending", 1400, "").code(), Status::Code::kInternal);
  EXPECT_EQ(store_->StartAttempt(Attempt(tis_[1], 2, 1400)).status().code(),
            Status::Code::kInternal);  // attempt numbers are consecutive
  EXPECT_TRUE(store_->in_batch());
  ASSERT_TRUE(store_->StartAttempt(Attempt(tis_[1], 1, 1400)).ok());
  ASSERT_TRUE(store_->Commit().ok());
  EXPECT_EQ((*store_->ListTaskInstances(run))[1].state, "running");
  EXPECT_EQ((*store_->ListTaskInstances(run))[1].attempts, 1);
  EXPECT_EQ(store_->ListAttempts(run)->size(), 2u);
}

TEST_F(StoreTest, CachedAttemptAndCachedTask) {
  // The source: a succeeded attempt of an earlier run.
  NewRun("r0");
  Result<int64_t> src = store_->StartAttempt(Attempt(tis_[0], 1, 1000));
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_TRUE(store_->FinishAttempt(*src, "succeeded", 0, std::nullopt, 1050, "").ok());

  int64_t run = NewRun("r1");
  AttemptRecord a = Attempt(tis_[0], 1, 1100);
  a.state = "cached";
  a.ended_ms = 1100;
  // A cached attempt must name its source, and the source must have succeeded.
  EXPECT_EQ(store_->StartAttempt(a).status().code(), Status::Code::kInvalidArgument);
  a.cache_source_attempt_id = *src;
  Result<int64_t> cached = store_->StartAttempt(a);
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  ASSERT_TRUE(store_->SetTaskState(tis_[0], "cached", 1100, "").ok());
  EXPECT_EQ((*store_->ListAttempts(run))[0].state, "cached");
  EXPECT_EQ((*store_->ListAttempts(run))[0].cache_source_attempt_id, *src);
  EXPECT_EQ(store_->GetAttempt(*cached)->cache_source_attempt_id, *src);
  EXPECT_EQ((*store_->ListTaskInstances(run))[0].state, "cached");
  AttemptRecord from_cached = Attempt(tis_[2], 1, 1100);
  from_cached.state = "cached";
  from_cached.cache_source_attempt_id = *cached;  // not succeeded
  EXPECT_EQ(store_->StartAttempt(from_cached).status().code(),
            Status::Code::kFailedPrecondition);
  AttemptRecord running_with_source = Attempt(tis_[2], 1, 1100);
  running_with_source.cache_source_attempt_id = *src;
  EXPECT_EQ(store_->StartAttempt(running_with_source).status().code(),
            Status::Code::kInvalidArgument);
  AttemptRecord bad = Attempt(tis_[1], 1, 1100);
  bad.state = "succeeded";  // attempts are born running or cached
  EXPECT_EQ(store_->StartAttempt(bad).status().code(), Status::Code::kInternal);
  EXPECT_EQ((*store_->ListTaskInstances(run))[1].attempts, 0);  // bump rolled back
}

// --- batches and durability ------------------------------------------------------------

TEST_F(StoreTest, BatchInvisibleToReadersUntilCommit) {
  int64_t run = NewRun("r1");
  std::unique_ptr<Store> reader;
  ASSERT_TRUE(Store::OpenReadOnly(path_, &reader).ok());

  ASSERT_TRUE(store_->Begin().ok());
  EXPECT_TRUE(store_->in_batch());
  EXPECT_TRUE(store_->Begin().ok());  // no-op
  ASSERT_TRUE(store_->SetTaskState(tis_[0], "running", 1100, "").ok());
  ASSERT_TRUE(store_->StartAttempt(Attempt(tis_[0], 1, 1100)).ok());
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "r2", 1200)).ok());
  // The writer sees its own batch; the reader does not.
  EXPECT_EQ((*store_->ListTaskInstances(run))[0].state, "running");
  EXPECT_EQ((*reader->ListTaskInstances(run))[0].state, "pending");
  EXPECT_TRUE(reader->ListAttempts(run)->empty());
  EXPECT_EQ(reader->FindRun("r2").status().code(), Status::Code::kNotFound);

  ASSERT_TRUE(store_->Commit().ok());
  EXPECT_FALSE(store_->in_batch());
  EXPECT_EQ((*reader->ListTaskInstances(run))[0].state, "running");
  EXPECT_EQ(reader->ListAttempts(run)->size(), 1u);
  EXPECT_TRUE(reader->FindRun("r2").ok());
  EXPECT_TRUE(store_->Commit().ok());  // no batch open: no-op
}

TEST_F(StoreTest, RollbackDiscardsBatch) {
  int64_t run = NewRun("r1");
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->SetTaskState(tis_[0], "running", 1100, "").ok());
  ASSERT_TRUE(store_->StartAttempt(Attempt(tis_[0], 1, 1100)).ok());
  store_->Rollback();
  EXPECT_FALSE(store_->in_batch());
  EXPECT_EQ((*store_->ListTaskInstances(run))[0].state, "pending");
  EXPECT_EQ((*store_->ListTaskInstances(run))[0].attempts, 0);
  EXPECT_TRUE(store_->ListAttempts(run)->empty());
  EXPECT_EQ(store_->ListTransitions(run)->size(), 4u);
  store_->Rollback();  // no-op
  // Writes work again afterwards, each in its own transaction.
  ASSERT_TRUE(store_->SetTaskState(tis_[0], "running", 1200, "").ok());
}

TEST_F(StoreTest, DestroyingStoreMidBatchDiscardsBatch) {
  int64_t run = NewRun("r1");
  ASSERT_TRUE(store_->Begin().ok());
  ASSERT_TRUE(store_->SetTaskState(tis_[0], "running", 1100, "").ok());
  store_.reset();
  store_ = MustOpen(path_);
  EXPECT_EQ((*store_->ListTaskInstances(run))[0].state, "pending");
}

// In a child process: open the database, commit one batch, then write a second batch and
// die without committing (|how| = "exit": _exit(0); "kill": SIGKILL to itself).
void CrashingChild(const std::string& path, const std::string& how) {
  std::unique_ptr<Store> store;
  if (!Store::Open(path, &store).ok()) _exit(10);
  Result<RunRecord> run = store->FindRun("r1");
  if (!run.ok()) _exit(11);
  std::vector<TaskInstanceRecord> tis = *store->ListTaskInstances(run->id);
  if (!store->Begin().ok()) _exit(12);
  if (!store->SetTaskState(tis[0].id, "running", 2000, "").ok()) _exit(13);
  AttemptRecord a;
  a.task_instance_id = tis[0].id;
  a.started_ms = 2000;
  if (!store->StartAttempt(a).ok()) _exit(14);
  if (!store->Commit().ok()) _exit(15);

  if (!store->Begin().ok()) _exit(16);
  if (!store->SetTaskState(tis[1].id, "running", 3000, "").ok()) _exit(17);
  for (int i = 0; i < 3000; ++i) {  // ~3 MB: more than the page cache, so pages spill to the WAL
    RunRecord r;
    r.run_id = "uncommitted-" + std::to_string(i);
    r.dag = "train";
    r.dag_version_id = run->dag_version_id;
    r.created_ms = 3000;
    r.params_json = "{\"pad\":\"" + std::string(1000, 'p') + "\"}";
    if (!store->CreateRun(r).ok()) _exit(18);
  }
  if (how == "kill") kill(getpid(), SIGKILL);
  _exit(0);
}

class StoreCrashTest : public StoreTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(StoreCrashTest, UncommittedBatchVanishesAndDatabaseStaysIntact) {
  int64_t run = NewRun("r1");
  store_.reset();  // the child gets the only connection

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) CrashingChild(path_, GetParam());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  if (std::string(GetParam()) == "kill") {
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  } else {
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }

  // The dead child left uncommitted frames in the WAL: recovery must ignore them.
  EXPECT_GT(std::filesystem::file_size(path_ + "-wal"), 1'000'000u);

  store_ = MustOpen(path_);
  ASSERT_TRUE(store_);
  EXPECT_EQ(SqlQuery(path_, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(SqlQuery(path_, "PRAGMA foreign_key_check"), "");
  std::vector<TaskInstanceRecord> tis = *store_->ListTaskInstances(run);
  EXPECT_EQ(tis[0].state, "running");  // committed batch survived
  EXPECT_EQ(tis[0].attempts, 1);
  EXPECT_EQ(store_->ListAttempts(run)->size(), 1u);
  EXPECT_EQ(tis[1].state, "pending");  // uncommitted batch is gone
  EXPECT_EQ(store_->FindRun("uncommitted-0").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->ListRuns({})->size(), 1u);
  // And the engine can carry on.
  ASSERT_TRUE(store_->MarkRunLost(run, 4000, "orchestrator died").ok());
}

INSTANTIATE_TEST_SUITE_P(HowItDies, StoreCrashTest, ::testing::Values("exit", "kill"));

// --- recovery --------------------------------------------------------------------------

TEST_F(StoreTest, MarkRunLostAndReopenRun) {
  int64_t run = NewRun("r1");
  int64_t a = tis_[0], b = tis_[1];
  // a succeeded; b is running attempt 2 after a retry; c is pending.
  ASSERT_TRUE(store_->SetTaskState(a, "running", 1100, "").ok());
  int64_t a1 = *store_->StartAttempt(Attempt(a, 1, 1100));
  ASSERT_TRUE(store_->FinishAttempt(a1, "succeeded", 0, std::nullopt, 1200, "").ok());
  ASSERT_TRUE(store_->SetTaskState(a, "success", 1200, "").ok());
  ASSERT_TRUE(store_->SetTaskState(b, "running", 1200, "").ok());
  int64_t b1 = *store_->StartAttempt(Attempt(b, 1, 1200));
  ASSERT_TRUE(store_->FinishAttempt(b1, "failed", 1, std::nullopt, 1300, "exit 1").ok());
  ASSERT_TRUE(store_->SetTaskState(b, "up_for_retry", 1300, "exit 1").ok());
  ASSERT_TRUE(store_->SetTaskState(b, "running", 1400, "").ok());
  int64_t b2 = *store_->StartAttempt(Attempt(b, 2, 1400));

  EXPECT_EQ(store_->ReopenRun(run, 1500, 1, "h").code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(store_->MarkRunLost(run, 5000, "orchestrator pid 4242 on host-a died").ok());
  RunRecord r = *store_->FindRun("r1");
  EXPECT_EQ(r.state, "lost");
  EXPECT_EQ(r.ended_ms, 5000);
  EXPECT_EQ(r.reason, "orchestrator pid 4242 on host-a died");
  std::vector<TaskInstanceRecord> tis = *store_->ListTaskInstances(run);
  EXPECT_EQ(tis[0].state, "success");
  EXPECT_EQ(tis[1].state, "failed");
  EXPECT_EQ(tis[1].reason, "orchestrator pid 4242 on host-a died");
  EXPECT_EQ(tis[1].ended_ms, 5000);
  EXPECT_EQ(tis[2].state, "pending");
  std::vector<AttemptRecord> atts = *store_->ListAttempts(run);
  ASSERT_EQ(atts.size(), 3u);
  EXPECT_EQ(atts[0].state, "succeeded");
  EXPECT_EQ(atts[1].state, "failed");
  EXPECT_EQ(atts[2].id, b2);
  EXPECT_EQ(atts[2].state, "lost");
  EXPECT_EQ(atts[2].ended_ms, 5000);
  EXPECT_EQ(atts[2].error, "orchestrator pid 4242 on host-a died");
  EXPECT_EQ(store_->MarkRunLost(run, 5000, "again").code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(store_->MarkRunLost(9999, 5000, "x").code(), Status::Code::kNotFound);

  ASSERT_TRUE(store_->ReopenRun(run, 6000, 999, "host-b").ok());
  r = *store_->FindRun("r1");
  EXPECT_EQ(r.state, "running");
  EXPECT_EQ(r.ended_ms, 0);
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(r.owner_pid, 999);
  EXPECT_EQ(r.owner_host, "host-b");
  EXPECT_EQ(r.started_ms, 1000);  // the original start
  tis = *store_->ListTaskInstances(run);
  EXPECT_EQ(tis[0].state, "success");
  EXPECT_EQ(tis[1].state, "pending");
  EXPECT_EQ(tis[1].reason, "");
  EXPECT_EQ(tis[1].attempts, 2);  // old attempts stay; the next one is attempt 3
  EXPECT_EQ(tis[1].started_ms, 0);
  EXPECT_EQ(tis[1].ended_ms, 0);
  EXPECT_EQ(tis[2].state, "pending");
  EXPECT_EQ(store_->ListAttempts(run)->size(), 3u);
  EXPECT_EQ(store_->ReopenRun(run, 6000, 1, "h").code(), Status::Code::kFailedPrecondition);

  std::vector<TransitionRecord> tr = *store_->ListTransitions(run);
  const TransitionRecord& last = tr.back();
  EXPECT_EQ(last.entity, "dag_run");
  EXPECT_EQ(last.from_state, "lost");
  EXPECT_EQ(last.to_state, "running");
  EXPECT_EQ(last.at_ms, 6000);
  EXPECT_EQ(last.reason, "resumed by pid 999 on host-b");
  const TransitionRecord& reset = tr[tr.size() - 2];
  EXPECT_EQ(reset.entity_id, b);
  EXPECT_EQ(reset.from_state, "failed");
  EXPECT_EQ(reset.to_state, "pending");
  EXPECT_EQ(reset.reason, "resumed");

  // The resumed run carries on: attempt 3 of b.
  ASSERT_TRUE(store_->SetTaskState(b, "running", 6100, "").ok());
  ASSERT_TRUE(store_->StartAttempt(Attempt(b, 3, 6100)).ok());
}

TEST_F(StoreTest, ReopenClosesOrphansOfAFailedRun) {
  int64_t run = NewRun("r1");
  ASSERT_TRUE(store_->SetTaskState(tis_[0], "running", 1100, "").ok());
  ASSERT_TRUE(store_->StartAttempt(Attempt(tis_[0], 1, 1100)).ok());
  ASSERT_TRUE(store_->SetTaskState(tis_[1], "cancelled", 1100, "cancelled").ok());
  // The orchestrator ended the run but died before ending its task.
  ASSERT_TRUE(store_->SetRunState(run, "cancelled", 1200, "interrupted by SIGINT").ok());
  ASSERT_TRUE(store_->ReopenRun(run, 1300, 5, "h").ok());
  std::vector<TaskInstanceRecord> tis = *store_->ListTaskInstances(run);
  for (const TaskInstanceRecord& t : tis) EXPECT_EQ(t.state, "pending") << t.task;
  EXPECT_EQ((*store_->ListAttempts(run))[0].state, "lost");
}

// --- finding and listing runs ----------------------------------------------------------

TEST_F(StoreTest, FindRunByPrefix) {
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "20261122T183045-3fa9c2", 1)).ok());
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "20261122T183045-3fb000", 2)).ok());
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "20261123T000000-000000", 3)).ok());

  EXPECT_EQ(store_->FindRun("20261122T183045-3fa9c2")->created_ms, 1);
  EXPECT_EQ(store_->FindRun("20261122T183045-3fa")->created_ms, 1);
  EXPECT_EQ(store_->FindRun("20261123")->created_ms, 3);

  Result<RunRecord> amb = store_->FindRun("20261122");
  EXPECT_EQ(amb.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(amb.status().message().find("ambiguous"), std::string::npos);
  EXPECT_NE(amb.status().message().find("20261122T183045-3fa9c2"), std::string::npos);
  EXPECT_NE(amb.status().message().find("20261122T183045-3fb000"), std::string::npos);

  EXPECT_EQ(store_->FindRun("2027").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->FindRun("%").status().code(), Status::Code::kNotFound);  // no wildcards
  EXPECT_EQ(store_->FindRun("").status().code(), Status::Code::kInvalidArgument);

  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "x" + std::to_string(i), 10 + i)).ok());
  }
  amb = store_->FindRun("x");
  EXPECT_EQ(amb.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(amb.status().message().find("x4, ..."), std::string::npos) << amb.status().message();
  EXPECT_EQ(amb.status().message().find("x5"), std::string::npos) << amb.status().message();
}

TEST_F(StoreTest, ListRunsFiltersAndOrdersNewestFirst) {
  int64_t eval = *store_->EnsureDagVersion("eval", std::string(64, 'e'), "{}");
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "t1", 100)).ok());
  ASSERT_TRUE(store_->CreateRun(MakeRun(eval, "e1", 200, "eval")).ok());
  int64_t t2 = *store_->CreateRun(MakeRun(version_, "t2", 300));
  ASSERT_TRUE(store_->CreateRun(MakeRun(eval, "e2", 400, "eval")).ok());
  ASSERT_TRUE(store_->CreateRun(MakeRun(version_, "t3", 500)).ok());
  ASSERT_TRUE(store_->SetRunState(t2, "success", 600, "").ok());

  auto ids = [&](const RunFilter& f) {
    std::vector<std::string> out;
    Result<std::vector<RunRecord>> runs = store_->ListRuns(f);
    EXPECT_TRUE(runs.ok()) << runs.status().ToString();
    if (runs.ok()) {
      for (const RunRecord& r : *runs) out.push_back(r.run_id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"t3", "e2", "t2", "e1", "t1"}));
  EXPECT_EQ(ids({"train", "", 20}), (V{"t3", "t2", "t1"}));
  EXPECT_EQ(ids({"eval", "", 20}), (V{"e2", "e1"}));
  EXPECT_EQ(ids({"", "running", 20}), (V{"t3", "e2", "e1", "t1"}));
  EXPECT_EQ(ids({"train", "running", 20}), (V{"t3", "t1"}));
  EXPECT_EQ(ids({"", "", 2}), (V{"t3", "e2"}));
  EXPECT_EQ(ids({"", "", 0}).size(), 5u);  // no limit
  EXPECT_TRUE(ids({"nope", "", 20}).empty());
  std::vector<RunRecord> runs = *store_->ListRuns({"eval", "", 1});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].dag, "eval");
  EXPECT_EQ(runs[0].dag_sha256, std::string(64, 'e'));
  EXPECT_EQ(runs[0].dag_version_id, eval);
}

}  // namespace
}  // namespace pipeline
