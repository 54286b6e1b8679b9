// Throwaway benchmark of the store's hot path (not a test; not built by default):
//   cmake --build build --target store_bench && ./build/tests/store/store_bench [tasks] [dir]
// For each task, the engine's two batches: {SetTaskState running, StartAttempt} and
// {FinishAttempt, SetTaskState success}, each committed. Reports tasks/s for
// synchronous=NORMAL and FULL (PIPELINE_SYNC), and for FULL without batching.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "pipeline/store.h"
#include "testing/temp_dir.h"

namespace {

using pipeline::AttemptRecord;
using pipeline::RunRecord;
using pipeline::Status;
using pipeline::Store;

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

double RunOnce(const std::string& dir, const char* sync, int tasks, bool batched) {
  setenv("PIPELINE_SYNC", sync, 1);
  std::string path = dir + "/bench-" + sync + (batched ? "-b" : "-u") + ".db";
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  std::unique_ptr<Store> store;
  Check(Store::Open(path, &store), "open");
  int64_t version = *store->EnsureDagVersion("bench", std::string(64, 'a'), "{}");
  RunRecord run;
  run.run_id = "bench";
  run.dag = "bench";
  run.dag_version_id = version;
  run.created_ms = run.started_ms = 1;
  int64_t run_pk = *store->CreateRun(run);
  std::vector<std::pair<std::string, int>> names;
  for (int i = 0; i < tasks; ++i) names.emplace_back("task_" + std::to_string(i), 1);
  Check(store->Begin(), "begin");
  std::vector<int64_t> tis = *store->CreateTaskInstances(run_pk, names, 1);
  Check(store->Commit(), "commit");

  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < tasks; ++i) {
    int64_t now = 1000 + i;
    if (batched) Check(store->Begin(), "begin");
    Check(store->SetTaskState(tis[i], "running", now, ""), "running");
    AttemptRecord a;
    a.task_instance_id = tis[i];
    a.pid = 1000 + i;
    a.host = "bench";
    a.command_json = "[\"true\"]";
    a.log_path = "logs/task_" + std::to_string(i) + ".1.log";
    a.started_ms = now;
    int64_t attempt = *store->StartAttempt(a);
    if (batched) Check(store->Commit(), "commit");
    if (batched) Check(store->Begin(), "begin");
    Check(store->FinishAttempt(attempt, "succeeded", 0, std::nullopt, now + 1, ""), "finish");
    Check(store->SetTaskState(tis[i], "success", now + 1, ""), "success");
    if (batched) Check(store->Commit(), "commit");
  }
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return tasks / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int tasks = argc > 1 ? std::atoi(argv[1]) : 2000;
  pipeline::testing::TempDir tmp;
  std::string dir = argc > 2 ? argv[2] : tmp.path();
  struct Mode {
    const char* sync;
    bool batched;
  };
  for (Mode m : {Mode{"normal", true}, Mode{"full", true}, Mode{"normal", false},
                 Mode{"full", false}}) {
    std::vector<double> rates;
    for (int rep = 0; rep < 3; ++rep) rates.push_back(RunOnce(dir, m.sync, tasks, m.batched));
    std::sort(rates.begin(), rates.end());
    std::printf("synchronous=%-6s %-9s %d tasks: median %8.0f tasks/s (min %.0f, max %.0f)\n",
                m.sync, m.batched ? "batched" : "unbatched", tasks, rates[1], rates[0],
                rates[2]);
  }
  return 0;
}
