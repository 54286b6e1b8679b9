#include "engine/engine.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "testing/dag_builder.h"
#include "testing/fake_clock.h"
#include "testing/fake_runner.h"
#include "testing/sqlite_util.h"
#include "testing/temp_dir.h"

namespace pipeline {
namespace {

using testing::DagBuilder;
using testing::FakeClock;
using testing::FakeRunner;
using Outcome = FakeRunner::Outcome;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Store::Open(":memory:", &store_).ok());
    opts_.parallelism = 2;
    opts_.home = tmp_.path();
    opts_.base_dir = tmp_.path();
    opts_.retry_jitter = false;
  }

  RunSummary Run(const Dag& dag, const std::string& run_id = "r1") {
    Engine engine(dag, store_.get(), &runner_, &clock_, nullptr, opts_);
    auto r = engine.RunNew(run_id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunSummary{};
  }

  std::map<std::string, TaskInstanceRecord> Instances(const std::string& run_id) {
    auto run = store_->FindRun(run_id);
    EXPECT_TRUE(run.ok());
    std::map<std::string, TaskInstanceRecord> out;
    auto tis = store_->ListTaskInstances(run->id);
    EXPECT_TRUE(tis.ok());
    for (auto& ti : *tis) out[ti.task] = ti;
    return out;
  }

  testing::TempDir tmp_;
  FakeClock clock_;
  FakeRunner runner_{&clock_};
  std::unique_ptr<Store> store_;
  RunOptions opts_;
};

// A fake runner that checks the durability promise each time the engine is about to
// sleep (a Wait that may block): a second connection to the database file already sees
// every attempt that was started, and every attempt handed back as finished in its
// final state.
class SleepCheckingRunner : public FakeRunner {
 public:
  SleepCheckingRunner(FakeClock* clock, std::string db) : FakeRunner(clock), db_(std::move(db)) {}
  void Wait(int64_t timeout_ms, std::vector<AttemptOutcome>* done) override {
    if (timeout_ms != 0) {
      ++sleeps;
      EXPECT_EQ(testing::SqlQuery(db_, "SELECT count(*) FROM task_attempts"),
                std::to_string(started().size()));
      EXPECT_EQ(testing::SqlQuery(db_, "SELECT count(*) FROM task_attempts WHERE state <> 'running'"),
                std::to_string(handed_back_));
    }
    const size_t before = done->size();
    FakeRunner::Wait(timeout_ms, done);
    handed_back_ += done->size() - before;
  }
  int sleeps = 0;

 private:
  std::string db_;
  size_t handed_back_ = 0;
};

TEST_F(EngineTest, EverythingIsCommittedBeforeTheEngineSleeps) {
  const std::string db = tmp_ / "pipeline.db";
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(db, &store).ok());
  SleepCheckingRunner runner(&clock_, db);
  DagBuilder b("d");
  // Twelve tasks in a chain that finish at once (duration 0): each one's end is taken in
  // by the iteration that started it, yet the engine still commits and sleeps every few
  // passes; and a slow side branch with a retry.
  for (int i = 0; i < 12; ++i) {
    if (i == 0) {
      b.Add("c0");
    } else {
      b.Add("c" + std::to_string(i), {"c" + std::to_string(i - 1)});
    }
    runner.Script("c" + std::to_string(i), {Outcome{ExitKind::kExited, 0, 0, 0}});
  }
  b.Add("slow").retries = 1;
  runner.Script("slow", {Outcome{ExitKind::kExited, 1, 0, 500}, Outcome{ExitKind::kExited, 0, 0, 700}});
  Dag dag = b.Build();
  Engine engine(dag, store.get(), &runner, &clock_, nullptr, opts_);
  auto r = engine.RunNew("r1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, "success");
  EXPECT_EQ(runner.started().size(), 14u);
  EXPECT_GE(runner.sleeps, 3) << "a run whose tasks keep finishing still commits every few passes";
  EXPECT_EQ(testing::SqlQuery(db, "SELECT count(*) FROM task_attempts WHERE state = 'succeeded'"), "13");
}

TEST_F(EngineTest, RunsDagAndRecordsEverything) {
  DagBuilder b("etl");
  b.Add("extract");
  b.Add("transform", {"extract"});
  b.Add("load", {"transform"});
  Dag dag = b.Build();
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "success");
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(runner_.started(), (std::vector<std::string>{"extract", "transform", "load"}));

  auto run = store_->FindRun("r1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, "success");
  EXPECT_EQ(run->dag, "etl");
  EXPECT_GT(run->ended_ms, 0);
  for (auto& [name, ti] : Instances("r1")) {
    EXPECT_EQ(ti.state, "success") << name;
    EXPECT_EQ(ti.attempts, 1) << name;
  }
  auto attempts = store_->ListAttempts(run->id);
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), 3u);
  for (const auto& a : *attempts) {
    EXPECT_EQ(a.state, "succeeded");
    EXPECT_EQ(a.exit_code, 0);
    EXPECT_NE(a.log_path.find("/logs/r1/" + a.task + ".1.log"), std::string::npos) << a.log_path;
    EXPECT_NE(a.command_json.find("/bin/sh"), std::string::npos);
  }
}

TEST_F(EngineTest, NeverExceedsParallelism) {
  DagBuilder b;
  for (int i = 0; i < 20; ++i) b.Add("t" + std::to_string(i));
  Dag dag = b.Build();
  opts_.parallelism = 3;
  Run(dag);
  EXPECT_EQ(runner_.max_running(), 3u);
  EXPECT_EQ(runner_.started().size(), 20u);
}

TEST_F(EngineTest, RetriesWithExponentialBackoffOnTheClock) {
  DagBuilder b;
  Task& t = b.Add("flaky");
  t.retries = 3;
  t.retry_delay_ms = 10000;
  Dag dag = b.Build();
  runner_.Script("flaky", {Outcome{ExitKind::kExited, 1, 0, 100}, Outcome{ExitKind::kExited, 1, 0, 100},
                           Outcome{ExitKind::kExited, 0, 0, 100}});
  int64_t t0 = clock_.MonotonicMs();
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "success");
  // 3 attempts of 100 ms, delays 10 s then 20 s (doubling, no jitter).
  EXPECT_EQ(clock_.MonotonicMs() - t0, 300 + 10000 + 20000);
  auto ti = Instances("r1")["flaky"];
  EXPECT_EQ(ti.state, "success");
  EXPECT_EQ(ti.attempts, 3);
  auto run = store_->FindRun("r1");
  auto attempts = *store_->ListAttempts(run->id);
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0].state, "failed");
  EXPECT_EQ(attempts[0].exit_code, 1);
  EXPECT_EQ(attempts[1].state, "failed");
  EXPECT_EQ(attempts[2].state, "succeeded");
  // The instance went through up_for_retry, and the history says so.
  auto transitions = *store_->ListTransitions(run->id);
  int retries = 0;
  for (const auto& tr : transitions)
    if (tr.entity == "task_instance" && tr.to_state == "up_for_retry") ++retries;
  EXPECT_EQ(retries, 2);
}

TEST_F(EngineTest, RetryDelayIsCapped) {
  DagBuilder b;
  Task& t = b.Add("flaky");
  t.retries = 4;
  t.retry_delay_ms = 1000;
  t.max_retry_delay_ms = 2500;
  Dag dag = b.Build();
  runner_.Script("flaky", {Outcome{ExitKind::kExited, 1, 0, 0}});
  int64_t t0 = clock_.MonotonicMs();
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "failed");
  EXPECT_EQ(clock_.MonotonicMs() - t0, 1000 + 2000 + 2500 + 2500);
}

TEST_F(EngineTest, JitterStaysWithinHalfAndFullDelay) {
  opts_.retry_jitter = true;
  DagBuilder b;
  Task& t = b.Add("flaky");
  t.retries = 1;
  t.retry_delay_ms = 10000;
  Dag dag = b.Build();
  runner_.Script("flaky", {Outcome{ExitKind::kExited, 1, 0, 0}, Outcome{ExitKind::kExited, 0, 0, 0}});
  int64_t t0 = clock_.MonotonicMs();
  Run(dag);
  int64_t waited = clock_.MonotonicMs() - t0;
  EXPECT_GE(waited, 5000);
  EXPECT_LE(waited, 10000);
}

TEST_F(EngineTest, FailureStopsDownstreamButNotIndependentBranches) {
  DagBuilder b;
  b.Add("ingest");
  b.Add("train", {"ingest"});
  b.Add("deploy", {"train"});
  b.Add("report");
  b.Add("cleanup", {"train"}).trigger_rule = TriggerRule::kAllDone;
  b.Add("alert", {"train"}).trigger_rule = TriggerRule::kOneFailed;
  Dag dag = b.Build();
  runner_.Script("train", {Outcome{ExitKind::kSignaled, -1, SIGKILL, 5}});
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "failed");
  EXPECT_EQ(s.exit_code, 1);
  auto tis = Instances("r1");
  EXPECT_EQ(tis["train"].state, "failed");
  EXPECT_EQ(tis["deploy"].state, "upstream_failed");
  EXPECT_NE(tis["deploy"].reason.find("train"), std::string::npos) << tis["deploy"].reason;
  EXPECT_EQ(tis["report"].state, "success");
  EXPECT_EQ(tis["cleanup"].state, "success");
  EXPECT_EQ(tis["alert"].state, "success");
  auto run = store_->FindRun("r1");
  auto attempts = *store_->ListAttempts(run->id);
  for (const auto& a : attempts)
    if (a.task == "train") {
      EXPECT_EQ(a.signal, SIGKILL);
      EXPECT_FALSE(a.exit_code.has_value());
    }
  EXPECT_NE(run->reason.find("train"), std::string::npos);
}

TEST_F(EngineTest, TimeoutCountsAsFailedAttemptAndRetries) {
  DagBuilder b;
  Task& t = b.Add("slow");
  t.retries = 1;
  Dag dag = b.Build();
  runner_.Script("slow", {Outcome{ExitKind::kTimedOut, -1, SIGTERM, 50}, Outcome{ExitKind::kExited, 0, 0, 5}});
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "success");
  auto run = store_->FindRun("r1");
  auto attempts = *store_->ListAttempts(run->id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].state, "timed_out");
  EXPECT_EQ(attempts[0].signal, SIGTERM);
}

TEST_F(EngineTest, SpawnFailureIsAFailedAttemptWithItsReason) {
  DagBuilder b;
  b.Add("broken");
  Dag dag = b.Build();
  runner_.FailSpawn("broken");
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "failed");
  auto run = store_->FindRun("r1");
  auto attempts = *store_->ListAttempts(run->id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].state, "failed");
  EXPECT_NE(attempts[0].error.find("command not found"), std::string::npos);
}

TEST_F(EngineTest, FirstInterruptCancelsEverythingAndRecordsIt) {
  DagBuilder b;
  b.Add("long");
  b.Add("after", {"long"});
  b.Add("other");
  b.Add("other2", {"other"});
  Dag dag = b.Build();
  opts_.parallelism = 1;
  runner_.Script("long", {Outcome{ExitKind::kExited, 0, 0, 60000}});
  runner_.InterruptAt(clock_.MonotonicMs() + 1000, SIGINT);
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "cancelled");
  EXPECT_EQ(s.exit_code, 130);
  auto tis = Instances("r1");
  EXPECT_EQ(tis["long"].state, "cancelled");
  EXPECT_EQ(tis["after"].state, "cancelled");
  EXPECT_EQ(tis["other"].state, "cancelled");
  EXPECT_NE(tis["after"].reason.find("SIGINT"), std::string::npos) << tis["after"].reason;
  EXPECT_EQ(runner_.started().size(), 1u);
  auto run = store_->FindRun("r1");
  EXPECT_EQ(run->state, "cancelled");
  auto attempts = *store_->ListAttempts(run->id);
  EXPECT_EQ(attempts[0].state, "killed");
}

TEST_F(EngineTest, SecondInterruptKillsAtOnce) {
  DagBuilder b;
  b.Add("stubborn");
  Dag dag = b.Build();
  runner_.Script("stubborn", {Outcome{ExitKind::kExited, 0, 0, 600000}});
  runner_.SetTermDelay(60000);  // ignores SIGTERM for a minute
  int64_t t0 = clock_.MonotonicMs();
  runner_.InterruptAt(t0 + 1000, SIGINT);
  runner_.InterruptAt(t0 + 2000, SIGINT);
  RunSummary s = Run(dag);
  EXPECT_EQ(s.exit_code, 130);
  EXPECT_EQ(runner_.cancel_calls(), (std::vector<bool>{false, true}));
  EXPECT_EQ(clock_.MonotonicMs() - t0, 2000) << "the second Ctrl-C must not wait for the grace period";
  EXPECT_EQ(Instances("r1")["stubborn"].state, "cancelled");
}

TEST_F(EngineTest, SigtermExitsWith143) {
  DagBuilder b;
  b.Add("long");
  Dag dag = b.Build();
  runner_.Script("long", {Outcome{ExitKind::kExited, 0, 0, 60000}});
  runner_.InterruptAt(clock_.MonotonicMs() + 10, SIGTERM);
  EXPECT_EQ(Run(dag).exit_code, 143);
}

TEST_F(EngineTest, ResumeRunsOnlyWhatDidNotSucceed) {
  DagBuilder b;
  b.Add("a");
  b.Add("b", {"a"});
  b.Add("c", {"b"});
  b.Add("side");
  Dag dag = b.Build();
  runner_.Script("b", {Outcome{ExitKind::kExited, 1, 0, 5}});
  RunSummary first = Run(dag);
  EXPECT_EQ(first.state, "failed");
  auto run = store_->FindRun("r1");
  ASSERT_TRUE(store_->ReopenRun(run->id, clock_.NowMs(), 42, "host").ok());

  FakeRunner second_runner(&clock_);
  Engine engine(dag, store_.get(), &second_runner, &clock_, nullptr, opts_);
  auto reopened = store_->FindRun("r1");
  auto r = engine.Resume(*reopened);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, "success");
  EXPECT_EQ(second_runner.started(), (std::vector<std::string>{"b", "c"}));
  auto tis = Instances("r1");
  EXPECT_EQ(tis["b"].attempts, 2);  // numbering continues across sessions
  EXPECT_EQ(tis["a"].attempts, 1);
  for (auto& [name, ti] : tis) EXPECT_EQ(ti.state, "success") << name;
}

TEST_F(EngineTest, ContextReachesTheProcess) {
  DagBuilder b("ctx");
  b.Param("msg", "\"; touch pwned #");
  b.Param("n", "5", ParamValue::Type::kInt);
  Task& t = b.Add("echo", {}, "echo {{ params.msg }} {{ task }} {{ attempt }} {{ ds }}");
  t.env = {{"LEVEL", "{{ params.n }}"}};
  t.workdir = "sub";
  opts_.logical_date_ms = 1795372245000;  // 2026-11-22T18:30:45Z
  Dag dag = b.Build();
  Run(dag);
  ASSERT_EQ(runner_.specs().size(), 1u);
  const SpawnSpec& spec = runner_.specs()[0];
  ASSERT_EQ(spec.argv.size(), 3u);
  EXPECT_EQ(spec.argv[0], "/bin/sh");
  EXPECT_EQ(spec.argv[2], "echo '\"; touch pwned #' echo 1 2026-11-22");
  EXPECT_EQ(FakeRunner::Env(spec, "LEVEL"), "5");
  EXPECT_EQ(FakeRunner::Env(spec, "PIPELINE_RUN_ID"), "r1");
  EXPECT_EQ(FakeRunner::Env(spec, "PIPELINE_DAG"), "ctx");
  EXPECT_EQ(FakeRunner::Env(spec, "PIPELINE_TASK"), "echo");
  EXPECT_EQ(FakeRunner::Env(spec, "PIPELINE_ATTEMPT"), "1");
  EXPECT_EQ(FakeRunner::Env(spec, "PIPELINE_PARAM_msg"), "\"; touch pwned #");
  EXPECT_EQ(FakeRunner::Env(spec, "PIPELINE_LOGICAL_DATE"), "2026-11-22T18:30:45Z");
  EXPECT_EQ(spec.cwd, tmp_.path() + "/sub");
}

TEST_F(EngineTest, DagVersionIsRecordedOncePerDefinition) {
  DagBuilder b("v");
  b.Add("a");
  Dag dag = b.Build();
  dag.canonical = "{\"dag\":\"v\"}";
  Run(dag, "r1");
  FakeRunner runner2(&clock_);
  Engine engine(dag, store_.get(), &runner2, &clock_, nullptr, opts_);
  ASSERT_TRUE(engine.RunNew("r2").ok());
  auto r1 = store_->FindRun("r1"), r2 = store_->FindRun("r2");
  EXPECT_EQ(r1->dag_version_id, r2->dag_version_id);
  dag.canonical = "{\"dag\":\"v\",\"x\":1}";
  FakeRunner runner3(&clock_);
  Engine engine3(dag, store_.get(), &runner3, &clock_, nullptr, opts_);
  ASSERT_TRUE(engine3.RunNew("r3").ok());
  EXPECT_NE(store_->FindRun("r3")->dag_version_id, r1->dag_version_id);
}

// --- artifacts, caching, gates (issue 3) ---------------------------------------------

class ArtifactEngineTest : public EngineTest {
 protected:
  // Makes |task| "write" |content| to its output |name| when it runs.
  void Writes(const std::string& task, const std::string& file, std::function<std::string()> content) {
    runner_.OnStart(task, [this, file, content](const SpawnSpec&) { tmp_.Write(file, content()); });
  }
  static void WriteMetrics(const SpawnSpec& spec, const std::string& json) {
    std::ofstream(FakeRunner::Env(spec, "PIPELINE_METRICS")) << json;
  }
  RunSummary RunWith(const Dag& dag, FakeRunner* runner, const std::string& run_id) {
    Engine engine(dag, store_.get(), runner, &clock_, nullptr, opts_);
    auto r = engine.RunNew(run_id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunSummary{};
  }
  std::string StateOf(const std::string& run_id, const std::string& task) { return Instances(run_id)[task].state; }
};

TEST_F(ArtifactEngineTest, SecondRunReusesAndRestoresOutputs) {
  DagBuilder b("c");
  b.Add("make").outputs = {OutputDecl{"out", "out/data.txt", ArtifactKind::kDataset, 0, 0}};
  Dag dag = b.Build();
  Writes("make", "out/data.txt", [] { return std::string("v1\n"); });
  ASSERT_EQ(Run(dag, "r1").state, "success");
  std::filesystem::remove(tmp_ / "out/data.txt");

  FakeRunner second(&clock_);
  RunSummary s = RunWith(dag, &second, "r2");
  EXPECT_EQ(s.state, "success");
  EXPECT_TRUE(second.started().empty()) << "nothing runs on a cache hit";
  EXPECT_EQ(StateOf("r2", "make"), "cached");
  EXPECT_EQ(testing::ReadFile(tmp_ / "out/data.txt"), "v1\n") << "the output is restored from the store";
  auto run = store_->FindRun("r2");
  auto attempts = *store_->ListAttempts(run->id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].state, "cached");
  ASSERT_TRUE(attempts[0].cache_source_attempt_id.has_value());
}

TEST_F(ArtifactEngineTest, ChangedParamMissesTheCacheAndCacheFalseAlwaysRuns) {
  DagBuilder b("c");
  b.Param("lr", "0.1", ParamValue::Type::kFloat);
  Task& train = b.Add("train", {}, "train --lr {{ params.lr }}");
  train.outputs = {OutputDecl{"model", "model.bin", ArtifactKind::kModel, 0, 0}};
  train.params_used = {"lr"};
  Task& deploy = b.Add("deploy", {"train"});
  deploy.outputs = {OutputDecl{"receipt", "receipt.txt", ArtifactKind::kReport, 0, 0}};
  deploy.cache = false;
  Dag dag = b.Build();
  Writes("train", "model.bin", [] { return std::string("weights"); });
  Writes("deploy", "receipt.txt", [this] { return std::to_string(clock_.NowMs()); });
  ASSERT_EQ(Run(dag, "r1").state, "success");

  FakeRunner same(&clock_);
  same.OnStart("deploy", [this](const SpawnSpec&) { tmp_.Write("receipt.txt", std::to_string(clock_.NowMs() + 1)); });
  RunWith(dag, &same, "r2");
  EXPECT_EQ(same.started(), (std::vector<std::string>{"deploy"}));

  dag.params["lr"].text = "0.2";
  FakeRunner changed(&clock_);
  changed.OnStart("train", [this](const SpawnSpec&) { tmp_.Write("model.bin", "other weights"); });
  changed.OnStart("deploy", [this](const SpawnSpec&) { tmp_.Write("receipt.txt", std::to_string(clock_.NowMs() + 2)); });
  RunWith(dag, &changed, "r3");
  EXPECT_EQ(changed.started(), (std::vector<std::string>{"train", "deploy"}));
}

TEST_F(ArtifactEngineTest, MissingOutputFailsEachAttempt) {
  DagBuilder b;
  Task& t = b.Add("lazy");
  t.outputs = {OutputDecl{"out", "never.txt", ArtifactKind::kDataset, 0, 0}};
  t.retries = 1;
  Dag dag = b.Build();
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "failed");
  auto run = store_->FindRun("r1");
  auto attempts = *store_->ListAttempts(run->id);
  ASSERT_EQ(attempts.size(), 2u);
  for (const auto& a : attempts) {
    EXPECT_EQ(a.state, "failed");
    EXPECT_EQ(a.exit_code, 0) << "the process exited 0; the missing output failed it";
    EXPECT_NE(a.error.find("declared output 'out' (never.txt) was not created"), std::string::npos) << a.error;
  }
}

TEST_F(ArtifactEngineTest, FalseGateSkipsAndDownstreamFollowsTriggerRules) {
  DagBuilder b("g");
  b.Param("bar", "0.8", ParamValue::Type::kFloat);
  b.Add("evaluate");
  b.Add("deploy", {"evaluate"}).when = "metrics.evaluate.accuracy >= params.bar";
  b.Add("announce", {"deploy"});
  b.Add("monitor", {"deploy"}).trigger_rule = TriggerRule::kNoneFailed;
  Dag dag = b.Build();
  runner_.OnStart("evaluate", [](const SpawnSpec& spec) { WriteMetrics(spec, "{\"accuracy\": 0.71}"); });
  RunSummary s = Run(dag);
  EXPECT_EQ(s.state, "success");
  auto tis = Instances("r1");
  EXPECT_EQ(tis["deploy"].state, "skipped");
  EXPECT_NE(tis["deploy"].reason.find("metrics.evaluate.accuracy = 0.71"), std::string::npos) << tis["deploy"].reason;
  EXPECT_EQ(tis["deploy"].attempts, 0);
  EXPECT_EQ(tis["announce"].state, "skipped");
  EXPECT_EQ(tis["monitor"].state, "success");
  EXPECT_EQ(runner_.started(), (std::vector<std::string>{"evaluate", "monitor"}));
}

TEST_F(ArtifactEngineTest, PromoteMovesTheAliasAndKeepsHistory) {
  DagBuilder b("p");
  b.Add("train").outputs = {OutputDecl{"model", "model.bin", ArtifactKind::kModel, 0, 0}};
  Task& deploy = b.Add("deploy", {"train"});
  deploy.cache = false;
  deploy.has_promote = true;
  deploy.promote = PromoteDecl{"churn", "production", "train", "model", 0, 0};
  Dag dag = b.Build();
  Writes("train", "model.bin", [] { return std::string("model one"); });
  ASSERT_EQ(Run(dag, "r1").state, "success");
  auto alias = store_->GetAlias("churn", "production");
  ASSERT_TRUE(alias.ok() && alias->has_value());
  EXPECT_EQ((*alias)->artifact.uri, "model.bin");
  std::string first_sha = (*alias)->artifact.sha256;

  // Train again (forced past the cache) and get a different model: the alias moves and
  // its history says what it replaced.
  opts_.force = {"train"};
  FakeRunner second(&clock_);
  second.OnStart("train", [this](const SpawnSpec&) { tmp_.Write("model.bin", "model two"); });
  RunWith(dag, &second, "r2");
  auto history = *store_->AliasHistory("churn", "production");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].prev_artifact_sha256, first_sha);
  EXPECT_NE(history[1].artifact_sha256, first_sha);
  EXPECT_EQ(history[1].run_id, "r2");
}

}  // namespace
}  // namespace pipeline
