// The subcommands of `pipeline`. Each returns the process exit code:
//   0 success, 1 a task (or the run) failed, 2 bad input (DAG file, flags, unknown run),
//   3 infrastructure error (database, disk), 128+N interrupted by signal N.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pipeline::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitInfra = 3;

struct Globals {
  std::string home;  ///< --home / PIPELINE_HOME / ./.pipeline
  bool color = true;
};

struct RunArgs {
  std::string file;
  std::vector<std::string> params;  ///< "k=v"
  int jobs = 0;                     ///< 0 = number of CPUs
  bool dry_run = false;
  bool json = false;
  std::string logical_date;
  std::string task;  ///< `pipeline test`: the one task to run
  bool no_cache = false;            ///< --no-cache
  std::vector<std::string> force;   ///< --force TASK
};

int CmdRun(const Globals& g, const RunArgs& a);
int CmdTest(const Globals& g, const RunArgs& a);
int CmdValidate(const Globals& g, const std::vector<std::string>& files, bool quiet);
int CmdRuns(const Globals& g, const std::string& dag, const std::string& state, int limit, bool json);
int CmdShow(const Globals& g, const std::string& run_id, bool json);
int CmdLogs(const Globals& g, const std::string& run_id, const std::string& task, int attempt);
int CmdResume(const Globals& g, const std::string& run_id, int jobs, bool json);
int CmdGraph(const Globals& g, const std::string& file, const std::vector<std::string>& params);
int CmdExplain(const Globals& g, const std::string& run_id, const std::string& task);
int CmdMetrics(const Globals& g, const std::string& dag, const std::string& name, int limit, bool json);
int CmdModels(const Globals& g, bool history, bool json);
int CmdLineage(const Globals& g, const std::string& artifact, bool downstream, const std::string& format);
int CmdAudit(const Globals& g, const std::string& since, const std::string& action, int limit, bool json);
int CmdGc(const Globals& g, const std::string& older_than, bool dry_run);
int CmdReproduce(const Globals& g, const std::string& run_id, int jobs, bool json);

}  // namespace pipeline::cli
