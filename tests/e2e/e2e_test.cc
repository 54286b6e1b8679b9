// End-to-end tests: the built binary, real processes, real SQLite files.
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

extern char** environ;

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

class E2E : public ::testing::Test {
 protected:
  // Our environment without PIPELINE_* (left by an outer run) and without |drop| prefixes.
  static std::vector<std::string> InheritedEnv(const std::vector<std::string>& drop) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      bool keep = kv.rfind("PIPELINE_", 0) != 0;
      for (const std::string& d : drop) keep = keep && kv.rfind(d, 0) != 0;
      if (keep) env.emplace_back(kv);
    }
    return env;
  }

  // Starts `pipeline args...` in the temp dir with stdout/stderr to files.
  pid_t Start(const std::vector<std::string>& args, const std::string& tag = "cmd") {
    std::vector<std::string> argv = {PIPELINE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    out_path_ = dir_ / (tag + ".out");
    err_path_ = dir_ / (tag + ".err");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addchdir_np(&fa, dir_.path().c_str());
    std::vector<std::string> env_store = InheritedEnv({});
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, PIPELINE_BIN, &fa, nullptr, cargv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0);
    return pid;
  }

  Result Wait(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(out_path_);
    r.err = ReadFile(err_path_);
    return r;
  }

  Result Run(const std::vector<std::string>& args) { return Wait(Start(args)); }

  // Runs `pipeline args...` in the temp dir on a pseudo-terminal (TERM=xterm, plus
  // |extra_env|); returns everything it wrote to the terminal and sets |*exit_code|.
  std::string RunInTerminal(const std::vector<std::string>& args, int* exit_code,
                            const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> argv = {PIPELINE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> env_store = InheritedEnv({"TERM=", "NO_COLOR="});
    env_store.push_back("TERM=xterm");
    env_store.insert(env_store.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string dir = dir_.path();
    int master = -1;
    struct winsize ws = {24, 120, 0, 0};
    pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
    if (pid == 0) {
      if (chdir(dir.c_str()) == 0) execve(PIPELINE_BIN, cargv.data(), envp.data());
      _exit(127);
    }
    EXPECT_GT(pid, 0) << strerror(errno);
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;  // EIO once the child has closed the terminal
      }
    }
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return out;
  }

  std::string Write(const std::string& name, const std::string& yaml) { return dir_.Write(name, yaml); }

  std::string Db() const { return dir_ / ".pipeline/pipeline.db"; }

  // Runs a query, returning rows as "a|b|c" strings. With |quiet|, an error (e.g. the
  // schema is still being created by the process under test) returns no rows instead of
  // failing the test.
  std::vector<std::string> Query(const std::string& sql, bool quiet = false) {
    std::vector<std::string> rows;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(Db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      if (!quiet) ADD_FAILURE() << "cannot open " << Db();
      sqlite3_close(db);
      return rows;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      if (!quiet) ADD_FAILURE() << sqlite3_errmsg(db) << " in " << sql;
      sqlite3_close(db);
      return rows;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        if (i) row += "|";
        const unsigned char* t = sqlite3_column_text(st, i);
        row += t ? reinterpret_cast<const char*>(t) : "NULL";
      }
      rows.push_back(row);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
  }

  std::string One(const std::string& sql) {
    auto rows = Query(sql);
    return rows.empty() ? "<none>" : rows[0];
  }

  // Polls |sql| until it returns |want| or |seconds| pass.
  bool WaitFor(const std::string& sql, const std::string& want, int seconds = 20) {
    for (int i = 0; i < seconds * 20; ++i) {
      if (fs::exists(Db())) {
        auto rows = Query(sql, /*quiet=*/true);
        if (!rows.empty() && rows[0] == want) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  TempDir dir_;
  std::string out_path_, err_path_;
};

bool Contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST_F(E2E, ExampleMlPipelineRunsEndToEnd) {
  fs::copy(std::string(PIPELINE_SOURCE_DIR) + "/dags", dir_ / "dags", fs::copy_options::recursive);
  fs::copy(std::string(PIPELINE_SOURCE_DIR) + "/examples", dir_ / "examples", fs::copy_options::recursive);
  Result r = Run({"run", "dags/ml_pipeline.yaml", "-j", "2", "-p", "n_rows=600", "-p", "epochs=40"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "success")) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "deploy/model.json"));
  EXPECT_TRUE(fs::exists(dir_ / "data/monitor.json"));
  EXPECT_EQ(One("SELECT state, trigger FROM dag_runs"), "success|manual");
  EXPECT_EQ(One("SELECT count(*) FROM task_instances WHERE state = 'success'"), "9");
  // The simulated outage: ingest failed once (exit 75) and succeeded on the retry.
  EXPECT_EQ(Query("SELECT a.attempt_no, a.state, a.exit_code FROM task_attempts a JOIN task_instances t "
                  "ON t.id = a.task_instance_id WHERE t.task_name = 'ingest' ORDER BY a.attempt_no"),
            (std::vector<std::string>{"1|failed|75", "2|succeeded|0"}));
  EXPECT_EQ(One("SELECT json_extract(params_json, '$.n_rows') FROM dag_runs"), "600");

  std::string run_id = One("SELECT run_id FROM dag_runs");
  Result show = Run({"show", run_id});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_TRUE(Contains(show.out, "ingest")) << show.out;
  EXPECT_TRUE(Contains(show.out, "monitor")) << show.out;
  Result logs = Run({"logs", run_id, "ingest", "--attempt", "1"});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_TRUE(Contains(logs.out, "simulated outage")) << logs.out;
  Result runs = Run({"runs"});
  EXPECT_TRUE(Contains(runs.out, run_id)) << runs.out;
}

class MlExample : public E2E {
 protected:
  void SetUp() override {
    fs::copy(std::string(PIPELINE_SOURCE_DIR) + "/dags", dir_ / "dags", fs::copy_options::recursive);
    fs::copy(std::string(PIPELINE_SOURCE_DIR) + "/examples", dir_ / "examples", fs::copy_options::recursive);
  }
  Result RunExample(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", "dags/ml_pipeline.yaml", "-j", "2", "-p", "n_rows=600", "-p",
                                     "epochs=40", "-p", "simulate_outage=false"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  }
  std::string LatestRun() { return One("SELECT run_id FROM dag_runs ORDER BY id DESC LIMIT 1"); }
  // task -> state in the newest run
  std::map<std::string, std::string> States() {
    std::map<std::string, std::string> out;
    for (const std::string& row : Query("SELECT task_name, state FROM task_instances WHERE dag_run_id = "
                                        "(SELECT max(id) FROM dag_runs)")) {
      size_t bar = row.find('|');
      out[row.substr(0, bar)] = row.substr(bar + 1);
    }
    return out;
  }
};

TEST_F(MlExample, SecondRunIsCachedExceptSideEffects) {
  Result first = RunExample();
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  Result second = RunExample();
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  auto states = States();
  for (const char* t : {"ingest", "validate", "features", "profile", "train", "evaluate", "live_batch"})
    EXPECT_EQ(states[t], "cached") << t;
  EXPECT_EQ(states["deploy"], "success");   // cache: false
  EXPECT_EQ(states["monitor"], "success");  // cache: false
  // A cached attempt points at the attempt that really produced the outputs.
  EXPECT_EQ(One("SELECT count(*) FROM task_attempts WHERE state = 'cached' AND cache_source_attempt_id IS NULL"), "0");
  EXPECT_EQ(One("SELECT count(*) FROM task_attempts WHERE state = 'cached'"), "7");
  Result show = Run({"show", LatestRun()});
  EXPECT_TRUE(Contains(show.out, "reused the outputs of attempt #")) << show.out;
  Result why = Run({"explain", LatestRun(), "monitor"});
  EXPECT_TRUE(Contains(why.out, "why: the task has cache: false")) << why.out;
  Result cached = Run({"explain", LatestRun(), "train"});
  EXPECT_TRUE(Contains(cached.out, "cached: its cache key matched")) << cached.out;
  // Outputs are restored from the content store when missing.
  fs::remove(dir_ / "data/model.json");
  Result third = RunExample();
  ASSERT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_EQ(States()["train"], "cached");
  EXPECT_TRUE(fs::exists(dir_ / "data/model.json"));
}

TEST_F(MlExample, CodeChangeRerunsExactlyTheTaskThatUsesIt) {
  ASSERT_EQ(RunExample().exit_code, 0);
  {
    std::ofstream f(dir_ / "examples/ml/train.py", std::ios::app);
    f << "\n# a harmless edit\n";
  }
  Result r = RunExample();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto states = States();
  EXPECT_EQ(states["train"], "success");
  for (const char* t : {"ingest", "validate", "features", "profile", "live_batch"}) EXPECT_EQ(states[t], "cached") << t;
  // The edit did not change the model, so evaluate is reused (content-based cut-off).
  EXPECT_EQ(states["evaluate"], "cached");
  Result why = Run({"explain", LatestRun(), "train"});
  EXPECT_TRUE(Contains(why.out, "code changed: examples/ml/train.py")) << why.out;
}

TEST_F(MlExample, ParamChangeRerunsItsUsersAndTheGateKeepsAWorseModelOut) {
  ASSERT_EQ(RunExample().exit_code, 0);
  Result r = RunExample({"-p", "lr=0.01"});  // a much worse model
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto states = States();
  EXPECT_EQ(states["train"], "success");
  EXPECT_EQ(states["evaluate"], "success");
  EXPECT_EQ(states["features"], "cached");
  EXPECT_EQ(states["deploy"], "skipped");
  EXPECT_EQ(states["monitor"], "success");  // none_failed: watches the model still in production
  EXPECT_TRUE(Contains(One("SELECT reason FROM task_instances WHERE task_name = 'deploy' AND dag_run_id = "
                           "(SELECT max(id) FROM dag_runs)"),
                       "models.churn.production.metrics.evaluate.accuracy"));
  // production still points at the first run's model.
  EXPECT_EQ(One("SELECT count(*) FROM model_alias_history WHERE model_name = 'churn' AND alias = 'production'"), "1");
  Result why = Run({"explain", LatestRun(), "train"});
  EXPECT_TRUE(Contains(why.out, "param lr: 0.5 → 0.01")) << why.out;
}

TEST_F(MlExample, LineageOfTheProductionModelNamesItsDataAndCode) {
  ASSERT_EQ(RunExample().exit_code, 0);
  Result r = Run({"lineage", "churn@production"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "data/raw.csv")) << r.out;         // the ingest output
  EXPECT_TRUE(Contains(r.out, "examples/ml/train.py")) << r.out;  // the training code
  EXPECT_TRUE(Contains(r.out, "task ingest")) << r.out;
  Result j = Run({"lineage", "churn@production", "--format", "json"});
  EXPECT_TRUE(Contains(j.out, "\"task\": \"train\"")) << j.out;
  Result down = Run({"lineage", "data/raw.csv", "--downstream"});
  EXPECT_TRUE(Contains(down.out, "data/model.json")) << down.out;
  Result models = Run({"models"});
  EXPECT_TRUE(Contains(models.out, "churn@production")) << models.out;
  EXPECT_TRUE(Contains(models.out, "evaluate.accuracy=")) << models.out;
  Result metrics = Run({"metrics", "--dag", "ml_pipeline", "--name", "accuracy"});
  EXPECT_TRUE(Contains(metrics.out, "evaluate")) << metrics.out;
  Result audit = Run({"audit"});
  EXPECT_TRUE(Contains(audit.out, "alias.set")) << audit.out;
  EXPECT_TRUE(Contains(audit.out, "run.start")) << audit.out;
}

TEST_F(MlExample, ReproduceReportsBitForBitMatches) {
  ASSERT_EQ(RunExample().exit_code, 0);
  std::string first = LatestRun();
  Result r = Run({"reproduce", first, "-j", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "outputs bit-for-bit identical")) << r.out;
  EXPECT_FALSE(Contains(r.out, "DIFFERS")) << r.out;
  // Every task really ran again.
  EXPECT_EQ(One("SELECT count(*) FROM task_instances WHERE state = 'cached' AND dag_run_id = (SELECT max(id) FROM dag_runs)"), "0");
}

TEST_F(MlExample, TestCommandRunsATaskWithUpstreamInputsAndNoSideEffects) {
  ASSERT_EQ(RunExample().exit_code, 0);
  Result t = Run({"test", "dags/ml_pipeline.yaml", "train"});
  EXPECT_EQ(t.exit_code, 0) << t.out << t.err;
  EXPECT_EQ(States()["train"], "success") << "a test run really runs the task";
  Result d = Run({"test", "dags/ml_pipeline.yaml", "deploy"});
  EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  EXPECT_EQ(One("SELECT count(*) FROM model_alias_history"), "1") << "a test run promotes nothing";
  // Without the upstream files, the task fails with a clear message instead of running.
  fs::remove(dir_ / "data/features.csv");
  Result missing = Run({"test", "dags/ml_pipeline.yaml", "train"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Contains(One("SELECT error FROM task_attempts ORDER BY id DESC LIMIT 1"), "data/features.csv does not exist"))
      << One("SELECT error FROM task_attempts ORDER BY id DESC LIMIT 1");
}

TEST_F(MlExample, ForceAndNoCacheRunTasksAgain) {
  ASSERT_EQ(RunExample().exit_code, 0);
  ASSERT_EQ(RunExample({"--force", "train"}).exit_code, 0);
  auto states = States();
  EXPECT_EQ(states["train"], "success");
  EXPECT_EQ(states["features"], "cached");
  Result why = Run({"explain", LatestRun(), "train"});
  EXPECT_TRUE(Contains(why.out, "--force train")) << why.out;
  ASSERT_EQ(RunExample({"--no-cache"}).exit_code, 0);
  EXPECT_EQ(One("SELECT count(*) FROM task_instances WHERE state = 'cached' AND dag_run_id = (SELECT max(id) FROM dag_runs)"), "0");
  Result bad = RunExample({"--force", "trian"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(Contains(bad.err, "did you mean 'train'")) << bad.err;
}

TEST_F(MlExample, GcNeverDeletesTheLineageOfAModelAlias) {
  ASSERT_EQ(RunExample().exit_code, 0);            // sets churn@production
  ASSERT_EQ(RunExample({"-p", "lr=0.01"}).exit_code, 0);  // a worse model: not promoted
  Write("other.yaml", "dag: other\ntasks:\n  t: {command: 'echo hi > {{ outputs.o }}', outputs: {o: o.txt}}\n");
  ASSERT_EQ(Run({"run", "other.yaml"}).exit_code, 0);
  int runs_before = std::stoi(One("SELECT count(*) FROM dag_runs"));
  Result gc = Run({"gc", "--older-than", "0s"});
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  int runs_after = std::stoi(One("SELECT count(*) FROM dag_runs"));
  EXPECT_LT(runs_after, runs_before) << gc.out;
  // The run that made (and set) the production model survives with its whole lineage.
  Result lineage = Run({"lineage", "churn@production"});
  EXPECT_EQ(lineage.exit_code, 0) << lineage.err;
  EXPECT_TRUE(Contains(lineage.out, "data/raw.csv")) << lineage.out;
  std::string sha = One("SELECT a.sha256 FROM model_aliases m JOIN artifacts a ON a.id = m.artifact_id");
  EXPECT_TRUE(fs::exists(dir_ / (".pipeline/cas/objects/" + sha.substr(0, 2) + "/" + sha))) << sha;
  Result audit = Run({"audit", "--action", "gc"});
  EXPECT_TRUE(Contains(audit.out, "gc")) << audit.out;
}

TEST_F(E2E, DirectoryOutputsAndDeclaredMetricsFile) {
  Write("d.yaml",
        "dag: d\n"
        "tasks:\n"
        "  report:\n"
        "    command: 'mkdir -p {{ outputs.dir }}/sub && echo a > {{ outputs.dir }}/a.txt && echo b > {{ outputs.dir }}/sub/b.txt"
        " && echo {\\\"score\\\": 3.5} > scores.json'\n"
        "    outputs: {dir: {path: out/report, kind: report}}\n"
        "    metrics: scores.json\n");
  ASSERT_EQ(Run({"run", "d.yaml"}).exit_code, 0);
  EXPECT_EQ(One("SELECT kind || ' ' || file_count FROM artifacts WHERE uri = 'out/report'"), "report 2");
  EXPECT_EQ(One("SELECT value FROM metrics WHERE name = 'score'"), "3.5");
  fs::remove_all(dir_ / "out");
  ASSERT_EQ(Run({"run", "d.yaml"}).exit_code, 0);
  EXPECT_EQ(One("SELECT state FROM task_instances WHERE dag_run_id = (SELECT max(id) FROM dag_runs)"), "cached");
  EXPECT_EQ(ReadFile(dir_ / "out/report/sub/b.txt"), "b\n") << "a cached directory is restored whole";
}

TEST_F(E2E, MissingDeclaredOutputFailsTheAttempt) {
  Write("o.yaml", "dag: o\ntasks:\n  lazy: {command: 'true', outputs: {out: result.csv}}\n");
  Result r = Run({"run", "o.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(One("SELECT error FROM task_attempts"), "declared output 'out' (result.csv) was not created"));
  // A stale file from before does not count as produced.
  Write("result.csv", "old\n");
  Result again = Run({"run", "o.yaml"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(Contains(One("SELECT error FROM task_attempts ORDER BY id DESC LIMIT 1"), "was not written by the task"));
}

TEST_F(E2E, MetricsFileMustBeFlatNumbers) {
  Write("m.yaml", "dag: m\ntasks:\n  t: {command: 'echo {\\\"acc\\\": \\\"high\\\"} > $PIPELINE_METRICS'}\n");
  Result r = Run({"run", "m.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(One("SELECT error FROM task_attempts"), "value of 'acc' is a string")) << One("SELECT error FROM task_attempts");
}

TEST_F(E2E, InvalidFileReportsEveryErrorAndRecordsNothing) {
  Write("bad.yaml",
        "dag: bad\n"
        "tasks:\n"
        "  a:\n"
        "    command: echo a\n"
        "    retires: 3\n"
        "  b:\n"
        "    command: echo b\n"
        "    depends_on: [c]\n"
        "  c:\n"
        "    command: echo c\n"
        "    depends_on: [b]\n"
        "  d:\n"
        "    command: echo d\n"
        "    depends_on: [aa]\n");
  Result r = Run({"run", "bad.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "bad.yaml:5:5:")) << r.err;
  EXPECT_TRUE(Contains(r.err, "did you mean 'retries'")) << r.err;
  EXPECT_TRUE(Contains(r.err, "→")) << r.err;                 // the cycle path
  EXPECT_TRUE(Contains(r.err, "did you mean 'a'")) << r.err;  // unknown depends_on
  EXPECT_FALSE(fs::exists(Db())) << "nothing may be recorded for invalid input";
  Result v = Run({"validate", "bad.yaml"});
  EXPECT_EQ(v.exit_code, 2);
}

TEST_F(E2E, FailedTaskExitsOneAndStopsOnlyItsDownstream) {
  Write("f.yaml",
        "dag: f\n"
        "tasks:\n"
        "  bad: {command: 'echo about to fail; exit 3'}\n"
        "  after: {command: 'touch after-ran', depends_on: [bad]}\n"
        "  other: {command: 'touch other-ran'}\n");
  Result r = Run({"run", "f.yaml", "-j", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "about to fail")) << "the failed task's log tail is shown: " << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "after-ran"));
  EXPECT_TRUE(fs::exists(dir_ / "other-ran"));
  EXPECT_EQ(One("SELECT state FROM dag_runs"), "failed");
  EXPECT_EQ(Query("SELECT task_name, state FROM task_instances ORDER BY task_name"),
            (std::vector<std::string>{"after|upstream_failed", "bad|failed", "other|success"}));
  EXPECT_EQ(One("SELECT exit_code FROM task_attempts a JOIN task_instances t ON t.id = a.task_instance_id "
                "WHERE t.task_name = 'bad'"),
            "3");
}

// A program that cannot be executed or a working directory that is not there fails the
// attempt with the reason (found by the child, after the engine has moved on), is
// retried like any failure, and leaves no process and no log behind.
TEST_F(E2E, TaskThatCannotStartIsAFailedAttemptWithItsReason) {
  Write("s.yaml",
        "dag: s\n"
        "tasks:\n"
        "  ghost: {argv: [./no-such-tool, x], retries: 1, retry_delay: 0s}\n"
        "  lost: {command: 'true', workdir: not-there}\n"
        "  fine: {command: 'true'}\n");
  Result r = Run({"run", "s.yaml", "-j", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(Query("SELECT t.task_name || '|' || a.attempt_no || '|' || a.state || '|' || "
                  "coalesce(a.exit_code, '-') || '|' || a.error FROM task_attempts a "
                  "JOIN task_instances t ON t.id = a.task_instance_id "
                  "WHERE t.task_name <> 'fine' ORDER BY t.task_name, a.attempt_no"),
            (std::vector<std::string>{
                "ghost|1|failed|-|cannot run './no-such-tool': No such file or directory",
                "ghost|2|failed|-|cannot run './no-such-tool': No such file or directory",
                "lost|1|failed|-|cannot use working directory '" + (dir_ / "not-there") +
                    "': No such file or directory"}));
  EXPECT_EQ(Query("SELECT task_name || '|' || state FROM task_instances ORDER BY task_name"),
            (std::vector<std::string>{"fine|success", "ghost|failed", "lost|failed"}));
  EXPECT_TRUE(Contains(r.out, "cannot run './no-such-tool'")) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / (".pipeline/logs/" + One("SELECT run_id FROM dag_runs") + "/ghost.1.log")));
}

// On a terminal the run shows one status line, redrawn in place, with finished tasks
// printed above it, in colour unless NO_COLOR is set; into a file, plain lines only.
TEST_F(E2E, TerminalGetsALiveStatusLineAndAFileGetsPlainLines) {
  Write("t.yaml",
        "dag: t\n"
        "tasks:\n"
        "  prepare: {command: 'sleep 0.3'}\n"
        "  train: {command: 'sleep 0.3', depends_on: [prepare]}\n");
  int code = -1;
  std::string tty = RunInTerminal({"run", "t.yaml"}, &code);
  EXPECT_EQ(code, 0) << tty;
  EXPECT_TRUE(Contains(tty, "\r\x1b[K[0/2] running: prepare")) << tty;
  EXPECT_TRUE(Contains(tty, "\r\x1b[K[1/2] \x1b[32mok     \x1b[0m prepare")) << tty;
  EXPECT_TRUE(Contains(tty, "\r\x1b[K[1/2] running: train")) << tty;
  EXPECT_TRUE(Contains(tty, "\x1b[32msuccess")) << "the table is coloured: " << tty;

  std::string no_color = RunInTerminal({"run", "t.yaml"}, &code, {"NO_COLOR=1"});
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(Contains(no_color, "\r\x1b[K[1/2] ok      prepare")) << no_color;
  EXPECT_FALSE(Contains(no_color, "\x1b[32m")) << no_color;

  Result r = Run({"run", "t.yaml"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.out, "[1/2] ok      prepare (")) << r.out;
  EXPECT_TRUE(Contains(r.out, "[2/2] ok      train (")) << r.out;
  EXPECT_FALSE(Contains(r.out, "\x1b")) << r.out;
  EXPECT_FALSE(Contains(r.out, "\r")) << r.out;
}

// $PIPELINE_METRICS counts only if the attempt wrote it: on a resume, a file left under
// the new attempt's name (by an attempt of a killed orchestrator that never got recorded)
// is not taken for this attempt's metrics. One the task does write (here: renamed into
// place) is.
TEST_F(E2E, MetricsFileCountsOnlyIfTheAttemptWroteIt) {
  Write("m.yaml",
        "dag: m\n"
        "tasks:\n"
        "  flaky: {command: 'test -f ok || { touch ok; exit 1; }'}\n"
        "  scorer: {command: 'echo {\\\"auc\\\": 0.75} > m.tmp && mv m.tmp \"$PIPELINE_METRICS\"', "
        "depends_on: [flaky]}\n");
  Result r = Run({"run", "m.yaml"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string run_id = One("SELECT run_id FROM dag_runs");
  Write(".pipeline/logs/" + run_id + "/flaky.2.metrics.json", "{\"accuracy\": 1.0}");
  r = Run({"resume", run_id});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Query("SELECT t.task_name || '|' || a.attempt_no || '|' || m.name || '|' || m.value "
                  "FROM metrics m JOIN task_attempts a ON a.id = m.attempt_id "
                  "JOIN task_instances t ON t.id = a.task_instance_id"),
            (std::vector<std::string>{"scorer|1|auc|0.75"}));
}

TEST_F(E2E, ParamsAreDataNotCode) {
  Write("p.yaml",
        "dag: p\n"
        "params: {msg: hello}\n"
        "tasks:\n"
        "  echo: {command: 'printf %s {{ params.msg }} > out.txt'}\n");
  const std::string evil = "\"; touch pwned #$(touch pwned2)`touch pwned3`'";
  Result r = Run({"run", "p.yaml", "-p", "msg=" + evil});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "pwned"));
  EXPECT_FALSE(fs::exists(dir_ / "pwned2"));
  EXPECT_FALSE(fs::exists(dir_ / "pwned3"));
  EXPECT_EQ(ReadFile(dir_ / "out.txt"), evil);
}

TEST_F(E2E, UnknownParamOverrideIsBadInput) {
  Write("p.yaml", "dag: p\nparams: {n_rows: 5}\ntasks:\n  a: {command: 'true'}\n");
  Result r = Run({"run", "p.yaml", "-p", "n_rws=3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "n_rows")) << r.err;
  Result t = Run({"run", "p.yaml", "-p", "n_rows=abc"});
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_FALSE(fs::exists(Db()));
}

TEST_F(E2E, TimeoutKillsTheTask) {
  Write("t.yaml", "dag: t\ntasks:\n  slow: {command: 'sleep 30', timeout: 300ms, kill_grace: 200ms}\n");
  auto t0 = std::chrono::steady_clock::now();
  Result r = Run({"run", "t.yaml"});
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_LT(secs, 20.0);
  EXPECT_EQ(One("SELECT state FROM task_attempts"), "timed_out");
}

TEST_F(E2E, SigtermStopsTheRunAndRecordsIt) {
  Write("s.yaml",
        "dag: s\n"
        "tasks:\n"
        "  long: {command: 'echo $$ > long.pid; sleep 60'}\n"
        "  after: {command: 'true', depends_on: [long]}\n");
  pid_t pid = Start({"run", "s.yaml"});
  ASSERT_TRUE(WaitFor("SELECT state FROM task_attempts", "running"));
  for (int i = 0; i < 100 && !fs::exists(dir_ / "long.pid"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGTERM);
  Result r = Wait(pid);
  EXPECT_EQ(r.exit_code, 143) << r.out << r.err;
  EXPECT_EQ(One("SELECT state FROM dag_runs"), "cancelled");
  EXPECT_EQ(Query("SELECT task_name, state FROM task_instances ORDER BY task_name"),
            (std::vector<std::string>{"after|cancelled", "long|cancelled"}));
  EXPECT_EQ(One("SELECT state FROM task_attempts"), "killed");
  pid_t child = std::stoi(ReadFile(dir_ / "long.pid"));
  EXPECT_NE(kill(child, 0), 0) << "the task's process must be gone";
  EXPECT_EQ(One("SELECT json_extract(detail_json, '$.signal') FROM audit_log WHERE action = 'run.cancel'"), "SIGTERM");
}

// Ctrl-C asks the task to stop (TERM, then KILL after its grace); a task that ignores the
// TERM would hold the run for the whole grace, so a second Ctrl-C kills it at once.
TEST_F(E2E, CtrlCStopsGracefullyAndASecondCtrlCKillsAtOnce) {
  Write("c.yaml",
        "dag: c\n"
        "tasks:\n"
        "  stubborn: {command: \"trap '' TERM; echo $$ > s.pid; while :; do sleep 0.05; done\", "
        "kill_grace: 60s}\n");
  pid_t pid = Start({"run", "c.yaml"});
  for (int i = 0; i < 200 && !fs::exists(dir_ / "s.pid"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(dir_ / "s.pid"));
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  pid_t task = std::stoi(ReadFile(dir_ / "s.pid"));
  EXPECT_EQ(kill(task, 0), 0) << "the task ignores TERM: still running within its grace";
  kill(pid, SIGINT);
  Result r = Wait(pid);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10)) << "did not wait for the grace";
  EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "SIGINT received: stopping")) << r.out;
  EXPECT_TRUE(Contains(r.out, "interrupted again: killing all tasks now")) << r.out;
  EXPECT_EQ(One("SELECT state FROM dag_runs"), "cancelled");
  EXPECT_EQ(One("SELECT state FROM task_instances"), "cancelled");
  EXPECT_EQ(One("SELECT state || '|' || coalesce(term_signal, '-') FROM task_attempts"), "killed|9");
  EXPECT_NE(kill(task, 0), 0) << "the task's process must be gone";
}

TEST_F(E2E, KilledOrchestratorIsDetectedAndResumeSkipsFinishedWork) {
  Write("k.yaml",
        "dag: k\n"
        "tasks:\n"
        "  first: {command: 'echo ran >> first.count'}\n"
        "  second:\n"
        "    depends_on: [first]\n"
        "    command: 'if [ -f resume.ok ]; then echo done > second.out; else sleep 60; fi'\n");
  pid_t pid = Start({"run", "k.yaml"});
  ASSERT_TRUE(WaitFor("SELECT state FROM task_instances WHERE task_name = 'second'", "running"));
  kill(pid, SIGKILL);
  Wait(pid);
  EXPECT_EQ(One("SELECT state FROM dag_runs"), "running") << "a kill -9 leaves the last committed state";
  std::string run_id = One("SELECT run_id FROM dag_runs");

  Result runs = Run({"runs"});  // any command notices the dead owner
  EXPECT_TRUE(Contains(runs.out, "lost")) << runs.out;
  EXPECT_EQ(One("SELECT state FROM dag_runs"), "lost");
  EXPECT_EQ(One("SELECT a.state FROM task_attempts a JOIN task_instances t ON t.id = a.task_instance_id "
                "WHERE t.task_name = 'second'"),
            "lost");

  Write("resume.ok", "");
  Result r = Run({"resume", run_id.substr(0, 17)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(dir_ / "first.count"), "ran\n") << "first must not run again";
  EXPECT_EQ(One("SELECT group_concat(action) FROM (SELECT action FROM audit_log ORDER BY id)"), "run.start,run.resume");
  EXPECT_TRUE(fs::exists(dir_ / "second.out"));
  EXPECT_EQ(One("SELECT state FROM dag_runs"), "success");
  EXPECT_EQ(One("SELECT count(*) FROM task_attempts"), "3");
  EXPECT_EQ(One("SELECT max(attempt_no) FROM task_attempts a JOIN task_instances t ON t.id = a.task_instance_id "
                "WHERE t.task_name = 'second'"),
            "2");
}

TEST_F(E2E, SilentTaskLeavesNoLogFileAndLogsSaysSo) {
  Write("q.yaml", "dag: q\ntasks:\n  quiet: {command: 'true'}\n  loud: {command: 'echo hi; echo err >&2'}\n");
  ASSERT_EQ(Run({"run", "q.yaml"}).exit_code, 0);
  std::string run_id = One("SELECT run_id FROM dag_runs");
  EXPECT_FALSE(fs::exists(dir_ / (".pipeline/logs/" + run_id + "/quiet.1.log")));
  Result quiet = Run({"logs", run_id, "quiet"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_TRUE(Contains(quiet.err, "wrote no output")) << quiet.err;
  Result loud = Run({"logs", run_id, "loud"});
  EXPECT_EQ(loud.exit_code, 0);
  EXPECT_EQ(loud.out, "hi\nerr\n");
}

TEST_F(E2E, JsonSummaryIsMachineReadable) {
  Write("j.yaml", "dag: j\ntasks:\n  a: {command: 'true'}\n  b: {command: 'exit 4', depends_on: [a]}\n");
  Result r = Run({"run", "j.yaml", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "\"state\": \"failed\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"exit_code\": 4")) << r.out;
  EXPECT_EQ(r.out.front(), '{') << "progress must go to stderr with --json";
}

TEST_F(E2E, TestCommandRunsOneTaskAlone) {
  Write("x.yaml", "dag: x\ntasks:\n  a: {command: 'touch a'}\n  b: {command: 'touch b', depends_on: [a]}\n");
  Result r = Run({"test", "x.yaml", "b"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "b"));
  EXPECT_FALSE(fs::exists(dir_ / "a"));
  EXPECT_EQ(One("SELECT trigger FROM dag_runs"), "test");
  EXPECT_EQ(One("SELECT group_concat(task_name) FROM task_instances"), "b");
  Result bad = Run({"test", "x.yaml", "bb"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(Contains(bad.err, "did you mean 'b'")) << bad.err;
}

TEST_F(E2E, DryRunRecordsNothing) {
  Write("d.yaml", "dag: d\nparams: {n: 3}\ntasks:\n  a: {command: 'echo {{ params.n }} > a'}\n");
  Result r = Run({"run", "d.yaml", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.out, "echo 3 > a")) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "a"));
  EXPECT_FALSE(fs::exists(Db()));
}

TEST_F(E2E, GraphPrintsDot) {
  Write("g.yaml", "dag: g\ntasks:\n  a: {command: 'true'}\n  b: {command: 'true', depends_on: [a]}\n");
  Result r = Run({"graph", "g.yaml"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.out, "digraph \"g\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"a\" -> \"b\"")) << r.out;
}

TEST_F(E2E, RefusesDatabaseFromTheFuture) {
  Write("a.yaml", "dag: a\ntasks:\n  a: {command: 'true'}\n");
  ASSERT_EQ(Run({"run", "a.yaml"}).exit_code, 0);
  sqlite3* db = nullptr;
  sqlite3_open(Db().c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  Result r = Run({"run", "a.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "newer")) << r.err;
}

TEST_F(E2E, UnknownRunIsBadInput) {
  Write("a.yaml", "dag: a\ntasks:\n  a: {command: 'true'}\n");
  ASSERT_EQ(Run({"run", "a.yaml"}).exit_code, 0);
  Result r = Run({"show", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.err.empty());
}

TEST_F(E2E, VersionAndHelp) {
  Result v = Run({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(Contains(v.out, "pipeline ")) << v.out;
  for (const char* cmd : {"run", "validate", "test", "runs", "show", "logs", "resume", "graph", "explain", "lineage",
                          "metrics", "models", "audit", "gc", "reproduce"}) {
    Result h = Run({cmd, "--help"});
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_TRUE(Contains(h.out, "Usage")) << cmd << ": " << h.out;
  }
  Result bad = Run({"frobnicate"});
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
}  // namespace pipeline
